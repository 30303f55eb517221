"""The ``shape`` feature group: 293 SPHARM descriptors per tumour (Wu et al., Nat Mach Intell 2021).

293 = the spec's "most plausible reading" of the paper.  ``C`` are the complex (``Y_l^m``,
Condon-Shortley phase, as SPHARM-MAT) coefficients of the FOE-aligned object
(:attr:`.decomposition.SpharmResult.complex_coef_aligned`), ``R`` the mean radius (mm):

* ``shape_coef_l{l}_m{m}`` (255; l = 1..15, m = -l..l): ``sqrt(|C_x|^2 + |C_y|^2 + |C_z|^2) / R``.
  The authors' code leaves these in mm; the paper calls the descriptors scale invariant, so they
  are divided by ``R`` here (size is kept in the burden features).  The coordinates are real
  functions, so ``C_{l,-m} = (-1)^m conj(C_{l,m})`` and ``shape_coef_l{l}_m{-m}`` equals
  ``shape_coef_l{l}_m{m}`` exactly: the 255 columns hold only 135 distinct values (m = 0..l for
  each degree).  All 255 are kept for the paper's count of 293 and the authors' layout; an
  analysis should use one of each pair (or weigh the pairs accordingly).
* ``shape_energy_l{l}`` (15): Frobenius norm of degree l's (2l+1) x 3 coefficients / R (irregularity).
* ``shape_entropy_l{l}`` (15): ``-sum_m p_m log(p_m + 1e-5)``, ``p_m`` = share of degree l's
  squared norm in order m (symmetry: how evenly the degree's energy spreads over directions).
* ``shape_scale_norm_{1,2,3}``: ``sqrt(sum_m |C_{1,m,k}|^2 / 3) / R`` for k = x, y, z of the aligned
  object (ascending).  For an ellipsoid with semi-axis a along k this is ``a * sqrt(4 pi / 9)``
  (SPHARM-MAT's ``shapeScale``); the semi-axes themselves are ``diag_shape_foe_semi_axis_mm_*``.
* burden (5): ``shape_volume_mm3`` (voxel count x voxel volume, every piece of the mask),
  ``shape_radius_mm`` (R, of the largest piece),
  ``shape_scale_mm_{1,2,3}`` (the three scales above in mm).

``R`` is the mean distance of the surface from its centroid: area-weighted over the surface in
robust mode, the plain vertex mean (SPHARM-MAT's ``radius``) in reference mode
(:func:`.mesh.mean_radius`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ..registry import FeatureGroup, FeatureSpec
from . import basis as B
from .decomposition import (DEFAULT_MAX_DEGREE, INTERPOLATIONS, LOW_RESOLUTION_EXTENT, MODES,
                            SpharmResult, spharm_decompose)

__all__ = ["ShapeFeatures", "shape_feature_names", "shape_descriptors", "low_resolution_note"]


# ----------------------------------------------------------------------------- descriptors
def shape_feature_names(max_degree: int = DEFAULT_MAX_DEGREE) -> List[str]:
    L = int(max_degree)
    names = [f"shape_coef_l{l}_m{m}" for l in range(1, L + 1) for m in range(-l, l + 1)]
    names += [f"shape_energy_l{l}" for l in range(1, L + 1)]
    names += [f"shape_entropy_l{l}" for l in range(1, L + 1)]
    names += [f"shape_scale_norm_{i}" for i in (1, 2, 3)]
    names += ["shape_volume_mm3", "shape_radius_mm"]
    names += [f"shape_scale_mm_{i}" for i in (1, 2, 3)]
    return names


def shape_descriptors(result: SpharmResult) -> Dict[str, float]:
    """The 293 descriptors (for ``max_degree`` 15) of a :class:`SpharmResult`, ordered."""
    L = result.max_degree
    C = result.complex_coef_aligned
    P2 = np.abs(C) ** 2                                     # (L+1)^2 x 3
    R = result.radius_mm
    out: Dict[str, float] = {}
    for l in range(1, L + 1):
        for m in range(-l, l + 1):
            out[f"shape_coef_l{l}_m{m}"] = float(np.sqrt(P2[B.index(l, m)].sum()) / R)
    rows = [P2[l * l:(l + 1) ** 2].sum(axis=1) for l in range(L + 1)]
    for l in range(1, L + 1):
        out[f"shape_energy_l{l}"] = float(np.sqrt(rows[l].sum()) / R)
    for l in range(1, L + 1):
        tot = rows[l].sum()
        p = rows[l] / tot if tot > 0 else np.full(2 * l + 1, 1.0 / (2 * l + 1))
        out[f"shape_entropy_l{l}"] = float(-(p * np.log(p + 1e-5)).sum())
    scale = np.sqrt(P2[1:4].sum(axis=0) / 3.0)             # x, y, z of the aligned object
    for i in range(3):
        out[f"shape_scale_norm_{i + 1}"] = float(scale[i] / R)
    out["shape_volume_mm3"] = float(result.volume_mm3)
    out["shape_radius_mm"] = float(R)
    for i in range(3):
        out[f"shape_scale_mm_{i + 1}"] = float(scale[i])
    return out


# ----------------------------------------------------------------------------- user note
def low_resolution_note(rows) -> Optional[str]:
    """One line for the user naming the tumours flagged ``low_resolution`` (fewer than
    ``LOW_RESOLUTION_EXTENT`` voxels along some axis), or None when there are none.  ``rows``:
    (case ID, diagnostics) pairs, diagnostics either ``SpharmResult.diagnostics`` or a feature row
    (``diag_shape_*`` keys; values may be strings after a CSV round trip)."""
    def flag(d):
        v = d.get("low_resolution", d.get("diag_shape_low_resolution"))
        return str(v).strip().lower() in ("true", "1", "1.0")

    def extent(d):
        v = d.get("min_extent_voxels", d.get("diag_shape_min_extent_voxels"))
        try:
            return f"{int(float(v))}"
        except (TypeError, ValueError):
            return "?"

    low = [f"{cid} ({extent(d)})" for cid, d in rows if flag(d)]
    if not low:
        return None
    return (f"{len(low)} tumour(s) fewer than {LOW_RESOLUTION_EXTENT} voxels thick along some "
            f"axis (diag_shape_low_resolution; voxels in brackets): " + ", ".join(low) +
            ". Re-digitising such a tumour alone changes its degree 2-15 shape energies by "
            "6-10%: compare their shape features with care.")


# ----------------------------------------------------------------------------- feature group
_INV_NORM = "translation, rotation, scale"


def _specs(max_degree: int) -> List[FeatureSpec]:
    L = int(max_degree)
    g = "shape"
    note = (" Part of the 293 SPHARM descriptors in the spec's most plausible reading of Wu et "
            "al. 2021 (255 magnitudes + 15 energies + 15 entropies + 3 normalised scales + 5 "
            "burden features).")
    specs: List[FeatureSpec] = []
    for l in range(1, L + 1):
        for m in range(-l, l + 1):
            twin = (f" Equal to shape_coef_l{l}_m{-m} (|c(l,-m)| = |c(l,m)| for the real x, y, z "
                    f"functions): the 255 magnitudes hold only 135 distinct values."
                    if m != 0 else "")
            specs.append(FeatureSpec(
                f"shape_coef_l{l}_m{m}", g,
                f"SPHARM coefficient magnitude, degree {l}, order {m}, FOE-aligned, divided by "
                f"the mean radius (the authors' code leaves it in mm)." + twin + note,
                f"sqrt(|c_x,{l},{m}|^2 + |c_y,{l},{m}|^2 + |c_z,{l},{m}|^2) / R "
                f"(complex Y_l^m coefficients)", "", _INV_NORM))
    for l in range(1, L + 1):
        specs.append(FeatureSpec(
            f"shape_energy_l{l}", g,
            f"Normalised energy of SPHARM degree {l} (shape irregularity at that frequency)."
            + note, f"||C_{l}||_F / R over the (2*{l}+1) x 3 coefficients", "", _INV_NORM))
    for l in range(1, L + 1):
        specs.append(FeatureSpec(
            f"shape_entropy_l{l}", g,
            f"Entropy of degree {l}'s energy over its orders m (shape symmetry / directional "
            f"expansion)." + note,
            f"-sum_m p_m log(p_m + 1e-5), p_m = sum_xyz |c_{l},m|^2 / ||C_{l}||_F^2", "",
            _INV_NORM))
    for i in (1, 2, 3):
        specs.append(FeatureSpec(
            f"shape_scale_norm_{i}", g,
            f"First-order-ellipsoid scale {i} (ascending) divided by the mean radius "
            f"(= semi-axis x sqrt(4 pi/9) / R)." + note,
            "sqrt(sum_m |c_k,1,m|^2 / 3) / R, k = axis " + str(i), "", _INV_NORM))
    specs.append(FeatureSpec("shape_volume_mm3", g, "Tumour volume (burden), of the whole mask "
                             "(every piece; the surface features describe the largest piece: "
                             "diag_shape_topology_fix says what share was left out)." + note,
                             "number of mask voxels x voxel volume", "mm3",
                             "translation, rotation"))
    specs.append(FeatureSpec("shape_radius_mm", g,
                             "Mean distance of the surface from its centroid (burden; robust: "
                             "area-weighted, reference: vertex mean)." + note,
                             "R = mean |x - centroid| over the surface", "mm",
                             "translation, rotation"))
    for i in (1, 2, 3):
        specs.append(FeatureSpec(
            f"shape_scale_mm_{i}", g,
            f"First-order-ellipsoid scale {i} (ascending) in mm (burden; SPHARM-MAT shapeScale "
            f"= semi-axis x sqrt(4 pi/9))." + note,
            "sqrt(sum_m |c_k,1,m|^2 / 3)", "mm", "translation, rotation"))
    return specs


class ShapeFeatures(FeatureGroup):
    """Feature group ``shape``: the 293 SPHARM descriptors (columns ``shape_*``).

    Options: ``mode`` (``"robust"`` default, or ``"reference"``), ``max_degree`` (15; other values
    change the number of columns), ``min_voxels`` (8), ``rel_step`` (robust mesh step relative
    to the equivalent radius, 1/20), ``min_vertices`` (reference, 10,000), ``interpolation``
    (robust: ``"linear"`` default or ``"shape"``, see :func:`spharm_decompose`; CLI
    ``--set shape.interpolation=shape``).  Diagnostic columns
    ``diag_shape_*`` (mode, parameterisation, bijectivity, topology fix, vertex count, area
    distortion, fit residual, FOE semi-axes, ``min_extent_voxels`` and ``low_resolution``) are
    added to each row.  ``low_resolution`` is true when the tumour spans fewer than
    ``LOW_RESOLUTION_EXTENT`` (5) voxels along some axis (e.g. 3 slices of 5 mm): re-digitising
    such a tumour at a sub-voxel offset already changes its degree 2..15 energies (README,
    SPHARM section), so its high-degree descriptors carry little beyond the digitisation; filter
    or down-weight them in an analysis.
    """

    name = "shape"
    prefix = "shape_"

    def __init__(self, mode: str = "robust", max_degree: int = DEFAULT_MAX_DEGREE,
                 min_voxels: int = 8, rel_step: float = 1.0 / 20.0, min_vertices: int = 10000,
                 interpolation: str = "linear"):
        if mode not in MODES:
            raise ValueError(f"shape mode must be one of {MODES}, got {mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"shape interpolation must be one of {INTERPOLATIONS}, got "
                             f"{interpolation!r}")
        self.interpolation = interpolation
        self.mode = mode
        self.max_degree = int(max_degree)
        self.min_voxels = int(min_voxels)
        self.rel_step = float(rel_step)
        self.min_vertices = int(min_vertices)

    def options(self) -> Dict[str, Any]:
        return {"mode": self.mode, "max_degree": self.max_degree, "min_voxels": self.min_voxels,
                "rel_step": self.rel_step, "min_vertices": self.min_vertices,
                "interpolation": self.interpolation}

    def specs(self) -> List[FeatureSpec]:
        return _specs(self.max_degree)

    def decompose(self, case) -> SpharmResult:
        import SimpleITK as sitk

        mask = case.mask
        arr = sitk.GetArrayViewFromImage(mask)
        return spharm_decompose(arr, mask.GetSpacing(), mode=self.mode,
                                max_degree=self.max_degree, origin=mask.GetOrigin(),
                                direction=mask.GetDirection(), source=case.case_id,
                                min_voxels=self.min_voxels, rel_step=self.rel_step,
                                min_vertices=self.min_vertices,
                                interpolation=self.interpolation)

    def compute(self, case) -> Dict[str, Any]:
        res = self.decompose(case)
        out: Dict[str, Any] = dict(shape_descriptors(res))
        for k, v in res.diagnostics.items():
            out[f"diag_shape_{k}"] = v
        return out
