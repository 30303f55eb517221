"""GUI-free module logic (PanCancerSubtypeSlicerLib.logic) on real MRML (slicer-core).

The batch path (manifest -> volume + segmentation nodes -> features from the nodes -> .seg.nrrd and
features.csv) is checked against values computed straight from the files with SimpleITK, so a
geometry or mask error anywhere in the scene round trip shows up as a wrong voxel count or centroid.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest

pytestmark = pytest.mark.slicer

slicer = pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install "
                                              "slicer-core vtk==9.6.2): MRML tests skipped")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core (no vtkMRMLScene)",
                allow_module_level=True)

import SimpleITK as sitk  # noqa: E402

from PanCancerSubtypeLib.registry import FeatureSpec  # noqa: E402
from PanCancerSubtypeSlicerLib import logic, mrml  # noqa: E402


class MaskStats:
    """A tiny feature group: voxel count and physical centroid (LPS mm) of the tumour mask."""

    name = "teststats"
    prefix = "teststats_"

    def specs(self):
        return [FeatureSpec("teststats_voxels", "teststats", "tumour voxels"),
                FeatureSpec("teststats_cx", "teststats", "centroid x (LPS)", unit="mm"),
                FeatureSpec("teststats_cy", "teststats", "centroid y (LPS)", unit="mm"),
                FeatureSpec("teststats_cz", "teststats", "centroid z (LPS)", unit="mm")]

    def options(self):
        return {}

    def compute(self, case):
        return _stats(case.mask, case.image)


def _stats(mask, image):
    arr = sitk.GetArrayFromImage(mask) > 0
    kji = np.argwhere(arr).mean(axis=0)
    c = image.TransformContinuousIndexToPhysicalPoint(tuple(float(x) for x in kji[::-1]))
    return {"teststats_voxels": int(arr.sum()), "teststats_cx": c[0], "teststats_cy": c[1],
            "teststats_cz": c[2]}


@pytest.fixture()
def scene():
    s = slicer.vtkMRMLScene()
    yield s
    s.Clear(1)


@pytest.mark.shared_data
def test_run_manifest_through_scene(scene, shared_cases, tmp_path):
    slicerio = pytest.importorskip("slicerio")
    man = tmp_path / "cases.csv"
    ids = ["breast1", "brats_pat0001"]
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Mask", "Label", "Organ", "Modality", "OrganMask"])
        for cid in ids:
            r = shared_cases[cid]
            w.writerow([cid, r["image"], r["mask"], r["tumour_labels"], r["cancer_type"],
                        r["modality"], r.get("organ_mask") or ""])
        w.writerow(["missing", str(tmp_path / "nope.nrrd"), str(tmp_path / "nope.nrrd"), "1",
                    "", "", ""])
    seen = []
    df, table = logic.run_manifest(str(man), str(tmp_path / "out"), scene=scene,
                                   instances=[MaskStats()],
                                   progress=lambda i, n, cid: seen.append((i, n)))
    assert seen[-1] == (3, 3)
    assert df["ID"].tolist() == ids + ["missing"]
    for cid in ids:
        r = shared_cases[cid]
        img = sitk.ReadImage(r["image"])
        m = sitk.ReadImage(r["mask"])
        labels = [int(x) for x in r["tumour_labels"].split(",")]
        sel = sitk.GetImageFromArray(np.isin(sitk.GetArrayFromImage(m), labels).astype(np.uint8))
        sel.CopyInformation(m)
        want = _stats(sel, img)
        got = df.set_index("ID").loc[cid]
        assert got["error"] == ""
        assert got["teststats_voxels"] == want["teststats_voxels"]
        for ax in "xyz":
            assert got[f"teststats_c{ax}"] == pytest.approx(want[f"teststats_c{ax}"], abs=1e-6)
        s = slicerio.read_segmentation(str(tmp_path / "out" / "segmentations" / f"{cid}.seg.nrrd"))
        names = [x["name"] for x in s["segments"]]
        assert names[0] == "tumour"
        if r.get("organ_mask"):
            assert names[1] == r["cancer_type"]
    err = df.set_index("ID").loc["missing", "error"]
    assert "UnreadableFileError" in err and "nope.nrrd" in err
    # the CSV written by Slicer's table writer has the same values
    import pandas as pd

    back = pd.read_csv(tmp_path / "out" / "features.csv")
    assert back["teststats_voxels"].tolist()[:2] == df["teststats_voxels"].tolist()[:2]
    assert table.GetColumnDescription("teststats_cx") == "centroid x (LPS)"


@pytest.mark.shared_data
def test_compute_features_from_nodes(scene, shared_cases):
    r = shared_cases["brain1"]
    img = sitk.ReadImage(r["image"])
    mask = sitk.ReadImage(r["mask"])
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brain1")
    seg = mrml.segmentation_node_from_masks({"tumour": sitk.GetArrayFromImage(mask) == 1}, vol,
                                            scene=scene)
    table = logic.compute_features(vol, seg, ["tumour"], instances=[MaskStats()], modality="MR")
    df = mrml.dataframe_from_table_node(table)
    assert df["Segment"].tolist() == ["tumour"]
    assert df["Modality"].tolist() == ["MR"]
    want = _stats(mask, img)
    assert df["teststats_voxels"].iloc[0] == want["teststats_voxels"]
    assert df["teststats_cz"].iloc[0] == pytest.approx(want["teststats_cz"], abs=1e-6)


def test_empty_segment_is_reported(scene):
    img = sitk.GetImageFromArray(np.zeros((4, 4, 4), np.int16))
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="case_x")
    seg = mrml.segmentation_node_from_masks({"tumour": np.zeros((4, 4, 4), bool)}, vol,
                                            scene=scene)
    from PanCancerSubtypeLib.errors import EmptyMaskError

    with pytest.raises(EmptyMaskError, match="case_x"):
        logic.case_from_nodes(vol, seg, "tumour")


def test_seeds_from_markups_are_lps(scene):
    f = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    f.AddControlPoint(10.0, -20.0, 30.0)
    f.AddControlPoint(-1.5, 2.5, -3.5)
    assert logic.seeds_lps_from_markups(f) == [(-10.0, 20.0, 30.0), (1.5, -2.5, -3.5)]
    empty = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "none")
    with pytest.raises(ValueError, match="no control points"):
        logic.seeds_lps_from_markups(empty)


def test_km_chart_from_table(scene):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("lifelines")
    df = pd.DataFrame({"ID": list("abcdef"), "Subtype": ["1", "1", "1", "2", "2", "2"],
                       "time": [1.0, 2.0, 3.0, 1.0, 4.0, 5.0], "event": [1, 1, 0, 0, 1, 1]})
    t = mrml.table_node_from_dataframe(df, scene=scene, name="clin")
    chart = logic.km_chart_from_table(t, "Subtype")
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    got = mrml.chart_series_arrays(chart)
    x, y = got["Kaplan-Meier by Subtype 1"]
    # product-limit by hand: events at 1 (3 at risk) and 2 (2 at risk), censored at 3
    assert y[-1] == pytest.approx((2 / 3) * (1 / 2))
    x2, y2 = got["Kaplan-Meier by Subtype 2"]
    # censored at 1, events at 4 (2 at risk) and 5 (1 at risk)
    assert y2[-1] == pytest.approx(0.0)
    assert np.max(x2) == 5.0


def test_feature_columns_and_manifest_errors(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"ID": ["a"], "shape_x": [1.0], "diag_time_shape_s": [0.1], "error": [""],
                       "Modality": ["CT"], "regional_y": [2]})
    assert logic.feature_columns(df) == ["shape_x", "regional_y"]
    from PanCancerSubtypeLib.errors import ManifestError

    bad = tmp_path / "m.csv"
    bad.write_text("Image,ID\na.nrrd,x\n")
    with pytest.raises(ManifestError, match="Mask"):
        logic.read_manifest(str(bad))
    dup = tmp_path / "d.csv"
    dup.write_text("Image,Mask,ID\na.nrrd,b.nrrd,x\nc.nrrd,d.nrrd,x\n")
    with pytest.raises(ManifestError, match="duplicate"):
        logic.read_manifest(str(dup))


def _load_batch_script():
    import importlib.util
    from pathlib import Path

    path = (Path(__file__).resolve().parents[1] / "PanCancerSubtype" / "PanCancerSubtype"
            / "Scripts" / "run_cohort.py")
    spec = importlib.util.spec_from_file_location("pcs_run_cohort", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the __main__ guard keeps it from running
    return mod


@pytest.mark.shared_data
def test_batch_script_exit_codes(scene, shared_cases, tmp_path, capsys):
    script = _load_batch_script()
    r = shared_cases["breast1"]
    good = tmp_path / "good.csv"
    good.write_text(f"ID,Image,Mask,Label\nbreast1,{r['image']},{r['mask']},1\n")
    rc = script.main(["--manifest", str(good), "--out", str(tmp_path / "o1")], scene=scene,
                     instances=[MaskStats()])
    assert rc == 0
    assert (tmp_path / "o1" / "segmentations" / "breast1.seg.nrrd").is_file()
    import pandas as pd

    out = pd.read_csv(tmp_path / "o1" / "features.csv")
    assert out["teststats_voxels"].tolist() == [
        int((sitk.GetArrayFromImage(sitk.ReadImage(r["mask"])) == 1).sum())]

    bad_case = tmp_path / "bad.csv"
    bad_case.write_text(f"ID,Image,Mask,Label\nbreast1,{r['image']},{r['mask']},7\n")
    rc = script.main(["--manifest", str(bad_case), "--out", str(tmp_path / "o2")], scene=scene,
                     instances=[MaskStats()])
    assert rc == 1
    assert "LabelNotFoundError" in capsys.readouterr().err

    bad_manifest = tmp_path / "nocols.csv"
    bad_manifest.write_text("Path\nx\n")
    assert script.main(["--manifest", str(bad_manifest), "--out", str(tmp_path / "o3")],
                       scene=scene) == 2
    assert script.main(["--out", str(tmp_path / "o4")], scene=scene) == 2
