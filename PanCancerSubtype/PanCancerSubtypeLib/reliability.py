"""Agreement statistics between raters: the intraclass correlation with its confidence interval.

One home for the ICC formula: the contour-perturbation check (segmentation), the cross-modality
agreement (:mod:`.agreement`) and anything else that asks "does this measurement rank the targets
the same way under another rater / modality / contour" use :func:`icc`.

Intraclass correlation (Shrout & Fleiss 1979; McGraw & Wong 1996)
-----------------------------------------------------------------
From the two-way ANOVA of an ``n`` targets x ``k`` raters table (complete rows only):
BMS = between-targets mean square (df ``n-1``), JMS = between-raters mean square (df ``k-1``),
EMS = residual mean square (df ``(n-1)(k-1)``), WMS = within-targets mean square (df ``n(k-1)``).

=====================================  ==================================================
ICC                                    point estimate
=====================================  ==================================================
ICC(3,1) two-way mixed, consistency    (BMS - EMS) / (BMS + (k-1) EMS)
ICC(2,1) two-way random, agreement     (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n)
ICC(1,1) one-way random                (BMS - WMS) / (BMS + (k-1) WMS)
=====================================  ==================================================

Confidence intervals (level ``1 - a``; ``F(q; d1, d2)`` the F distribution's quantile):

* ICC(3,1): F0 = BMS/EMS with df (n-1, (n-1)(k-1)); FL = F0 / F(1-a/2; n-1, (n-1)(k-1)),
  FU = F0 F(1-a/2; (n-1)(k-1), n-1); interval ((FL-1)/(FL+k-1), (FU-1)/(FU+k-1)).
* ICC(1,1): the same with F0 = BMS/WMS and df (n-1, n(k-1)).
* ICC(2,1): Satterthwaite's approximation (McGraw & Wong 1996, Table 7, case 2A):
  with r the point estimate, a' = k r / (n (1-r)), b' = 1 + k r (n-1) / (n (1-r)),
  v = (a' JMS + b' EMS)^2 / ((a' JMS)^2/(k-1) + (b' EMS)^2/((n-1)(k-1))),
  FL = F(1-a/2; n-1, v), FU = F(1-a/2; v, n-1);
  lower = n (BMS - FL EMS) / (FL (k JMS + (k n - k - n) EMS) + n BMS),
  upper = n (FU BMS - EMS) / (k JMS + (k n - k - n) EMS + n FU BMS).

These are the formulas of ``pingouin.intraclass_corr`` (checked against it to 1e-12 in the tests)
and of R's ``psych::ICC``.  The p-value is that of the F test of "ICC = 0" (``F0`` above; for
ICC(2,1) the same F as for ICC(3,1), as in pingouin).

Bland & Altman (1986) limits of agreement and a patient-resampling bootstrap of a summary of
ICCs are here too (:func:`bland_altman`, :func:`bootstrap_icc_summary`).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Sequence, Tuple, Union

import numpy as np

__all__ = ["ICCResult", "icc", "anova_mean_squares", "bland_altman", "bootstrap_icc_summary"]

_ALIASES = {"3,1": "3,1", "ICC3": "3,1", "3": "3,1",
            "2,1": "2,1", "ICC2": "2,1", "2": "2,1",
            "1,1": "1,1", "ICC1": "1,1", "1": "1,1"}


@dataclass(frozen=True)
class ICCResult:
    """An ICC with its confidence interval and F test (see the module docstring)."""

    icc: float
    ci_low: float
    ci_high: float
    confidence: float
    f: float
    df1: float
    df2: float
    pvalue: float
    n: int
    k: int
    icc_type: str

    def __float__(self) -> float:
        return float(self.icc)

    def as_dict(self) -> Dict[str, float]:
        return asdict(self)


def anova_mean_squares(x) -> Tuple[float, float, float, float]:
    """(BMS, JMS, EMS, WMS) of a complete ``n x k`` table (two-way ANOVA, one value per cell)."""
    x = np.asarray(x, dtype=float)
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_rows = k * ((x.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(0) - grand) ** 2).sum()
    ss_err = ss_total - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    jms = ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    wms = (ss_total - ss_rows) / (n * (k - 1))
    return float(bms), float(jms), float(ems), float(wms)


def icc(x, icc_type: str = "3,1", ci: bool = False,
        confidence: float = 0.95) -> Union[float, ICCResult]:
    """Intraclass correlation of an (n targets x k raters) table (Shrout & Fleiss 1979).

    ``icc_type``: ``"3,1"`` (two-way mixed, consistency), ``"2,1"`` (two-way random, absolute
    agreement) or ``"1,1"`` (one-way random).  Rows with a missing value are dropped.  Returns the
    point estimate as a float, NaN when fewer than 2 complete targets remain or when every target
    has the same ratings (all values identical, or the same rater offsets on every row); with ``ci=True`` an :class:`ICCResult` with the ``confidence`` interval, the F
    statistic, its degrees of freedom and p-value (NaN where undefined).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError("icc needs an (n targets x k >= 2 raters) table")
    kind = _ALIASES.get(str(icc_type))
    if kind is None:
        raise ValueError(f"unknown icc_type {icc_type!r}; use '3,1', '2,1' or '1,1'")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = x[np.all(np.isfinite(x), axis=1)]
    n, k = x.shape
    nan = float("nan")
    # fewer than 2 complete targets, or every target rated alike (a bootstrap resample that drew
    # one patient n times): no between-target variance, and the mean squares are rounding noise
    if n < 2 or np.all(x == x[:1]):
        return ICCResult(nan, nan, nan, confidence, nan, nan, nan, nan, n, k, kind) if ci else nan
    bms, jms, ems, wms = anova_mean_squares(x)
    if kind == "3,1":
        num, den = bms - ems, bms + (k - 1) * ems
    elif kind == "2,1":
        num, den = bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n
    else:
        num, den = bms - wms, bms + (k - 1) * wms
    value = float(num / den) if den != 0 else nan
    if not ci:
        return value
    return _icc_interval(value, kind, bms, jms, ems, wms, n, k, confidence)


def _icc_interval(r, kind, bms, jms, ems, wms, n, k, confidence) -> ICCResult:
    from scipy import stats

    nan = float("nan")
    q = 1 - (1 - confidence) / 2
    df1 = n - 1.0
    df2 = (n - 1.0) * (k - 1.0) if kind != "1,1" else n * (k - 1.0)
    resid = wms if kind == "1,1" else ems
    with np.errstate(divide="ignore", invalid="ignore"):
        f0 = bms / resid if resid > 0 else (np.inf if bms > 0 else nan)
    p = float(stats.f.sf(f0, df1, df2)) if np.isfinite(f0) else (0.0 if f0 == np.inf else nan)
    if not np.isfinite(r):
        return ICCResult(r, nan, nan, confidence, float(f0), df1, df2, p, n, k, kind)
    if kind in ("3,1", "1,1"):
        if not np.isfinite(f0):  # no residual variance: the interval collapses onto 1
            return ICCResult(r, r, r, confidence, float(f0), df1, df2, p, n, k, kind)
        fl = f0 / stats.f.ppf(q, df1, df2)
        fu = f0 * stats.f.ppf(q, df2, df1)
        lo = (fl - 1) / (fl + k - 1)
        hi = (fu - 1) / (fu + k - 1)
    else:
        if r >= 1 or ems <= 0:
            return ICCResult(r, r, r, confidence, float(f0), df1, df2, p, n, k, kind)
        a = k * r / (n * (1 - r))
        b = 1 + k * r * (n - 1) / (n * (1 - r))
        v = (a * jms + b * ems) ** 2 / ((a * jms) ** 2 / (k - 1) + (b * ems) ** 2 / ((n - 1) * (k - 1)))
        fl = stats.f.ppf(q, n - 1, v)
        fu = stats.f.ppf(q, v, n - 1)
        lo = n * (bms - fl * ems) / (fl * (k * jms + (k * n - k - n) * ems) + n * bms)
        hi = n * (fu * bms - ems) / (k * jms + (k * n - k - n) * ems + n * fu * bms)
    return ICCResult(r, float(lo), float(hi), confidence, float(f0), df1, df2, p, n, k, kind)


def bland_altman(a, b) -> Dict[str, float]:
    """Bland & Altman (1986): mean difference ``b - a`` (bias), its SD and the 95% limits of
    agreement ``bias +- 1.96 SD`` over the pairs where both values are finite."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = b[ok] - a[ok]
    if d.size < 2:
        nan = float("nan")
        return {"n": int(d.size), "bias": float(d.mean()) if d.size else nan, "sd": nan,
                "loa_low": nan, "loa_high": nan}
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    return {"n": int(d.size), "bias": bias, "sd": sd, "loa_low": bias - 1.96 * sd,
            "loa_high": bias + 1.96 * sd}


def bootstrap_icc_summary(tables: Sequence[np.ndarray], statistic: Callable = np.nanmedian,
                          icc_type: str = "3,1", n_boot: int = 2000, seed: int = 0,
                          confidence: float = 0.95) -> Dict[str, float]:
    """Percentile bootstrap interval of a summary (default: the median) of several ICCs.

    ``tables`` are ``n x k`` tables with the same targets in the same row order (one per feature);
    each replicate resamples the *targets* (patients) with replacement, the same rows for every
    table, recomputes every ICC and then the summary.  Returns ``{"estimate", "ci_low",
    "ci_high", "n_boot"}``.
    """
    tabs = [np.asarray(t, dtype=float) for t in tables]
    if not tabs:
        raise ValueError("bootstrap_icc_summary needs at least one table")
    n = tabs[0].shape[0]
    if any(t.shape[0] != n for t in tabs):
        raise ValueError("all tables must have the same targets (rows)")
    est = float(statistic(np.array([icc(t, icc_type) for t in tabs])))
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(0, n, n)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # (every ICC NaN: one patient)
            reps[i] = statistic(np.array([icc(t[rows], icc_type) for t in tabs]))
    reps = reps[np.isfinite(reps)]
    a = (1 - confidence) / 2
    lo, hi = (np.quantile(reps, [a, 1 - a]) if reps.size else (np.nan, np.nan))
    return {"estimate": est, "ci_low": float(lo), "ci_high": float(hi), "n_boot": int(reps.size)}
