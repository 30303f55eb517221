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


def _brain1_nodes(scene, shared_cases):
    """brain1's T1c and tumour as a volume node and a segmentation node (segment "tumour")."""
    r = shared_cases["brain1"]
    img = sitk.ReadImage(r["image"])
    mask = sitk.ReadImage(r["mask"])
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brain1")
    seg = mrml.segmentation_node_from_masks({"tumour": sitk.GetArrayFromImage(mask) == 1}, vol,
                                            scene=scene)
    return img, mask, vol, seg


@pytest.mark.shared_data
def test_compute_features_from_nodes(scene, shared_cases):
    img, mask, vol, seg = _brain1_nodes(scene, shared_cases)
    table = logic.compute_features(vol, seg, ["tumour"], instances=[MaskStats()], modality="MR")
    df = mrml.dataframe_from_table_node(table)
    assert df["Segment"].tolist() == ["tumour"]
    assert df["Modality"].tolist() == ["MR"]
    want = _stats(mask, img)
    assert df["teststats_voxels"].iloc[0] == want["teststats_voxels"]
    assert df["teststats_cz"].iloc[0] == pytest.approx(want["teststats_cz"], abs=1e-6)


@pytest.mark.shared_data
def test_compute_features_of_an_mr_tumour_with_its_organ(scene, shared_cases):
    """The README's console example on an MR case: without an organ the regional features cannot
    choose a parenchyma (the row's error says so); with ``organ="brain"`` all 313 cross-modality
    features are computed, as ``features --organ brain`` computes them."""
    _, _, vol, seg = _brain1_nodes(scene, shared_cases)
    bare = mrml.dataframe_from_table_node(logic.compute_features(vol, seg, ["tumour"],
                                                                 groups="cross", modality="MR"))
    assert "parenchyma" in str(bare["error"].iloc[0])
    df = mrml.dataframe_from_table_node(logic.compute_features(
        vol, seg, ["tumour"], groups="cross", modality="MR", organ="brain"))
    assert str(df["error"].iloc[0]).strip() in ("", "nan")
    regional = [c for c in df.columns if c.startswith("regional_")]
    assert len(regional) == 20 and df[regional].notna().all(axis=1).iloc[0]


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
    with pytest.raises(ValueError, match="no placed control points"):
        logic.seeds_lps_from_markups(empty)
    # an unplaced point ("Clear position") and the preview point under the mouse in place
    # mode are not seeds (Slicer audit: both were sent to the method at stale positions)
    i = f.AddControlPoint(-50.0, 60.0, 70.0)
    f.UnsetNthControlPointPosition(i)
    j = f.AddControlPoint(0.0, 0.0, 0.0)
    f.SetNthControlPointPosition(j, 80.0, -90.0, 5.0, f.PositionPreview)
    assert logic.seeds_lps_from_markups(f) == [(-10.0, 20.0, 30.0), (1.5, -2.5, -3.5)]
    assert logic.placed_points(f) == 2 and logic.placed_points(None) == 0
    k = empty.AddControlPoint(1.0, 2.0, 3.0)
    empty.UnsetNthControlPointPosition(k)
    assert logic.placed_points(empty) == 0
    with pytest.raises(ValueError, match="no placed control points"):
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
    # cases without a subtype ("") are missing, not a nameless group (audit)
    df2 = pd.concat([df, pd.DataFrame({"ID": ["g", "h"], "Subtype": ["", ""],
                                       "time": [2.0, 6.0], "event": [1, 0]})])
    t2 = mrml.table_node_from_dataframe(df2, scene=scene, name="clin2")
    got2 = mrml.chart_series_arrays(logic.km_chart_from_table(t2, "Subtype"))
    assert sorted(got2) == ["Kaplan-Meier by Subtype 1", "Kaplan-Meier by Subtype 2"]
    np.testing.assert_allclose(got2["Kaplan-Meier by Subtype 1"][1], y)


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
            / "SlicerScripts" / "run_cohort.py")
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


# ---------------------------------------------------------------------------------------------
# background-job plumbing: files in / files out, command lines, progress parsing
# ---------------------------------------------------------------------------------------------

def test_parse_progress_and_commands():
    from PanCancerSubtypeSlicerLib import process

    assert process.parse_progress(" 45%|####5     | 9/20 [00:03<00:04,  2.5it/s]") == (9, 20)
    assert process.parse_progress("[3/7] lung1") == (3, 7)
    assert process.parse_progress("spacing 0.78/0.78 mm") is None
    assert process.parse_progress("no numbers") is None
    assert process.parse_progress("12/10 nonsense") is None
    cmd = process.build_command("features", ["--image", "a b.nrrd"], python="/x/PythonSlicer")
    assert cmd == ["/x/PythonSlicer", "-m", "PanCancerSubtypeLib", "features", "--image",
                   "a b.nrrd"]
    args = logic.segment_args("i.nrrd", "o.nrrd", seeds_lps=[(1.5, -2.0, 3.25)], model_dir=None)
    assert args == ["--image=i.nrrd", "--out=o.nrrd", "--seed=1.5,-2,3.25"]
    fa = logic.features_args({"image": "i", "mask": "m", "organ_mask": "o"}, "f.csv", "CT",
                             ["shape", "radiomics"], "c1", organ="lung")
    assert fa == ["--image=i", "--mask=m", "--out=f.csv", "--groups=shape,radiomics",
                  "--organ-mask=o", "--modality=CT", "--id=c1", "--organ=lung"]


def test_negative_seed_passes_the_cli_parser():
    """A seed at negative x (lung1's tumour centre) reaches ``pancancer-subtype segment`` intact:
    argparse takes a separate value that starts with ``-`` for an option (exit 2)."""
    from PanCancerSubtypeLib import cli

    seeds = [(-21.86, -120.5, -611.5), (46.5, 16.5, 15.5)]
    ns = cli.build_parser().parse_args(["segment"] + logic.segment_args("i.nrrd", "o.nrrd",
                                                                        seeds_lps=seeds))
    assert [tuple(float(v) for v in s.split(",")) for s in ns.seed] == seeds
    assert ns.image == "i.nrrd" and ns.out == "o.nrrd"


def test_box_background_and_second_channel_arguments(scene):
    """The Segmentation panel's optional inputs reach ``segment``: a ROI's RAS bounds become the
    LPS box (x and y negated, corners reordered), background points become LPS, the second
    channel and report are files, negative values survive argparse."""
    from PanCancerSubtypeLib import cli

    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "box")
    roi.SetXYZ(10.0, -20.0, 30.0)          # RAS centre
    roi.SetRadiusXYZ(5.0, 6.0, 7.0)
    box = logic.box_lps_from_roi(roi)
    assert box == pytest.approx([-15.0, 14.0, 23.0, -5.0, 26.0, 37.0])
    bg = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "bg")
    bg.AddControlPoint(4.0, 5.0, -6.0)
    args = logic.segment_args("i.nrrd", "o.nrrd", seeds_lps=[(-21.86, -120.5, -611.5)],
                              bbox_lps=box, background_lps=logic.seeds_lps_from_markups(bg),
                              second_channel_path="-flair.nrrd", method="click",
                              report_path="r.json", settings={"warn-below": 0.7})
    ns = cli.build_parser().parse_args(["segment"] + args)
    assert [float(v) for v in ns.bbox.split(",")] == pytest.approx(box)
    assert [[float(v) for v in b.split(",")] for b in ns.background] == [[-4.0, -5.0, -6.0]]
    assert ns.second_channel == "-flair.nrrd" and ns.resample_second_channel
    assert ns.method == "click" and ns.report == "r.json" and ns.warn_below == 0.7
    ns = cli.build_parser().parse_args(["segment"] + logic.segment_args(
        "i", "o", seeds_lps=[(1, 2, 3)], method="region_growing"))
    assert ns.method == "region_growing" and ns.second_channel is None and ns.bbox is None
    flat = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "flat")
    flat.SetRadiusXYZ(5.0, 0.0, 7.0)
    with pytest.raises(ValueError, match="no extent"):
        logic.box_lps_from_roi(flat)


def test_confidence_text(tmp_path):
    import json

    p = tmp_path / "r.json"
    p.write_text(json.dumps({"confidence": 0.62, "warn_below": 0.8, "model": "bright",
                             "modality": "MR", "modality_guessed": True,
                             "warnings": ["the mask depends on where one clicks (...)",
                                          "the image shows the boundary on only 40%"]}))
    rep = logic.read_segment_report(str(p))
    assert rep["low"] is True
    text = logic.confidence_text(rep, warnings=True)
    assert text.startswith("Low confidence 0.62 (< 0.8)") and "modality MR (guessed)" in text
    assert "Warning: the image shows the boundary on only 40%." in text
    assert text.count("depends on where one clicks") == 1
    p.write_text(json.dumps({"confidence": 0.93, "warn_below": 0.8, "model": "lung",
                             "modality": "CT", "modality_guessed": False, "warnings": []}))
    rep = logic.read_segment_report(str(p))
    assert rep["low"] is False
    assert logic.confidence_text(rep) == ("Confidence 0.93 (agreement of the masks from other "
                                          "clicks). Model lung, modality CT.")
    assert logic.confidence_text(None) == ""
    # a mask the method itself doubts (smaller than the click's ball, or hardly filling the
    # box) is low whatever its confidence, and the panel points at the warnings
    p.write_text(json.dumps({"confidence": 0.95, "warn_below": 0.8, "model": "generic",
                             "modality": "CT", "modality_guessed": False, "needs_check": True,
                             "warnings": ["the mask fills only 0.4% of the box: ..."]}))
    rep = logic.read_segment_report(str(p))
    assert rep["low"] is True
    text = logic.confidence_text(rep, warnings=True)
    assert text.startswith("Confidence 0.95: check the mask (see the warnings).")
    assert "Warning: the mask fills only 0.4% of the box" in text


def test_child_process_finds_the_library(tmp_path):
    """The child environment puts the library on PYTHONPATH (PythonSlicer does not see extension
    folders), so the core's CLI runs in a fresh interpreter."""
    import sys

    from PanCancerSubtypeSlicerLib import process

    lines = []
    rc = process.run_blocking([sys.executable, "-c",
                               "import PanCancerSubtypeLib, PanCancerSubtypeSlicerLib.jobs as j; "
                               "print(PanCancerSubtypeLib.__file__); print('1/1')"],
                              log=lines.append)
    assert rc == 0, lines
    assert lines[0].endswith("__init__.py") and "PanCancerSubtypeLib" in lines[0]
    assert process.parse_progress(lines[-1]) == (1, 1)


@pytest.mark.shared_data
def test_write_case_inputs_and_read_back(scene, shared_cases, tmp_path):
    r = shared_cases["brats_pat0001"]
    img = sitk.ReadImage(r["image"])
    lab = sitk.GetArrayFromImage(sitk.ReadImage(r["mask"]))
    organ = sitk.GetArrayFromImage(sitk.ReadImage(r["organ_mask"])) > 0
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brats")
    tumour = np.isin(lab, [1, 3, 4])
    seg = mrml.segmentation_node_from_masks({"tumour": tumour, "brain": organ}, vol, scene=scene)
    paths = logic.write_case_inputs(vol, seg, "tumour", "brain", out_dir=str(tmp_path))
    back = sitk.ReadImage(paths["image"])
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(paths["mask"])), tumour)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(paths["organ_mask"])),
                                  organ)
    # a mask file read back into a new segment; the multi-label map into the four regions
    seg2 = mrml.new_segmentation_node(vol, scene=scene)
    logic.segment_from_file(paths["mask"], seg2, vol, "tumour")
    np.testing.assert_array_equal(mrml.mask_from_segment(seg2, "tumour", vol), tumour)
    regions = np.zeros(lab.shape, np.uint8)
    regions[lab == 1] = 1
    regions[lab == 4] = 2
    regions[lab == 2] = 3
    regions[lab == 3] = 4
    rimg = sitk.GetImageFromArray(regions)
    rimg.CopyInformation(img)
    sitk.WriteImage(rimg, str(tmp_path / "regions.nrrd"))
    logic.regions_from_file(str(tmp_path / "regions.nrrd"), seg2, vol)
    assert mrml.segment_names(seg2) == ["tumour", "TC", "TIM", "PM5 ring", "PM10 ring"]
    for v, nm in mrml.REGION_LABELS.items():
        np.testing.assert_array_equal(mrml.mask_from_segment(seg2, nm, vol), regions == v)


def test_segment_from_file_resamples_other_grid(scene, tmp_path):
    """A mask on a 2x coarser grid covering the same box lands on the volume's grid."""
    img = sitk.GetImageFromArray(np.zeros((8, 8, 8), np.int16))
    img.SetSpacing((1.0, 1.0, 1.0))
    vol = mrml.volume_node_from_sitk(img, scene=scene)
    coarse = np.zeros((4, 4, 4), np.uint8)
    coarse[1:3, 1:3, 1:3] = 1
    cimg = sitk.GetImageFromArray(coarse)
    cimg.SetSpacing((2.0, 2.0, 2.0))
    cimg.SetOrigin((0.5, 0.5, 0.5))  # voxel centres of the coarse grid at 0.5, 2.5, ...
    sitk.WriteImage(cimg, str(tmp_path / "coarse.nrrd"))
    seg = mrml.new_segmentation_node(vol, scene=scene)
    logic.segment_from_file(str(tmp_path / "coarse.nrrd"), seg, vol, "tumour")
    got = mrml.mask_from_segment(seg, "tumour", vol)
    want = np.zeros((8, 8, 8), np.uint8)
    want[2:6, 2:6, 2:6] = 1  # fine voxels whose centre falls in a coarse tumour voxel
    np.testing.assert_array_equal(got, want)


def test_cdf_and_discovery_results(scene, tmp_path):
    pd = pytest.importorskip("pandas")
    m = np.array([[1.0, 0.2, 0.9, 0.0],
                  [0.2, 1.0, 0.2, 1.0],
                  [0.9, 0.2, 1.0, 0.0],
                  [0.0, 1.0, 0.0, 1.0]])
    # the panel draws the core's consensus CDF (one definition: consensus.consensus_cdf_xy)
    from PanCancerSubtypeLib.consensus import consensus_cdf_xy

    x, y = consensus_cdf_xy(m)
    # off-diagonal values: 0.2, 0.9, 0.0, 0.2, 1.0, 0.0 -> sorted 0,0,0.2,0.2,0.9,1; the ECDF at
    # the core's grid 0.01..1.00 steps at 0.2 (to 4/6), 0.9 (5/6) and 1.0 (1)
    np.testing.assert_allclose(x[[0, 19, 89, 99]], [0.01, 0.2, 0.9, 1.0])
    np.testing.assert_allclose(y[[0, 19, 89, 99]], [2 / 6, 4 / 6, 5 / 6, 1.0])
    np.testing.assert_allclose(np.unique(y), [2 / 6, 4 / 6, 5 / 6, 1.0])
    with pytest.raises(ValueError, match="square"):
        consensus_cdf_xy(np.zeros((2, 3)))

    pd.DataFrame({"k": [2, 3], "cdf_area": [0.5, 0.6], "delta_area": [0.5, 0.2],
                  "pac": [0.1, 0.3]}).to_csv(tmp_path / "per_k.csv", index=False)
    pd.DataFrame({"ID": ["a", "b", "c", "d"], "k2": [1, 2, 1, 2], "k3": [1, 2, 3, 2]}).to_csv(
        tmp_path / "classes.csv", index=False)
    np.savez(tmp_path / "consensus_k2.npz", consensus=m)
    cdf3 = np.linspace(0.01, 1.0, 100) ** 2
    np.savez(tmp_path / "consensus_k3.npz", consensus=np.eye(4), cdf=cdf3)
    (tmp_path / "suggested_k.json").write_text('{"k": 3, "rule": "largest delta area"}')
    nodes = logic.load_discovery_results(str(tmp_path), scene=scene)
    assert nodes["cdf"].GetNumberOfPlotSeriesNodes() == 2
    series = mrml.chart_series_arrays(nodes["cdf"])
    x2, y2 = series["Consensus CDF k=2"]
    np.testing.assert_allclose(y2[-1], 1.0)
    x3, y3 = series["Consensus CDF k=3"]  # the stored 100-bin CDF, drawn as a step function
    np.testing.assert_allclose(x3[[0, -1]], [0.01, 1.0])
    np.testing.assert_allclose(np.unique(y3), np.unique(cdf3))
    assert nodes["suggested_k"] == 3 and nodes["suggested_k_rule"] == "largest delta area"
    assert nodes["classes"].GetNumberOfRows() == 4
    (dx, dy), = mrml.chart_series_arrays(nodes["delta_area"]).values()
    np.testing.assert_allclose(dx, [2, 3])
    np.testing.assert_allclose(dy, [0.5, 0.2])


def test_table_from_csv_keeps_types(scene, tmp_path):
    (tmp_path / "f.csv").write_text("ID,shape_x,error\nlung1,1.5,\nlung2,,boom\n")
    t = logic.table_from_csv(str(tmp_path / "f.csv"), scene=scene)
    df = mrml.dataframe_from_table_node(t)
    assert df["ID"].tolist() == ["lung1", "lung2"]
    np.testing.assert_allclose(df["shape_x"].to_numpy(), [1.5, np.nan])
    assert df["error"].tolist() == ["", "boom"]
    # identifiers stay text: "007" is not the number 7 (audit: IDs 000/007/012 became 0/7/12
    # and no longer matched their patients in the subtype and survival tables)
    import pandas as pd

    t = mrml.table_node_from_dataframe(pd.DataFrame({
        "ID": ["000", "007"], "Segment": ["1", "2"], "MRN": ["0012", "0100"],
        "age": ["61", "70"]}), scene=scene, name="ids")
    df = mrml.dataframe_from_table_node(t)
    assert df["ID"].tolist() == ["000", "007"] and df["Segment"].tolist() == ["1", "2"]
    assert df["MRN"].tolist() == ["0012", "0100"] and df["age"].tolist() == [61, 70]


def test_spharm_model_placed_on_the_segment(scene):
    """The SPHARM reconstruction (core ``shape`` module) of an ellipsoid on an oblique grid lands
    on the segment: its centroid at the mask's physical centroid and its extent the ellipsoid's."""
    shape = pytest.importorskip("PanCancerSubtypeLib.shape",
                                reason="core shape module not available yet")
    if not (hasattr(shape, "spharm_decompose") and hasattr(shape, "reconstruct")):
        pytest.skip("PanCancerSubtypeLib.shape has no spharm_decompose / reconstruct")
    n = 40
    kk, jj, ii = np.mgrid[:n, :n, :n]
    a, b, c = 12.0, 8.0, 6.0  # semi-axes in voxels along i, j, k
    mask = (((ii - 20) / a) ** 2 + ((jj - 19) / b) ** 2 + ((kk - 21) / c) ** 2 <= 1).astype(np.uint8)
    img = sitk.GetImageFromArray(np.zeros(mask.shape, np.int16))
    img.SetSpacing((0.8, 0.8, 1.5))
    cs, sn = np.cos(0.4), np.sin(0.4)
    img.SetDirection((cs, -sn, 0, sn, cs, 0, 0, 0, 1))
    img.SetOrigin((-30.0, 12.0, 40.0))
    vol = mrml.volume_node_from_sitk(img, scene=scene)
    seg = mrml.segmentation_node_from_masks({"tumour": mask}, vol, scene=scene)
    model = logic.spharm_model(vol, seg, "tumour", degree=10)
    v_lps, _ = mrml.mesh_from_model_node(model)
    kji = np.argwhere(mask).mean(axis=0)
    centre = np.array(img.TransformContinuousIndexToPhysicalPoint(tuple(kji[::-1])))
    np.testing.assert_allclose(v_lps.mean(axis=0), centre, atol=1.5)
    r = np.linalg.norm(v_lps - centre, axis=1)
    assert r.max() == pytest.approx(a * 0.8, rel=0.15)


@pytest.mark.slow
@pytest.mark.shared_data
def test_features_through_scene_equal_core_from_files(scene, shared_cases, tmp_path):
    """The 313 cross-modality features computed from the scene nodes (run_manifest) equal the
    core's own computation from the files: the MRML round trip changes nothing."""
    from PanCancerSubtypeLib import features as core_features

    try:
        from PanCancerSubtypeLib import io
        core_features.get_group_class("shape")
        core_features.get_group_class("regional")
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"core feature groups not available yet: {exc}")
    r = shared_cases["breast1"]
    man = tmp_path / "m.csv"
    man.write_text(f"ID,Image,Mask,Label,Organ,Modality\nbreast1,{r['image']},{r['mask']},1,"
                   f"breast,MR\n")
    df, _ = logic.run_manifest(str(man), str(tmp_path / "out"), scene=scene, groups="cross")
    assert df["error"].tolist() == [""]
    case = io.load_case(r["image"], r["mask"], label="1", modality="MR", organ="breast",
                        case_id="breast1")
    want = core_features.extract_features(case, groups="cross")
    cols = [c for c in want if c.startswith(("shape_", "regional_"))]
    assert len(cols) == 313
    got = df.iloc[0]
    np.testing.assert_allclose(got[cols].to_numpy(dtype=float),
                               np.array([want[c] for c in cols], dtype=float),
                               rtol=1e-9, atol=1e-12)
    import pandas as pd

    # the CSV holds the exact doubles (read them with pandas' round-trip parser)
    saved = pd.read_csv(tmp_path / "out" / "features.csv", float_precision="round_trip")
    np.testing.assert_array_equal(saved[cols].to_numpy(dtype=float), got[cols].to_numpy(
        dtype=float)[None, :])


@pytest.mark.shared_data
def test_regions_job_into_segments(scene, shared_cases, tmp_path):
    """The background ``regions`` job (a child interpreter, as PythonSlicer runs it) writes the
    region label map; read into segments, TC and TIM tile the tumour exactly."""
    import sys

    try:
        from PanCancerSubtypeLib import regions
    except ImportError as exc:
        pytest.skip(f"core regions module not available yet: {exc}")
    if not hasattr(regions, "tumour_regions"):
        pytest.skip("core regions module has no tumour_regions yet")
    from PanCancerSubtypeSlicerLib import process

    r = shared_cases["brain1"]
    img = sitk.ReadImage(r["image"])
    tumour = sitk.GetArrayFromImage(sitk.ReadImage(r["mask"])) == 1
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brain1")
    seg = mrml.segmentation_node_from_masks({"tumour": tumour}, vol, scene=scene)
    paths = logic.write_case_inputs(vol, seg, "tumour", out_dir=str(tmp_path))
    out = str(tmp_path / "regions.nrrd")
    lines = []
    rc = process.run_blocking(logic.jobs_command("regions", [
        "--image", paths["image"], "--mask", paths["mask"], "--organ", "brain", "--modality", "MR",
        "--out", out], python=sys.executable), log=lines.append)
    assert rc == 0, "\n".join(lines)
    assert process.parse_progress(lines[-1]) == (1, 1)
    logic.regions_from_file(out, seg, vol)
    assert mrml.segment_names(seg) == ["tumour", "TC", "TIM", "PM5 ring", "PM10 ring"]
    tc = mrml.mask_from_segment(seg, "TC", vol).astype(bool)
    tim = mrml.mask_from_segment(seg, "TIM", vol).astype(bool)
    ring5 = mrml.mask_from_segment(seg, "PM5 ring", vol).astype(bool)
    assert not (tc & tim).any()
    np.testing.assert_array_equal(tc | tim, tumour)
    assert ring5.any() and not (ring5 & tumour).any()


@pytest.mark.parametrize("definition", ["reference", "cross-modality"])
def test_region_segments_do_not_depend_on_how_the_volume_is_stored(scene, definition):
    """The Tumour regions button gives the core's regions (``regions.case_regions``, computed in
    LPS order) in the definition chosen: a sagittally stored volume gets the segments of the
    same volume stored axially (Slicer audit: the layer had its own copy of the regions code
    without the LPS step: 14,309 voxels differed, TC 857 voxels where the core has 809)."""
    from PanCancerSubtypeLib import regions
    from PanCancerSubtypeSlicerLib import jobs

    zz, yy, xx = np.mgrid[:40, :44, :48]
    tum = ((xx - 24) / 9.0) ** 2 + ((yy - 21) / 6.0) ** 2 + ((zz - 19) / 11.0) ** 2 <= 1
    img = sitk.GetImageFromArray(np.where(tum, 60, -800).astype(np.int16))
    img.SetSpacing((0.9, 0.9, 1.2))
    img.SetOrigin((-20.0, 15.0, 100.0))
    got = {}
    for order in ("LPS", "ASL"):
        im = sitk.DICOMOrient(img, order)
        t = sitk.GetArrayFromImage(im) > 0
        organ = np.ones_like(t)
        vol = mrml.volume_node_from_sitk(im, scene=scene, name=order)
        seg = mrml.segmentation_node_from_masks({"tumour": t, "organ": organ}, vol, scene=scene)
        logic.add_region_segments(vol, seg, organ_segment="organ", modality="CT",
                                  definition=definition)
        lab = np.zeros(t.shape, np.uint8)
        for value, name in enumerate(["TC", "TIM", "PM5 ring", "PM10 ring"], start=1):
            lab[mrml.mask_from_segment(seg, name, vol).astype(bool)] = value
        t_im, o_im = (sitk.GetImageFromArray(a.astype(np.uint8)) for a in (t, organ))
        t_im.CopyInformation(im)
        o_im.CopyInformation(im)
        case = logic.make_case(im, t_im, organ_mask=o_im, modality="CT")
        core = regions.case_regions(case, definition)
        np.testing.assert_array_equal(lab, sitk.GetArrayFromImage(core["labelmap"]))
        np.testing.assert_array_equal(jobs.region_labels(case, definition), lab)
        back = sitk.GetImageFromArray(lab)
        back.CopyInformation(im)
        got[order] = sitk.GetArrayFromImage(sitk.DICOMOrient(back, "LPS"))
    np.testing.assert_array_equal(got["LPS"], got["ASL"])
    assert (got["LPS"] == 1).sum() > 0 and (got["LPS"] == 2).sum() > 0


def _profiles(seed=0, n_per=15):
    """Three groups with distinct feature profiles (separable by Pearson correlation)."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    shapes = np.array([[3, 0, 0, 0, 3, 0], [0, 3, 3, 0, 0, 0], [0, 0, 0, 3, 0, 3]], float)
    X = np.vstack([s + rng.normal(0, 0.4, size=(n_per, 6)) for s in shapes])
    labels = np.repeat(["A", "B", "C"], n_per)
    df = pd.DataFrame(X, columns=[f"shape_f{i}" for i in range(6)])
    df.insert(0, "ID", [f"p{i:02d}" for i in range(len(df))])
    return df, labels


def test_discover_subtypes_in_scene(scene):
    try:
        from PanCancerSubtypeLib import consensus
    except ImportError as exc:
        pytest.skip(f"core consensus module not available yet: {exc}")
    if not hasattr(consensus, "ConsensusClustering"):
        pytest.skip("core consensus module has no ConsensusClustering yet")
    df, labels = _profiles()
    table = mrml.table_node_from_dataframe(df, scene=scene, name="cohort")
    nodes = logic.discover_subtypes(table, k_max=4, reps=30, seed=3, scene=scene)
    classes = mrml.dataframe_from_table_node(nodes["classes"])
    assert classes["ID"].tolist() == df["ID"].tolist()
    k3 = classes["k3"].to_numpy()
    # same partition as the true groups (up to relabelling)
    assert len(set(zip(k3, labels))) == 3 and len(set(k3)) == 3
    assert nodes["cdf"].GetNumberOfPlotSeriesNodes() == 3  # k = 2, 3, 4
    (dx, _), = mrml.chart_series_arrays(nodes["delta_area"]).values()
    np.testing.assert_allclose(dx, [2, 3, 4])


def test_classify_table_with_bundle(scene, tmp_path):
    try:
        from PanCancerSubtypeLib import classifier
    except ImportError as exc:
        pytest.skip(f"core classifier module not available yet: {exc}")
    if not hasattr(classifier, "SubtypeClassifier"):
        pytest.skip("core classifier has no SubtypeClassifier yet")
    df, labels = _profiles(seed=1)
    model = classifier.SubtypeClassifier(cv_folds=0, n_estimators=20, random_state=0)
    model.fit(df, labels)
    classifier.save_bundle(model, tmp_path / "bundle")
    new, new_labels = _profiles(seed=2, n_per=4)
    new.insert(1, "Segment", "tumour")  # the Features panel's extra column is ignored
    table = mrml.table_node_from_dataframe(new, scene=scene, name="new cases")
    node, out = logic.classify_table(table, str(tmp_path / "bundle"))
    assert out["ID"].tolist() == new["ID"].tolist()
    assert (out["predicted_subtype"].to_numpy() == new_labels).mean() == 1.0
    probs = out[[f"prob_{c}" for c in "ABC"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    back = mrml.dataframe_from_table_node(node)
    assert back["predicted_subtype"].tolist() == out["predicted_subtype"].tolist()
    # the Subtype panel's label: the first row's subtype and probability in its colour ...
    text, color = logic.subtype_label(out)
    first = out["predicted_subtype"].iloc[0]
    assert text.startswith(f"{first}  (p = {out[f'prob_{first}'].iloc[0]:.2f})")
    assert color == logic.SUBTYPE_COLORS["ABC".index(first)]
    # ... and for a case whose features failed, that it has none (audit: the previous case's
    # subtype stayed on show)
    bad = new.iloc[[0]].copy()
    bad[[c for c in bad.columns if c.startswith("shape_")]] = np.nan
    bad["error"] = "FeatureError: empty mask"
    _, failed = logic.classify_table(mrml.table_node_from_dataframe(bad, scene=scene,
                                                                    name="failed"),
                                     str(tmp_path / "bundle"))
    assert logic.subtype_label(failed) == ("no subtype assigned (see the table's error column)",
                                           "#808080")


@pytest.mark.shared_data
def test_seed_segmentation_from_markups(scene, shared_cases):
    """A seed point placed in RAS (as a user clicks in Slicer) gives exactly the core's result for
    the same point in LPS, as a named segment on the volume's grid; and it finds the tumour."""
    try:
        from PanCancerSubtypeLib import segmentation
    except ImportError as exc:
        pytest.skip(f"core segmentation module not available yet: {exc}")
    if not hasattr(segmentation, "segment_from_seeds"):
        pytest.skip("core segmentation has no segment_from_seeds yet")
    r = shared_cases["brats_pat0001"]
    img = sitk.ReadImage(r["image"])
    truth = np.isin(sitk.GetArrayFromImage(sitk.ReadImage(r["mask"])), [1, 3, 4])
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="brats")
    kji = np.argwhere(truth).mean(axis=0)
    lps = np.array(img.TransformContinuousIndexToPhysicalPoint(tuple(kji[::-1])))
    seeds = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    seeds.AddControlPoint(-lps[0], -lps[1], lps[2])  # RAS
    seg = logic.segment_from_seeds(vol, seeds, scene=scene, modality="MR")
    got = mrml.mask_from_segment(seg, "tumour", vol).astype(bool)
    want = sitk.GetArrayFromImage(segmentation.segment_from_seeds(img, [tuple(lps)], modality="MR"))
    np.testing.assert_array_equal(got, want != 0)
    dice = 2.0 * (got & truth).sum() / (got.sum() + truth.sum())
    assert dice > 0.5, dice


def test_registry_table(scene):
    from PanCancerSubtypeLib import registry

    registry.register([FeatureSpec("teststats_voxels", "teststats", "tumour voxels")])
    t = logic.registry_table(scene=scene)
    df = mrml.dataframe_from_table_node(t)
    row = df.set_index("name").loc["teststats_voxels"]
    assert row["description"] == "tumour voxels" and row["group"] == "teststats"
