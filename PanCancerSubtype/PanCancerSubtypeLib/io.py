"""Image and mask input/output.

Readers
-------
* images: NRRD (``.nrrd``/``.nhdr``), NIfTI (``.nii``/``.nii.gz``), MetaImage (``.mha``/``.mhd``), any
  other format SimpleITK reads, and a DICOM series folder (the series with the most slices, or the one
  named by ``series_uid``);
* masks: a label image in any of those formats (select one label or a set, ``"1,3,4"``), a Slicer
  segmentation ``.seg.nrrd`` (a segment by name, or by label value), a DICOM RTSTRUCT (an ROI by
  name, rasterised onto the image grid), or a DICOM SEG (a segment by label or number;
  :mod:`.dicomseg`).

File integrity
--------------
ITK's NIfTI reader fills the missing voxels of a truncated ``.nii`` / ``.nii.gz`` with zeros and
silently replaces a sheared (non-orthogonal) ``sform`` by an orthogonal one, so the NIfTI header is
read here first: a file holding fewer bytes than ``vox_offset + voxels x bytes per voxel``, and a
non-orthogonal ``sform``, are rejected (NRRD and MetaImage readers reject truncated files
themselves).  Every image and mask must have an orthonormal direction matrix (a sheared grid would
change volumes and distances) and positive spacing (:class:`~.errors.InvalidGeometryError`).

Labels (one rule for every command, the cohort runner and the Slicer batch script)
---------------------------------------------------------------------------------
:data:`LABEL_RULE`: with no label given, a mask with a single non-zero value uses it; a mask with
several uses label 1 when present (PyRadiomics' default; a warning names the others), and is
rejected otherwise with the labels present, so that the user chooses (``--label 2`` or
``--label 2,5``).  A ``.seg.nrrd`` / RTSTRUCT with a single segment / ROI uses it; with several, one
must be named.

Geometry
--------
A mask must lie on the image's voxel grid.  When its grid differs (size, origin, spacing or direction
beyond 1e-4 relative), it is resampled onto the image grid with nearest-neighbour interpolation if the
two physical extents overlap (``geometry="resample"``, the default), and rejected with a
:class:`~.errors.GeometryMismatchError` that prints both geometries otherwise (or always, with
``geometry="strict"``).  A tumour mask with foreground voxels outside the image is rejected too
(resampling would cut the tumour); an organ mask is cut with a warning (``outside="warn"``).

Writing
-------
:func:`write_image` writes atomically (temporary file + rename, umask permissions) in the single-file
formats of :data:`IMAGE_WRITE_EXTENSIONS`; :func:`check_image_output` checks a path before any work.

Errors (all name the file): :class:`~.errors.UnreadableFileError` (missing / unreadable file),
:class:`~.errors.ImageDimensionError` (not a 3D scalar volume, or a single slice),
:class:`~.errors.InvalidImageValuesError` (NaN / infinite voxels), :class:`~.errors.LabelNotFoundError`
(none of the requested labels / segment / ROI), :class:`~.errors.EmptyMaskError` (no foreground),
:class:`~.errors.GeometryMismatchError`, :class:`~.errors.InvalidGeometryError`,
:class:`~.errors.UsageError` (an output path of an unknown image format).

Coordinates are SimpleITK's: physical points in LPS millimetres; NumPy arrays from
``sitk.GetArrayFromImage`` are indexed ``[z, y, x]``.
"""
from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import SimpleITK as sitk

from .errors import (EmptyMaskError, GeometryMismatchError, ImageDimensionError,
                     InvalidGeometryError, InvalidImageValuesError, LabelNotFoundError,
                     UnreadableFileError, plain_number)
from .case import Case
from .dicom import (dicom_series_uid, is_rtstruct, rasterise_rtstruct,  # noqa: F401
                    read_dicom_series, rtstruct_roi_names)
from .dicomseg import is_dicom_seg, read_dicom_seg
from .lattice import pasted_on_lattice

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
LabelSpec = Union[None, int, str, Sequence[int]]

#: relative tolerance used to decide that two grids are the same
GEOMETRY_RTOL = 1e-4
#: largest |D^T D - I| entry accepted for a direction matrix D (NIfTI stores float32 quaternions)
ORTHONORMAL_ATOL = 1e-4

#: the default-label rule, as the commands' ``--label`` help says it
LABEL_RULE = ("default: the mask's only label; with several, label 1 when present (PyRadiomics' "
              "default), else an error listing the labels")

#: extensions :func:`write_image` writes (single-file formats: the write is atomic)
IMAGE_WRITE_EXTENSIONS = (".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".mha")


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------
def read_image(path: PathLike, series_uid: Optional[str] = None, check: bool = True) -> sitk.Image:
    """Read a 3D scalar image from a file or a DICOM series folder.

    With ``check=True`` the image must be 3D with more than one slice and free of NaN / inf.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableFileError("file or folder does not exist", source=path)
    try:
        if path.is_dir():
            img = read_dicom_series(path, series_uid)
        else:
            check_nifti_header(path)
            img = sitk.ReadImage(str(path))
    except (UnreadableFileError, InvalidGeometryError):
        raise
    except RuntimeError as exc:
        raise UnreadableFileError(f"cannot be read as an image ({_itk_reason(exc)})",
                                  source=path) from None
    if check:
        check_image(img, source=str(path))
    return img


def _itk_reason(exc: BaseException) -> str:
    """The informative line of an ITK exception: the innermost NRRD reason when there is one,
    else the ITK ERROR line without its object address."""
    import re

    lines = [m.strip() for m in str(exc).strip().splitlines() if m.strip()]
    nrrd = [m for m in lines if m.startswith("[nrrd]") and not m.rstrip().endswith((":", "trouble"))]
    if nrrd:
        detail = nrrd[-1][len("[nrrd]"):].strip()
    else:
        detail = next((m for m in lines if "rror" in m or "annot" in m), lines[-1] if lines else "")
    detail = re.sub(r"^.*?ERROR:\s*\w+\(0x[0-9a-f]+\):\s*", "", detail)
    return detail[:200]


def check_volume(img: sitk.Image, source: Optional[str] = None) -> None:
    """Raise ImageDimensionError unless ``img`` is a 3D scalar volume of more than one voxel
    along each axis (a single slice is 2D)."""
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageDimensionError(
            f"image has {img.GetNumberOfComponentsPerPixel()} components per voxel; "
            "a scalar (grey-level) image is required", source=source)
    if img.GetDimension() != 3:
        raise ImageDimensionError(f"image is {img.GetDimension()}D; a 3D volume is required",
                                  source=source)
    if min(img.GetSize()) < 2:
        raise ImageDimensionError(f"image has size {img.GetSize()} (a single slice, i.e. 2D); a 3D "
                                  "volume is required", source=source)


def check_image(img: sitk.Image, source: Optional[str] = None) -> None:
    """Raise if ``img`` is not a 3D scalar volume with finite values."""
    check_volume(img, source)
    check_grid(img, source=source)
    if img.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        arr = sitk.GetArrayViewFromImage(img)
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0][::-1])
            raise InvalidImageValuesError(
                f"image has {int(bad.sum())} NaN/infinite voxel(s) (first at index x,y,z={idx})",
                source=source)


def check_grid(img: sitk.Image, source: Optional[str] = None) -> None:
    """Raise :class:`~.errors.InvalidGeometryError` unless the spacing is positive and finite and
    the direction matrix orthonormal (``|D^T D - I| <= ORTHONORMAL_ATOL``)."""
    sp = np.asarray(img.GetSpacing(), dtype=float)
    if not (np.all(np.isfinite(sp)) and np.all(sp > 0)):
        raise InvalidGeometryError(f"voxel spacing {tuple(float(v) for v in sp)} is not positive",
                                   source=source)
    n = img.GetDimension()
    d = np.asarray(img.GetDirection(), dtype=float).reshape(n, n)
    err = np.abs(d.T @ d - np.eye(n)).max() if np.all(np.isfinite(d)) else np.inf
    if err > ORTHONORMAL_ATOL:
        cols = d / np.maximum(np.linalg.norm(d, axis=0), 1e-12)
        ang = np.degrees(np.arccos(np.clip(np.abs(cols.T @ cols), 0, 1)))
        worst = float(np.min(ang[~np.eye(n, dtype=bool)])) if n > 1 else 90.0
        raise InvalidGeometryError(
            f"the direction matrix {tuple(round(float(v), 6) for v in d.ravel())} is not "
            f"orthonormal (axes {worst:.2f} degrees apart instead of 90, or not of unit length): "
            f"a sheared grid would distort volumes and distances", source=source)


def _nifti_fields(hdr: bytes):
    """(endian, version, dim, bitpix, vox_offset, sform_code, srow 3x4) of a NIfTI-1/2 header, or
    None when ``hdr`` is not one."""
    for e in "<>":
        size = struct.unpack(e + "i", hdr[:4])[0]
        if size == 348 and len(hdr) >= 348:
            dim = struct.unpack(e + "8h", hdr[40:56])
            bitpix = struct.unpack(e + "h", hdr[72:74])[0]
            vox_offset = struct.unpack(e + "f", hdr[108:112])[0]
            sform = struct.unpack(e + "h", hdr[254:256])[0]
            srow = np.asarray(struct.unpack(e + "12f", hdr[280:328]), float).reshape(3, 4)
            magic = hdr[344:348]
            return 1, dim, bitpix, vox_offset, sform, srow, magic
        if size == 540 and len(hdr) >= 540:
            bitpix = struct.unpack(e + "h", hdr[14:16])[0]
            dim = struct.unpack(e + "8q", hdr[16:80])
            vox_offset = struct.unpack(e + "q", hdr[168:176])[0]
            sform = struct.unpack(e + "i", hdr[348:352])[0]
            srow = np.asarray(struct.unpack(e + "12d", hdr[400:496]), float).reshape(3, 4)
            magic = hdr[4:8]
            return 2, dim, bitpix, vox_offset, sform, srow, magic
    return None


def _gunzipped_size(path: Path, enough: int) -> int:
    """Bytes a gzip file decompresses to (counting stops at ``enough``); a truncated or corrupt
    stream counts what could be decompressed.

    Fast path: the gzip trailer's ISIZE (the size modulo 2**32) equal to ``enough`` is trusted
    (a cut file ends in compressed data, which matches by chance with probability 2**-32);
    anything else (a cut file, extra bytes, several gzip members) is decompressed and counted.
    """
    size = path.stat().st_size
    if size >= 18:
        with open(path, "rb") as fh:
            fh.seek(size - 4)
            if struct.unpack("<I", fh.read(4))[0] == enough % (1 << 32):
                return enough
    have = 0
    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as fh:
        while have < enough:
            buf = fh.read(1 << 20)
            if not buf:
                break
            try:
                while buf and have < enough:
                    have += len(dec.decompress(buf))
                    buf = b""
                    if dec.eof:  # a multi-member gzip file: the next member follows
                        buf = dec.unused_data
                        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            except zlib.error:
                break
    return have


def check_nifti_header(path: PathLike) -> None:
    """Reject a truncated single-file NIfTI (``.nii`` / ``.nii.gz``) or one with a
    non-orthogonal ``sform`` (see the module doc); other files pass unchanged."""
    path = Path(path)
    name = path.name.lower()
    gz = name.endswith(".nii.gz")
    if not (gz or name.endswith(".nii")):
        return
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as fh:
            hdr = fh.read(540)
    except (OSError, EOFError) as exc:
        raise UnreadableFileError(f"cannot be read as a NIfTI file ({exc})", source=path) from None
    if len(hdr) < 348:
        raise UnreadableFileError(f"file is truncated: {len(hdr)} bytes, less than a NIfTI header",
                                  source=path)
    fields = _nifti_fields(hdr)
    if fields is None:
        return  # not a NIfTI header: SimpleITK reports what it is
    version, dim, bitpix, vox_offset, sform, srow, magic = fields
    if not magic.startswith(b"n+"):
        return  # a .hdr/.img pair named .nii: the data are elsewhere
    ndim = int(dim[0]) if 1 <= int(dim[0]) <= 7 else 3
    nvox = 1
    for v in dim[1:ndim + 1]:
        nvox *= max(int(v), 1)
    need = int(vox_offset) + nvox * max(int(bitpix), 1) // 8
    if gz:
        have = _gunzipped_size(path, need)
    else:
        have = path.stat().st_size
    if have < need:
        raise UnreadableFileError(
            f"file is truncated: the NIfTI header describes {nvox} voxels of {bitpix} bits "
            f"({need} bytes with the header) but the file holds {have} bytes"
            + (" once decompressed" if gz else ""), source=path)
    if sform > 0:
        m = srow[:, :3]
        norms = np.linalg.norm(m, axis=0)
        if np.all(norms > 0):
            c = m / norms
            if np.abs(c.T @ c - np.eye(3)).max() > ORTHONORMAL_ATOL:
                raise InvalidGeometryError(
                    "the NIfTI sform matrix is not orthogonal (a sheared grid); ITK would replace "
                    "it by an orthogonal one and distort volumes and distances", source=path)


def guess_modality(img: sitk.Image) -> str:
    """``"CT"`` or ``"MR"``: the DICOM Modality tag if present, else from the values.

    CT when the image holds Hounsfield-like air (>= 1 % of the voxels <= -900), or, for a CT
    cropped inside the body (a limb, the abdomen: little or no air), the two tissues of CT
    around 0 HU: at least 5 % of the voxels in -200..-30 (fat, partial-volume lung) and at least
    20 % in -30..200 (water and soft tissue).  An MR magnitude image has no values below zero,
    and a normalised one (z-scores) none below -30; MR otherwise.  (A CT stored without its
    rescale, HU + 1024, reads as MR: give the modality.)"""
    if img.HasMetaDataKey("0008|0060"):
        m = img.GetMetaData("0008|0060").strip().upper()
        if m in ("CT", "MR"):
            return m
    arr = sitk.GetArrayViewFromImage(img)
    sample = arr.ravel()[:: max(1, arr.size // 200_000)]
    if np.mean(sample <= -900) >= 0.01:
        return "CT"
    fat = np.mean((sample >= -200) & (sample < -30))
    soft = np.mean((sample >= -30) & (sample <= 200))
    return "CT" if fat >= 0.05 and soft >= 0.20 else "MR"


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
def describe_geometry(img: sitk.Image) -> str:
    fmt = lambda v: "(" + ", ".join(f"{x:.4g}" for x in v) + ")"  # noqa: E731
    return (f"size={tuple(img.GetSize())} spacing={fmt(img.GetSpacing())} "
            f"origin={fmt(img.GetOrigin())} direction={fmt(img.GetDirection())}")


def same_geometry(a: sitk.Image, b: sitk.Image, rtol: float = GEOMETRY_RTOL) -> bool:
    if a.GetDimension() != b.GetDimension() or tuple(a.GetSize()) != tuple(b.GetSize()):
        return False
    sp = np.asarray(a.GetSpacing())
    if not np.allclose(sp, b.GetSpacing(), rtol=rtol, atol=0):
        return False
    if not np.allclose(a.GetOrigin(), b.GetOrigin(), rtol=0, atol=rtol * float(sp.max()) * 10):
        return False
    return np.allclose(a.GetDirection(), b.GetDirection(), rtol=0, atol=rtol)


def physical_bounds(img: sitk.Image) -> Tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounding box (LPS mm) of the image's voxel extent (voxel edges included)."""
    size = np.asarray(img.GetSize())
    corners = []
    for c in range(8):
        idx = [(-0.5 if (c >> d) & 1 == 0 else size[d] - 0.5) for d in range(3)]
        corners.append(img.TransformContinuousIndexToPhysicalPoint(idx))
    corners = np.asarray(corners)
    return corners.min(0), corners.max(0)


def voxels_outside(mask: sitk.Image, reference: sitk.Image) -> Tuple[int, int]:
    """(foreground voxels of ``mask`` whose centre lies outside ``reference``'s voxel extent,
    all foreground voxels)."""
    arr = sitk.GetArrayViewFromImage(mask)
    zs = np.nonzero(arr.reshape(arr.shape[0], -1).any(axis=1))[0]
    if not len(zs):
        return 0, 0
    m = np.asarray(mask.GetDirection(), float).reshape(3, 3) * np.asarray(mask.GetSpacing())
    r = np.asarray(reference.GetDirection(), float).reshape(3, 3) * np.asarray(reference.GetSpacing())
    to_ref = np.linalg.inv(r) @ m  # mask index -> reference continuous index
    shift = np.linalg.inv(r) @ (np.asarray(mask.GetOrigin()) - np.asarray(reference.GetOrigin()))
    hi = np.asarray(reference.GetSize(), float) - 0.5 + 1e-3
    lo = -0.5 - 1e-3
    # the foreground's bounding box first: when its 8 corners are inside, every voxel is
    ys = np.nonzero(arr.any(axis=(0, 2)))[0]
    xs = np.nonzero(arr.any(axis=(0, 1)))[0]
    corners = np.array([[x, y, z] for x in (xs[0], xs[-1]) for y in (ys[0], ys[-1])
                        for z in (zs[0], zs[-1])], float)
    c = corners @ to_ref.T + shift
    total = int(np.count_nonzero(arr))
    if np.all((c >= lo) & (c <= hi)):
        return 0, total
    out = 0
    for z in zs:  # slice by slice: bounded memory for large (organ) masks
        yy, xx = np.nonzero(arr[z])
        idx = np.stack([xx, yy, np.full_like(xx, z)], axis=1).astype(float)
        c = idx @ to_ref.T + shift
        out += int(np.count_nonzero(np.any((c < lo) | (c > hi), axis=1)))
    return out, total


def align_to_reference(mask: sitk.Image, reference: sitk.Image, geometry: str = "resample",
                       source: Optional[str] = None, outside: str = "error") -> sitk.Image:
    """Return ``mask`` on ``reference``'s grid (see module doc).

    ``outside``: what happens when foreground voxels of ``mask`` lie outside ``reference``:
    ``"error"`` (:class:`~.errors.GeometryMismatchError`, for tumours) or ``"warn"`` (cut, for
    organ masks)."""
    if geometry not in ("resample", "strict"):
        raise ValueError("geometry must be 'resample' or 'strict'")
    if outside not in ("error", "warn"):
        raise ValueError("outside must be 'error' or 'warn'")
    if same_geometry(mask, reference):
        out = sitk.Image(mask)
        out.CopyInformation(reference)
        return out
    pasted = pasted_on_lattice(mask, reference)
    if pasted is not None:      # a crop of the same voxel lattice (Slicer's .seg.nrrd): exact
        return pasted
    lo1, hi1 = physical_bounds(mask)
    lo2, hi2 = physical_bounds(reference)
    overlap = bool(np.all(np.minimum(hi1, hi2) > np.maximum(lo1, lo2)))
    both = (f"mask grid: {describe_geometry(mask)}; image grid: {describe_geometry(reference)}")
    if geometry == "strict" or not overlap:
        why = "the physical extents do not overlap" if not overlap else "geometry='strict'"
        raise GeometryMismatchError(f"mask is on a different grid than the image and {why}; "
                                    + both, source=source)
    n_out, n_all = voxels_outside(mask, reference)
    if n_out:
        msg = (f"{n_out} of the mask's {n_all} foreground voxels lie outside the image, so "
               f"resampling would cut them off; " + both)
        if outside == "error":
            raise GeometryMismatchError(msg, source=source)
        log.warning("%s: %s", source, msg)
    log.warning("%s: mask resampled (nearest neighbour) onto the image grid; %s", source, both)
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                         mask.GetPixelID())


# --------------------------------------------------------------------------------------------
# masks
# --------------------------------------------------------------------------------------------
def parse_label(label: LabelSpec) -> Tuple[Optional[List[int]], Optional[str]]:
    """Split a label spec into (label values, name).  ``"1,3,4"`` -> ([1,3,4], None);
    ``"GTV-1"`` -> (None, "GTV-1"); ``None`` -> (None, None)."""
    if label is None:
        return None, None
    if isinstance(label, (int, np.integer)):
        return [int(label)], None
    if isinstance(label, str):
        s = label.strip()
        if s == "" or s.lower() == "nan":
            return None, None
        parts = [p.strip() for p in s.split(",") if p.strip()]
        try:
            return [int(float(p)) for p in parts], None
        except ValueError:
            return None, s
    if isinstance(label, float):
        if np.isnan(label):
            return None, None
        return [int(label)], None
    return [int(v) for v in label], None


def read_mask(path: PathLike, label: LabelSpec = None, reference: Optional[sitk.Image] = None,
              geometry: str = "resample", outside: str = "error") -> sitk.Image:
    """Read a tumour (or organ) mask as a uint8 0/1 image.

    ``label``: a value, ``"1,3,4"``, a list of values, or a name (segment of a ``.seg.nrrd``, ROI of
    an RTSTRUCT).  ``None``: the module's label rule (:data:`LABEL_RULE`).
    ``reference``: the image whose grid the mask must be on (required for RTSTRUCT);
    ``geometry`` / ``outside``: see :func:`align_to_reference`.
    """
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise UnreadableFileError("mask file does not exist", source=path)
    values, name = parse_label(label)
    if path.name.lower().endswith(".seg.nrrd"):
        mask = _read_seg_nrrd(path, values, name)
        check_grid(mask, source=src)
    elif is_dicom_seg(path):  # DICOM SEG: a segment by label or number (see dicomseg.py)
        mask = read_dicom_seg(path, values, name, reference=reference)
        check_grid(mask, source=src)
    elif is_rtstruct(path):
        if reference is None:
            raise UnreadableFileError(
                "an RTSTRUCT has no voxel grid of its own: it is read with the image it was drawn "
                "on (features, regions, agreement); convert it to a label map (e.g. in 3D "
                "Slicer) for a command without an image", source=src)
        mask = rasterise_rtstruct(path, reference, roi=name if name else None)
    else:
        img = read_image(path, check=False)
        if img.GetNumberOfComponentsPerPixel() != 1 or img.GetDimension() != 3:
            check_image(img, source=src)
        check_grid(img, source=src)
        if name is not None:
            raise LabelNotFoundError([name], _present_labels(img), source=src, what="label")
        mask = select_labels(img, values, source=src)
    if reference is not None:
        mask = align_to_reference(mask, reference, geometry=geometry, source=src, outside=outside)
    if not _any(mask):
        raise EmptyMaskError("mask is empty on the image grid"
                             + (" after resampling" if reference is not None else ""), source=src)
    return mask


def _present_labels(img: sitk.Image) -> List[int]:
    arr = sitk.GetArrayViewFromImage(img)
    return [int(v) for v in np.unique(arr) if v != 0][:50]


def _any(img: sitk.Image) -> bool:
    return bool(np.any(sitk.GetArrayViewFromImage(img)))


def select_labels(img: sitk.Image, values: Optional[Sequence[int]], source: Optional[str] = None
                  ) -> sitk.Image:
    """Binary uint8 mask of the voxels whose value is in ``values`` (see :func:`read_mask`)."""
    arr = sitk.GetArrayViewFromImage(img)
    present = np.unique(arr)
    present_nz = [v for v in present.tolist() if v != 0]
    if not present_nz:
        raise EmptyMaskError("mask has no foreground voxel", source=source)
    hint = ""
    if values is None:  # the label rule (module doc, LABEL_RULE)
        if len(present_nz) == 1:
            values = [present_nz[0]]
        else:
            values = [1]
            if 1 in present_nz:
                log.warning("%s: mask has labels %s and none was selected; using label 1 "
                            "(PyRadiomics' default)", source, present_nz[:10])
            else:
                hint = ("no label was given and the mask has several labels but no 1 (the "
                        "default); choose with --label (e.g. --label %s or --label %s)"
                        % (plain_number(present_nz[0]),
                           ",".join(str(plain_number(v)) for v in present_nz[:5])))
    hit = [v for v in values if v in present_nz]
    if not hit:
        raise LabelNotFoundError(values, [plain_number(v) for v in present_nz[:50]],
                                 source=source, hint=hint)
    out = sitk.GetImageFromArray(np.isin(arr, hit).astype(np.uint8))
    out.CopyInformation(img)
    return out


def _read_seg_nrrd(path: Path, values: Optional[List[int]], name: Optional[str]) -> sitk.Image:
    import slicerio

    try:
        seg = slicerio.read_segmentation(str(path))
    except Exception as exc:
        raise UnreadableFileError(f"cannot be read as a Slicer segmentation ({exc})",
                                  source=path) from None
    segments = seg.get("segments", [])
    utf8 = _utf8_segment_names(path)
    for s in segments:   # pynrrd drops a header's non-ASCII letters; Slicer writes UTF-8
        s["name"] = utf8.get(str(s.get("id")), s.get("name"))
    names = [s.get("name") for s in segments]
    if name is not None:
        chosen = [s for s in segments if s.get("name") == name or s.get("id") == name]
        if not chosen:
            raise LabelNotFoundError([name], names, source=str(path), what="segment")
    elif values is not None:
        chosen = [s for s in segments if int(s.get("labelValue", 1)) in values]
        if not chosen:
            raise LabelNotFoundError(values, [s.get("labelValue") for s in segments],
                                     source=str(path), what="segment label value")
        if len({s.get("layer", 0) for s in chosen}) > 1:
            # overlapping segments are stored in layers, each counting its values from 1
            raise LabelNotFoundError(
                values, [f"{s.get('name')} (layer {s.get('layer', 0)}, value "
                         f"{s.get('labelValue', 1)})" for s in segments], source=str(path),
                head=f"label value(s) {values} name {len(chosen)} segments in different "
                     f"layers", hint="this segmentation stores overlapping segments in layers, "
                     "each numbering its segments from 1: choose the segment by its name")
    else:
        if len(segments) != 1:
            raise LabelNotFoundError([], names, source=str(path), what="segment", hint=(
                f"the segmentation holds {len(segments)} segments: choose one by its name"))
        chosen = segments
    voxels = seg["voxels"]
    m = np.zeros(voxels.shape[-3:], dtype=bool)
    for s in chosen:
        m |= slicerio.segment_mask(seg, s)
    # slicerio returns (i, j, k) order and an ijkToLPS matrix
    ijk_to_lps = np.asarray(seg["ijkToLPS"], dtype=float)
    return _image_from_ijk(m.astype(np.uint8), ijk_to_lps)


def _utf8_segment_names(path: Path) -> Dict[str, str]:
    """``{segment ID as pynrrd reads it: segment name}`` from the header of the .seg.nrrd at
    ``path`` read as UTF-8 (3D Slicer's encoding; pynrrd decodes headers as ASCII and drops the
    other letters: "Tumör" became "Tumr")."""
    import re

    head = b""
    with open(path, "rb") as f:
        while len(head) < (64 << 20):
            chunk = f.read(1 << 16)
            head += chunk
            if not chunk or b"\n\n" in head or b"\n\r\n" in head:
                break
    fields: Dict[str, Dict[str, str]] = {}
    for line in head.split(b"\n"):
        if not line.strip():
            break
        m = re.match(rb"Segment(\d+)_(ID|Name):=(.*)$", line.rstrip(b"\r"))
        if m:
            fields.setdefault(m.group(1).decode(), {})[m.group(2).decode()] = \
                m.group(3).decode("utf-8", "replace")
    return {f["ID"].encode("ascii", "ignore").decode(): f["Name"] for f in fields.values()
            if "ID" in f and "Name" in f}


def _image_from_ijk(arr_ijk: np.ndarray, ijk_to_lps: np.ndarray) -> sitk.Image:
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(arr_ijk, (2, 1, 0))))
    m = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    direction = m / spacing
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(v) for v in direction.ravel()])
    img.SetOrigin([float(v) for v in ijk_to_lps[:3, 3]])
    return img


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------
def load_case(image: Union[PathLike, sitk.Image], mask: Union[PathLike, sitk.Image],
              label: LabelSpec = None, organ_mask: Union[None, PathLike, sitk.Image] = None,
              organ_label: LabelSpec = None, modality: Optional[str] = None,
              organ: Optional[str] = None, cancer_type: Optional[str] = None,
              case_id: Optional[str] = None, geometry: str = "resample") -> Case:
    """Read an image and its tumour mask (and optionally a parenchyma mask) into a :class:`Case`.

    Paths or in-memory SimpleITK images are accepted.  ``modality`` is ``"CT"`` or ``"MR"``
    (guessed with :func:`guess_modality` when not given; ``Case.meta["modality_guessed"]`` says so).
    """
    if isinstance(image, sitk.Image):
        img, image_path = image, None
        check_image(img, source=case_id)
    else:
        image_path = str(image)
        img = read_image(image)
    if case_id is None:
        case_id = case_id_from_path(image_path) if image_path else "case"
    if isinstance(mask, sitk.Image):
        mask_path = None
        values, name = parse_label(label)
        if name is not None:
            raise LabelNotFoundError([name], [], source=case_id)
        check_grid(mask, source=case_id)
        m = select_labels(mask, values, source=case_id)
        m = align_to_reference(m, img, geometry=geometry, source=case_id)
        if not _any(m):
            raise EmptyMaskError("mask is empty on the image grid", source=case_id)
    else:
        mask_path = str(mask)
        m = read_mask(mask, label=label, reference=img, geometry=geometry)
    om = None
    if organ_mask is not None and not (isinstance(organ_mask, float) and np.isnan(organ_mask)) \
            and str(organ_mask) != "":
        if isinstance(organ_mask, sitk.Image):
            check_grid(organ_mask, source=case_id)
            om = align_to_reference(select_labels(organ_mask, parse_label(organ_label)[0],
                                                  source=case_id), img, geometry, source=case_id,
                                    outside="warn")
        else:
            om = read_mask(organ_mask, label=organ_label, reference=img, geometry=geometry,
                           outside="warn")
    meta = {}
    if img.HasMetaDataKey("0020|000e"):
        meta["dicom_series_uid"] = img.GetMetaData("0020|000e")
    if modality is None or str(modality).strip() == "" or str(modality).lower() == "nan":
        modality = guess_modality(img)
        meta["modality_guessed"] = True
    modality = str(modality).upper()
    if modality not in ("CT", "MR"):
        raise ValueError(f"{case_id}: modality must be CT or MR, got {modality!r}")
    lab = None if label is None else (label if isinstance(label, str) else
                                      ",".join(str(v) for v in np.atleast_1d(label)))
    return Case(case_id=str(case_id), image=img, mask=m, organ_mask=om, modality=modality,
                organ=organ or None, cancer_type=cancer_type or None, image_path=image_path,
                mask_path=mask_path, label=lab, meta=meta)


def case_id_from_path(path: str) -> str:
    """A case ID from an image path: the file name without its (double) extension."""
    name = Path(path).name
    for ext in (".seg.nrrd", ".nii.gz", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".dcm"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return Path(path).stem


def check_image_output(path: PathLike, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` can receive :func:`write_image` (a known extension,
    :data:`IMAGE_WRITE_EXTENSIONS`; a writable folder); :class:`~.errors.UsageError` names
    ``option`` otherwise."""
    from .files import check_output_path

    return check_output_path(path, option, extensions=IMAGE_WRITE_EXTENSIONS)


def add_seg_nrrd_metadata(img: sitk.Image, segments: Sequence[Tuple[int, str, Sequence[float]]]
                          ) -> None:
    """The keys of a 3D Slicer segmentation (.seg.nrrd) on a label image, one segment per
    ``(label value, name, RGB colour 0-1)``: what Slicer and this package's reader need to see
    named segments (a plain label map saved as .seg.nrrd held no segment)."""
    arr = sitk.GetArrayViewFromImage(img)
    size = img.GetSize()
    for i, (value, name, rgb) in enumerate(segments):
        pre = f"Segment{i}_"
        img.SetMetaData(pre + "ID", f"Segment_{value}")
        img.SetMetaData(pre + "Name", str(name))
        img.SetMetaData(pre + "LabelValue", str(int(value)))
        img.SetMetaData(pre + "Layer", "0")
        img.SetMetaData(pre + "Color", " ".join(f"{c:g}" for c in rgb))
        hit = np.nonzero(arr == value)
        ext = ([int(hit[2].min()), int(hit[2].max()), int(hit[1].min()), int(hit[1].max()),
                int(hit[0].min()), int(hit[0].max())] if hit[0].size else
               [0, size[0] - 1, 0, size[1] - 1, 0, size[2] - 1])
        img.SetMetaData(pre + "Extent", " ".join(str(e) for e in ext))


def write_image(img: sitk.Image, path: PathLike, compress: bool = True) -> Path:
    """Write an image atomically (format from the extension; parent folders are created).  A
    ``.seg.nrrd`` without segment keys gets one segment per label value (a binary mask: one
    "tumour" segment), so that 3D Slicer and :func:`read_mask` read it as a segmentation."""
    from .files import atomic_path

    path = check_image_output(path, option=str(path))
    if str(path).lower().endswith(".seg.nrrd") and not img.HasMetaDataKey("Segment0_ID"):
        values = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(img)) if v != 0]
        img = sitk.Image(img)           # (the caller's image keeps its keys)
        add_seg_nrrd_metadata(img, [(v, "tumour" if values == [1] else f"Segment_{v}",
                                     (0.85, 0.2, 0.2)) for v in values])
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=compress)
    return path


def mask_from_array(arr_zyx: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """uint8 image with ``reference``'s geometry from a z,y,x array."""
    out = sitk.GetImageFromArray(np.asarray(arr_zyx).astype(np.uint8))
    out.CopyInformation(reference)
    return out
