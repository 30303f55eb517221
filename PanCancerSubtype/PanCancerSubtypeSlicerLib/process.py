"""Long computations in a background ``PythonSlicer`` process, so the GUI never blocks.

As SlicerMONAIAuto3DSeg does: inputs are written to a temporary folder, the core library's command
line (``PythonSlicer -m PanCancerSubtypeLib <command> ...``) runs in a child process, its output lines
are passed to a log callback (and parsed for ``i/n`` progress), and a completion callback reads the
results back into the scene.  Cancel kills the child.

``build_command`` and ``parse_progress`` are plain Python (tested with pytest); ``BackgroundJob``
uses ``slicer.util.launchConsoleProcess(blocking=False)`` (Slicer >= 5.12) or, on older Slicer, a
reader thread plus a ``qt.QTimer`` poll (imported only then).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from typing import Callable, Dict, List, Optional, Sequence

_PROGRESS_RE = re.compile(r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])")


def python_executable() -> str:
    """``PythonSlicer`` beside the running Slicer, else on PATH, else this interpreter."""
    here = os.path.dirname(sys.executable)
    for cand in (os.path.join(here, "PythonSlicer"), os.path.join(here, "PythonSlicer.exe")):
        if os.path.isfile(cand):
            return cand
    return shutil.which("PythonSlicer") or sys.executable


def library_parent_dir() -> str:
    """The folder that holds ``PanCancerSubtypeLib`` (Slicer's qt-scripted-modules folder once
    installed); put on the child's PYTHONPATH, since PythonSlicer does not see extension folders."""
    import PanCancerSubtypeLib

    return os.path.dirname(os.path.dirname(os.path.abspath(PanCancerSubtypeLib.__file__)))


def child_environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment updates for the child: PYTHONPATH with the library, unbuffered output."""
    paths = [library_parent_dir()]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {"PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}
    env.update(extra or {})
    return env


def build_command(command: str, args: Sequence[str], python: Optional[str] = None) -> List[str]:
    """``[python, -m, PanCancerSubtypeLib, command, *args]`` as strings."""
    return [python or python_executable(), "-m", "PanCancerSubtypeLib", command] + \
        [str(a) for a in args]


def parse_progress(line: str):
    """``(done, total)`` from a progress line such as tqdm's ``12/40 [00:03<...`` or None."""
    best = None
    for m in _PROGRESS_RE.finditer(line):
        done, total = int(m.group(1)), int(m.group(2))
        if total > 0 and 0 <= done <= total:
            best = (done, total)
    return best


class BackgroundJob:
    """One child process with log / progress / completion callbacks and cancel.

    ``completed(returncode)`` is called on the GUI thread (through Qt's event loop).
    """

    def __init__(self, cmd: Sequence[str], log: Optional[Callable[[str], None]] = None,
                 progress: Optional[Callable[[int, int], None]] = None,
                 completed: Optional[Callable[[int], None]] = None,
                 env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None):
        self.cmd = list(cmd)
        self._log = log or (lambda line: None)
        self._progress = progress
        self._completed = completed or (lambda rc: None)
        self.env = child_environment(env)
        self.cwd = cwd
        self.proc = None
        self.cancelled = False
        self.lines: List[str] = []

    def _on_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        self.lines.append(line)
        self._log(line)
        if self._progress is not None:
            p = parse_progress(line)
            if p is not None:
                self._progress(*p)

    def start(self) -> "BackgroundJob":
        import slicer

        try:
            self.proc = slicer.util.launchConsoleProcess(
                self.cmd, updateEnvironment=self.env, cwd=self.cwd, blocking=False,
                logCallback=self._on_line, completedCallback=self._completed)
        except TypeError:  # Slicer < 5.12: no non-blocking mode
            self.proc = slicer.util.launchConsoleProcess(self.cmd, updateEnvironment=self.env,
                                                         cwd=self.cwd)
            self._poll_with_timer()
        return self

    def _poll_with_timer(self) -> None:
        import queue

        import qt

        q = queue.Queue()

        def reader():
            for line in iter(self.proc.stdout.readline, ""):
                q.put(line)
            self.proc.wait()
            q.put(None)

        threading.Thread(target=reader, daemon=True).start()

        def drain():
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    qt.QTimer.singleShot(200, drain)
                    return
                if item is None:
                    self._completed(self.proc.returncode)
                    return
                self._on_line(item)

        qt.QTimer.singleShot(200, drain)

    def cancel(self) -> None:
        """Kill the child (and, where psutil is present, its own children)."""
        self.cancelled = True
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            import psutil

            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
        except Exception:
            pass
        self.proc.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def run_blocking(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
                 log: Optional[Callable[[str], None]] = None) -> int:
    """Run a command to completion (batch scripts, tests); returns its exit code."""
    full_env = os.environ.copy()
    full_env.update(child_environment(env))
    p = subprocess.Popen(list(cmd), env=full_env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    for line in p.stdout:
        if log:
            log(line.rstrip("\n"))
    return p.wait()


class JobRunner:
    """Drives one background job from a module panel: progress bar, log box, cancel button.

    Only calls methods of the given widgets (``QProgressBar``, ``QPlainTextEdit``,
    ``QPushButton``), so it needs no Qt import itself.  ``busyChanged(bool)`` lets the panel
    disable its buttons while a job runs.
    """

    def __init__(self, progressBar, logWidget, cancelButton=None,
                 busyChanged: Optional[Callable[[bool], None]] = None):
        self.progressBar = progressBar
        self.logWidget = logWidget
        self.cancelButton = cancelButton
        self.busyChanged = busyChanged or (lambda busy: None)
        self.job: Optional[BackgroundJob] = None
        if cancelButton is not None:
            cancelButton.connect("clicked(bool)", lambda checked=False: self.cancel())

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def log(self, text: str) -> None:
        self.logWidget.appendPlainText(text)

    def _progress(self, done: int, total: int) -> None:
        self.progressBar.setMaximum(total)
        self.progressBar.setValue(done)

    def run(self, cmd: Sequence[str], onSuccess: Callable[[], None], description: str,
            partial: Optional[Callable[[int, List[str]], bool]] = None) -> None:
        """Start ``cmd``; on exit code 0 call ``onSuccess`` (errors shown in a dialog).

        ``partial(rc, output_lines)`` returning True marks a non-zero exit as a result with
        errors (e.g. ``cohort-features`` exits with 1 when some case failed but writes every
        row): ``onSuccess`` is called and the log says so."""
        import slicer

        if self.busy:
            raise RuntimeError("a job is already running: wait for it or cancel it")
        self.log(f"{description}: started")
        self.progressBar.setMaximum(0)  # busy indicator until the job reports i/n
        self.progressBar.setValue(0)
        self.progressBar.show()
        if self.cancelButton is not None:
            self.cancelButton.enabled = True
        self.busyChanged(True)

        def completed(rc: int) -> None:
            self.progressBar.hide()
            if self.cancelButton is not None:
                self.cancelButton.enabled = False
            job, self.job = self.job, None
            self.busyChanged(False)
            if job is not None and job.cancelled:
                self.log(f"{description}: cancelled")
                return
            if rc != 0 and partial is not None and job is not None and partial(rc, job.lines):
                self.log(f"{description}: finished with errors (exit code {rc}); see the log "
                         f"and the 'error' column")
            elif rc != 0:
                tail = "\n".join(job.lines[-15:]) if job is not None else ""
                self.log(f"{description}: failed (exit code {rc})")
                slicer.util.errorDisplay(f"{description} failed (exit code {rc}).",
                                         detailedText=tail)
                return
            with slicer.util.tryWithErrorDisplay(f"{description}: reading the results failed.",
                                                 waitCursor=True):
                onSuccess()
                self.log(f"{description}: done")

        self.job = BackgroundJob(cmd, log=self.log, progress=self._progress,
                                 completed=completed).start()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
