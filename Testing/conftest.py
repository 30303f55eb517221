"""Shared pytest fixtures.

Real cases are looked up in ``$PANCANCER_SHARED_DATA`` or, by default, ``../shared/data`` beside
the repository.  Tests that need them use the ``shared_data`` fixture and are skipped with a message
that says where the data was looked for when it is absent.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(optionalhook=True)     # a pytest-xdist hook; unknown without it
def pytest_xdist_auto_num_workers(config) -> int:
    """Workers for ``-n auto`` (``addopts`` in pyproject.toml): one per core this process may
    use, at most 8 (each imports torch, SimpleITK and the rest; the longest test file, the
    click segmentation's, sets the wall time beyond that).  ``-n 0`` runs in one process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def shared_data_dir() -> Path:
    env = os.environ.get("PANCANCER_SHARED_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not (d / "cases.csv").is_file():
        pytest.skip(f"shared test data not found at {d} (set PANCANCER_SHARED_DATA to the folder "
                    f"that holds cases.csv)")
    return d


@pytest.fixture(scope="session")
def shared_cases(shared_data):
    """Rows of cases.csv with absolute paths."""
    rows = []
    with open(shared_data / "cases.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            for k in ("image", "mask", "organ_mask"):
                if r.get(k):
                    r[k] = str(shared_data / r[k])
            rows.append(r)
    return {r["case_id"]: r for r in rows}


@pytest.fixture()
def kill_after_parts():
    """``kill(code, parts, n)``: run Python ``code`` in a child process and SIGKILL it once the
    folder ``parts`` holds ``n`` finished case files (a cohort run killed mid-run)."""
    import signal
    import subprocess
    import sys
    import time

    def kill(code: str, parts: Path, n: int = 2) -> None:
        proc = subprocess.Popen([sys.executable, "-c", code])
        t0 = time.time()
        while time.time() - t0 < 120:
            if parts.is_dir() and len(list(parts.glob("*.json"))) >= n:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    return kill
