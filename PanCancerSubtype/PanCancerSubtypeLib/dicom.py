"""DICOM input (one home): which image series of a folder is read (:func:`dicom_series_uid`,
shared by the image reader and the DICOM SEG writer) and how, refusing a series with a missing
slice; RTSTRUCT contours rasterised onto an image's grid (:func:`rasterise_rtstruct`).
:mod:`.io` reads images and masks through it; nothing here imports :mod:`.io` or
:mod:`.dicomseg`."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np
import SimpleITK as sitk

from .errors import EmptyMaskError, LabelNotFoundError, UnreadableFileError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

__all__ = ["dicom_series_uid", "read_dicom_series", "is_rtstruct", "rtstruct_roi_names",
           "rasterise_rtstruct"]


def dicom_series_uid(folder: PathLike, series_uid: Optional[str] = None) -> str:
    """The image series of a DICOM ``folder`` that is read (one rule, for the image and for the
    DICOM SEG that references it): ``series_uid`` when given; the only series; else the one with
    the most slices, with a warning naming the others (a localizer, a second reconstruction); two
    or more with that many slices are refused, listing them (UID, description, slices).  Raises
    :class:`~.errors.UnreadableFileError` when the folder holds no image series."""
    folder = Path(folder)
    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)) or [])
    if not ids:
        raise UnreadableFileError("no DICOM image series found in the folder", source=folder)
    if series_uid is not None:
        if series_uid not in ids:
            raise UnreadableFileError(f"DICOM series {series_uid} not in the folder (found "
                                      f"{ids})", source=folder)
        return series_uid
    if len(ids) == 1:
        return ids[0]
    files = {uid: reader.GetGDCMSeriesFileNames(str(folder), uid) for uid in ids}

    def describe(uid: str) -> str:
        desc = ""
        try:
            r = sitk.ImageFileReader()
            r.SetFileName(files[uid][0])
            r.ReadImageInformation()
            if r.HasMetaDataKey("0008|103e"):
                desc = r.GetMetaData("0008|103e").strip()
        except RuntimeError:
            pass
        return f"{uid} ({desc + ', ' if desc else ''}{len(files[uid])} slices)"

    ranked = sorted(ids, key=lambda u: -len(files[u]))
    most = [u for u in ranked if len(files[u]) == len(files[ranked[0]])]
    if len(most) > 1:
        raise UnreadableFileError(
            f"the folder holds {len(ids)} image series and {len(most)} of them have the most "
            f"slices: {'; '.join(describe(u) for u in ranked)}; put the series to use in a "
            f"folder of its own", source=folder)
    log.warning("%s: the folder holds %d image series; reading the one with the most slices, "
                "%s (not %s)", folder, len(ids), describe(ranked[0]),
                "; ".join(describe(u) for u in ranked[1:]))
    return ranked[0]


def read_dicom_series(folder: Path, series_uid: Optional[str] = None) -> sitk.Image:
    """The image of the series :func:`dicom_series_uid` chooses, its UID in the image's
    metadata (0020|000e); its slices must be evenly spaced."""
    folder = Path(folder)
    uid = dicom_series_uid(folder, series_uid)
    reader = sitk.ImageSeriesReader()
    files = reader.GetGDCMSeriesFileNames(str(folder), uid)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOn()
    shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)   # (its uneven-slices warning: below)
    try:
        img = reader.Execute()
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(shown)
    _check_even_slices(reader, len(files), img, folder)
    try:
        img.SetMetaData("0008|0060", reader.GetMetaData(0, "0008|0060"))  # Modality
    except RuntimeError:
        pass
    img.SetMetaData("0020|000e", uid)       # the series read (provenance, the SEG's reference)
    return img


def _check_even_slices(reader, n: int, img: sitk.Image, folder: Path) -> None:
    """A series whose slice positions (0020,0032) are not evenly spaced along the slices'
    normal (a missing slice, two acquisitions in one series) is refused: ITK would space them
    evenly, misplacing every slice past the gap."""
    if n < 3:
        return
    try:
        pos = np.array([[float(v) for v in reader.GetMetaData(i, "0020|0032").split("\\")]
                        for i in range(n)])
    except (RuntimeError, ValueError):
        return                              # no positions: nothing to check
    normal = np.asarray(img.GetDirection(), float).reshape(3, 3)[:, 2]
    gaps = np.abs(np.diff(pos @ normal))
    step = float(np.median(gaps))
    bad = np.nonzero(np.abs(gaps - step) > max(0.05, 0.05 * step))[0]
    if bad.size:
        i = int(bad[0])
        raise UnreadableFileError(
            f"the series' slices are not evenly spaced: {gaps[i]:.3g} mm between slices {i + 1} "
            f"and {i + 2} where the others are {step:.3g} mm apart ({bad.size} uneven gap(s); a "
            f"missing slice?); export the series again", source=folder)


def is_rtstruct(path: PathLike) -> bool:
    p = Path(path)
    if p.is_dir() or p.suffix.lower() not in (".dcm", ""):
        return False
    try:
        import pydicom

        ds = pydicom.dcmread(str(p), stop_before_pixels=True, specific_tags=["Modality"])
        return str(getattr(ds, "Modality", "")).upper() == "RTSTRUCT"
    except Exception:
        return False


def rtstruct_roi_names(path: PathLike) -> List[str]:
    import pydicom

    ds = pydicom.dcmread(str(path))
    return [str(r.ROIName) for r in getattr(ds, "StructureSetROISequence", [])]


def rasterise_rtstruct(path: PathLike, reference: sitk.Image, roi: Optional[str] = None
                       ) -> sitk.Image:
    """Rasterise the closed planar contours of one RTSTRUCT ROI onto ``reference``'s grid.

    The contours are grouped by their plane; a plane's contours are filled with the even-odd
    rule (a voxel is inside when its centre is inside an odd number of them, so holes drawn as
    inner contours stay holes), and each image slice takes the nearest contour plane within half
    the planes' spacing (nearest-neighbour along the slice axis).  When the planes are the
    image's slices (the series the RTSTRUCT was drawn on) that is each slice's own contours;
    otherwise (contours of a 3 mm series on a 1.5 or 5 mm reconstruction) a warning says so.
    Requires the contours to be parallel to the image slices (axial contours on an axial
    series), which is what RTSTRUCT producers write; other contours raise a ValueError.
    """
    import pydicom
    from skimage.draw import polygon as draw_polygon

    path = Path(path)
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise UnreadableFileError(f"cannot be read as DICOM ({exc})", source=path) from None
    rois = {int(r.ROINumber): str(r.ROIName) for r in getattr(ds, "StructureSetROISequence", [])}
    names = list(rois.values())
    if roi is None:
        if len(rois) != 1:
            raise LabelNotFoundError([], names, source=str(path), what="ROI", hint=(
                f"the RTSTRUCT holds {len(rois)} ROIs: choose one by its name"))
        number = next(iter(rois))
    else:
        hits = [n for n, nm in rois.items() if nm == roi]
        if not hits:
            hits = [n for n, nm in rois.items() if nm.lower() == roi.lower()]
        if not hits:
            raise LabelNotFoundError([roi], names, source=str(path), what="ROI")
        number = hits[0]
    size = reference.GetSize()
    origin = np.asarray(reference.GetOrigin())
    spacing = np.asarray(reference.GetSpacing())
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    inv = np.linalg.inv(direction * spacing)  # physical -> index
    contours = []
    for rc in getattr(ds, "ROIContourSequence", []):
        if int(rc.ReferencedROINumber) != number:
            continue
        for c in getattr(rc, "ContourSequence", []):
            pts = np.asarray(c.ContourData, dtype=float).reshape(-1, 3)
            if len(pts) >= 3:
                contours.append((pts - origin) @ inv.T)   # continuous index (x, y, z)
    # the slice axis: the index axis along which every contour is flat (z for an axial series;
    # another for the same grid stored sagittally or coronally)
    flat = [a for a in (2, 1, 0) if all(np.ptp(c[:, a]) <= 0.5 for c in contours)]
    if contours and not flat:
        raise ValueError(f"{path}: contour is not parallel to the image slices")
    a = flat[0] if flat else 2
    b, c2 = [x for x in range(3) if x != a]                # the in-plane index axes
    plane_shape = (size[c2], size[b])                      # (rows, columns) of a slice
    planes: Dict[float, np.ndarray] = {}      # continuous slice index -> filled plane
    for idx in contours:
        key = round(float(idx[:, a].mean()), 3)   # (a plane: its contours agree to 1/1000 slice)
        rr, cc = draw_polygon(idx[:, c2], idx[:, b], shape=plane_shape)
        sl = planes.setdefault(key, np.zeros(plane_shape, dtype=np.uint8))
        filled = np.zeros_like(sl)
        filled[rr, cc] = 1
        sl ^= filled
    ks = np.array(sorted(planes))
    half = 0.5 * (float(np.median(np.diff(ks))) if len(ks) > 1 else 1.0)
    out = np.zeros(size[::-1], dtype=np.uint8)  # z, y, x
    axis = 2 - a                                # the slice axis of the (z, y, x) array
    for kk in range(size[a]):
        if not len(ks):
            break
        j = int(np.argmin(np.abs(ks - kk)))     # (a tie: the lower plane)
        d = abs(ks[j] - kk)
        # half-way between two planes: the lower one's; beyond the last plane, only nearer
        if d < half - 1e-6 or (d <= half + 1e-6 and ks[0] <= kk <= ks[-1]):
            sel = [slice(None)] * 3
            sel[axis] = kk
            out[tuple(sel)] = planes[ks[j]]     # (rows: index axis c2, columns: b; c2 > b)
    if not out.any():
        raise EmptyMaskError(f"ROI {rois[number]!r} has no contour on the image grid", source=str(path))
    off = np.abs(ks - np.round(ks))
    if len(ks) and (off.max() > 0.1 or len(set(np.round(ks).astype(int))) < len(ks)
                    or abs(2 * half - 1.0) > 0.1):
        log.warning("%s: the ROI's %d contour planes (every %.3g mm) are not the image's slices "
                    "(%.3g mm apart): each slice takes the nearest contour plane", path, len(ks),
                    2 * half * float(spacing[a]), float(spacing[a]))
    img = sitk.GetImageFromArray(out)
    img.CopyInformation(reference)
    return img
