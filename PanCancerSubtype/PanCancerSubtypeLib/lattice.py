"""Masks on one voxel lattice: :func:`pasted_on_lattice` puts a mask whose voxels are a block of
a reference grid (the same spacing and direction, its origin a whole number of voxels away) onto
that grid, exactly: a DICOM SEG whose frames are some slices of its series, a 3D Slicer
``.seg.nrrd`` cropped to its segments.  Used by :mod:`.io` and :mod:`.dicomseg` (it imports
neither)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import SimpleITK as sitk

__all__ = ["pasted_on_lattice"]


def pasted_on_lattice(mask: sitk.Image, reference: sitk.Image, rtol: float = 1e-4
                      ) -> Optional[sitk.Image]:
    """``mask`` copied into ``reference``'s grid when it lies on the same voxel lattice (spacing
    and direction equal to ``rtol``, origin within 1e-3 voxel of a whole number of voxels away)
    with every foreground voxel inside it; else None.  No interpolation: voxel for voxel."""
    if not (np.allclose(mask.GetSpacing(), reference.GetSpacing(), rtol=rtol)
            and np.allclose(mask.GetDirection(), reference.GetDirection(), atol=rtol)):
        return None
    off_xyz = np.asarray(reference.TransformPhysicalPointToContinuousIndex(mask.GetOrigin()))
    if np.max(np.abs(off_xyz - np.rint(off_xyz))) > 1e-3:
        return None
    off = np.rint(off_xyz).astype(int)[::-1]                        # z, y, x
    m = sitk.GetArrayViewFromImage(mask)
    shape = np.array(sitk.GetArrayViewFromImage(reference).shape)
    fg = np.argwhere(m != 0)
    if len(fg) and (np.any(fg.min(0) + off < 0) or np.any(fg.max(0) + off >= shape)):
        return None                          # foreground outside the grid: not a paste
    out = np.zeros(shape, dtype=m.dtype)
    lo = np.maximum(off, 0)
    hi = np.minimum(off + np.array(m.shape), shape)
    if np.all(hi > lo):
        out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = m[
            lo[0] - off[0]:hi[0] - off[0], lo[1] - off[1]:hi[1] - off[1],
            lo[2] - off[2]:hi[2] - off[2]]
    placed = sitk.GetImageFromArray(out)
    placed.CopyInformation(reference)
    return placed
