"""Configure and install the extension's CMake project with a stand-in for Slicer's CMake package.

``Testing/cmake_stub`` implements the documented behaviour of ``slicerMacroBuildScriptedModule``,
``ctkMacroCompilePythonScript`` and ``slicer_add_python_unittest`` (it is not Slicer's code), so
this checks the extension's own CMake: syntax, every listed file exists, no two files install to
the same path of the shared ``qt-scripted-modules`` folder, and the installed layout is what the
modules import at run time (``resourcePath()``, ``import PanCancerSubtypeLib``, ``SlicerScripts/``).
Slicer's real build is not run here (no Slicer build tree on these machines).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "Testing" / "cmake_stub"
SCRIPTED = "lib/Slicer-5.13/qt-scripted-modules"
MODULES = ["PanCancerSegmentation", "PanCancerFeatures", "PanCancerSubtype"]

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    prefix = tmp_path_factory.mktemp("install")
    cfg = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), f"-DSlicer_DIR={STUB}"],
                         capture_output=True, text=True)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    ins = subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)],
                         capture_output=True, text=True)
    assert ins.returncode == 0, ins.stdout + ins.stderr
    return build, prefix / SCRIPTED


def test_installed_layout(installed):
    _, d = installed
    for m in MODULES:
        assert (d / f"{m}.py").is_file()
        assert (d / "Resources" / "Icons" / f"{m}.png").is_file()
        assert (d / "Resources" / "UI" / f"{m}.ui").is_file()
    # the extension's one requirement set (base, torch, radiomics) installs with the library
    for req in ("requirements.txt", "requirements-torch.txt", "requirements-radiomics.txt"):
        assert (d / "PanCancerSubtypeSlicerLib" / req).is_file()
    assert (d / "SlicerScripts" / "run_cohort.py").is_file()
    # every Python file of the two libraries lands at the same relative path
    for pkg in ("PanCancerSubtypeLib", "PanCancerSubtypeSlicerLib"):
        src = sorted(p.relative_to(ROOT / "PanCancerSubtype")
                     for p in (ROOT / "PanCancerSubtype" / pkg).rglob("*.py")
                     if "__pycache__" not in p.parts)
        assert src
        for rel in src:
            assert (d / rel).is_file(), f"{rel} not installed"


def test_ctest_registration(installed):
    build, _ = installed
    tests = (build / "stub_tests.txt").read_text(encoding="utf-8").split()
    for m in MODULES:
        assert f"py_{m}" in tests
        assert f"py_nomainwindow_qSlicer{m}ModuleGenericTest" in tests


def test_installed_modules_import_their_libraries(installed, tmp_path):
    """From the installed folder alone, the batch script and the GUI-free logic import."""
    import sys

    _, d = installed
    code = ("import sys; sys.path.insert(0, %r); import PanCancerSubtypeSlicerLib.logic as l, "
            "PanCancerSubtypeSlicerLib.jobs, PanCancerSubtypeLib; "
            "assert l.__file__.startswith(%r), l.__file__; print('ok')" % (str(d), str(d)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr
    h = subprocess.run([sys.executable, str(d / "SlicerScripts" / "run_cohort.py"), "--help"],
                       capture_output=True, text=True, cwd=str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert h.returncode == 0 and "--manifest" in h.stdout, h.stdout + h.stderr
