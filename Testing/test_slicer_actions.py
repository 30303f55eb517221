"""Every panel button, end to end without Qt, on real MRML (slicer-core) and real child processes.

For each button the module's logic builds a :class:`~PanCancerSubtypeSlicerLib.actions.PanelJob`
from nodes (as the panel does); its command lines go through the real argument parsers (the core's
``pancancer-subtype`` parser or the Slicer library's jobs parser) and then run as child
processes on a shared case; ``finish()`` loads the results back into MRML, and the nodes are
checked against the core's own results for the same inputs.  Seeds are placed with negative and
positive coordinates: argparse takes a separate value starting with ``-`` for an option
(``--seed -21.9,...``: exit 2), so every option is written ``--name=value``.

The buttons that run in the panel's own process (Assign subtype, Kaplan-Meier, feature registry)
are covered on real MRML in ``test_slicer_logic.py``.
"""
from __future__ import annotations

import csv
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.slicer, pytest.mark.shared_data]

slicer = pytest.importorskip("slicer", reason="slicer-core wheel not installed (pip install "
                                              "slicer-core vtk==9.6.2): MRML tests skipped")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core (no vtkMRMLScene)",
                allow_module_level=True)

import SimpleITK as sitk  # noqa: E402

from PanCancerSubtypeLib import cli  # noqa: E402
from PanCancerSubtypeSlicerLib import actions, jobs, logic, mrml, process  # noqa: E402


def parse(call):
    """Parse one call of a PanelJob with the real parser of the program it runs."""
    prog, args = call
    if prog == actions.CORE:
        return cli.build_parser().parse_args(args)
    assert prog == actions.JOBS, prog
    return jobs.build_parser().parse_args(args)


def execute(job):
    """Parse every call, run every command as a child process, then load the results."""
    parsed = [parse(c) for c in job.calls]
    job.python = sys.executable
    for cmd in job.commands:
        lines = []
        rc = process.run_blocking(cmd, log=lines.append, extra_paths=job.extra_paths)
        assert rc == 0, "\n".join(lines[-20:])
    result = job.finish()
    job.cleanup()
    return parsed, result


@pytest.fixture()
def scene():
    s = slicer.vtkMRMLScene()
    yield s
    s.Clear(1)


def _load(scene, case):
    img = sitk.ReadImage(case["image"])
    labels = [int(x) for x in case["tumour_labels"].split(",")]
    truth = np.isin(sitk.GetArrayFromImage(sitk.ReadImage(case["mask"])), labels)
    vol = mrml.volume_node_from_sitk(img, scene=scene, name=case["case_id"])
    return img, truth, vol


def _centre_lps(img, mask):
    kji = np.argwhere(mask).mean(axis=0)
    return np.array(img.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in kji[::-1])))


def _seeds_node(scene, points_lps):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    for p in points_lps:
        node.AddControlPoint(-p[0], -p[1], p[2])  # RAS, as a click in a slice view places it
    return node


def _dice(a, b):
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


# ---------------------------------------------------------------------------------------------
# Segmentation panel
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id,modality", [("lung1", "CT"), ("brain1", "MR")])
def test_seed_segmentation_button(scene, shared_cases, tmp_path, case_id, modality):
    """lung1's tumour centre is at x = -21.9 mm (the seed failed with exit 2 before), brain1's at
    +46.5 mm; a second seed 1 mm away has mixed signs."""
    from PanCancerSubtypeLib.segmentation import ClickParameters, segment_click

    case = shared_cases[case_id]
    img, truth, vol = _load(scene, case)
    centre = _centre_lps(img, truth)
    seeds = [tuple(centre), tuple(centre + [0.0, 0.0, 1.0])]
    assert (centre[0] < 0) == (case_id == "lung1")
    seg = mrml.new_segmentation_node(vol, scene=scene)
    job = actions.seed_segmentation(vol, _seeds_node(scene, seeds), seg, str(tmp_path / "w"),
                                    modality=modality, settings={"max-radius": 40.0,
                                                                 "no-confidence": True})
    (args,), _ = execute(job)
    sent = [tuple(float(v) for v in s.split(",")) for s in args.seed]  # what the child got
    np.testing.assert_allclose(sent, seeds, atol=1e-3)
    assert args.modality == modality and args.max_radius == 40.0
    got = mrml.mask_from_segment(seg, logic.TUMOUR_SEGMENT, vol).astype(bool)
    # the click method (default): --max-radius is the rays' length; without the confidence
    # (--no-confidence, fast) there is no longer-reach retry
    assert args.no_confidence
    want = sitk.GetArrayFromImage(segment_click(
        sitk.Cast(img, sitk.sitkFloat32), sent, modality=modality, confidence=False,
        params=ClickParameters(ray_length_mm=40.0)).mask) != 0
    np.testing.assert_array_equal(got, want)  # the panel's segment is the core's result
    assert got.sum() > 0 and got[tuple(np.round(np.argwhere(truth).mean(0)).astype(int))]
    assert not (tmp_path / "w").exists()  # cleanup() removed the image copies


def test_seed_segmentation_with_box_background_and_second_channel(scene, tmp_path):
    """Every optional input of the panel's seed segmentation, end to end on a small synthetic
    T1c / FLAIR pair: the child gets the box, the background point and the second channel, the
    segment is the core's result for the same inputs and ``finish`` returns its confidence."""
    from PanCancerSubtypeLib.segmentation import segment_click

    rng = np.random.default_rng(3)
    z, y, x = np.ogrid[:40, :40, :72]
    tum = (z - 20) ** 2 + (y - 20) ** 2 + (x - 24) ** 2 <= 100
    other = (z - 20) ** 2 + (y - 20) ** 2 + (x - 40) ** 2 <= 100
    t1c = (np.where(tum | other, 3.0, 0.0) + rng.normal(0, 0.4, tum.shape)).astype(np.float32)
    flair = (np.where(tum, 2.5, np.where(other, -1.5, 0.0))
             + rng.normal(0, 0.4, tum.shape)).astype(np.float32)
    img, ch2 = sitk.GetImageFromArray(t1c), sitk.GetImageFromArray(flair)
    for im in (img, ch2):
        im.SetOrigin((-40.0, 5.0, -10.0))
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="t1c")
    vol2 = mrml.volume_node_from_sitk(ch2, scene=scene, name="flair")
    seed = img.TransformIndexToPhysicalPoint((22, 20, 20))
    bgp = img.TransformIndexToPhysicalPoint((46, 20, 20))
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "box")
    c = np.array(img.TransformIndexToPhysicalPoint((24, 20, 20)))
    roi.SetXYZ(-c[0], -c[1], c[2])
    roi.SetRadiusXYZ(14.0, 14.0, 14.0)
    reports = []
    seg = mrml.new_segmentation_node(vol, scene=scene)
    job = actions.seed_segmentation(vol, _seeds_node(scene, [seed]), seg, str(tmp_path / "w"),
                                    modality="MR", box=roi, background=_seeds_node(scene, [bgp]),
                                    second_channel=vol2, on_done=reports.append)
    (args,), rep = execute(job)
    box = [float(v) for v in args.bbox.split(",")]
    np.testing.assert_allclose(box, list(c - 14.0) + list(c + 14.0), atol=1e-4)
    np.testing.assert_allclose([float(v) for v in args.background[0].split(",")], bgp,
                               atol=1e-3)
    assert args.method is None or args.method == "click"
    want = segment_click(img, [seed], bbox=box, background_lps_mm=[bgp], second_channel=ch2,
                         modality="MR")
    got = mrml.mask_from_segment(seg, logic.TUMOUR_SEGMENT, vol).astype(bool)
    np.testing.assert_array_equal(got, sitk.GetArrayFromImage(want.mask) != 0)
    assert 2.0 * (got & tum).sum() / (got.sum() + tum.sum()) > 0.9
    assert reports == [rep] and rep["confidence"] == pytest.approx(want.confidence)
    assert rep["low"] == (want.confidence < 0.8) and rep["modality"] == "MR"


def test_cohort_segmentation_button(scene, shared_cases, tmp_path):
    """A clicks CSV (lung1 at its centre, x < 0, and a seed outside the image): the masks are
    the core's, the failure is a row of the table, not a failed job (exit 1 is ``partial``)."""
    from PanCancerSubtypeLib.segmentation import segment_click

    case = shared_cases["lung1"]
    img, truth, _ = _load(scene, case)
    centre = _centre_lps(img, truth)
    man = tmp_path / "clicks.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Seed", "Modality"])
        w.writerow(["lung1", case["image"], ",".join(repr(float(v)) for v in centre), "CT"])
        w.writerow(["far", case["image"], "900,900,900", "CT"])
    out = tmp_path / "seg"
    job = actions.cohort_segmentation(str(man), str(out), scene, appearance="lung")
    (args,) = [parse(c) for c in job.calls]
    assert args.manifest == str(man) and args.out_dir == str(out) and args.appearance == "lung"
    job.python = sys.executable
    lines = []
    rc = process.run_blocking(job.commands[0], log=lines.append, extra_paths=job.extra_paths)
    assert rc == 1 and job.partial(rc, lines), lines[-5:]
    table = job.finish()
    df = mrml.dataframe_from_table_node(table)
    assert df["ID"].tolist() == ["lung1", "far"] and df["error"].iloc[0] == ""
    assert "outside the image" in df["error"].iloc[1] and df["model"].iloc[0] == "lung"
    got = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "masks" / "lung1.nii.gz"))) != 0
    want = sitk.GetArrayFromImage(segment_click(img, [tuple(centre)], modality="CT",
                                                model="lung").mask) != 0
    np.testing.assert_array_equal(got, want)


def test_segment_args_pass_the_cli_parser():
    """Fast: every option the Segmentation panel can set, negative numbers included."""
    parser = cli.build_parser()
    args = logic.segment_args("/tmp/i.nrrd", "/tmp/o.nrrd", [(-21.86, -120.5, -611.5),
                                                            (46.5, -16.5, 15.5)],
                              modality="CT", settings={"max-radius": 35, "multiplier": 2.0,
                                                       "bbox": (-50, -140, -630, 10, -100, -590)})
    ns = parser.parse_args(["segment"] + args)
    assert [[float(v) for v in s.split(",")] for s in ns.seed] == [[-21.86, -120.5, -611.5],
                                                                  [46.5, -16.5, 15.5]]
    assert ns.modality == "CT" and ns.max_radius == 35 and ns.multiplier == 2.0
    assert [float(v) for v in ns.bbox.split(",")] == [-50, -140, -630, 10, -100, -590]
    ns = parser.parse_args(["segment"] + logic.segment_args("i", "o", model_dir="/m",
                                                            modality="MR"))
    assert ns.model == "/m" and ns.seed == [] and ns.modality == "MR"
    # the panel's appearance model (PanCancerSegmentationLogic.startSegmentation's settings)
    ns = parser.parse_args(["segment"] + logic.segment_args("i", "o", [(1.0, 2.0, 3.0)],
                                                            settings={"appearance": "generic"}))
    assert ns.appearance == "generic"
    assert parser.parse_args(["segment"] + logic.segment_args(
        "i", "o", [(1.0, 2.0, 3.0)])).appearance is None
    ns = cli.build_parser().parse_args(["features"] + logic.features_args(
        {"image": "-i.nrrd", "mask": "m", "organ_mask": "o"}, "f.csv", "CT", ["shape"],
        "-case:tumour", organ="lung", shape_mode="reference", shape_interpolation="shape"))
    assert ns.image == "-i.nrrd" and ns.id == "-case:tumour" and ns.shape_mode == "reference"
    # the Features panel's regional definition and soft-tissue organ reach the command line
    ns = cli.build_parser().parse_args(["features"] + logic.features_args(
        {"image": "i.nrrd", "mask": "m"}, "f.csv", "MR", ["regional"], "c",
        organ="soft-tissue", regional_definition="cross-modality"))
    assert ns.regional_definition == "cross-modality" and ns.organ == "soft-tissue"
    assert "--regional-definition" not in " ".join(logic.features_args(
        {"image": "i", "mask": "m"}, "f.csv"))                 # the command's default otherwise


def test_parenchyma_and_regions_buttons(scene, shared_cases, tmp_path):
    from PanCancerSubtypeLib import regions as core_regions

    case = shared_cases["lung1"]
    img, truth, vol = _load(scene, case)
    seg = mrml.segmentation_node_from_masks({"tumour": truth}, vol, scene=scene)
    job = actions.parenchyma(vol, seg, str(tmp_path / "p"), organ="lung", modality="CT")
    (args,), _ = execute(job)
    assert args.job == "parenchyma" and args.organ == "lung" and args.modality == "CT"
    par = mrml.mask_from_segment(seg, "lung", vol).astype(bool)
    m = sitk.GetImageFromArray(truth.astype(np.uint8))
    m.CopyInformation(img)
    want_par = core_regions.parenchyma_mask(logic.make_case(img, m, modality="CT", organ="lung"))
    want_par = (sitk.GetArrayFromImage(want_par) if not isinstance(want_par, np.ndarray)
                else want_par) != 0
    np.testing.assert_array_equal(par, want_par)
    assert par.sum() > truth.sum()

    job = actions.regions(vol, seg, str(tmp_path / "r"), organ_segment="lung", organ="lung",
                          modality="CT")
    (args,), _ = execute(job)
    assert args.organ_mask and args.organ == "lung"
    names = mrml.segment_names(seg)
    for name in mrml.REGION_LABELS.values():
        assert name in names
    from PanCancerSubtypeSlicerLib.jobs import region_labels

    om = sitk.GetImageFromArray(want_par.astype(np.uint8))
    om.CopyInformation(img)
    want = region_labels(logic.make_case(img, m, organ_mask=om, modality="CT", organ="lung"))
    for value, name in mrml.REGION_LABELS.items():
        np.testing.assert_array_equal(mrml.mask_from_segment(seg, name, vol).astype(bool),
                                      want == value)


@pytest.mark.slow
def test_unet_segmentation_button(scene, tmp_path):
    """A tiny U-Net trained here (one epoch: the result need not be good, only the panel's
    segment must equal the core's ``segment_image`` with the same model and image)."""
    from PanCancerSubtypeLib import segmentation as seg_core
    from PanCancerSubtypeLib.case import Case

    def phantom(i):
        rng = np.random.default_rng(i)
        a = rng.normal(0, 20, (24, 40, 40)).astype(np.float32)
        zz, yy, xx = np.mgrid[:24, :40, :40]
        m = ((zz - 12) ** 2 + (yy - 20) ** 2 + (xx - 20 - i) ** 2) < 64
        a[m] += 200
        im = sitk.GetImageFromArray(a)
        im.SetOrigin((-30.0, 5.0, -2.0))
        mk = sitk.GetImageFromArray(m.astype(np.uint8))
        mk.CopyInformation(im)
        return im, mk

    cases = [Case(case_id=f"p{i}", image=phantom(i)[0], mask=phantom(i)[1], modality="CT")
             for i in range(3)]
    cfg = seg_core.SegmenterConfig(channels=(4, 8, 16), bottleneck_dilations=(1, 2), patch=32,
                                   batch_size=2, iterations_per_epoch=2, epochs=1, patience=100,
                                   val_fraction=0.34, num_threads=1, seed=0)
    seg_core.train_segmenter(cases, tmp_path / "model", cfg, progress=False)
    img = phantom(5)[0]
    vol = mrml.volume_node_from_sitk(img, scene=scene, name="phantom")
    seg = mrml.new_segmentation_node(vol, scene=scene)
    job = actions.unet_segmentation(vol, str(tmp_path / "model"), seg, str(tmp_path / "w"),
                                    modality="CT")
    (args,), _ = execute(job)
    assert args.model == str(tmp_path / "model")
    want = sitk.GetArrayFromImage(seg_core.segment_image(img, str(tmp_path / "model"),
                                                         modality="CT")) != 0
    np.testing.assert_array_equal(mrml.mask_from_segment(seg, "tumour", vol).astype(bool), want)


# ---------------------------------------------------------------------------------------------
# Features panel
# ---------------------------------------------------------------------------------------------

def test_features_and_spharm_buttons(scene, shared_cases, tmp_path):
    case = shared_cases["lung1"]
    img, truth, vol = _load(scene, case)
    seg = mrml.segmentation_node_from_masks({"tumour": truth}, vol, scene=scene)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "features")
    job = actions.features(vol, seg, ["tumour"], table, str(tmp_path / "f"),
                           groups=("shape", "regional"), modality="CT", organ="lung",
                           shape_mode="robust", shape_interpolation="linear")
    (args,), node = execute(job)
    assert args.groups == "shape,regional" and args.shape_mode == "robust" and args.organ == "lung"
    assert node is table
    df = mrml.dataframe_from_table_node(table)
    assert df["Segment"].tolist() == ["tumour"] and df["error"].tolist() == [""]
    # the 313 cross-modality features (293 SPHARM shape + 20 regional), finite, from the
    # panel's files: the burden equals voxel count x voxel volume of the original mask
    cols = [c for c in df.columns if c.startswith(("shape_", "regional_"))]
    assert len(cols) == 313 and np.isfinite(df[cols].to_numpy(float)).all()
    assert df["shape_volume_mm3"].iloc[0] == pytest.approx(
        truth.sum() * float(np.prod(img.GetSpacing())), rel=1e-9)
    assert table.GetColumnDescription("shape_volume_mm3")  # registry description on the column

    model = scene.AddNewNodeByClass("vtkMRMLModelNode", "SPHARM")
    job = actions.spharm(vol, seg, "tumour", 6, model, str(tmp_path / "s"), mode="robust")
    (args,), node = execute(job)
    assert args.degree == 6 and args.mode == "robust"
    assert node is model and model.GetName() == "tumour SPHARM degree 6"
    from PanCancerSubtypeSlicerLib.jobs import spharm_mesh_lps

    v_lps, faces = mrml.mesh_from_model_node(model, lps=True)
    want_v, want_f = spharm_mesh_lps(truth, img, 6, "robust")
    np.testing.assert_allclose(v_lps, want_v, atol=1e-4)  # float32 polydata points
    np.testing.assert_array_equal(faces, want_f)
    centre = _centre_lps(img, truth)
    np.testing.assert_allclose(v_lps.mean(axis=0), centre, atol=3.0)


def test_a_button_whose_inputs_are_refused_leaves_no_files(scene, tmp_path):
    """The image is written before the seeds and segment names are checked: a refused click
    now removes the job's folder (audit: each left a copy of the CT in Slicer's temp folder);
    a folder that held other files is left alone."""
    vol = mrml.volume_node_from_array(np.zeros((20, 20, 20), np.int16),
                                      np.diag([-1, -1, 1, 1.0]), scene=scene, name="CT")
    seg = mrml.segmentation_node_from_masks({"tumour": np.ones((20, 20, 20), bool)}, vol,
                                            scene=scene)
    unplaced = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "seeds")
    unplaced.UnsetNthControlPointPosition(unplaced.AddControlPoint(1.0, 2.0, 3.0))
    work = tmp_path / "job"
    work.mkdir()                                 # as slicer.util.tempDirectory() makes it
    with pytest.raises(ValueError, match="no placed control points"):
        actions.seed_segmentation(vol, unplaced, seg, str(work))
    assert not work.exists()
    with pytest.raises(KeyError, match="no segment 'liver'"):
        actions.features(vol, seg, ["tumour", "liver"], None, workdir=str(work))
    assert not work.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("x")
    with pytest.raises(KeyError):
        actions.spharm(vol, seg, "liver", 6, None, str(mine))
    assert (mine / "keep.txt").exists()


def test_features_of_two_segments_of_the_same_name(scene, tmp_path):
    """Slicer allows equal segment names; the panel passes segment ids, so each segment is
    measured (audit: both jobs got the first segment's 64 voxels; the 512-voxel one was never
    measured) and the rows are told apart by the id."""
    vol = mrml.volume_node_from_array(np.zeros((20, 20, 20), np.int16),
                                      np.diag([-1, -1, 1, 1.0]), scene=scene, name="CT")
    a = np.zeros((20, 20, 20), bool)
    a[2:6, 2:6, 2:6] = True
    b = np.zeros((20, 20, 20), bool)
    b[10:18, 10:18, 10:18] = True
    seg = mrml.segmentation_node_from_masks({"first": a, "second": b}, vol, scene=scene)
    segmentation = seg.GetSegmentation()
    ids = [segmentation.GetNthSegmentID(i) for i in range(2)]
    for sid in ids:
        segmentation.GetSegment(sid).SetName("tumour")
    job = actions.features(vol, seg, ids, None, str(tmp_path / "f"), modality="CT")
    voxels = [int(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "f" / f"segment{i}" /
                                                           "mask.nrrd"))).sum()) for i in (0, 1)]
    assert voxels == [64, 512]
    names = [parse(c).id for c in job.calls]
    assert names == [f"CT:tumour ({ids[0]})", f"CT:tumour ({ids[1]})"]
    assert mrml.segment_labels(seg, ["tumour"]) == ["tumour"]
    job.cleanup()


def test_cohort_button(scene, shared_cases, tmp_path):
    case = shared_cases["breast1"]
    man = tmp_path / "cases.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Mask", "Label", "Modality", "Organ"])
        w.writerow(["breast1", case["image"], case["mask"], "1", "MR", "breast"])
    out = tmp_path / "cohort.csv"
    job = actions.cohort_features(str(man), str(out), scene, workers=1,
                                  groups=("shape", "regional"))
    (args,), table = execute(job)
    assert args.workers == 1 and args.manifest == str(man)
    df = mrml.dataframe_from_table_node(table)
    assert df["ID"].tolist() == ["breast1"] and df["error"].tolist() == [""]
    # the cross-modality regional definition chosen in the panel: the regional columns change
    out2 = tmp_path / "cohort_cm.csv"
    job = actions.cohort_features(str(man), str(out2), scene, workers=1, groups=("regional",),
                                  regional_definition="cross-modality")
    (args,), table2 = execute(job)
    assert args.regional_definition == "cross-modality"
    df2 = mrml.dataframe_from_table_node(table2)
    assert df2["error"].tolist() == [""]
    col = "regional_TC_TIM_correlation"
    assert float(df2[col].iloc[0]) != float(df[col].iloc[0])


# ---------------------------------------------------------------------------------------------
# Subtype panel
# ---------------------------------------------------------------------------------------------

def test_discovery_button(scene, tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, (3, 8))
    x = np.vstack([c + rng.normal(0, 0.5, (10, 8)) for c in centres])
    truth = np.repeat([0, 1, 2], 10)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    df.insert(0, "ID", [f"c{i:02d}" for i in range(30)])
    table = mrml.table_node_from_dataframe(df, scene=scene, name="cohort")
    shown = []
    job = actions.discovery(table, str(tmp_path / "d"), k_max=4, reps=30, p_item=0.8, seed=3,
                            on_done=shown.append)
    (args,), nodes = execute(job)
    assert args.k_max == 4 and args.reps == 30 and args.seed == 3 and args.no_plots
    assert shown == [nodes]
    classes = mrml.dataframe_from_table_node(nodes["classes"])
    assert classes["ID"].tolist() == df["ID"].tolist()
    k3 = classes["k3"].to_numpy()
    assert len(set(zip(k3, truth))) == 3 and len(set(k3)) == 3  # the true groups
    assert nodes["suggested_k"] == 3
    assert nodes["cdf"].GetNumberOfPlotSeriesNodes() == 3  # k = 2, 3, 4
