"""Packaging: dependency ranges and extras, the lock file CI installs, the wheel, the base install.

The base install (no torch, MONAI, PyRadiomics or Dask) is simulated by running the command line
in a subprocess whose ``sitecustomize`` puts an import hook first that answers "No module named
..." for those modules, so these tests run in the fully installed CI environment.
The real thing, a fresh virtual environment and ``pip install <wheel>`` with build isolation, is
``test_fresh_venv_pip_install`` (slow, needs the package index; opt in with
PANCANCER_TEST_FRESH_INSTALL=1).
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from PanCancerSubtypeLib import cli, extras

REPO = Path(__file__).resolve().parents[1]
OPTIONAL = ("torch", "monai", "safetensors", "radiomics", "dask", "distributed")
HEAVY = {"torch", "monai", "safetensors", "pyradiomics", "dask", "slicer-core", "vtk"}


@pytest.fixture(scope="module")
def pyproject():
    if tomllib is None:
        pytest.skip("tomllib needs Python >= 3.11")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _lock(path: Path = REPO / "requirements" / "lock.txt"):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            spec = next(iter(req.specifier))
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def _all_requirements(pyproject):
    """The requirements that apply on this platform (markers evaluated: xgboost-cpu off macOS,
    xgboost on it)."""
    reqs = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    for extra, items in pyproject["project"]["optional-dependencies"].items():
        reqs += [Requirement(r) for r in items if not r.startswith("pancancer-subtype[")]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


# ------------------------------------------------------------------------------------ metadata
def test_dependencies_are_ranges_and_heavy_ones_are_extras(pyproject):
    proj = pyproject["project"]
    assert proj["requires-python"] == ">=3.11"
    base = [Requirement(r) for r in proj["dependencies"]]
    names = {canonicalize_name(r.name) for r in base}
    assert not names & HEAVY, names & HEAVY
    assert {"numpy", "scipy", "pandas", "simpleitk", "scikit-learn", "xgboost-cpu", "numba",
            "lifelines", "scikit-survival", "highdicom", "pydicom"} <= names
    # the CPU wheel where it exists, xgboost itself on macOS (no xgboost-cpu wheel there):
    # exactly one of the two on every platform, never both
    for platform in ("linux", "win32", "darwin"):
        env = {"sys_platform": platform, "extra": ""}
        xgb = sorted(canonicalize_name(r.name) for r in base
                     if canonicalize_name(r.name) in ("xgboost", "xgboost-cpu")
                     and (r.marker is None or r.marker.evaluate(env)))
        assert xgb == (["xgboost"] if platform == "darwin" else ["xgboost-cpu"]), (platform, xgb)
        assert all(s.version == "3.1" for r in base if canonicalize_name(r.name) in
                   ("xgboost", "xgboost-cpu") for s in r.specifier)
    for r in _all_requirements(pyproject):
        ops = {s.operator for s in r.specifier}
        assert ">=" in ops, f"{r} has no lower bound"
        assert not ops & {"==", "==="}, f"{r} is pinned: pins belong in requirements/lock.txt"
    opt = proj["optional-dependencies"]
    assert set(opt) == {"radiomics", "deep", "dask", "slicer", "test", "all"}
    assert {canonicalize_name(Requirement(r).name) for r in opt["deep"]} == {
        "torch", "monai", "safetensors"}
    assert [Requirement(r).name for r in opt["radiomics"]] == ["pyradiomics"]
    all_extras = Requirement(opt["all"][0])
    assert all_extras.name == "pancancer-subtype"
    assert all_extras.extras == {"radiomics", "deep", "dask", "slicer"}
    # the extras named in error messages are the ones declared, with the modules they provide
    assert set(extras.EXTRAS) == set(opt) - {"test", "all"}
    assert "pancancer-subtype[radiomics]" in extras.install_command("radiomics")
    assert "--no-build-isolation" in extras.install_command("radiomics")


def test_lock_pins_every_dependency_within_its_range(pyproject):
    pins = _lock()
    for r in _all_requirements(pyproject):
        name = canonicalize_name(r.name)
        assert name in pins, f"{name} is not in requirements/lock.txt"
        assert r.specifier.contains(pins[name], prereleases=True), \
            f"lock pins {name}=={pins[name]} outside {r.specifier}"
    assert pins["torch"].local is None          # matched by the CPU build (2.13.0+cpu)
    assert "xgboost" not in pins
    cuda = [n for n in pins if n.startswith(("nvidia-", "cuda-", "triton"))]
    assert not cuda, f"the lock pulls CUDA packages: {cuda}"
    # the lowest tested set stays inside the ranges too (its lower ends are the lower bounds)
    low = _lock(REPO / "requirements" / "lowest.txt")
    for r in _all_requirements(pyproject):
        name = canonicalize_name(r.name)
        if name in low:
            assert r.specifier.contains(low[name], prereleases=True), (name, low[name])


def test_ci_installs_from_the_lock():
    script = (REPO / ".ci" / "install").read_text()
    assert '-c "$LOCK"' in script and "LOCK=requirements/lock.txt" in script
    assert '".[all,test]"' in script and "--no-build-isolation" in script
    assert "3.10" not in script                 # the supported versions live in pyproject only
    run = (REPO / ".ci" / "run").read_text()
    assert "bash .ci/install" in run and "pytest" in run


def test_installed_environment_is_the_locked_set():
    """In the environment .ci/install made, every locked package has its locked version."""
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(f"not the .ci/install environment ({sys.prefix})")
    from importlib.metadata import PackageNotFoundError, version

    wrong = []
    for name, pin in _lock().items():
        try:
            got = Version(version(name))
        except PackageNotFoundError:
            wrong.append(f"{name}: missing")
            continue
        if got.public != pin.public:
            wrong.append(f"{name}: {got} != {pin}")
    assert not wrong, wrong


# -------------------------------------------------------------------------------- wheel, sdist
_BUILD = ("import sys; from setuptools import build_meta as b; d = sys.argv[1]; "
          "names = [b.build_sdist(d)] if 'sdist' in sys.argv[2:] else []; "
          "names.append(b.build_wheel(d)); print('@@', *names)")


def _build(src: Path, out: Path, *what: str):
    res = subprocess.run([sys.executable, "-c", _BUILD, str(out), *what], cwd=src,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    line = next(x for x in res.stdout.splitlines() if x.startswith("@@ "))
    return [out / n for n in line.split()[1:]]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Sdist and wheel built by setuptools' PEP 517 hooks (what pip and `python -m build` call),
    from a copy of the files the build reads (the work tree is left alone)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "PanCancerSubtype" / "PanCancerSubtypeLib",
                    src / "PanCancerSubtype" / "PanCancerSubtypeLib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sdist, wheel = _build(src, tmp_path_factory.mktemp("dist"), "sdist")
    return sdist, wheel


def test_wheel_has_the_package_types_and_metadata(built):
    _, wheel = built
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = z.read(meta_name).decode()
        entry = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    for sub in ("", "classifier/", "commands/", "consensus/", "segmentation/", "shape/"):
        assert f"PanCancerSubtypeLib/{sub}__init__.py" in names
    assert "PanCancerSubtypeLib/py.typed" in names
    assert "PanCancerSubtypeLib/dicomseg.py" in names
    assert not any(n.startswith(("Testing/", "PanCancerSubtypeSlicerLib/")) for n in names)
    assert "pancancer-subtype = PanCancerSubtypeLib.cli:main" in entry
    assert "Requires-Python: >=3.11" in meta
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if canonicalize_name(Requirement(r).name) in HEAVY]
    assert any(r.startswith("torch") and 'extra == "deep"' in r for r in requires)
    provides = {line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Provides-Extra:")}
    assert provides == {"radiomics", "deep", "dask", "slicer", "test", "all"}


def test_sdist_builds_the_same_wheel_contents(built, tmp_path):
    sdist, wheel = built
    with tarfile.open(sdist) as t:
        names = t.getnames()
        root = names[0].split("/")[0]
        assert f"{root}/pyproject.toml" in names and f"{root}/LICENSE" in names
        assert f"{root}/PanCancerSubtype/PanCancerSubtypeLib/py.typed" in names
        t.extractall(tmp_path, filter="data") if hasattr(tarfile, "data_filter") \
            else t.extractall(tmp_path)
    (tmp_path / "dist").mkdir()
    rebuilt, = _build(tmp_path / root, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as a, zipfile.ZipFile(rebuilt) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())


# ------------------------------------------------------------------- the base install (simulated)
@pytest.fixture(scope="module")
def base_env(tmp_path_factory):
    """Environment variables of a subprocess in which the optional extras are not importable."""
    d = tmp_path_factory.mktemp("block")
    (d / "sitecustomize.py").write_text(
        "import importlib.abc, sys\n"
        "class _Missing(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in %r:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Missing())\n" % (OPTIONAL,))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(d), str(REPO / "PanCancerSubtype")]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _cli(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "PanCancerSubtypeLib", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_base_install_imports_every_core_module(base_env):
    code = ("import importlib, pkgutil, sys, PanCancerSubtypeLib as p\n"
            "try:\n    import torch\nexcept ImportError:\n    pass\n"
            "else:\n    raise SystemExit('torch is importable')\n"
            "mods = [m.name for m in pkgutil.walk_packages(p.__path__, 'PanCancerSubtypeLib.')\n"
            "        if not m.name.endswith('__main__')]\n"
            "for m in mods: importlib.import_module(m)\n"
            "from PanCancerSubtypeLib import registry\n"
            "st = registry.group_status()\n"
            "assert st['shape'] == st['regional'] == 'available', st\n"
            "assert 'radiomics' in st['radiomics'] and 'no-build-isolation' in st['radiomics']\n"
            "print(len(mods))\n")
    res = subprocess.run([sys.executable, "-c", code], env=base_env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert int(res.stdout.strip()) > 40


def test_base_install_computes_the_313_features(base_env, shared_cases, tmp_path):
    lung2 = shared_cases["lung2"]
    out_all = tmp_path / "all.csv"
    res = _cli(base_env, "features", "--image", lung2["image"], "--mask", lung2["mask"],
               "--groups", "all", "--out", out_all)
    assert res.returncode == 0, res.stderr[-3000:]
    notes = [line for line in res.stderr.splitlines() if line.startswith("note: --groups all")]
    assert len(notes) == 1 and "'radiomics'" in notes[0] and "[radiomics]" in notes[0]
    with open(out_all, newline="") as fh:
        row = next(csv.DictReader(fh))
    feats = [c for c in row if c.startswith(("shape_", "regional_"))]
    assert len(feats) == 313
    assert not [c for c in row if c.startswith("original_")]     # no PyRadiomics column
    assert row["error"] == ""
    values = [float(row[c]) for c in feats]
    assert sum(v == v for v in values) >= 300          # numbers, (almost) none missing
    prov = (tmp_path / "all.csv.provenance.json").read_text()
    assert '"skipped_groups"' in prov and "radiomics" in prov
    # --groups cross (the smoke command) gives the same 313 values
    out_cross = tmp_path / "cross.csv"
    res = _cli(base_env, "features", "--image", lung2["image"], "--mask", lung2["mask"],
               "--groups", "cross", "--out", out_cross)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "note:" not in res.stderr
    with open(out_cross, newline="") as fh:
        cross = next(csv.DictReader(fh))
    assert {c: cross[c] for c in feats} == {c: row[c] for c in feats}


@pytest.mark.parametrize("args,extra", [
    (["features", "--groups", "radiomics"], "radiomics"),
    (["segment", "--model", "MODEL"], "deep"),
    (["train-segmenter", "--manifest", "m.csv"], "deep"),
    (["discover", "--encode"], "deep"),
    (["demo"], "deep"),
    (["cohort-features", "--manifest", "m.csv", "--scheduler", "tcp://127.0.0.1:1"], "dask"),
])
def test_a_command_that_needs_a_missing_extra_says_which(base_env, tmp_path, args, extra):
    out = tmp_path / "out"
    full = {"features": ["--image", "i.nrrd", "--mask", "m.nrrd", "--out", out],
            "segment": ["--image", "i.nrrd", "--out", out],
            "train-segmenter": ["--out", out],
            "discover": ["--features", "f.csv", "--out", out],
            "demo": ["--out", out],
            "cohort-features": ["--out", out]}[args[0]]
    res = _cli(base_env, *args, *full)
    assert res.returncode == 2, (res.stdout, res.stderr)
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in res.stderr, res.stderr
    assert err[0].startswith("error: ") and f"pancancer-subtype[{extra}]" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("encode", [[], ["--encode", "pca"]])
def test_discover_without_the_autoencoder_runs_on_the_base_install(base_env, tmp_path, encode):
    """Consensus clustering (and the PCA encoder) need no torch: ``discover`` without
    ``--encode``, as the Slicer Subtype panel runs it, and with ``--encode pca`` work where the
    'deep' extra is missing (they asked for it once, as ``--encode autoencoder`` does)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 4.0, (2, 6))
    rows = np.vstack([c + rng.normal(0.0, 1.0, (15, 6)) for c in centres])
    feats = tmp_path / "f.csv"
    pd.DataFrame(rows, columns=[f"f{i}" for i in range(6)],
                 index=pd.Index([f"c{i:02d}" for i in range(30)], name="ID")).to_csv(feats)
    out = tmp_path / "out"
    res = _cli(base_env, "discover", "--features", feats, "--out", out, "--k-max", "3",
               "--reps", "20", "--no-progress", "--no-plots", *encode)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "extra" not in res.stderr
    classes = pd.read_csv(out / "classes.csv", index_col="ID")
    assert len(classes) == 30
    k2 = classes["k2"].to_numpy()
    assert len(set(k2[:15])) == 1 and len(set(k2[15:])) == 1 and k2[0] != k2[15]  # the planted two


def test_registry_names_the_groups_it_leaves_out(base_env):
    """``registry`` on the base install: the CSV of the installed groups, and one stderr note per
    group left out naming the extra that installs it (the registry module says it does)."""
    res = _cli(base_env, "registry")
    assert res.returncode == 0, res.stderr
    notes = [line for line in res.stderr.splitlines() if line.startswith("note: left out:")]
    assert any("'radiomics'" in n and "pancancer-subtype[radiomics]" in n for n in notes), notes
    assert any("'deep'" in n and "pancancer-subtype[deep]" in n for n in notes), notes
    import io as _io

    import pandas as pd

    groups = set(pd.read_csv(_io.StringIO(res.stdout))["group"])
    assert {"shape", "regional"} <= groups and not groups & {"radiomics", "peritumoural", "deep"}


def test_demo_checks_its_options_before_the_missing_extra(base_env, tmp_path):
    """A bad option of ``demo`` is named first, as on a full install; the missing 'deep' extra
    only once the options hold, with the way round it (--encode pca or --no-encode)."""
    out = tmp_path / "out"
    res = _cli(base_env, "demo", "--n", "12", "--k-max", "3", "--out", out)
    assert res.returncode == 2 and "--n" in res.stderr and "extra" not in res.stderr, res.stderr
    res = _cli(base_env, "demo", "--out", out)
    assert res.returncode == 2 and "'deep' extra" in res.stderr, res.stderr
    assert "--encode pca" in res.stderr and "--no-encode" in res.stderr
    assert not out.exists()


def test_the_deep_feature_group_names_its_extra_when_torch_is_missing(monkeypatch, capsys,
                                                                     tmp_path):
    """``--groups deep`` without torch: one line naming the 'deep' extra and how to install it
    (the group had no extra in ``registry.GROUP_EXTRAS``, so the line named none)."""
    monkeypatch.setitem(sys.modules, "torch", None)
    rc = cli.main(["features", "--image", "i.nrrd", "--mask", "m.nrrd", "--groups", "deep",
                   "--deep-model", str(tmp_path), "--out", str(tmp_path / "f.csv")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "feature group 'deep' is unavailable" in err
    assert "torch" in err and "'deep' extra" in err and 'pancancer-subtype[deep]' in err


def test_associate_statsmodels_engine_missing_is_one_line_before_any_work(monkeypatch, capsys,
                                                                         tmp_path):
    """statsmodels is not a base dependency: ``associate --engine statsmodels`` without it says
    so in one line, before the tables are read (they do not even exist here), exit 2; the
    default engine needs nothing more."""
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    rc = cli.main(["associate", "--features", str(tmp_path / "none.csv"), "--variables",
                   str(tmp_path / "none.csv"), "--engine", "statsmodels", "--out",
                   str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--engine" in err and "pip install statsmodels" in err
    assert not (tmp_path / "o").exists()


def test_agreement_names_the_groups_all_leaves_out(monkeypatch, capsys, tmp_path):
    """``agreement --groups all`` without PyRadiomics says on stderr that it leaves the group
    out (as ``features`` does), before the manifest is read."""
    monkeypatch.setitem(sys.modules, "radiomics", None)
    bad = tmp_path / "pairs.csv"
    bad.write_text("x,y\n1,2\n")                       # no Image / Mask columns: fails after
    rc = cli.main(["agreement", "--manifest", str(bad), "--out", str(tmp_path / "o"),
                   "--groups", "all"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "note: --groups all: skipped" in err and "radiomics" in err


def test_missing_extra_in_process_exits_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert cli.main(["segment", "--image", "x.nrrd", "--model", "m", "--out", "y.nrrd"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'deep' extra" in err and "torch" in err


def test_help_shows_defaults(capsys):
    for cmd, expected in [("segment", "(default: 60.0)"), ("discover", "(default: 2)"),
                          ("train-segmenter", "(default: 100)"), ("segment", "(default: auto)")]:
        with pytest.raises(SystemExit) as exc:
            cli.main([cmd, "--help"])
        assert exc.value.code == 0
        text = re.sub(r"\s+", " ", capsys.readouterr().out)
        assert expected in text, (cmd, expected)
        assert "(default: None)" not in text and "(default: False)" not in text


def test_every_option_with_a_default_says_it_in_help():
    """README: "``--help`` of every command shows each option's default". argparse prints no help
    line for an option without help text, so every option of every command that has a default
    (not None / False / empty, not a flag) has help text, and its help line shows the default:
    the formatter's "(default: X)" or the text's own words with "default"."""
    import argparse

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sp in sub.choices.items():
        fmt = sp._get_formatter()
        for a in sp._actions:
            if (not a.option_strings or a.nargs == 0 or a.default is None or a.default is False
                    or a.default is argparse.SUPPRESS or a.default == []):
                continue
            if not (a.help and a.help.strip() and "default" in fmt._get_help_string(a).lower()):
                missing.append(f"{name} {a.option_strings[0]}")
    assert not missing, missing
    assert len(sub.choices) == 21


# ------------------------------------------------------------------------- a real fresh install
@pytest.mark.slow
def test_fresh_venv_pip_install(built, shared_cases, tmp_path):
    """``pip install <wheel>`` in a new venv, build isolation on, then the smoke command."""
    if os.environ.get("PANCANCER_TEST_FRESH_INSTALL") != "1":
        pytest.skip("set PANCANCER_TEST_FRESH_INSTALL=1 (downloads the base dependencies)")
    _, wheel = built
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", "-c",
                          str(REPO / "requirements" / "lock.txt"), str(wheel)],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    for mod in ("torch", "monai", "radiomics", "dask"):
        r = subprocess.run([str(py), "-c", f"import {mod}"], capture_output=True)
        assert r.returncode != 0, f"{mod} was installed by the base install"
    lung2 = shared_cases["lung2"]
    res = subprocess.run([str(venv / "bin" / "pancancer-subtype"), "features", "--image",
                          lung2["image"], "--mask", lung2["mask"], "--groups", "cross", "--out",
                          str(tmp_path / "f.csv")], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "f.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert len([c for c in row if c.startswith(("shape_", "regional_"))]) == 313
