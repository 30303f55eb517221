"""Long computations in a background ``PythonSlicer`` process, so the GUI never blocks.

As SlicerMONAIAuto3DSeg does: inputs are written to a temporary folder, the core library's command
line (``PythonSlicer -m PanCancerSubtypeLib <command> ...``) runs in a child process, its output lines
are passed to a log callback (and parsed for ``i/n`` progress), and a completion callback reads the
results back into the scene.

Cancel ends the child's whole process tree.  ``PythonSlicer`` is a launcher that runs the real
Python as its own child and forwards no signal, so killing the launcher alone leaves the work
running, and Slicer ships no ``psutil``.  The child is therefore started as the leader of a new
process group: a new session on Linux / macOS (``os.killpg`` ends the group: SIGTERM, then
SIGKILL), a new process group on Windows (``taskkill /T /F /PID`` ends the tree).

``BackgroundJob`` reads the child's output in a thread and hands it to the GUI thread with a timer
(``qt.QTimer.singleShot``; any ``schedule(ms, fn)`` in tests).  ``JobRunner`` drives the jobs of a
panel; every callback of a job checks that the job is still the runner's current one, so a late
callback of a cancelled job cannot touch a newer job.
"""
from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence

_PROGRESS_RE = re.compile(r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])")
IS_WINDOWS = sys.platform.startswith("win")


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


def child_environment(extra: Optional[Dict[str, str]] = None,
                      extra_paths: Sequence[str] = ()) -> Dict[str, str]:
    """Environment updates for the child: PYTHONPATH with the library (and ``extra_paths``, e.g.
    the folder another extension installed PyRadiomics into), unbuffered output in UTF-8 (which
    the panels decode: on Windows a child otherwise writes the console code page, and a
    non-ASCII path in its last line failed the job after its result was written)."""
    paths = [library_parent_dir()] + [p for p in extra_paths if p]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {"PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1",
           "PYTHONIOENCODING": "utf-8"}
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


# ----------------------------------------------------------------------------------------------
# process trees
# ----------------------------------------------------------------------------------------------

#: ``subprocess.CREATE_NEW_PROCESS_GROUP`` (defined by the subprocess module on Windows only)
CREATE_NEW_PROCESS_GROUP = 0x00000200


def group_leader_kwargs(windows: bool = IS_WINDOWS) -> Dict[str, object]:
    """``Popen`` arguments that make the child the leader of a new process group: a new session
    on POSIX (its pid is the group id ``os.killpg`` signals), a new process group on Windows."""
    if windows:
        return {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP",
                                         CREATE_NEW_PROCESS_GROUP)}
    return {"start_new_session": True}


def start_process(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
                  cwd: Optional[str] = None) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new process group, output (stdout + stderr) as text.

    ``env`` is the complete environment (Slicer: ``slicer.util.startupEnvironment()`` plus
    :func:`child_environment`).
    """
    kwargs = group_leader_kwargs()
    return subprocess.Popen([str(c) for c in cmd], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            universal_newlines=True, encoding="utf-8", errors="replace",
                            bufsize=1, **kwargs)


def taskkill_command(pid: int) -> List[str]:
    """Windows: end a process and all its descendants (``/T``) forcefully (``/F``)."""
    return ["taskkill", "/T", "/F", "/PID", str(int(pid))]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a member we may not signal still lives
        return True
    return True


def kill_process_tree(proc: subprocess.Popen, grace_s: float = 3.0) -> None:
    """End ``proc`` (started by :func:`start_process`) and every process it started.

    POSIX: SIGTERM to the process group, then SIGKILL to what is left after ``grace_s``;
    Windows: ``taskkill /T /F``.  The launcher's exit does not end its children, so the group is
    signalled even when ``proc`` itself has already exited.
    """
    if IS_WINDOWS:
        # the tree hangs together through parent pids: end it while the launcher still lives
        subprocess.run(taskkill_command(proc.pid), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        proc.poll()
        return
    pgid = proc.pid  # start_new_session: the child leads its own group
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so the group can empty
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.poll()


def qt_schedule(ms: int, fn: Callable[[], None]) -> None:
    """Run ``fn`` on the GUI thread after ``ms`` milliseconds (Slicer)."""
    import qt

    qt.QTimer.singleShot(ms, fn)


def base_environment() -> Dict[str, str]:
    """The environment a child starts from: Slicer's startup environment (without what the
    launcher added for Slicer itself) inside Slicer, else this process's."""
    try:
        import slicer

        if getattr(slicer, "app", None) is not None:
            return dict(slicer.util.startupEnvironment())
    except (ImportError, AttributeError):
        pass
    return dict(os.environ)


class BackgroundJob:
    """One child process tree with log / progress / completion callbacks and cancel.

    ``completed(returncode)`` is called on the GUI thread (through ``schedule``), once, after the
    child's output is drained.
    """

    POLL_MS = 100

    def __init__(self, cmd: Sequence[str], log: Optional[Callable[[str], None]] = None,
                 progress: Optional[Callable[[int, int], None]] = None,
                 completed: Optional[Callable[[int], None]] = None,
                 env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                 extra_paths: Sequence[str] = (),
                 schedule: Optional[Callable[[int, Callable[[], None]], None]] = None):
        self.cmd = list(cmd)
        self._log = log or (lambda line: None)
        self._progress = progress
        self._completed = completed or (lambda rc: None)
        self.env = child_environment(env, extra_paths)
        self.cwd = cwd
        self.schedule = schedule or qt_schedule
        self.proc: Optional[subprocess.Popen] = None
        self.cancelled = False
        self.finished = False
        self.lines: List[str] = []
        self._queue: "queue.Queue" = queue.Queue()

    def _on_line(self, line: str) -> None:
        line = line.rstrip("\r\n")
        self.lines.append(line)
        self._log(line)
        if self._progress is not None:
            p = parse_progress(line)
            if p is not None:
                self._progress(*p)

    def start(self) -> "BackgroundJob":
        full = base_environment()
        full.update(self.env)
        self.proc = start_process(self.cmd, env=full, cwd=self.cwd)
        threading.Thread(target=self._read, daemon=True).start()
        self.schedule(self.POLL_MS, self._drain)
        return self

    def _read(self) -> None:
        for line in iter(self.proc.stdout.readline, ""):
            self._queue.put(line)
        self.proc.stdout.close()
        self._queue.put(None)

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                self.schedule(self.POLL_MS, self._drain)
                return
            if item is None:
                rc = self.proc.wait()
                self.finished = True
                self._completed(rc)
                return
            self._on_line(item)

    def cancel(self) -> None:
        """End the child's process tree; ``completed`` still follows (with the kill's code)."""
        self.cancelled = True
        if self.proc is not None:
            kill_process_tree(self.proc)

    @property
    def running(self) -> bool:
        return self.proc is not None and not self.finished


def run_blocking(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
                 log: Optional[Callable[[str], None]] = None,
                 extra_paths: Sequence[str] = ()) -> int:
    """Run a command to completion (batch scripts, tests); returns its exit code."""
    full_env = os.environ.copy()
    full_env.update(child_environment(env, extra_paths))
    p = subprocess.Popen(list(cmd), env=full_env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, encoding="utf-8",
                         errors="replace")
    for line in p.stdout:
        if log:
            log(line.rstrip("\n"))
    return p.wait()


def _show_error(text: str, details: str = "") -> None:
    import slicer

    slicer.util.errorDisplay(text, detailedText=details)


class JobRunner:
    """Drives the background jobs of one module panel: progress bar, log box, cancel button.

    Only calls methods of the given widgets (``QProgressBar``, ``QPlainTextEdit``,
    ``QPushButton``), so it needs no Qt import itself.  ``busyChanged(bool)`` lets the panel
    disable its buttons while a job runs.  :meth:`run` takes a :class:`~.actions.PanelJob`: its
    commands run one after the other, then its ``finish`` reads the results into the scene, and
    its temporary folder is deleted whatever happened.
    """

    def __init__(self, progressBar, logWidget, cancelButton=None,
                 busyChanged: Optional[Callable[[bool], None]] = None,
                 showError: Optional[Callable[[str, str], None]] = None,
                 schedule: Optional[Callable[[int, Callable[[], None]], None]] = None):
        self.progressBar = progressBar
        self.logWidget = logWidget
        self.cancelButton = cancelButton
        self.busyChanged = busyChanged or (lambda busy: None)
        self.showError = showError or _show_error
        self.schedule = schedule
        self.job: Optional[BackgroundJob] = None
        self.panelJob = None
        if cancelButton is not None:
            cancelButton.connect("clicked(bool)", lambda checked=False: self.cancel())

    @property
    def busy(self) -> bool:
        return self.panelJob is not None

    def log(self, text: str) -> None:
        self.logWidget.appendPlainText(text)

    def _progress(self, done: int, total: int) -> None:
        self.progressBar.setMaximum(total)
        self.progressBar.setValue(done)

    def _setBusy(self, busy: bool) -> None:
        if busy:
            self.progressBar.setMaximum(0)  # busy indicator until the job reports i/n
            self.progressBar.setValue(0)
            self.progressBar.show()
        else:
            self.progressBar.hide()
        if self.cancelButton is not None:
            self.cancelButton.enabled = busy
        self.busyChanged(busy)

    def run(self, panelJob) -> None:
        """Start a :class:`~.actions.PanelJob` (errors are shown in a dialog)."""
        if self.busy:
            raise RuntimeError("a job is already running: wait for it or cancel it")
        self.panelJob = panelJob
        self.log(f"{panelJob.description}: started")
        self._setBusy(True)
        self._startStep(panelJob, 0)

    def _startStep(self, panelJob, index: int) -> None:
        cmd = panelJob.commands[index]
        job = BackgroundJob(cmd, log=self.log, progress=self._progress,
                            extra_paths=panelJob.extra_paths, schedule=self.schedule)
        job._completed = lambda rc: self._stepDone(panelJob, job, index, rc)
        self.job = job
        try:
            job.start()
        except OSError as exc:
            self._end(panelJob)
            self.log(f"{panelJob.description}: could not start ({exc})")
            self.showError(f"{panelJob.description}: could not start the background process.",
                           str(exc))

    def _stepDone(self, panelJob, job: BackgroundJob, index: int, rc: int) -> None:
        if self.panelJob is not panelJob or self.job is not job:
            return  # a late callback of a cancelled (or replaced) job: it owns nothing now
        last = index + 1 == len(panelJob.commands)
        partial = getattr(panelJob, "partial", None)
        if rc != 0 and last and partial is not None and partial(rc, job.lines):
            self.log(f"{panelJob.description}: finished with errors (exit code {rc}); see the "
                     f"log and the 'error' column")
        elif rc != 0:
            self._end(panelJob)
            tail = "\n".join(job.lines[-15:])
            self.log(f"{panelJob.description}: failed (exit code {rc})")
            self.showError(f"{panelJob.description} failed (exit code {rc}).", tail)
            return
        if index + 1 < len(panelJob.commands):
            self._startStep(panelJob, index + 1)
            return
        try:
            panelJob.finish()
        except Exception as exc:  # shown to the user; the panel stays usable
            self._end(panelJob)
            self.log(f"{panelJob.description}: reading the results failed: {exc}")
            self.showError(f"{panelJob.description}: reading the results failed.",
                           f"{type(exc).__name__}: {exc}")
            return
        self._end(panelJob)
        self.log(f"{panelJob.description}: done")

    def _end(self, panelJob) -> None:
        self.job = None
        self.panelJob = None
        panelJob.cleanup()
        self._setBusy(False)

    def cancel(self) -> None:
        """End the running job's process tree now; the panel is free at once."""
        panelJob, job = self.panelJob, self.job
        if panelJob is None:
            return
        if job is not None:
            job.cancel()
        self._end(panelJob)
        self.log(f"{panelJob.description}: cancelled")
