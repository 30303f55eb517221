"""The batch script ``SlicerScripts/run_cohort.py`` always ends, with a message and an exit code.

``Slicer --no-main-window --python-script run_cohort.py`` (without ``--testing``) keeps running
after the script ends or raises, so the script must end itself on every path: 0 all cases done,
1 some case failed, 2 bad arguments, a malformed manifest or missing dependencies (checked before
any work).  Each test runs the script as ``__main__`` in a child Python with the ``slicer-core``
wheel and a time limit.  Missing packages are made missing in the child (``sys.modules[name] =
None`` and no distribution metadata) before the script starts.  Inside the Slicer application the
script must end with ``slicer.util.exit(code)``: the last test gives the child a ``slicer.app``
and records that call (the function's existence and signature in every supported Slicer come from
``Testing/test_slicer_api.py``).
"""
from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slicer

slicer = pytest.importorskip("slicer", reason="slicer-core wheel not installed: batch script "
                                              "tests skipped")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the installed 'slicer' package is not slicer-core", allow_module_level=True)

SCRIPT = (Path(__file__).resolve().parents[1] / "PanCancerSubtype" / "PanCancerSubtype"
          / "SlicerScripts" / "run_cohort.py")

HIDE_PACKAGE = """
import importlib.metadata as _md, sys as _sys
_sys.modules[{name!r}] = None          # import fails
_real_version = _md.version
def _version(dist):
    if dist.lower() == {name!r}:
        raise _md.PackageNotFoundError(dist)
    return _real_version(dist)
_md.version = _version                 # and no installed distribution
"""

IN_SLICER_APP = """
import os as _os, slicer as _slicer, slicer.util as _util
_slicer.app = object()                 # inside the application: slicer.app exists
def _exit(status=0):
    print(f"slicer.util.exit({status})", flush=True)
    _os._exit(40 + int(status))
_util.exit = _exit
"""


def run_script(args, preamble: str = "", timeout: float = 180):
    code = textwrap.dedent(preamble) + textwrap.dedent(f"""
        import runpy, sys
        sys.argv = [{str(SCRIPT)!r}] + {list(map(str, args))!r}
        runpy.run_path({str(SCRIPT)!r}, run_name="__main__")
        """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=timeout)  # a hang fails the test


@pytest.fixture()
def manifest(tmp_path, shared_cases):
    r = shared_cases["breast1"]
    p = tmp_path / "cases.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Mask", "Label", "Organ", "Modality"])
        w.writerow(["breast1", r["image"], r["mask"], "1", "breast", "MR"])
    return p


@pytest.mark.shared_data
def test_missing_dependency_stops_before_work(manifest, tmp_path):
    out = tmp_path / "out"
    r = run_script(["--manifest", manifest, "--out", out], HIDE_PACKAGE.format(name="pandas"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "missing Python packages: pandas" in r.stderr and "--install-dependencies" in r.stderr
    assert not out.exists()  # nothing was started


@pytest.mark.shared_data
def test_install_dependencies_runs_pip_with_the_plan(manifest, tmp_path):
    """With --install-dependencies pip is run for the missing requirement (here it finds the
    hidden pandas already installed, so the script reports that it is still missing)."""
    r = run_script(["--manifest", manifest, "--out", tmp_path / "out", "--install-dependencies"],
                   HIDE_PACKAGE.format(name="pandas"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Requirement already satisfied: pandas" in r.stdout
    assert "still missing after the install: pandas" in r.stderr


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01garbage\x00\n", b'ID,Image,Mask\n"a,b\n'],
                         ids=["binary", "quote"])
def test_malformed_manifest_exits_2_naming_it(tmp_path, content):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    r = run_script(["--manifest", bad, "--out", tmp_path / "out"])
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"manifest {bad}" in r.stderr and "Traceback" not in r.stderr


def test_bad_arguments_exit_2(tmp_path):
    r = run_script(["--out", tmp_path / "out"])
    assert r.returncode == 2 and "--manifest" in r.stderr


@pytest.mark.shared_data
def test_inside_slicer_every_path_ends_with_slicer_util_exit(manifest, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe")
    r = run_script(["--manifest", bad, "--out", tmp_path / "o"], IN_SLICER_APP)
    assert "slicer.util.exit(2)" in r.stdout and r.returncode == 42, r.stdout + r.stderr
    # an unexpected error during the run: named with its case, exit code 1
    boom = IN_SLICER_APP + textwrap.dedent("""
        import sys as _s
        _s.path.insert(0, %r)
        from PanCancerSubtypeSlicerLib import logic as _logic
        def _run_manifest(manifest, out_dir, progress=None, **kw):
            progress(0, 1, "breast1")
            raise MemoryError("out of memory")
        _logic.run_manifest = _run_manifest
        """ % str(SCRIPT.parents[2]))
    r = run_script(["--manifest", manifest, "--out", tmp_path / "o"], boom)
    assert "slicer.util.exit(1)" in r.stdout and r.returncode == 41, r.stdout + r.stderr
    assert "error: case breast1: MemoryError: out of memory" in r.stderr
    # and a normal run ends with exit(0)
    r = run_script(["--manifest", manifest, "--out", tmp_path / "ok"], IN_SLICER_APP)
    assert "slicer.util.exit(0)" in r.stdout and r.returncode == 40, r.stdout + r.stderr
    assert (tmp_path / "ok" / "features.csv").is_file()
    assert (tmp_path / "ok" / "segmentations" / "breast1.seg.nrrd").is_file()


class VoxelCount:
    """A tiny feature group (voxel count) so the scene test needs no heavy computation."""

    name, prefix = "vc", "vc_"

    def specs(self):
        from PanCancerSubtypeLib.registry import FeatureSpec

        return [FeatureSpec("vc_voxels", "vc", "tumour voxels")]

    def options(self):
        return {}

    def compute(self, case):
        import SimpleITK as sitk

        return {"vc_voxels": int((sitk.GetArrayFromImage(case.mask) > 0).sum())}


@pytest.mark.shared_data
def test_run_manifest_leaves_the_users_nodes(manifest, tmp_path):
    """A console user's scene keeps its own nodes; the nodes of each case are removed."""
    from PanCancerSubtypeSlicerLib import logic

    scene = slicer.vtkMRMLScene()
    mine = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "my seeds")
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "my table")
    before = logic.scene_node_ids(scene)
    df, out_table = logic.run_manifest(str(manifest), str(tmp_path / "out"), scene=scene,
                                       instances=[VoxelCount()], groups=())
    assert df["error"].tolist() == [""] and df["vc_voxels"].iloc[0] > 0
    assert scene.GetNodeByID(mine.GetID()) is mine and scene.GetNodeByID(table.GetID()) is table
    left = logic.scene_node_ids(scene) - before
    assert out_table.GetID() in left
    kinds = {scene.GetNodeByID(i).GetClassName() for i in left}
    assert kinds <= {"vtkMRMLTableNode", "vtkMRMLTableStorageNode"}, kinds  # no case node stays
    scene.Clear(1)


@pytest.mark.shared_data
def test_a_manifest_of_clicks_is_segmented_first(tmp_path, shared_cases):
    """breast1 clicked at its centroid and a row whose seed lies outside the image: the first
    is segmented (the core's cohort-segment, into OUT/clicks) and its features computed; the
    second is named on a failed: line, exit code 1."""
    import numpy as np
    import SimpleITK as sitk

    r = shared_cases["breast1"]
    m = sitk.ReadImage(r["mask"])
    kji = np.round(np.argwhere(sitk.GetArrayFromImage(m) == 1).mean(0)).astype(int)
    pt = m.TransformIndexToPhysicalPoint([int(v) for v in kji[::-1]])
    man = tmp_path / "clicks.csv"
    with open(man, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Image", "Seed", "Modality", "Organ"])
        w.writerow(["breast1", r["image"], ",".join(repr(float(v)) for v in pt), "MR", "breast"])
        w.writerow(["far", r["image"], "900,900,900", "MR", "breast"])
    out = tmp_path / "out"
    res = run_script(["--manifest", man, "--out", out], timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "1 of 2 cases segmented" in res.stdout and "1 of 2 cases done" in res.stdout
    assert "failed: far: UsageError: Seed number 1" in res.stderr
    assert (out / "clicks" / "masks" / "breast1.nii.gz").is_file()
    seg = (out / "clicks" / "segmentation.csv").read_text().splitlines()
    assert len(seg) == 3 and seg[1].startswith("breast1,")
    feats = (out / "features.csv").read_text().splitlines()
    assert len(feats) == 2 and feats[1].startswith("breast1,")
    assert (out / "segmentations" / "breast1.seg.nrrd").is_file()
