"""Contour-perturbation reproducibility check: elastic mask perturbation and feature ICC.

``perturb_mask`` deforms a tumour mask by a random, smooth (elastic) displacement field, as the
paper did to test the features' robustness to contouring variation: a Gaussian random vector
field (three independent white-noise components smoothed with a Gaussian of
``correlation_mm``) is scaled so that the largest displacement of a boundary voxel of the mask
is ``strength_mm``; the mask's signed distance map (mm, zero half-way between voxel centres) is
resampled through the displacement (SimpleITK ``DisplacementFieldTransform``, linear
interpolation) and thresholded at zero.  Resampling the
signed distance rather than the binary mask gives a smooth sub-voxel contour.  The boundary
therefore moves by about ``strength_mm`` at most (plus half a voxel of discretisation).

``icc`` implements the Shrout & Fleiss (1979) intraclass correlations from a two-way ANOVA of an
n targets x k raters table:

* ICC(3,1), two-way mixed, consistency:  (BMS - EMS) / (BMS + (k-1) EMS)
* ICC(2,1), two-way random, absolute agreement:
  (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS) / n)
* ICC(1,1), one-way random:  (BMS - WMS) / (BMS + (k-1) WMS)

``icc_ci`` adds the confidence interval (Shrout & Fleiss 1979, McGraw & Wong 1996; the same
formulas as pingouin's ``intraclass_corr`` and R's ``psych::ICC``), from the F distribution
(``Fq(p; a, b)`` its p-quantile, alpha = 1 - confidence, q = 1 - alpha/2):

* ICC(1,1): F = BMS / WMS, df (n-1, n(k-1)); ICC(3,1): F = BMS / EMS, df (n-1, (n-1)(k-1));
  FL = F / Fq(q; df1, df2), FU = F Fq(q; df2, df1), bounds (FL - 1) / (FL + k - 1) and
  (FU - 1) / (FU + k - 1).
* ICC(2,1): Satterthwaite's degrees of freedom
  v = (k-1)(n-1) [k r Fj + n (1 + (k-1) r) - k r]^2 / ((n-1) k^2 r^2 Fj^2 + [n (1 + (k-1) r) - k r]^2)
  with r = ICC(2,1), Fj = JMS / EMS; FL = Fq(q; n-1, v), FU = Fq(q; v, n-1);
  lower = n (BMS - FL EMS) / (FL (k JMS + (kn - k - n) EMS) + n BMS),
  upper = n (FU BMS - EMS) / (k JMS + (kn - k - n) EMS + n FU BMS).

``feature_icc`` uses ICC(3,1) by default: the question is whether a feature ranks the tumours
consistently when their contours change, so a systematic shift of all perturbed values (e.g. a
perturbation that grows every mask a little) should not lower it; pass ``icc_type="2,1"`` for
absolute agreement, which does penalise such shifts.  Targets are the cases, raters the original
and each perturbed mask.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..errors import EmptyMaskError

__all__ = ["perturb_mask", "icc", "icc_ci", "feature_icc"]


def perturb_mask(mask, strength_mm: float = 2.0, seed: Optional[int] = 0,
                 correlation_mm: Optional[float] = None, margin_mm: Optional[float] = None):
    """Random smooth elastic deformation of a binary mask (see module docstring).

    Parameters
    ----------
    mask : SimpleITK.Image
        3D binary mask (non-zero = tumour).
    strength_mm : float
        Largest displacement of a boundary voxel of the mask (mm); the boundary moves by up to
        about this much (the field is smooth, so most boundary points move less).
    seed : int
        Seed of the random field (same seed -> same perturbation).
    correlation_mm : float, optional
        Standard deviation of the Gaussian smoothing of the noise (mm); default
        max(5 mm, 2.5 x strength_mm), so the contour is deformed smoothly, not made ragged.
    Returns
    -------
    SimpleITK.Image
        uint8 0/1 mask on the input grid.
    """
    import SimpleITK as sitk
    from scipy import ndimage as ndi

    if not isinstance(mask, sitk.Image):
        raise TypeError("mask must be a SimpleITK image")
    arr = sitk.GetArrayViewFromImage(mask) != 0
    if not arr.any():
        raise EmptyMaskError("mask has no foreground voxel; nothing to perturb")
    if strength_mm < 0 or not math.isfinite(strength_mm):
        raise ValueError("strength_mm must be a finite number >= 0")
    binm = sitk.GetImageFromArray(arr.astype(np.uint8))
    binm.CopyInformation(mask)
    if strength_mm == 0:
        return binm
    corr = correlation_mm if correlation_mm is not None else max(5.0, 2.5 * strength_mm)
    margin = margin_mm if margin_mm is not None else 2 * strength_mm + 3 * corr

    # work on a crop around the mask (+ margin) for speed
    sp = np.array(mask.GetSpacing(), float)
    idx = np.argwhere(arr)
    pad = np.ceil(margin / sp[::-1]).astype(int)
    lo = np.maximum(idx.min(0) - pad, 0)
    hi = np.minimum(idx.max(0) + pad + 1, np.array(arr.shape))
    crop = sitk.RegionOfInterest(binm, [int(hi[2] - lo[2]), int(hi[1] - lo[1]),
                                        int(hi[0] - lo[0])],
                                 [int(lo[2]), int(lo[1]), int(lo[0])])
    # signed distance (mm) with the zero level half-way between foreground and background voxel
    # centres: outside = distance to the nearest foreground voxel (> 0), inside = minus the
    # distance to the nearest background voxel (< 0); thresholding at 0 without displacement
    # gives back the mask exactly
    carr = sitk.GetArrayViewFromImage(crop).astype(bool)
    sp_zyx = tuple(sp[::-1])
    phi = ndi.distance_transform_edt(~carr, sampling=sp_zyx) \
        - ndi.distance_transform_edt(carr, sampling=sp_zyx)
    sdm = sitk.GetImageFromArray(phi.astype(np.float32))
    sdm.CopyInformation(crop)
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in (hi - lo))
    sigma_vox = corr / sp[::-1]
    comps = []
    for _ in range(3):
        f = ndi.gaussian_filter(rng.standard_normal(shape), sigma_vox, mode="reflect")
        comps.append(f)
    field = np.stack(comps, axis=-1)  # (z, y, x, 3): physical x, y, z displacement
    # scale: the largest displacement of a boundary voxel of the mask is strength_mm
    surf = carr & ~ndi.binary_erosion(carr, border_value=0)
    mag = float(np.sqrt((field[surf] ** 2).sum(-1)).max()) if surf.any() else 0.0
    if mag > 0:
        field *= strength_mm / mag
    disp = sitk.GetImageFromArray(field.astype(np.float64), isVector=True)
    disp.CopyInformation(crop)
    tx = sitk.DisplacementFieldTransform(disp)
    warped = sitk.Resample(sdm, crop, tx, sitk.sitkLinear, float(margin + 1e3), sitk.sitkFloat32)
    w = sitk.GetArrayFromImage(warped) < 0
    out = np.zeros(arr.shape, np.uint8)
    out[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))] = w
    if not out.any():  # a tiny tumour can vanish: keep the original
        out = arr.astype(np.uint8)
    res = sitk.GetImageFromArray(out)
    res.CopyInformation(mask)
    return res


def _anova(x: np.ndarray):
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
    return bms, jms, ems, wms


def icc(x, icc_type: str = "3,1") -> float:
    """Intraclass correlation of an (n targets x k raters) table (Shrout & Fleiss 1979).

    ``icc_type``: ``"3,1"`` (two-way mixed, consistency), ``"2,1"`` (two-way random, absolute
    agreement) or ``"1,1"`` (one-way random).  Rows with a missing value are dropped.  Returns NaN
    when fewer than 2 complete targets remain or when all values are identical.
    """
    return icc_ci(x, icc_type)[0]


def _icc_type(icc_type: str) -> str:
    for canonical, names in (("3,1", ("3,1", "ICC3", "3")), ("2,1", ("2,1", "ICC2", "2")),
                             ("1,1", ("1,1", "ICC1", "1"))):
        if icc_type in names:
            return canonical
    raise ValueError(f"unknown icc_type {icc_type!r}; use '3,1', '2,1' or '1,1'")


def icc_ci(x, icc_type: str = "3,1", confidence: float = 0.95):
    """``(icc, lower, upper)``: the intraclass correlation of :func:`icc` and its confidence
    interval (two-sided, ``confidence`` level; formulas in the module docstring).

    NaN bounds when the ICC is NaN or the interval is undefined (e.g. no residual variance).
    """
    from scipy.stats import f as f_dist

    kind = _icc_type(icc_type)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError("icc needs an (n targets x k >= 2 raters) table")
    x = x[np.all(np.isfinite(x), axis=1)]
    n, k = x.shape
    nan = float("nan")
    if n < 2:
        return nan, nan, nan
    bms, jms, ems, wms = _anova(x)
    r = _icc_value(kind, n, k, bms, jms, ems, wms)
    if not np.isfinite(r):
        return r, nan, nan
    q = 1.0 - (1.0 - confidence) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind in ("1,1", "3,1"):
            f_obs = bms / (wms if kind == "1,1" else ems)
            df2 = n * (k - 1) if kind == "1,1" else (n - 1) * (k - 1)
            fl = f_obs / f_dist.ppf(q, n - 1, df2)
            fu = f_obs * f_dist.ppf(q, df2, n - 1)
            lo, hi = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
        else:
            fj = jms / ems
            a = n * (1 + (k - 1) * r) - k * r
            v = ((k - 1) * (n - 1) * (k * r * fj + a) ** 2
                 / ((n - 1) * k ** 2 * r ** 2 * fj ** 2 + a ** 2))
            fl = f_dist.ppf(q, n - 1, v)
            fu = f_dist.ppf(q, v, n - 1)
            c = k * jms + (k * n - k - n) * ems
            lo = n * (bms - fl * ems) / (fl * c + n * bms)
            hi = n * (fu * bms - ems) / (c + n * fu * bms)
    lo, hi = float(lo), float(hi)
    return r, (lo if np.isfinite(lo) else nan), (hi if np.isfinite(hi) else nan)


def _icc_value(kind: str, n: int, k: int, bms: float, jms: float, ems: float, wms: float) -> float:
    if kind == "3,1":
        den = bms + (k - 1) * ems
        num = bms - ems
    elif kind == "2,1":
        den = bms + (k - 1) * ems + k * (jms - ems) / n
        num = bms - ems
    else:
        den = bms + (k - 1) * wms
        num = bms - wms
    if den == 0:
        return float("nan")
    return float(num / den)


def _default_feature_fn(case) -> Dict[str, Any]:
    from ..features import CROSS_MODALITY_GROUPS, available_groups, extract_features

    groups = [g for g in CROSS_MODALITY_GROUPS if g in available_groups()] or available_groups()
    if not groups:
        raise RuntimeError("no feature group is available; pass feature_fn")
    return extract_features(case, groups=groups)


def feature_icc(cases, feature_fn: Optional[Callable[[Any], Dict[str, Any]]] = None,
                n_perturb: int = 1, strength_mm: float = 2.0, seed: int = 0,
                icc_type: str = "3,1", correlation_mm: Optional[float] = None,
                return_values: bool = False, ci: Optional[float] = None):
    """ICC of every feature between original and elastically perturbed tumour masks.

    Parameters
    ----------
    cases : sequence of ``Case`` (or of SimpleITK masks)
        The targets of the ICC (at least 2; the paper used 100 patients).  A single case is
        accepted only with ``n_perturb`` >= 1 and then yields NaN ICCs (no between-target
        variance can be estimated).
    feature_fn : callable
        ``feature_fn(item) -> dict`` where ``item`` is the case with its mask replaced by the
        original or perturbed mask (a ``Case`` for ``Case`` input, a mask for mask input).  Default:
        :func:`PanCancerSubtypeLib.features.extract_features` with the cross-modality groups that
        are installed.  Non-numeric values are ignored.
    n_perturb : int
        Perturbed versions per case; raters = original + ``n_perturb`` perturbations.
    strength_mm, correlation_mm, seed
        Passed to :func:`perturb_mask` (case i, perturbation j uses seed ``seed + 1000 i + j``).

    Returns
    -------
    pandas.Series of ICC per feature (name ``icc_<type>``); with ``ci`` (a confidence level,
    e.g. 0.95) a DataFrame with columns ``icc_<type>``, ``ci_low``, ``ci_high`` instead (see
    :func:`icc_ci`); with ``return_values`` also the long table of values (case, rater, feature
    columns).
    """
    import pandas as pd

    if feature_fn is None:
        feature_fn = _default_feature_fn
    if hasattr(cases, "mask") and hasattr(cases, "image"):
        cases = [cases]
    elif not isinstance(cases, (list, tuple)):
        try:
            import SimpleITK as sitk

            if isinstance(cases, sitk.Image):
                cases = [cases]
        except ImportError:  # pragma: no cover
            pass
    cases = list(cases)
    if not cases:
        raise ValueError("feature_icc needs at least one case")
    if n_perturb < 1:
        raise ValueError("n_perturb must be >= 1")
    rows: List[Dict[str, Any]] = []
    for i, c in enumerate(cases):
        is_case = hasattr(c, "mask") and hasattr(c, "image")
        base_mask = c.mask if is_case else c
        masks = [base_mask] + [perturb_mask(base_mask, strength_mm, seed=seed + 1000 * i + j,
                                            correlation_mm=correlation_mm)
                               for j in range(n_perturb)]
        cid = getattr(c, "case_id", f"case{i}")
        for r, m in enumerate(masks):
            item = dataclasses.replace(c, mask=m, _cache={}) if is_case else m
            vals = feature_fn(item)
            row = {"case": cid, "rater": "original" if r == 0 else f"perturbed{r}"}
            for k, v in vals.items():
                if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                    row[k] = float(v)
            rows.append(row)
    df = pd.DataFrame(rows)
    feats = [c for c in df.columns if c not in ("case", "rater")
             and not c.startswith("diag_")]
    out = {}
    nan3 = (float("nan"),) * 3
    for f in feats:
        table = df.pivot(index="case", columns="rater", values=f)
        out[f] = (icc_ci(table.to_numpy(), icc_type, ci if ci is not None else 0.95)
                  if len(table) >= 2 else nan3)
    name = f"icc_{icc_type.replace(',', '_')}"
    if ci is not None:
        s = pd.DataFrame.from_dict(out, orient="index", columns=[name, "ci_low", "ci_high"],
                                   dtype=float)
    else:
        s = pd.Series({f: v[0] for f, v in out.items()}, name=name, dtype=float)
    return (s, df) if return_values else s
