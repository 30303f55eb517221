"""Regional-variation features (Wu et al. 2021): 20 histogram comparisons between tumour regions.

Regions (see :mod:`.regions`): tumour core TC, tumour invasive margin TIM, parenchymal margins
PM5 and PM10.  Each region's intensities are binned into 100 equal bins, normalised to sum 1
(``h / (sum(h) + 1e-10)``, then cast to float32, as the authors' released code does), and five
pairs are compared with the four measures of OpenCV's ``compareHist``:

=============  ======================================================================
measure        formula (H1 = first region of the pair, H2 = second, N = 100 bins)
=============  ======================================================================
correlation    sum((H1-m1)(H2-m2)) / sqrt(sum((H1-m1)^2) sum((H2-m2)^2)); OpenCV returns
               1 when the product of the two variance sums is <= DBL_EPSILON (constant
               histograms, e.g. an empty region), and so do we
chisquare      sum over bins with |H1| > DBL_EPSILON of (H1-H2)^2 / H1 (asymmetric; H1-H2 taken
               in float32, as OpenCV 4)
intersection   sum(min(H1, H2))
bhattacharyya  sqrt(max(1 - sum(sqrt(H1 H2)) / sqrt(s1 s2), 0)), s = sum of the bins
               (= m1 m2 N^2); 1/sqrt(s1 s2) replaced by 1 when s1 s2 <= FLT_EPSILON
=============  ======================================================================

(checked against OpenCV's ``modules/imgproc/src/histogram.cpp``, ``cv::compareHist``: bit for bit
as OpenCV 4 on x86-64, the float32 subtraction of chi-square and the summation order of the
SIMD loops included; see :func:`compare_hist`).  Pairs and argument order follow the released
code: (TIM, PM), (TC, PM), (TC, TIM).

Histogram ranges: CT uses the fixed (-1000, 500) HU of the released code with ``numpy.histogram``
semantics (values outside the range are not counted; 500 falls in the last bin).  MR has no fixed
scale; by default (``mr_range="percentile"``) the range is the 1st-99th percentile of the
intensities of the union of the four regions of the tumour, the same range for all regions, and
values outside it are clipped into the end bins (so no voxel is dropped).  ``mr_range="minmax"``
uses the union's min and max; a ``(lo, hi)`` tuple fixes it.

Empty regions (e.g. no TIM in a tumour whose slices are one or two pixels wide, or a margin with
no parenchyma): by default (``empty_region="error"``) a :class:`TumourTooSmallError` names the case
and the empty region.  ``empty_region="nan"`` gives NaN for the affected features only;
``empty_region="reference"`` reproduces the released code, which compares the all-zero histogram
(correlation 1, chi-square 0 or 1, intersection 0, Bhattacharyya 1).
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import EmptyMaskError, PanCancerSubtypeError, TumourTooSmallError
from .registry import FeatureGroup, FeatureSpec

N_BINS = 100
CT_RANGE = (-1000.0, 500.0)
DBL_EPSILON = float(np.finfo(np.float64).eps)
FLT_EPSILON = float(np.finfo(np.float32).eps)

MEASURES = ("correlation", "chisquare", "intersection", "bhattacharyya")
#: (first, second) region of each pair, in the released code's argument order
PAIRS = (("TC", "TIM"), ("TC", "PM5"), ("TC", "PM10"), ("TIM", "PM5"), ("TIM", "PM10"))

FEATURE_NAMES = tuple(f"regional_{a}_{b}_{m}" for a, b in PAIRS for m in MEASURES)

#: ``definition`` values (regions and histograms; see :data:`CROSS_MODALITY_DOC`)
DEFINITIONS = ("reference", "3d", "cross-modality")
#: ``parenchyma`` values: sources, then automatic methods forced by name
PARENCHYMA_OPTIONS = ("auto", "supplied", "automatic", "none", "lung", "brain", "breast",
                      "soft-tissue", "body")


# ----------------------------------------------------------------------------------------------
# histograms and OpenCV compareHist
# ----------------------------------------------------------------------------------------------
def region_histogram(values: np.ndarray, value_range: Tuple[float, float], bins: int = N_BINS,
                     clip: bool = False) -> np.ndarray:
    """Normalised histogram (float32) as the released code: ``h / (h.sum() + 1e-10)``.

    ``clip=True`` puts values outside ``value_range`` into the end bins instead of dropping them.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(value_range[0]), float(value_range[1])
    if clip:
        v = np.clip(v, lo, hi)
    h, _ = np.histogram(v, bins=bins, range=(lo, hi))
    h = h / (np.sum(h) + 1e-10)
    return h.astype(np.float32)


def _simd_sum(x: np.ndarray) -> float:
    """Sum of float64 terms in the order of OpenCV's 128-bit ``CV_SIMD_64F`` loops of
    ``compareHist`` (x86-64 SSE2 baseline): each float32 vector of 4 bins is split into two float64
    halves added into a 2-lane accumulator (lane 0 gets bins 0, 2, 4, 6, ... in order, lane 1
    bins 1, 3, 5, 7, ...), the result is ``0 + (lane 0 + lane 1)``, then the scalar loop adds the
    last ``len % 4`` bins one by one."""
    x = np.asarray(x, dtype=np.float64)
    n4 = (x.size // 4) * 4
    result = 0.0
    if n4:
        main = x[:n4].reshape(-1, 4)
        lane0 = np.cumsum(main[:, [0, 2]].ravel())[-1]     # cumsum: strictly sequential
        lane1 = np.cumsum(main[:, [1, 3]].ravel())[-1]
        result += float(lane0 + lane1)
    for t in x[n4:].tolist():
        result += t
    return result


def compare_hist(h1: np.ndarray, h2: np.ndarray, method: str) -> float:
    """OpenCV ``compareHist`` for ``HISTCMP_CORREL / CHISQR / INTERSECT / BHATTACHARYYA``, bit for
    bit as OpenCV 4 on x86-64 computes it (checked: opencv-python 4.5.5, the authors' era, and
    4.10.0):

    * correlation, intersection, Bhattacharyya: float64 sums in the order of OpenCV's 2-lane
      SIMD loops (:func:`_simd_sum`); products of two float32 bins are exact in float64;
    * chi-square: OpenCV 4 has no SIMD loop for it: ``double a = h1[j] - h2[j]`` subtracts
      the two float32 bins *in float32* (C arithmetic on two floats) before widening, and the
      terms ``a*a/h1[j]`` are added sequentially over the bins with ``|h1| > DBL_EPSILON``.
      (OpenCV 5 vectorised it and subtracts in float64: up to ~1e-7 relative from OpenCV 4.)
    """
    a32 = np.asarray(h1, dtype=np.float32).ravel()
    b32 = np.asarray(h2, dtype=np.float32).ravel()
    if a32.shape != b32.shape:
        raise ValueError(f"histograms differ in size: {a32.size} vs {b32.size}")
    a = a32.astype(np.float64)
    b = b32.astype(np.float64)
    if method == "correlation":
        s1, s2 = _simd_sum(a), _simd_sum(b)
        s11, s12, s22 = _simd_sum(a * a), _simd_sum(a * b), _simd_sum(b * b)
        scale = 1.0 / a.size
        num = s12 - s1 * s2 * scale
        denom2 = (s11 - s1 * s1 * scale) * (s22 - s2 * s2 * scale)
        return float(num / np.sqrt(denom2)) if abs(denom2) > DBL_EPSILON else 1.0
    if method == "chisquare":
        diff = (a32 - b32).astype(np.float64)              # float32 subtraction, then widened
        result = 0.0
        for x, d in zip(a.tolist(), diff.tolist()):         # sequential, as OpenCV's scalar loop
            if abs(x) > DBL_EPSILON:
                result += d * d / x
        return result
    if method == "intersection":
        return _simd_sum(np.minimum(a, b))
    if method == "bhattacharyya":
        bc = _simd_sum(np.sqrt(a * b))
        s = _simd_sum(a) * _simd_sum(b)
        scale = 1.0 / np.sqrt(s) if abs(s) > FLT_EPSILON else 1.0
        return float(np.sqrt(max(1.0 - bc * scale, 0.0)))
    raise ValueError(f"unknown measure {method!r}; known: {MEASURES}")


def compare_all(h1: np.ndarray, h2: np.ndarray) -> Dict[str, float]:
    return {m: compare_hist(h1, h2, m) for m in MEASURES}


def mr_value_range(values: np.ndarray, policy: Union[str, Sequence[float]] = "percentile",
                   percentiles: Tuple[float, float] = (1.0, 99.0)) -> Tuple[float, float]:
    """Histogram range for MR (see the module docstring)."""
    if not isinstance(policy, str):
        lo, hi = float(policy[0]), float(policy[1])
    else:
        v = np.asarray(values, dtype=np.float64)
        if policy == "percentile":
            lo, hi = (float(x) for x in np.percentile(v, percentiles))
        elif policy == "minmax":
            lo, hi = float(v.min()), float(v.max())
        else:
            raise ValueError("mr_range must be 'percentile', 'minmax' or a (lo, hi) pair")
        if not hi > lo:  # (nearly) constant intensities: widen so that np.histogram works
            lo, hi = (float(v.min()), float(v.max())) if v.max() > v.min() else (lo - 0.5, lo + 0.5)
    if not hi > lo:
        raise ValueError(f"histogram range must have hi > lo, got ({lo}, {hi})")
    return lo, hi


def regional_features_from_regions(image_zyx: np.ndarray, regions: Dict[str, np.ndarray],
                                   modality: str = "CT", mr_range="percentile",
                                   mr_percentiles=(1.0, 99.0), empty_region: str = "error",
                                   case_id: Optional[str] = None) -> Tuple[Dict[str, float], Dict[str, Any]]:
    """The 20 features from precomputed region masks; returns (features, diagnostics)."""
    if empty_region not in ("error", "nan", "reference"):
        raise ValueError("empty_region must be 'error', 'nan' or 'reference'")
    img = np.asarray(image_zyx)
    values = {k: img[regions[k]] for k in ("TC", "TIM", "PM5", "PM10")}
    diag: Dict[str, Any] = {f"diag_regional_voxels_{k}": int(v.size) for k, v in values.items()}
    tumour = regions["TC"] | regions["TIM"]
    for k in ("PM5", "PM10"):
        # margin voxels outside the tumour (in the reference definition PM also holds the tumour;
        # 0 here means the margin histogram is the tumour's own)
        diag[f"diag_regional_voxels_{k}_outside_tumour"] = int((regions[k] & ~tumour).sum())
    empty = [k for k, v in values.items() if v.size == 0]
    if empty and empty_region == "error":
        raise TumourTooSmallError(
            f"regional features: region(s) {', '.join(empty)} have no voxel "
            "(voxels: " + ", ".join(f"{k}={v.size}" for k, v in values.items()) + "); "
            "the tumour is too small or too thin for the core / margin split, or no parenchyma "
            "surrounds it", source=case_id)
    if (modality or "CT").upper() == "CT":
        rng, clip = CT_RANGE, False
    else:
        union = np.concatenate([v for v in values.values()])
        if union.size == 0:
            union = np.zeros(1)
        rng, clip = mr_value_range(union, mr_range, tuple(mr_percentiles)), True
    diag["diag_regional_range_lo"] = rng[0]
    diag["diag_regional_range_hi"] = rng[1]
    hists = {k: region_histogram(v, rng, clip=clip) for k, v in values.items()}
    out: Dict[str, float] = {}
    for a, b in PAIRS:
        res = compare_all(hists[a], hists[b])
        nan = empty_region == "nan" and (a in empty or b in empty)
        for m in MEASURES:
            out[f"regional_{a}_{b}_{m}"] = float("nan") if nan else res[m]
    return out, diag


def released_order(features: Dict[str, float]) -> List[float]:
    """The 24 values in the order of the released code's CSV rows.

    ``margin_3D_histogram`` returns [TIM-PM, TC-PM, TC-TIM] x [correlation, chi-square,
    intersection, Bhattacharyya] for d = 5, then the same 12 for d = 10 (TC-TIM twice).
    """
    out: List[float] = []
    for d in (5, 10):
        for a, b in (("TIM", f"PM{d}"), ("TC", f"PM{d}"), ("TC", "TIM")):
            out.extend(features[f"regional_{a}_{b}_{m}"] for m in MEASURES)
    return out


# ----------------------------------------------------------------------------------------------
# feature group
# ----------------------------------------------------------------------------------------------
_PAIR_TEXT = {"TC": "tumour core", "TIM": "tumour invasive margin (inner rim)",
              "PM5": "parenchymal margin within 5 mm", "PM10": "parenchymal margin within 10 mm"}
_MEASURE_TEXT = {
    "correlation": ("histogram correlation",
                    "sum((H1-m1)(H2-m2))/sqrt(sum((H1-m1)^2) sum((H2-m2)^2)); 1 if the variance "
                    "product <= DBL_EPSILON (OpenCV HISTCMP_CORREL)"),
    "chisquare": ("chi-square distance (asymmetric, first region in the denominator)",
                  "sum_{H1>0} (H1-H2)^2/H1 (OpenCV HISTCMP_CHISQR)"),
    "intersection": ("histogram intersection", "sum min(H1, H2) (OpenCV HISTCMP_INTERSECT)"),
    "bhattacharyya": ("Bhattacharyya distance",
                      "sqrt(max(1 - sum sqrt(H1 H2)/sqrt(sum H1 sum H2), 0)) "
                      "(OpenCV HISTCMP_BHATTACHARYYA)"),
}


_CROSS_TEXT = {"correlation": "reported as the angle arccos(r) (radians)",
               "chisquare": "reported as log(1 + chi2 / 0.01)",
               "intersection": "as is", "bhattacharyya": "as is"}


class RegionalFeatures(FeatureGroup):
    """The 20 regional-variation features of Wu et al. 2021 (feature group ``regional``).

    Options: ``definition`` (``"reference"`` = the released code, default; ``"3d"``;
    ``"cross-modality"``: tissue composition, see :data:`CROSS_MODALITY_DOC`),
    ``parenchyma`` (``"auto"``: supplied organ mask, else automatic by organ/modality;
    ``"supplied"``; ``"automatic"``: always compute it, ignoring a supplied one; ``"none"``: no
    restriction; or an automatic method forced by name: ``"lung"``, ``"brain"``, ``"breast"``,
    ``"soft-tissue"``), ``mr_range`` (``"percentile"``, ``"minmax"`` or ``(lo, hi)``),
    ``mr_percentiles`` ((1, 99)), ``empty_region`` (``"error"``, ``"nan"``, ``"reference"``;
    the cross-modality definition treats ``"reference"`` as ``"nan"``); cross-modality only:
    ``rim_mm`` (5, TIM width), ``pseudo_count`` (0.01 per class), ``class_box_mm`` (50, the
    surroundings that set the MR class thresholds).
    """

    name = "regional"
    prefix = "regional_"

    def __init__(self, definition: str = "reference", parenchyma: str = "auto",
                 mr_range: Union[str, Sequence[float]] = "percentile",
                 mr_percentiles: Sequence[float] = (1.0, 99.0), empty_region: str = "error",
                 rim_mm: float = 5.0, pseudo_count: float = 0.01, class_box_mm: float = 50.0):
        if definition not in DEFINITIONS:
            raise ValueError(f"definition must be one of {', '.join(DEFINITIONS)}")
        if parenchyma not in PARENCHYMA_OPTIONS:
            raise ValueError(f"parenchyma must be one of {', '.join(PARENCHYMA_OPTIONS)}")
        if not (rim_mm > 0 and pseudo_count > 0 and class_box_mm > 10):
            raise ValueError("rim_mm and pseudo_count must be > 0 and class_box_mm > 10 mm")
        if empty_region not in ("error", "nan", "reference"):
            raise ValueError("empty_region must be 'error', 'nan' or 'reference'")
        if not isinstance(mr_range, str):
            mr_range = tuple(float(x) for x in mr_range)
        elif mr_range not in ("percentile", "minmax"):
            raise ValueError("mr_range must be 'percentile', 'minmax' or a (lo, hi) pair")
        self.definition = definition
        self.parenchyma = parenchyma
        self.mr_range = mr_range
        self.mr_percentiles = tuple(float(x) for x in mr_percentiles)
        self.empty_region = empty_region
        self.rim_mm = float(rim_mm)
        self.pseudo_count = float(pseudo_count)
        self.class_box_mm = float(class_box_mm)

    def options(self) -> Dict[str, Any]:
        if self.definition == "cross-modality":
            return {"definition": self.definition, "parenchyma": self.parenchyma,
                    "empty_region": self.empty_region, "rim_mm": self.rim_mm,
                    "pseudo_count": self.pseudo_count, "class_box_mm": self.class_box_mm,
                    "ct_classes_hu": list(CT_TISSUE_HU), "classes": list(TISSUE_CLASSES),
                    "margins_mm": [5, 10]}
        return {"definition": self.definition, "parenchyma": self.parenchyma,
                "mr_range": self.mr_range if isinstance(self.mr_range, str) else list(self.mr_range),
                "mr_percentiles": list(self.mr_percentiles), "empty_region": self.empty_region,
                "ct_range": list(CT_RANGE), "bins": N_BINS, "margins_mm": [5, 10]}

    def specs(self) -> List[FeatureSpec]:
        out = []
        for a, b in PAIRS:
            for m in MEASURES:
                desc, formula = _MEASURE_TEXT[m]
                out.append(FeatureSpec(
                    name=f"regional_{a}_{b}_{m}", group="regional",
                    description=f"{desc} between the intensity histograms of the {_PAIR_TEXT[a]} "
                                f"(H1) and the {_PAIR_TEXT[b]} (H2)",
                    formula=formula + "; H = 100-bin histogram normalised to sum 1 (CT range "
                                      "-1000..500 HU; MR: 1st-99th percentile of the regions); "
                                      "definition cross-modality: H = fat / soft tissue / other "
                                      "proportions + 0.01, " + _CROSS_TEXT[m],
                    unit="", invariances="translation; rotation (3d definition; reference: in-plane only); "
                                "MR: intensity scaling (range per tumour)",
                    extra={"regions": f"{a},{b}", "measure": m}))
        return out

    def compute(self, case) -> Dict[str, Any]:
        from .regions import parenchyma_mask, tumour_regions
        from .voxel_order import case_in_lps_order

        t0 = time.perf_counter()
        case, _ = case_in_lps_order(case)   # axial slices, whatever order the file stores
        tumour = case.mask_array()
        if not tumour.any():
            raise EmptyMaskError("tumour mask has no foreground voxel", source=case.case_id)
        method = {"automatic": "auto"}.get(self.parenchyma, self.parenchyma)
        if self.parenchyma == "automatic" and case.organ_mask is not None:
            import copy

            case = copy.copy(case)
            case.organ_mask = None
            case._cache = {k: v for k, v in case._cache.items() if k != "organ"}
        par, used = parenchyma_mask(case, method=method, return_method=True)
        t1 = time.perf_counter()
        regions = tumour_regions(tumour, None if used == "none" else par, case.spacing,
                                 definition=self.definition, rim_mm=self.rim_mm)
        if self.definition == "cross-modality":
            feats, diag = cross_modality_case_features(case, regions, self.pseudo_count,
                                                       self.class_box_mm, self.empty_region)
        else:
            feats, diag = regional_features_from_regions(
                case.image_array(), regions, modality=case.modality or "CT",
                mr_range=self.mr_range, mr_percentiles=self.mr_percentiles,
                empty_region=self.empty_region, case_id=case.case_id)
        z, y, x = np.nonzero(tumour.any(axis=(1, 2)))[0], np.nonzero(tumour.any(axis=(0, 2)))[0], \
            np.nonzero(tumour.any(axis=(0, 1)))[0]
        touches = int(z[0] == 0 or z[-1] == tumour.shape[0] - 1 or y[0] == 0 or
                      y[-1] == tumour.shape[1] - 1 or x[0] == 0 or x[-1] == tumour.shape[2] - 1)
        feats.update(diag)
        feats["diag_regional_parenchyma"] = used
        feats["diag_regional_parenchyma_voxels"] = int(par.sum())
        feats["diag_regional_tumour_touches_border"] = touches
        feats["diag_regional_parenchyma_s"] = round(t1 - t0, 4)
        return feats


# ----------------------------------------------------------------------------------------------
# the cross-modality definition (tissue composition); see CROSS_MODALITY_DOC
# ----------------------------------------------------------------------------------------------
CROSS_MODALITY_DOC = """Cross-modality definition (``definition="cross-modality"``).

The released code bins absolute intensities: HU on CT, a per-tumour percentile range on MR.
Between CT and T1-weighted MR the tissue-to-intensity mapping is not even monotone (fat is the
darkest soft tissue on CT and the brightest on T1), so equal bins are different tissues and most
of the 20 features do not carry over between modalities.  This definition compares *tissue
composition* instead, with classes each modality can measure:

* regions: fixed-width 3D bands (:mod:`.regions`, ``definition="cross-modality"``): TIM = the
  tumour's outer 5 mm, TC = the rest, PM5 = 0-5 mm and PM10 = 5-10 mm shells outside the tumour
  in the parenchyma (``soft-tissue`` for tumours outside lung / brain / breast);
* three tissue classes per voxel, 0 = fat, 1 = soft tissue (muscle, tumour, fluid, vessels),
  2 = other (air, bone, calcification: dense on CT, signal voids on MR):
  CT (calibrated HU): fat = -190..-30 HU and soft tissue = -29..150 HU, the adipose and skeletal
  muscle ranges of CT body-composition analysis (Mitsiopoulos et al., J Appl Physiol 1998);
  other = below -190 or above 150 HU.  MR (no absolute scale): the classes come from the
  tumour's surroundings, the non-tumour body voxels (above 10 % of the 99th percentile) in the
  tumour's bounding box grown by ``class_box_mm`` (50 mm).  Their Otsu threshold splits them
  into two populations (on T1-weighted images fat and the other soft tissues); the medians of
  the two are the reference intensities S (soft tissue) and F (fat), and each voxel takes the
  class of the nearest reference among 0 (signal void), S and F: fat from (S + F) / 2 up, soft
  tissue from S / 2 up, other below.  The bounds scale with the image, so the classes do not
  depend on the scanner's intensity unit.  The MR rule assumes T1-like contrast (fat the
  brightest major tissue); on other sequences the three classes are still defined but mean
  bright / intermediate / dark;
* per region the class proportions p (3 bins) get a pseudo-count ``pseudo_count`` (eps = 0.01)
  per class, h = (p + eps) / (1 + 3 eps): proportions under about 1 % (a few voxels of partial
  volume or misregistration) do not dominate the ratios, and chi-square never divides by an
  empty bin;
* the four measures are OpenCV's (:func:`compare_hist`, same pairs and argument order), and two
  are reported on a scale that does not saturate: ``correlation`` is the angle arccos(r) in
  radians between the two centred histograms (0 = same shape; r of 3-bin histograms reaches 1
  exactly for different compositions, where the Fisher z is infinite), ``chisquare`` is
  log(1 + chi2 / eps) (0 = identical; a log scale above the pseudo-count's resolution: chi2 spans
  orders of magnitude).  ``intersection`` and ``bhattacharyya`` are unchanged.

The choice and the agreement it reaches on paired CT / MR data are in the README (section
"Cross-modality agreement") and ``benchmarks/agreement_bench.py``.
"""

#: CT tissue-class bounds (HU): fat [-190, -30], soft tissue (-30, 150], other outside
CT_TISSUE_HU = (-190.0, -30.0, 150.0)
TISSUE_CLASSES = ("fat", "soft_tissue", "other")


def tissue_class_thresholds(image_zyx: np.ndarray, tumour_zyx: np.ndarray,
                            spacing_xyz: Sequence[float], modality: str = "CT",
                            box_mm: float = 50.0, body_fraction: float = 0.1) -> Dict[str, float]:
    """Thresholds of the three tissue classes of the cross-modality definition.

    Returns ``{"fat_low", "fat_high", "soft_high"}`` for CT (fixed HU, :data:`CT_TISSUE_HU`);
    for MR ``{"dark", "fat"}`` (the class bounds), the two reference intensities
    ``"soft_reference"`` and ``"fat_reference"`` and ``"fat_contrast"`` (their ratio, about 3
    on T1 images with fat; near 1 means the surroundings hold no distinct fat).  See
    :data:`CROSS_MODALITY_DOC`.
    """
    if (modality or "CT").upper() == "CT":
        lo, mid, hi = CT_TISSUE_HU
        return {"fat_low": lo, "fat_high": mid, "soft_high": hi}
    from skimage.filters import threshold_otsu

    from .regions import surroundings_values

    vals = surroundings_values(image_zyx, tumour_zyx, spacing_xyz, box_mm=box_mm,
                               body_fraction=body_fraction)
    if vals.size == 0 or vals.min() == vals.max():
        raise PanCancerSubtypeError("cross-modality tissue classes: the tumour's surroundings "
                                    "hold no intensity contrast (constant or empty image)")
    split = float(threshold_otsu(vals, nbins=256))
    below, above = vals[vals < split], vals[vals >= split]
    soft = float(np.median(below)) if below.size else float(vals.min())
    fat = float(np.median(above)) if above.size else float(vals.max())
    contrast = fat / soft if soft > 0 else float("nan")
    return {"dark": 0.5 * soft, "fat": 0.5 * (soft + fat), "soft_reference": soft,
            "fat_reference": fat, "fat_contrast": contrast}


def tissue_classes(values: np.ndarray, thresholds: Dict[str, float]) -> np.ndarray:
    """Class index per value (0 fat, 1 soft tissue, 2 other) from :func:`tissue_class_thresholds`."""
    v = np.asarray(values, dtype=np.float64)
    if "fat_low" in thresholds:  # CT
        fat = (v >= thresholds["fat_low"]) & (v <= thresholds["fat_high"])
        soft = (v > thresholds["fat_high"]) & (v <= thresholds["soft_high"])
    else:
        fat = v >= thresholds["fat"]
        soft = (v >= thresholds["dark"]) & ~fat
    return np.where(fat, 0, np.where(soft, 1, 2)).astype(np.int8)


def composition_histogram(classes: np.ndarray, pseudo_count: float = 0.01) -> np.ndarray:
    """Class proportions with a pseudo-count per class: (p + eps) / (1 + K eps), K = 3."""
    k = len(TISSUE_CLASSES)
    c = np.bincount(np.asarray(classes, dtype=np.int64).ravel(), minlength=k)[:k].astype(float)
    p = c / c.sum() if c.sum() > 0 else c
    return (p + pseudo_count) / (1.0 + k * pseudo_count)


def cross_modality_measures(h1: np.ndarray, h2: np.ndarray, pseudo_count: float) -> Dict[str, float]:
    """The four measures of two composition histograms on the cross-modality scales."""
    res = compare_all(h1, h2)
    res["correlation"] = float(np.arccos(np.clip(res["correlation"], -1.0, 1.0)))
    res["chisquare"] = float(np.log1p(res["chisquare"] / pseudo_count))
    return res


def cross_modality_features_from_regions(image_zyx: np.ndarray, regions: Dict[str, np.ndarray],
                                         thresholds: Dict[str, float], pseudo_count: float = 0.01,
                                         empty_region: str = "error",
                                         case_id: Optional[str] = None
                                         ) -> Tuple[Dict[str, float], Dict[str, Any]]:
    """The 20 features of the cross-modality definition; returns (features, diagnostics)."""
    if not pseudo_count > 0:
        raise ValueError(f"pseudo_count must be > 0, got {pseudo_count}")
    img = np.asarray(image_zyx)
    values = {k: img[regions[k]] for k in ("TC", "TIM", "PM5", "PM10")}
    diag: Dict[str, Any] = {f"diag_regional_voxels_{k}": int(v.size) for k, v in values.items()}
    empty = [k for k, v in values.items() if v.size == 0]
    if empty and empty_region == "error":
        raise TumourTooSmallError(
            f"regional features (cross-modality): region(s) {', '.join(empty)} have no voxel "
            "(voxels: " + ", ".join(f"{k}={v.size}" for k, v in values.items()) + "); the "
            "tumour is too small for a core, or no parenchyma surrounds it", source=case_id)
    hists = {}
    for k, v in values.items():
        cls = tissue_classes(v, thresholds)
        hists[k] = composition_histogram(cls, pseudo_count)
        for i, name in enumerate(TISSUE_CLASSES):
            diag[f"diag_regional_{k}_{name}_fraction"] = float(np.mean(cls == i)) if v.size \
                else float("nan")
    for key, val in thresholds.items():
        diag[f"diag_regional_class_{key}"] = float(val)
    out: Dict[str, float] = {}
    for a, b in PAIRS:
        nan = a in empty or b in empty
        res = cross_modality_measures(hists[a], hists[b], pseudo_count)
        for m in MEASURES:
            out[f"regional_{a}_{b}_{m}"] = float("nan") if nan else res[m]
    return out, diag


def cross_modality_case_features(case, regions: Dict[str, np.ndarray], pseudo_count: float = 0.01,
                                 class_box_mm: float = 50.0, empty_region: str = "error"
                                 ) -> Tuple[Dict[str, float], Dict[str, Any]]:
    """The cross-modality features of a :class:`~.case.Case` from its regions (class thresholds
    from the case's image; ``empty_region`` ``"reference"`` counts as ``"nan"``)."""
    img = case.image_array()
    thr = tissue_class_thresholds(img, case.mask_array(), case.spacing,
                                  modality=case.modality or "CT", box_mm=class_box_mm)
    empty = "error" if empty_region == "error" else "nan"
    return cross_modality_features_from_regions(img, regions, thr, pseudo_count,
                                                empty_region=empty, case_id=case.case_id)
