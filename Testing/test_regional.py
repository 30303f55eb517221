"""Tests of the regional-variation features (issue 4): histogram measures, regions, parenchyma
masks, the feature group, the ``regions`` command and bad input.

Independent references used: hand-computed histogram comparisons; a straightforward re-computation
of the four measures (``scipy.stats.pearsonr``, explicit loops); brute-force distance transforms
for the released code's slice-by-slice region rules; analytic volumes of spheres, discs and shells;
the BRATS expert brain masks; an independent "outside air" (border-connected air per slice).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi
from scipy import stats

from PanCancerSubtypeLib import cli
from PanCancerSubtypeLib.errors import EmptyMaskError, PanCancerSubtypeError, TumourTooSmallError
from PanCancerSubtypeLib.case import Case
from PanCancerSubtypeLib.registry import get_group_class
from PanCancerSubtypeLib.heterogeneity import (CT_RANGE, FEATURE_NAMES, MEASURES, PAIRS,
                                               RegionalFeatures, compare_hist, region_histogram,
                                               released_order)
from PanCancerSubtypeLib.regions import (brain_mask_mr, breast_mask_mr, lung_mask_ct,
                                         parenchyma_mask, regions_from_labelmap, regions_labelmap,
                                         soft_tissue_mask, tumour_regions)


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def make_case(image_zyx, mask_zyx, spacing=(1.0, 1.0, 1.0), modality="CT", organ=None,
              organ_mask=None, case_id="synthetic"):
    img = sitk.GetImageFromArray(np.asarray(image_zyx, dtype=np.float32))
    img.SetSpacing(tuple(float(s) for s in spacing))
    m = sitk.GetImageFromArray(np.asarray(mask_zyx, dtype=np.uint8))
    m.CopyInformation(img)
    om = None
    if organ_mask is not None:
        om = sitk.GetImageFromArray(np.asarray(organ_mask, dtype=np.uint8))
        om.CopyInformation(img)
    return Case(case_id=case_id, image=img, mask=m, organ_mask=om, modality=modality, organ=organ)


def sphere(shape, radius, center=None, spacing_zyx=(1.0, 1.0, 1.0)):
    center = [(n - 1) / 2 for n in shape] if center is None else center
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing_zyx))
    return d2 <= radius ** 2


def ball_volume(r):
    return 4.0 / 3.0 * math.pi * max(r, 0.0) ** 3


_LOADED = {}


def load_shared(row, hide_organ_mask=False):
    """Read a cases.csv row with SimpleITK (io.load_case is not needed for these tests); cached,
    the tests only read the cases."""
    key = (row["case_id"], row["image"], hide_organ_mask)
    if key not in _LOADED:
        if len(_LOADED) > 3:  # bound the memory held
            _LOADED.clear()
        _LOADED[key] = _read_shared(row, hide_organ_mask)
    return _LOADED[key]


def _read_shared(row, hide_organ_mask):
    image = sitk.Cast(sitk.ReadImage(row["image"]), sitk.sitkFloat32)
    labels = [float(x) for x in row["tumour_labels"].split(",")]
    t = np.isin(sitk.GetArrayFromImage(sitk.ReadImage(row["mask"])), labels).astype(np.uint8)
    mask = sitk.GetImageFromArray(t)
    mask.CopyInformation(image)
    organ = None
    if row.get("organ_mask") and not hide_organ_mask:
        o = (sitk.GetArrayFromImage(sitk.ReadImage(row["organ_mask"])) > 0).astype(np.uint8)
        organ = sitk.GetImageFromArray(o)
        organ.CopyInformation(image)
    organ_name = {"lung": "lung", "breast": "breast"}.get(row["cancer_type"], "brain")
    return Case(case_id=row["case_id"], image=image, mask=mask, organ_mask=organ,
                modality=row["modality"], organ=organ_name, cancer_type=row["cancer_type"])


# ----------------------------------------------------------------------------------------------
# the four measures
# ----------------------------------------------------------------------------------------------
H1 = np.array([0.5, 0.5, 0.0, 0.0], np.float32)
H2 = np.array([0.5, 0.25, 0.25, 0.0], np.float32)


def test_measures_hand_computed():
    # deviations from the mean 0.25: (.25, .25, -.25, -.25) and (.25, 0, 0, -.25)
    assert compare_hist(H1, H2, "correlation") == pytest.approx(1 / math.sqrt(2), abs=1e-7)
    # chi-square over bins where H1 != 0: (0.5-0.5)^2/0.5 + (0.5-0.25)^2/0.5
    assert compare_hist(H1, H2, "chisquare") == pytest.approx(0.125, abs=1e-7)
    # asymmetric: with H2 first, bins 0..2: 0 + 0.0625/0.25 + 0.0625/0.25
    assert compare_hist(H2, H1, "chisquare") == pytest.approx(0.5, abs=1e-7)
    assert compare_hist(H1, H2, "intersection") == pytest.approx(0.75, abs=1e-7)
    # sqrt(1 - (sqrt(.25) + sqrt(.125)))  = sin(22.5 deg)
    assert compare_hist(H1, H2, "bhattacharyya") == pytest.approx(math.sin(math.pi / 8), abs=1e-6)


def test_measures_opencv_edge_rules():
    flat = np.full(4, 0.25, np.float32)
    zero = np.zeros(4, np.float32)
    # OpenCV: correlation is 1 when the variance product is <= DBL_EPSILON
    assert compare_hist(H1, flat, "correlation") == 1.0
    assert compare_hist(zero, H1, "correlation") == 1.0
    # empty first histogram: no bin counts in chi-square; Bhattacharyya scale falls back to 1
    assert compare_hist(zero, H1, "chisquare") == 0.0
    assert compare_hist(H1, zero, "chisquare") == pytest.approx(1.0)
    assert compare_hist(zero, H1, "intersection") == 0.0
    assert compare_hist(zero, H1, "bhattacharyya") == 1.0
    # identical histograms
    for h in (H1, H2):
        assert compare_hist(h, h, "correlation") == pytest.approx(1.0)
        assert compare_hist(h, h, "chisquare") == 0.0
        assert compare_hist(h, h, "intersection") == pytest.approx(1.0)
        assert compare_hist(h, h, "bhattacharyya") == pytest.approx(0.0, abs=2e-4)
    with pytest.raises(ValueError):
        compare_hist(H1, H2, "emd")


def test_measures_against_straightforward_recomputation():
    rng = np.random.default_rng(0)
    for trial in range(20):
        a = rng.gamma(0.5, size=100) * (rng.random(100) > 0.3)
        b = rng.gamma(0.5, size=100) * (rng.random(100) > 0.3)
        h1 = (a / a.sum()).astype(np.float32)
        h2 = (b / b.sum()).astype(np.float32)
        x, y = h1.astype(float), h2.astype(float)
        assert compare_hist(h1, h2, "correlation") == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-9)
        # OpenCV subtracts the two float32 bins in float32
        chi = sum(float(np.float32(p) - np.float32(q)) ** 2 / p for p, q in zip(x, y) if p != 0)
        assert compare_hist(h1, h2, "chisquare") == pytest.approx(chi, rel=1e-12)
        assert compare_hist(h1, h2, "intersection") == pytest.approx(sum(min(p, q) for p, q in zip(x, y)))
        bc = sum(math.sqrt(p * q) for p, q in zip(x, y))
        m1, m2 = x.mean(), y.mean()
        expect = math.sqrt(max(1 - bc / math.sqrt(m1 * m2 * 100 ** 2), 0.0))
        assert compare_hist(h1, h2, "bhattacharyya") == pytest.approx(expect, abs=1e-9)


def lcg_histogram(seed, n=100, zero_every=3):
    """A normalised float32 histogram (``h / (sum + 1e-10)``, as the released code) of counts from
    a fixed linear congruential generator (reproducible whatever the NumPy version)."""
    x, counts = seed, []
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2 ** 31
        counts.append(0 if (x >> 8) % zero_every == 0 else (x >> 16) % 1000)
    c = np.array(counts, dtype=np.float64)
    return (c / (c.sum() + 1e-10)).astype(np.float32)


#: cv2.compareHist(h1, h2, method) from opencv-python-headless 4.5.5.64 (x86-64), the OpenCV of
#: the authors' era (4.10.0.84 gives the same), for (correlation, chi-square, intersection,
#: Bhattacharyya), as float.hex;
#: key: (seed 1, seed 2, bins, zero_every) of lcg_histogram.  (OpenCV 5.0.0 gives the same for
#: all but chi-square, which it subtracts in float64: e.g. 0x1.1382d5ffc3630p+0 for the first.)
OPENCV_455 = [
    ((1, 2, 100, 3), ("0x1.8eba6eb8e8dfbp-4", "0x1.1382d5fc39e2ap+0", "0x1.c737219700000p-2",
                      "0x1.43d8be6290ddcp-1")),
    ((3, 4, 100, 2), ("-0x1.01d5a8b87fa76p-8", "0x1.d65921fea6c5ap-1", "0x1.116f60d600000p-2",
                      "0x1.974b99a5e3d37p-1")),
    ((5, 6, 100, 5), ("0x1.03be5688a3911p-4", "0x1.642691534502ep+1", "0x1.1a9baf1680000p-1",
                      "0x1.09699c3dc43a4p-1")),
    ((7, 8, 37, 3), ("0x1.6efa71ca3a904p-4", "0x1.6ce7168d20764p-1", "0x1.ebd5b93c00000p-2",
                     "0x1.4f8e376383100p-1")),
    ((9, 10, 100, 1000000), ("-0x1.dd34b197c95c6p-3", "0x1.6eeb12ebc6d5ap+3",
                             "0x1.290e5c3c80000p-1", "0x1.a1616dbc29be3p-2")),
]


@pytest.mark.parametrize("key,expected", OPENCV_455)
def test_measures_bit_for_bit_as_opencv(key, expected):
    """All four measures equal OpenCV's compareHist bit for bit (==, not approx): chi-square with
    its float32 subtraction of the bins, the others with the summation order of its SIMD loops
    (37 bins: the 4-bin vectors plus a scalar tail)."""
    s1, s2, n, zero_every = key
    h1, h2 = lcg_histogram(s1, n, zero_every), lcg_histogram(s2, n, zero_every)
    for method, hexval in zip(MEASURES, expected):
        assert compare_hist(h1, h2, method) == float.fromhex(hexval), (key, method)


def test_chisquare_subtracts_in_float32():
    """The chi-square difference is the float32 difference of the bins: for bins whose float64
    difference is not a float32, the term differs from the float64 computation."""
    h1 = np.array([np.float32(1.0 / 3.0), np.float32(2.0 / 3.0)], np.float32)
    h2 = np.array([np.float32(1e-9), np.float32(1.0 - 1e-9)], np.float32)
    d32 = [float(np.float32(p) - np.float32(q)) for p, q in zip(h1, h2)]
    expected = 0.0
    for p, d in zip(h1.astype(float), d32):
        expected += d * d / p
    assert compare_hist(h1, h2, "chisquare") == expected
    d64 = h1.astype(float) - h2.astype(float)
    assert compare_hist(h1, h2, "chisquare") != float(np.sum(d64 * d64 / h1.astype(float)))


def test_histogram_like_released_code():
    v = np.array([-1200, -1000, -990, 0, 499, 500, 501, 3000], float)
    h = region_histogram(v, CT_RANGE)
    assert h.dtype == np.float32 and h.size == 100
    # numpy.histogram semantics: -1200, 501, 3000 dropped; -1000 and -990 in bin 0 (width 15 HU); 500 in bin 99
    counts = np.zeros(100)
    counts[0], counts[66], counts[99] = 2, 1, 2
    np.testing.assert_allclose(h, (counts / (5 + 1e-10)).astype(np.float32))
    assert region_histogram(np.array([]), CT_RANGE).sum() == 0.0
    # clipping (MR policy) keeps every value
    assert region_histogram(v, (-100, 100), clip=True).sum() == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# regions
# ----------------------------------------------------------------------------------------------
def brute_reference_slice(T, r_pix):
    """The released code's rules on one slice by brute force (distances in pixels, scipy EDT
    semantics: the nearest *in-array* pixel of the other class)."""
    yy, xx = np.indices(T.shape)
    fg = np.stack([yy[T], xx[T]], 1)
    bg = np.stack([yy[~T], xx[~T]], 1)
    pts = np.stack([yy.ravel(), xx.ravel()], 1)
    din = np.zeros(T.shape)
    if len(bg):
        d = np.sqrt(((fg[:, None, :] - bg[None, :, :]) ** 2).sum(-1)).min(1)
        din[T] = d
    tc = din > din.max() / 2
    dout = np.sqrt(((pts[:, None, :] - fg[None, :, :]) ** 2).sum(-1)).min(1).reshape(T.shape)
    return tc, dout <= r_pix


def test_reference_regions_match_brute_force_rules():
    rng = np.random.default_rng(3)
    t = np.zeros((4, 30, 32), bool)
    t[1] = ndi.binary_opening(rng.random((30, 32)) > 0.35, iterations=1) & sphere((1, 30, 32), 9)[0]
    t[2, 10:16, 0:7] = True                       # touches the image border (x = 0)
    t[2, 12, 20] = True                           # a single pixel on the same slice
    par = rng.random(t.shape) > 0.3
    spacing = (0.7, 0.7, 3.0)                     # round(5/0.7) = 7, round(10/0.7) = 14 pixels
    reg = tumour_regions(t, par, spacing, definition="reference")
    for k in range(t.shape[0]):
        if not t[k].any():
            for name in reg:
                assert not reg[name][k].any()
            continue
        tc, pm5 = brute_reference_slice(t[k], 7)
        _, pm10 = brute_reference_slice(t[k], 14)
        np.testing.assert_array_equal(reg["TC"][k], tc)
        np.testing.assert_array_equal(reg["TIM"][k], t[k] & ~tc)
        np.testing.assert_array_equal(reg["PM5"][k], pm5 & (par[k] | t[k]))
        np.testing.assert_array_equal(reg["PM10"][k], pm10 & (par[k] | t[k]))
    # quirk of the released code: the margins contain the tumour
    assert (reg["PM5"] >= t).all() and (reg["PM10"] >= reg["PM5"]).all()


@pytest.mark.parametrize("definition", ["reference", "3d"])
def test_sphere_region_volumes(definition):
    R = 10.0
    shape = (41, 41, 41)
    t = sphere(shape, R)
    reg = tumour_regions(t, np.ones(shape, bool), (1.0, 1.0, 1.0), definition=definition)
    # TC and TIM partition the tumour
    assert not (reg["TC"] & reg["TIM"]).any()
    np.testing.assert_array_equal(reg["TC"] | reg["TIM"], t)
    vol = {k: float(v.sum()) for k, v in reg.items()}
    if definition == "3d":
        # core: depth > max depth / 2, i.e. radius between R/2 and R/2 + 1 voxel
        assert ball_volume(R / 2 - 1) <= vol["TC"] <= ball_volume(R / 2 + 1)
        for d in (5, 10):  # shells outside the tumour
            lo = ball_volume(R + d - 1) - ball_volume(R + 1)
            hi = ball_volume(R + d + 1) - ball_volume(R - 1)
            assert lo <= vol[f"PM{d}"] <= hi, (d, vol[f"PM{d}"], lo, hi)
            assert not (reg[f"PM{d}"] & t).any()
    else:
        # slice by slice: disc of radius r_z; core disc ~ r_z / 2, margin disc ~ r_z + d pixels
        zs = np.arange(shape[0]) - 20
        rz = np.sqrt(np.clip(R ** 2 - zs ** 2, 0, None))[np.abs(zs) <= R]
        core_lo = sum(math.pi * max(r / 2 - 1, 0) ** 2 for r in rz)
        core_hi = sum(math.pi * (r / 2 + 1) ** 2 for r in rz)
        assert core_lo <= vol["TC"] <= core_hi
        for d in (5, 10):
            lo = sum(math.pi * (r + d - 1) ** 2 for r in rz)
            hi = sum(math.pi * (r + d + 1) ** 2 for r in rz)
            assert lo <= vol[f"PM{d}"] <= hi
            assert (reg[f"PM{d}"] >= t).all()


@pytest.mark.parametrize("definition", ["reference", "3d", "cross-modality"])
def test_labelmap_round_trip(definition):
    rng = np.random.default_rng(5)
    t = sphere((20, 40, 40), 7, spacing_zyx=(2.0, 1.0, 1.0))
    par = rng.random(t.shape) > 0.2
    reg = tumour_regions(t, par, (1.0, 1.0, 2.0), definition=definition)
    lab = regions_labelmap(reg)
    assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1, 2, 3, 4}
    back = regions_from_labelmap(lab, definition=definition)
    for k in reg:
        np.testing.assert_array_equal(back[k], reg[k], err_msg=k)
    img = sitk.GetImageFromArray(np.zeros(t.shape, np.float32))
    img.SetSpacing((1.0, 1.0, 2.0))
    limg = regions_labelmap(reg, reference_image=img)
    assert limg.GetSpacing() == img.GetSpacing()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(limg), lab)


# ----------------------------------------------------------------------------------------------
# features on phantoms
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("definition", ["reference", "3d"])
def test_uniform_image_gives_identical_histograms(definition):
    shape = (30, 40, 40)
    t = sphere(shape, 8)
    case = make_case(np.full(shape, 40.0), t, organ_mask=np.ones(shape))
    f = RegionalFeatures(definition=definition).compute(case)
    for a, b in PAIRS:
        assert f[f"regional_{a}_{b}_correlation"] == pytest.approx(1.0)
        assert f[f"regional_{a}_{b}_chisquare"] == pytest.approx(0.0, abs=1e-6)
        assert f[f"regional_{a}_{b}_intersection"] == pytest.approx(1.0, abs=1e-6)
        assert f[f"regional_{a}_{b}_bhattacharyya"] == pytest.approx(0.0, abs=2e-4)


def test_uniform_sphere_in_uniform_background():
    shape = (30, 40, 40)
    t = sphere(shape, 8)
    img = np.where(t, 40.0, -850.0)   # soft-tissue nodule in aerated lung
    case = make_case(img, t, organ_mask=np.ones(shape))
    f3 = RegionalFeatures(definition="3d").compute(case)
    # TC vs TIM: identical one-bin histograms
    assert f3["regional_TC_TIM_correlation"] == pytest.approx(1.0)
    assert f3["regional_TC_TIM_chisquare"] == pytest.approx(0.0, abs=1e-6)
    assert f3["regional_TC_TIM_bhattacharyya"] == pytest.approx(0.0, abs=2e-4)
    # tumour vs ring: two one-bin histograms in different bins (N = 100):
    # correlation = (-2 * 0.99 * 0.01 + 98 * 0.01^2) / (0.99^2 + 99 * 0.01^2) = -1/99
    for a in ("TC", "TIM"):
        for d in (5, 10):
            assert f3[f"regional_{a}_PM{d}_correlation"] == pytest.approx(-1 / 99, abs=1e-6)
            assert f3[f"regional_{a}_PM{d}_chisquare"] == pytest.approx(1.0, abs=1e-6)
            assert f3[f"regional_{a}_PM{d}_intersection"] == pytest.approx(0.0, abs=1e-7)
            assert f3[f"regional_{a}_PM{d}_bhattacharyya"] == pytest.approx(1.0, abs=1e-6)
    # reference: PM holds the tumour too, so PM(d) = p * tumour bin + (1-p) * lung bin with
    # p = |tumour| / |PM(d)|: intersection = p, chi-square = (1-p)^2 (H1 = tumour bin only)
    reg = tumour_regions(t, None, (1, 1, 1), "reference")
    fr = RegionalFeatures(definition="reference").compute(case)
    for d in (5, 10):
        p = t.sum() / reg[f"PM{d}"].sum()
        assert fr[f"diag_regional_voxels_PM{d}"] == reg[f"PM{d}"].sum()
        assert fr[f"diag_regional_voxels_PM{d}_outside_tumour"] == (reg[f"PM{d}"] & ~t).sum() > 0
        assert fr[f"regional_TC_PM{d}_intersection"] == pytest.approx(p, abs=1e-6)
        assert fr[f"regional_TC_PM{d}_chisquare"] == pytest.approx((1 - p) ** 2, abs=1e-6)
        assert fr[f"regional_TIM_PM{d}_bhattacharyya"] == pytest.approx(math.sqrt(1 - math.sqrt(p)), abs=1e-5)


@pytest.mark.parametrize("definition", ["reference", "3d"])
def test_sharp_step_at_rim_orders_pairs(definition):
    """Tumour whose outer 3 mm look like the surrounding lung: TIM is closer to PM than TC is,
    and TC is farther from the margins than from the rim only if the rim is mixed."""
    shape = (30, 48, 48)
    rng = np.random.default_rng(11)
    t = sphere(shape, 12)
    inner = sphere(shape, 9)
    img = np.where(inner, 60.0, -800.0) + rng.normal(0, 15, shape)
    case = make_case(img, t, organ_mask=np.ones(shape))
    f = RegionalFeatures(definition=definition).compute(case)
    for d in (5, 10):
        assert f[f"regional_TIM_PM{d}_intersection"] > f[f"regional_TC_PM{d}_intersection"]
        assert f[f"regional_TIM_PM{d}_bhattacharyya"] < f[f"regional_TC_PM{d}_bhattacharyya"]
        assert f[f"regional_TIM_PM{d}_correlation"] > f[f"regional_TC_PM{d}_correlation"]
    # the core is homogeneous (inside the step), so TC vs TIM is neither identical nor disjoint
    assert 0.0 < f["regional_TC_TIM_intersection"] < 1.0


def test_feature_group_protocol():
    cls = get_group_class("regional")
    assert cls is RegionalFeatures
    g = cls()
    names = [s.name for s in g.specs()]
    assert names == list(FEATURE_NAMES) and len(set(names)) == 20
    assert all(s.group == "regional" and s.formula and s.name.startswith(g.prefix) for s in g.specs())
    expected = {f"regional_{a}_{b}_{m}" for a, b in
                [("TC", "TIM"), ("TC", "PM5"), ("TC", "PM10"), ("TIM", "PM5"), ("TIM", "PM10")]
                for m in ("correlation", "chisquare", "intersection", "bhattacharyya")}
    assert set(names) == expected
    assert g.options()["definition"] == "reference"
    with pytest.raises(ValueError):
        RegionalFeatures(definition="2d")


def test_mr_range_is_shared_percentile_range():
    shape = (20, 40, 40)
    rng = np.random.default_rng(2)
    t = sphere(shape, 7)
    img = rng.normal(100, 10, shape) + 50 * t
    case = make_case(img, t, modality="MR", organ_mask=np.ones(shape))
    f = RegionalFeatures().compute(case)
    reg = tumour_regions(t, np.ones(shape, bool), (1, 1, 1), "reference")
    union = np.concatenate([img[reg[k]] for k in ("TC", "TIM", "PM5", "PM10")])
    assert f["diag_regional_range_lo"] == pytest.approx(np.percentile(union, 1))
    assert f["diag_regional_range_hi"] == pytest.approx(np.percentile(union, 99))
    f2 = RegionalFeatures(mr_range=(0, 300)).compute(case)
    assert (f2["diag_regional_range_lo"], f2["diag_regional_range_hi"]) == (0.0, 300.0)


def released_code_transcription(ct, mask, lung, sx, d):
    """An independent, literal re-computation of the released code's margin_3D_histogram from the
    specification: full-slice scipy EDTs, numpy histograms, the four measures written out.
    Returns the 12 values [TIM-PM, TC-PM, TC-TIM] x [correl, chisqr, intersect, bhattacharyya]."""
    core = np.zeros(ct.shape)
    inner = np.zeros(ct.shape)
    outer = np.zeros(ct.shape)
    n = np.round(d / sx)
    for k in np.nonzero(mask.sum(axis=(1, 2)))[0]:
        m2 = mask[k].astype(np.uint8)
        dist = ndi.distance_transform_edt(m2)
        er = (dist > dist.max() / 2) * 1
        core[k] = er
        inner[k] = m2 - er
        outer[k] = ndi.distance_transform_edt(1 - m2) <= n
    lung = np.logical_or(mask, lung) * 1
    outer = np.logical_and(lung, outer) * 1

    def hist(v):
        h, _ = np.histogram(v, bins=100, range=(-1000, 500))
        return (h / (np.sum(h) + 1e-10)).astype("float32").astype(float)

    h1, h2, h3 = hist(ct[outer == 1]), hist(ct[inner == 1]), hist(ct[core == 1])

    def four(a, b):
        corr = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 1.0
        chi = sum((x - y) ** 2 / x for x, y in zip(a, b) if x != 0)
        inter = sum(min(x, y) for x, y in zip(a, b))
        bc = sum(math.sqrt(x * y) for x, y in zip(a, b))
        bh = math.sqrt(max(1 - bc / math.sqrt(a.mean() * b.mean() * len(a) ** 2), 0))
        return [corr, chi, inter, bh]

    return four(h2, h1) + four(h3, h1) + four(h3, h2)


@pytest.mark.parametrize("source", ["synthetic", "lung1"])
def test_reference_features_equal_released_code_transcription(source, request):
    if source == "synthetic":
        rng = np.random.default_rng(21)
        shape = (14, 60, 64)
        t = sphere(shape, 9, spacing_zyx=(2.5, 0.8, 0.8))
        ct = np.where(t, rng.normal(20, 40, shape), rng.normal(-820, 60, shape)).round()
        lung = rng.random(shape) > 0.1
        case = make_case(ct, t, spacing=(0.8, 0.8, 2.5), organ_mask=lung)
    else:
        case = load_shared(request.getfixturevalue("shared_cases")["lung1"])
    f = RegionalFeatures().compute(case)
    par = parenchyma_mask(case)
    ct = np.asarray(case.image_array(), float)
    t = case.mask_array()
    expect = released_code_transcription(ct, t, par, case.spacing[0], 5) + \
        released_code_transcription(ct, t, par, case.spacing[0], 10)
    np.testing.assert_allclose(released_order(f), expect, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------
def test_thin_tumour_has_no_rim_clear_error_or_policy():
    shape = (5, 30, 30)
    t = np.zeros(shape, bool)
    t[2, 15, 5:25] = True       # one pixel wide: every pixel has depth 1, so all are "core"
    img = np.where(t, 30.0, -850.0)
    case = make_case(img, t, organ_mask=np.ones(shape), case_id="thin_case")
    with pytest.raises(TumourTooSmallError, match=r"thin_case.*TIM"):
        RegionalFeatures().compute(case)
    f = RegionalFeatures(empty_region="nan").compute(case)
    assert all(np.isnan(f[f"regional_TIM_{b}_{m}"]) for b in ("PM5", "PM10") for m in MEASURES)
    assert np.isnan(f["regional_TC_TIM_correlation"])
    assert all(np.isfinite(f[f"regional_TC_PM{d}_{m}"]) for d in (5, 10) for m in MEASURES)
    # the released code compares the all-zero histogram
    fr = RegionalFeatures(empty_region="reference").compute(case)
    assert fr["regional_TIM_PM5_correlation"] == 1.0
    assert fr["regional_TIM_PM5_chisquare"] == 0.0
    assert fr["regional_TIM_PM5_intersection"] == 0.0
    assert fr["regional_TIM_PM5_bhattacharyya"] == 1.0


def test_no_parenchyma_found():
    shape = (10, 40, 40)
    t = sphere(shape, 4)
    case = make_case(np.full(shape, 30.0), t, organ="lung", case_id="no_lung_case")
    with pytest.raises(EmptyMaskError, match="no_lung_case"):
        RegionalFeatures().compute(case)
    # supplied requested but absent
    with pytest.raises(EmptyMaskError, match="organ mask"):
        RegionalFeatures(parenchyma="supplied").compute(case)
    # MR without organ: cannot choose a method
    mr = make_case(np.full(shape, 30.0), t, modality="MR", case_id="mr_case")
    with pytest.raises(PanCancerSubtypeError, match="mr_case.*organ"):
        RegionalFeatures().compute(mr)
    # empty tumour
    empty = make_case(np.full(shape, 30.0), np.zeros(shape), organ_mask=np.ones(shape))
    with pytest.raises(EmptyMaskError):
        RegionalFeatures().compute(empty)
    # parenchyma="none": no restriction, finite features
    f = RegionalFeatures(parenchyma="none").compute(case)
    assert f["diag_regional_parenchyma"] == "none"
    assert np.isfinite([f[n] for n in FEATURE_NAMES]).all()


def test_tumour_at_image_border():
    shape = (12, 40, 40)
    t = np.zeros(shape, bool)
    t[3:9, 10:22, 0:8] = True          # touches x = 0
    img = np.where(t, 40.0, -850.0)
    case = make_case(img, t, organ_mask=np.ones(shape), case_id="border")
    for definition in ("reference", "3d"):
        f = RegionalFeatures(definition=definition).compute(case)
        assert f["diag_regional_tumour_touches_border"] == 1
        assert np.isfinite([f[n] for n in FEATURE_NAMES]).all()
    # released code: pixels beyond the border are not background, so the x = 0 column is deep
    ref = tumour_regions(t, None, (1, 1, 1), "reference")
    assert ref["TC"][5, 16, 0]
    # 3d definition: the border counts as outside, the x = 0 face belongs to the rim
    r3 = tumour_regions(t, None, (1, 1, 1), "3d")
    assert r3["TIM"][:, :, 0][t[:, :, 0]].all()


def test_3d_margins_stay_in_parenchyma_and_outside_tumour():
    rng = np.random.default_rng(8)
    t = sphere((24, 40, 40), 6, spacing_zyx=(2.0, 1.0, 1.0))
    par = rng.random(t.shape) > 0.4
    reg = tumour_regions(t, par, (1.0, 1.0, 2.0), definition="3d")
    d = ndi.distance_transform_edt(~t, sampling=(2.0, 1.0, 1.0))
    for m in (5, 10):
        np.testing.assert_array_equal(reg[f"PM{m}"], (d > 0) & (d <= m) & par)


# ----------------------------------------------------------------------------------------------
# parenchyma masks: synthetic
# ----------------------------------------------------------------------------------------------
def chest_phantom(pleural_tumour=True):
    """Air outside, soft-tissue body ellipse, two air lungs with vessels, a table gap below."""
    nz, ny, nx = 20, 128, 128
    z, y, x = np.ogrid[:nz, :ny, :nx]
    img = np.full((nz, ny, nx), -1000.0)
    body = ((y - 60) / 45.0) ** 2 + ((x - 64) / 58.0) ** 2 <= 1
    img[:, body[0]] = 40.0
    lungs = np.zeros((nz, ny, nx), bool)
    for cx in (38, 90):
        lungs |= (((y - 60) / 30.0) ** 2 + ((x - cx) / 18.0) ** 2 <= 1) & (z >= 2) & (z <= 17)
    img[lungs] = -850.0
    vessels = lungs & (((y - 50) ** 2 + (x - 40) ** 2 <= 4) | ((y - 70) ** 2 + (x - 88) ** 2 <= 4))
    img[vessels] = 30.0
    img[:, 110:114, 5:123] = 200.0          # table plates with an air gap between them
    img[:, 116:120, 5:123] = 200.0
    tumour = np.zeros_like(lungs)
    if pleural_tumour:   # on the lateral pleura of the left lung, inside the lung
        tumour = (((z - 10) / 3.0) ** 2 + ((y - 60) / 6.0) ** 2 + ((x - 24) / 6.0) ** 2 <= 1) & \
            (lungs | (x >= 20))
        img[tumour] = 35.0
    return img, lungs, vessels, tumour


def test_lung_mask_on_chest_phantom():
    img, lungs, vessels, tumour = chest_phantom()
    case = make_case(img, tumour, organ="lung", case_id="phantom")
    lung = parenchyma_mask(case)
    truth = lungs | tumour
    dice = 2 * (lung & truth).sum() / (lung.sum() + truth.sum())
    assert dice > 0.97
    assert lung[vessels].all(), "vessels are inside the lung mask (holes filled)"
    assert lung[tumour].all(), "the tumour is never excluded"
    assert not lung[:, 105:, :].any(), "no table air gap, no outside air"
    # without the tumour the lung search alone still finds both lungs
    alone = lung_mask_ct(img)
    assert alone[:, 60, 38].sum() > 10 and alone[:, 60, 90].sum() > 10
    # PM ring restricted to the lung: nothing in the chest wall beside the pleural tumour
    reg = tumour_regions(tumour, lung, (1.0, 1.0, 1.0), definition="3d")
    body_wall = (img > -400) & ~lungs & ~tumour & ~vessels
    assert not (reg["PM10"] & body_wall).any()


def test_breast_mask_synthetic():
    shape = (12, 60, 60)
    z, y, x = np.ogrid[:shape[0], :shape[1], :shape[2]]
    img = np.full(shape, 2.0)                                   # air
    body = np.broadcast_to(y >= 15, shape)
    img[body] = 60.0                                            # fat-suppressed background
    strands = body & (np.abs(x - 30) <= 2) & np.ones(shape, bool)
    img[strands] = 150.0                                        # enhancing fibroglandular tissue
    t = sphere(shape, 3, center=(6, 35, 30))
    img[t] = 200.0
    fgt = breast_mask_mr(img, t, spacing=(1.0, 1.0, 1.0), box_mm=10)
    assert fgt[strands & ~t & (np.abs(y - 35) <= 10) & (np.abs(z - 6) <= 10)].all()
    assert not fgt[~strands & ~t].any()                        # only the bright tissue
    tissue = breast_mask_mr(img, t, spacing=(1.0, 1.0, 1.0), box_mm=10, tissue="body")
    assert not tissue[img < 10].any()                           # no air
    assert tissue[body & (np.abs(y - 35) <= 10) & (np.abs(x - 30) <= 10) & (np.abs(z - 6) <= 5)].all()
    assert not tissue[:, :, :15].any()                          # outside the 10 mm box


# ----------------------------------------------------------------------------------------------
# parenchyma masks on real data
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case_id", ["lung1", "lung2", "ibsi_nsclc"])
def test_lung_mask_on_real_ct(shared_cases, case_id):
    case = load_shared(shared_cases[case_id])
    lung, used = parenchyma_mask(case, return_method=True)
    assert used == "lung"
    a = np.asarray(case.image_array())
    t = case.mask_array()
    sx, sy, sz = case.spacing
    assert (lung >= t).all(), "the tumour is always inside the parenchyma mask"
    # the 10 mm shell, computed in the tumour's bounding box grown by 12 mm (clipped)
    zz, yy, xx = (np.nonzero(t.any(axis=ax))[0] for ax in ((1, 2), (0, 2), (0, 1)))
    grow = [int(np.ceil(12 / s)) for s in (sz, sy, sx)]
    box = tuple(slice(max(i[0] - g, 0), i[-1] + 1 + g) for i, g in zip((zz, yy, xx), grow))
    d = ndi.distance_transform_edt(~t[box], sampling=(sz, sy, sx))
    shell_air = (d > 0) & (d <= 10) & (a[box] < -400)
    inside = lung[box][shell_air].mean()
    rest = lung & ~t
    dense = (a[rest] > -400).mean()
    print(f"{case_id}: air-like 10 mm shell inside the mask {inside:.3f} "
          f"({shell_air.sum()} voxels); mask (non-tumour) voxels above -400 HU {dense:.4f}")
    assert inside >= 0.90
    assert dense < 0.05
    if case_id in ("lung1", "lung2"):  # full field of view: no outside air inside the mask
        outside = np.zeros_like(t)
        for k in range(a.shape[0]):
            lab, _ = ndi.label(a[k] < -400)
            border = np.unique(np.r_[lab[0], lab[-1], lab[:, 0], lab[:, -1]])
            outside[k] = np.isin(lab, border[border > 0])
        assert (lung & outside).sum() == 0
        # both lungs (joined through the airways): large volumes on both sides of the mid-line
        mid = a.shape[2] // 2
        left, right = lung[:, :, :mid].sum(), lung[:, :, mid:].sum()
        assert min(left, right) > 0.3 * max(left, right)


@pytest.mark.parametrize("case_id", ["brats_pat0001", "brats_pat0002"])
def test_brain_mask_dice_on_brats(shared_cases, case_id):
    case = load_shared(shared_cases[case_id])
    ref = case.organ_mask_array()
    auto = brain_mask_mr(case.image)   # as if the brain mask were absent
    dice = 2 * (auto & ref).sum() / (auto.sum() + ref.sum())
    print(f"{case_id}: Dice of the automatic brain mask with brainmask = {dice:.4f}")
    assert dice >= 0.9
    # the feature group uses the supplied mask by default and the automatic one on request
    assert parenchyma_mask(case, return_method=True)[1] == "supplied"
    hidden = load_shared(shared_cases[case_id], hide_organ_mask=True)
    assert parenchyma_mask(hidden, return_method=True)[1] == "brain"


def test_all_shared_cases_finite_or_clear_error(shared_cases):
    g = RegionalFeatures()
    results = {}
    for cid, row in shared_cases.items():
        case = load_shared(row)
        try:
            f = g.compute(case)
        except TumourTooSmallError as exc:
            assert cid in str(exc)
            results[cid] = "error: " + str(exc)
            continue
        vals = np.array([f[n] for n in FEATURE_NAMES], float)
        assert np.isfinite(vals).all(), cid
        assert all(f[f"diag_regional_voxels_{k}"] > 0 for k in ("TC", "TIM", "PM5", "PM10"))
        # measure ranges
        for a, b in PAIRS:
            assert -1 - 1e-9 <= f[f"regional_{a}_{b}_correlation"] <= 1 + 1e-9
            assert 0 <= f[f"regional_{a}_{b}_intersection"] <= 1 + 1e-6
            assert 0 <= f[f"regional_{a}_{b}_bhattacharyya"] <= 1 + 1e-9
            assert f[f"regional_{a}_{b}_chisquare"] >= 0
        results[cid] = f["diag_regional_parenchyma"]
    print(results)
    assert len(results) == len(shared_cases)


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------
def test_regions_command(tmp_path, capsys):
    shape = (16, 40, 40)
    t = sphere(shape, 6)
    img = np.where(t, 40.0, -850.0)
    case = make_case(img, t, spacing=(0.8, 0.8, 2.0))
    ip, mp, op, pp = (str(tmp_path / n) for n in ("img.nrrd", "mask.nrrd", "reg.seg.nrrd", "par.nrrd"))
    sitk.WriteImage(case.image, ip)
    lab_in = sitk.GetImageFromArray((t * 2).astype(np.uint8))   # tumour stored as label 2
    lab_in.CopyInformation(case.image)
    sitk.WriteImage(lab_in, mp)
    om = str(tmp_path / "organ.nrrd")
    oimg = sitk.GetImageFromArray(np.ones(shape, np.uint8))
    oimg.CopyInformation(case.image)
    sitk.WriteImage(oimg, om)
    rc = cli.main(["regions", "--image", ip, "--mask", mp, "--label", "2", "--organ-mask", om,
                   "--out", op, "--parenchyma-out", pp])
    assert rc == 0
    out = sitk.ReadImage(op)
    expect = regions_labelmap(tumour_regions(t, np.ones(shape, bool), (0.8, 0.8, 2.0)))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), expect)
    assert out.GetMetaData("Segment0_Name").startswith("TC")
    assert sitk.GetArrayFromImage(sitk.ReadImage(pp)).all()
    # bad label: clear error, exit status 1
    rc = cli.main(["regions", "--image", ip, "--mask", mp, "--label", "7", "--out", op])
    assert rc == 1
    assert "label" in capsys.readouterr().err


def test_regions_command_automatic_lung_3d(tmp_path, capsys):
    img, lungs, vessels, tumour = chest_phantom()
    case = make_case(img, tumour, spacing=(1.0, 1.0, 1.0))
    ip, mp, op, pp = (str(tmp_path / n) for n in ("img.nii.gz", "mask.nii.gz", "reg.nii.gz", "par.nii.gz"))
    sitk.WriteImage(case.image, ip)
    sitk.WriteImage(case.mask, mp)
    rc = cli.main(["regions", "--image", ip, "--mask", mp, "--definition", "3d", "--out", op,
                   "--parenchyma-out", pp])
    assert rc == 0
    assert '"parenchyma": "lung"' in capsys.readouterr().out   # CT inferred, lung by default
    par = sitk.GetArrayFromImage(sitk.ReadImage(pp)).astype(bool)
    np.testing.assert_array_equal(par, parenchyma_mask(make_case(img, tumour, organ="lung")))
    lab = sitk.GetArrayFromImage(sitk.ReadImage(op))
    reg = regions_from_labelmap(lab, definition="3d")
    np.testing.assert_array_equal(reg["TC"] | reg["TIM"], tumour)
    assert not (reg["PM10"] & ~par).any() and not (reg["PM10"] & tumour).any()


# ----------------------------------------------------------------------------------------------
# issue 22: soft-tissue parenchyma, cross-modality regions and features
# ----------------------------------------------------------------------------------------------
LIMB_CT = {"air": -1000.0, "fat": -100.0, "muscle": 50.0, "cortex": 900.0, "marrow": -60.0,
           "couch": 20.0, "tumour": 40.0, "calcified": 400.0, "lipoma": -110.0}
LIMB_MR = {"air": 5.0, "fat": 1000.0, "muscle": 300.0, "cortex": 15.0, "marrow": 950.0,
           "couch": 0.0, "tumour": 320.0, "calcified": 25.0, "lipoma": 980.0}


def limb_phantom(core="calcified", core_mm=4.0, radius=10.0):
    """Tissue names (z, y, x; 2 x 1 x 1 mm voxels) of a limb in air: a fat layer over muscle, a
    bone (cortex ring around marrow), a couch below the body (not touching it) and a spherical
    tumour with a core of ``core`` tissue; returns (labels, tumour)."""
    shape = (20, 64, 64)
    zz, yy, xx = np.indices(shape)
    lab = np.full(shape, "air", dtype=object)
    r = np.hypot(yy - 30, xx - 32)
    lab[r <= 26] = "fat"
    lab[r <= 20] = "muscle"
    rb = np.hypot(yy - 30, xx - 16)
    lab[rb <= 5] = "cortex"
    lab[rb <= 3] = "marrow"
    lab[60:63, 8:56] = "couch"
    d = np.sqrt(((zz - 9.5) * 2.0) ** 2 + (yy - 30) ** 2 + (xx - 38) ** 2)
    tumour = d <= radius
    lab[tumour] = "tumour"
    lab[d <= core_mm] = core
    return lab, tumour


def limb_case(modality, scale=1.0, **kw):
    lab, t = limb_phantom(**kw)
    table = LIMB_CT if modality == "CT" else LIMB_MR
    img = np.vectorize(table.get)(lab).astype(np.float32) * scale
    return make_case(img, t, spacing=(1.0, 1.0, 2.0), modality=modality, organ="soft-tissue",
                     case_id=f"limb_{modality}"), lab


@pytest.mark.parametrize("modality", ["CT", "MR"])
def test_soft_tissue_mask_on_limb_phantom(modality):
    case, lab = limb_case(modality)
    par, used = parenchyma_mask(case, return_method=True)
    assert used == "soft-tissue"
    box = np.zeros(lab.shape, bool)
    box[:, 5:, 5:60] = True  # the whole body lies inside the 50 mm box around the tumour
    for tissue in ("fat", "muscle", "tumour", "calcified"):
        assert par[(lab == tissue) & box].all(), tissue
    # air, cortical bone (dense on CT, a signal void on MR), the marrow the cortex encloses and
    # the couch (tissue-like on CT but not connected to the tumour's tissue) are excluded
    for tissue in ("air", "cortex", "marrow", "couch"):
        assert not par[lab == tissue].any(), tissue
    direct = soft_tissue_mask(case.image, case.mask_array(), modality=modality)
    np.testing.assert_array_equal(direct | case.mask_array(), par)


def test_soft_tissue_parenchyma_choice_and_errors():
    case, _ = limb_case("MR")
    for organ in ("soft-tissue", "body", "Soft tissue"):
        case.organ = organ
        assert parenchyma_mask(case, return_method=True)[1] == "soft-tissue"
    case.organ, case.cancer_type = None, "Sarcoma"
    assert parenchyma_mask(case, return_method=True)[1] == "soft-tissue"
    case.cancer_type = None
    with pytest.raises(PanCancerSubtypeError, match="soft-tissue"):
        parenchyma_mask(case)
    assert parenchyma_mask(case, method="body", return_method=True)[1] == "soft-tissue"
    t = np.zeros((8, 20, 20), bool)
    t[3:5, 8:12, 8:12] = True
    with pytest.raises(EmptyMaskError, match="no soft tissue"):
        soft_tissue_mask(np.where(t, 40.0, -1000.0), t, modality="CT", source="air_case")
    with pytest.raises(EmptyMaskError):
        soft_tissue_mask(np.zeros(t.shape), np.zeros(t.shape, bool))


def test_cross_modality_bands_on_sphere():
    R = 12.0
    shape = (45, 45, 45)
    t = sphere(shape, R)
    reg = tumour_regions(t, np.ones(shape, bool), (1.0, 1.0, 1.0), definition="cross-modality")
    np.testing.assert_array_equal(reg["TC"] | reg["TIM"], t)
    assert not (reg["TC"] & reg["TIM"]).any() and not (reg["PM5"] & reg["PM10"]).any()
    assert not ((reg["PM5"] | reg["PM10"]) & t).any()
    vol = {k: float(v.sum()) for k, v in reg.items()}
    # TC: depth > 5 mm, the ball of radius R - 5 (+- one voxel); TIM the 5 mm rim
    assert ball_volume(R - 6) <= vol["TC"] <= ball_volume(R - 4)
    # PM5: the 0-5 mm shell, PM10: the 5-10 mm shell (not 0-10 mm)
    assert ball_volume(R + 4) - ball_volume(R + 1) <= vol["PM5"] <= ball_volume(R + 6) - ball_volume(R - 1)
    assert ball_volume(R + 9) - ball_volume(R + 6) <= vol["PM10"] <= ball_volume(R + 11) - ball_volume(R + 4)
    # rim width is an option; a tumour no deeper than the rim keeps a core (half its depth)
    thin = tumour_regions(t, None, (1.0, 1.0, 1.0), definition="cross-modality", rim_mm=3.0)
    assert thin["TC"].sum() > vol["TC"]
    small = sphere(shape, 3.5)
    sreg = tumour_regions(small, None, (1.0, 1.0, 1.0), definition="cross-modality")
    assert sreg["TC"].any() and sreg["TIM"].any()
    with pytest.raises(ValueError, match="cross-modality"):
        tumour_regions(t, None, (1, 1, 1), definition="bands")
    with pytest.raises(ValueError, match="rim_mm"):
        tumour_regions(t, None, (1, 1, 1), definition="cross-modality", rim_mm=0)


def test_cross_modality_measures_hand_computed():
    from PanCancerSubtypeLib.heterogeneity import cross_modality_features_from_regions

    # image: CT values; TC and TIM all soft tissue; PM5 half fat / half soft; PM10 one third
    # each of fat, soft tissue and bone (other)
    img = np.array([50.0] * 8 + [-100.0] * 4 + [50.0] * 4 + [-100.0, 50.0, 900.0] * 2)
    idx = np.arange(img.size)
    reg = {"TC": idx < 4, "TIM": (idx >= 4) & (idx < 8), "PM5": (idx >= 8) & (idx < 16),
           "PM10": idx >= 16}
    thr = {"fat_low": -190.0, "fat_high": -30.0, "soft_high": 150.0}
    f, diag = cross_modality_features_from_regions(img[None, None, :],
                                                   {k: v[None, None, :] for k, v in reg.items()},
                                                   thr, pseudo_count=0.01)
    eps = 0.01
    h = {"TC": np.array([0, 1, 0.0]), "TIM": np.array([0, 1, 0.0]),
         "PM5": np.array([0.5, 0.5, 0]), "PM10": np.array([1, 1, 1]) / 3}
    h = {k: (v + eps) / (1 + 3 * eps) for k, v in h.items()}
    for a, b in PAIRS:
        x, y = h[a], h[b]
        r = np.corrcoef(x, y)[0, 1] if np.ptp(x) > 0 and np.ptp(y) > 0 else 1.0
        chi = sum((p - q) ** 2 / p for p, q in zip(x, y))
        key = f"regional_{a}_{b}_"
        assert f[key + "correlation"] == pytest.approx(math.acos(min(r, 1.0)), abs=2e-3)
        assert f[key + "chisquare"] == pytest.approx(math.log(1 + chi / eps), rel=1e-5)
        assert f[key + "intersection"] == pytest.approx(np.minimum(x, y).sum(), abs=1e-6)
        assert f[key + "bhattacharyya"] == pytest.approx(
            math.sqrt(max(1 - np.sqrt(x * y).sum(), 0)), abs=2e-4)
    # TC = TIM exactly: zero distance on every scale
    assert f["regional_TC_TIM_chisquare"] == 0.0 and f["regional_TC_TIM_intersection"] == pytest.approx(1.0)
    # PM10 uniform: the correlation with anything is undefined -> OpenCV's 1 -> angle 0
    assert f["regional_TC_PM10_correlation"] == 0.0
    assert diag["diag_regional_PM5_fat_fraction"] == 0.5
    assert diag["diag_regional_PM10_other_fraction"] == pytest.approx(1 / 3)


def test_tissue_classes_ct_edges_and_mr_thresholds():
    from PanCancerSubtypeLib.heterogeneity import tissue_class_thresholds, tissue_classes

    thr = tissue_class_thresholds(np.zeros((2, 2, 2)), np.ones((2, 2, 2), bool), (1, 1, 1), "CT")
    v = np.array([-1000, -190.5, -190, -30, -29.9, 150, 150.1, 3000])
    np.testing.assert_array_equal(tissue_classes(v, thr), [2, 2, 0, 0, 1, 1, 2, 2])
    # MR surroundings: half muscle (300), half fat (1000), background air (0): the fat threshold
    # lies between the two tissues, "dark" is half the muscle signal
    shape = (10, 30, 30)
    img = np.zeros(shape)
    img[:, 5:25, 5:15] = 300.0
    img[:, 5:25, 15:25] = 1000.0
    t = np.zeros(shape, bool)
    t[4:6, 12:15, 12:15] = True
    img[t] = 300.0
    mr = tissue_class_thresholds(img, t, (1, 1, 1), "MR")
    assert (mr["soft_reference"], mr["fat_reference"]) == (300.0, 1000.0)
    assert mr["fat"] == 650.0 and mr["dark"] == 150.0  # midpoints: nearest reference wins
    assert mr["fat_contrast"] == pytest.approx(1000 / 300)
    np.testing.assert_array_equal(tissue_classes(np.array([0, 149, 150, 649, 650, 1000]), mr),
                                  [2, 2, 1, 1, 0, 0])
    # scale-free: the thresholds follow the image
    mr3 = tissue_class_thresholds(img * 3.0, t, (1, 1, 1), "MR")
    assert mr3["fat"] == pytest.approx(3 * mr["fat"]) and mr3["dark"] == pytest.approx(450.0)


@pytest.mark.parametrize("core", ["calcified", "lipoma"])
def test_cross_modality_features_agree_between_ct_and_mr_phantoms(core):
    """The same limb on CT and T1 MR (fat dark on one, bright on the other): the cross-modality
    features are identical, and invariant to the MR's intensity unit.  (Noise-free tissues fall
    into one histogram bin each on both modalities, and the four measures do not depend on
    which bins, so the reference features agree here too: their failure on real pairs comes
    from the spread of each tissue's intensities over the fine bins.)"""
    g = RegionalFeatures(definition="cross-modality", parenchyma="auto")
    ct, _ = limb_case("CT", core=core)
    mr, _ = limb_case("MR", core=core)
    fct, fmr = g.compute(ct), g.compute(mr)
    fmr3 = g.compute(limb_case("MR", scale=3.7, core=core)[0])
    for name in FEATURE_NAMES:
        assert fct[name] == pytest.approx(fmr[name], abs=1e-9), name
        assert fmr3[name] == pytest.approx(fmr[name], abs=1e-9), name
        assert np.isfinite(fct[name])
    assert fct["diag_regional_parenchyma"] == "soft-tissue"
    assert fmr["diag_regional_class_fat_contrast"] > 2
    opts = g.options()
    assert opts["definition"] == "cross-modality" and opts["pseudo_count"] == 0.01
    assert opts["rim_mm"] == 5.0 and opts["ct_classes_hu"] == [-190.0, -30.0, 150.0]
    for bad in ({"definition": "tissue"}, {"parenchyma": "liver"}, {"pseudo_count": 0},
                {"rim_mm": -1}):
        with pytest.raises(ValueError):
            RegionalFeatures(**bad)


def test_cross_modality_empty_region_policy():
    shape = (5, 30, 30)
    t = np.zeros(shape, bool)
    t[1:4, 10:20, 10:20] = True
    img = np.where(t, 40.0, -1000.0)  # air around: no soft-tissue margin
    case = make_case(img, t, organ_mask=None, case_id="bare")
    g = RegionalFeatures(definition="cross-modality", parenchyma="none")
    assert np.isfinite(g.compute(case)["regional_TIM_PM5_chisquare"])
    par = np.zeros(shape, bool)
    case = make_case(img, t, organ_mask=par | t, case_id="bare")
    with pytest.raises(TumourTooSmallError, match=r"bare.*PM5"):
        RegionalFeatures(definition="cross-modality").compute(case)
    f = RegionalFeatures(definition="cross-modality", empty_region="nan").compute(case)
    assert np.isnan(f["regional_TIM_PM5_intersection"]) and np.isfinite(f["regional_TC_TIM_chisquare"])


def test_features_and_regions_commands_cross_modality(tmp_path, capsys):
    import json as _json

    case, _ = limb_case("MR", core="lipoma")
    sitk.WriteImage(case.image, str(tmp_path / "mr.nrrd"))
    sitk.WriteImage(case.mask, str(tmp_path / "mask.nrrd"))
    out = tmp_path / "f.csv"
    rc = cli.main(["features", "--image", str(tmp_path / "mr.nrrd"), "--mask",
                   str(tmp_path / "mask.nrrd"), "--modality", "MR", "--organ", "soft-tissue",
                   "--groups", "regional", "--regional-definition", "cross-modality",
                   "--out", str(out)])
    assert rc == 0
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    f = RegionalFeatures(definition="cross-modality").compute(case)
    for name in FEATURE_NAMES:
        assert row[name] == pytest.approx(f[name], rel=1e-9, abs=1e-12)
    capsys.readouterr()
    rc = cli.main(["regions", "--image", str(tmp_path / "mr.nrrd"), "--mask",
                   str(tmp_path / "mask.nrrd"), "--modality", "MR", "--organ", "body",
                   "--definition", "cross-modality", "--out", str(tmp_path / "r.nrrd")])
    assert rc == 0
    summary = _json.loads(capsys.readouterr().out)
    assert summary["parenchyma"] == "soft-tissue" and summary["definition"] == "cross-modality"
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "r.nrrd")))
    assert summary["voxels"]["PM10"] == int((lab == 4).sum()) > 0


def _sarcoma_pair(shared_data, pid):
    base = shared_data / "IBSI_soft_tissue_sarcoma_CT_MR" / pid
    if not base.is_dir():
        pytest.skip(f"paired sarcoma data not found at {base}")
    from PanCancerSubtypeLib.io import load_case

    return [load_case(base / f"{im}.nii.gz", base / f"{mk}.nii.gz", modality=m,
                      organ="soft-tissue", case_id=f"{pid}_{m}")
            for m, im, mk in (("CT", "CT_image", "CT_mask"), ("MR", "MR_T1_image", "MR_T1_mask"))]


@pytest.mark.parametrize("pid", ["STS_005", "STS_002"])
def test_soft_tissue_mask_ct_and_mr_agree_on_sarcoma_pairs(shared_data, pid):
    """The registered CT and MR of a sarcoma: the soft-tissue parenchyma of the two modalities
    coincides within the 10 mm margin (measured Dice 0.96-1.00 on the ten pairs)."""
    ct, mr = _sarcoma_pair(shared_data, pid)
    pc = sitk.GetImageFromArray(parenchyma_mask(ct).astype(np.uint8))
    pc.CopyInformation(ct.image)
    pm = sitk.GetImageFromArray(parenchyma_mask(mr).astype(np.uint8))
    pm.CopyInformation(mr.image)
    pm_on_ct = sitk.GetArrayFromImage(sitk.Resample(pm, ct.image, sitk.Transform(),
                                                    sitk.sitkNearestNeighbor, 0)).astype(bool)
    inside = sitk.GetArrayFromImage(sitk.Resample(sitk.Cast(mr.image * 0 + 1, sitk.sitkUInt8),
                                                  ct.image, sitk.Transform(),
                                                  sitk.sitkNearestNeighbor, 0)).astype(bool)
    t = ct.mask_array()
    dout = ndi.distance_transform_edt(~t, sampling=ct.spacing[::-1])
    ring = (dout > 0) & (dout <= 10) & inside
    a, b = sitk.GetArrayFromImage(pc).astype(bool)[ring], pm_on_ct[ring]
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert dice > 0.95, dice
    assert a.mean() > 0.9 and b.mean() > 0.9


@pytest.mark.slow
def test_cross_modality_targets_on_shared_sarcoma_pairs(shared_data):
    """Issue 22's targets on the ten shared CT / MR pairs: median ICC(3,1) >= 0.75 over the 20
    regional features, none below 0.5 (the reference definition: median 0.55, ten below 0.5)."""
    from PanCancerSubtypeLib.reliability import icc

    pids = ["STS_001", "STS_002", "STS_003", "STS_004", "STS_005", "STS_006", "STS_008",
            "STS_010", "STS_012", "STS_014"]
    g = RegionalFeatures(definition="cross-modality")
    vals = [[g.compute(c) for c in _sarcoma_pair(shared_data, p)] for p in pids]
    iccs = np.array([icc(np.array([[v[0][n], v[1][n]] for v in vals])) for n in FEATURE_NAMES])
    assert np.median(iccs) >= 0.75 and iccs.min() >= 0.5, dict(zip(FEATURE_NAMES, iccs.round(3)))


@pytest.mark.parametrize("code", ["RAS", "LAS", "PIL", "SLP"])
def test_regional_features_and_regions_do_not_depend_on_the_voxel_order(code):
    """The same physical MR head stored in another voxel order (a RAS NIfTI file, a sagittal
    series): the automatic brain mask, the regions and all 20 regional features are the same
    (found by an audit: the brain mask's Otsu level was taken on every second stored voxel and
    the reference regions' slices were the stored third axis, so they were not)."""
    from PanCancerSubtypeLib.regions import case_regions
    from PanCancerSubtypeLib.voxel_order import reordered_onto

    rng = np.random.default_rng(4)
    shape, sp = (40, 64, 64), (1.0, 1.2, 1.5)                  # z y x; spacing x y z below
    head = sphere(shape, 26.0, spacing_zyx=sp)
    tumour = sphere(shape, 7.0, center=(20, 28, 36), spacing_zyx=sp)
    arr = np.where(head, 400.0, 5.0) + rng.normal(0, 40, shape) + np.where(tumour, 300.0, 0)
    arr[tumour & (rng.random(shape) < 0.3)] -= 250.0           # a mottled tumour
    case = make_case(arr, tumour, spacing=sp[::-1], modality="MR", organ="brain")
    group = get_group_class("regional")()
    ref_feats = group.compute(case)
    ref_regions = case_regions(case)
    other = Case(case_id="synthetic", image=sitk.DICOMOrient(case.image, code),
                 mask=sitk.DICOMOrient(case.mask, code), modality="MR", organ="brain")
    assert other.image.GetSize() != case.image.GetSize() or code in ("RAS", "LAS")
    feats = group.compute(other)
    for k in FEATURE_NAMES:
        assert feats[k] == ref_feats[k], k
    assert feats["diag_regional_parenchyma_voxels"] == ref_feats["diag_regional_parenchyma_voxels"]
    got = case_regions(other)
    back = reordered_onto(got["labelmap"], ref_regions["labelmap"])
    assert back is not None
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back),
                                  sitk.GetArrayFromImage(ref_regions["labelmap"]))
    assert got["voxels"] == ref_regions["voxels"]
    par = reordered_onto(got["parenchyma"], ref_regions["parenchyma"])
    np.testing.assert_array_equal(sitk.GetArrayFromImage(par),
                                  sitk.GetArrayFromImage(ref_regions["parenchyma"]))
