"""The voxel-order rule (one home): an image's voxels in LPS order, as an exact permutation and
flip of its array (``SimpleITK.DICOMOrient``), and back; a grid's voxels stored in another
order recognised as the same grid.  The click segmentation, the automatic parenchyma, the
tumour regions and the regional features work in LPS order (slices are axial), so the same scan
stored in another order (a RAS NIfTI file, a sagittal series) gives the same result."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import SimpleITK as sitk

from .io import same_geometry

__all__ = ["LPSOrder", "case_in_lps_order", "in_lps_order", "orientation_code", "reordered_onto"]


def orientation_code(img: sitk.Image) -> str:
    """The orientation code of ``img``'s voxel order (e.g. "LPS", "RAS")."""
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(img.GetDirection())


def reordered_onto(img: sitk.Image, like: sitk.Image) -> Optional[sitk.Image]:
    """``img`` on ``like``'s grid when it is the same grid with the voxels stored in another
    order (e.g. a RAS NIfTI file of an LPS DICOM series: ``DICOMOrient`` to ``like``'s
    orientation, an exact permutation and flip), else None."""
    code = orientation_code(like)
    if code == orientation_code(img) or sorted(img.GetSize()) != sorted(like.GetSize()):
        return None                     # (the same grid has the same sizes, in some order)
    try:
        out = sitk.DICOMOrient(img, code)
    except RuntimeError:        # no valid orientation code (never expected)
        return None
    if not same_geometry(out, like):
        return None
    out.CopyInformation(like)
    return out


class LPSOrder:
    """An image's voxels in LPS order (as :func:`in_lps_order` stores them) as index arithmetic,
    without a copy of the image: LPS axis ``j`` (x, y, z) is the stored axis ``perm[j]``,
    reversed where ``flip[j]`` (``DICOMOrientImageFilter``'s permutation and flips, taken from a
    2 x 2 x 2 image of the same direction).  Index tuples and slices here are (z, y, x), as
    NumPy arrays of the images are.  The identity for an image in LPS order or one that
    ``DICOMOrient`` cannot put in LPS order (:func:`in_lps_order` leaves it as it is)."""

    def __init__(self, image: sitk.Image):
        self.size = tuple(int(n) for n in image.GetSize())            # stored, x y z
        self.perm, self.flip = (0, 1, 2), (False, False, False)
        if orientation_code(image) != "LPS":
            probe = sitk.Image([2] * image.GetDimension(), sitk.sitkUInt8)
            probe.SetDirection(image.GetDirection())
            f = sitk.DICOMOrientImageFilter()
            f.SetDesiredCoordinateOrientation("LPS")
            try:
                out = f.Execute(probe)
            except RuntimeError:        # no valid orientation code (never expected)
                out = None
            if out is not None and orientation_code(out) == "LPS":
                self.perm = tuple(int(v) for v in f.GetPermuteOrder())
                self.flip = tuple(bool(v) for v in f.GetFlipAxes())
        self.spacing = tuple(float(image.GetSpacing()[k]) for k in self.perm)    # LPS, x y z
        self.shape = tuple(self.size[self.perm[j]] for j in (2, 1, 0))           # LPS, z y x

    @property
    def identity(self) -> bool:
        return self.perm == (0, 1, 2) and not any(self.flip)

    def to_lps(self, index_xyz) -> np.ndarray:
        """A stored voxel index (x, y, z) as an LPS index (z, y, x)."""
        out = []
        for j in range(3):
            v = int(index_xyz[self.perm[j]])
            out.append(self.size[self.perm[j]] - 1 - v if self.flip[j] else v)
        return np.array(out[::-1])

    def to_stored(self, index_zyx) -> List[int]:
        """An LPS index (z, y, x) as the stored voxel index (x, y, z)."""
        out = [0, 0, 0]
        for j, v in enumerate(np.asarray(index_zyx, int)[::-1]):
            out[self.perm[j]] = self.size[self.perm[j]] - 1 - int(v) if self.flip[j] else int(v)
        return out

    def _axis_slices(self, region_zyx, to_lps: bool):
        """Slices (z, y, x) of one order as slices (z, y, x) of the other."""
        out = [slice(0, 0)] * 3
        for j in range(3):              # LPS axis j (x, y, z) is stored axis k
            k = self.perm[j]
            src, dst = (2 - k, 2 - j) if to_lps else (2 - j, 2 - k)    # (z, y, x) positions
            a, b, n = region_zyx[src].start, region_zyx[src].stop, self.size[k]
            out[dst] = slice(int(n - b), int(n - a)) if self.flip[j] else slice(int(a), int(b))
        return tuple(out)

    def lps_slices(self, stored_zyx):
        """Index slices (z, y, x) of the stored image as slices of the LPS order."""
        return self._axis_slices(stored_zyx, True)

    def stored_slices(self, lps_zyx):
        """Index slices (z, y, x) of the LPS order as slices of the stored image."""
        return self._axis_slices(lps_zyx, False)

    def part(self, image: sitk.Image, lps_zyx) -> sitk.Image:
        """The part ``lps_zyx`` (slices of the LPS order) of ``image`` (on the grid this order
        was made from), its voxels in LPS order: only that part is copied."""
        xyz = tuple(self.stored_slices(lps_zyx)[::-1])
        whole = all(r.start == 0 and r.stop == n for r, n in zip(xyz, image.GetSize()))
        part = image if whole else image[xyz]
        return part if self.identity else sitk.DICOMOrient(part, "LPS")

    def to_stored_array(self, arr_lps: np.ndarray) -> np.ndarray:
        """An array (z, y, x) in LPS order in the stored order (a view)."""
        for j in range(3):
            if self.flip[j]:
                arr_lps = np.flip(arr_lps, axis=2 - j)
        return np.transpose(arr_lps, [2 - self.perm.index(2 - n) for n in range(3)])

    def paste(self, part_lps: np.ndarray, lps_zyx, image: sitk.Image) -> sitk.Image:
        """A uint8 image on ``image``'s grid, 0 but for the part ``lps_zyx`` (slices of the
        LPS order), which holds ``part_lps`` (z, y, x, LPS order); pasted in place: one
        full-size image."""
        part = sitk.GetImageFromArray(np.ascontiguousarray(
            self.to_stored_array(np.asarray(part_lps, np.uint8))))
        if part.GetSize() == image.GetSize():       # the whole image
            part.CopyInformation(image)
            return part
        out = sitk.Image(image.GetSize(), sitk.sitkUInt8)
        out.CopyInformation(image)
        out[tuple(self.stored_slices(lps_zyx)[::-1])] = part
        return out


def in_lps_order(image: sitk.Image) -> sitk.Image:
    """``image`` with its voxels stored in LPS order (the index axes x, y, z running towards
    the patient's left, posterior and superior: ``SimpleITK.DICOMOrient``, an exact
    permutation and flip of the voxel array; the physical image is the same; a result on it
    goes back with :func:`reordered_onto`).  An image already in LPS order, or one that
    ``DICOMOrient`` cannot put in LPS order (an oblique image half-way between two orders), is
    returned as it is."""
    if orientation_code(image) == "LPS":
        return image
    try:
        work = sitk.DICOMOrient(image, "LPS")
    except RuntimeError:        # no valid orientation code (never expected)
        return image
    return work if orientation_code(work) == "LPS" else image


def case_in_lps_order(case):
    """``(case_lps, order)``: a copy of the :class:`~.case.Case` with its image, tumour mask and
    organ mask stored in LPS order (:func:`in_lps_order`; nothing cached), and the
    :class:`LPSOrder` whose ``to_stored_array`` takes an array of it back to the stored order.
    The case itself when it is already in LPS order."""
    import copy

    order = LPSOrder(case.image)
    if order.identity:
        return case, order
    out = copy.copy(case)
    out.image = in_lps_order(case.image)
    out.mask = in_lps_order(case.mask)
    out.organ_mask = None if case.organ_mask is None else in_lps_order(case.organ_mask)
    out._cache = {}
    return out, order
