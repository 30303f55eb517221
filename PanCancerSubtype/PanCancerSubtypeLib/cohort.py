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

Segmentation from clicks
------------------------
:func:`run_segmentation_cohort`: the click method on every case of a manifest of clicks
(:func:`read_click_manifest`), under the same rules; ``masks/``, ``segmentation.csv`` and a
``manifest.csv`` for :func:`run_cohort`.  README: *A cohort without masks*.
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
from .errors import ManifestError, PanCancerSubtypeError, UsageError, format_numbers
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
def read_manifest_csv(path, what: str = "manifest") -> pd.DataFrame:
    """A manifest file as a table of strings (empty cells ``""``), unvalidated: the one reading
    rule of every manifest (cohort, paired, multi-image).  A missing, binary or unparsable file
    raises :class:`~.errors.ManifestError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{what} file does not exist", source=path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise ManifestError("is not a text (CSV) file", source=path) from None
    except (ValueError, OSError) as exc:  # pandas parser errors, an empty file
        raise ManifestError(f"cannot be read as a CSV table "
                            f"({' '.join(str(exc).split())[:200]})", source=path) from None


def read_manifest(path, base_dir: Optional[str] = None) -> pd.DataFrame:
    """Read and validate a manifest (see module doc); returns columns ID, Image, Mask, Label,
    Organ, CancerType, Modality, OrganMask, OrganLabel with absolute paths."""
    path = Path(path)
    df = read_manifest_csv(path)
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


def case_fingerprint(row: Mapping[str, str], params_json: str,
                     fields=("ID", "Label", "Organ", "CancerType", "Modality", "OrganLabel"),
                     files=(("image_sha256", "Image"), ("mask_sha256", "Mask"),
                            ("organ_mask_sha256", "OrganMask"))) -> Dict[str, str]:
    """The SHA-256 of each of the row's ``files`` (``(key, column)``), and ``fingerprint``: of
    the parameters, the row's ``fields`` and those checksums (what a resumed run keys on)."""
    sums = {key: _sha(row.get(column, "")) for key, column in files}
    h = hashlib.sha256()
    h.update(params_json.encode())
    for k in fields:
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
        parts, part_timings, _ = _load_parts(parts_dir, fps)
        done.update(parts)
        timings.update(part_timings)
        if retry_errors:
            done = {k: v for k, v in done.items() if not v.get("error")}
    todo = [r for r in rows if r["ID"] not in done]
    log.info("%d cases, %d already done, %d to compute", len(rows), len(rows) - len(todo), len(todo))

    parts_dir.mkdir(parents=True, exist_ok=True)
    index = {r["ID"]: i for i, r in enumerate(rows)}

    def _store(res: Dict[str, Any]) -> int:
        cid = res["ID"]
        t = pop_timings(res)
        rec = {"fingerprint": fps[cid]["fingerprint"], "row": res, "timings": t}
        atomic_write_text(parts_dir / f"{index[cid]:06d}.json",
                           json.dumps(rec, default=json_default, allow_nan=True))
        done[cid] = res
        timings[cid] = t
        return len(done)

    t_start = time.perf_counter()
    cancelled = _collect(_iterate(todo, group_names, group_options, workers, scheduler, insts),
                         _store, len(rows), len(rows) - len(todo), "features", progress,
                         callback, cancel)

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
        _finish_parts(parts_dir)
    return table


def _iterate(todo, group_names, group_options, workers, scheduler, insts):
    """Yield results as cases finish (any order)."""
    if not todo:
        return
    if workers <= 1 and not scheduler:
        for r in todo:
            yield process_case(r, group_names, group_options, instances=insts)
        return
    yield from _map_tasks(_worker, [(r, group_names, group_options) for r in todo], workers,
                          scheduler)


def _map_tasks(task, args: List[Any], workers: int, scheduler: Optional[str] = None):
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
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = {pool.submit(task, a) for a in args}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()


def _load_parts(parts_dir: Path, fps):
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


def _progress(total: int, initial: int, desc: str):
    """A progress bar on a terminal (none in a log: ``disable=None``)."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="case", file=sys.stderr, disable=None,
                desc=desc, dynamic_ncols=True)


def _collect(results, store: Callable[[Dict[str, Any]], int], total: int, initial: int,
             desc: str, progress: bool, callback, cancel) -> bool:
    """Keep each result as it comes (``store(result)`` returns how many cases are done), with a
    progress bar, ``callback(done, total, case_id)`` and ``cancel()``; True when cancelled (the
    cases in flight are finished first)."""
    bar = _progress(total, initial, desc) if progress and initial < total else None
    try:
        for res in results:
            n = store(res)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(res["ID"][:20] + (" (error)" if res.get("error") else ""))
            if callback is not None:
                callback(n, total, res["ID"])
            if cancel is not None and cancel():
                return True
    finally:
        if bar is not None:
            bar.close()
    return False


def _finish_parts(parts_dir: Path) -> None:
    """Remove the parts (and temporary files a killed run may have left) once the outputs are
    written."""
    for p in list(parts_dir.glob("*.json")) + list(parts_dir.glob(".*.tmp")):
        p.unlink()
    try:
        parts_dir.rmdir()
    except OSError:
        pass


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


# --------------------------------------------------------------------------------------------
# Segmentation from clicks
# --------------------------------------------------------------------------------------------
_CLICK_ALIASES = {"seed": "Seed", "seeds": "Seed", "box": "Box", "bbox": "Box",
                  "background": "Background", "secondchannel": "SecondChannel",
                  "second_channel": "SecondChannel", "appearance": "Appearance"}
#: the click manifest's own columns (beside ``ID``, ``Image`` and the feature manifest's)
CLICK_COLUMNS = ("Seed", "Box", "Background", "SecondChannel", "Appearance")
#: the columns of ``segmentation.csv``, in order
SEGMENTATION_COLUMNS = ("ID", "Image", "Mask", "Label", "Modality", "CancerType", "Organ",
                        "OrganMask", "OrganLabel") + CLICK_COLUMNS + (
    "model", "confidence", "needs_check", "volume_ml", "warnings", "snapshot", "error")
#: the manifest's columns that a click manifest passes on to ``segmentation.csv`` unchanged
_PASSED_ON = ("Image", "CancerType", "Organ", "OrganMask", "OrganLabel")
#: the columns of ``manifest.csv`` (what ``cohort-features`` reads)
_FEATURE_MANIFEST_COLUMNS = ("ID", "Image", "Mask", "Label", "Modality", "CancerType", "Organ",
                             "OrganMask", "OrganLabel")


def _click_column(name: str) -> str:
    """A click manifest's column name as read (the feature manifest's aliases and its own)."""
    return {**_ALIASES, **_CLICK_ALIASES}.get(name.strip().lower().replace(" ", ""), name.strip())


def cases_to_check(table: pd.DataFrame) -> List[str]:
    """The IDs of ``segmentation.csv``'s cases whose result needs checking (``needs_check``)."""
    return table["ID"][table["needs_check"] == "True"].tolist()


def parse_points(text: str, n: int = 3) -> List[tuple]:
    """Points written ``x,y,z`` (``n`` numbers each), several separated by ``;``: a list of
    tuples of floats; ValueError saying what is wrong."""
    import math

    out = []
    for part in [t for t in str(text).split(";") if t.strip()]:
        try:
            vals = tuple(float(v) for v in part.split(","))
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not {n} comma-separated numbers") from None
        if len(vals) != n or not all(math.isfinite(v) for v in vals):
            raise ValueError(f"{part.strip()!r} is not {n} comma-separated finite numbers")
        out.append(vals)
    return out


def _click_inputs(row: Mapping[str, str]):
    """Seeds, box and background points of a click-manifest row (:func:`parse_points`).  (This
    module imports segmentation's modules, not its package, whose training imports this one.)"""
    box = parse_points(row.get("Box", ""), 6)
    return (parse_points(row["Seed"]), box[0] if box else None,
            parse_points(row.get("Background", "")))


def read_click_manifest(path, base_dir: Optional[str] = None) -> pd.DataFrame:
    """Read and check a click manifest (see the module doc): every value that needs no image,
    before any work; a :class:`~.errors.ManifestError` names the file, the row (its line in the
    file) and the column.  Returns the columns of :data:`SEGMENTATION_COLUMNS` up to
    ``Appearance`` (``Mask`` empty, paths absolute) as strings."""
    from .io import case_id_from_path
    from .segmentation.click import MODELS   # (the modules, not the package: see _click_inputs)

    path = Path(path)
    df = read_manifest_csv(path, "click manifest")
    df = df.rename(columns={c: _click_column(c) for c in df.columns})
    missing = [c for c in ("Image", "Seed") if c not in df.columns]
    if missing:
        raise ManifestError(f"missing required column(s) {missing} (have {list(df.columns)}); a "
                            f"click manifest needs Image and Seed (x,y,z in LPS mm)", source=path)
    if len(df) == 0:
        raise ManifestError("has no cases (a header but no rows)", source=path)
    df = df.fillna("").copy()
    for c in SEGMENTATION_COLUMNS[:SEGMENTATION_COLUMNS.index("Appearance") + 1]:
        if c not in df.columns:
            df[c] = ""
    for i, row in enumerate(df.to_dict("records")):
        def bad(column, problem):
            return ManifestError(f"row {i + 2}, column {column}: {problem}", source=path)

        if not row["Image"].strip():
            raise bad("Image", "empty")
        try:
            seeds = parse_points(row["Seed"])
        except ValueError as exc:
            raise bad("Seed", f"{exc} (x,y,z in LPS mm; several seeds separated by ';')") from None
        if not seeds:
            raise bad("Seed", "empty: give at least one point x,y,z inside the tumour (LPS mm)")
        try:
            box = parse_points(row["Box"], 6)
        except ValueError as exc:
            raise bad("Box", f"{exc} (x0,y0,z0,x1,y1,z1: two opposite corners, LPS mm)") from None
        if len(box) > 1:
            raise bad("Box", "one box per case")
        if box and not all(box[0][k] < box[0][k + 3] for k in range(3)):
            raise bad("Box", f"expected x0,y0,z0,x1,y1,z1 with x0 < x1, y0 < y1 and z0 < z1, got "
                             f"{row['Box']!r}")
        for k, pt in enumerate(seeds):
            if box and any(not box[0][j] <= pt[j] <= box[0][j + 3] for j in range(3)):
                raise bad("Box", f"seed number {k + 1} {format_numbers(pt)} lies outside the "
                                 f"box")
        try:
            parse_points(row["Background"])
        except ValueError as exc:
            raise bad("Background", f"{exc} (points x,y,z separated by ';')") from None
        modality = row["Modality"].strip().upper()
        if modality not in ("", "CT", "MR"):
            raise bad("Modality", f"{row['Modality']!r} is not CT or MR (empty: guessed)")
        appearance = row["Appearance"].strip().lower()
        if appearance not in ("",) + MODELS:
            raise bad("Appearance", f"{row['Appearance']!r} is not one of {', '.join(MODELS)}")
        if appearance == "lung" and modality == "MR":
            raise bad("Appearance", "the lung model reads CT numbers; the row's Modality is MR")
        df.loc[i, "Modality"], df.loc[i, "Appearance"] = modality, appearance
    base = Path(base_dir or path.parent)
    for c in ("Image", "SecondChannel", "OrganMask"):
        df[c] = [str((base / v).resolve()) if v and not os.path.isabs(v) else v for v in df[c]]
    df["ID"] = [i.strip() or case_id_from_path(im) for i, im in zip(df["ID"], df["Image"])]
    dup = df["ID"][df["ID"].duplicated()].unique().tolist()
    if dup:
        raise ManifestError(f"duplicate IDs {dup[:10]}; give each case a unique ID", source=path)
    names: Dict[str, str] = {}
    for cid in df["ID"]:
        other = names.setdefault(mask_file_name(cid).lower(), cid)
        if other != cid:
            raise ManifestError(f"IDs {other!r} and {cid!r} give the same mask file name "
                                f"{mask_file_name(cid)!r}; give each case an ID of its own",
                                source=path)
    df["Organ"] = [o if o else _ORGAN_BY_CANCER.get(ct.lower(), "") for o, ct in
                   zip(df["Organ"], df["CancerType"])]
    return df[list(SEGMENTATION_COLUMNS[:SEGMENTATION_COLUMNS.index("Appearance") + 1])]


def is_click_manifest(path) -> bool:
    """Whether the manifest at ``path`` is a manifest of clicks (a ``Seed`` column and no
    ``Mask`` column, names as :func:`read_click_manifest` reads them); False for a file that
    cannot be read (the manifest's own reader then says why)."""
    try:
        columns = read_manifest_csv(path).columns
    except ManifestError:
        return False
    names = {_click_column(c) for c in columns}
    return "Seed" in names and "Mask" not in names


def mask_file_name(case_id: str, suffix: str = ".nii.gz") -> str:
    """The file name of a case's mask in ``masks/`` (or, with another ``suffix``, its other
    files): its ID, characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by
    ``_``, then ``suffix``."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", case_id).lstrip(".") + suffix


def segment_case(row: Mapping[str, str], out_dir, confidence: bool = True,
                 appearance: Optional[str] = None, resample_second_channel: bool = False,
                 threads: Optional[int] = None, dicom_seg: bool = False) -> Dict[str, Any]:
    """Segment one click-manifest row (:func:`read_click_manifest`) and write its mask to
    ``out_dir/masks/`` (``dicom_seg``: as a DICOM SEG referencing the row's image, a DICOM
    series folder, :func:`.dicomseg.write_dicom_seg`); the row of ``segmentation.csv``
    (strings; ``mask_sha256`` and ``diag_time_total_s`` beside them).  Errors are recorded in
    ``error``, never raised."""
    from .files import sha256_file
    from .io import read_image, write_image
    from .segmentation.click import ClickParameters, segment_click
    from .segmentation.semiauto import (check_click_points, check_not_constant,
                                        read_second_channel)

    t0 = time.perf_counter()
    out = {c: row.get(c, "") for c in SEGMENTATION_COLUMNS}
    out.update(Mask="", model="", confidence="", needs_check="", volume_ml="", warnings="",
               snapshot="", error="")
    try:
        image = read_image(row["Image"])
        check_not_constant(image, row["Image"])
        seeds, box, background = _click_inputs(row)
        check_click_points(image, seeds, background, box, names=("Seed", "Background", "Box"))
        ch2 = read_second_channel(row["SecondChannel"], image, resample_second_channel,
                                  "give cohort-segment --resample-second-channel") \
            if row.get("SecondChannel") else None
        model = row.get("Appearance") or appearance or "auto"
        res = segment_click(image, seeds, bbox=box, background_lps_mm=background or None,
                            second_channel=ch2, modality=row.get("Modality") or None,
                            model=model, params=ClickParameters(threads=threads),
                            confidence=confidence, source=row["Image"])
        name = Path("masks") / mask_file_name(row["ID"], ".dcm" if dicom_seg else ".nii.gz")
        if dicom_seg:
            from .dicomseg import write_dicom_seg

            write_dicom_seg(res.mask, row["Image"], Path(out_dir) / name,
                            algorithm_type="SEMIAUTOMATIC",
                            series_description="Tumour segmentation")
        else:
            write_image(res.mask, Path(out_dir) / name)
        out.update(Mask=name.as_posix(), Label="1", Modality=res.modality, model=res.model,
                   confidence="" if res.confidence is None else f"{res.confidence:.4f}",
                   needs_check=str(bool(res.needs_check)), volume_ml=f"{res.volume_ml:.3f}",
                   warnings="; ".join(res.warnings), Appearance=row.get("Appearance", ""))
        out["mask_sha256"] = sha256_file(Path(out_dir) / name)
    except PanCancerSubtypeError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # record and go on: a cohort run never stops on one case
        out["error"] = f"{type(exc).__name__}: {row['ID']}: {exc}"
    out["diag_time_total_s"] = round(time.perf_counter() - t0, 4)
    return out


def _segment_worker(args):
    """Top-level (picklable) task of :func:`run_segmentation_cohort`."""
    return segment_case(*args)


def run_segmentation_cohort(manifest, out_dir, workers: Optional[int] = None,
                            scheduler: Optional[str] = None, confidence: bool = True,
                            appearance: Optional[str] = None,
                            resample_second_channel: bool = False, resume: bool = True,
                            retry_errors: bool = False, progress: bool = True,
                            callback: Optional[Callable[[int, int, str], None]] = None,
                            cancel: Optional[Callable[[], bool]] = None,
                            command: Optional[str] = None, snapshots: bool = False,
                            dicom_seg: bool = False) -> pd.DataFrame:
    """Segment every case of the click manifest ``manifest`` into ``out_dir`` (see the module
    doc); returns the table written to ``out_dir/segmentation.csv``.

    ``workers``: local processes (default: the machine's cores, at most one per case; each
    runs the method's jittered runs on its share of the cores); ``appearance``: the model of
    rows without an ``Appearance``; ``callback`` and ``cancel`` as for :func:`run_cohort`;
    ``snapshots``: a PNG per case segmented, ``snapshots/<ID>.png``
    (:func:`.plots.mask_snapshot`: three slices through the mask with its outline and the
    seeds, for a quick check), made once the masks are done (again when a mask is made again);
    ``dicom_seg``: each mask a DICOM SEG, ``masks/<ID>.dcm``, referencing its image, which must
    be a DICOM series folder (checked before any work; the same bytes on a rerun only with
    ``SOURCE_DATE_EPOCH`` set: see :mod:`.dicomseg`)."""
    from .segmentation.click import MODELS

    if appearance is not None and appearance not in MODELS:
        raise UsageError(f"must be one of {', '.join(MODELS)}, got {appearance!r}",
                         source="appearance")
    if workers is not None and int(workers) < 1:
        raise UsageError(f"the number of workers must be >= 1, got {workers}", source="workers")
    man = read_click_manifest(manifest)
    if dicom_seg:
        for i, im in enumerate(man["Image"]):
            if os.path.isfile(im):
                raise ManifestError(f"row {i + 2}, column Image: {im} is a file; a DICOM SEG "
                                    f"references the DICOM series it was drawn on: give that "
                                    f"series folder", source=Path(manifest))
    out_dir = Path(out_dir)
    out_csv = out_dir / "segmentation.csv"
    parts_dir = out_dir / "segmentation.csv.parts"
    prov_path = out_dir / "segmentation.csv.provenance.json"
    params = {"method": "click", "confidence": bool(confidence), "appearance": appearance,
              "resample_second_channel": bool(resample_second_channel),
              "dicom_seg": bool(dicom_seg),
              "tool": "pancancer-subtype", "version": __version__}
    params_json = json.dumps(params, sort_keys=True)
    rows = man.to_dict("records")
    fps = {r["ID"]: case_fingerprint(
        r, params_json, ("ID",) + CLICK_COLUMNS[:-2] + ("Modality", "Appearance"),
        (("image_sha256", "Image"), ("second_channel_sha256", "SecondChannel"))) for r in rows}

    def intact(rec) -> bool:   # an earlier result whose mask file is still the one it wrote
        row = rec["row"]
        return bool(row.get("error")) or _sha(str(out_dir / row["Mask"])) == rec.get("mask_sha256")

    done: Dict[str, Dict[str, Any]] = {}
    timings: Dict[str, Any] = {}
    shas: Dict[str, str] = {}
    if resume:
        for recs in (_previous_segmentation(out_csv, prov_path, fps),
                     _load_parts(parts_dir, fps)[2]):
            for cid, rec in recs.items():
                if intact(rec):
                    done[cid], timings[cid] = rec["row"], rec.get("timings", {})
                    shas[cid] = rec.get("mask_sha256", "")
        if retry_errors:
            done = {k: v for k, v in done.items() if not v.get("error")}
        # the columns passed on come from the manifest as it is now (they do not make the mask)
        for r in rows:
            if r["ID"] in done:
                done[r["ID"]].update({k: r[k] for k in _PASSED_ON})
    todo = [r for r in rows if r["ID"] not in done]
    cores = os.cpu_count() or 1
    n_workers = 1 if not todo else min(int(workers or cores), len(todo))
    threads = max(1, cores // n_workers) if not scheduler else 1
    parts_dir.mkdir(parents=True, exist_ok=True)
    index = {r["ID"]: i for i, r in enumerate(rows)}
    args = [(r, str(out_dir), confidence, appearance, resample_second_channel, threads,
             dicom_seg) for r in todo]

    def store(res: Dict[str, Any]) -> int:
        cid = res["ID"]
        t, sha = pop_timings(res), res.pop("mask_sha256", "")
        stale = out_dir / "snapshots" / mask_file_name(cid, ".png")
        if stale.exists():   # of an earlier mask
            stale.unlink()
        atomic_write_text(parts_dir / f"{index[cid]:06d}.json", json.dumps(
            {"fingerprint": fps[cid]["fingerprint"], "row": res, "timings": t,
             "mask_sha256": sha}))
        done[cid], timings[cid], shas[cid] = res, t, sha
        return len(done)

    t_start = time.perf_counter()
    results = (segment_case(*a) for a in args) if n_workers <= 1 and not scheduler else \
        _map_tasks(_segment_worker, args, n_workers, scheduler)
    cancelled = _collect(results, store, len(rows), len(rows) - len(todo), "segment", progress,
                         callback, cancel)
    table = pd.DataFrame([done[r["ID"]] for r in rows if r["ID"] in done],
                         columns=list(SEGMENTATION_COLUMNS)).fillna("")
    table["snapshot"] = ""
    if snapshots and not cancelled:
        table["snapshot"] = [_snapshot(row, out_dir) if not row["error"] else ""
                             for row in table.to_dict("records")]
    if not cancelled and len(done) == len(rows):
        atomic_write_text(out_csv, table.to_csv(index=False))
        ok = table[table["error"] == ""]
        atomic_write_text(out_dir / "manifest.csv",
                          ok[list(_FEATURE_MANIFEST_COLUMNS)].to_csv(index=False))
        prov = {"tool": "pancancer-subtype", "version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command,
                "manifest": str(Path(manifest).resolve()), "parameters": params,
                "python": sys.version.split()[0],
                "cases": {cid: {**fps[cid], "mask_sha256": shas.get(cid, ""),
                                "timings_s": timings.get(cid, {})} for cid in fps},
                "n_cases": len(rows), "n_errors": int((table["error"] != "").sum()),
                "wall_time_s_this_run": round(time.perf_counter() - t_start, 3)}
        atomic_write_text(prov_path, json.dumps(prov, indent=1, default=json_default))
        _finish_parts(parts_dir)
    return table


def _snapshot(row: Mapping[str, str], out_dir: Path) -> str:
    """A segmented case's snapshot (:func:`.plots.mask_snapshot`), made unless it is there;
    its path relative to ``out_dir`` ("" when it cannot be made: logged, the run goes on)."""
    from .io import read_image, read_mask
    from .plots import mask_snapshot

    name = Path("snapshots") / mask_file_name(row["ID"], ".png")
    try:
        if not (out_dir / name).exists():
            image, path = read_image(row["Image"]), out_dir / row["Mask"]
            mask = read_mask(path, reference=image) if path.suffix == ".dcm" else read_image(path)
            conf = f", confidence {row['confidence']}" if row["confidence"] else ""
            mask_snapshot(image, mask, parse_points(row["Seed"]), path=str(out_dir / name),
                          title=f"{row['ID']}: {row['model']} model{conf}, {row['volume_ml']} "
                                f"mL" + (" - check it" if row["needs_check"] == "True" else ""))
    except Exception as exc:  # a snapshot never costs the run its results
        log.warning("%s: no snapshot (%s: %s)", row["ID"], type(exc).__name__, exc)
        return ""
    return name.as_posix()


def _previous_segmentation(out_csv: Path, prov_path: Path, fps) -> Dict[str, Dict[str, Any]]:
    """The rows of an earlier complete run's ``segmentation.csv`` whose fingerprint matches, as
    records of :func:`_load_parts` (``{ID: {"row", "timings", "mask_sha256"}}``)."""
    if not (out_csv.is_file() and prov_path.is_file()):
        return {}
    try:
        cases = json.loads(prov_path.read_text(encoding="utf-8")).get("cases", {})
        prev = pd.read_csv(out_csv, dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return {}
    recs = {}
    for row in prev.to_dict("records"):
        cid, c = row.get("ID"), cases.get(row.get("ID"), {})
        if cid in fps and c.get("fingerprint") == fps[cid]["fingerprint"]:
            recs[cid] = {"row": row, "timings": c.get("timings_s", {}),
                         "mask_sha256": c.get("mask_sha256", "")}
    return recs
