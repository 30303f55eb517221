"""The extension's one dependency plan (``PanCancerSubtypeSlicerLib.dependencies``).

Without the network: the constraints (Slicer's packages pinned, torch / xgboost / nvidia-nccl
excluded, binary wheels only), the requirement files, the order torch -> monai, the PyRadiomics
route, and the use of ``slicer.packaging`` (imported explicitly; a refused install returns False,
a failed one raises ``DependencyError``).

With the package index (``-m network``; CI has it): pip resolves the plan for each supported Slicer
(``pip install --dry-run --only-binary=:all: --python-version ... --report``), with the Python
version and the packages that Slicer release ships read from Slicer's own sources
(``Testing/slicer_api/slicer_api.json``, ``targets``): it must resolve from binary wheels,
keep every shipped package at Slicer's version, and pull no torch, no CUDA / nvidia package and no
``xgboost`` (only ``xgboost-cpu``).  torch is excluded by a constraint no version satisfies, so a
plan that needed it fails at once instead of downloading it.  The pure-Python source packages the
plan allows (:data:`~PanCancerSubtypeSlicerLib.dependencies.PURE_PYTHON_SDISTS`) are built here
first, which also shows that they need no compiler (their wheels are ``py3-none-any``).
"""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from PanCancerSubtypeLib.errors import DependencyError
from PanCancerSubtypeSlicerLib import dependencies as deps

API = json.loads((Path(__file__).resolve().parent / "slicer_api" / "slicer_api.json")
                 .read_text(encoding="utf-8"))
TARGETS = {t: API["targets"][t] for t in ("v5.8.1", "v5.10.0", "v5.12.3")}
LINUX = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
         "manylinux1_x86_64"]


def _names(reqs):
    return {deps.canonical(Requirement(r).name) for r in reqs}


# ---------------------------------------------------------------------------------------------
# without the network
# ---------------------------------------------------------------------------------------------

def test_targets_come_from_slicer_sources():
    assert TARGETS["v5.8.1"]["python"].startswith("3.9.")
    assert TARGETS["v5.10.0"]["python"].startswith("3.12.")
    assert TARGETS["v5.12.3"]["python"].startswith("3.12.")
    assert [TARGETS[t]["shipped"]["numpy"] for t in TARGETS] == ["1.26.4", "2.0.2", "2.4.6"]


def test_slicer_shipped_list_covers_what_slicer_ships():
    shipped = {deps.canonical(n) for t in API["targets"].values() for n in t["shipped"]}
    missing = shipped - set(deps.SLICER_SHIPPED)
    assert not missing, f"add to dependencies.SLICER_SHIPPED: {sorted(missing)}"


def test_constraints_pin_slicer_and_exclude_torch_and_xgboost():
    lines = deps.constraints_lines({"numpy": "2.4.6", "SimpleITK": "2.5.5", "pandas": "3.0.0",
                                    "typing_extensions": "4.15.0"})
    assert lines[:3] == ["--only-binary=:all:", "--no-binary=autograd-gamma", "--no-binary=docopt"]
    assert {"numpy==2.4.6", "simpleitk==2.5.5", "typing-extensions==4.15.0"} <= set(lines)
    assert not any(x.startswith("pandas") for x in lines)  # not Slicer's: may be updated
    assert {"torch<0", "torchvision<0", 'xgboost<0; sys_platform != "darwin"',
            "nvidia-nccl-cu12<0"} <= set(lines)
    with_torch = deps.constraints_lines({"torch": "2.8.0+cpu"}, pip_options=False)
    assert "torch==2.8.0+cpu" in with_torch and "torch<0" not in with_torch
    assert not any(x.startswith("--") for x in with_torch)


def test_requirement_files_are_one_plan():
    base, torch, rad = (deps.requirements(p) for p in ("base", "torch", "radiomics"))
    for r in base + torch + rad:
        Requirement(r)  # valid
    assert not _names(base) & {"torch", "torchvision", "monai", "pyradiomics"}
    assert "monai" in _names(torch) and "torch" not in _names(torch)
    assert _names(rad) == {"pyradiomics", "pyyaml"}
    xgb = [Requirement(r) for r in base if Requirement(r).name.startswith("xgboost")]
    assert {(r.name, str(r.marker)) for r in xgb} == {
        ("xgboost-cpu", 'sys_platform != "darwin"'), ("xgboost", 'sys_platform == "darwin"')}
    assert deps.missing_requirements(['no-such-dist-pcs>=1; sys_platform == "nowhere"']) == []
    assert deps.missing_requirements(["numpy>=999", "no-such-dist-pcs>=1"]) == \
        ["numpy>=999", "no-such-dist-pcs>=1"]


def test_radiomics_route():
    assert deps.radiomics_route((3, 9)) == "pip"
    assert deps.radiomics_route((3, 12)) == "extension"


def test_radiomics_without_a_wheel_names_the_extension(monkeypatch):
    monkeypatch.setattr(deps, "radiomics_route", lambda python_version=None: "extension")
    monkeypatch.setattr(deps, "install", lambda *a, **k: pytest.fail("pip must not be asked"))
    with pytest.raises(DependencyError, match="SlicerRadiomics extension"):
        deps.ensure("radiomics", requester="test")


def test_torch_comes_first_and_is_pinned(monkeypatch):
    order = []
    monkeypatch.setattr(deps, "ensure_torch", lambda: order.append("torch"))
    monkeypatch.setattr(deps, "install", lambda reqs, requester, prompt=True: order.append(
        ("install", tuple(reqs))) or True)
    monkeypatch.setattr(deps, "missing_requirements", lambda reqs: list(reqs))
    assert deps.ensure("torch", requester="test") is True
    assert order[0] == "torch" and order[1][0] == "install" and "monai>=1.3" in order[1][1]
    from importlib.metadata import PackageNotFoundError, version

    try:
        have = version("torch")
    except PackageNotFoundError:
        pytest.skip("torch not installed")
    assert f"torch=={have}" in deps.constraints_lines(deps.installed_versions())


@pytest.fixture()
def fake_slicer_packaging(tmp_path, monkeypatch):
    """A ``slicer.packaging`` submodule on the real import path (as Slicer >= 5.12 has it: a
    file next to ``slicer/__init__.py`` that nothing imports), inside a running application."""
    slicer = pytest.importorskip("slicer")
    pkg = tmp_path / "slicer_extra"
    pkg.mkdir()
    (pkg / "packaging.py").write_text(
        "calls = []\n"
        "behaviour = {'raise': None}\n"
        "def pip_ensure(requirements, constraints=None, skip_packages=None, prompt_install=True,\n"
        "               prompt_restart=True, requester=None, skip_in_testing=True,\n"
        "               show_progress=True):\n"
        "    calls.append((list(requirements), open(constraints).read(), requester,\n"
        "                  prompt_install))\n"
        "    if behaviour['raise'] is not None:\n"
        "        raise behaviour['raise']\n")
    monkeypatch.delitem(sys.modules, "slicer.packaging", raising=False)
    assert getattr(slicer, "packaging", None) is None  # Slicer's __init__ does not import it
    monkeypatch.setattr(slicer, "__path__", list(slicer.__path__) + [str(pkg)])
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(), raising=False)
    yield slicer
    monkeypatch.delitem(sys.modules, "slicer.packaging", raising=False)
    if "packaging" in vars(slicer):
        monkeypatch.delattr(slicer, "packaging")


def test_slicer_packaging_is_used_on_the_first_call(fake_slicer_packaging):
    mod = deps.packaging_module()
    assert mod is not None and mod.__name__ == "slicer.packaging"
    mod.behaviour["raise"] = RuntimeError("User declined package installation")
    assert deps.install(["no-such-dist-pcs>=1"], "PanCancerTest") is False  # declined: no error
    reqs, constraints, requester, prompt = mod.calls[-1]
    assert reqs == ["no-such-dist-pcs>=1"] and requester == "PanCancerTest" and prompt
    assert "--only-binary=:all:" in constraints and "torch" in constraints
    from importlib.metadata import version

    assert f"numpy=={version('numpy')}" in constraints.splitlines()
    mod.behaviour["raise"] = subprocess.CalledProcessError(1, ["pip", "install"])
    with pytest.raises(DependencyError, match="pip could not install no-such-dist-pcs"):
        deps.install(["no-such-dist-pcs>=1"], "PanCancerTest")
    mod.behaviour["raise"] = None  # "installed" (or skipped in testing mode), still missing
    with pytest.raises(DependencyError, match="still missing after the install"):
        deps.install(["no-such-dist-pcs>=1"], "PanCancerTest", prompt=False)
    assert mod.calls[-1][3] is False


# ---------------------------------------------------------------------------------------------
# with the package index
# ---------------------------------------------------------------------------------------------

def _pip(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, encoding="utf-8", errors="replace",
                          timeout=timeout)


@pytest.fixture(scope="module")
def pure_wheels(tmp_path_factory):
    """Wheels of the pure-Python source packages, built here (no compiler: py3-none-any)."""
    d = tmp_path_factory.mktemp("pure_wheels")
    for name in deps.PURE_PYTHON_SDISTS:
        r = _pip("wheel", "--no-deps", "--no-binary=:all:", "-w", str(d), name)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheels = sorted(p.name for p in d.glob("*.whl"))
    assert len(wheels) == len(deps.PURE_PYTHON_SDISTS), wheels
    assert all(w.endswith("-none-any.whl") and "py3" in w.split("-")[-3] for w in wheels), wheels
    return d


def _target_args(target):
    py = ".".join(target["python"].split(".")[:2])
    abi = "cp" + py.replace(".", "")
    args = ["--python-version", py, "--implementation", "cp", "--abi", abi]
    for p in LINUX:
        args += ["--platform", p]
    return args


def resolve(target, purposes, tmp_path, find_links):
    """``{name: (version, url)}`` pip would install for ``purposes`` on ``target`` (Linux)."""
    req = tmp_path / f"req-{'-'.join(purposes)}.txt"
    req.write_text("\n".join(r for p in purposes for r in deps.requirements(p)) + "\n",
                   encoding="utf-8")
    cons = tmp_path / "constraints.txt"
    cons.write_text("\n".join(deps.constraints_lines(target["shipped"], pip_options=False)) + "\n",
                    encoding="utf-8")
    report = tmp_path / f"report-{'-'.join(purposes)}.json"
    r = _pip("install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
             "--find-links", str(find_links), *_target_args(target), "-r", str(req),
             "-c", str(cons), "--report", str(report), "-q")
    assert r.returncode == 0, f"the plan does not resolve for Python {target['python']}:\n" + \
        r.stderr[-3000:]
    items = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {deps.canonical(i["metadata"]["name"]): (i["metadata"]["version"],
                                                    i["download_info"]["url"]) for i in items}


@pytest.mark.network
@pytest.mark.parametrize("tag", list(TARGETS))
def test_plan_resolves_from_wheels_for_each_slicer(tag, tmp_path, pure_wheels):
    target = TARGETS[tag]
    got = resolve(target, ["base"], tmp_path, pure_wheels)
    names = set(got)
    assert {"pandas", "lifelines", "scikit-learn", "scikit-image", "numba", "xgboost-cpu",
            "slicerio"} <= names
    bad = sorted(n for n in names if n in ("torch", "torchvision", "xgboost", "vtk", "simpleitk",
                                           "monai") or n.startswith(("nvidia-", "cuda")))
    assert not bad, f"Slicer {tag}: the plan would install {bad}"
    for name, version in target["shipped"].items():
        if deps.canonical(name) in got:  # re-resolved at Slicer's version, never replaced
            assert got[deps.canonical(name)][0] == version, (name, got[deps.canonical(name)])
    assert all(url.endswith(".whl") for _, url in got.values())
    assert int(got["pandas"][0].split(".")[0]) < 3  # the version lifelines accepts, for all
    if deps.radiomics_route(tuple(int(x) for x in target["python"].split(".")[:2])) == "pip":
        # Slicer 5.8: PyRadiomics from its binary wheel, installed after the base set and
        # changing none of its versions
        more = resolve(target, ["base", "radiomics"], tmp_path, pure_wheels)
        assert more["pyradiomics"][1].endswith(".whl") and "cp39" in more["pyradiomics"][1]
        changed = {n: (got[n][0], more[n][0]) for n in got if more[n][0] != got[n][0]}
        assert not changed, f"installing PyRadiomics would change {changed}"
    else:
        # Slicer 5.10 / 5.12: no binary pyradiomics for this Python: the plan sends the user to
        # the SlicerRadiomics extension instead of pip
        r = _pip("install", "--dry-run", "--ignore-installed", "--no-deps",
                 "--only-binary=:all:", *_target_args(target), "pyradiomics")
        assert r.returncode != 0 and "No matching distribution found for pyradiomics" in r.stderr
