"""Seed points, background points and boxes in physical LPS mm -> voxel indices (private to
segmentation; :func:`seeds_to_indices` is public through :mod:`.semiauto`)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ImageDimensionError

__all__ = ["seeds_to_indices", "bbox_to_slices", "check_scalar_3d"]


def check_scalar_3d(image, source: Optional[str] = None) -> None:
    """TypeError / ImageDimensionError unless ``image`` is a 3D scalar SimpleITK image."""
    import SimpleITK as sitk

    if not isinstance(image, sitk.Image):
        raise TypeError("image must be a SimpleITK image")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageDimensionError(f"a 3D scalar image is needed (got {image.GetDimension()}D "
                                  f"with {image.GetNumberOfComponentsPerPixel()} component(s))",
                                  source=source)


def seeds_to_indices(image, seeds_lps_mm, source: Optional[str] = None, what: str = "seed point"):
    """Physical LPS seed points (mm) -> voxel indices (x, y, z); error if outside the image."""
    pts = np.atleast_2d(np.asarray(seeds_lps_mm, dtype=float))
    if pts.size == 0:
        raise ValueError(f"at least one {what} is needed")
    if pts.shape[1] != image.GetDimension():
        raise ValueError(f"{what}s must have {image.GetDimension()} coordinates (x, y, z in "
                         f"LPS mm), got {pts.shape[1]}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{what}s must be finite numbers")
    size = np.array(image.GetSize())
    out = []
    for p in pts:
        cidx = np.array(image.TransformPhysicalPointToContinuousIndex([float(v) for v in p]))
        idx = np.round(cidx).astype(int)
        if np.any(idx < 0) or np.any(idx >= size):
            lo = image.TransformIndexToPhysicalPoint([0] * image.GetDimension())
            hi = image.TransformIndexToPhysicalPoint([int(s) - 1 for s in size])
            raise ValueError(
                f"{source + ': ' if source else ''}{what} {tuple(np.round(p, 2))} (LPS mm) "
                f"lies outside the image (voxel index {tuple(idx)}, image size {tuple(size)}, "
                f"physical extent from {tuple(np.round(lo, 1))} to {tuple(np.round(hi, 1))})")
        out.append(tuple(int(v) for v in idx))
    return out


def bbox_to_slices(image, bbox, source: Optional[str] = None):
    """bbox (x0,y0,z0,x1,y1,z1) in LPS mm -> index slices (z, y, x) clipped to the image (the
    index-space box holding the physical box's eight corners)."""
    b = np.asarray(bbox, dtype=float).ravel()
    if b.size != 6:
        raise ValueError("bbox must have 6 numbers x0,y0,z0,x1,y1,z1 (LPS mm)")
    if not np.all(np.isfinite(b)):
        raise ValueError("bbox must be finite numbers")
    corners = []
    for x in (b[0], b[3]):
        for y in (b[1], b[4]):
            for z in (b[2], b[5]):
                corners.append(image.TransformPhysicalPointToContinuousIndex((x, y, z)))
    corners = np.array(corners)
    lo = np.floor(corners.min(0)).astype(int)
    hi = np.ceil(corners.max(0)).astype(int) + 1
    size = np.array(image.GetSize())
    lo = np.clip(lo, 0, size)
    hi = np.clip(hi, 0, size)
    if np.any(hi <= lo):
        raise ValueError(f"{source + ': ' if source else ''}bounding box {tuple(b)} does not "
                         f"overlap the image")
    return tuple(slice(int(lo[d]), int(hi[d])) for d in (2, 1, 0))
