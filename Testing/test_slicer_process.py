"""Background jobs of the panels: cancel ends the child's whole process tree without psutil, and a
cancelled job's late callbacks cannot touch a newer job.

Real child processes throughout.  ``PythonSlicer`` is a launcher that runs the real Python as
its own child; the test builds the same shape (a parent that starts a long-running child) and
checks that both are gone after cancel.  Slicer ships no ``psutil``: it is made unimportable.
The Windows branch (``taskkill /T /F``, ``CREATE_NEW_PROCESS_GROUP``) is checked by the command
and arguments it builds.  The widgets given to ``JobRunner`` are small stand-ins that record what
the runner sets (it only calls ``setMaximum`` / ``setValue`` / ``show`` / ``hide`` /
``appendPlainText`` / ``enabled``; ``Testing/test_slicer_api.py`` checks those exist in Qt).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from PanCancerSubtypeSlicerLib import process
from PanCancerSubtypeSlicerLib.actions import PanelJob

posix_only = pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX process groups")

LAUNCHER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(sys.argv[1], "w") as fh:
    fh.write(f"{__import__('os').getpid()} {child.pid}")
print("launcher started", flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    t0 = time.monotonic()
    while not (path.is_file() and path.read_text().strip().count(" ") == 1):
        assert time.monotonic() - t0 < timeout, "the launcher did not start its child"
        time.sleep(0.05)


class Pump:
    """``schedule(ms, fn)`` that keeps the callbacks until :meth:`run` (a Qt timer stand-in)."""

    def __init__(self):
        self.pending = []

    def __call__(self, ms, fn):
        self.pending.append(fn)

    def run(self, only=None, until=None, timeout: float = 30.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if until is not None and until():
                return
            batch, self.pending = self.pending, []
            for fn in batch:
                if only is None or getattr(fn, "__self__", None) is only:
                    fn()
                else:
                    self.pending.append(fn)
            if until is None and not self.pending:
                return
            time.sleep(0.02)
        raise AssertionError("timed out")


@pytest.fixture()
def no_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # Slicer's Python has no psutil


@posix_only
def test_cancel_ends_the_whole_process_tree(tmp_path, no_psutil):
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    pids = tmp_path / "pids.txt"
    pump = Pump()
    job = process.BackgroundJob([sys.executable, str(script), str(pids)], schedule=pump)
    job.start()
    _wait_for(pids)
    launcher, child = (int(x) for x in pids.read_text().split())
    assert launcher == job.proc.pid and _alive(launcher) and _alive(child)
    t0 = time.monotonic()
    job.cancel()
    while (_alive(launcher) or _alive(child)) and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    assert not _alive(launcher), "the launcher survived cancel"
    assert not _alive(child), "the launcher's child (the real work) survived cancel"
    codes = []
    job._completed = codes.append
    pump.run(until=lambda: codes)
    assert codes and codes[0] != 0
    assert "launcher started" in job.lines


@posix_only
def test_a_tree_that_ignores_sigterm_is_killed(tmp_path, no_psutil):
    stubborn = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, "
                "signal.SIG_IGN); c = subprocess.Popen([sys.executable, '-c', 'import signal, "
                "time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)']); "
                "open(sys.argv[1], 'w').write(f'{c.pid} {c.pid}'); time.sleep(120)")
    pids = tmp_path / "pids.txt"
    proc = process.start_process([sys.executable, "-c", stubborn, str(pids)])
    _wait_for(pids)
    child = int(pids.read_text().split()[0])
    t0 = time.monotonic()
    process.kill_process_tree(proc, grace_s=0.5)
    assert time.monotonic() - t0 < 5
    deadline = time.monotonic() + 5
    # (the child and the group leader both: under load the leader may be reaped a moment later)
    while (_alive(child) or proc.poll() is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child) and proc.poll() is not None


def test_windows_branch_builds_taskkill_and_a_new_process_group(monkeypatch):
    assert process.taskkill_command(4321) == ["taskkill", "/T", "/F", "/PID", "4321"]
    assert process.group_leader_kwargs(windows=True) == {"creationflags": 0x200}
    assert process.group_leader_kwargs(windows=False) == {"start_new_session": True}
    ran = []
    monkeypatch.setattr(process, "IS_WINDOWS", True)
    monkeypatch.setattr(process.subprocess, "run", lambda cmd, **kw: ran.append(cmd))

    class Proc:
        pid = 77

        def poll(self):
            return None

    process.kill_process_tree(Proc())
    assert ran == [["taskkill", "/T", "/F", "/PID", "77"]]


class Widget:
    """Records what JobRunner sets on a progress bar / log box / button."""

    def __init__(self):
        self.calls, self.enabled, self.visible, self.text = [], False, False, []
        self.connections = []

    def setMaximum(self, v):
        self.calls.append(("max", v))

    def setValue(self, v):
        self.calls.append(("value", v))

    def show(self):
        self.visible = True

    def hide(self):
        self.visible = False

    def appendPlainText(self, t):
        self.text.append(t)

    def connect(self, signal, slot):
        self.connections.append((signal, slot))


class ScriptedJob(PanelJob):
    """A PanelJob whose commands are plain Python snippets (no library command)."""

    def __init__(self, description, codes, finish, workdir):
        super().__init__(description, [], finish, workdir)
        self._codes = codes

    @property
    def commands(self):
        return [[sys.executable, "-c", c] for c in self._codes]


@posix_only
def test_late_callback_of_a_cancelled_job_cannot_touch_the_next(tmp_path, no_psutil):
    pump = Pump()
    bar, log, button = Widget(), Widget(), Widget()
    busy, errors, finished = [], [], []
    runner = process.JobRunner(bar, log, button, busyChanged=busy.append,
                               showError=lambda text, details: errors.append(text), schedule=pump)
    assert button.connections and button.connections[0][0] == "clicked(bool)"
    wa, wb = tmp_path / "a", tmp_path / "b"
    wa.mkdir()
    wb.mkdir()
    job_a = ScriptedJob("A", ["import time; print('0/2', flush=True); time.sleep(60)"],
                        lambda: finished.append("A"), str(wa))
    job_b = ScriptedJob("B", ["print('1/2', flush=True)", "print('2/2', flush=True)"],
                        lambda: finished.append("B"), str(wb))
    runner.run(job_a)
    bg_a = runner.job
    assert runner.busy and button.enabled and bar.visible
    with pytest.raises(RuntimeError, match="already running"):
        runner.run(job_b)
    pump.run(only=bg_a, until=lambda: ("max", 2) in bar.calls)  # A reported 0/2
    runner.cancel()  # A's tree is killed; the panel is free at once
    assert not runner.busy and not button.enabled and not bar.visible
    assert not wa.exists(), "the cancelled job's temporary folder was not deleted"
    runner.run(job_b)
    bg_b = runner.job
    # A's completion arrives now, while B runs: it must not end B
    pump.run(only=bg_a, until=lambda: bg_a.finished)
    assert runner.busy and runner.job is bg_b and runner.panelJob is job_b
    assert "A: cancelled" in log.text and not any(t.startswith("A: failed") for t in log.text)
    pump.run(until=lambda: not runner.busy)
    assert finished == ["B"] and errors == []
    assert "B: done" in log.text and ("value", 2) in bar.calls
    assert not wb.exists() and busy[-1] is False


@posix_only
def test_failed_job_reports_the_tail_and_cleans_up(tmp_path):
    pump = Pump()
    errors, finished = [], []
    runner = process.JobRunner(Widget(), Widget(), Widget(),
                               showError=lambda text, details: errors.append((text, details)),
                               schedule=pump)
    w = tmp_path / "w"
    w.mkdir()
    runner.run(ScriptedJob("C", ["import sys; print('bad seed'); sys.exit(2)"],
                           lambda: finished.append("C"), str(w)))
    pump.run(until=lambda: not runner.busy)
    assert finished == [] and not w.exists()
    assert errors and "exit code 2" in errors[0][0] and "bad seed" in errors[0][1]


def test_child_environment_adds_extra_paths(tmp_path):
    env = process.child_environment({"X": "1"}, [str(tmp_path)])
    parts = env["PYTHONPATH"].split(os.pathsep)
    assert parts[0] == process.library_parent_dir() and parts[1] == str(tmp_path)
    assert env["X"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    r = subprocess.run([sys.executable, "-c", "import PanCancerSubtypeSlicerLib.jobs"],
                       env=dict(os.environ, **env), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_child_output_is_utf8_whatever_the_console_code_page(tmp_path):
    """A child in a console of another code page (Windows: cp1252, Python 3.9) still prints a
    non-ASCII path and the panel reads it back (audit: the child's last print failed with a
    UnicodeEncodeError after its result was written, and the job was reported failed)."""
    lines = []
    rc = process.run_blocking([sys.executable, "-c", "print('done: C:/Users/李雷/Müller.nrrd')"],
                              log=lines.append)
    assert rc == 0 and lines[-1] == "done: C:/Users/李雷/Müller.nrrd"
    old = os.environ.get("PYTHONIOENCODING")
    os.environ["PYTHONIOENCODING"] = "cp1252"    # the console's code page, as on Windows
    try:
        lines.clear()
        rc = process.run_blocking([sys.executable, "-c", "print('李雷 Müller')"],
                                  log=lines.append)
    finally:
        if old is None:
            del os.environ["PYTHONIOENCODING"]
        else:
            os.environ["PYTHONIOENCODING"] = old
    assert rc == 0 and lines[-1] == "李雷 Müller"
