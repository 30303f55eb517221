"""What is guaranteed bit for bit (README, "Reliability").

* The feature CSV of a cohort is byte-identical whether it ran in one process, in two worker
  processes, on a Dask cluster, or was killed half-way and resumed, with the paper's 313
  cross-modality features (shape + regional, the groups that record their own timings: those go
  to the provenance file, never to the CSV).
* The HTML report holds no time stamp: the same inputs give the same bytes; the demo with the
  same seed gives the same numbers and the same report (slow test: two complete runs of a
  12-case cohort).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from PanCancerSubtypeLib.cohort import run_cohort
from PanCancerSubtypeLib.synthetic import write_phantom_cohort
from PanCancerSubtypeLib.tables import is_timing_column

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("repro")
    return write_phantom_cohort(d, n=3, seed=5, size_xyz=(40, 40, 20), modality="MR")


@pytest.fixture(scope="module")
def serial(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "f.csv"
    run_cohort(cohort, out, groups="cross", progress=False)
    return out


def test_csv_holds_no_timing_and_provenance_holds_them(serial):
    t = pd.read_csv(serial, keep_default_na=False)
    assert (t["error"] == "").all(), t["error"].tolist()
    assert not [c for c in t.columns if is_timing_column(c)]
    assert t.filter(like="shape_energy").shape[1] == 15
    assert t.filter(regex="^regional_").shape[1] == 20
    prov = json.loads(serial.with_name("f.csv.provenance.json").read_text(encoding="utf-8"))
    timings = prov["cases"]["case000"]["timings_s"]
    for k in ("diag_time_shape_s", "diag_time_regional_s", "diag_shape_time_fit_s",
              "diag_regional_parenchyma_s", "diag_time_total_s"):
        assert timings[k] >= 0, k


def test_workers_dask_and_rerun_give_identical_bytes(cohort, serial, tmp_path, capsys):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from PanCancerSubtypeLib.cli import main

    procs = tmp_path / "procs.csv"
    assert main(["cohort-features", "--manifest", str(cohort), "--out", str(procs), "--groups",
                 "cross", "--workers", "2", "--no-progress"]) == 0
    dask = tmp_path / "dask.csv"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        run_cohort(cohort, dask, groups="cross", progress=False,
                   scheduler=cluster.scheduler_address)
    assert serial.read_bytes() == procs.read_bytes() == dask.read_bytes()
    # a complete rerun computes nothing and writes the same bytes
    again = []
    run_cohort(cohort, procs, groups="cross", progress=False,
               callback=lambda d, n, cid: again.append(cid))
    assert again == [] and procs.read_bytes() == serial.read_bytes()
    # recomputing every case (no resume) gives the same bytes too
    run_cohort(cohort, procs, groups="cross", progress=False, resume=False)
    assert procs.read_bytes() == serial.read_bytes()


def test_kill_and_resume_gives_identical_bytes(cohort, serial, tmp_path):
    out = tmp_path / "k.csv"
    parts = tmp_path / "k.csv.parts"
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "import PanCancerSubtypeLib.cohort.extraction as c\n"
            "orig = c.extract_features\n"
            "def slow(*a, **k):\n"
            "    r = orig(*a, **k); time.sleep(1.5); return r\n"
            "c.extract_features = slow\n"
            "c.run_cohort(%r, %r, groups='cross', progress=False)\n"
            % (str(REPO / "PanCancerSubtype"), str(cohort), str(out)))
    proc = subprocess.Popen([sys.executable, "-c", code])
    t0 = time.time()
    while time.time() - t0 < 180:
        if parts.is_dir() and list(parts.glob("*.json")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(parts.glob("*.json"))
    assert 1 <= len(done) < 3 and not out.exists()
    computed = []
    run_cohort(cohort, out, groups="cross", progress=False,
               callback=lambda d, n, cid: computed.append(cid))
    assert 1 <= len(computed) <= 3 - len(done)
    assert out.read_bytes() == serial.read_bytes()
    assert not parts.exists()


def test_report_has_no_time_stamp_and_is_reproducible():
    """The same content gives the same HTML, images included."""
    import numpy as np

    from PanCancerSubtypeLib.plots import cdf_plot
    from PanCancerSubtypeLib.report import Report

    def build():
        r = Report("t", "s").section("a", "A")
        r.kpis([("cases", 3)]).table(pd.DataFrame({"x": [1.5, 2.25]}), caption="c")
        r.figure(cdf_plot({2: np.linspace(0, 1, 100), 3: np.linspace(0, 1, 100) ** 2}), "cdf")
        return r.render()

    a = build()
    time.sleep(1.1)
    assert build() == a
    assert "generated" not in a and time.strftime("%Y-%m-%d") not in a


@pytest.mark.slow
def test_demo_same_seed_same_report(tmp_path):
    """Two complete demo runs with the same seed: the same numbers, the same report bytes."""
    from PanCancerSubtypeLib.demo import run_demo

    kw = dict(n=20, seed=7, reps=10, k_min=2, k_max=3, workers=1, encode="none",
              real_cases=False, n_boot=10)
    s1 = run_demo(out=str(tmp_path / "a"), **kw)
    s2 = run_demo(out=str(tmp_path / "b"), **kw)
    for s in (s1, s2):
        s.pop("timings_s")
        s.pop("report")
    assert s1 == s2 and s1["n_ok"] == 20
    assert (tmp_path / "a" / "report.html").read_bytes() == \
        (tmp_path / "b" / "report.html").read_bytes()
    for name in ("features.csv", "survival_table.csv", "survival_summary.json"):
        a, b = tmp_path / "a" / name, tmp_path / "b" / name
        # the same bytes but for the output folder's name in the Image / Mask paths
        assert a.read_bytes().replace(str(tmp_path / "a").encode(), b"OUT") == \
            b.read_bytes().replace(str(tmp_path / "b").encode(), b"OUT"), name


def test_shape_features_equal_in_concurrent_threads(cohort):
    """Two threads of one process (a Dask worker's) decomposing at once give the bits of a serial
    run: the BLAS limit of one decomposition is not lifted by another finishing first."""
    from concurrent.futures import ThreadPoolExecutor

    from PanCancerSubtypeLib.cohort import read_manifest
    from PanCancerSubtypeLib.features import extract_features
    from PanCancerSubtypeLib.io import load_case

    cases = [load_case(r.Image, r.Mask, modality="MR") for r in read_manifest(cohort).itertuples()]

    def coefs(case):
        row = extract_features(case, groups=["shape"])
        return [row[k] for k in row if k.startswith("shape_coef")]

    serial = [coefs(c) for c in cases]
    for _ in range(3):
        with ThreadPoolExecutor(2) as ex:
            assert list(ex.map(coefs, cases)) == serial
