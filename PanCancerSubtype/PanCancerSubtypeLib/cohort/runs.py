"""A cohort run's machinery, for features and segmentation alike: the fingerprint a rerun
resumes by, tasks on local processes or a Dask scheduler, the per-case parts, progress and
cancel (see :mod:`PanCancerSubtypeLib.cohort`)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from ..errors import UsageError
from ..files import sha256_file

__all__ = ["case_fingerprint", "collect_results", "file_sha", "finish_parts", "load_parts",
           "map_tasks", "part_name", "progress_bar", "run_lock", "StopRequested",
           "worker_count"]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine."""
    if os.name == "nt":     # (os.kill(pid, 0) would send it Ctrl-C there)
        import ctypes

        k32 = ctypes.windll.kernel32
        handle = k32.OpenProcess(0x1000, False, int(pid))   # QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ok = k32.GetExitCodeProcess(handle, ctypes.byref(code))
        k32.CloseHandle(handle)
        return bool(ok) and code.value == 259                # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(path: Path, target: str) -> Iterator[None]:
    """One run at a time on an output: ``path`` (a lock file holding the process ID and host)
    is created for the run and removed after it.  A lock of a process still running on this
    host (or of another host: it cannot be checked) refuses the run with a
    :class:`~.errors.UsageError` naming it; one whose process is gone (a killed run) is taken
    over.  Two runs on one output both computed every case, and one could fail on the other's
    files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for attempt in range(3):
        try:
            fd = os.open(str(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_text, other = (path.read_text().split() + ["", ""])[:2]
                pid = int(pid_text)
            except (OSError, ValueError):
                pid, other = None, host
            if pid is not None and (other != host or _alive(pid)):
                raise UsageError(
                    f"another run (process {pid} on {other}) is writing {target}: wait for it "
                    f"to end or stop it (its lock file {path}; delete that if no such run is "
                    f"going on)", source=target) from None
            try:
                path.unlink()           # a killed run's lock
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()} {host}\n")
        break
    else:
        raise UsageError(f"cannot take the lock {path} of {target}", source=target)
    try:
        yield
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def worker_count(workers: Optional[int], n_todo: int) -> int:
    """The local processes of a run: ``workers``, or the machine's cores by default; at most
    one per case to do, at least one."""
    return max(1, min(int(workers or os.cpu_count() or 1), n_todo))


def file_sha(path: str) -> str:
    """The SHA-256 of the file at ``path``: "" for no path, "missing" when it cannot be read."""
    if not path:
        return ""
    try:
        return sha256_file(path)
    except OSError:
        return "missing"


def case_fingerprint(row: Mapping[str, str], params_json: str,
                     fields=("ID", "Label", "Organ", "CancerType", "Modality", "OrganLabel"),
                     files=(("image_sha256", "Image"), ("mask_sha256", "Mask"),
                            ("organ_mask_sha256", "OrganMask"))) -> Dict[str, str]:
    """The SHA-256 of each of the row's ``files`` (``(key, column)``), and ``fingerprint``: of
    the parameters, the row's ``fields`` and those checksums (what a resumed run keys on)."""
    sums = {key: file_sha(row.get(column, "")) for key, column in files}
    h = hashlib.sha256()
    h.update(params_json.encode())
    for k in fields:
        h.update(f"|{k}={row.get(k, '')}".encode())
    for k, v in sums.items():
        h.update(f"|{k}={v}".encode())
    sums["fingerprint"] = h.hexdigest()
    return sums


def _die_with_parent() -> None:
    """A worker process ends with the run that started it (Linux: the parent-death signal),
    so a run killed outright leaves no worker computing on (each holds a case in memory)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def map_tasks(task, args: List[Any], workers: int, scheduler: Optional[str] = None):
    """Yield ``task(a)`` for every ``a`` of ``args`` as they finish (any order): on the Dask
    scheduler at ``scheduler``, else in ``workers`` local processes (``task`` is a top-level,
    picklable function)."""
    if scheduler:
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            for fut in as_completed(client.map(task, args, pure=False)):
                yield fut.result()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork where available (Linux): works from scripts, notebooks and stdin alike; spawn elsewhere
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() and
                         sys.platform.startswith("linux") else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_die_with_parent)
    stop: Optional[BaseException] = None
    pending: set = set()
    try:
        pending = {pool.submit(task, a) for a in args}
        while pending and stop is None:
            try:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt as exc:
                stop = exc
                break
            for f in finished:
                try:
                    yield f.result()
                except StopRequested as exc:            # cancel(): thrown in by collect_results
                    stop = exc
        if stop is not None:
            # the cases not started are dropped; those in flight are finished and kept (their
            # results yielded), then the interrupt goes on
            for f in pending:
                f.cancel()
            for f in wait(pending)[0]:
                if not f.cancelled() and f.exception() is None:
                    try:
                        yield f.result()
                    except StopRequested:
                        pass
            if isinstance(stop, KeyboardInterrupt):
                raise stop
    finally:
        # an error, or the consumer gone: the cases not started are dropped, only those in
        # flight are waited for (the pool's context manager ran every queued case first)
        pool.shutdown(wait=True, cancel_futures=True)


def part_name(case_id: str) -> str:
    """The file of a case's part: named by its ID (a manifest edited between runs moves no
    case onto another's part, as a row number did)."""
    return hashlib.sha256(str(case_id).encode("utf-8")).hexdigest()[:24] + ".json"


def load_parts(parts_dir: Path, fps):
    """The records of ``parts_dir`` whose fingerprint matches the case's: ``{ID: row}``,
    ``{ID: timings}``, ``{ID: record}``."""
    done, timings, recs = {}, {}, {}
    for p in sorted(parts_dir.glob("*.json")) if parts_dir.is_dir() else []:
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a part being written when killed: recompute
        cid = rec.get("row", {}).get("ID")
        if cid in fps and rec.get("fingerprint") == fps[cid]["fingerprint"]:
            done[cid], timings[cid], recs[cid] = rec["row"], rec.get("timings", {}), rec
    return done, timings, recs


def progress_bar(total: int, initial: int, desc: str):
    """A progress bar on a terminal (none in a log: ``disable=None``)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="case", file=sys.stderr, disable=None,
                desc=desc, dynamic_ncols=True)


class StopRequested(Exception):
    """Thrown into the results of a run by :func:`collect_results` when ``cancel()`` says so:
    :func:`map_tasks` drops the cases not started and yields those in flight."""


def collect_results(results, store: Callable[[Dict[str, Any]], int], total: int,
                    initial: int, desc: str, progress: bool, callback, cancel) -> bool:
    """Keep each result as it comes (``store(result)`` returns how many cases are done), with a
    progress bar, ``callback(done, total, case_id)`` and ``cancel()``; True when cancelled (the
    cases in flight are finished and kept first)."""
    bar = progress_bar(total, initial, desc) if progress and initial < total else None
    cancelled = thrown = False
    try:
        while True:
            try:
                if cancelled and not thrown:
                    thrown = True
                    res = results.throw(StopRequested())
                else:
                    res = next(results)
            except (StopIteration, StopRequested):
                break
            n = store(res)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(res["ID"][:20] + (" (error)" if res.get("error") else ""))
            if callback is not None:
                callback(n, total, res["ID"])
            if cancel is not None and not cancelled and cancel():
                cancelled = True
    finally:
        if bar is not None:
            bar.close()
    return cancelled


def finish_parts(parts_dir: Path) -> None:
    """Remove the parts (and temporary files a killed run may have left) once the outputs are
    written."""
    for p in list(parts_dir.glob("*.json")) + list(parts_dir.glob(".*.tmp")):
        p.unlink()
    try:
        parts_dir.rmdir()
    except OSError:
        pass
