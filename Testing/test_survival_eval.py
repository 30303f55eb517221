"""Cox model evaluation: R survival (log-likelihood, AIC, BIC, LR tests, predicted survival),
rms::calibrate with the bootstrap resamples R drew (fixture from
``benchmarks/r/survival_eval_reference.R``), a hand-worked decision curve, the command."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib import survival_eval as se
from PanCancerSubtypeLib.errors import SurvivalDataError

FIX = Path(__file__).parent / "fixtures"
MODELS = {"m1": ["age", "sex"], "m2": ["age", "sex", "ph.ecog"],
          "m3": ["age", "sex", "ph.ecog", "ph.karno"]}


@pytest.fixture(scope="module")
def ref():
    return json.loads((FIX / "r_survival_eval_reference.json").read_text())


@pytest.fixture(scope="module")
def lung(ref):
    d = pd.read_csv(FIX / "r_lung.csv")
    return d.iloc[ref["rows"]].reset_index(drop=True)


@pytest.fixture(scope="module")
def fits(lung):
    return {k: se.fit_cox(lung, "time", "status", v, name=k) for k, v in MODELS.items()}


def test_loglik_aic_bic_match_r(fits, ref):
    for k, m in fits.items():
        e = ref["models"][k]
        ic = se.information_criteria(m)
        assert ic["loglik"] == pytest.approx(e["loglik"], abs=1e-8)
        assert m.loglik0 == pytest.approx(e["loglik0"], abs=1e-8)
        assert ic["AIC"] == pytest.approx(e["AIC"], abs=1e-7)
        assert ic["BIC"] == pytest.approx(e["BIC"], abs=1e-7)     # log(number of events)
        assert m.n_events == e["nevent"]
        np.testing.assert_allclose(m.coef, e["coef"], rtol=1e-4, atol=1e-6)


def test_likelihood_ratio_tests_match_r_anova(fits, ref):
    for a, b in (("m1", "m2"), ("m2", "m3"), ("m1", "m3")):
        r = se.likelihood_ratio_test(fits[a], fits[b])
        e = ref["lrt"][f"{a}_{b}"]
        assert r["df"] == e["df"]
        assert r["chi2"] == pytest.approx(e["chisq"], abs=1e-7)
        assert r["p"] == pytest.approx(e["p"], rel=1e-6)
    with pytest.raises(SurvivalDataError, match="not nested"):
        se.likelihood_ratio_test(fits["m3"], fits["m1"])


def test_numpy_efron_fit_equals_r_and_lifelines(fits, ref):
    for k, m in fits.items():
        f = se.efron_cox(m.X, m.time, m.event)
        assert f["converged"]
        np.testing.assert_allclose(f["coef"], ref["models"][k]["coef"], rtol=1e-7, atol=1e-9)
        assert f["loglik"] == pytest.approx(ref["models"][k]["loglik"], abs=1e-9)
        np.testing.assert_allclose(f["coef"], m.coef, rtol=1e-4, atol=1e-6)
        se_r = m.result.table["se"].to_numpy()
        np.testing.assert_allclose(np.sqrt(np.diag(f["var"])), se_r, rtol=1e-4)


def test_predicted_survival_matches_survfit(fits, ref):
    s = fits["m2"].survival_at(365)
    np.testing.assert_allclose(s, ref["surv365_m2"], atol=2e-6)


def test_calibration_matches_rms_calibrate(fits, ref):
    """rms::calibrate(cph, cmethod='KM', u=365, m=50, B=40) replayed on R's own resamples."""
    c = ref["calibrate"]
    cal = se.calibrate_cox(fits["m2"], 365, m=50, boot_indices=c["boot_indices"])
    R = pd.DataFrame(c["table"])
    T = cal.table
    assert len(T) == len(R) == 4 and cal.n_boot_ok == 40
    np.testing.assert_array_equal(T["n_boot"], R["n"])
    np.testing.assert_allclose(T["km"], R["KM"], atol=1e-12)
    np.testing.assert_allclose(T["km_std_err"], R["std.err"], atol=1e-12)
    # rms' cph converges to eps = 1e-4 only: its predictions differ from R coxph in the 5th digit
    np.testing.assert_allclose(T["mean_predicted"], R["mean.predicted"], atol=1e-4)
    np.testing.assert_allclose(cal.predicted, c["predicted"], atol=1e-4)
    for a, b in (("index_orig", "index.orig"), ("training", "training"), ("test", "test"),
                 ("optimism", "mean.optimism"), ("km_corrected", "KM.corrected")):
        np.testing.assert_allclose(T[a], R[b], atol=1e-4, err_msg=a)
    np.testing.assert_allclose(T["km_corrected"], T["km"] - T["optimism"])


def test_calibration_is_seeded_and_checks_t(fits):
    a = se.calibrate_cox(fits["m1"], 365, groups=3, B=15, seed=4)
    b = se.calibrate_cox(fits["m1"], 365, groups=3, B=15, seed=4)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert len(a.table) == 3 and a.table["n"].sum() == len(fits["m1"].time)
    with pytest.raises(SurvivalDataError, match="outside the follow-up"):
        se.calibrate_cox(fits["m1"], 5000, B=2)


def test_calibration_of_a_separating_model_skips_runaway_resamples_quietly():
    # group A has no events: the fit's coefficient runs off, and so do most resamples' fits;
    # they are skipped (as rms does) without numpy's overflow / invalid-value warnings
    rng = np.random.default_rng(5)
    n = 30
    g = np.array(["A", "B"] * (n // 2))
    df = pd.DataFrame({"t": rng.exponential(10.0, n).round(2) + 0.5,
                       "e": np.where(g == "A", 0, (rng.random(n) < 0.5).astype(int)), "g": g,
                       "age": rng.normal(60, 8, n).round(1)})
    m = se.fit_cox(df, "t", "e", ["age", "g"], name="sep")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        cal = se.calibrate_cox(m, 5.0, groups=3, B=30, seed=1)
    assert cal.B == 30 and 0 < cal.n_boot_ok <= 30
    assert np.isfinite(cal.table["index_orig"]).all()


def test_decision_curve_hand_worked():
    t = np.arange(1.0, 11.0)
    e = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 0])
    r = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    d = se.decision_curve(t, e, {"m": r}, 5.5, thresholds=[0.2, 0.35, 0.55, 0.75, 0.85, 0.95])
    get = lambda model, pt: d[(d["model"] == model) & np.isclose(d["threshold"], pt)].iloc[0]
    # KM of all at 5.5: 0.9 * 7/8 * 6/7 = 0.675
    assert get("treat all", 0.2)["net_benefit"] == pytest.approx(0.325 - 0.675 * 0.25)
    assert get("treat none", 0.2)["net_benefit"] == 0.0
    # r >= 0.35: the first six; KM 5/6 * 3/4 * 2/3 = 5/12 at 5.5; 60% treated
    s = 5 / 12
    assert get("m", 0.35)["net_benefit"] == pytest.approx((1 - s) * 0.6 - s * 0.6 * 0.35 / 0.65)
    assert get("m", 0.35)["n_treated"] == 6
    # r >= 0.55: the first four; their KM reaches 0 at t = 4: all treated had the event
    assert get("m", 0.55)["net_benefit"] == pytest.approx(0.4)
    # r >= 0.75: the first two, followed to t = 2 only (KM 0.5 there): undefined at 5.5
    assert np.isnan(get("m", 0.75)["net_benefit"])
    # r >= 0.85: the first alone, an event at t = 1: 10% treated, all true positives
    assert get("m", 0.85)["net_benefit"] == pytest.approx(0.1)
    assert get("m", 0.95)["net_benefit"] == 0.0 and get("m", 0.95)["n_treated"] == 0


def test_compare_models(lung, ref):
    from PanCancerSubtypeLib.signatures import delong_test, time_dependent_auc
    from PanCancerSubtypeLib.survival import c_index

    c = se.compare_cox_models(lung, "time", "status", MODELS, [365, 540], n_boot=0)
    T = c.table.set_index("model")
    assert list(T.index) == ["m1", "m2", "m3"] and c.n == ref["n"]
    for k in MODELS:
        assert T.loc[k, "AIC"] == pytest.approx(ref["models"][k]["AIC"], abs=1e-7)
        assert T.loc[k, "BIC"] == pytest.approx(ref["models"][k]["BIC"], abs=1e-7)
        m = c.models[k]
        assert T.loc[k, "c_index"] == c_index(m.time, m.event, m.lp, n_boot=0)["value"]
        auc = time_dependent_auc(m.time, m.event, m.lp, [365, 540])["auc"].to_numpy()
        np.testing.assert_allclose(T.loc[k, ["auc_t365", "auc_t540"]].to_numpy(float), auc)
    assert np.isnan(T.loc["m1", "delong_p"])
    keep = (c.models["m1"].time > 365) | (c.models["m1"].event == 1)
    y = ((c.models["m1"].event == 1) & (c.models["m1"].time <= 365))[keep].astype(int)
    d = delong_test(y, c.models["m3"].lp[keep], c.models["m1"].lp[keep])
    assert T.loc["m3", "delong_p"] == pytest.approx(d["p"])
    assert T.loc["m3", "auc_365"] == pytest.approx(d["auc1"])
    pairs = {(r["reduced"], r["full"]): r for r in c.lrt.to_dict("records")}
    assert set(pairs) == {("m1", "m2"), ("m1", "m3"), ("m2", "m3")}
    assert pairs[("m1", "m3")]["chi2"] == pytest.approx(ref["lrt"]["m1_m3"]["chisq"], abs=1e-7)


def test_command(tmp_path, lung, capsys):
    from PanCancerSubtypeLib.cli import main

    lung.to_csv(tmp_path / "lung.csv", index=False)
    rc = main(["cox-compare", "--table", str(tmp_path / "lung.csv"), "--time", "time",
               "--event", "status", "--model", "clinical=age,sex",
               "--model", "full=age,sex,ph.ecog", "--t", "365", "--times", "180,365,540",
               "--B", "5", "--n-boot", "10", "--out", str(tmp_path / "o")])
    assert rc == 0
    m = pd.read_csv(tmp_path / "o" / "models.csv")
    assert list(m["model"]) == ["clinical", "full"]
    assert "auc_365_ci_low" in m.columns and "auc_t540" in m.columns   # DeLong at --t
    assert m.loc[1, "AIC"] == pytest.approx(1454.6423975926, abs=1e-6)
    lrt = pd.read_csv(tmp_path / "o" / "lrt.csv")
    assert lrt.loc[0, "chi2"] == pytest.approx(15.8886238761129, abs=1e-7)
    dca = pd.read_csv(tmp_path / "o" / "dca.csv")
    assert set(dca["model"]) == {"clinical", "full", "treat all", "treat none"}
    for f in ("calibration.png", "dca.png", "calibration.csv", "summary.json"):
        assert (tmp_path / "o" / f).is_file()
    capsys.readouterr()
    assert main(["cox-compare", "--table", str(tmp_path / "lung.csv"), "--time", "time",
                 "--event", "status", "--model", "bad", "--t", "365", "--out",
                 str(tmp_path)]) == 2                  # a usage error naming --model
    assert "--model" in capsys.readouterr().err


def test_report_section(lung):
    from PanCancerSubtypeLib.report import Report

    rep = Report("t")
    out = se.report_section(rep, lung, "time", "status",
                            {"clinical": ["age", "sex"], "full": ["age", "sex", "ph.ecog"]},
                            t=365, B=5)
    assert out["n"] == len(lung) and set(out["models"]) == {"clinical", "full"}
    assert out["models"]["full"]["AIC"] == pytest.approx(1454.6423975926, abs=1e-6)
    assert 0 < out["calibration_error"]["full"] < 0.2
    html = "".join(rep.sections[-1][2])
    assert rep.sections[-1][0] == "cox-models" and html.count("<img") == 2
