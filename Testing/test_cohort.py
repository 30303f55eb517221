"""Cohort runner: errors recorded, atomic + resumable after a kill, Dask == local processes."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib.cohort import read_manifest, run_cohort
from PanCancerSubtypeLib.errors import ManifestError
from PanCancerSubtypeLib.synthetic import write_phantom_cohort

REPO = Path(__file__).resolve().parents[1]
# a small, fast PyRadiomics configuration keeps these tests quick
FAST = {"radiomics": {"params": {"featureClass": {"firstorder": [], "shape": []}}}}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("cohort")
    man = write_phantom_cohort(d, n=6, seed=3)
    df = pd.read_csv(man)
    # case 4: a missing mask file; case 5: a label that does not exist
    df.loc[4, "Mask"] = "does_not_exist.nrrd"
    df.loc[5, "Label"] = "7"
    df.to_csv(man, index=False)
    return man


def test_errors_recorded_and_run_goes_on(cohort, tmp_path):
    out = tmp_path / "f.csv"
    t = run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False)
    assert list(t["ID"]) == [f"case{i:03d}" for i in range(6)]
    assert (t["error"].iloc[:4] == "").all()
    assert "UnreadableFileError" in t.loc[4, "error"] and "does_not_exist.nrrd" in t.loc[4, "error"]
    assert "LabelNotFoundError" in t.loc[5, "error"] and "[7]" in t.loc[5, "error"]
    assert np.isfinite(t.loc[:3, "original_firstorder_Mean"]).all()
    assert t.loc[4:, "original_firstorder_Mean"].isna().all()
    # provenance: version, parameters, input checksums
    prov = json.loads((tmp_path / "f.csv.provenance.json").read_text(encoding="utf-8"))
    assert prov["version"] and prov["parameters"]["groups"] == ["radiomics"]
    assert len(prov["cases"]["case000"]["image_sha256"]) == 64
    assert prov["n_errors"] == 2
    assert not (tmp_path / "f.csv.parts").exists()
    # the CSV written equals the table returned
    back = pd.read_csv(out, keep_default_na=False, dtype={"Label": str})
    assert list(back.columns) == list(t.columns)


def test_resume_after_kill_computes_only_missing(cohort, tmp_path, kill_after_parts):
    out = tmp_path / "k.csv"
    parts = tmp_path / "k.csv.parts"
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from PanCancerSubtypeLib import features\n"
            "orig = features.extract_features\n"
            "def slow(*a, **k):\n"
            "    time.sleep(0.6); return orig(*a, **k)\n"
            "features.extract_features = slow\n"
            "import PanCancerSubtypeLib.cohort.extraction as c; c.extract_features = slow\n"
            "c.run_cohort(%r, %r, groups='radiomics', group_options=%r, progress=False)\n"
            % (str(REPO / "PanCancerSubtype"), str(cohort), str(out), FAST))
    kill_after_parts(code, parts, 2)
    assert not out.exists(), "the CSV must only appear when the run is complete"
    done_before = sorted(p.name for p in parts.glob("*.json"))
    assert 2 <= len(done_before) < 6
    computed = []
    t = run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=1, callback=lambda d, n, cid: computed.append(cid))   # (in order)
    from PanCancerSubtypeLib.cohort.runs import part_name

    expected_missing = [f"case{i:03d}" for i in range(6)
                        if part_name(f"case{i:03d}") not in done_before]
    assert computed == expected_missing
    assert list(t["ID"]) == [f"case{i:03d}" for i in range(6)]  # no row lost or duplicated
    ref = run_cohort(cohort, tmp_path / "ref.csv", groups="radiomics", group_options=FAST,
                     progress=False)
    pd.testing.assert_frame_equal(t, ref)
    # a complete rerun recomputes nothing and rewrites the same file
    before = out.read_bytes()
    again = []
    run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
               callback=lambda d, n, cid: again.append(cid))
    assert again == [] and out.read_bytes() == before
    # changed parameters invalidate the stored results
    other = []
    run_cohort(cohort, out, groups="radiomics",
               group_options={"radiomics": {"params": {"featureClass": {"firstorder": []}}}},
               progress=False, callback=lambda d, n, cid: other.append(cid))
    assert len(other) == 6


def test_workers_and_dask_give_identical_csv(cohort, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    a = tmp_path / "serial.csv"
    b = tmp_path / "procs.csv"
    c = tmp_path / "dask.csv"
    run_cohort(cohort, a, groups="radiomics", group_options=FAST, progress=False)
    run_cohort(cohort, b, groups="radiomics", group_options=FAST, progress=False, workers=2)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        run_cohort(cohort, c, groups="radiomics", group_options=FAST, progress=False,
                   scheduler=cluster.scheduler_address)
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()


def test_manifest_validation(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("Image,Label\na.nrrd,1\n")
    with pytest.raises(ManifestError, match=r"m.csv.*missing required column.*Mask"):
        read_manifest(p)
    p.write_text("ID,Image,Mask\nx,a.nrrd,b.nrrd\nx,c.nrrd,d.nrrd\n")
    with pytest.raises(ManifestError, match="duplicate IDs"):
        read_manifest(p)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")


def test_manifest_in_excels_windows_encoding_and_cells_with_spaces(tmp_path, caplog):
    # Excel's "CSV (Comma delimited)" on Windows writes Windows-1252: read, with a warning; a
    # binary file is still no manifest; spaces typed after a comma are not part of a path
    p = tmp_path / "m.csv"
    p.write_bytes("ID,Image,Mask\nPatiënt Ü, sub dir/a.nrrd ,b.nrrd\n".encode("cp1252"))
    with caplog.at_level("WARNING"):
        m = read_manifest(p)
    assert m.loc[0, "ID"] == "Patiënt Ü"
    assert m.loc[0, "Image"] == str((tmp_path / "sub dir" / "a.nrrd").resolve())
    assert any("not UTF-8 text; read as Windows-1252" in r.getMessage() for r in caplog.records)
    p.write_bytes(b"ID,Image\x00,Mask\n\xff\xfe\x00x,a,b\n")
    with pytest.raises(ManifestError, match="is not a text"):
        read_manifest(p)


@pytest.mark.shared_data
def test_shared_cases_manifest_aliases(shared_data):
    m = read_manifest(shared_data / "cases.csv")
    assert {"ID", "Image", "Mask", "Label", "OrganMask", "Modality", "CancerType"} <= set(m.columns)
    row = m.set_index("ID").loc["brats_pat0001"]
    assert row["Label"] == "1,3,4" and row["Organ"] == "brain" and os.path.isabs(row["OrganMask"])


def test_an_interrupt_inside_compiled_code_stops_the_run_not_the_case(cohort, tmp_path,
                                                                      monkeypatch):
    """numba turns a Ctrl-C that arrives in a compiled function into a SystemError caused by
    the KeyboardInterrupt; it was recorded as that case's failure (kept on resume) and the run
    went on.  Now it stops the run as an interrupt (exit 130), and no part of it is stored."""
    from PanCancerSubtypeLib import features, io
    from PanCancerSubtypeLib.cohort import extraction

    orig = features.extract_features
    calls = []

    def compiled_interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as ki:
                raise SystemError("CPUDispatcher(<function f>) returned a result with an "
                                  "exception set") from ki
        return orig(*a, **k)

    monkeypatch.setattr(extraction, "extract_features", compiled_interrupted)
    out = tmp_path / "i.csv"
    with pytest.raises(KeyboardInterrupt):
        run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=1)
    assert not out.exists()
    stored = [json.loads(p.read_text())["row"] for p in (tmp_path / "i.csv.parts").glob("*.json")]
    assert len(stored) == 1 and not stored[0]["error"]           # the first case only
    # a group's own catch lets it through too
    class Boom(features.make_groups("radiomics", FAST)[0].__class__):
        def compute(self, c):
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as ki:
                raise SystemError("wrapped") from ki

    row = pd.read_csv(cohort).iloc[0]
    c = io.load_case(Path(cohort).parent / row["Image"], Path(cohort).parent / row["Mask"],
                     modality="CT")
    with pytest.raises(KeyboardInterrupt):
        orig(c, instances=[Boom(**FAST["radiomics"])], on_error="record")


def test_a_detached_header_is_checksummed_with_its_voxels(tmp_path):
    """MetaImage .mhd / NRRD .nhdr keep the voxels in another file: a change of the voxels must
    change the checksum a resumed run keys on (it hashed the header alone)."""
    import SimpleITK as sitk

    from PanCancerSubtypeLib.files import detached_data_files, sha256_file

    img = sitk.GetImageFromArray(np.arange(60, dtype=np.int16).reshape(3, 4, 5))
    for name in ("a.mhd", "b.nhdr"):
        sitk.WriteImage(img, str(tmp_path / name))
        data = detached_data_files(tmp_path / name)
        assert len(data) == 1 and data[0].suffix in (".raw", ".gz"), data
        before = sha256_file(tmp_path / name)
        raw = bytearray(data[0].read_bytes())
        raw[-1] ^= 0xFF
        data[0].write_bytes(bytes(raw))
        assert sha256_file(tmp_path / name) != before
    assert detached_data_files(tmp_path / "a.raw") == []


def test_an_output_csv_changed_after_the_run_is_not_trusted(cohort, tmp_path, caplog):
    """A CSV cut in the middle of a row (or edited, or rounded by a spreadsheet) was taken back
    as finished results on resume; its checksum is now in the provenance."""
    out = tmp_path / "t.csv"
    run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False, workers=1)
    good = out.read_bytes()
    assert json.loads((tmp_path / "t.csv.provenance.json").read_text())["csv_sha256"]
    out.write_bytes(good[: len(good) - 40])                  # the last row cut short
    computed = []
    with caplog.at_level("WARNING"):
        run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=1, callback=lambda d, n, cid: computed.append(cid))
    assert len(computed) == 6 and out.read_bytes() == good
    assert any("was changed after it was written" in r.getMessage() for r in caplog.records)
    again = []
    run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False, workers=1,
               callback=lambda d, n, cid: again.append(cid))
    assert again == [] and out.read_bytes() == good


def test_results_of_other_code_are_computed_again(cohort, tmp_path, monkeypatch):
    """The version alone stays 0.1.0 from commit to commit: a resumed run kept results that
    another commit's code had computed.  The sources' checksum is part of the resume key."""
    from PanCancerSubtypeLib import files

    out = tmp_path / "c.csv"
    run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False, workers=1)
    prov = json.loads((tmp_path / "c.csv.provenance.json").read_text())
    assert prov["parameters"]["code_sha256"] == files.code_sha256()
    assert len(files.code_sha256()) == 64
    monkeypatch.setattr(files, "_CODE_SHA", "0" * 64)
    computed = []
    run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False, workers=1,
               callback=lambda d, n, cid: computed.append(cid))
    assert len(computed) == 6


def test_one_run_at_a_time_on_an_output(cohort, tmp_path):
    """Two runs on one output both computed every case and one could fail on the other's
    files: a lock file refuses the second while the first's process runs; a killed run's lock
    (its process gone) is taken over, and a finished run leaves none."""
    import socket
    import subprocess
    import sys

    from PanCancerSubtypeLib.errors import UsageError

    out = tmp_path / "l.csv"
    lock = tmp_path / "l.csv.lock"
    lock.write_text(f"{os.getpid()} {socket.gethostname()}\n")          # a live run
    with pytest.raises(UsageError, match=r"another run \(process \d+ on .*\) is writing"):
        run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=1)
    assert not out.exists()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    lock.write_text(f"{gone} {socket.gethostname()}\n")                 # a killed run's
    t = run_cohort(cohort, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=1)
    assert len(t) == 6 and not lock.exists()


def test_a_resumed_csv_is_the_bytes_of_a_fresh_run(cohort, tmp_path):
    """"NA" is a case ID or a cancer type, not a missing value (it was blanked on resume and the
    case recomputed on every rerun); integers stay integers when a failed case leaves their
    column empty (452126.0 before); a case whose files moved (the same bytes) gets its new
    paths."""
    import shutil

    man = pd.read_csv(cohort, dtype=str, keep_default_na=False)
    man.loc[0, "ID"] = "NA"
    man["CancerType"] = ["N/A"] + [""] * (len(man) - 1)
    base = Path(cohort).parent
    for c in ("Image", "Mask"):
        man[c] = [str(base / v) for v in man[c]]
    m1 = tmp_path / "m1.csv"
    man.to_csv(m1, index=False)
    out = tmp_path / "r.csv"
    t = run_cohort(m1, out, groups="radiomics", group_options=FAST, progress=False, workers=1)
    assert list(t["ID"])[0] == "NA" and t.loc[0, "CancerType"] == "N/A"
    assert (t["error"] != "").sum() == 2                     # cases 4 and 5 fail (fixture)
    text = out.read_text()
    n = int(t.loc[0, "diag_radiomics_VoxelNum"])
    assert f",{n}," in text and f",{n}.0," not in text
    again = []
    run_cohort(m1, out, groups="radiomics", group_options=FAST, progress=False, workers=1,
               callback=lambda d, k, cid: again.append(cid))
    assert again == [] and out.read_text() == text
    # the good cases alone, fresh: the same bytes for their rows
    fresh = run_cohort(man.iloc[:4], tmp_path / "fresh.csv", groups="radiomics",
                       group_options=FAST, progress=False, workers=1)
    assert (tmp_path / "fresh.csv").read_text().splitlines()[1:5] == text.splitlines()[1:5]
    assert len(fresh) == 4
    # case 0's image moved (same bytes): its row takes the new path, nothing is recomputed
    moved = tmp_path / "moved.nrrd"
    shutil.copy(man.loc[0, "Image"], moved)
    man.loc[0, "Image"] = str(moved)
    man.to_csv(m1, index=False)
    again = []
    t2 = run_cohort(m1, out, groups="radiomics", group_options=FAST, progress=False, workers=1,
                    callback=lambda d, k, cid: again.append(cid))
    assert again == [] and t2.loc[0, "Image"] == str(moved)


def test_a_rerun_says_what_it_computed(cohort, tmp_path, capsys):
    from PanCancerSubtypeLib.cli import main

    argv = ["cohort-features", "--manifest", str(cohort), "--out", str(tmp_path / "s.csv"),
            "--groups", "radiomics", "--set", "radiomics.params={\"featureClass\": "
            "{\"firstorder\": [], \"shape\": []}}", "--no-progress", "--workers", "1"]
    assert main(argv) == 1                                   # cases 4 and 5 fail (fixture)
    assert "6 cases -> " in capsys.readouterr().err
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "(2 with errors; 0 computed now, 6 from an earlier run)" in err


def test_cancel_keeps_the_cases_in_flight_and_starts_no_other(cohort, tmp_path, monkeypatch):
    """cancel() with several workers: the cases not started are dropped at once, those in
    flight are finished and kept (the pool ran every queued case, then the run kept one)."""
    import time

    from PanCancerSubtypeLib.cohort import extraction

    orig = extraction.extract_features

    def slow(*a, **k):                      # (the forked workers have it too)
        time.sleep(0.5)
        return orig(*a, **k)

    monkeypatch.setattr(extraction, "extract_features", slow)
    man = pd.read_csv(cohort, dtype=str, keep_default_na=False).iloc[:4]
    base = Path(cohort).parent
    many = pd.concat([man.assign(ID=[f"r{k}_{i}" for i in man["ID"]]) for k in range(4)])
    for c in ("Image", "Mask"):
        many[c] = [str(base / v) for v in many[c]]
    out = tmp_path / "x.csv"
    seen = []
    t = run_cohort(many, out, groups="radiomics", group_options=FAST, progress=False,
                   workers=2, callback=lambda d, n, cid: seen.append(cid),
                   cancel=lambda: len(seen) >= 1)
    parts = list((tmp_path / "x.csv.parts").glob("*.json"))
    assert not out.exists()                                  # the run did not finish
    # the first case, the other worker's, and those the pool had queued already: not all 16
    assert 2 <= len(seen) == len(parts) == len(t) <= 8 < len(many), (seen, len(parts))
