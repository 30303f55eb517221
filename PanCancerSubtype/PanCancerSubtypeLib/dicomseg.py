"""DICOM Segmentation (SEG) objects in and out, with highdicom.

DICOM SEG (the Segmentation IOD, PS3.3 A.51) is how PACS, viewers and Slicer's DICOM module
exchange voxel masks: a multi-frame image of binary frames, one per segment and source slice, each
frame referencing the source image it was drawn on and carrying its own plane position.

Reading (:func:`read_dicom_seg`, used by :func:`PanCancerSubtypeLib.io.read_mask`): the frames of the
chosen segments (by segment label, case-sensitive first, or by segment number) are placed on the
SEG's own voxel grid, rebuilt from the frames' Image Position (Patient), the shared Image
Orientation (Patient) and Pixel Spacing, and the slice positions projected on the slice normal
(frames that a writer omitted because they were empty stay zero).  ``io.read_mask`` then puts the
mask on the image grid with the same rule as every other mask (identical grid: copied; overlapping
grid: nearest-neighbour resampling).

Writing (:func:`write_dicom_seg`): a binary mask or a label map on the grid of a DICOM series is
written as a BINARY SEG referencing that series (Referenced Series Sequence, and per frame the
Source Image / Derivation Image Sequence), one segment per label value, with SNOMED CT
category / type codes.  Empty frames are omitted, as highdicom does by default.

Both directions keep voxels exact: a mask read from an RTSTRUCT, written as SEG and read back is
identical (``Testing/test_dicomseg.py``).

The same inputs give the same SEG: its UIDs (SOP instance, series, dimension organisation) are
derived from what it holds (the source images' UIDs, the frames, the segments, the writer's
version; ``pydicom.uid.generate_uid`` with those as entropy sources), so writing the same mask
again does not make another object.  Only the creation date and time (Instance Creation, Content,
Contribution) are the moment of writing; with the environment variable ``SOURCE_DATE_EPOCH`` set
(seconds since 1970, the reproducible-builds convention) they are that moment instead, and the
file is the same bytes.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import SimpleITK as sitk

from .errors import (EmptyMaskError, GeometryMismatchError, LabelNotFoundError,
                     UnreadableFileError)
from .lattice import pasted_on_lattice

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: SOP Class UID of the Segmentation Storage IOD
SEGMENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"

#: (code value, coding scheme, meaning) of SNOMED CT concepts used for segment categories / types
TUMOUR_CATEGORY = ("49755003", "SCT", "Morphologically Altered Structure")
TUMOUR_TYPE = ("108369006", "SCT", "Neoplasm")
TISSUE_CATEGORY = ("85756007", "SCT", "Tissue")
TISSUE_TYPE = ("85756007", "SCT", "Tissue")


@dataclass(frozen=True)
class SegmentSpec:
    """One segment to write: the label value it comes from and how it is described."""

    value: int                                   #: label value in the mask / label map
    label: str                                   #: Segment Label (e.g. "TC (tumour core)")
    category: Tuple[str, str, str] = TUMOUR_CATEGORY
    type: Tuple[str, str, str] = TUMOUR_TYPE
    rgb: Optional[Tuple[float, float, float]] = None   #: display colour, 0-1


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def is_dicom_seg(path: PathLike) -> bool:
    """True when ``path`` is a DICOM file whose SOP class is Segmentation Storage."""
    p = Path(path)
    if p.is_dir() or p.suffix.lower() not in (".dcm", ""):
        return False
    try:
        import pydicom

        ds = pydicom.dcmread(str(p), stop_before_pixels=True,
                             specific_tags=["SOPClassUID", "Modality"])
    except Exception:
        return False
    return (str(getattr(ds, "SOPClassUID", "")) == SEGMENTATION_STORAGE
            or str(getattr(ds, "Modality", "")).upper() == "SEG")


def _highdicom():
    """highdicom, or one line saying where it comes from (Slicer ships it from 5.12; 5.8 and
    5.10 have a pydicom too old for a highdicom that reads SEGs)."""
    try:
        import highdicom
    except ImportError:
        from .errors import MissingDependencyError

        raise MissingDependencyError(
            "DICOM SEG needs highdicom (pip install \"highdicom>=0.25\"; in 3D Slicer, "
            "version 5.12 or later, which ships it): use a .seg.nrrd or NIfTI mask instead",
            source="DICOM SEG") from None
    return highdicom


def _read_seg(path: PathLike):
    hd = _highdicom()

    try:
        return hd.seg.segread(str(path))
    except Exception as exc:
        raise UnreadableFileError(f"cannot be read as a DICOM SEG ({exc})", source=path) from None


def segment_labels(path: PathLike) -> Dict[int, str]:
    """``{segment number: segment label}`` of a DICOM SEG file."""
    seg = _read_seg(path)
    return {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}


def choose_segments(labels: Dict[int, str], values: Optional[Sequence[int]], name: Optional[str],
                    source: Optional[str] = None) -> List[int]:
    """Segment numbers selected by a segment label ``name`` or by numbers ``values``.

    Neither: the only segment (a SEG with several segments needs a choice).
    """
    if name is not None:
        hit = [n for n, lab in labels.items() if lab == name]
        if not hit:
            hit = [n for n, lab in labels.items() if lab.lower() == name.lower()]
        if not hit:
            raise LabelNotFoundError([name], list(labels.values()), source=source, what="segment")
        return hit
    if values is not None:
        hit = [n for n in labels if n in set(int(v) for v in values)]
        if not hit:
            raise LabelNotFoundError(list(values), list(labels), source=source,
                                     what="segment number")
        return hit
    if len(labels) != 1:
        raise LabelNotFoundError(["<one segment label or number>"],
                                 [f"{n}: {lab}" for n, lab in labels.items()], source=source,
                                 what="segment")
    return list(labels)


def read_dicom_seg(path: PathLike, values: Optional[Sequence[int]] = None,
                   name: Optional[str] = None, reference: Optional[sitk.Image] = None
                   ) -> sitk.Image:
    """The union of the chosen segments as a uint8 0/1 image.

    ``name``: a segment label; ``values``: segment numbers; neither: the only segment.  The image
    is on ``reference``'s grid when the SEG's frames are slices of it (the usual case: a SEG
    drawn on that series, empty frames omitted), else on the SEG's own grid.
    """
    src = str(path)
    seg = _read_seg(path)
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    chosen = set(choose_segments(labels, values, name, source=src))
    arr, geometry = _frames_on_grid(seg, src, lambda number: number in chosen)
    img = sitk.GetImageFromArray(arr)
    _set_geometry(img, *geometry)
    if reference is not None:
        placed = pasted_on_lattice(img, reference)
        if placed is None:
            # the reference on the SEG's grid stored in another voxel order (a RAS NIfTI of
            # the series): placed in LPS order, then reordered onto the reference (refused)
            in_lps = pasted_on_lattice(sitk.DICOMOrient(img, "LPS"),
                                         sitk.DICOMOrient(reference, "LPS"))
            if in_lps is not None:
                code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
                    reference.GetDirection())
                back = sitk.DICOMOrient(in_lps, code)
                if back.GetSize() == reference.GetSize():
                    back.CopyInformation(reference)
                    placed = back
        if placed is not None:
            return placed
    return img


def _frames_on_grid(seg, src: str, keep) -> Tuple[np.ndarray, tuple]:
    """Place the frames of the segments for which ``keep(number)`` holds on the SEG's voxel grid.

    Returns the (slices, rows, columns) uint8 array and (origin, spacing, direction).
    """
    if str(getattr(seg, "SegmentationType", "BINARY")).upper() not in ("BINARY", "FRACTIONAL",
                                                                         "LABELMAP"):
        raise UnreadableFileError(f"unsupported SegmentationType {seg.SegmentationType}",
                                  source=src)
    shared = seg.SharedFunctionalGroupsSequence[0]
    per_frame = seg.PerFrameFunctionalGroupsSequence
    orient = _first_attr(shared, per_frame, "PlaneOrientationSequence", "ImageOrientationPatient")
    measures = _first_item(shared, per_frame, "PixelMeasuresSequence")
    if orient is None or measures is None:
        raise UnreadableFileError("DICOM SEG without plane orientation or pixel measures "
                                  "(not a patient-space segmentation)", source=src)
    row_dir = np.asarray(orient[:3], dtype=float)     # direction of increasing column index
    col_dir = np.asarray(orient[3:], dtype=float)     # direction of increasing row index
    normal = np.cross(row_dir, col_dir)
    dr, dc = (float(v) for v in measures.PixelSpacing)  # row spacing, column spacing
    positions = np.array([[float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient]
                          for f in per_frame])
    shared_id = (shared.SegmentIdentificationSequence[0].ReferencedSegmentNumber
                 if "SegmentIdentificationSequence" in shared else None)
    numbers = np.array([int(f.SegmentIdentificationSequence[0].ReferencedSegmentNumber
                            if "SegmentIdentificationSequence" in f else shared_id)
                        for f in per_frame])
    # in-plane offsets of every frame must agree (one grid); the slice index comes from the normal
    inplane = positions @ np.stack([row_dir, col_dir], axis=1)
    if np.ptp(inplane[:, 0]) > 1e-3 * dc + 1e-4 or np.ptp(inplane[:, 1]) > 1e-3 * dr + 1e-4:
        raise UnreadableFileError("DICOM SEG frames do not lie on one voxel grid (in-plane "
                                  "offsets differ)", source=src)
    d = positions @ normal
    uniq = np.unique(np.round(d, 4))
    spacing_z = _slice_spacing(seg, measures, uniq)
    k = np.rint((d - uniq[0]) / spacing_z).astype(int)
    if np.max(np.abs((d - uniq[0]) / spacing_z - k)) > 0.05:
        raise UnreadableFileError("DICOM SEG frames are not evenly spaced along the slice normal",
                                  source=src)
    pix = np.asarray(seg.pixel_array)
    if pix.ndim == 2:
        pix = pix[None]
    n_slices = int(k.max()) + 1
    out = np.zeros((n_slices, int(seg.Rows), int(seg.Columns)), dtype=np.uint8)
    for i in range(len(per_frame)):
        if keep(int(numbers[i])):
            out[k[i]] |= (pix[i] > 0).astype(np.uint8)
    first = int(np.argmin(d))
    origin = positions[first]
    direction = np.stack([row_dir, col_dir, normal], axis=1)   # columns: x, y, z axes
    return out, (origin, (dc, dr, spacing_z), direction)


def _first_item(shared, per_frame, seq_name):
    if seq_name in shared:
        return shared[seq_name].value[0]
    if len(per_frame) and seq_name in per_frame[0]:
        return per_frame[0][seq_name].value[0]
    return None


def _first_attr(shared, per_frame, seq_name, attr):
    item = _first_item(shared, per_frame, seq_name)
    return None if item is None else [float(v) for v in getattr(item, attr)]


def _slice_spacing(seg, measures, uniq: np.ndarray) -> float:
    if len(uniq) > 1:
        return float(np.min(np.diff(uniq)))
    for attr in ("SpacingBetweenSlices", "SliceThickness"):
        v = getattr(measures, attr, None)
        if v:
            return float(v)
    return 1.0


def _set_geometry(img: sitk.Image, origin, spacing, direction) -> None:
    img.SetOrigin([float(v) for v in origin])
    img.SetSpacing([float(v) for v in spacing])
    img.SetDirection([float(v) for v in np.asarray(direction, dtype=float).ravel()])


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def read_series_datasets(folder: PathLike, series_uid: Optional[str] = None) -> list:
    """The image datasets of one DICOM series in ``folder`` (pixel data included).

    Without ``series_uid`` the series that :func:`PanCancerSubtypeLib.io.read_image` reads
    (:func:`PanCancerSubtypeLib.dicom.dicom_series_uid`).
    """
    import pydicom

    from .dicom import dicom_series_uid

    folder = Path(folder)
    if series_uid is None:
        series_uid = dicom_series_uid(folder)
    by_series: Dict[str, list] = {}
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(str(f))
        except Exception:
            continue
        if "PixelData" not in ds or "ImagePositionPatient" not in ds:
            continue  # RTSTRUCT, SEG, reports...
        by_series.setdefault(str(ds.SeriesInstanceUID), []).append(ds)
    if not by_series:
        raise UnreadableFileError("no DICOM image series found in the folder", source=folder)
    if series_uid not in by_series:
        raise UnreadableFileError(f"DICOM series {series_uid} not in the folder "
                                  f"(found {sorted(by_series)})", source=folder)
    return by_series[series_uid]


def check_seg_source(folder: PathLike) -> None:
    """Before any work: the series a DICOM SEG written for ``folder`` would reference
    (:func:`PanCancerSubtypeLib.dicom.dicom_series_uid`) has the Frame of Reference UID the SEG
    must share; else :class:`~.errors.UnreadableFileError` naming the folder."""
    import pydicom

    from .dicom import dicom_series_uid

    folder = Path(folder)
    uid = dicom_series_uid(folder)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    if not str(getattr(ds, "FrameOfReferenceUID", "") or "").strip():
        raise UnreadableFileError(
            f"series {uid} has no Frame of Reference UID (0020,0052), which a DICOM SEG must "
            f"reference: write the mask as .nii.gz, .nrrd or .seg.nrrd instead", source=folder)


def is_dicom_seg_path(path: PathLike) -> bool:
    """An output path that asks for a DICOM SEG (``.dcm``)."""
    return str(path).lower().endswith(".dcm")


def series_folder(image: PathLike, out: PathLike) -> Path:
    """The DICOM series folder a SEG written to ``out`` references: ``image`` must be one."""
    p = Path(image)
    if not p.is_dir():
        raise ValueError(f"{out}: a DICOM SEG references the DICOM series it was drawn on; give "
                         f"that series folder as --image (got the file {image})")
    return p


def write_dicom_seg(mask: sitk.Image, source: Union[PathLike, Sequence], out: PathLike,
                    segments: Optional[Sequence[SegmentSpec]] = None,
                    algorithm_type: str = "AUTOMATIC", algorithm_name: str = "PanCancerSubtype",
                    series_description: str = "Segmentation", series_number: int = 300,
                    content_label: str = "SEGMENTATION") -> Path:
    """Write ``mask`` (a 0/1 mask or a label map) as a DICOM SEG that references ``source``.

    ``source``: the DICOM series folder the mask was drawn on (or its datasets).  ``mask`` must be
    on that series' voxel grid (as :func:`PanCancerSubtypeLib.io.read_image` reads the folder; use
    ``io.align_to_reference`` first otherwise).  ``segments``: one :class:`SegmentSpec` per label
    value to write (default: one "Tumour" segment per non-zero value).  ``algorithm_type``:
    ``"AUTOMATIC"``, ``"SEMIAUTOMATIC"`` or ``"MANUAL"``.  Returns the path written.
    """
    hd = _highdicom()
    from highdicom.sr.coding import CodedConcept

    from . import __version__
    from .files import atomic_write_bytes

    out = Path(out)
    datasets = (read_series_datasets(source) if isinstance(source, (str, os.PathLike))
                else list(source))
    arr = sitk.GetArrayFromImage(mask)                     # z, y, x
    if arr.ndim != 3:
        raise ValueError(f"{out}: a 3D mask is required, got {arr.ndim}D")
    frames = _frames_for_datasets(mask, datasets, str(out))
    for ds in datasets:     # (type 2: may be empty; the SEG's pixel measures need it)
        if not str(getattr(ds, "SliceThickness", "") or "").strip():
            ds.SliceThickness = f"{float(mask.GetSpacing()[2]):.6g}"
    present = [int(v) for v in np.unique(arr) if v != 0]
    if not present:
        raise EmptyMaskError("mask has no foreground voxel; nothing to write", source=str(out))
    if segments is None:
        segments = [SegmentSpec(v, "Tumour" if len(present) == 1 else f"Tumour {v}")
                    for v in present]
    values = [int(s.value) for s in segments]
    if len(set(values)) != len(values):
        raise ValueError(f"{out}: segment values {values} are not unique")
    missing = [v for v in present if v not in values]
    if missing:
        raise ValueError(f"{out}: mask holds label value(s) {missing} without a segment "
                         f"description (described: {values})")
    # segment numbers 1..n in the order given; the label map is re-coded to them
    lut = np.zeros(int(max(int(arr.max()), max(values))) + 1, dtype=np.uint8)
    for number, s in enumerate(segments, start=1):
        lut[int(s.value)] = number
    recoded = lut[arr]
    pixel_array = np.stack([recoded[k] for k in frames], axis=0)
    algo_type = getattr(hd.seg.SegmentAlgorithmTypeValues, algorithm_type.upper())
    algo = None
    if algo_type != hd.seg.SegmentAlgorithmTypeValues.MANUAL:
        algo = hd.AlgorithmIdentificationSequence(
            name=algorithm_name, version=__version__,
            family=CodedConcept("123109", "DCM", "Manual Processing")
            if algo_type == hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
            else CodedConcept("123110", "DCM", "Artificial Intelligence"))
    descriptions = []
    for number, s in enumerate(segments, start=1):
        kw = {}
        if s.rgb is not None:
            kw["display_color"] = hd.color.CIELabColor(*_rgb_to_lab(s.rgb))
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=s.label,
            segmented_property_category=CodedConcept(*s.category),
            segmented_property_type=CodedConcept(*s.type),
            algorithm_type=algo_type, algorithm_identification=algo, **kw))
    with warnings.catch_warnings():
        # the source's own attributes copied into the SEG (e.g. a one-component PatientName)
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        seg = hd.seg.Segmentation(
            source_images=datasets, pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(),
            series_number=int(series_number), sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="PanCancerSubtype", manufacturer_model_name="pancancer-subtype",
            software_versions=__version__, device_serial_number="0",
            series_description=series_description, content_label=content_label)
    digest = hashlib.sha256(np.ascontiguousarray(pixel_array).tobytes()).hexdigest()
    _make_reproducible(seg, [str(__version__), str(pixel_array.shape), str(frames), digest,
                             algorithm_type, algorithm_name, series_description,
                             str(series_number), content_label]
                       + [repr((s.value, s.label, s.category, s.type, s.rgb)) for s in segments]
                       + [str(ds.SOPInstanceUID) for ds in datasets])
    buf = BytesIO()
    seg.save_as(buf)
    atomic_write_bytes(out, buf.getvalue())
    return out


def _make_reproducible(seg, entropy: List[str]) -> None:
    """The SEG's UIDs from ``entropy`` (what it holds), and its creation date and time from
    ``SOURCE_DATE_EPOCH`` when set (see the module doc)."""
    from pydicom.uid import generate_uid

    from .files import source_date

    def uid(kind: str) -> str:
        return generate_uid(entropy_srcs=entropy + [kind])

    seg.SOPInstanceUID = seg.file_meta.MediaStorageSOPInstanceUID = uid("instance")
    seg.SeriesInstanceUID = uid("series")
    dim = uid("dimension organisation")
    for item in list(seg.get("DimensionOrganizationSequence", [])) + \
            list(seg.get("DimensionIndexSequence", [])):
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = dim
    when = source_date()
    if when is None:
        return
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    for kw in ("InstanceCreation", "Content", "Series"):
        if f"{kw}Date" in seg:
            setattr(seg, f"{kw}Date", date)
        if f"{kw}Time" in seg:
            setattr(seg, f"{kw}Time", time)
    equipment = seg.get("ContributingEquipmentSequence", [])
    if equipment and "ContributionDateTime" in equipment[-1]:   # the writer's (processing) entry
        equipment[-1].ContributionDateTime = date + time


def _frames_for_datasets(mask: sitk.Image, datasets: Sequence, source: str) -> List[int]:
    """For each source dataset, the slice index of ``mask`` it corresponds to.

    Raises :class:`GeometryMismatchError` unless every dataset is a slice of the mask's grid.
    """
    if not datasets:
        raise UnreadableFileError("no source images to reference", source=source)
    size = mask.GetSize()
    direction = np.asarray(mask.GetDirection()).reshape(3, 3)
    spacing = np.asarray(mask.GetSpacing())
    out: List[int] = []
    for ds in datasets:
        orient = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        ps = [float(v) for v in ds.PixelSpacing]
        ok = (int(ds.Rows) == size[1] and int(ds.Columns) == size[0]
              and np.allclose(orient[:3], direction[:, 0], atol=1e-4)
              and np.allclose(orient[3:], direction[:, 1], atol=1e-4)
              and np.allclose([ps[1], ps[0]], spacing[:2], rtol=1e-4))
        idx = np.asarray(mask.TransformPhysicalPointToContinuousIndex(
            [float(v) for v in ds.ImagePositionPatient]))
        k = int(round(idx[2]))
        ok = ok and np.all(np.abs(idx[:2]) < 1e-3) and abs(idx[2] - k) < 1e-3 and 0 <= k < size[2]
        if not ok:
            raise GeometryMismatchError(
                f"source image {getattr(ds, 'SOPInstanceUID', '?')} is not a slice of the mask's "
                f"grid (rows/columns, orientation, pixel spacing or position differ); put the mask "
                f"on the series' grid first (io.align_to_reference)", source=source)
        out.append(k)
    if len(set(out)) != len(out):
        raise GeometryMismatchError("two source images map to the same slice", source=source)
    return out


def _rgb_to_lab(rgb) -> Tuple[float, float, float]:
    """sRGB (0-1) to CIELab (D65), for Recommended Display CIELab Value."""
    c = np.clip(np.asarray(rgb, dtype=float), 0, 1)
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = m @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    L = 116 * f[1] - 16
    a = 500 * (f[0] - f[1])
    b = 200 * (f[1] - f[2])
    return float(L), float(a), float(b)
