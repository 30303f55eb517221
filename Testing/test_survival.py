"""Survival statistics, radiomic signatures and cross-cancer comparison.

Reference numbers come from R (survival 3.5-3, pROC 1.18.0), generated once by
``benchmarks/r/survival_reference.R`` into ``Testing/fixtures/``; synthetic tests plant a known
signal and assert it is recovered.
"""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib import survival as S
from PanCancerSubtypeLib import signatures as G
from PanCancerSubtypeLib import crosscancer as CC
from PanCancerSubtypeLib.survival import SurvivalDataError

FIX = os.path.join(os.path.dirname(__file__), "fixtures")
RTOL = 5e-5  # "4 significant digits"


@pytest.fixture(scope="module")
def ref():
    with open(os.path.join(FIX, "r_survival_reference.json")) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def lung():
    return pd.read_csv(os.path.join(FIX, "r_lung.csv"))


@pytest.fixture(scope="module")
def lung_ecog(lung):
    return lung[lung["ph.ecog"].notna() & (lung["ph.ecog"] <= 2)].copy()


@pytest.fixture(scope="module")
def cox_lung(lung_ecog):
    return S.cox_ph(lung_ecog, "time", "status", group="ph.ecog", covariates=["age", "sex"],
                    reference=0)


def test_lifelines_lung_is_r_lung(lung):
    from lifelines.datasets import load_lung
    ll = load_lung()
    assert list(ll.columns) == list(lung.columns)
    for c in lung.columns:
        np.testing.assert_array_equal(ll[c].to_numpy(float), lung[c].to_numpy(float))


# ----------------------------------------------------------------------------- R: log-rank, KM

def test_logrank_two_groups_matches_r(lung, ref):
    r = S.logrank(lung, "time", "status", "sex")
    np.testing.assert_allclose(r["statistic"], ref["logrank_sex"]["chisq"], rtol=RTOL)
    np.testing.assert_allclose(r["p"], ref["logrank_sex"]["p"], rtol=RTOL)


def test_logrank_three_groups_and_pairwise_match_r(lung_ecog, ref):
    r = S.logrank(lung_ecog, "time", "status", "ph.ecog")
    assert r["df"] == 2 and r["n"] == ref["logrank_ecog"]["n"]
    np.testing.assert_allclose(r["statistic"], ref["logrank_ecog"]["chisq"], rtol=RTOL)
    np.testing.assert_allclose(r["p"], ref["logrank_ecog"]["p"], rtol=RTOL)
    pw = S.pairwise_logrank(lung_ecog, "time", "status", "ph.ecog")
    for rr in ref["logrank_ecog"]["pairwise"]:
        row = pw[(pw.a == rr["a"]) & (pw.b == rr["b"])].iloc[0]
        np.testing.assert_allclose(row["statistic"], rr["chisq"], rtol=RTOL)
        for k in ("p", "p_holm", "p_bh"):
            np.testing.assert_allclose(row[k], rr[k], rtol=RTOL)


def test_km_survival_ci_at_risk_median_match_r(lung, ref):
    k = ref["km_sex"]
    km = S.kaplan_meier(lung, "time", "status", "sex", times=k["times"])
    tab = km.table.sort_values(["group", "time"])
    np.testing.assert_array_equal(tab["n_risk"].to_numpy(), k["n_risk"])
    np.testing.assert_allclose(tab["surv"], k["surv"], rtol=RTOL)
    np.testing.assert_allclose(tab["ci_low"], k["lower"], rtol=RTOL)
    np.testing.assert_allclose(tab["ci_high"], k["upper"], rtol=RTOL)
    np.testing.assert_array_equal(km.at_risk.to_numpy().ravel(), k["n_risk"])
    np.testing.assert_allclose(km.median["median"], k["median"])
    np.testing.assert_allclose(km.median["ci_low"], k["median_lower"])
    np.testing.assert_allclose(km.median["ci_high"], k["median_upper"])


def test_km_at_risk_hand_example():
    # times 1..8; at risk at t = #{time >= t}; group b has a tie at 3 and a censoring at 5
    df = pd.DataFrame({"t": [1, 2, 4, 6, 8, 3, 3, 5, 7, 9],
                       "e": [1, 0, 1, 1, 0, 1, 1, 0, 1, 1],
                       "g": ["a"] * 5 + ["b"] * 5})
    km = S.kaplan_meier(df, "t", "e", "g", times=[0, 3, 5, 8, 10])
    assert km.at_risk.loc["a"].tolist() == [5, 3, 2, 1, 0]
    assert km.at_risk.loc["b"].tolist() == [5, 5, 3, 1, 0]
    # KM of group a: S(1)=4/5, censor at 2, S(4)=4/5*2/3, S(6)=4/5*2/3*1/2
    sa = km.table[km.table.group == "a"].set_index("time")["surv"]
    np.testing.assert_allclose(sa.loc[[0, 3, 5, 8]], [1, 0.8, 0.8 * 2 / 3, 0.8 * 2 / 3 / 2])


@pytest.mark.parametrize("t,e,median", [
    ([1, 2, 3, 4], [1, 1, 1, 1], 2.5),                  # S = 0.5 on [2, 3): the midpoint
    ([1, 2, 3, 5, 8, 9], [1, 1, 1, 1, 1, 0], 4.0),      # S(3) = 0.5000000000000001 in floats
    ([1, 2, 3, 4], [1, 1, 0, 0], 3.0),                  # the curve ends at 0.5: to the last time
    ([2, 3, 9, 10, 13, 22, 27, 44, 49, 127], [1] * 10, 17.5),   # S(13) = 0.49999999999999983
    ([1, 2, 3, 4, 5], [1, 1, 1, 1, 1], 3.0),            # crosses 0.5 at 3: no stretch
])
def test_km_median_takes_the_midpoint_of_a_stretch_at_one_half_as_r(t, e, median):
    # R survival >= 3, quantile.survfit: where the curve equals 0.5 (within sqrt(eps)) over a
    # stretch, the median is its midpoint; worked by hand from the KM steps
    km = S.kaplan_meier(pd.DataFrame({"t": t, "e": e}), "t", "e", times=[0])
    assert km.median["median"].iloc[0] == median


def test_km_median_ci_leaves_out_the_band_where_the_estimate_is_zero():
    # t 2,3,4,6,7 (3 censored): S = .8, .8, .5333, .2667, 0.  The log-log band is undefined at
    # S = 0 (R: NA), so the upper band never reaches 0.5 and the CI's upper limit is NA (R
    # [2, NA]; taking the band as 0 there gave 7)
    km = S.kaplan_meier(pd.DataFrame({"t": [2, 3, 4, 6, 7], "e": [1, 0, 1, 1, 1]}), "t", "e",
                        times=[0])
    row = km.median.iloc[0]
    assert row["median"] == 6.0 and row["ci_low"] == 2.0 and np.isnan(row["ci_high"])


def test_km_times_beyond_follow_up_repeat_last_estimate_and_warn(caplog):
    # R: summary(survfit(Surv(t, e) ~ g), times = c(8, 10, 20), extend = TRUE) gives n.risk 0 and
    # the last estimate beyond a group's last time; 20 lies beyond everyone's follow-up (9)
    df = pd.DataFrame({"t": [1, 2, 4, 6, 8, 3, 3, 5, 7, 9],
                       "e": [1, 0, 1, 1, 0, 1, 1, 0, 1, 1],
                       "g": ["a"] * 5 + ["b"] * 5})
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.survival"):
        km = S.kaplan_meier(df, "t", "e", "g", times=[8, 9])
    assert not [r for r in caplog.records if "beyond" in r.message]
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.survival"):
        km = S.kaplan_meier(df, "t", "e", "g", times=[8, 10, 20])
    msgs = [r.getMessage() for r in caplog.records if "beyond" in r.getMessage()]
    assert len(msgs) == 1 and "time(s) 10, 20 lie beyond the last follow-up (9)" in msgs[0]
    tab = km.table.set_index(["group", "time"])
    assert tab.loc[("a", 20.0), "n_risk"] == 0 and tab.loc[("b", 20.0), "n_risk"] == 0
    np.testing.assert_allclose(tab.loc[("a", 20.0), "surv"], 0.8 * 2 / 3 / 2)
    np.testing.assert_allclose(tab.loc[("b", 20.0), "surv"], 0.0)


# ----------------------------------------------------------------------------------- R: Cox

def test_cox_matches_r(cox_lung, ref):
    rc = ref["cox"]
    t = cox_lung.table
    assert list(t["term"]) == ["ph.ecog=1", "ph.ecog=2", "age", "sex"] == rc["terms"]
    assert cox_lung.n == rc["n"] and cox_lung.n_events == rc["n_events"]
    for ours, theirs in (("coef", "coef"), ("se", "se"), ("hr", "hr"), ("ci_low", "ci_low"),
                         ("ci_high", "ci_high"), ("z", "z"), ("p", "p")):
        np.testing.assert_allclose(t[ours], rc[theirs], rtol=RTOL, err_msg=ours)
    np.testing.assert_allclose(cox_lung.fitter.log_likelihood_, rc["loglik"][1], rtol=1e-8)


def test_c_index_matches_r(cox_lung, ref):
    np.testing.assert_allclose(cox_lung.c_index, ref["cox"]["concordance"], rtol=RTOL)
    d = cox_lung.design
    ci = S.c_index(d["_time"], d["_event"], cox_lung.linear_predictor(), n_boot=100, seed=1)
    np.testing.assert_allclose(ci["value"], ref["cox"]["concordance"], rtol=RTOL)
    assert ci["ci_low"] < ci["value"] < ci["ci_high"]
    # percentile bootstrap width ~ 2 * 1.96 * R's standard error (0.0253); generous band
    width = ci["ci_high"] - ci["ci_low"]
    assert 0.5 * 3.92 * ref["cox"]["concordance_se"] < width < 1.6 * 3.92 * ref["cox"]["concordance_se"]
    again = S.c_index(d["_time"], d["_event"], cox_lung.linear_predictor(), n_boot=100, seed=1)
    assert again == ci  # seeded


def test_c_index_ties_are_relative_to_each_value_not_the_largest():
    from sksurv.metrics import concordance_index_censored

    # perfectly concordant: the three small risks must not become ties because one is large
    t, e = np.array([1.0, 2, 3, 4]), np.array([1, 1, 1, 0])
    assert S.c_index(t, e, np.array([1e10, 3e-3, 2e-3, 1e-3]), n_boot=0)["value"] == 1.0
    # a wide linear predictor: the same C for lp and for exp(lp) (a monotone transform), equal
    # to scikit-survival's count
    rng = np.random.default_rng(0)
    lp = rng.normal(0, 5, 300)
    T, C = rng.exponential(np.exp(-lp / 5)), rng.exponential(2, 300)
    t, e = np.minimum(T, C), (T <= C).astype(int)
    c_lp = S.c_index(t, e, lp, n_boot=0)["value"]
    assert c_lp == S.c_index(t, e, np.exp(lp), n_boot=0)["value"]
    assert c_lp == pytest.approx(concordance_index_censored(e.astype(bool), t, np.exp(lp))[0],
                                 abs=1e-12)
    # values equal to 10 significant digits (BLAS noise in the last bits) are ties: count 1/2
    noisy = np.array([2.0, 1.0 + 1e-14, 1.0, 0.5])
    assert S.c_index(t[:4], np.ones(4, int), noisy, n_boot=0)["value"] == \
        S.c_index(t[:4], np.ones(4, int), np.array([2.0, 1.0, 1.0, 0.5]), n_boot=0)["value"]


def test_cox_reference_level_and_categorical_covariate(lung_ecog, cox_lung):
    d = lung_ecog.copy()
    d["ecog"] = d["ph.ecog"].map({0: "zero", 1: "one", 2: "two"})
    d["sexc"] = d["sex"].map({1: "m", 2: "f"})
    r = S.cox_ph(d, "time", "status", group="ecog", covariates=["age", "sexc"], reference="one")
    t = r.table.set_index("term")
    assert set(t.index) == {"ecog=two", "ecog=zero", "age", "sexc=m"}
    base = cox_lung.table.set_index("term")["coef"]
    # re-parametrisation: zero vs one = -(one vs zero); two vs one = (two vs zero) - (one vs zero)
    np.testing.assert_allclose(t.loc["ecog=zero", "coef"], -base["ph.ecog=1"], rtol=1e-6)
    np.testing.assert_allclose(t.loc["ecog=two", "coef"], base["ph.ecog=2"] - base["ph.ecog=1"],
                               rtol=1e-6)
    np.testing.assert_allclose(t.loc["sexc=m", "coef"], -base["sex"], rtol=1e-6)
    with pytest.raises(SurvivalDataError, match="reference level"):
        S.cox_ph(d, "time", "status", group="ecog", reference="three")


def test_ph_test_same_conclusion_as_r(cox_lung, ref):
    # lifelines follows the pre-3.0 cox.zph approximation, so only the conclusion is compared:
    # R (survival 3.5) finds no PH violation at 5% for any term on this model, nor do we.
    ph = S.ph_test(cox_lung)
    assert list(ph["term"]) == ["ph.ecog=1", "ph.ecog=2", "age", "sex"]
    assert min(ref["cox_zph_km"]["p"]) > 0.05
    assert (ph["p"] > 0.05).all()
    for tt in ("rank", "identity", "log"):
        assert len(S.ph_test(cox_lung, time_transform=tt)) == 4


def test_ph_test_flags_non_proportional_hazards():
    rng = np.random.default_rng(3)
    n = 600
    g = rng.integers(0, 2, n)
    # group 1: high early hazard, then lower (crossing hazards) -> PH violated
    t1 = np.where(rng.random(n) < 0.5, rng.exponential(0.2, n), rng.exponential(5, n))
    t0 = rng.exponential(1.0, n)
    t = np.where(g == 1, t1, t0)
    c = rng.uniform(0, 4, n)
    df = pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "g": g,
                       "x": rng.normal(size=n)})
    cox = S.cox_ph(df, "t", "e", group="g", covariates=["x"])
    ph = S.ph_test(cox).set_index("term")
    assert ph.loc["g=1", "p"] < 1e-3
    assert ph.loc["x", "p"] > 0.01


# --------------------------------------------------------------------------------- bad input

def test_bad_input_errors(lung):
    with pytest.raises(SurvivalDataError, match="not in the table"):
        S.logrank(lung, "time", "status", "nope")
    d = lung.copy()
    d.loc[0, "time"] = -1
    with pytest.raises(SurvivalDataError, match="negative"):
        S.logrank(d, "time", "status", "sex")
    d = lung.copy()
    d["status"] = d["status"] + 1
    with pytest.raises(SurvivalDataError, match="subtract 1"):
        S.logrank(d, "time", "status", "sex")
    with pytest.raises(SurvivalDataError, match="fewer than 2 member"):
        S.logrank(lung, "time", "status", "ph.ecog")  # ph.ecog = 3 has one patient
    with pytest.raises(SurvivalDataError, match="missing values"):
        S.kaplan_meier(lung, "time", "status", "ph.ecog", dropna=False)
    d = lung.copy()
    d["status"] = 0
    with pytest.raises(SurvivalDataError, match="no event"):
        S.kaplan_meier(d, "time", "status")


def test_nan_rows_dropped_and_counted(lung_ecog, ref):
    d = lung_ecog.copy()
    d.loc[d.index[:5], "age"] = np.nan
    r = S.cox_ph(d, "time", "status", group="ph.ecog", covariates=["age", "sex"])
    assert r.n_dropped == 5 and r.n == ref["cox"]["n"] - 5


def test_adjust_pvalues_against_closed_form():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    # Holm: sorted 0.01,0.03,0.04,0.2 * 4,3,2,1 = .04,.09,.08,.2 -> cummax .04,.09,.09,.2
    np.testing.assert_allclose(S.adjust_pvalues(p, "holm"), [0.04, 0.09, 0.09, 0.2])
    # BH: sorted p*4/rank = .04, .06, .0533, .2 -> reverse cummin .04, .0533, .0533, .2
    np.testing.assert_allclose(S.adjust_pvalues(p, "bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.2])


# ---------------------------------------------------------------------------------- DeLong

def test_delong_matches_proc(ref):
    a = pd.read_csv(os.path.join(FIX, "r_aSAH.csv"))
    r = G.delong_test(a["outcome"], a["s100b"], a["ndka"])
    rr = ref["delong_aSAH"]
    np.testing.assert_allclose([r["auc1"], r["auc2"]], [rr["auc1"], rr["auc2"]], rtol=1e-10)
    np.testing.assert_allclose(r["z"], rr["z"], rtol=1e-8)
    np.testing.assert_allclose(r["p"], rr["p"], rtol=1e-8)
    np.testing.assert_allclose(r["auc1_ci"], rr["auc1_ci"], rtol=1e-8)
    np.testing.assert_allclose(r["auc2_ci"], rr["auc2_ci"], rtol=1e-8)
    c = G.delong_ci(a["outcome"], a["s100b"])
    np.testing.assert_allclose([c["ci_low"], c["ci_high"]], rr["auc1_ci"], rtol=1e-8)
    # AUC equals the Mann-Whitney statistic
    from sklearn.metrics import roc_auc_score
    np.testing.assert_allclose(r["auc2"], roc_auc_score(a["outcome"], a["ndka"]))


def test_delong_identical_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    s = rng.normal(size=80) + y
    r = G.delong_test(y, s, s)
    assert r["diff"] == 0 and r["p"] == 1.0


# ---------------------------------------------------------------------- LASSO-Cox signature

def _synthetic_survival(n=300, p=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lp = 1.0 * X[:, 0] - 0.8 * X[:, 1] + 0.6 * X[:, 2]
    T = rng.exponential(10 * np.exp(-lp))
    C = rng.exponential(15, size=n)
    t, e = np.minimum(T, C), (T <= C).astype(int)
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(p)]), t, e, lp


def test_lasso_cox_selects_true_features():
    X, t, e, lp = _synthetic_survival()
    m = G.LassoCoxSignature(cv=5, random_state=0).fit(X, t, e)  # rule "1se"
    assert set(m.selected_features_) == {"f0", "f1", "f2"}
    m_min = G.LassoCoxSignature(cv=5, random_state=0, rule="min").fit(X, t, e)
    assert {"f0", "f1", "f2"} <= set(m_min.selected_features_)
    assert m_min.alpha_ <= m.alpha_
    assert np.sign(m.coef_["f0"]) == 1 and np.sign(m.coef_["f1"]) == -1
    # held-out data from the same model
    Xv, tv, ev, _ = _synthetic_survival(seed=1)
    assert m.score(Xv, tv, ev) > 0.7
    # raw-scale coefficients give the same score
    np.testing.assert_allclose(Xv.to_numpy() @ m.coef_raw_.to_numpy() + m.intercept_raw_,
                               m.predict(Xv), atol=1e-10)


def test_lasso_cox_scores_every_penalty_in_every_fold_as_glmnet():
    """A fold whose Coxnet path stopped early predicts with its last solution (as cv.glmnet
    does): every penalty gets the mean over all 5 folds.  Reference: R glmnet 4.1-6's
    cv.glmnet on the same data, folds and penalty path (type.measure "C"): lambda.1se 0.23404,
    2 features.  Before, a penalty scored in only the folds that reached it (4 of 5) won:
    6 features, CV C 0.8925 (glmnet's C there: 0.848)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6))
    T = rng.exponential(np.exp(-1.5 * X[:, [0, 1]].sum(1)))
    C = rng.exponential(np.median(T) * 2, size=80)
    t, e = np.minimum(T, C), (T <= C).astype(int)
    X = pd.DataFrame(X, columns=[f"f{j}" for j in range(6)])
    m = G.LassoCoxSignature(cv=5, rule="1se", random_state=0).fit(X, t, e)
    assert np.isfinite(m.cv_results_["mean_c"]).all()
    assert np.isfinite(m.cv_results_["se_c"]).all()
    assert m.alpha_ == pytest.approx(0.23404, rel=1e-4)
    assert sorted(m.selected_features_) == ["f0", "f1"]


def test_time_dependent_auc_true_vs_noise():
    X, t, e, lp = _synthetic_survival(n=400, seed=2)
    times = [2, 5, 10]
    true = G.time_dependent_auc(t, e, lp, times)
    noise = G.time_dependent_auc(t, e, X["f30"].to_numpy(), times)
    assert (true["auc"] > 0.7).all()
    assert (np.abs(noise["auc"] - 0.5) < 0.1).all()
    with pytest.raises(SurvivalDataError, match="outside the follow-up"):
        G.time_dependent_auc(t, e, lp, [t.max() + 1])


def test_logrank_statistics_equal_lifelines():
    from lifelines.statistics import logrank_test
    X, t, e, lp = _synthetic_survival(n=200, seed=4)
    t = np.round(t, 1)  # ties
    groups = np.column_stack([lp > 0, X["f5"].to_numpy() > 0.3])
    ours = G.logrank_statistics(t, e, groups)
    for k in range(2):
        g = groups[:, k]
        ref = logrank_test(t[g], t[~g], e[g], e[~g]).test_statistic
        np.testing.assert_allclose(ours[k], ref, rtol=1e-10)


def test_optimal_cutoff_beats_median_on_planted_threshold():
    rng = np.random.default_rng(5)
    n = 400
    s = rng.uniform(0, 1, n)
    # hazard jumps 4x above the 75th percentile of the score, flat otherwise
    T = rng.exponential(np.where(s > 0.75, 0.25, 1.0))
    C = rng.exponential(2.0, n)
    t, e = np.minimum(T, C), (T <= C).astype(int)
    oc = G.optimal_cutoff(s, t, e, n_perm=99, seed=0)
    assert abs(oc["quantile"] - 0.75) <= 0.06
    med = G.risk_groups(s, "median") == "high"
    med_stat = G.logrank_statistics(t, e, med)[0]
    assert oc["statistic"] > med_stat
    assert oc["p_perm"] <= 0.02
    # on a noise score the permutation p is not small, the naive p is smaller
    noise = G.optimal_cutoff(rng.normal(size=n), t, e, n_perm=99, seed=0)
    assert noise["p_perm"] > 0.05 and noise["p_naive"] < noise["p_perm"]


def test_lasso_logistic_selects_and_cv_auc():
    rng = np.random.default_rng(6)
    n, p = 200, 30
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = (1.5 * X["f0"] - 1.5 * X["f1"] + rng.logistic(size=n) > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = G.LassoLogisticSignature(Cs=10, cv=4, outer_cv=4).fit(X, y)
    assert {"f0", "f1"} <= set(m.selected_features_[:2] + m.selected_features_)
    assert set(m.selected_features_[:2]) == {"f0", "f1"}
    assert m.cv_auc_ > 0.8
    assert 0 < m.coef_.astype(bool).sum() < p


def test_lasso_logistic_leaves_the_intercept_free():
    """At the chosen penalty the model is the LASSO with a free intercept (glmnet's), so the
    mean probability is the prevalence.  Reference: statsmodels' L1 logit with the same penalty
    on the coefficients and none on the intercept (R glmnet gives the same).  liblinear
    penalised the intercept: -1.197 where the reference has -1.403, mean probability 0.262 at
    a prevalence of 0.233 (audit)."""
    import statsmodels.api as sm
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(150, 10)), columns=[f"f{j}" for j in range(10)])
    y = (rng.random(150) < 1 / (1 + np.exp(-(-1.5 + 0.8 * X.f0 + 0.5 * X.f1)))).astype(int)
    m = G.LassoLogisticSignature(outer_cv=0).fit(X, y)
    Z = sm.add_constant(StandardScaler().fit_transform(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.Logit(y, Z).fit_regularized(method="l1", alpha=np.r_[0, np.full(10, 1 / m.C_)],
                                             disp=0, trim_mode="off", acc=1e-12, maxiter=10000)
    params = np.asarray(ref.params)
    assert m.intercept_ == pytest.approx(params[0], abs=1e-4)
    np.testing.assert_allclose(m.coef_.to_numpy(), params[1:], atol=1e-4)
    assert m.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), abs=1e-4)


# ---------------------------------------------------------------------------- cross-cancer

def _pan_cancer(kind, n=120, seed=7):
    rng = np.random.default_rng(seed)
    feats = [f"noise{i}" for i in range(6)] + ["common", "a_spec", "b_spec"]
    parts = []
    for ct, spec in (("A", "a_spec"), ("B", "b_spec")):
        F = pd.DataFrame(rng.normal(size=(n, len(feats))), columns=feats)
        lp = 1.2 * F["common"] + 1.2 * F[spec]
        if kind == "survival":
            T = rng.exponential(np.exp(-lp))
            C = rng.exponential(2, n)
            F["time"], F["event"] = np.minimum(T, C), (T <= C).astype(int)
        else:
            F["y"] = (lp + 0.5 * rng.logistic(size=n) > 0).astype(int)
        F["ct"] = ct
        parts.append(F)
    return pd.concat(parts, ignore_index=True), feats


@pytest.mark.parametrize("kind", ["survival", "binary"])
def test_cross_cancer_finds_ctc_and_cts(kind):
    df, feats = _pan_cancer(kind)
    kw = dict(time="time", event="event") if kind == "survival" else dict(outcome="y")
    r = CC.cross_cancer_comparison(df, feats, "ct", cv=3, fdr=0.01, **kw)
    # the planted features are found; at FDR 1% an occasional noise feature may be significant
    # in one type (expected), but not in both
    assert r.ctc == ["common"]
    assert r.cts.get("a_spec") == "A" and r.cts.get("b_spec") == "B"
    assert len(r.cts) <= 3
    noise_hits = r.tests[r.tests.feature.str.startswith("noise") & r.tests.significant]
    assert len(noise_hits) <= 1
    m = r.models.set_index(["cancer_type", "feature_set"])
    assert (m["mean"] > 0.6).all()
    # the combined set (both true features of a type) beats each alone
    for ct in ("A", "B"):
        assert m.loc[(ct, "CTC+CTS"), "mean"] > max(m.loc[(ct, "CTC"), "mean"],
                                                    m.loc[(ct, "CTS"), "mean"]) - 0.02
    with pytest.raises(SurvivalDataError, match=">= 2 cancer types"):
        CC.cross_cancer_comparison(df[df.ct == "A"], feats, "ct", **kw)


# ------------------------------------------------------------------------------------- CLI

def test_cli_survival_end_to_end(tmp_path, lung_ecog, ref):
    from PanCancerSubtypeLib.cli import main
    d = lung_ecog.copy()
    d["ecog"] = d["ph.ecog"].map({0: "asymptomatic", 1: "ambulatory", 2: "in_bed"})
    table = tmp_path / "t.csv"
    d.to_csv(table, index=False)
    out = tmp_path / "out"
    rc = main(["survival", "--table", str(table), "--time", "time", "--event", "status",
               "--group", "ecog", "--covariates", "age,sex", "--reference", "asymptomatic",
               "--out", str(out), "--times", "180,365,730", "--n-boot", "50"])
    assert rc == 0
    for f in ("km.png", "forest.png", "summary.json", "km_at_risk.csv"):
        assert (out / f).stat().st_size > 0, f
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for k in ("logrank_p", "logrank_pairwise", "cox", "c_index", "ph_test", "median_survival",
              "n", "n_events"):
        assert k in s, k
    np.testing.assert_allclose(s["logrank_p"], ref["logrank_ecog"]["p"], rtol=RTOL)
    cox = {c["term"]: c for c in s["cox"]}
    assert set(cox) == {"ecog=ambulatory", "ecog=in_bed", "age", "sex"}
    np.testing.assert_allclose(cox["ecog=in_bed"]["hr"], ref["cox"]["hr"][1], rtol=RTOL)
    assert set(cox["age"]) >= {"term", "coef", "hr", "ci_low", "ci_high", "p"}
    np.testing.assert_allclose(s["c_index"]["value"], ref["cox"]["concordance"], rtol=RTOL)
    assert s["n"] == ref["cox"]["n"] and s["n_events"] == ref["cox"]["n_events"]
    risk = pd.read_csv(out / "km_at_risk.csv", index_col=0)
    assert risk.columns.tolist() == ["180", "365", "730"]
    np.testing.assert_array_equal(risk.loc["asymptomatic"].to_numpy(),
                                  [(d[d.ecog == "asymptomatic"].time >= x).sum()
                                   for x in (180, 365, 730)])


def test_cli_survival_bad_column(tmp_path, lung, capsys):
    from PanCancerSubtypeLib.cli import main
    table = tmp_path / "t.csv"
    lung.to_csv(table, index=False)
    rc = main(["survival", "--table", str(table), "--time", "time", "--event", "status",
               "--group", "subtype", "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "subtype" in capsys.readouterr().err


def test_signature_bad_input():
    X, t, e, lp = _synthetic_survival(n=60, p=5)
    Xn = X.copy()
    Xn.iloc[3, 2] = np.nan
    with pytest.raises(SurvivalDataError, match="NaN"):
        G.LassoCoxSignature().fit(Xn, t, e)
    with pytest.raises(SurvivalDataError, match="differ in length"):
        G.LassoCoxSignature().fit(X, t[:-1], e)
    with pytest.raises(SurvivalDataError, match="event must be 0/1"):
        G.LassoCoxSignature().fit(X, t, e + 1)
    Xc = X.copy()
    Xc["const"] = 1.0
    with pytest.raises(SurvivalDataError, match="constant"):
        G.LassoCoxSignature().fit(Xc, t, e)
    with pytest.raises(ValueError, match="binary"):
        G.delong_test(np.full(10, 1), np.arange(10), np.arange(10))
    with pytest.raises(SurvivalDataError, match="differ in length"):
        G.optimal_cutoff(lp[:-1], t, e)
    m = G.LassoCoxSignature(cv=3).fit(X, t, e)
    from PanCancerSubtypeLib.errors import FeatureMismatchError
    with pytest.raises(FeatureMismatchError, match="f4"):
        m.predict(X.drop(columns=["f4"]))


def test_cross_cancer_bad_input():
    df, feats = _pan_cancer("binary", n=30)
    with pytest.raises(SurvivalDataError, match="not in the table"):
        CC.cross_cancer_comparison(df, feats + ["nope"], "ct", outcome="y")
    d = df.copy()
    d["y"] = d["y"] + 1
    with pytest.raises(SurvivalDataError, match="must be 0/1"):
        CC.cross_cancer_comparison(d, feats, "ct", outcome="y")
    with pytest.raises(SurvivalDataError, match="time and event"):
        CC.cross_cancer_comparison(df, feats, "ct", time="y")
    # found by the hostile-input sweep (pass 48): an internal TypeError, or exit 0 on garbage
    with pytest.raises(SurvivalDataError, match="not both"):
        CC.cross_cancer_comparison(df, feats, "ct", outcome="y", time="y", event="y")
    with pytest.raises(SurvivalDataError, match="no numeric feature"):
        CC.cross_cancer_comparison(df, [], "ct", outcome="y")
    ds, fs = _pan_cancer("survival", n=30)
    for bad, why in (("12,5", "not numeric"), (np.inf, "infinite")):
        d = ds.copy()
        d["time"] = d["time"].astype(object)
        d.loc[3, "time"] = bad
        with pytest.raises(SurvivalDataError, match=why):
            CC.cross_cancer_comparison(d, fs, "ct", time="time", event="event")


def test_cross_cancer_models_of_a_cancer_type_without_censoring():
    """Everyone died (common in GBM series): the folds cannot be stratified by event, and every
    model row was NaN with n_folds 0 (audit).  Now plain 5-fold CV, equal to an independent
    KFold + lifelines Cox + scikit-survival C-index (0.761)."""
    from lifelines import CoxPHFitter
    from sklearn.model_selection import KFold
    from sksurv.metrics import concordance_index_censored

    rng = np.random.default_rng(0)
    parts = []
    for ct, cens in (("BRCA", True), ("GBM", False)):
        X = rng.normal(size=(60, 3))
        T = rng.exponential(np.exp(-1.2 * X[:, 0]))
        C = rng.exponential(2 * np.median(T), 60) if cens else np.full(60, np.inf)
        d = pd.DataFrame(X, columns=["f0", "f1", "f2"])
        d["time"], d["event"], d["ct"] = np.minimum(T, C), (T <= C).astype(int), ct
        parts.append(d)
    df = pd.concat(parts, ignore_index=True)
    r = CC.cross_cancer_comparison(df, ["f0", "f1", "f2"], "ct", time="time", event="event",
                                   cv=5)
    assert r.ctc == ["f0"]
    g = df[df.ct == "GBM"].reset_index(drop=True)
    cs = []
    for tr, te in KFold(5, shuffle=True, random_state=0).split(g):
        m = CoxPHFitter(penalizer=0.1).fit(g.iloc[tr][["f0", "time", "event"]], "time", "event")
        lp = g.iloc[te]["f0"].to_numpy() * m.params_["f0"]
        cs.append(concordance_index_censored(g.event.iloc[te].astype(bool).to_numpy(),
                                             g.time.iloc[te].to_numpy(), lp)[0])
    gbm = r.models[(r.models.cancer_type == "GBM") & (r.models.feature_set == "CTC")].iloc[0]
    assert gbm["n_folds"] == 5
    assert gbm["mean"] == pytest.approx(np.mean(cs), abs=1e-6)


def test_cli_cross_cancer_end_to_end(tmp_path):
    from PanCancerSubtypeLib.cli import main
    df, feats = _pan_cancer("binary")
    df.insert(0, "case_id", [f"c{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "t.csv", index=False)
    rc = main(["cross-cancer", "--table", str(tmp_path / "t.csv"), "--cancer-type", "ct",
               "--outcome", "y", "--fdr", "0.01", "--cv", "3", "--out", str(tmp_path / "cc")])
    assert rc == 0
    s = json.loads((tmp_path / "cc" / "cross_cancer.json").read_text(encoding="utf-8"))
    assert s["ctc"] == ["common"] and s["n_features"] == len(feats)
    assert s["cts"]["a_spec"] == "A" and s["cts"]["b_spec"] == "B"
    assert len(pd.read_csv(tmp_path / "cc" / "models.csv")) == 6


def test_cli_signature_end_to_end(tmp_path, capsys):
    from PanCancerSubtypeLib.cli import main
    X, t, e, lp = _synthetic_survival(n=200, p=20, seed=8)
    ids = [f"c{i}" for i in range(len(t))]
    X.insert(0, "ID", ids)
    # a diagnostic column that tracks the outcome and a failed case: neither is used (audit:
    # every numeric column was a feature, and the diag_ column was selected first)
    X["diag_radiomics_VoxelNum"] = lp + np.random.default_rng(0).normal(0, 0.01, len(lp))
    X["error"] = ""
    X.loc[5, "error"] = "FeatureError: empty mask"
    X.to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame({"ID": ids[::-1], "os": t[::-1], "dead": e[::-1]}).to_csv(
        tmp_path / "t.csv", index=False)
    rc = main(["signature", "--features", str(tmp_path / "f.csv"), "--table",
               str(tmp_path / "t.csv"), "--time", "os", "--event", "dead", "--out",
               str(tmp_path / "sig"), "--cutoff", "optimal", "--n-perm", "20",
               "--times", "2,5"])
    assert rc == 0
    s = json.loads((tmp_path / "sig" / "signature.json").read_text(encoding="utf-8"))
    assert {"f0", "f1", "f2"} <= set(s["selected_features"])
    assert s["cv_c_index"] > 0.7 and s["risk_groups"]["logrank_p"] < 1e-4
    assert not any(f.startswith("diag_") for f in s["selected_features"])
    assert s["n"] == 199 and s["n_features"] == 20
    rs = pd.read_csv(tmp_path / "sig" / "radscore.csv")
    assert len(rs) == 199 and set(rs["risk_group"]) == {"high", "low"} and "c5" not in set(rs["ID"])
    # rows are matched by ID, never by position: a table without the ID column is refused
    pd.DataFrame({"patient": ids, "os": t, "dead": e}).to_csv(tmp_path / "p.csv", index=False)
    rc = main(["signature", "--features", str(tmp_path / "f.csv"), "--table",
               str(tmp_path / "p.csv"), "--time", "os", "--event", "dead", "--out",
               str(tmp_path / "sig2")])
    assert rc == 1
    assert "p.csv: no 'ID' column" in capsys.readouterr().err


# ------------------------------------------------------------------- hostile tables (pass 48)
def _surv_table(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"ID": [f"P{i:03d}" for i in range(n)],
                         "time": rng.uniform(1, 100, n).round(1),
                         "event": rng.integers(0, 2, n), "g": [("A", "B", "C")[i % 3] for i in range(n)],
                         "age": rng.integers(40, 80, n).astype(float)})


def test_a_numeric_covariate_with_a_typo_is_refused_not_dummy_coded():
    """One 'unknown' among the ages made the column text: ~30 dummy terms and a C-index of 1.0,
    exit 0. Now the file, the column, the value and its row are named; text covariates stay
    categorical."""
    from PanCancerSubtypeLib.errors import FeatureValueError

    df = _surv_table()
    df["age"] = df["age"].astype(object)
    df.loc[5, "age"] = "unknown"
    # the 6th data row is row 7 of the file (the header is row 1, as manifests count); the
    # message said "row 5", the 0-based index (README audit)
    with pytest.raises(FeatureValueError, match=r"'age'.*'unknown' \(row 7\)") as exc:
        S.prepare_survival_data(df, "time", "event", covariates=["age"], source="clin.csv")
    assert "clin.csv" in str(exc.value)
    sd = S.prepare_survival_data(df, "time", "event", covariates=["g"])     # text: fine
    assert len(sd.df) == 30
    sd = S.prepare_survival_data(df, "time", "event", covariates=["age"],   # declared: fine
                                 categorical=["age"])
    assert len(sd.df) == 30


def test_all_zero_times_and_text_events_and_group_counts_say_what_is_wrong():
    df = _surv_table()
    zero = df.assign(time=0.0)
    with pytest.raises(SurvivalDataError, match="0 on every row"):
        S.prepare_survival_data(zero, "time", "event")
    yes = df.assign(event=np.where(df["event"] == 1, "yes", "no"))
    with pytest.raises(SurvivalDataError) as exc:
        S.prepare_survival_data(yes, "time", "event")
    assert "['no', 'yes']" in str(exc.value) and "R's" not in str(exc.value)
    one = df.copy()
    one.loc[0, "g"] = "Z"
    with pytest.raises(SurvivalDataError) as exc:
        S.prepare_survival_data(one, "time", "event", group="g")
    assert "{'Z': 1}" in str(exc.value) and "np." not in str(exc.value)


def test_feature_tables_refuse_a_numeric_column_with_a_typo(tmp_path):
    """``tables.split_feature_table`` (discover, associate, roi-signature...): a column of numbers
    with one 'n/a?' was dropped silently as text; a column of text is still left out."""
    from PanCancerSubtypeLib.errors import FeatureValueError
    from PanCancerSubtypeLib.tables import split_feature_table

    df = pd.DataFrame({"ID": ["a", "b", "c", "d"], "f0": ["1.5", "2", "n/a?", "3"],
                       "f1": [1.0, 2.0, 3.0, 4.0], "site": ["x", "y", "x", "y"]})
    with pytest.raises(FeatureValueError, match=r"'f0'.*'n/a\?' \(ID c\)"):
        split_feature_table(df, source="f.csv")
    feats, _, notes = split_feature_table(df.drop(columns="f0"), source="f.csv")
    assert list(feats.columns) == ["f1"] and notes["ignored_columns"] == {"site": "non-numeric"}


def test_signature_refuses_duplicate_ids_in_the_clinical_table(tmp_path, capsys):
    """Duplicate IDs in --table copied one patient's features onto three and dropped two (exit 0,
    C-index 1.0); now refused, naming the table."""
    from PanCancerSubtypeLib import cli

    df = _surv_table(40)
    rng = np.random.default_rng(1)
    feats = pd.DataFrame({"ID": df["ID"], **{f"f{j}": rng.normal(size=40) for j in range(4)}})
    df.loc[1, "ID"] = df.loc[2, "ID"] = "P000"
    df.to_csv(tmp_path / "clin.csv", index=False)
    feats.to_csv(tmp_path / "feats.csv", index=False)
    rc = cli.main(["signature", "--features", str(tmp_path / "feats.csv"), "--table",
                   str(tmp_path / "clin.csv"), "--time", "time", "--event", "event", "--id",
                   "ID", "--n-perm", "5", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and "duplicate ids" in err and "clin.csv" in err and "P000" in err


def _separated(seed=3, n=40):
    """Group A has no events: its Cox coefficient has no finite maximum (R: "coefficient may be
    infinite")."""
    rng = np.random.default_rng(seed)
    g = np.array(["A", "B"] * (n // 2))
    t = rng.exponential(10.0, n).round(2) + 0.5
    e = np.where(g == "A", 0, (rng.random(n) < 0.8).astype(int))
    return pd.DataFrame({"t": t, "e": e, "g": g, "age": rng.normal(60, 8, n).round(1)})


def test_cox_non_finite_coefficient_gives_one_warning_line_naming_the_term(caplog):
    from lifelines.exceptions import ConvergenceWarning

    df = _separated()
    with warnings.catch_warnings(record=True) as caught, \
            caplog.at_level("WARNING", logger="PanCancerSubtypeLib.survival"):
        warnings.simplefilter("always")
        res = S.cox_ph(df, "t", "e", "g", covariates=["age"], source="sep.csv")
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1
    assert msgs[0].startswith("sep.csv: Cox model: the coefficient of g=B may be infinite")
    row = res.table.set_index("term").loc["g=B"]
    assert row["coef"] > 10 and row["ci_high"] == np.inf          # the runaway it warns about
    # an ordinary fit says nothing
    caplog.clear()
    ok = df.assign(e=(np.arange(len(df)) % 3 > 0).astype(int))
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.survival"):
        S.cox_ph(ok, "t", "e", "g", covariates=["age"])
    assert caplog.records == []
