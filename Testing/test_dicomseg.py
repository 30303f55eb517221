"""DICOM SEG in and out (PanCancerSubtypeLib.dicomseg), on the shared IBSI NSCLC phantom series.

RTSTRUCT -> mask -> DICOM SEG -> mask must be identical, and the written SEG must be a valid
Segmentation object for pydicom and highdicom that references the source series frame by frame.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

from PanCancerSubtypeLib import cli, dicomseg, io  # noqa: E402
from PanCancerSubtypeLib.errors import (GeometryMismatchError, LabelNotFoundError,  # noqa: E402
                                        UnreadableFileError)


@pytest.fixture(scope="module")
def nsclc(shared_data):
    root = shared_data / "IBSI_ct_radiomics_phantom_NSCLC" / "dicom"
    series = root / "image"
    rtstruct = next((root / "mask").glob("*.dcm"))
    image = io.read_image(series)
    mask = io.read_mask(rtstruct, "GTV-1", reference=image)
    return {"series": series, "rtstruct": rtstruct, "image": image, "mask": mask}


@pytest.fixture(scope="module")
def written(nsclc, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "gtv.dcm"
    dicomseg.write_dicom_seg(nsclc["mask"], nsclc["series"], out, algorithm_type="MANUAL",
                             segments=[dicomseg.SegmentSpec(1, "GTV-1", rgb=(1.0, 0.0, 0.0))])
    return out


def test_rtstruct_to_seg_to_mask_is_identical(nsclc, written):
    back = io.read_mask(written, "GTV-1", reference=nsclc["image"])
    a = sitk.GetArrayFromImage(nsclc["mask"])
    b = sitk.GetArrayFromImage(back)
    assert a.sum() > 1000
    assert np.array_equal(a, b)
    assert io.same_geometry(back, nsclc["image"])
    # by segment number, and as the only segment, through load_case (the features' entry point)
    case = io.load_case(nsclc["series"], written, label=1)
    assert np.array_equal(sitk.GetArrayFromImage(case.mask), a)
    assert np.array_equal(sitk.GetArrayFromImage(io.read_mask(written, None,
                                                              reference=nsclc["image"])), a)


def test_seg_on_its_own_grid_holds_the_non_empty_slices(nsclc, written):
    own = dicomseg.read_dicom_seg(written)
    a = sitk.GetArrayFromImage(nsclc["mask"])
    z = np.nonzero(a.any(axis=(1, 2)))[0]
    assert own.GetSize()[2] == z.max() - z.min() + 1
    assert np.allclose(own.GetSpacing(), nsclc["image"].GetSpacing(), rtol=1e-6)
    assert np.array_equal(sitk.GetArrayFromImage(own), a[z.min():z.max() + 1])
    # without a reference the physical position is kept: resampling onto the image is exact
    back = io.align_to_reference(own, nsclc["image"])
    assert np.array_equal(sitk.GetArrayFromImage(back), a)


def test_written_seg_is_valid_and_references_the_source_series(nsclc, written):
    src = {str(ds.SOPInstanceUID): ds for ds in dicomseg.read_series_datasets(nsclc["series"])}
    first = next(iter(src.values()))
    ds = pydicom.dcmread(str(written))
    assert ds.SOPClassUID == dicomseg.SEGMENTATION_STORAGE
    assert ds.file_meta.MediaStorageSOPClassUID == dicomseg.SEGMENTATION_STORAGE
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == first.StudyInstanceUID
    assert ds.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert ds.PatientID == first.PatientID
    assert ds.SeriesInstanceUID != first.SeriesInstanceUID
    ref = ds.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == first.SeriesInstanceUID
    assert {str(r.ReferencedSOPInstanceUID) for r in ref.ReferencedInstanceSequence} == set(src)
    a = sitk.GetArrayFromImage(nsclc["mask"])
    assert int(ds.NumberOfFrames) == int(a.any(axis=(1, 2)).sum())  # empty frames omitted
    frames = ds.pixel_array                                            # pydicom decodes 1-bit
    assert frames.shape == (int(ds.NumberOfFrames), first.Rows, first.Columns)
    for i, f in enumerate(ds.PerFrameFunctionalGroupsSequence):
        uid = str(f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        source = src[uid]
        assert [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient] == \
            pytest.approx([float(v) for v in source.ImagePositionPatient], abs=1e-4)
        k = int(round(nsclc["image"].TransformPhysicalPointToContinuousIndex(
            [float(v) for v in source.ImagePositionPatient])[2]))
        assert np.array_equal(frames[i].astype(bool), a[k].astype(bool))
    seg = hd.seg.segread(str(written))                                 # highdicom parses it
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["GTV-1"]
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"
    assert len(seg.SegmentSequence[0].RecommendedDisplayCIELabValue) == 3
    uids = seg.get_source_image_uids()                                # (study, series, sop)
    assert uids and {str(u[0]) for u in uids} == {first.StudyInstanceUID}
    assert {str(u[2]) for u in uids} <= set(src)


def test_wrong_segment_and_bad_inputs_name_the_file(nsclc, written, tmp_path):
    with pytest.raises(LabelNotFoundError, match="GTV-1") as exc:
        io.read_mask(written, "liver", reference=nsclc["image"])
    assert str(written) in str(exc.value)
    with pytest.raises(LabelNotFoundError):
        io.read_mask(written, 7, reference=nsclc["image"])
    assert dicomseg.is_dicom_seg(written) and not dicomseg.is_dicom_seg(nsclc["rtstruct"])
    # a mask that is not on the series' grid is refused, not silently misplaced
    shifted = sitk.Image(nsclc["mask"])
    shifted.SetOrigin([v + 0.3 for v in shifted.GetOrigin()])
    with pytest.raises(GeometryMismatchError, match="align_to_reference"):
        dicomseg.write_dicom_seg(shifted, nsclc["series"], tmp_path / "x.dcm")
    with pytest.raises(UnreadableFileError):
        dicomseg.write_dicom_seg(nsclc["mask"], tmp_path, tmp_path / "y.dcm")
    assert not (tmp_path / "x.dcm").exists()


def test_regions_command_writes_a_four_segment_seg(nsclc, written, tmp_path, capsys):
    out = tmp_path / "regions.dcm"
    nrrd = tmp_path / "regions.nrrd"
    args = ["regions", "--image", str(nsclc["series"]), "--mask", str(written),
            "--label", "GTV-1"]
    assert cli.main(args + ["--out", str(out)]) == 0
    assert cli.main(args + ["--out", str(nrrd)]) == 0
    lab = sitk.GetArrayFromImage(sitk.ReadImage(str(nrrd)))
    labels = dicomseg.segment_labels(out)
    assert sorted(labels) == [1, 2, 3, 4]
    assert labels[1].startswith("TC") and labels[4].startswith("PM10")
    seg = hd.seg.segread(str(out))
    types = {int(s.SegmentNumber): s.SegmentedPropertyTypeCodeSequence[0].CodeMeaning
             for s in seg.SegmentSequence}
    assert types == {1: "Neoplasm", 2: "Neoplasm", 3: "Tissue", 4: "Tissue"}
    for number, name in labels.items():
        m = io.read_mask(out, name, reference=nsclc["image"])
        assert np.array_equal(sitk.GetArrayFromImage(m).astype(bool), lab == number), name
    # a SEG needs the series it references: an image file is refused in one line before any
    # work, as a usage error (exit 2) naming --out
    img_file = tmp_path / "image.nrrd"
    sitk.WriteImage(nsclc["image"], str(img_file))
    capsys.readouterr()
    assert cli.main(["regions", "--image", str(img_file), "--mask", str(written),
                     "--out", str(tmp_path / "r2.dcm")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "series folder" in err[0] and "--out" in err[0]
    assert not (tmp_path / "r2.dcm").exists()


def test_the_same_mask_gives_the_same_seg(nsclc, written, tmp_path, monkeypatch):
    """The UIDs come from the content: the same mask written again is the same object, only its
    creation time differs, and with SOURCE_DATE_EPOCH the same bytes; another mask another
    object."""
    import pydicom

    again = tmp_path / "again.dcm"
    dicomseg.write_dicom_seg(nsclc["mask"], nsclc["series"], again, algorithm_type="MANUAL",
                             segments=[dicomseg.SegmentSpec(1, "GTV-1", rgb=(1.0, 0.0, 0.0))])
    a, b = pydicom.dcmread(written), pydicom.dcmread(again)
    for kw in ("SOPInstanceUID", "SeriesInstanceUID"):
        assert a[kw].value == b[kw].value
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    assert (a.DimensionOrganizationSequence[0].DimensionOrganizationUID
            == b.DimensionIndexSequence[0].DimensionOrganizationUID)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    one, two = tmp_path / "one.dcm", tmp_path / "two.dcm"
    for out in (one, two):
        dicomseg.write_dicom_seg(nsclc["mask"], nsclc["series"], out, algorithm_type="MANUAL",
                                 segments=[dicomseg.SegmentSpec(1, "GTV-1", rgb=(1.0, 0.0, 0.0))])
    assert one.read_bytes() == two.read_bytes()
    c = pydicom.dcmread(one)
    assert (c.ContentDate, c.ContentTime) == ("20231114", "221320")   # 1700000000 s, UTC
    assert c.ContributingEquipmentSequence[-1].ContributionDateTime == "20231114221320"
    assert c.SOPInstanceUID == a.SOPInstanceUID
    # another mask (one voxel less): another object
    arr = sitk.GetArrayFromImage(nsclc["mask"])
    arr[tuple(np.argwhere(arr)[0])] = 0
    other = sitk.GetImageFromArray(arr)
    other.CopyInformation(nsclc["mask"])
    dicomseg.write_dicom_seg(other, nsclc["series"], tmp_path / "o.dcm", algorithm_type="MANUAL",
                             segments=[dicomseg.SegmentSpec(1, "GTV-1", rgb=(1.0, 0.0, 0.0))])
    o = pydicom.dcmread(tmp_path / "o.dcm")
    assert o.SOPInstanceUID != a.SOPInstanceUID and o.SeriesInstanceUID != a.SeriesInstanceUID


def test_evaluate_segmentation_reads_a_seg_on_the_other_masks_grid(nsclc, written, tmp_path,
                                                                   capsys):
    """``evaluate-segmentation`` of the SEG that ``segment --out x.dcm`` would write (frames of
    the non-empty slices only) against the same mask as NIfTI, either way round and against
    itself: Dice 1 and the same volume (it was refused: the SEG's own grid is a slab of the
    image's); a label map reference keeps its --ref-label."""
    import json

    nii = tmp_path / "gtv.nii.gz"
    sitk.WriteImage(nsclc["mask"], str(nii))
    labels = sitk.Cast(nsclc["mask"], sitk.sitkUInt8) * 3        # the GTV as label 3
    lab = tmp_path / "labels.nii.gz"
    sitk.WriteImage(labels, str(lab))
    n_ref = int(sitk.GetArrayViewFromImage(nsclc["mask"]).sum())
    for pred, ref, extra in [(written, nii, []), (nii, written, []), (written, written, []),
                             (written, lab, ["--ref-label", "3"]), (written, nii, ["--label", "1"])]:
        out = tmp_path / "m.json"
        assert cli.main(["evaluate-segmentation", "--pred", str(pred), "--ref", str(ref),
                         "--out", str(out), *extra]) == 0, capsys.readouterr().err
        m = json.loads(out.read_text())
        assert m["dice"] == 1.0 and m["n_pred"] == m["n_ref"] == n_ref, (pred, ref, m)
    # the same mask in another voxel order (a RAS NIfTI of the series, as dcm2niix writes):
    # the SEG was refused ("size differs ... resample first": segment CLI audit)
    ras = tmp_path / "gtv_ras.nii.gz"
    sitk.WriteImage(sitk.DICOMOrient(nsclc["mask"], "RAS"), str(ras))
    for pred, ref in [(written, ras), (ras, written)]:
        out = tmp_path / "m.json"
        assert cli.main(["evaluate-segmentation", "--pred", str(pred), "--ref", str(ref),
                         "--out", str(out)]) == 0, capsys.readouterr().err
        m = json.loads(out.read_text())
        assert m["dice"] == 1.0 and m["n_pred"] == m["n_ref"] == n_ref, (pred, ref, m)
    # a segment number the SEG does not hold is named
    assert cli.main(["evaluate-segmentation", "--pred", str(written), "--ref", str(nii),
                     "--label", "2"]) != 0
    assert "gtv.dcm" in capsys.readouterr().err


def _series_without(tmp_path, drop):
    """A 12 x 12 x 5 CT series (SimpleITK's writer) without the attribute ``drop``."""
    img = sitk.GetImageFromArray(np.full((5, 12, 12), -100, np.int16))
    img.SetSpacing((0.8, 0.8, 2.5))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    tags = {"0008|0060": "CT", "0020|000e": "1.2.3.77", "0020|000d": "1.2.3.70",
            "0020|0052": "1.2.3.71", "0018|0050": "2.5", "0010|0020": "P1",
            "0020|0037": "1\\0\\0\\0\\1\\0"}
    for k in range(5):
        sl = img[:, :, k]
        for t, v in tags.items():
            if t != drop:
                sl.SetMetaData(t, v)
        sl.SetMetaData("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint(
            (0, 0, k)))))
        sl.SetMetaData("0020|0013", str(k + 1))
        sl.SetMetaData("0008|0018", f"1.2.3.77.{k + 1}")
        writer.SetFileName(str(tmp_path / f"i{k}.dcm"))
        writer.Execute(sl)
    return tmp_path


def test_seg_of_a_series_without_slice_thickness_or_frame_of_reference(tmp_path, capsys):
    """SliceThickness is type 2 (may be absent): the SEG takes the slice spacing (it ended in
    an internal AttributeError inside highdicom, after the work).  Without a Frame of Reference
    UID no SEG can reference the series: refused before any work, naming the folder."""
    (tmp_path / "a").mkdir()
    series = _series_without(tmp_path / "a", "0018|0050")
    img = io.read_image(series)
    mask = sitk.Image(img.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(img)
    mask[3:8, 3:8, 1:4] = 1
    out = dicomseg.write_dicom_seg(mask, series, tmp_path / "a.dcm")
    back = io.read_mask(out, reference=img)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back) > 0, sitk.GetArrayFromImage(mask) > 0)
    (tmp_path / "b").mkdir()
    no_for = _series_without(tmp_path / "b", "0020|0052")
    rc = cli.main(["regions", "--image", str(no_for), "--mask", str(tmp_path / "a.dcm"),
                   "--out", str(tmp_path / "out" / "r.dcm")])
    err = capsys.readouterr().err
    assert rc == 1 and "has no Frame of Reference UID (0020,0052)" in err and str(no_for) in err
    assert not (tmp_path / "out" / "r.dcm").exists()


def test_without_highdicom_a_dicom_seg_is_one_line_naming_where_it_comes_from(monkeypatch,
                                                                             tmp_path):
    """Slicer 5.8 and 5.10 do not ship highdicom (packaging audit): the message says where it
    comes from and what to use instead; the command line exits 2 (a missing dependency)."""
    import sys

    from PanCancerSubtypeLib import dicomseg
    from PanCancerSubtypeLib.errors import MissingDependencyError, exit_code

    monkeypatch.setitem(sys.modules, "highdicom", None)
    with pytest.raises(MissingDependencyError, match=r"DICOM SEG needs highdicom.*5\.12.*"
                                                     r"\.seg\.nrrd") as exc:
        dicomseg._highdicom()
    assert exit_code(exc.value) == 2
