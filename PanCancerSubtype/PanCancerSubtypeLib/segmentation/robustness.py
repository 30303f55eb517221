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

``icc`` is the Shrout & Fleiss (1979) intraclass correlation of :mod:`PanCancerSubtypeLib.reliability` (its one
home: ICC(3,1) / (2,1) / (1,1), with the 95% confidence interval on request, ``ci=True``),
re-exported here.

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
from ..reliability import icc

__all__ = ["perturb_mask", "icc", "feature_icc"]


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


def _default_feature_fn(case) -> Dict[str, Any]:
    from ..features import CROSS_MODALITY_GROUPS, available_groups, extract_features

    groups = [g for g in CROSS_MODALITY_GROUPS if g in available_groups()] or available_groups()
    if not groups:
        raise RuntimeError("no feature group is available; pass feature_fn")
    return extract_features(case, groups=groups)


def feature_icc(cases, feature_fn: Optional[Callable[[Any], Dict[str, Any]]] = None,
                n_perturb: int = 1, strength_mm: float = 2.0, seed: int = 0,
                icc_type: str = "3,1", correlation_mm: Optional[float] = None,
                return_values: bool = False):
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
    pandas.Series of ICC per feature (name ``icc_<type>``); with ``return_values`` also the
    long table of values (case, rater, feature columns).
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
    for f in feats:
        table = df.pivot(index="case", columns="rater", values=f)
        out[f] = icc(table.to_numpy(), icc_type) if len(table) >= 2 else float("nan")
    s = pd.Series(out, name=f"icc_{icc_type.replace(',', '_')}", dtype=float)
    return (s, df) if return_values else s
