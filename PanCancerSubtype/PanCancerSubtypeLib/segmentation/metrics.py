"""Segmentation evaluation: Dice, Jaccard, Hausdorff distance (95th percentile), volume difference.

All distances are in mm (the images' physical spacing is used), volumes in mL.

Hausdorff 95 follows the convention of MONAI's ``compute_hausdorff_distance(percentile=95)`` and of
the BraTS challenge: the *surface* of a mask is its foreground voxels that have at least one
6-connected background neighbour (the image border counts as background); for every surface voxel
of A the Euclidean distance (mm, voxel centres) to the nearest surface voxel of B is taken, and
vice versa; HD95 = max(95th percentile of A->B, 95th percentile of B->A).  ``HD`` (max) is the
same with the maximum instead of the 95th percentile (equal to SimpleITK's
``HausdorffDistanceImageFilter`` up to its use of all foreground voxels instead of surfaces).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..errors import (EmptyMaskError, GeometryMismatchError, LabelNotFoundError,
                      format_numbers)

__all__ = ["dice", "dice_arrays", "jaccard", "jaccard_arrays", "hausdorff95", "hausdorff_distance", "volume_difference",
           "evaluate_segmentation", "surface_distances"]


def _as_sitk(img, what: str):
    import SimpleITK as sitk

    if isinstance(img, sitk.Image):
        return img
    if isinstance(img, (str, bytes)) or hasattr(img, "__fspath__"):
        from ..io import read_image

        return read_image(img, check=False)
    raise TypeError(f"{what} must be a SimpleITK image or a file path, not {type(img).__name__}")


def _binary(mask, label, what: str, source: Optional[str] = None) -> np.ndarray:
    """Binary array (z, y, x) of ``mask``: ``label`` value(s), or any non-zero voxel."""
    import SimpleITK as sitk

    arr = sitk.GetArrayViewFromImage(mask)
    if label is None:
        return np.asarray(arr != 0)
    labels = [label] if np.isscalar(label) else list(label)
    out = np.isin(arr, labels)
    if not out.any() and arr.any():
        raise LabelNotFoundError(labels, np.unique(arr[arr != 0])[:20].tolist(),
                                 source=source or what)
    return out


def _check_same_grid(a, b, names=("prediction", "reference"), tol: float = 1e-4) -> None:
    if a.GetSize() != b.GetSize():
        raise GeometryMismatchError(
            f"{names[0]} size {a.GetSize()} differs from {names[1]} size {b.GetSize()}; resample "
            f"the {names[0]} onto the {names[1]} grid first", source=names[0])
    for attr in ("GetSpacing", "GetOrigin", "GetDirection"):
        va, vb = np.asarray(getattr(a, attr)()), np.asarray(getattr(b, attr)())
        scale = max(1.0, float(np.abs(vb).max()))
        if not np.allclose(va, vb, atol=tol * scale, rtol=0):
            raise GeometryMismatchError(
                f"{names[0]} {attr[3:].lower()} {format_numbers(va, 5)} differs from {names[1]} "
                f"{format_numbers(vb, 5)}", source=names[0])


def _surface(m: np.ndarray) -> np.ndarray:
    """Foreground voxels with a 6-connected background neighbour (image border = background)."""
    from scipy import ndimage as ndi

    if not m.any():
        return m.copy()
    eroded = ndi.binary_erosion(m, structure=ndi.generate_binary_structure(m.ndim, 1),
                                border_value=0)
    return m & ~eroded


def surface_distances(a: np.ndarray, b: np.ndarray, spacing_zyx: Sequence[float]):
    """Directed surface distances (mm): (dist from each surface voxel of a to surface of b, b->a).

    Computed by an exact Euclidean distance transform (scipy) on the bounding box of a | b.
    """
    from scipy import ndimage as ndi

    both = a | b
    idx = np.argwhere(both)
    lo = np.maximum(idx.min(0) - 1, 0)
    hi = np.minimum(idx.max(0) + 2, np.array(a.shape))
    sl = tuple(slice(int(l), int(h)) for l, h in zip(lo, hi))
    # surfaces on the full grid (so the image border counts), then crop
    sa, sb = _surface(a)[sl], _surface(b)[sl]
    da = ndi.distance_transform_edt(~sb, sampling=spacing_zyx)[sa]
    db = ndi.distance_transform_edt(~sa, sampling=spacing_zyx)[sb]
    return da, db


def _prep(pred, ref, label, ref_label, names=("prediction", "reference")):
    pred = _as_sitk(pred, names[0])
    ref = _as_sitk(ref, names[1])
    if pred.GetDimension() != ref.GetDimension():
        raise GeometryMismatchError(f"{names[0]} and {names[1]} have different dimensions",
                                    source=names[0])
    _check_same_grid(pred, ref, names)
    a = _binary(pred, label, names[0])
    b = _binary(ref, ref_label if ref_label is not None else label, names[1])
    spacing_zyx = tuple(reversed(pred.GetSpacing()))
    return a, b, spacing_zyx


def dice_arrays(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) of two boolean arrays (1.0 when both are empty)."""
    s = int(a.sum()) + int(b.sum())
    if s == 0:
        return 1.0
    return 2.0 * float(np.logical_and(a, b).sum()) / s


def dice(pred, ref, label=None, ref_label=None) -> float:
    """Dice coefficient 2|A∩B| / (|A|+|B|) of two masks on the same grid (1.0 when both empty)."""
    a, b, _ = _prep(pred, ref, label, ref_label)
    return dice_arrays(a, b)


def jaccard_arrays(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index |A∩B| / |A∪B| of two boolean arrays (1.0 when both are empty); equals
    D / (2 - D) for the Dice coefficient D."""
    inter = float(np.logical_and(a, b).sum())
    union = float(a.sum()) + float(b.sum()) - inter
    return 1.0 if union == 0 else inter / union


def jaccard(pred, ref, label=None, ref_label=None) -> float:
    """Jaccard index |A∩B| / |A∪B| of two masks on the same grid (1.0 when both empty)."""
    a, b, _ = _prep(pred, ref, label, ref_label)
    return jaccard_arrays(a, b)


def _hd(pred, ref, label, ref_label, percentile: Optional[float]) -> float:
    a, b, sp = _prep(pred, ref, label, ref_label)
    if not a.any() or not b.any():
        which = "prediction" if not a.any() else "reference"
        raise EmptyMaskError("mask has no foreground voxel; Hausdorff distance is undefined",
                             source=which)
    da, db = surface_distances(a, b, sp)
    if percentile is None:
        return float(max(da.max(), db.max()))
    return float(max(np.percentile(da, percentile), np.percentile(db, percentile)))


def hausdorff95(pred, ref, label=None, ref_label=None) -> float:
    """95th-percentile symmetric surface Hausdorff distance in mm (see module docstring)."""
    return _hd(pred, ref, label, ref_label, 95.0)


def hausdorff_distance(pred, ref, label=None, ref_label=None) -> float:
    """Maximum symmetric surface Hausdorff distance in mm."""
    return _hd(pred, ref, label, ref_label, None)


def volume_difference(pred, ref, label=None, ref_label=None) -> Dict[str, float]:
    """Volumes of prediction and reference (mL) and their difference pred - ref (mL and % of ref)."""
    return _volumes(*_prep(pred, ref, label, ref_label))


def _volumes(a: np.ndarray, b: np.ndarray, spacing_zyx) -> Dict[str, float]:
    voxel_ml = float(np.prod(spacing_zyx)) / 1000.0
    va, vb = float(a.sum()) * voxel_ml, float(b.sum()) * voxel_ml
    return {
        "volume_pred_ml": va,
        "volume_ref_ml": vb,
        "volume_diff_ml": va - vb,
        "volume_diff_pct": (100.0 * (va - vb) / vb) if vb > 0 else float("nan"),
    }


def evaluate_segmentation(pred, ref, label=None, ref_label=None,
                          names=("prediction", "reference")) -> Dict[str, Any]:
    """All metrics of a predicted mask against a reference mask on the same grid.

    Returns ``dice``, ``jaccard``, ``hd95_mm``, ``hd_max_mm``, ``assd_mm`` (average symmetric
    surface distance), ``volume_pred_ml``, ``volume_ref_ml``, ``volume_diff_ml``,
    ``volume_diff_pct``, ``n_pred`` / ``n_ref`` voxels.  Distances are NaN when either mask is
    empty.  ``label``: value(s) selecting the foreground (default: any non-zero voxel);
    ``ref_label`` the same for the reference when it differs.  ``names``: how errors name the
    two masks (the command line gives their files).
    """
    a, b, sp = _prep(pred, ref, label, ref_label, names)
    out: Dict[str, Any] = {"dice": dice_arrays(a, b), "jaccard": jaccard_arrays(a, b)}
    if a.any() and b.any():
        da, db = surface_distances(a, b, sp)
        out["hd95_mm"] = float(max(np.percentile(da, 95), np.percentile(db, 95)))
        out["hd_max_mm"] = float(max(da.max(), db.max()))
        out["assd_mm"] = float((da.sum() + db.sum()) / (da.size + db.size))
    else:
        out["hd95_mm"] = out["hd_max_mm"] = out["assd_mm"] = float("nan")
    out.update(_volumes(a, b, sp))
    out.update({"n_pred": int(a.sum()), "n_ref": int(b.sum())})
    return out
