"""Cohort runner: features for every case of a manifest, in parallel, resumable.

Manifest
--------
A CSV with PyRadiomics' batch columns ``Image``, ``Mask`` and optional ``Label``, plus optional ``ID``,
``Organ``, ``CancerType``, ``Modality`` and ``OrganMask`` (a parenchyma mask) and ``OrganLabel``.
The column names of ``shared/data/cases.csv`` (``case_id``, ``image``, ``mask``, ``tumour_labels``,
``organ_mask``, ``modality``, ``cancer_type``) are accepted as aliases.  Relative paths are relative to
the manifest's folder.  IDs default to the image file name and must be unique.

Output
------
``out.csv``: one row per case, in manifest order: metadata columns, the feature groups' columns (in
registry order), ``diag_*`` diagnostics, ``error`` (empty when all went well).  A failing case is
recorded in ``error`` (its features left empty) and the run goes on.  Next to it,
``out.csv.provenance.json`` records the tool version, the parameters, the command, per-case input
checksums (SHA-256) and per-case timings: every timing column (``diag_*_s``,
:func:`.tables.is_timing_column`) is kept out of the CSV, so that the CSV of a cohort is
byte-identical whatever the number of workers, the scheduler, and however often it was rerun or
resumed.

Resume
------
Every finished case is written atomically to ``out.csv.parts/<n>.json`` the moment it finishes; the
CSV is assembled (atomically: temporary file + rename) when the run ends.  Rerunning the same
command after a crash or a kill computes only the cases that have no result yet (a case whose
inputs or parameters changed is recomputed: results are keyed by a fingerprint of the inputs'
checksums and the parameters), and never duplicates a row.  ``retry_errors=True`` recomputes cases
whose row has an error.

Parallelism
-----------
``workers=N`` runs cases in N local processes; ``scheduler="tcp://host:8786"`` sends them to a Dask
distributed cluster.  Both produce the same CSV.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import pandas as pd

from . import __version__
from .errors import ManifestError, PanCancerSubtypeError, UsageError
from .files import atomic_write_text, json_default, sha256_file
from .features import extract_features, make_groups, parse_groups
from .tables import META_COLUMNS, pop_timings

log = logging.getLogger(__name__)

_ALIASES = {
    "id": "ID", "case_id": "ID", "case": "ID", "patientid": "ID",
    "image": "Image", "mask": "Mask", "label": "Label", "tumour_labels": "Label",
    "tumor_labels": "Label", "organ": "Organ", "cancertype": "CancerType", "cancer_type": "CancerType",
    "modality": "Modality", "organmask": "OrganMask", "organ_mask": "OrganMask",
    "organlabel": "OrganLabel", "organ_label": "OrganLabel",
}
_ORGAN_BY_CANCER = {"lung": "lung", "nsclc": "lung", "breast": "breast", "brain": "brain",
                    "gbm": "brain", "glioblastoma": "brain", "glioma": "brain"}


# --------------------------------------------------------------------------------------------
def read_manifest(path, base_dir: Optional[str] = None) -> pd.DataFrame:
    """Read and validate a manifest (see module doc); returns columns ID, Image, Mask, Label,
    Organ, CancerType, Modality, OrganMask, OrganLabel with absolute paths."""
    path = Path(path)
    if isinstance(path, Path) and not path.is_file():
        raise ManifestError("manifest file does not exist", source=path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise ManifestError("is not a text (CSV) file", source=path) from None
    except (ValueError, OSError) as exc:  # pandas parser errors, an empty file
        raise ManifestError(f"cannot be read as a CSV table "
                            f"({' '.join(str(exc).split())[:200]})", source=path) from None
    return normalise_manifest(df, base_dir or path.parent, source=str(path))


def normalise_manifest(df: pd.DataFrame, base_dir=".", source: str = "manifest") -> pd.DataFrame:
    ren = {}
    for c in df.columns:
        key = c.strip()
        canon = _ALIASES.get(key.lower().replace(" ", ""), key)
        ren[c] = canon
    df = df.rename(columns=ren)
    missing = [c for c in ("Image", "Mask") if c not in df.columns]
    if missing:
        raise ManifestError(f"missing required column(s) {missing} (have {list(df.columns)})",
                            source=source)
    if len(df) == 0:
        raise ManifestError("has no cases (a header but no rows)", source=source)
    df = df.copy()
    for c in ("ID", "Label", "Organ", "CancerType", "Modality", "OrganMask", "OrganLabel"):
        if c not in df.columns:
            df[c] = ""
    df = df.fillna("")
    base = Path(base_dir)
    for c in ("Image", "Mask", "OrganMask"):
        df[c] = [str((base / v).resolve()) if v and not os.path.isabs(v) else v for v in df[c]]
    empty = df.index[(df["Image"] == "") | (df["Mask"] == "")].tolist()
    if empty:
        raise ManifestError(f"rows {[i + 2 for i in empty]} have an empty Image or Mask", source=source)
    from .io import case_id_from_path

    df["ID"] = [i if i else case_id_from_path(im) for i, im in zip(df["ID"], df["Image"])]
    dup = df["ID"][df["ID"].duplicated()].unique().tolist()
    if dup:
        raise ManifestError(f"duplicate IDs {dup[:10]}; give each case a unique ID", source=source)
    df["Organ"] = [o if o else _ORGAN_BY_CANCER.get(ct.lower(), "") for o, ct in
                   zip(df["Organ"], df["CancerType"])]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
def _sha(path: str) -> str:
    if not path:
        return ""
    try:
        return sha256_file(path)
    except OSError:
        return "missing"


def case_fingerprint(row: Mapping[str, str], params_json: str) -> Dict[str, str]:
    sums = {"image_sha256": _sha(row["Image"]), "mask_sha256": _sha(row["Mask"]),
            "organ_mask_sha256": _sha(row.get("OrganMask", ""))}
    h = hashlib.sha256()
    h.update(params_json.encode())
    for k in ("ID", "Label", "Organ", "CancerType", "Modality", "OrganLabel"):
        h.update(f"|{k}={row.get(k, '')}".encode())
    for k, v in sums.items():
        h.update(f"|{k}={v}".encode())
    sums["fingerprint"] = h.hexdigest()
    return sums


def process_case(row: Mapping[str, str], groups: Sequence[str],
                 group_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 instances=None) -> Dict[str, Any]:
    """Features of one manifest row; errors are recorded in the ``error`` field, never raised."""
    from .io import load_case

    t0 = time.perf_counter()
    try:
        case = load_case(row["Image"], row["Mask"], label=row.get("Label") or None,
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


# --------------------------------------------------------------------------------------------
def run_cohort(manifest, out_csv, groups=None, group_options=None, workers: int = 1,
               scheduler: Optional[str] = None, resume: bool = True, retry_errors: bool = False,
               progress: bool = True, callback: Optional[Callable[[int, int, str], None]] = None,
               cancel: Optional[Callable[[], bool]] = None, command: Optional[str] = None
               ) -> pd.DataFrame:
    """Compute features for every case of ``manifest`` (a path or a DataFrame); see module doc.

    ``callback(done, total, case_id)`` is called after each case (for GUIs); ``cancel()`` returning
    True stops the run after the cases in flight (their results are kept; rerun to continue).
    Returns the output table.
    """
    if int(workers) < 1:
        raise UsageError(f"the number of workers must be >= 1, got {workers}", source="workers")
    if isinstance(manifest, pd.DataFrame):
        man = normalise_manifest(manifest)
        man_source = "<DataFrame>"
    else:
        man = read_manifest(manifest)
        man_source = str(Path(manifest).resolve())
    out_csv = Path(out_csv)
    parts_dir = out_csv.with_name(out_csv.name + ".parts")
    prov_path = out_csv.with_name(out_csv.name + ".provenance.json")
    group_names = parse_groups(groups)
    group_options = {k: dict(v) for k, v in (group_options or {}).items()}
    insts = make_groups(group_names, group_options)
    params = {"groups": group_names, "group_options": {g.name: g.options() for g in insts},
              "tool": "pancancer-subtype", "version": __version__}
    params_json = json.dumps(params, sort_keys=True, default=str)

    rows = man.to_dict("records")
    fps = {}
    for r in rows:
        fps[r["ID"]] = case_fingerprint(r, params_json)

    # results already available: previous CSV + parts
    done: Dict[str, Dict[str, Any]] = {}
    timings: Dict[str, Any] = {}
    if resume:
        done.update(_load_previous(out_csv, prov_path, fps))
        for p in sorted(parts_dir.glob("*.json")) if parts_dir.is_dir() else []:
            try:
                rec = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a part being written when killed: recompute
            cid = rec.get("row", {}).get("ID")
            if cid in fps and rec.get("fingerprint") == fps[cid]["fingerprint"]:
                done[cid] = rec["row"]
                timings[cid] = rec.get("timings", {})
        if retry_errors:
            done = {k: v for k, v in done.items() if not v.get("error")}
    todo = [r for r in rows if r["ID"] not in done]
    log.info("%d cases, %d already done, %d to compute", len(rows), len(rows) - len(todo), len(todo))

    parts_dir.mkdir(parents=True, exist_ok=True)
    index = {r["ID"]: i for i, r in enumerate(rows)}

    def _store(res: Dict[str, Any]) -> None:
        cid = res["ID"]
        t = pop_timings(res)
        rec = {"fingerprint": fps[cid]["fingerprint"], "row": res, "timings": t}
        atomic_write_text(parts_dir / f"{index[cid]:06d}.json",
                           json.dumps(rec, default=json_default, allow_nan=True))
        done[cid] = res
        timings[cid] = t

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(rows), initial=len(rows) - len(todo), unit="case", file=sys.stderr,
                   disable=None,  # a bar on a terminal only; logs stay readable
                   desc="features", dynamic_ncols=True)
    t_start = time.perf_counter()
    cancelled = False
    try:
        for res in _iterate(todo, group_names, group_options, workers, scheduler, insts):
            _store(res)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(res["ID"][:20] + (" (error)" if res.get("error") else ""))
            if callback is not None:
                callback(len(done), len(rows), res["ID"])
            if cancel is not None and cancel():
                cancelled = True
                break
    finally:
        if bar is not None:
            bar.close()

    table = _assemble(rows, done, insts)
    if not cancelled and len(done) == len(rows):
        atomic_write_text(out_csv, table.to_csv(index=False))
        prov = {
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
        for p in list(parts_dir.glob("*.json")) + list(parts_dir.glob(".*.tmp")):
            p.unlink()  # the parts, and temporary files a killed run may have left
        try:
            parts_dir.rmdir()
        except OSError:
            pass
    return table


def _iterate(todo, group_names, group_options, workers, scheduler, insts):
    """Yield results as cases finish (any order)."""
    if not todo:
        return
    if scheduler:
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            futs = client.map(_worker, [(r, group_names, group_options) for r in todo],
                              pure=False)
            for fut in as_completed(futs):
                yield fut.result()
        return
    if workers <= 1:
        for r in todo:
            yield process_case(r, group_names, group_options, instances=insts)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork where available (Linux): works from scripts, notebooks and stdin alike; spawn elsewhere
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() and
                         sys.platform.startswith("linux") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = {pool.submit(_worker, (r, group_names, group_options)) for r in todo}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()


def _load_previous(out_csv: Path, prov_path: Path, fps) -> Dict[str, Dict[str, Any]]:
    if not (out_csv.is_file() and prov_path.is_file()):
        return {}
    try:
        prov = json.loads(prov_path.read_text(encoding="utf-8"))
        prev = pd.read_csv(out_csv, dtype={c: str for c in META_COLUMNS + ("error",)},
                           keep_default_na=True, float_precision="round_trip")
    except (OSError, ValueError):
        return {}
    cases = prov.get("cases", {})
    out = {}
    for rec in prev.to_dict("records"):
        cid = str(rec.get("ID"))
        if cid in fps and cases.get(cid, {}).get("fingerprint") == fps[cid]["fingerprint"]:
            rec = {k: ("" if (isinstance(v, float) and v != v and k in META_COLUMNS + ("error",))
                       else v) for k, v in rec.items()}
            pop_timings(rec)  # a CSV of an older version may hold them
            out[cid] = rec
    return out


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
    return table

