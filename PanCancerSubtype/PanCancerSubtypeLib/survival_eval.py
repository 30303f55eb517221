"""Evaluation of Cox models: calibration at a time t, decision curves, AIC / BIC, likelihood-ratio
tests, and one table comparing named models (the six-model comparison of multi-modal radiomics
prognosis studies: clinical, radiomics per modality, combined).

Models are Cox proportional-hazards models (Efron ties) of named covariates of one table; the
model of record is :func:`.survival.cox_ph` (lifelines).  Predicted survival at ``t`` of subject
``i`` is ``S(t | x_i) = exp(-H0(t) exp(x_i' beta))`` with the Efron-corrected baseline cumulative
hazard ``H0(t) = sum_{t_j <= t} sum_{k=0}^{d_j - 1} 1 / (R_j - (k / d_j) D_j)`` (``R_j``:
``sum exp(x' beta)`` over the risk set at event time ``t_j``, ``D_j`` over its ``d_j`` deaths),
which is what R ``survfit.coxph`` and ``rms::cph(surv=TRUE)`` use for Efron fits.

Calibration (:func:`calibrate_cox`) follows ``rms::calibrate(cph, cmethod="KM", u=t, m=, B=)``:
subjects are grouped by the quantiles of their predicted survival at ``t`` (cut points
``quantile(c(0, 1, S), 0..1 by 1/g)`` with ``g = floor(n / m)`` groups, intervals closed on the
left as ``Hmisc::cut2``), and each group's mean predicted survival is set against its Kaplan-Meier
survival at ``t``.  The bootstrap correction (Harrell's optimism bootstrap, ``predab.resample``):
in each of ``B`` resamples the model is refitted, the difference ``KM - mean predicted`` per group
(the original cut points) is computed on the resample (training) and on the original data with
the resample's model (test); the optimism is the mean of ``training - test`` over the resamples
where both exist, and the corrected observed survival is ``KM - optimism``.  Resamples with fewer
than 5 events are skipped, as in rms.  The refits use a NumPy Newton-Raphson on the same Efron
partial likelihood (:func:`efron_cox`, equal to :func:`.survival.cox_ph` to ~1e-8), which is
~100x faster than refitting with lifelines.

Decision curves (:func:`decision_curve`, Vickers et al., BMC Med Inform Decis Mak 2008;8:53,
survival extension): treating the patients whose predicted risk of the event by ``t``,
``1 - S(t | x)``, is at least the threshold ``p_t``,

    NB(p_t) = (1 - S_KM(t | treated)) P(treated) - S_KM(t | treated) P(treated) p_t / (1 - p_t),

with treat-all ``NB = (1 - S_KM(t)) - S_KM(t) p_t / (1 - p_t)`` and treat-none ``NB = 0``.  NaN
where the treated group's Kaplan-Meier curve does not reach ``t`` (its follow-up ends earlier).

Information criteria: ``AIC = -2 logL + 2 k``, ``BIC = -2 logL + k log(d)`` with ``d`` the number
of events (R ``BIC(coxph)``: ``nobs`` of a Cox model is its number of events).  Nested models are
compared by the likelihood-ratio test ``2 (logL_full - logL_reduced) ~ chi2(k_full - k_reduced)``
(R ``anova(reduced, full)``) on the same complete rows.

:func:`compare_cox_models` fits every named model on the rows complete for all of them and
reports terms, log-likelihood, AIC, BIC, the LR test against the null model, Harrell's C
(:func:`.survival.c_index`), time-dependent AUC at each time (:func:`.signatures.
time_dependent_auc`) and DeLong's test of the AUC at the first time against a reference model
(binary outcome "event by t"; subjects censored before t are left out of that test).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .errors import SurvivalDataError
from .files import save_figure

log = logging.getLogger(__name__)

__all__ = ["efron_cox", "baseline_cumhaz", "predict_survival", "CoxModel", "fit_cox",
           "calibrate_cox", "CalibrationResult", "decision_curve", "likelihood_ratio_test",
           "information_criteria", "compare_cox_models", "ModelComparison", "calibration_plot",
           "decision_curve_plot", "report_section"]


# --------------------------------------------------------------------------------------------
# Efron partial likelihood (NumPy)
# --------------------------------------------------------------------------------------------
def _revcumsum(a: np.ndarray) -> np.ndarray:
    return np.cumsum(a[::-1], axis=0)[::-1]


def _efron_terms(X, t, e, beta):
    """log-likelihood, score and information at ``beta`` (data sorted by time)."""
    eta = X @ beta
    c = eta.max() if len(eta) else 0.0
    w = np.exp(eta - c)
    n, p = X.shape
    ut, first = np.unique(t, return_index=True)
    # risk-set sums at each unique time: rows from ``first`` on
    S0 = _revcumsum(w)[first]
    S1 = _revcumsum(w[:, None] * X)[first]
    S2 = _revcumsum(w[:, None, None] * X[:, :, None] * X[:, None, :])[first]
    ew = w * e
    D0 = np.add.reduceat(ew, first)
    D1 = np.add.reduceat(ew[:, None] * X, first, axis=0)
    D2 = np.add.reduceat(ew[:, None, None] * X[:, :, None] * X[:, None, :], first, axis=0)
    d = np.add.reduceat(e, first)
    xe = np.add.reduceat(e[:, None] * X, first, axis=0)
    has = d > 0
    S0, S1, S2, D0, D1, D2, d, xe = (a[has] for a in (S0, S1, S2, D0, D1, D2, d, xe))
    # expand each event time j into its d_j Efron terms k = 0..d_j-1
    rep = np.repeat(np.arange(len(d)), d.astype(int))
    k = np.arange(len(rep)) - np.repeat(np.cumsum(d) - d, d.astype(int))
    f = k / d[rep]
    phi = S0[rep] - f * D0[rep]
    num1 = S1[rep] - f[:, None] * D1[rep]
    num2 = S2[rep] - f[:, None, None] * D2[rep]
    ll = float((e * eta).sum() - (np.log(phi) + c).sum())
    score = xe.sum(axis=0) - (num1 / phi[:, None]).sum(axis=0)
    a = num1 / phi[:, None]
    info = (num2 / phi[:, None, None]).sum(axis=0) - np.einsum("ri,rj->ij", a, a)
    return ll, score, info


def efron_cox(X, time, event, max_iter: int = 50, tol: float = 1e-10) -> Dict[str, np.ndarray]:
    """Cox model by Newton-Raphson on the Efron partial likelihood (step halving).

    ``X`` (n, p) numeric design without intercept.  Returns ``coef``, ``var`` (inverse
    information), ``loglik`` (at ``coef``), ``loglik0`` (at 0), ``n_iter``, ``converged``.
    """
    X = np.asarray(X, dtype=float)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    order = np.argsort(t, kind="stable")
    X, t, e = X[order], t[order], e[order]
    beta = np.zeros(X.shape[1])
    ll, score, info = _efron_terms(X, t, e, beta)
    ll0 = ll
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        ll_new, s_new, i_new = _efron_terms(X, t, e, new)
        halvings = 0
        while (not np.isfinite(ll_new) or ll_new < ll - 1e-12) and halvings < 30:
            step /= 2
            new = beta + step
            ll_new, s_new, i_new = _efron_terms(X, t, e, new)
            halvings += 1
        done = abs(ll_new - ll) <= tol * max(1.0, abs(ll))
        beta, ll, score, info = new, ll_new, s_new, i_new
        if done:
            converged = True
            break
    try:
        var = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        var = np.full((X.shape[1], X.shape[1]), np.nan)
    return {"coef": beta, "var": var, "loglik": ll, "loglik0": ll0, "n_iter": it,
            "converged": converged}


def baseline_cumhaz(lp, time, event):
    """Efron-corrected baseline cumulative hazard for linear predictors ``lp`` (see the module
    docstring).  Returns ``(event_times, H0, shift)``: ``H0`` belongs to ``exp(lp - shift)``."""
    lp = np.asarray(lp, float)
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    order = np.argsort(t, kind="stable")
    lp, t, e = lp[order], t[order], e[order]
    shift = float(lp.mean())
    w = np.exp(lp - shift)
    ut, first = np.unique(t, return_index=True)
    S0 = _revcumsum(w)[first]
    D0 = np.add.reduceat(w * e, first)
    d = np.add.reduceat(e, first).astype(int)
    has = d > 0
    dh = np.array([sum(1.0 / (s0 - k / dj * d0) for k in range(dj))
                   for s0, d0, dj in zip(S0[has], D0[has], d[has])])
    return ut[has], np.cumsum(dh), shift


def predict_survival(lp_new, at: float, lp_train, time, event) -> np.ndarray:
    """``S(at | x) = exp(-H0(at) exp(lp_new - shift))`` with the Efron baseline of the training
    data (``lp_train``, ``time``, ``event``).  NaN beyond the training follow-up when the
    baseline survival there is still above 0 (as ``rms``)."""
    times, H0, shift = baseline_cumhaz(lp_train, time, event)
    idx = np.searchsorted(times, at + 1e-6, side="right") - 1
    h = 0.0 if idx < 0 else float(H0[idx])
    if at > float(np.max(time)) + 1e-6:
        return np.full(len(np.atleast_1d(lp_new)), np.nan)
    return np.exp(-h * np.exp(np.asarray(lp_new, float) - shift))


# --------------------------------------------------------------------------------------------
# a fitted model with its design
# --------------------------------------------------------------------------------------------
@dataclass
class CoxModel:
    """A Cox model of named covariates fitted by :func:`.survival.cox_ph`, with what the
    evaluation needs: ``X`` (design, dummy-coded), ``time``, ``event``, ``coef``, ``loglik``,
    ``loglik0``, ``lp`` (linear predictor), ``result`` (the :class:`.survival.CoxResult`)."""
    name: str
    covariates: List[str]
    terms: List[str]
    X: np.ndarray
    time: np.ndarray
    event: np.ndarray
    coef: np.ndarray
    loglik: float
    loglik0: float
    result: object = None
    ids: Optional[np.ndarray] = None

    @property
    def k(self) -> int:
        return len(self.terms)

    @property
    def n_events(self) -> int:
        return int(self.event.sum())

    @property
    def lp(self) -> np.ndarray:
        return self.X @ self.coef

    def survival_at(self, t: float) -> np.ndarray:
        return predict_survival(self.lp, t, self.lp, self.time, self.event)


def fit_cox(table: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
            name: str = "model", categorical: Sequence[str] = (), source: Optional[str] = None
            ) -> CoxModel:
    """Fit one Cox model (:func:`.survival.cox_ph`) of ``covariates`` on the complete rows."""
    from .survival import cox_ph

    if not covariates:
        raise SurvivalDataError(f"model {name!r} has no covariate", source)
    res = cox_ph(table, time, event, covariates=list(covariates), categorical=categorical,
                 source=source)
    terms = list(res.table["term"])
    X = res.design[terms].to_numpy(dtype=float)
    ll = float(res.fitter.log_likelihood_)
    ll0 = efron_cox(np.zeros((len(X), 0)), res.design["_time"], res.design["_event"])["loglik"]
    return CoxModel(name=name, covariates=list(covariates), terms=terms, X=X,
                    time=res.design["_time"].to_numpy(float),
                    event=res.design["_event"].to_numpy(int),
                    coef=res.table["coef"].to_numpy(float), loglik=ll, loglik0=float(ll0),
                    result=res, ids=res.design.index.to_numpy())


def information_criteria(model: CoxModel) -> Dict[str, float]:
    """``loglik``, ``k``, ``AIC``, ``BIC`` (log of the number of events), the LR test against the
    null model (``lr_chi2``, ``lr_df``, ``lr_p``)."""
    from scipy.stats import chi2

    k, ll = model.k, model.loglik
    lr = 2.0 * (ll - model.loglik0)
    return {"loglik": ll, "k": k, "AIC": -2 * ll + 2 * k,
            "BIC": -2 * ll + k * math.log(model.n_events), "lr_chi2": lr, "lr_df": k,
            "lr_p": float(chi2.sf(lr, k))}


def likelihood_ratio_test(reduced: CoxModel, full: CoxModel) -> Dict[str, float]:
    """LR test of nested Cox models fitted on the same rows (R ``anova(reduced, full)``)."""
    from scipy.stats import chi2

    if set(reduced.terms) - set(full.terms):
        raise SurvivalDataError(f"model {reduced.name!r} is not nested in {full.name!r} "
                                f"(terms {sorted(set(reduced.terms) - set(full.terms))} only in "
                                f"the first)")
    if len(reduced.time) != len(full.time) or not np.array_equal(reduced.time, full.time):
        raise SurvivalDataError("nested models must be fitted on the same rows")
    df = full.k - reduced.k
    stat = 2.0 * (full.loglik - reduced.loglik)
    return {"reduced": reduced.name, "full": full.name, "chi2": stat, "df": df,
            "p": float(chi2.sf(stat, df)) if df > 0 else float("nan")}


# --------------------------------------------------------------------------------------------
# Kaplan-Meier at one time, groups as Hmisc::cut2
# --------------------------------------------------------------------------------------------
def km_at(time, event, t: float):
    """Kaplan-Meier survival at ``t`` and its standard error on the log scale (Greenwood, R
    ``survfit``'s ``std.err``).  ``(nan, nan)`` when ``t`` lies beyond the last follow-up time
    and the curve has not reached 0 (``rms::groupkm``)."""
    tt = np.asarray(time, float)
    ee = np.asarray(event, float)
    if len(tt) == 0:
        return float("nan"), float("nan")
    ut, inv = np.unique(tt, return_inverse=True)
    d = np.bincount(inv, weights=ee)
    c = np.bincount(inv)
    n_risk = len(tt) - np.concatenate([[0], np.cumsum(c)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(1.0 - d / n_risk)
        v = np.cumsum(np.where(n_risk > d, d / (n_risk * (n_risk - d)), np.inf * (d > 0)))
    if t > ut[-1] + 1e-6 and s[-1] > 0:
        return float("nan"), float("nan")
    idx = np.searchsorted(ut, t + 1e-6, side="right") - 1
    if idx < 0:
        return 1.0, 0.0
    return float(s[idx]), float(np.sqrt(v[idx]))


def _cut2_groups(x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Group index (0-based; -1 outside) of ``Hmisc::cut2(x, cuts)``: intervals
    ``[c_i, c_{i+1})``, the last closed, with cut2's half-smallest-gap tolerance."""
    xu = np.unique(np.concatenate([x[np.isfinite(x)], cuts]))
    min_dif = np.min(np.diff(xu)) / 2 if len(xu) > 1 else 0.0
    k2 = cuts - min_dif
    k2[-1] = cuts[-1]
    g = np.searchsorted(k2, x, side="left") - 1      # k2[g] < x <= k2[g+1]
    g[(x <= k2[0]) | (x > k2[-1]) | ~np.isfinite(x)] = -1
    return g


def _groupkm(pred: np.ndarray, time, event, t: float, cuts: np.ndarray):
    """``rms::groupkm``: per group mean predicted survival, n, events, KM at ``t``, std.err."""
    pred = np.where(np.abs(pred) < 1e-10, 0.0, pred)
    g = _cut2_groups(pred, cuts)
    ng = len(cuts) - 1
    out = np.full((ng, 5), np.nan)
    for i in range(ng):
        s = g == i
        nobs = int(s.sum())
        if nobs < 2:
            out[i] = [pred[s].mean() if nobs == 1 else np.nan, 0, 0, np.nan, np.nan]
            continue
        km, se = km_at(np.asarray(time)[s], np.asarray(event)[s], t)
        out[i] = [pred[s].mean(), nobs, float(np.asarray(event)[s].sum()), km, se]
    return out


def _distance(pred, time, event, t, cuts):
    """KM - mean predicted per group; NaN everywhere with fewer than 5 events (rms)."""
    if float(np.sum(event)) < 5:
        return np.full(len(cuts) - 1, np.nan), None
    gk = _groupkm(pred, time, event, t, cuts)
    return gk[:, 3] - gk[:, 0], gk


@dataclass
class CalibrationResult:
    """Calibration of a Cox model at time ``t`` (see :func:`calibrate_cox`).

    ``table`` per group: ``mean_predicted, n, events, km, km_std_err, index_orig (km - mean
    predicted), training, test, optimism, km_corrected, n_boot``; ``predicted``: each subject's
    predicted survival at ``t``; ``cuts``: the group cut points.
    """
    t: float
    table: pd.DataFrame
    predicted: np.ndarray
    cuts: np.ndarray
    B: int
    n_boot_ok: int
    model: str = ""

    def mean_abs_error(self, corrected: bool = True) -> float:
        """Mean |observed - predicted| over the groups (bootstrap-corrected by default)."""
        obs = self.table["km_corrected" if corrected else "km"]
        return float(np.nanmean(np.abs(obs - self.table["mean_predicted"])))


def calibrate_cox(model: CoxModel, t: float, m: Optional[int] = None, groups: int = 4,
                  B: int = 200, seed: Optional[int] = 0, boot_indices=None) -> CalibrationResult:
    """Calibration of ``model`` at time ``t``, bootstrap-corrected as ``rms::calibrate``
    (``cmethod="KM"``; see the module docstring).

    ``m`` subjects per group (rms' argument: ``g = max(1, floor(n / m))`` groups) or ``groups``
    directly when ``m`` is None.  ``B`` bootstrap resamples drawn with ``seed``, or the rows of
    ``boot_indices`` (B x n, 0-based) to replay a given set of resamples.
    """
    X, tt, ee = model.X, model.time, model.event
    n = len(tt)
    if t <= 0 or t > tt.max():
        raise SurvivalDataError(f"calibration time {t} outside the follow-up (0, {tt.max()}]")
    surv = model.survival_at(t)
    g = max(1, n // int(m)) if m else int(groups)
    cuts = np.unique(np.quantile(np.concatenate([[0.0, 1.0], surv]), np.linspace(0, 1, g + 1)))
    orig, gk = _distance(surv, tt, ee, t, cuts)
    if gk is None:
        raise SurvivalDataError("calibration needs at least 5 events")
    if boot_indices is not None:
        idx_all = np.asarray(boot_indices, dtype=int)
        B = len(idx_all)
    else:
        rng = np.random.default_rng(seed)
        idx_all = None
    ng = len(cuts) - 1
    train_sum = np.zeros(ng)
    test_sum = np.zeros(ng)
    num = np.zeros(ng)
    n_ok = 0
    # a resample whose fit runs off (a separating term) gives non-finite values: skipped, as in
    # rms, without numpy's overflow warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for b in range(int(B)):
            idx = idx_all[b] if idx_all is not None else rng.integers(0, n, n)
            tb, eb, Xb = tt[idx], ee[idx], X[idx]
            if eb.sum() < 5:
                continue
            fit = efron_cox(Xb, tb, eb)
            beta = fit["coef"]
            if not np.all(np.isfinite(beta)):
                continue
            n_ok += 1
            lp_b = Xb @ beta
            s_train = predict_survival(lp_b, t, lp_b, tb, eb)
            s_test = predict_survival(X @ beta, t, lp_b, tb, eb)
            tr, _ = _distance(s_train, tb, eb, t, cuts)
            te, _ = _distance(s_test, tt, ee, t, cuts)
            ok = np.isfinite(tr + te)
            num += ok
            train_sum += np.where(ok, tr, 0.0)
            test_sum += np.where(ok, te, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        training = train_sum / num
        test = test_sum / num
    optimism = training - test
    table = pd.DataFrame({"mean_predicted": gk[:, 0], "n": gk[:, 1].astype(int),
                          "events": gk[:, 2].astype(int), "km": gk[:, 3],
                          "km_std_err": gk[:, 4], "index_orig": orig, "training": training,
                          "test": test, "optimism": optimism, "km_corrected": gk[:, 3] - optimism,
                          "n_boot": num.astype(int)})
    table.index = pd.Index([f"G{i + 1}" for i in range(ng)], name="group")
    return CalibrationResult(t=float(t), table=table, predicted=surv, cuts=cuts, B=int(B),
                             n_boot_ok=n_ok, model=model.name)


# --------------------------------------------------------------------------------------------
# decision curves
# --------------------------------------------------------------------------------------------
def decision_curve(time, event, risks: Mapping[str, Sequence[float]], t: float,
                   thresholds: Optional[Sequence[float]] = None) -> pd.DataFrame:
    """Net benefit at time ``t`` of treating patients whose predicted risk of the event by ``t``
    is at least each threshold (see the module docstring); ``risks`` maps model names to
    predicted risks ``1 - S(t | x)``.  Returns a long table ``threshold, model, n_treated,
    net_benefit`` with the rows ``"treat all"`` and ``"treat none"``."""
    tt = np.asarray(time, float)
    ee = np.asarray(event, float)
    n = len(tt)
    if thresholds is None:
        thresholds = np.round(np.arange(0.01, 0.991, 0.01), 2)
    th = np.asarray(thresholds, float)
    if ((th <= 0) | (th >= 1)).any():
        raise ValueError("thresholds must lie in (0, 1)")
    s_all, _ = km_at(tt, ee, t)
    rows = []
    for pt in th:
        odds = pt / (1 - pt)
        rows.append({"threshold": pt, "model": "treat all", "n_treated": n,
                     "net_benefit": (1 - s_all) - s_all * odds})
        rows.append({"threshold": pt, "model": "treat none", "n_treated": 0, "net_benefit": 0.0})
        for name, r in risks.items():
            r = np.asarray(r, float)
            if len(r) != n:
                raise ValueError(f"risk of {name!r} has {len(r)} values for {n} patients")
            treat = r >= pt
            k = int(treat.sum())
            if k == 0:
                nb = 0.0
            else:
                s, _ = km_at(tt[treat], ee[treat], t)
                px = k / n
                nb = (1 - s) * px - s * px * odds
            rows.append({"threshold": pt, "model": name, "n_treated": k, "net_benefit": nb})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# comparison of named models
# --------------------------------------------------------------------------------------------
@dataclass
class ModelComparison:
    """Result of :func:`compare_cox_models`: ``table`` (one row per model), ``lrt`` (every
    nested pair), ``models`` (name -> :class:`CoxModel`), ``times``, ``n``, ``n_events``."""
    table: pd.DataFrame
    lrt: pd.DataFrame
    models: Dict[str, CoxModel]
    times: List[float]
    n: int
    n_events: int
    reference: Optional[str] = None
    notes: Dict[str, str] = field(default_factory=dict)


def _binary_at(time, event, t):
    """Event by ``t`` (1), event-free beyond ``t`` (0), censored before ``t`` (excluded)."""
    case = (event == 1) & (time <= t)
    ctrl = time > t
    keep = case | ctrl
    return keep, case[keep].astype(int)


def compare_cox_models(table: pd.DataFrame, time: str, event: str,
                       models: Mapping[str, Sequence[str]], times: Sequence[float],
                       reference: Optional[str] = None, categorical: Sequence[str] = (),
                       n_boot: int = 200, seed: int = 0, source: Optional[str] = None
                       ) -> ModelComparison:
    """Fit each named Cox model (``{name: [covariates]}``) on the rows complete for all of them
    and compare them (see the module docstring).  ``reference`` (default: the first model) is
    the model the DeLong tests compare against.

    ``table`` columns: ``model, terms, k, loglik, AIC, BIC, lr_chi2, lr_p, c_index,
    c_ci_low, c_ci_high, auc_t<t>`` (time-dependent AUC per time), ``auc_<t1>_delong`` (AUC
    of "event by the first time" with its DeLong CI) and ``delong_p`` (against the reference).
    """
    from .signatures import delong_ci, delong_test, time_dependent_auc
    from .survival import c_index, prepare_survival_data

    if not models:
        raise SurvivalDataError("no model to compare", source)
    times = [float(x) for x in np.atleast_1d(times)]
    names = list(models)
    reference = reference or names[0]
    if reference not in models:
        raise SurvivalDataError(f"reference model {reference!r} is not among {names}", source)
    used = sorted({c for cov in models.values() for c in cov})
    sd = prepare_survival_data(table, time, event, covariates=used, source=source,
                               categorical=categorical)
    if sd.n_dropped:
        log.info("%d row(s) with missing values in %s dropped for every model", sd.n_dropped,
                 used)
    df = sd.df
    fits = {nm: fit_cox(df, time, event, models[nm], name=nm, categorical=categorical,
                        source=source) for nm in names}
    t_arr = df[time].to_numpy(float)
    e_arr = df[event].to_numpy(int)
    keep, y_bin = _binary_at(t_arr, e_arr, times[0])
    notes = {}
    if y_bin.sum() < 2 or (1 - y_bin).sum() < 2:
        notes["delong"] = f"fewer than 2 events or 2 event-free subjects at t = {times[0]:g}"
    rows = []
    for nm in names:
        m = fits[nm]
        lp = m.lp
        ic = information_criteria(m)
        ci = c_index(t_arr, e_arr, lp, n_boot=n_boot, seed=seed)
        row = {"model": nm, "terms": ", ".join(m.terms), "k": m.k, "loglik": ic["loglik"],
               "AIC": ic["AIC"], "BIC": ic["BIC"], "lr_chi2": ic["lr_chi2"], "lr_p": ic["lr_p"],
               "c_index": ci["value"], "c_ci_low": ci["ci_low"], "c_ci_high": ci["ci_high"]}
        try:
            auc = time_dependent_auc(t_arr, e_arr, lp, times)
            for tt, a in zip(times, auc["auc"]):
                row[f"auc_t{tt:g}"] = float(a)
        except (SurvivalDataError, ValueError) as exc:
            notes["td_auc"] = str(exc)
            for tt in times:
                row[f"auc_t{tt:g}"] = float("nan")
        if "delong" not in notes:
            d = delong_ci(y_bin, lp[keep])
            row[f"auc_{times[0]:g}"] = d["auc"]
            row[f"auc_{times[0]:g}_ci_low"] = d["ci_low"]
            row[f"auc_{times[0]:g}_ci_high"] = d["ci_high"]
            row["delong_p"] = (float("nan") if nm == reference else
                               delong_test(y_bin, lp[keep], fits[reference].lp[keep])["p"])
        rows.append(row)
    lrt = []
    for a in names:
        for b in names:
            if a != b and set(fits[a].terms) < set(fits[b].terms):
                lrt.append(likelihood_ratio_test(fits[a], fits[b]))
    return ModelComparison(table=pd.DataFrame(rows),
                           lrt=pd.DataFrame(lrt, columns=["reduced", "full", "chi2", "df", "p"]),
                           models=fits, times=times, n=len(df), n_events=int(e_arr.sum()),
                           reference=reference, notes=notes)


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------
def calibration_plot(results: Sequence[CalibrationResult], path: Optional[str] = None,
                     title: Optional[str] = None):
    """Observed (Kaplan-Meier, with 95% CI) against predicted survival at ``t`` per group, the
    bootstrap-corrected observed survival, and the diagonal; one colour per model."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", lw=1, ls=":")
    for i, r in enumerate(results):
        tab = r.table
        col = f"C{i}"
        km, se = tab["km"].to_numpy(), tab["km_std_err"].to_numpy()
        lo, hi = km * np.exp(-1.96 * se), np.minimum(1, km * np.exp(1.96 * se))
        x = tab["mean_predicted"].to_numpy()
        ax.errorbar(x, km, yerr=[km - lo, hi - km], fmt="o-", color=col, ms=4, lw=1,
                    capsize=2, label=f"{r.model} (KM)")
        ax.plot(x, tab["km_corrected"], "x--", color=col, lw=1,
                label=f"{r.model} (bootstrap-corrected, B={r.B})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    t = results[0].t if results else float("nan")
    ax.set_xlabel(f"predicted survival at t = {t:g}")
    ax.set_ylabel(f"observed survival at t = {t:g}")
    ax.set_title(title or "Calibration", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    if path:
        save_figure(fig, path, dpi=120)
    return fig


def decision_curve_plot(dca: pd.DataFrame, t: float, path: Optional[str] = None,
                        max_threshold: Optional[float] = None):
    """Net benefit against threshold probability for each model, treat all and treat none."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    styles = {"treat all": dict(color="#555555", lw=1, ls="--"),
              "treat none": dict(color="#000000", lw=1)}
    i = 0
    for name, g in dca.groupby("model", sort=False):
        st = styles.get(name)
        if st is None:
            st = dict(color=f"C{i}", lw=1.5)
            i += 1
        ax.plot(g["threshold"], g["net_benefit"], label=name, **st)
    prev = dca.loc[dca["model"] == "treat all", "net_benefit"].max()
    ax.set_ylim(-0.05, max(0.05, float(prev) * 1.1 if np.isfinite(prev) else 0.5))
    if max_threshold:
        ax.set_xlim(0, max_threshold)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.set_title(f"Decision curves at t = {t:g}", fontsize=10)
    ax.legend(fontsize=7)
    if path:
        save_figure(fig, path, dpi=120)
    return fig


def report_section(report, table: pd.DataFrame, time: str, event: str,
                   models: Mapping[str, Sequence[str]], t: float, B: int = 50, groups: int = 4,
                   seed: int = 0, anchor: str = "cox-models",
                   title: str = "Cox model evaluation") -> Dict:
    """Add a section to a :class:`~.report.Report`: the comparison table of the named models at
    time ``t``, calibration curves (``B`` bootstrap resamples) and decision curves.  Returns a
    summary dict (per model C-index, AIC, BIC, calibration error)."""
    cmp_ = compare_cox_models(table, time, event, models, [t], n_boot=0, seed=seed)
    cals = [calibrate_cox(m, t, groups=groups, B=B, seed=seed) for m in cmp_.models.values()]
    risks = {nm: 1.0 - m.survival_at(t) for nm, m in cmp_.models.items()}
    first = next(iter(cmp_.models.values()))
    dca = decision_curve(first.time, first.event, risks, t)
    report.section(anchor, title)
    show = cmp_.table.set_index("model").drop(columns=["terms", "c_ci_low", "c_ci_high"],
                                              errors="ignore")
    report.table(show, caption=f"Cox models on {cmp_.n} patients ({cmp_.n_events} events): "
                               f"log-likelihood, AIC, BIC, C-index, AUC at t = {t:g} and "
                               f"DeLong p against {cmp_.reference}")
    if len(cmp_.lrt):
        report.table(cmp_.lrt.set_index("reduced"), caption="Likelihood-ratio tests of nested "
                                                            "models")
    report.figures([
        (_b64(calibration_plot(cals)), f"Calibration at t = {t:g}: Kaplan-Meier against mean "
                                        f"predicted survival per group, bootstrap-corrected "
                                        f"(B = {B}) as rms::calibrate"),
        (_b64(decision_curve_plot(dca, t)), f"Decision curves at t = {t:g}")])
    return {"n": cmp_.n, "n_events": cmp_.n_events,
            "models": {r["model"]: {"c_index": r["c_index"], "AIC": r["AIC"], "BIC": r["BIC"]}
                       for r in cmp_.table.to_dict("records")},
            "calibration_error": {c.model: c.mean_abs_error() for c in cals}}


def _b64(fig) -> str:
    from .report import fig_to_base64

    return fig_to_base64(fig)
