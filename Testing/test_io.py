"""Image / mask I/O: formats, label selection, geometry checks, and every documented error."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from PanCancerSubtypeLib import io
from PanCancerSubtypeLib.errors import (EmptyMaskError, GeometryMismatchError, ImageDimensionError,
                                        InvalidImageValuesError, LabelNotFoundError,
                                        UnreadableFileError)


def _image(shape=(10, 20, 30), spacing=(0.8, 0.9, 2.0), origin=(-5.0, 3.0, 10.0), value=None,
           dtype=np.float32):
    arr = np.arange(np.prod(shape), dtype=dtype).reshape(shape) if value is None else \
        np.full(shape, value, dtype=dtype)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def _labels(ref, boxes):
    arr = np.zeros(sitk.GetArrayViewFromImage(ref).shape, np.uint8)
    for lab, (z0, z1, y0, y1, x0, x1) in boxes.items():
        arr[z0:z1, y0:y1, x0:x1] = lab
    return io.mask_from_array(arr, ref)


@pytest.mark.parametrize("ext", [".nrrd", ".nii.gz", ".mha"])
def test_formats_roundtrip(tmp_path, ext):
    img = _image()
    lab = _labels(img, {1: (2, 5, 3, 9, 4, 12), 3: (6, 8, 10, 15, 15, 20)})
    ip, mp = tmp_path / f"im{ext}", tmp_path / f"m{ext}"
    sitk.WriteImage(img, str(ip))
    sitk.WriteImage(lab, str(mp))
    case = io.load_case(ip, mp, label="1,3", modality="MR")
    assert case.case_id == "im"
    np.testing.assert_array_equal(case.image_array(), sitk.GetArrayViewFromImage(img))
    assert case.mask_array().sum() == 3 * 6 * 8 + 2 * 5 * 5
    assert case.mask.GetSpacing() == pytest.approx(img.GetSpacing())
    only3 = io.read_mask(mp, 3, reference=case.image)
    assert sitk.GetArrayViewFromImage(only3).sum() == 2 * 5 * 5


def test_dicom_series_and_modality(tmp_path):
    img = _image(shape=(6, 16, 16), value=-1000.0, dtype=np.int16)
    arr = sitk.GetArrayFromImage(img)
    arr[:, 4:12, 4:12] = 40
    img2 = sitk.GetImageFromArray(arr)
    img2.CopyInformation(img)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(img2.GetDepth()):
        sl = img2[:, :, k]
        sl.SetMetaData("0008|0060", "CT")
        sl.SetMetaData("0020|0032", "\\".join(map(str, img2.TransformIndexToPhysicalPoint((0, 0, k)))))
        sl.SetMetaData("0020|0013", str(k))
        sl.SetMetaData("0020|000e", "1.2.3.4.5")
        sl.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        writer.SetFileName(str(tmp_path / f"s{k:03d}.dcm"))
        writer.Execute(sl)
    got = io.read_image(tmp_path)
    assert got.GetSize() == img2.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), arr)
    assert got.GetSpacing() == pytest.approx(img2.GetSpacing(), rel=1e-4)
    assert io.guess_modality(got) == "CT"


def _write_series(img, folder, uid, desc, prefix, slices=None):
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in (range(img.GetDepth()) if slices is None else slices):
        sl = img[:, :, k]
        for tag, v in (("0008|0060", "CT"), ("0020|000e", uid), ("0008|103e", desc),
                       ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0020|0013", str(k)),
                       ("0020|0052", "1.2.3.9"), ("0008|0018", f"{uid}.{k + 1}"),
                       ("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint(
                           (0, 0, k)))))):
            sl.SetMetaData(tag, v)
        writer.SetFileName(str(folder / f"{prefix}{k:03d}.dcm"))
        writer.Execute(sl)


def test_a_folder_of_several_series_is_read_by_one_rule_and_says_so(tmp_path, caplog):
    """Two series of as many slices (two reconstructions) are refused, naming both; otherwise the
    one with the most slices is read with a warning naming the others, its UID goes into the
    case's provenance, and the DICOM SEG writer takes the same series (it used to break a tie
    by file order: the SEG referenced the series that was not segmented)."""
    from PanCancerSubtypeLib.dicomseg import read_series_datasets

    img = _image(shape=(6, 16, 16), value=-1000.0, dtype=np.int16)
    _write_series(img, tmp_path, "1.2.3.6", "A lung kernel", "a")
    _write_series(sitk.Cast(img + 100, sitk.sitkInt16), tmp_path, "1.2.3.5", "B soft kernel", "b")
    with pytest.raises(UnreadableFileError, match=r"holds 2 image series and 2 of them have the "
                       r"most slices: .*1\.2\.3\.(5|6) \(.*kernel, 6 slices\)"):
        io.read_image(tmp_path)
    with pytest.raises(UnreadableFileError, match="2 of them have the most slices"):
        read_series_datasets(tmp_path)
    for f in tmp_path.glob("b00[45].dcm"):                  # series B: 4 slices now
        f.unlink()
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.io"):
        got = io.read_image(tmp_path)
    assert got.GetSize() == img.GetSize() and got.GetMetaData("0020|000e") == "1.2.3.6"
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(img))
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "reading the one with the most slices, 1.2.3.6 (A lung kernel, " \
        "6 slices) (not 1.2.3.5 (B soft kernel, 4 slices))" in said[0]
    assert {str(d.SeriesInstanceUID) for d in read_series_datasets(tmp_path)} == {"1.2.3.6"}
    mask = sitk.Image(img.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(img)
    mask[4:10, 4:10, 2:4] = 1
    case = io.load_case(tmp_path, mask, modality="CT")
    assert case.meta["dicom_series_uid"] == "1.2.3.6"


def test_a_series_with_a_missing_slice_is_refused(tmp_path):
    """ITK spaces the slices of a series evenly (with only its own warning), so a series with a
    missing slice was read on a distorted grid: every slice past the gap misplaced."""
    img = _image(shape=(8, 16, 16), value=-1000.0, dtype=np.int16)
    _write_series(img, tmp_path, "1.2.3.8", "gap", "s", slices=[0, 1, 2, 4, 5, 6, 7])
    with pytest.raises(UnreadableFileError, match=r"not evenly spaced: 4 mm between slices 3 "
                       r"and 4 where the others are 2 mm apart \(1 uneven gap"):
        io.read_image(tmp_path)


def _values_image(arr):
    img = sitk.GetImageFromArray(np.asarray(arr))
    img.SetSpacing((0.8, 0.8, 3.0))
    return img


def test_guess_modality_of_a_ct_crop_without_air_and_of_mr():
    """A CT cropped inside the body (muscle and a fat plane, no air: the 1 % of voxels <= -900
    that the first rule needs are absent) is CT by its tissues around 0 HU; an MR magnitude image
    (no values below zero) and a z-scored MR (none below -30) stay MR, as does an MR with a fat
    layer (it is bright on MR, not below zero)."""
    rng = np.random.default_rng(0)
    shape = (20, 40, 40)
    ct = rng.normal(45.0, 12.0, shape)                    # muscle
    ct[:, :, :6] = rng.normal(-100.0, 15.0, (20, 40, 6))  # a subcutaneous fat plane, 15 %
    ct = np.round(ct).astype(np.int16)
    assert np.mean(ct <= -900) == 0.0
    assert io.guess_modality(_values_image(ct)) == "CT"
    # the same tissues' fat share below 5 %: no longer CT's signature (the bounds are the rule's)
    thin = ct.copy()
    thin[:, :, 1:6] = 45
    assert 0.0 < np.mean(thin < -30) < 0.05
    assert io.guess_modality(_values_image(thin)) == "MR"
    mr = rng.normal(300.0, 40.0, shape)
    mr[:, :, :6] = rng.normal(800.0, 50.0, (20, 40, 6))   # fat is bright on T1
    mr[:, :2] = 0.0                                       # background
    assert io.guess_modality(_values_image(np.clip(mr, 0, None).astype(np.float32))) == "MR"
    z = rng.normal(0.0, 1.0, shape).astype(np.float32)
    z[:, :8] = -3.0                                       # a z-scored brain's background
    assert io.guess_modality(_values_image(z)) == "MR"
    # air alone still decides, and the DICOM tag before the values
    air = ct.copy()
    air[:, :2] = -1000
    assert io.guess_modality(_values_image(air)) == "CT"
    tagged = _values_image(ct)
    tagged.SetMetaData("0008|0060", "MR")
    assert io.guess_modality(tagged) == "MR"


def test_guess_modality_of_tight_crops_of_the_sarcomas(shared_data):
    """The ten sarcomas, CT and T1 MR, each cut to the tumour's bounding box grown by 3 mm.
    Six of the ten CT crops (STS_001, 002, 003, 008, 010 and 012) hold under 1 % of air: the
    air rule alone guessed them MR."""
    import csv

    root = shared_data / "IBSI_soft_tissue_sarcoma_CT_MR"
    with open(root / "pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20
    airless = 0
    for r in rows:
        img = sitk.ReadImage(str(root / r["image"]))
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(root / r["mask"]))) > 0
        zz, yy, xx = np.nonzero(ref)
        m = np.ceil(3.0 / np.asarray(img.GetSpacing())[::-1]).astype(int)
        lo = np.maximum([zz.min(), yy.min(), xx.min()] - m, 0)
        hi = np.minimum(np.array([zz.max(), yy.max(), xx.max()]) + m + 1, ref.shape)
        crop = img[int(lo[2]):int(hi[2]), int(lo[1]):int(hi[1]), int(lo[0]):int(hi[0])]
        airless += r["modality"] == "CT" and np.mean(sitk.GetArrayViewFromImage(crop) <= -900) < 0.01
        assert io.guess_modality(crop) == r["modality"], (r["patient_id"], r["modality"])
    assert airless == 6


def _two_segments(img, lab, tmp_path, name1, name2):
    """A .seg.nrrd written by slicerio (voxels in i, j, k order + ijkToLPS) with labels 1 and 2
    of ``lab`` as two named segments: (i, j, k array, ijkToLPS, path)."""
    import slicerio

    arr = np.transpose(sitk.GetArrayFromImage(lab), (2, 1, 0))
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, :3] = np.diag(img.GetSpacing())
    ijk_to_lps[:3, 3] = img.GetOrigin()
    seg = slicerio.create_segmentation(arr.shape, ijk_to_lps)
    slicerio.add_segment(seg, arr == 1, {"id": "Segment_1", "name": name1})
    slicerio.add_segment(seg, arr == 2, {"id": "Segment_2", "name": name2})
    sp = tmp_path / "t.seg.nrrd"
    slicerio.write_segmentation(str(sp), seg)
    return arr, ijk_to_lps, sp


def test_seg_nrrd_named_segment(tmp_path):
    import slicerio

    img = _image()
    ip = tmp_path / "im.nrrd"
    sitk.WriteImage(img, str(ip))
    lab = _labels(img, {1: (2, 5, 3, 9, 4, 12), 2: (6, 8, 10, 15, 15, 20)})
    lp = tmp_path / "lab.nrrd"
    sitk.WriteImage(lab, str(lp))
    arr, ijk_to_lps, sp = _two_segments(img, lab, tmp_path, "tumour", "lymph node")
    m = io.read_mask(sp, "tumour", reference=img)
    assert sitk.GetArrayViewFromImage(m).sum() == 3 * 6 * 8
    m2 = io.read_mask(sp, "lymph node", reference=img)
    assert sitk.GetArrayViewFromImage(m2).sum() == 2 * 5 * 5
    with pytest.raises(LabelNotFoundError, match="liver"):
        io.read_mask(sp, "liver", reference=img)
    with pytest.raises(LabelNotFoundError, match=r"no segment was chosen \(present: \['tumour', "
                       r"'lymph node'\]\); the segmentation holds 2 segments: choose one by "
                       r"its name"):
        io.read_mask(sp, reference=img)
    # overlapping segments are stored in layers, each numbering its segments from 1: a label
    # value is then ambiguous (it took the union of the organ and the tumour, silently)
    organ = np.zeros(arr.shape, bool)
    organ[1:20, 2:18, 1:9] = True                           # holds the tumour
    layered = slicerio.create_segmentation(arr.shape, ijk_to_lps)
    slicerio.add_segment(layered, organ, {"id": "S1", "name": "organ"})
    slicerio.add_segment(layered, arr == 1, {"id": "S2", "name": "tumour"})
    lp2 = tmp_path / "layers.seg.nrrd"
    slicerio.write_segmentation(str(lp2), layered)
    assert sorted(s["layer"] for s in layered["segments"]) == [0, 1]
    with pytest.raises(LabelNotFoundError, match=r"label value\(s\) \[1\] name 2 segments in "
                       r"different layers .*organ \(layer 0, value 1\).*choose the segment by "
                       r"its name"):
        io.read_mask(lp2, 1, reference=img)
    assert sitk.GetArrayViewFromImage(io.read_mask(lp2, "tumour", reference=img)).sum() == \
        3 * 6 * 8


def test_seg_nrrd_segment_names_are_read_as_utf8(tmp_path):
    """3D Slicer writes segment names in UTF-8; pynrrd reads headers as ASCII and dropped the
    other letters ("Tumör (GTV)" became "Tumr (GTV)" and could not be chosen by its name)."""
    pytest.importorskip("slicerio")
    img = _image()
    _, _, sp = _two_segments(img, _labels(img, {1: (2, 5, 3, 9, 4, 12),
                                                2: (6, 8, 10, 15, 15, 20)}),
                             tmp_path, "TumXr (GTV)", "XX node")
    # pynrrd writes ASCII only: put UTF-8 in
    raw = sp.read_bytes()
    head, sep, data = raw.partition(b"\n\n")
    head = head.replace(b"TumXr", "Tumör".encode()).replace(b"XX node", "肺 node".encode())
    sp.write_bytes(head + sep + data)
    m = io.read_mask(sp, "Tumör (GTV)", reference=img)
    assert sitk.GetArrayViewFromImage(m).sum() == 3 * 6 * 8
    assert sitk.GetArrayViewFromImage(io.read_mask(sp, "肺 node", reference=img)).sum() == \
        2 * 5 * 5
    with pytest.raises(LabelNotFoundError, match=r"present: \['Tumör \(GTV\)', '肺 node'\]"):
        io.read_mask(sp, reference=img)


@pytest.mark.shared_data
def test_rtstruct_matches_nifti_mask(shared_data):
    d = shared_data / "IBSI_ct_radiomics_phantom_NSCLC"
    img = io.read_image(d / "dicom" / "image")
    rs = next((d / "dicom" / "mask").glob("*.dcm"))
    assert io.rtstruct_roi_names(rs) == ["GTV-1"]
    m_rt = sitk.GetArrayFromImage(io.read_mask(rs, "GTV-1", reference=img)).astype(bool)
    m_nii = sitk.GetArrayFromImage(io.read_mask(d / "nifti" / "mask" / "mask.nii.gz",
                                                reference=img)).astype(bool)
    dice = 2 * (m_rt & m_nii).sum() / (m_rt.sum() + m_nii.sum())
    assert dice > 0.99, dice
    with pytest.raises(LabelNotFoundError, match="GTV-2"):
        io.read_mask(rs, "GTV-2", reference=img)
    # the same grid stored sagittally (SLP) or RAS: the contours are flat along another stored
    # axis; the same voxels (it was refused as "not parallel to the image slices")
    from PanCancerSubtypeLib.voxel_order import reordered_onto

    for code in ("SLP", "RAS"):
        other = sitk.DICOMOrient(img, code)
        m = io.read_mask(rs, "GTV-1", reference=other)
        back = sitk.GetArrayFromImage(reordered_onto(m, img)).astype(bool)
        np.testing.assert_array_equal(back, m_rt)
    with pytest.raises(UnreadableFileError, match="an RTSTRUCT has no voxel grid of its own"):
        io.read_mask(rs, "GTV-1")


@pytest.mark.shared_data
@pytest.mark.parametrize("dz", [1.5, 5.0])
def test_rtstruct_on_a_reconstruction_with_other_slices(shared_data, dz, caplog):
    """The 3 mm RTSTRUCT of the NSCLC series on a 1.5 mm and a 5 mm reconstruction of it: each
    slice takes the nearest contour plane, so the volume is that of the expert's label image
    resampled onto the same grid (within 2.5 %), with a warning.  Each contour used to go to its
    nearest slice and a slice's contours were XORed: on 5 mm, two contours cancelled; on 1.5 mm
    every other slice stayed empty (about half the tumour lost, silently)."""
    d = shared_data / "IBSI_ct_radiomics_phantom_NSCLC"
    img = io.read_image(d / "nifti" / "image" / "phantom.nii.gz")
    n = int(round(img.GetSize()[2] * img.GetSpacing()[2] / dz))
    grid = sitk.Image([*img.GetSize()[:2], n], sitk.sitkUInt8)
    grid.SetSpacing([*img.GetSpacing()[:2], dz])
    grid.SetDirection(img.GetDirection())
    grid.SetOrigin(img.GetOrigin())
    rs = next((d / "dicom" / "mask").glob("*.dcm"))
    with caplog.at_level("WARNING", logger="PanCancerSubtypeLib.io"):
        m_rt = sitk.GetArrayFromImage(io.read_mask(rs, "GTV-1", reference=grid)).astype(bool)
    assert any("contour planes (every 3 mm) are not the image's slices" in r.getMessage()
               for r in caplog.records)
    lab = sitk.Resample(io.read_image(d / "nifti" / "mask" / "mask.nii.gz", check=False), grid,
                        sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    m_lab = sitk.GetArrayFromImage(lab) > 0
    assert abs(int(m_rt.sum()) / int(m_lab.sum()) - 1.0) < 0.025
    assert 2 * (m_rt & m_lab).sum() / (m_rt.sum() + m_lab.sum()) > 0.95


def test_mask_resampled_when_grids_overlap(tmp_path):
    img = _image(shape=(10, 20, 20), spacing=(1.0, 1.0, 2.0), origin=(0, 0, 0))
    fine = _image(shape=(20, 40, 40), spacing=(0.5, 0.5, 1.0), origin=(-0.25, -0.25, -0.5),
                  value=0, dtype=np.uint8)
    arr = np.zeros((20, 40, 40), np.uint8)
    arr[4:12, 10:30, 10:30] = 1  # physical z 4..11 -> coarse slices 2..5, y/x 5..15
    m = io.mask_from_array(arr, fine)
    got = io.align_to_reference(m, img)
    assert got.GetSize() == img.GetSize()
    g = sitk.GetArrayFromImage(got)
    assert g[2:6, 5:15, 5:15].all() and g.sum() == 4 * 10 * 10


def test_mask_rejected_without_overlap():
    img = _image(origin=(0, 0, 0))
    far = _image(origin=(500, 500, 500), value=1, dtype=np.uint8)
    with pytest.raises(GeometryMismatchError) as ei:
        io.align_to_reference(far, img, source="m.nrrd")
    msg = str(ei.value)
    assert "m.nrrd" in msg and "do not overlap" in msg
    assert "mask grid: size=(30, 20, 10)" in msg and "image grid:" in msg and "origin=(500" in msg
    with pytest.raises(GeometryMismatchError, match="strict"):
        shifted = _image(origin=(1, 0, 0), value=1, dtype=np.uint8)
        io.align_to_reference(shifted, img, geometry="strict")


def test_errors_name_the_file(tmp_path):
    img = _image()
    ip = tmp_path / "im.nrrd"
    sitk.WriteImage(img, str(ip))
    # missing file
    with pytest.raises(UnreadableFileError, match="nope.nrrd.*does not exist"):
        io.read_image(tmp_path / "nope.nrrd")
    # unreadable file
    bad = tmp_path / "bad.nrrd"
    bad.write_text("this is not an image")
    with pytest.raises(UnreadableFileError, match="bad.nrrd.*cannot be read"):
        io.read_image(bad)
    # empty mask
    empty = tmp_path / "empty.nrrd"
    sitk.WriteImage(io.mask_from_array(np.zeros((10, 20, 30)), img), str(empty))
    with pytest.raises(EmptyMaskError, match="empty.nrrd"):
        io.load_case(ip, empty)
    # none of the requested labels
    lab = tmp_path / "lab.nrrd"
    sitk.WriteImage(_labels(img, {2: (1, 3, 1, 3, 1, 3)}), str(lab))
    with pytest.raises(LabelNotFoundError, match=r"lab.nrrd.*\[1, 4\].*present: \[2\]"):
        io.load_case(ip, lab, label="1,4")
    # 2D image
    two_d = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((20, 30), np.float32)), str(two_d))
    with pytest.raises(ImageDimensionError, match="flat.nrrd.*2D"):
        io.read_image(two_d)
    one_slice = tmp_path / "one.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((1, 20, 30), np.float32)), str(one_slice))
    with pytest.raises(ImageDimensionError, match="one.nrrd.*single slice"):
        io.read_image(one_slice)
    # NaN image
    arr = sitk.GetArrayFromImage(img)
    arr[3, 4, 5] = np.nan
    nan_img = sitk.GetImageFromArray(arr)
    nan_img.CopyInformation(img)
    nanp = tmp_path / "nan.nrrd"
    sitk.WriteImage(nan_img, str(nanp))
    with pytest.raises(InvalidImageValuesError, match=r"nan.nrrd.*1 NaN.*x,y,z=\(5, 4, 3\)"):
        io.read_image(nanp)


def test_default_label_follows_pyradiomics(tmp_path, caplog):
    img = _image()
    single = _labels(img, {5: (1, 4, 1, 4, 1, 4)})
    assert sitk.GetArrayFromImage(io.select_labels(single, None)).sum() == 27
    multi = _labels(img, {1: (1, 3, 1, 3, 1, 3), 2: (5, 8, 5, 8, 5, 8)})
    got = io.select_labels(multi, None, source="multi.nrrd")
    assert sitk.GetArrayViewFromImage(got).sum() == 8
    assert "using label 1" in caplog.text


def test_parse_label():
    assert io.parse_label("1,3,4") == ([1, 3, 4], None)
    assert io.parse_label(2) == ([2], None)
    assert io.parse_label("GTV-1") == (None, "GTV-1")
    assert io.parse_label("") == (None, None)
    assert io.parse_label(None) == (None, None)


@pytest.mark.parametrize("code", ["LPS", "RAS", "LAS", "SAL", "IRP", "PIL"])
@pytest.mark.parametrize("rotated", [False, True])
def test_the_lps_order_as_index_arithmetic_equals_dicomorient(code, rotated):
    """``voxel_order.LPSOrder`` gives, without reordering the whole image, what ``in_lps_order``
    (``DICOMOrient`` of the whole image) gives: the same voxel for an index, the same part's
    voxels (a part reordered alone equals that part of the reordered image, geometry and all),
    slices and indices mapped both ways, and a part pasted back onto the stored grid in the
    stored order."""
    from PanCancerSubtypeLib.voxel_order import LPSOrder, in_lps_order

    rng = np.random.default_rng(1)
    lps = sitk.GetImageFromArray(rng.random((9, 10, 11)).astype(np.float32))
    lps.SetSpacing((0.7, 0.9, 2.5))
    lps.SetOrigin((-20.0, 10.0, -40.0))
    if rotated:                 # 20 degrees about z: still nearest to the same axes
        c, s = np.cos(np.radians(20.0)), np.sin(np.radians(20.0))
        lps.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    stored = lps if code == "LPS" else sitk.DICOMOrient(lps, code)
    order = LPSOrder(stored)
    work = in_lps_order(stored)
    assert order.identity == (code == "LPS")
    assert order.shape == sitk.GetArrayViewFromImage(work).shape
    assert np.allclose(np.array(order.spacing), work.GetSpacing())
    a_work, a_stored = sitk.GetArrayFromImage(work), sitk.GetArrayFromImage(stored)
    for _ in range(20):
        zyx = np.array([rng.integers(0, n) for n in order.shape])
        xyz = order.to_stored(zyx)
        assert a_work[tuple(zyx)] == a_stored[tuple(xyz[::-1])]
        assert np.array_equal(order.to_lps(xyz), zyx)
        assert np.allclose(work.TransformIndexToPhysicalPoint([int(v) for v in zyx[::-1]]),
                           stored.TransformIndexToPhysicalPoint(xyz), atol=1e-9)
    region = (slice(2, 7), slice(1, 9), slice(3, 10))
    part = order.part(stored, region)
    assert np.array_equal(sitk.GetArrayFromImage(part), a_work[region])
    assert part.GetDirection() == work.GetDirection()
    assert np.allclose(part.GetOrigin(), work.TransformIndexToPhysicalPoint([3, 1, 2]),
                       atol=1e-9)
    assert order.lps_slices(order.stored_slices(region)) == region
    m = (rng.random(a_work[region].shape) > 0.5)
    full = np.zeros(order.shape, np.uint8)
    full[region] = m
    pasted = order.paste(m, region, stored)
    ref = sitk.GetImageFromArray(full)
    ref.CopyInformation(work)
    ref = ref if code == "LPS" else sitk.DICOMOrient(ref, sitk.DICOMOrientImageFilter
                                                    .GetOrientationFromDirectionCosines(
                                                        stored.GetDirection()))
    assert pasted.GetSize() == stored.GetSize() and pasted.GetOrigin() == stored.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(pasted), sitk.GetArrayFromImage(ref))


def test_a_mask_written_as_seg_nrrd_is_read_back_as_a_segmentation(tmp_path):
    """``segment --out tumour.seg.nrrd`` wrote a plain label map under that name: no segment,
    so read_mask (and evaluate-segmentation, features) refused it with 'holds 0 segments'
    (segment CLI audit).  Now it has a 'tumour' segment (Slicer's keys), read back as is."""
    img = _image()
    lab = _labels(img, {1: (2, 5, 3, 9, 4, 12)})
    p = io.write_image(lab, tmp_path / "t.seg.nrrd")
    back = io.read_mask(p, reference=img)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(lab))
    assert io.read_mask(p, "tumour", reference=img).GetSize() == img.GetSize()
    assert not lab.HasMetaDataKey("Segment0_ID")          # the caller's image is unchanged


def test_a_mask_cropped_on_the_images_lattice_is_pasted_exactly(tmp_path):
    """3D Slicer saves a .seg.nrrd cropped to its segments: the same voxel lattice, another
    origin.  It is pasted onto the image's grid voxel for voxel, also where 'strict' geometry
    refuses resampling (evaluate-segmentation refused it: segment CLI audit); a mask a
    fraction of a voxel off the lattice is still not pasted."""
    img = _image()
    lab = _labels(img, {1: (2, 5, 3, 9, 4, 12)})
    fg = np.argwhere(sitk.GetArrayViewFromImage(lab))         # z, y, x
    lo, hi = fg.min(0), fg.max(0) + 1
    crop = lab[int(lo[2]):int(hi[2]), int(lo[1]):int(hi[1]), int(lo[0]):int(hi[0])]
    assert crop.GetOrigin() != lab.GetOrigin()
    got = io.align_to_reference(crop, img, geometry="strict")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(lab))
    off = sitk.Image(crop)
    off.SetOrigin(tuple(o + 0.3 * s for o, s in zip(crop.GetOrigin(), crop.GetSpacing())))
    with pytest.raises(GeometryMismatchError, match="strict"):
        io.align_to_reference(off, img, geometry="strict")
