"""``cohort-segment``: a mask for every case of a manifest of clicks (issue 17's method over a
cohort without masks).  The references are the phantoms' own masks and the single-case call
(:func:`segment_click` with the same inputs); failures are recorded, resumes and workers give
the same bytes, a bad manifest is refused before any work, and the output manifest feeds
``cohort-features``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from PanCancerSubtypeLib import segmentation as seg
from PanCancerSubtypeLib.cli import main as cli_main
from PanCancerSubtypeLib.cohort import (read_click_manifest, run_cohort,
                                        run_segmentation_cohort)
from PanCancerSubtypeLib.errors import ManifestError
from PanCancerSubtypeLib.synthetic import write_phantom_cohort

FAST = {"radiomics": {"params": {"featureClass": {"firstorder": [], "shape": []}}}}


def _centroid_point(mask_path: Path):
    m = sitk.ReadImage(str(mask_path))
    c = np.round(ndi.center_of_mass(sitk.GetArrayViewFromImage(m) > 0)).astype(int)
    return m.TransformIndexToPhysicalPoint([int(v) for v in c[::-1]])


def _text(pt) -> str:
    return ",".join(f"{v:g}" for v in pt)


@pytest.fixture(scope="module")
def clicks(tmp_path_factory):
    """Four CT phantoms clicked at their centroids (case001 with a box, a background point and
    itself as second channel), a seed outside the image and a missing image."""
    d = tmp_path_factory.mktemp("clicks")
    man = pd.read_csv(write_phantom_cohort(d, n=4, seed=3))
    rows = []
    for r in man.itertuples():
        pt = _centroid_point(d / r.Mask)
        rows.append({"ID": r.ID, "Image": r.Image, "Seed": _text(pt), "Modality": "CT",
                     "CancerType": "lung"})
    pt = np.array(_centroid_point(d / man.Mask[1]))
    rows[1].update(Box=_text(list(pt - 15.0) + list(pt + 15.0)),
                   Background=_text(pt + [0.0, 0.0, 20.0]), SecondChannel=man.Image[1])
    rows.append({"ID": "outside", "Image": man.Image[0], "Seed": "900,900,900"})
    rows.append({"ID": "missing", "Image": "nope.nrrd", "Seed": "0,0,0"})
    pd.DataFrame(rows).to_csv(d / "clicks.csv", index=False)
    return d


def _bytes(out: Path):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.endswith(".provenance.json")}


@pytest.fixture(scope="module")
def first_run(clicks, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "out"
    table = run_segmentation_cohort(clicks / "clicks.csv", out, workers=1, progress=False)
    return out, table


def test_every_case_is_segmented_and_failures_are_recorded(clicks, first_run):
    """Measured: Dice 0.91-0.96 against the phantoms' masks (case001 without its box)."""
    out, t = first_run
    assert list(t["ID"]) == ["case000", "case001", "case002", "case003", "outside", "missing"]
    assert (t["error"][:4] == "").all()
    for cid in t["ID"][:4]:
        m = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "masks" / f"{cid}.nii.gz"))) > 0
        ref = sitk.GetArrayFromImage(sitk.ReadImage(str(clicks / f"{cid}_mask.nrrd"))) > 0
        assert 2 * (m & ref).sum() / (m.sum() + ref.sum()) > 0.85, cid
    assert t.loc[4, "error"].startswith("UsageError: Seed number 1: seed point (900, 900, 900)")
    assert "outside the image" in t.loc[4, "error"]
    assert t.loc[5, "error"].startswith("UnreadableFileError") and "nope.nrrd" in t.loc[5, "error"]
    assert (t["Mask"][4:] == "").all() and (t["model"][:4] == "lung").all()
    assert all(0.8 <= float(c) <= 1.0 for c in t["confidence"][:4])
    # the CSV is the table returned; manifest.csv holds the four segmented cases
    back = pd.read_csv(out / "segmentation.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, t)
    man = pd.read_csv(out / "manifest.csv", dtype=str, keep_default_na=False)
    assert list(man["ID"]) == list(t["ID"][:4]) and (man["Label"] == "1").all()
    prov = json.loads((out / "segmentation.csv.provenance.json").read_text(encoding="utf-8"))
    assert prov["n_errors"] == 2 and len(prov["cases"]["case000"]["mask_sha256"]) == 64
    assert not (out / "segmentation.csv.parts").exists()


def test_a_case_equals_the_single_case_call_with_the_same_inputs(clicks, first_run):
    """case001: seed, box, background point and second channel passed on, bit for bit."""
    out, t = first_run
    r = read_click_manifest(clicks / "clicks.csv").iloc[1]
    image = sitk.ReadImage(r["Image"])
    seed = [float(v) for v in r["Seed"].split(",")]
    res = seg.segment_click(image, [seed], bbox=[float(v) for v in r["Box"].split(",")],
                            background_lps_mm=[[float(v) for v in r["Background"].split(",")]],
                            second_channel=sitk.ReadImage(r["SecondChannel"]), modality="CT")
    got = sitk.ReadImage(str(out / "masks" / "case001.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(res.mask))
    assert t.loc[1, "confidence"] == f"{res.confidence:.4f}"
    assert t.loc[1, "volume_ml"] == f"{res.volume_ml:.3f}"


def test_workers_resume_and_a_lost_mask_give_the_same_bytes(clicks, first_run, tmp_path):
    ref = _bytes(first_run[0])
    two = tmp_path / "two"
    run_segmentation_cohort(clicks / "clicks.csv", two, workers=2, progress=False)
    assert _bytes(two) == ref
    # stopped after the first case (as Cancel does): its part is kept, nothing else written
    part = tmp_path / "part"
    t = run_segmentation_cohort(clicks / "clicks.csv", part, workers=1, progress=False,
                                cancel=lambda: True)
    assert len(t) == 1 and not (part / "segmentation.csv").exists()
    assert len(list((part / "segmentation.csv.parts").glob("*.json"))) == 1
    seen = []
    run_segmentation_cohort(clicks / "clicks.csv", part, workers=1, progress=False,
                            callback=lambda done, total, cid: seen.append(cid))
    assert len(seen) == 5 and t["ID"][0] not in seen
    assert _bytes(part) == ref
    # a mask deleted or altered after the run: that case only is made again
    (part / "masks" / "case002.nii.gz").unlink()
    (part / "masks" / "case003.nii.gz").write_bytes(b"x")
    seen.clear()
    run_segmentation_cohort(clicks / "clicks.csv", part, workers=1, progress=False,
                            callback=lambda done, total, cid: seen.append(cid))
    assert sorted(seen) == ["case002", "case003"]
    # the altered file is not replaced but kept aside (a mask corrected by hand is never lost)
    assert (part / "masks" / "case003.edited.nii.gz").read_bytes() == b"x"
    (part / "masks" / "case003.edited.nii.gz").unlink()
    assert _bytes(part) == ref


def test_a_mask_drawn_by_hand_in_masks_is_kept_aside_not_replaced(clicks, first_run, tmp_path,
                                                                   caplog):
    """Files in masks/ that no run of this output wrote are moved to <ID>.edited.nii.gz
    (then .edited-2 ...) with a warning naming them; the masks made are the same bytes."""
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "case000.nii.gz").write_bytes(b"drawn by hand")
    (out / "masks" / "case000.edited.nii.gz").write_bytes(b"an earlier one")
    with caplog.at_level("WARNING"):
        run_segmentation_cohort(clicks / "clicks.csv", out, workers=1, progress=False)
    assert (out / "masks" / "case000.edited-2.nii.gz").read_bytes() == b"drawn by hand"
    assert (out / "masks" / "case000.edited.nii.gz").read_bytes() == b"an earlier one"
    assert "case000: masks/case000.nii.gz was not written by this command" in caplog.text
    assert "kept as masks/case000.edited-2.nii.gz" in caplog.text
    got = _bytes(out)
    assert {k: v for k, v in got.items() if ".edited" not in k} == _bytes(first_run[0])
    # a mask this command wrote (the seed changed since) is replaced without a word
    caplog.clear()
    man = pd.read_csv(clicks / "clicks.csv", dtype=str, keep_default_na=False)
    man.loc[0, "Seed"] = _text(np.array([float(v) for v in man.loc[0, "Seed"].split(",")]) + 1)
    man.to_csv(tmp_path / "moved.csv", index=False)
    with caplog.at_level("WARNING"):
        run_segmentation_cohort(tmp_path / "moved.csv", out, workers=1, progress=False)
    assert "not written by this command" not in caplog.text
    assert sorted(p.name for p in (out / "masks").glob("case000*")) == [
        "case000.edited-2.nii.gz", "case000.edited.nii.gz", "case000.nii.gz"]


def test_the_output_manifest_feeds_cohort_features(first_run, tmp_path):
    out, _ = first_run
    f = run_cohort(out / "manifest.csv", tmp_path / "f.csv", groups="radiomics",
                   group_options=FAST, progress=False)
    assert list(f["ID"]) == ["case000", "case001", "case002", "case003"]
    assert (f["error"] == "").all() and np.isfinite(f["original_shape_VoxelVolume"]).all()


def test_the_command_exits_1_after_every_case_and_names_the_failures(clicks, tmp_path, capsys):
    code = cli_main(["cohort-segment", "--manifest", str(clicks / "clicks.csv"),
                     "--out-dir", str(tmp_path / "cli"), "--no-progress", "--no-confidence"])
    err = capsys.readouterr().err
    assert code == 1
    assert "6 cases" in err and "2 with errors" in err and "4 in" in err
    assert "  outside: UsageError" in err and "  missing: UnreadableFileError" in err
    t = pd.read_csv(tmp_path / "cli" / "segmentation.csv", dtype=str, keep_default_na=False)
    assert (t["confidence"] == "").all() and (t["Mask"][:4] != "").all()


@pytest.mark.parametrize("change, message", [
    ({"Seed": None}, "missing required column(s) ['Seed']"),
    ({"Seed": "1,2"}, "row 2, column Seed: '1,2' is not 3"),
    ({"Seed": ""}, "row 2, column Seed: empty"),
    ({"Box": "10,10,10,0,20,20"}, "row 2, column Box: expected x0,y0,z0,x1,y1,z1 with x0 < x1"),
    ({"Box": "20,20,20,30,30,30"}, "row 2, column Box: seed number 1"),
    ({"Background": "1,2,3;4"}, "row 2, column Background: '4' is not 3"),
    ({"Modality": "PET"}, "row 2, column Modality: 'PET' is not CT or MR"),
    ({"Appearance": "fancy"}, "row 2, column Appearance: 'fancy' is not one of auto"),
    ({"Appearance": "lung", "Modality": "MR"}, "row 2, column Appearance: the lung model"),
    ({"ID": "same"}, "duplicate IDs ['same']"),
    ({"ID": ["a/b", "A_b"]}, "IDs 'a/b' and 'A_b' give the same mask file name 'A_b.nii.gz'"),
])
def test_a_bad_click_manifest_is_refused_before_any_work(tmp_path, capsys, change, message):
    rows = pd.DataFrame({"ID": ["c1", "c2"], "Image": ["i1.nrrd", "i2.nrrd"],
                         "Seed": ["1,2,3", "4,5,6"]})
    for column, value in change.items():
        if value is None:
            rows = rows.drop(columns=column)
        else:
            rows[column] = value if isinstance(value, list) else [value, value]
    rows.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ManifestError) as exc:
        read_click_manifest(tmp_path / "m.csv")
    assert message in str(exc.value) and "m.csv" in str(exc.value)
    code = cli_main(["cohort-segment", "--manifest", str(tmp_path / "m.csv"),
                     "--out-dir", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "o").exists()


def test_a_dask_cluster_and_a_complete_rerun_give_the_same_bytes(clicks, first_run, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    ref = _bytes(first_run[0])
    out = tmp_path / "dask"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        run_segmentation_cohort(clicks / "clicks.csv", out, progress=False,
                                scheduler=cluster.scheduler_address)
    assert _bytes(out) == ref
    again = []
    run_segmentation_cohort(clicks / "clicks.csv", out, progress=False,
                            callback=lambda done, total, cid: again.append(cid))
    assert again == [] and _bytes(out) == ref


def test_editing_a_row_and_rerunning_makes_that_case_again_only(clicks, first_run, tmp_path):
    """The workflow for a case to check: add a box (or seeds, background points) to its row and
    rerun; the other cases are kept."""
    import shutil

    out = tmp_path / "edit"
    shutil.copytree(first_run[0], out)
    man = pd.read_csv(clicks / "clicks.csv", dtype=str, keep_default_na=False)
    pt = np.array([float(v) for v in man.loc[2, "Seed"].split(",")])
    man.loc[2, "Box"] = _text(list(pt - 14.0) + list(pt + 14.0))
    for name in ("Image", "SecondChannel"):    # (relative to the manifest's folder)
        man[name] = [str(clicks / v) if v else "" for v in man[name]]
    man.to_csv(tmp_path / "edited.csv", index=False)
    seen = []
    t = run_segmentation_cohort(tmp_path / "edited.csv", out, workers=1, progress=False,
                                callback=lambda done, total, cid: seen.append(cid))
    assert seen == ["case002"] and t.loc[2, "Box"] == man.loc[2, "Box"]
    before, after = _bytes(first_run[0]), _bytes(out)
    assert all(after[f"masks/case00{i}.nii.gz"] == before[f"masks/case00{i}.nii.gz"]
               for i in (0, 1, 3))
    res = seg.segment_click(sitk.ReadImage(man.loc[2, "Image"]), [pt], modality="CT",
                            bbox=[float(v) for v in man.loc[2, "Box"].split(",")])
    got = sitk.ReadImage(str(out / "masks" / "case002.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(res.mask))


def test_a_column_passed_on_is_updated_without_segmenting_again(clicks, first_run, tmp_path):
    import shutil

    out = tmp_path / "pass"
    shutil.copytree(first_run[0], out)
    man = pd.read_csv(clicks / "clicks.csv", dtype=str, keep_default_na=False)
    man["CancerType"] = ["breast", "lung", "lung", "lung", "", ""]
    for name in ("Image", "SecondChannel"):
        man[name] = [str(clicks / v) if v else "" for v in man[name]]
    man.to_csv(tmp_path / "m.csv", index=False)
    seen = []
    t = run_segmentation_cohort(tmp_path / "m.csv", out, workers=1, progress=False,
                                callback=lambda done, total, cid: seen.append(cid))
    assert seen == [] and t.loc[0, "CancerType"] == "breast" and t.loc[0, "Organ"] == "breast"
    assert pd.read_csv(out / "manifest.csv", dtype=str).loc[0, "CancerType"] == "breast"


def test_is_click_manifest(tmp_path):
    from PanCancerSubtypeLib.cohort import is_click_manifest

    for name, text, want in (("c.csv", "ID,image,seeds\n", True),
                             ("f.csv", "ID,Image,Mask\n", False),
                             ("b.csv", "Image,Seed,Mask\n", False), ("e.csv", "", False)):
        (tmp_path / name).write_text(text)
        assert is_click_manifest(tmp_path / name) is want, name
    assert is_click_manifest(tmp_path / "missing.csv") is False


def test_a_killed_run_resumes_to_the_same_bytes(clicks, first_run, tmp_path,
                                                kill_after_parts):
    """SIGKILL after two cases (the segmentation slowed down so that the kill lands mid-run):
    nothing but the parts and the finished masks is left; the rerun makes only the rest."""
    out = tmp_path / "killed"
    parts = out / "segmentation.csv.parts"
    repo = Path(__file__).resolve().parents[1] / "PanCancerSubtype"
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "import PanCancerSubtypeLib.segmentation.click as k\n"
            "orig = k.segment_click\n"
            "def slow(*a, **kw):\n"
            "    time.sleep(0.8); return orig(*a, **kw)\n"
            "k.segment_click = slow\n"
            "from PanCancerSubtypeLib.cohort import run_segmentation_cohort\n"
            "run_segmentation_cohort(%r, %r, workers=1, progress=False)\n"
            % (str(repo), str(clicks / "clicks.csv"), str(out)))
    kill_after_parts(code, parts, 2)
    assert not (out / "segmentation.csv").exists() and not (out / "manifest.csv").exists()
    before = sorted(p.name for p in parts.glob("*.json"))
    assert 2 <= len(before) < 6
    seen = []
    run_segmentation_cohort(clicks / "clicks.csv", out, workers=1, progress=False,
                            callback=lambda done, total, cid: seen.append(cid))
    ids = ["case000", "case001", "case002", "case003", "outside", "missing"]
    from PanCancerSubtypeLib.cohort.runs import part_name

    assert seen == [c for c in ids if part_name(c) not in before]
    assert _bytes(out) == _bytes(first_run[0])


def _red_pixels(png: Path) -> int:
    from matplotlib.image import imread

    rgb = imread(str(png))[..., :3]
    return int(((rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)).sum())


def test_snapshots_show_each_mask_and_do_not_depend_on_the_workers(clicks, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    t = run_segmentation_cohort(clicks / "clicks.csv", one, workers=1, progress=False,
                                snapshots=True, confidence=False)
    run_segmentation_cohort(clicks / "clicks.csv", two, workers=2, progress=False,
                            snapshots=True, confidence=False)
    assert _bytes(one) == _bytes(two)
    assert list(t["snapshot"]) == [f"snapshots/case00{i}.png" for i in range(4)] + ["", ""]
    for i in range(4):     # the red outline of the mask on each of the three views
        assert _red_pixels(one / "snapshots" / f"case00{i}.png") > 300
    assert sorted(p.name for p in (one / "snapshots").iterdir()) == [
        f"case00{i}.png" for i in range(4)]
    # a mask made again gets a new snapshot; a run without snapshots lists none
    (one / "masks" / "case002.nii.gz").unlink()
    before = (one / "snapshots" / "case001.png").stat().st_mtime_ns
    run_segmentation_cohort(clicks / "clicks.csv", one, workers=1, progress=False,
                            snapshots=True, confidence=False)
    assert _bytes(one) == _bytes(two)
    assert (one / "snapshots" / "case001.png").stat().st_mtime_ns == before
    t = run_segmentation_cohort(clicks / "clicks.csv", one, workers=1, progress=False,
                                confidence=False)
    assert (t["snapshot"] == "").all()


def test_segment_writes_a_snapshot(clicks, tmp_path, capsys):
    r = pd.read_csv(clicks / "clicks.csv", dtype=str).iloc[0]
    code = cli_main(["segment", "--image", str(clicks / r["Image"]), f"--seed={r['Seed']}",
                     "--modality", "CT", "--no-confidence", "--out", str(tmp_path / "m.nii.gz"),
                     "--snapshot", str(tmp_path / "m.png")])
    assert code == 0 and _red_pixels(tmp_path / "m.png") > 300
    assert f"wrote {tmp_path / 'm.png'}" in capsys.readouterr().out


@pytest.mark.shared_data
def test_dicom_seg_masks_reference_their_series(shared_data, tmp_path, monkeypatch):
    """The IBSI NSCLC phantom's DICOM series, clicked at its GTV's centre: the SEG read back is
    the single-case call's mask, voxel for voxel; with SOURCE_DATE_EPOCH the outputs are the
    same bytes with one worker and two; an image file (not a series folder) is refused before
    any work."""
    from PanCancerSubtypeLib import io

    root = shared_data / "IBSI_ct_radiomics_phantom_NSCLC" / "dicom"
    series = root / "image"
    image = io.read_image(series)
    gtv = io.read_mask(next((root / "mask").glob("*.dcm")), "GTV-1", reference=image)
    kji = np.round(np.argwhere(sitk.GetArrayFromImage(gtv) > 0).mean(0)).astype(int)
    pt = image.TransformIndexToPhysicalPoint([int(v) for v in kji[::-1]])
    pd.DataFrame({"ID": ["gtv", "gtv box"], "Image": [str(series)] * 2,
                  "Seed": [_text(pt)] * 2, "Modality": ["CT"] * 2,
                  "Box": ["", _text(list(np.array(pt) - 40.0) + list(np.array(pt) + 40.0))]}
                 ).to_csv(tmp_path / "dcm.csv", index=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    one, two = tmp_path / "one", tmp_path / "two"
    t = run_segmentation_cohort(tmp_path / "dcm.csv", one, workers=1, progress=False,
                                dicom_seg=True, snapshots=True, confidence=False)
    run_segmentation_cohort(tmp_path / "dcm.csv", two, workers=2, progress=False,
                            dicom_seg=True, snapshots=True, confidence=False)
    assert list(t["Mask"]) == ["masks/gtv.dcm", "masks/gtv_box.dcm"] and (t["error"] == "").all()
    assert _bytes(one) == _bytes(two)
    want = seg.segment_click(image, [pt], modality="CT", confidence=False).mask
    got = io.read_mask(one / "masks" / "gtv.dcm", reference=image)
    assert np.array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(want))
    assert _red_pixels(one / "snapshots" / "gtv.png") > 300
    # the output manifest reads the SEGs
    f = run_cohort(one / "manifest.csv", tmp_path / "f.csv", groups="radiomics",
                   group_options=FAST, progress=False)
    assert (f["error"] == "").all()
    pd.DataFrame({"Image": [str(next(series.glob("*")))], "Seed": [_text(pt)]}).to_csv(
        tmp_path / "file.csv", index=False)
    with pytest.raises(ManifestError, match="row 2, column Image: .* is a file; a DICOM SEG"):
        run_segmentation_cohort(tmp_path / "file.csv", tmp_path / "x", dicom_seg=True)
    assert not (tmp_path / "x").exists()


def test_a_snapshot_that_fails_costs_nothing_else(clicks, tmp_path, monkeypatch, caplog):
    from PanCancerSubtypeLib import plots

    def boom(*a, **k):
        raise RuntimeError("no display")

    monkeypatch.setattr(plots, "mask_snapshot", boom)
    t = run_segmentation_cohort(clicks / "clicks.csv", tmp_path / "s", workers=1,
                                progress=False, snapshots=True, confidence=False)
    assert (t["snapshot"] == "").all() and (t["error"][:4] == "").all()
    assert (tmp_path / "s" / "segmentation.csv").is_file()
    assert "case000: no snapshot (RuntimeError: no display)" in caplog.text


@pytest.mark.parametrize("case_id, name", [("brain 1/a", "brain_1_a.nii.gz"),
                                           (".hidden", "hidden.nii.gz"), ("..", "_.nii.gz"),
                                           ("Ü-2.5", "_-2.5.nii.gz")])
def test_mask_file_names_are_plain_and_never_hidden(case_id, name):
    from PanCancerSubtypeLib.cohort.manifest import mask_file_name

    assert mask_file_name(case_id) == name


def test_a_bad_row_is_named_by_its_line_after_blank_lines(tmp_path):
    """Blank lines are left out and every row keeps its line of the file: a bad Seed on line 5
    after two blank lines was 'row 3' (pandas renumbers; segment CLI audit)."""
    (tmp_path / "c.csv").write_text('ID,Image,Seed\na,x.nii.gz,"1,2,3"\n\n\nb,y.nii.gz,"1,2"\n')
    with pytest.raises(ManifestError, match=r"row 5, column Seed"):
        read_click_manifest(tmp_path / "c.csv")


def test_the_snapshot_views_go_through_the_mask_of_two_lesions():
    """Two lesions: the views went through their centre of mass, between them, and the
    sagittal view showed neither (segment CLI audit); now the mask's voxel nearest to it.  A
    single convex lesion keeps its centre of mass."""
    from PanCancerSubtypeLib.plots import snapshot_centre

    z, y, x = np.mgrid[:24, :44, :56]
    sp = (2.0, 0.8, 0.8)

    def ball(c, r):
        return ((x - c[0]) * sp[2]) ** 2 + ((y - c[1]) * sp[1]) ** 2 + \
            ((z - c[2]) * sp[0]) ** 2 <= r * r

    two = ball((14, 22, 11), 6) | ball((42, 22, 11), 5)
    c = snapshot_centre(two, sp)
    for axis in range(3):
        assert np.take(two, c[axis], axis=axis).any(), axis
    one = ball((20, 22, 11), 6)
    np.testing.assert_array_equal(snapshot_centre(one, sp),
                                  np.round(np.argwhere(one).mean(0)).astype(int))
