"""95% confidence intervals of the intraclass correlations (segmentation.robustness.icc_ci).

Reference values: pingouin 0.7.0 ``intraclass_corr`` with its CI rounding switched off
(``pingouin.options["round.column.CI95"] = None``), rows ICC(1,1), ICC(A,1) = our "2,1",
ICC(C,1) = our "3,1".  Coverage is also checked by simulation, which does not depend on any
other implementation.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib import segmentation as seg
from PanCancerSubtypeLib.case import Case

SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
                          [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
# 15 targets x 3 raters (seeded normal draws with rater offsets), rounded to 6 decimals
RANDOM_15x3 = np.array([
    [-0.240403, 0.153601, -0.23242], [0.07371, 0.689152, -0.396372],
    [1.323654, 0.607825, 0.616178], [0.556635, 0.451906, -0.46685],
    [-0.996532, -0.464532, -0.625572], [-0.143214, 0.557007, 0.081983],
    [1.574423, 1.71133, 1.281686], [0.620167, 1.182274, 1.139069],
    [0.04298, -1.033268, -0.146773], [-0.592484, -0.574766, -1.333194],
    [-0.780236, 0.405736, 0.156855], [0.942143, 0.998878, 0.020016],
    [-2.92919, -2.027258, -2.196793], [-0.862972, 0.278769, -0.20386],
    [-0.89789, -1.53797, -1.776762]])

PINGOUIN = {  # (table, type): (icc, lower, upper)
    ("sf", "1,1"): (0.1657417684054755, -0.13293232487475096, 0.722560062328121),
    ("sf", "2,1"): (0.28976377952755916, 0.018786513374712058, 0.7610843696489527),
    ("sf", "3,1"): (0.7148407148407154, 0.34246476503392614, 0.9458582599553597),
    ("rnd", "1,1"): (0.8080375041419168, 0.6168336731863285, 0.9235415041468158),
    ("rnd", "2,1"): (0.8093260424300881, 0.6144312725543287, 0.9244824492578461),
    ("rnd", "3,1"): (0.8259586562370281, 0.6435977612699212, 0.9316352172885496),
}


@pytest.mark.parametrize("table,kind", sorted(PINGOUIN))
def test_icc_ci_matches_pingouin(table, kind):
    x = SHROUT_FLEISS if table == "sf" else RANDOM_15x3
    r, lo, hi = seg.icc_ci(x, kind)
    assert (r, lo, hi) == pytest.approx(PINGOUIN[(table, kind)], rel=1e-9, abs=1e-12)
    assert lo < r < hi
    assert seg.icc(x, kind) == r
    # a wider confidence level gives a wider interval around the same ICC
    r99, lo99, hi99 = seg.icc_ci(x, kind, confidence=0.99)
    assert r99 == r and lo99 < lo and hi99 > hi


def test_icc_ci_edge_cases():
    assert all(math.isnan(v) for v in seg.icc_ci(SHROUT_FLEISS[:1], "3,1"))
    r, lo, hi = seg.icc_ci(np.ones((5, 3)), "2,1")          # no variance at all
    assert math.isnan(r) and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        seg.icc_ci(SHROUT_FLEISS, "4,1")
    with pytest.raises(ValueError):
        seg.icc_ci(SHROUT_FLEISS, "3,1", confidence=1.5)
    # rows with a missing value are dropped, as by icc()
    x = np.vstack([SHROUT_FLEISS, [np.nan, 1, 2, 3]])
    assert seg.icc_ci(x, "1,1") == pytest.approx(seg.icc_ci(SHROUT_FLEISS, "1,1"))


@pytest.mark.parametrize("kind", ["1,1", "3,1"])
def test_icc_ci_covers_the_true_icc_95_percent_of_the_time(kind):
    # x_ij = b_i (+ rater offset c_j for the two-way model) + e_ij; true ICC = sb2 / (sb2 + se2).
    # The F-based intervals of ICC(1,1) (one-way model) and ICC(3,1) (raters fixed) are exact.
    rng = np.random.default_rng(2024)
    n, k, sims, true = 12, 3, 1500, 0.6
    sb, se = math.sqrt(true), math.sqrt(1 - true)
    offsets = np.array([0.0, 0.8, -0.5]) if kind == "3,1" else np.zeros(k)
    hits = 0
    for _ in range(sims):
        x = rng.normal(0, sb, (n, 1)) + offsets + rng.normal(0, se, (n, k))
        _, lo, hi = seg.icc_ci(x, kind)
        hits += lo <= true <= hi
    # binomial sd of the coverage at 0.95 with 1500 draws: 0.0056
    assert abs(hits / sims - 0.95) < 0.02


def test_feature_icc_reports_the_interval():
    rng = np.random.default_rng(0)
    cases = []
    for i, r in enumerate([5, 7, 9, 11]):
        z, y, x = np.ogrid[:30, :30, :30]
        m = ((z - 15) ** 2 + (y - 15) ** 2 + (x - 15) ** 2 <= r * r).astype(np.uint8)
        img = sitk.GetImageFromArray(np.where(m, 100.0, 0.0).astype(np.float32))
        mask = sitk.GetImageFromArray(m)
        cases.append(Case(case_id=f"c{i}", image=img, mask=mask, modality="CT"))

    def fn(case):
        return {"volume": float(case.mask_array().sum()), "noise": float(rng.normal())}

    tab = seg.feature_icc(cases, fn, n_perturb=2, strength_mm=1.0, seed=1, ci=0.95)
    assert list(tab.columns) == ["icc_3_1", "ci_low", "ci_high"]
    assert set(tab.index) == {"volume", "noise"}
    v = tab.loc["volume"]
    assert v.ci_low <= v.icc_3_1 <= v.ci_high and v.ci_low > 0.8
    assert tab.loc["noise"].ci_low < 0.5
