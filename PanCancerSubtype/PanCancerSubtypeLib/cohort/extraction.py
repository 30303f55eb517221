"""Features for every case of a manifest: :func:`run_cohort` (see
:mod:`PanCancerSubtypeLib.cohort`)."""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import PanCancerSubtypeError, UsageError, raise_if_interrupted
from ..files import atomic_write_text, code_sha256, json_default, sha256_file
from ..features import extract_features, make_groups, parse_groups
from ..tables import META_COLUMNS, pop_timings
from .manifest import normalise_manifest, read_manifest
from .runs import (case_fingerprint, collect_results, finish_parts, load_parts, map_tasks,
                   part_name, run_lock, worker_count)

log = logging.getLogger(__name__)


def process_case(row: Mapping[str, str], groups: Sequence[str],
                 group_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 instances=None) -> Dict[str, Any]:
    """Features of one manifest row; errors are recorded in the ``error`` field, never raised."""
    from ..io import load_case
    from ..radiomics import group_options_label

    t0 = time.perf_counter()
    try:
        case = load_case(row["Image"], row["Mask"],
                         label=row.get("Label") or group_options_label(group_options),
                         organ_mask=row.get("OrganMask") or None,
                         organ_label=row.get("OrganLabel") or None,
                         modality=row.get("Modality") or None, organ=row.get("Organ") or None,
                         cancer_type=row.get("CancerType") or None, case_id=row["ID"])
        out = extract_features(case, groups=groups, group_options=group_options,
                               on_error="record", instances=instances)
        out["Modality"] = case.modality
    except PanCancerSubtypeError as exc:
        out = {"error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # record and go on: a cohort run never stops on one case
        raise_if_interrupted(exc)
        out = {"error": f"{type(exc).__name__}: {row['ID']}: {exc}"}
    for k in META_COLUMNS:
        if k == "Modality" and out.get("Modality"):
            continue
        out[k] = row.get(k, "")
    out["diag_time_total_s"] = round(time.perf_counter() - t0, 4)
    return out


_LOCAL = threading.local()
_BUILD_LOCK = threading.Lock()


def _worker(args):
    """Top-level (picklable) task for process pools and Dask.

    Feature-group instances are cached per thread (Dask workers run several threads) and built
    under a lock: PyRadiomics' parameter validation is not thread-safe.
    """
    row, groups, group_options = args
    key = json.dumps([groups, group_options], sort_keys=True, default=str)
    cache = getattr(_LOCAL, "groups", None)
    if cache is None:
        cache = _LOCAL.groups = {}
    if key not in cache:
        with _BUILD_LOCK:
            insts = make_groups(groups, group_options)
            for g in insts:  # force lazy initialisation (e.g. the PyRadiomics extractor) here
                g.specs()
            cache[key] = insts
    return process_case(row, groups, group_options, instances=cache[key])


def run_cohort(manifest, out_csv, groups=None, group_options=None, workers: Optional[int] = None,
               scheduler: Optional[str] = None, resume: bool = True, retry_errors: bool = False,
               progress: bool = True, callback: Optional[Callable[[int, int, str], None]] = None,
               cancel: Optional[Callable[[], bool]] = None, command: Optional[str] = None
               ) -> pd.DataFrame:
    """Compute features for every case of ``manifest`` (a path or a DataFrame); see module doc.

    ``callback(done, total, case_id)`` is called after each case (for GUIs); ``cancel()`` returning
    True stops the run after the cases in flight (their results are kept; rerun to continue).
    ``workers``: local processes (default: the machine's cores, at most one per case to do).
    Returns the output table.
    """
    if workers is not None and int(workers) < 1:
        raise UsageError(f"the number of workers must be >= 1, got {workers}", source="workers")
    if isinstance(manifest, pd.DataFrame):
        man = normalise_manifest(manifest)
        man_source = "<DataFrame>"
    else:
        man = read_manifest(manifest)
        man_source = str(Path(manifest).resolve())
    with run_lock(Path(out_csv).with_name(Path(out_csv).name + ".lock"), str(out_csv)):
        out_csv = Path(out_csv)
        parts_dir = out_csv.with_name(out_csv.name + ".parts")
        prov_path = out_csv.with_name(out_csv.name + ".provenance.json")
        group_names = parse_groups(groups)
        group_options = {k: dict(v) for k, v in (group_options or {}).items()}
        insts = make_groups(group_names, group_options)
        params = {"groups": group_names, "group_options": {g.name: g.options() for g in insts},
                  "tool": "pancancer-subtype", "version": __version__,
                  "code_sha256": code_sha256()}
        params_json = json.dumps(params, sort_keys=True, default=str)

        rows = man.to_dict("records")
        fps = {}
        for r in rows:
            fps[r["ID"]] = case_fingerprint(r, params_json)

        # results already available: previous CSV + parts
        done: Dict[str, Dict[str, Any]] = {}
        timings: Dict[str, Any] = {}
        if resume:
            prev_rows, prev_timings = _load_previous(out_csv, prov_path, fps)
            done.update(prev_rows)
            timings.update(prev_timings)
            parts, part_timings, _ = load_parts(parts_dir, fps)
            done.update(parts)
            timings.update(part_timings)
            if retry_errors:
                done = {k: v for k, v in done.items() if not v.get("error")}
            # the same files by another path (moved, the same bytes): the manifest's paths now
            for r in rows:
                if r["ID"] in done:
                    done[r["ID"]].update({k: r.get(k, "") for k in ("Image", "Mask")})
        todo = [r for r in rows if r["ID"] not in done]
        log.info("%d cases, %d already done, %d to compute", len(rows), len(rows) - len(todo),
                 len(todo))
        workers = worker_count(workers, len(todo))

        parts_dir.mkdir(parents=True, exist_ok=True)

        def _store(res: Dict[str, Any]) -> int:
            cid = res["ID"]
            t = pop_timings(res)
            rec = {"fingerprint": fps[cid]["fingerprint"], "row": res, "timings": t}
            atomic_write_text(parts_dir / part_name(cid),
                               json.dumps(rec, default=json_default, allow_nan=True))
            done[cid] = res
            timings[cid] = t
            return len(done)

        t_start = time.perf_counter()
        cancelled = collect_results(
            _iterate(todo, group_names, group_options, workers, scheduler, insts), _store,
            len(rows), len(rows) - len(todo), "features", progress, callback, cancel)

        table = _assemble(rows, done, insts)
        if not cancelled and len(done) == len(rows):
            atomic_write_text(out_csv, table.to_csv(index=False))
            prov = {
                "csv_sha256": sha256_file(out_csv),     # (a resumed run trusts only these bytes)
                "tool": "pancancer-subtype", "version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": command, "manifest": man_source, "parameters": params,
                "python": sys.version.split()[0],
                "cases": {cid: {**{k: v for k, v in fps[cid].items()},
                                "timings_s": timings.get(cid, {})} for cid in fps},
                "n_cases": len(rows), "n_errors": int((table["error"] != "").sum()),
                "wall_time_s_this_run": round(time.perf_counter() - t_start, 3),
            }
            atomic_write_text(prov_path, json.dumps(prov, indent=1, default=json_default))
            finish_parts(parts_dir)
        table.attrs["computed_now"] = len(todo)     # (the rest came from an earlier run)
        return table


def _iterate(todo, group_names, group_options, workers, scheduler, insts):
    """Yield results as cases finish (any order)."""
    if not todo:
        return
    if workers <= 1 and not scheduler:
        for r in todo:
            yield process_case(r, group_names, group_options, instances=insts)
        return
    yield from map_tasks(_worker, [(r, group_names, group_options) for r in todo], workers,
                         scheduler)


def _load_previous(out_csv: Path, prov_path: Path, fps):
    """The rows of the previous CSV whose fingerprint matches, and their timings from its
    provenance (a rerun that computes nothing keeps them)."""
    if not (out_csv.is_file() and prov_path.is_file()):
        return {}, {}
    try:
        prov = json.loads(prov_path.read_text(encoding="utf-8"))
        written = prov.get("csv_sha256")
        if written and sha256_file(out_csv) != written:
            # edited, truncated or rounded by a spreadsheet since this tool wrote it: its rows
            # are not results any more (the cases are computed again)
            log.warning("%s was changed after it was written (its checksum differs from the "
                        "provenance's): its cases are computed again", out_csv)
            return {}, {}
        # every cell as written: "NA" is a cancer type or an ID, not a missing value, and an
        # integer stays one (a column with an empty cell would be read as floats: 452126.0)
        prev = pd.read_csv(out_csv, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return {}, {}
    text_cols = set(META_COLUMNS + ("error",))
    cases = prov.get("cases", {})
    out, timings = {}, {}
    for rec in prev.to_dict("records"):
        rec = {k: (v if k in text_cols else _cell(v)) for k, v in rec.items()}
        cid = str(rec.get("ID"))
        if cid in fps and cases.get(cid, {}).get("fingerprint") == fps[cid]["fingerprint"]:
            pop_timings(rec)  # a CSV of an older version may hold them
            out[cid] = rec
            timings[cid] = cases[cid].get("timings_s", {})
    return out, timings


def _cell(text: str):
    """A number cell of a features CSV as the run computed it: int, float or NaN (empty)."""
    if text == "":
        return float("nan")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _assemble(rows, done, insts) -> pd.DataFrame:
    feat_cols: List[str] = []
    for g in insts:
        feat_cols.extend(s.name for s in g.specs())
    recs = [done[r["ID"]] for r in rows if r["ID"] in done]
    extra = []
    for rec in recs:
        for k in rec:
            if k not in META_COLUMNS and k != "error" and k not in feat_cols and k not in extra:
                extra.append(k)
    diag = sorted(k for k in extra if k.startswith("diag_"))
    other = [k for k in extra if not k.startswith("diag_")]
    cols = list(META_COLUMNS) + feat_cols + other + diag + ["error"]
    table = pd.DataFrame.from_records(recs, columns=cols)
    table["error"] = table["error"].fillna("")
    for c in META_COLUMNS:
        table[c] = table[c].fillna("").astype(str)
    # a column of integers (voxel counts) stays one when a failed case leaves a cell empty, so
    # the CSV is the same bytes whether or not some case failed on the way (not 452126.0)
    for c in table.columns:
        if c in META_COLUMNS or c == "error" or table[c].dtype != float:
            continue
        vals = [rec.get(c) for rec in recs]
        present = [v for v in vals if not (v is None or (isinstance(v, float) and v != v))]
        if present and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                           for v in present):
            table[c] = table[c].astype("Int64")
    return table
