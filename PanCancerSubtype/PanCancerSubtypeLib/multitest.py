"""Multiple-testing correction, as R's ``p.adjust`` (one implementation for every stage).

:func:`adjust_pvalues` -- ``"holm"`` (step-down Bonferroni, controls the family-wise error rate),
``"bh"`` (Benjamini-Hochberg, controls the false discovery rate; SciPy's
``false_discovery_control``) or ``"bonferroni"``.  NaN p-values (tests that could not be done)
stay NaN and are not counted in the number of tests.  :func:`bh_fdr` is the BH shorthand.

BH: ``q_(i) = min_{j >= i} min(1, m p_(j) / j)`` over the ``m`` p-values sorted ascending.
Holm: ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

METHODS = ("holm", "bh", "bonferroni")


def adjust_pvalues(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Adjusted p-values (same shape as ``p``; NaN stays NaN); see the module docstring."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    v = p[ok]
    m = v.size
    method = method.lower()
    if method in ("fdr_bh", "fdr"):
        method = "bh"
    if method not in METHODS:
        raise ValueError(f"unknown p-value adjustment {method!r} ({', '.join(METHODS)})")
    if m == 0:
        return out
    if ((v < 0) | (v > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    if method == "bh":
        from scipy.stats import false_discovery_control

        res = false_discovery_control(v, method="bh")
    elif method == "bonferroni":
        res = np.minimum(1.0, v * m)
    else:
        order = np.argsort(v, kind="stable")
        adj = np.maximum.accumulate((m - np.arange(m)) * v[order])
        res = np.empty(m)
        res[order] = np.minimum(1.0, adj)
    out[ok] = res
    return out


def bh_fdr(p: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values): ``adjust_pvalues(p, "bh")``."""
    return adjust_pvalues(p, "bh")
