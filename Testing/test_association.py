"""Association of features with external variables: R ``lm`` / ``lme4::lmer`` references
(fixture from ``benchmarks/r/association_reference.R``), statsmodels, analytic cases, the
command."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib.association import associate, association_heatmap, volcano_plot
from PanCancerSubtypeLib.errors import LabelTableError

FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def rdata():
    d = pd.read_csv(FIX / "r_association_data.csv", dtype={"ID": str})
    ref = json.loads((FIX / "r_association_reference.json").read_text())
    return d, {(p["feature"], p["variable"]): p for p in ref["pairs"]}


def _split(d):
    return d[["ID", "f1", "f2", "f3", "f4"]], d[["ID", "v1", "v2", "site", "age", "sex"]]


def test_ols_matches_r_lm(rdata):
    d, ref = rdata
    F, V = _split(d)
    res = associate(F, V, variable_columns=["v1", "v2"], covariates=["age", "sex"],
                    standardise=False)
    assert len(res) == 8 and set(res["model"]) == {"ols"}
    for _, r in res.iterrows():
        e = ref[(r["feature"], r["variable"])]
        assert r["n"] == e["n"]
        np.testing.assert_allclose([r["coef"], r["se"], r["stat"], r["p"]],
                                   [e["lm"]["coef"], e["lm"]["se"], e["lm"]["t"], e["lm"]["p"]],
                                   rtol=1e-9, atol=1e-12)
    assert res.loc[res["feature"] == "f3", "n"].iloc[0] == 59      # the missing value


def test_mixed_model_matches_lme4(rdata):
    d, ref = rdata
    F, V = _split(d)
    res = associate(F, V, variable_columns=["v1", "v2"], covariates=["age", "sex"],
                    group="site", standardise=False)
    assert set(res["model"]) == {"mixed"}
    for _, r in res.iterrows():
        e = ref[(r["feature"], r["variable"])]["lmer"]
        np.testing.assert_allclose([r["coef"], r["se"], r["stat"]], [e["coef"], e["se"], e["t"]],
                                   rtol=2e-5, atol=1e-7)
        np.testing.assert_allclose([r["group_var"], r["resid_var"]],
                                   [e["group_var"], e["resid_var"]], rtol=1e-4, atol=1e-6)
    # v1 has a planted site effect, v2 none (lme4 fits a zero group variance: the boundary)
    assert (res.loc[res["variable"] == "v1", "group_var"] > 0.3).all()
    assert (res.loc[res["variable"] == "v2", "group_var"] < 0.05).all()


def test_standardised_feature_response_matches_r(rdata):
    """response='feature', both z-scored: OLS slope is Pearson's r; lmer on the z-scores."""
    d, ref = rdata
    F, V = _split(d)
    ols = associate(F, V, variable_columns=["v1", "v2"], response="feature")
    mix = associate(F, V, variable_columns=["v1", "v2"], response="feature", group="site")
    for (_, a), (_, b) in zip(ols.iterrows(), mix.iterrows()):
        e = ref[(a["feature"], a["variable"])]
        np.testing.assert_allclose([a["coef"], a["se"], a["p"]],
                                   [e["lm_std_feature"]["coef"], e["lm_std_feature"]["se"],
                                    e["lm_std_feature"]["p"]], rtol=1e-9)
        assert a["coef"] == pytest.approx(e["lm_std_feature"]["r"], rel=1e-9)
        np.testing.assert_allclose([b["coef"], b["se"]], [e["lmer_std_feature"]["coef"],
                                                          e["lmer_std_feature"]["se"]],
                                   rtol=2e-5, atol=1e-7)


def test_bh_adjustment_over_all_pairs(rdata):
    from PanCancerSubtypeLib.multitest import adjust_pvalues

    d, _ = rdata
    F, V = _split(d)
    res = associate(F, V, variable_columns=["v1", "v2"], group="site")
    np.testing.assert_allclose(res["q"], adjust_pvalues(res["p"], "bh"))
    # the planted associations are found
    top = res.nsmallest(2, "q")
    assert {tuple(x) for x in top[["feature", "variable"]].to_numpy()} == {("f1", "v1"),
                                                                          ("f2", "v2")}
    assert (top["q"] < 0.05).all()


def test_statsmodels_engine_agrees_away_from_the_boundary(rdata):
    d, _ = rdata
    F, V = _split(d)
    fast = associate(F, V, variable_columns=["v1"], covariates=["age"], group="site",
                     standardise=False)
    sm = associate(F, V, variable_columns=["v1"], covariates=["age"], group="site",
                   standardise=False, engine="statsmodels")
    assert (fast["group_var"] > 0.3).all()
    # statsmodels stops its optimiser earlier than lme4 (which the fast engine matches to 2e-5)
    np.testing.assert_allclose(fast["coef"], sm["coef"], rtol=1e-3)
    np.testing.assert_allclose(fast["se"], sm["se"], rtol=5e-3)
    ols_sm = associate(F, V, variable_columns=["v1", "v2"], engine="statsmodels")
    ols = associate(F, V, variable_columns=["v1", "v2"])
    np.testing.assert_allclose(ols[["coef", "se", "p"]], ols_sm[["coef", "se", "p"]], rtol=1e-9)


def test_many_features_in_one_block_equal_one_by_one():
    """The vectorised search over many columns gives each column's own REML fit."""
    rng = np.random.default_rng(3)
    n, m = 50, 80
    g = rng.choice(["a", "b", "c"], n)
    X = rng.normal(size=(n, m))
    y = X[:, 0] + np.where(g == "a", 1.5, 0.0) + rng.normal(size=n)
    F = pd.DataFrame(X, columns=[f"x{j}" for j in range(m)])
    F["ID"] = [str(i) for i in range(n)]
    V = pd.DataFrame({"ID": F["ID"], "y": y, "g": g})
    block = associate(F, V, group="g", standardise=False)
    single = pd.concat([associate(F[["ID", f"x{j}"]], V, group="g", standardise=False)
                        for j in (0, 7, 42, 79)])
    b = block.set_index("feature").loc[single["feature"]]
    np.testing.assert_allclose(b["coef"], single["coef"].to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(b["se"], single["se"].to_numpy(), rtol=1e-6)


def test_bad_input_is_named():
    F = pd.DataFrame({"ID": ["a", "b", "c", "d"], "f": [1.0, 2, 3, 4]})
    with pytest.raises(LabelTableError, match="no 'ID' column"):
        associate(F, pd.DataFrame({"id": ["a"], "v": [1.0]}))
    with pytest.raises(LabelTableError, match="'site' not in the variables"):
        associate(F, pd.DataFrame({"ID": ["a", "b", "c", "d"], "v": [1.0, 2, 3, 5]}),
                  group="site")
    with pytest.raises(LabelTableError, match="fewer than 2 levels"):
        associate(F, pd.DataFrame({"ID": ["a", "b", "c", "d"], "v": [1.0, 2, 3, 5],
                                   "s": ["x"] * 4}), group="s")
    with pytest.raises(LabelTableError, match="non-numeric"):
        associate(F, pd.DataFrame({"ID": ["a", "b", "c", "d"], "v": [1.0, "x", 3, 5]}),
                  variable_columns=["v"])


def test_plots(rdata):
    d, _ = rdata
    F, V = _split(d)
    res = associate(F, V, variable_columns=["v1", "v2"], group="site")
    fig = volcano_plot(res)
    assert len(fig.axes[0].collections) == 2
    fig = association_heatmap(res, top=3)
    assert fig.axes[0].images[0].get_array().shape == (3, 2)


def test_command(tmp_path, rdata):
    from PanCancerSubtypeLib.cli import main

    d, _ = rdata
    F, V = _split(d)
    F.to_csv(tmp_path / "f.csv", index=False)
    V.to_csv(tmp_path / "v.csv", index=False)
    rc = main(["associate", "--features", str(tmp_path / "f.csv"), "--variables",
               str(tmp_path / "v.csv"), "--columns", "v1,v2", "--group", "site",
               "--covariates", "age,sex", "--out", str(tmp_path / "out")])
    assert rc == 0
    res = pd.read_csv(tmp_path / "out" / "associations.csv")
    api = associate(F, V, variable_columns=["v1", "v2"], group="site", covariates=["age", "sex"])
    np.testing.assert_allclose(res["p"], api["p"], rtol=1e-12)
    assert (tmp_path / "out" / "volcano.png").stat().st_size > 1000
    assert (tmp_path / "out" / "heatmap.png").is_file()
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summ["n_pairs"] == 8 and summ["model"] == "mixed"


def test_report_section(rdata):
    from PanCancerSubtypeLib.report import Report

    d, _ = rdata
    F, V = _split(d)
    rep = Report("t")
    from PanCancerSubtypeLib.association import report_section

    out = report_section(rep, F, V[["ID", "v1", "v2", "site"]], group="site")
    res = associate(F, V[["ID", "v1", "v2", "site"]], group="site")
    assert out["n_pairs"] == 8 and out["n_significant"] == int((res["q"] < 0.05).sum())
    assert (out["top"]["feature"], out["top"]["variable"]) in {("f1", "v1"), ("f2", "v2")}
    assert rep.sections[-1][0] == "association" and "Volcano" in "".join(rep.sections[-1][2])


def test_covariate_constant_on_the_complete_rows_is_dropped():
    """A dummy that is constant where the pair is complete equals the model without it."""
    rng = np.random.default_rng(7)
    n = 40
    F = pd.DataFrame({"ID": [str(i) for i in range(n)], "f": rng.normal(size=n)})
    y = F["f"] + rng.normal(size=n)
    y[:5] = np.nan                                   # the only "M" rows have no variable
    V = pd.DataFrame({"ID": F["ID"], "y": y, "sex": ["M"] * 5 + ["F"] * (n - 5),
                      "g": rng.choice(["a", "b", "c"], n)})
    for grp in (None, "g"):
        a = associate(F, V, variable_columns=["y"], covariates=["sex"], group=grp)
        b = associate(F, V, variable_columns=["y"], group=grp)
        np.testing.assert_allclose(a[["coef", "se", "p"]], b[["coef", "se", "p"]], rtol=1e-9)
        assert a.loc[0, "n"] == 35


def test_dummies_adding_up_to_the_intercept_on_the_complete_rows_are_dropped():
    """A 3-level covariate whose first level has no complete row for a feature: its two dummies
    add up to the intercept there.  Reference: statsmodels OLS on the full-rank design (SE
    0.173583, p 0.068080, df 29); before, the df counted the redundant dummy (SE 0.176656, p
    0.0731), the mixed model left the pair NaN and the statsmodels engine raised LinAlgError."""
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    n = 40
    ids = [f"p{i}" for i in range(n)]
    site = np.array(["A"] * 8 + ["B"] * 16 + ["C"] * 16)
    F = pd.DataFrame({"ID": ids, "f1": rng.normal(size=n), "f2": rng.normal(size=n)})
    F.loc[:7, "f2"] = np.nan
    V = pd.DataFrame({"ID": ids, "gene": rng.normal(size=n) + 0.5 * F["f1"]
                      + 0.4 * F["f2"].fillna(0), "site": site,
                      "batch": np.repeat(["b1", "b2", "b3", "b4"], 10)})
    r = associate(F, V, variable_columns=["gene"], covariates=["site"]).set_index("feature")
    ok = F.f2.notna().to_numpy()
    z = lambda a: (a - a.mean()) / a.std(ddof=1)  # noqa: E731
    o = sm.OLS(z(V.gene.to_numpy()[ok]), np.column_stack(
        [np.ones(ok.sum()), (site[ok] == "C").astype(float), z(F.f2.to_numpy()[ok])])).fit()
    assert r.loc["f2", "se"] == pytest.approx(o.bse[-1], rel=1e-9)
    assert r.loc["f2", "p"] == pytest.approx(o.pvalues[-1], rel=1e-9)
    assert r.loc["f2", "coef"] == pytest.approx(o.params[-1], rel=1e-9)
    fast = associate(F, V, variable_columns=["gene"], covariates=["site"],
                     group="batch").set_index("feature")
    sm_eng = associate(F, V, variable_columns=["gene"], covariates=["site"], group="batch",
                       engine="statsmodels").set_index("feature")
    assert np.isfinite(fast.loc["f2", "coef"]) and np.isfinite(sm_eng.loc["f2", "coef"])
    assert fast.loc["f2", "coef"] == pytest.approx(sm_eng.loc["f2", "coef"], abs=0.02)


def test_constant_columns_get_nan_and_one_warning_naming_them(caplog, tmp_path):
    import warnings

    rng = np.random.default_rng(3)
    n = 30
    F = pd.DataFrame({"ID": [str(i) for i in range(n)], "f": rng.normal(size=n), "k": 2.0})
    V = pd.DataFrame({"ID": F["ID"], "y": F["f"] + rng.normal(size=n), "c": 3.0})
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.association"):
        res = associate(F, V, source="v.csv", features_source="f.csv")
    msgs = sorted(r.getMessage() for r in caplog.records)
    assert msgs == ["f.csv: 1 feature(s) constant on every usable row, so their pairs get NaN: "
                    "k (2)",
                    "v.csv: 1 variable(s) constant on every usable row, so their pairs get NaN: "
                    "c (3)"]
    r = res.set_index(["feature", "variable"])
    assert np.isfinite(r.loc[("f", "y"), "p"]) and r.loc[("f", "y"), "p"] < 0.05
    assert r.loc[("f", "c"), "p"] != r.loc[("f", "c"), "p"]          # NaN
    assert r.loc[("k", "y"), "p"] != r.loc[("k", "y"), "p"]
    # the heatmap of a table whose coefficients are all NaN draws without numpy's warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        association_heatmap(res[res["variable"] == "c"], path=str(tmp_path / "h.png"))
