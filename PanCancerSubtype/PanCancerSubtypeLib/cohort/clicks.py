"""Segmentation from clicks for every case of a manifest of clicks:
:func:`run_segmentation_cohort` (see :mod:`PanCancerSubtypeLib.cohort`)."""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional

import pandas as pd

from .. import __version__
from ..errors import ManifestError, PanCancerSubtypeError, UsageError, raise_if_interrupted
from ..files import atomic_write_text, code_sha256, json_default
from ..tables import pop_timings
from .manifest import (CLICK_COLUMNS, SEGMENTATION_COLUMNS, click_inputs, mask_file_name,
                       parse_points, read_click_manifest)
from .runs import (case_fingerprint, collect_results, file_sha, finish_parts, load_parts,
                   map_tasks, part_name, run_lock, worker_count)

log = logging.getLogger(__name__)

#: the manifest's columns that a click manifest passes on to ``segmentation.csv`` unchanged
_PASSED_ON = ("Image", "CancerType", "Organ", "OrganMask", "OrganLabel")
#: the columns of ``manifest.csv`` (what ``cohort-features`` reads)
_FEATURE_MANIFEST_COLUMNS = ("ID", "Image", "Mask", "Label", "Modality", "CancerType", "Organ",
                             "OrganMask", "OrganLabel")


def segment_case(row: Mapping[str, str], out_dir, confidence: bool = True,
                 appearance: Optional[str] = None, resample_second_channel: bool = False,
                 threads: Optional[int] = None, dicom_seg: bool = False) -> Dict[str, Any]:
    """Segment one click-manifest row (:func:`read_click_manifest`) and write its mask to
    ``out_dir/masks/`` (``dicom_seg``: as a DICOM SEG referencing the row's image, a DICOM
    series folder, :func:`.dicomseg.write_dicom_seg`); the row of ``segmentation.csv``
    (strings; ``mask_sha256`` and ``diag_time_total_s`` beside them).  Errors are recorded in
    ``error``, never raised."""
    from ..files import sha256_file
    from ..io import read_image, write_image
    from ..segmentation.click import ClickParameters, segment_click
    from ..segmentation.semiauto import (check_click_points, check_not_constant,
                                        read_second_channel)

    t0 = time.perf_counter()
    out = {c: row.get(c, "") for c in SEGMENTATION_COLUMNS}
    out.update(Mask="", model="", confidence="", needs_check="", volume_ml="", warnings="",
               snapshot="", error="")
    try:
        image = read_image(row["Image"])
        check_not_constant(image, row["Image"])
        seeds, box, background = click_inputs(row)
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
            from ..dicomseg import write_dicom_seg

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
        raise_if_interrupted(exc)
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
    from ..segmentation.click import MODELS

    if appearance is not None and appearance not in MODELS:
        raise UsageError(f"must be one of {', '.join(MODELS)}, got {appearance!r}",
                         source="appearance")
    if workers is not None and int(workers) < 1:
        raise UsageError(f"the number of workers must be >= 1, got {workers}", source="workers")
    man = read_click_manifest(manifest)
    if dicom_seg:
        for i, im in man["Image"].items():
            if os.path.isfile(im):
                raise ManifestError(f"row {i + 2}, column Image: {im} is a file; a DICOM SEG "
                                    f"references the DICOM series it was drawn on: give that "
                                    f"series folder", source=Path(manifest))
    out_dir = Path(out_dir)
    with run_lock(out_dir / "segmentation.csv.lock", str(out_dir)):
        out_csv = out_dir / "segmentation.csv"
        parts_dir = out_dir / "segmentation.csv.parts"
        prov_path = out_dir / "segmentation.csv.provenance.json"
        params = {"method": "click", "confidence": bool(confidence), "appearance": appearance,
                  "resample_second_channel": bool(resample_second_channel),
                  "dicom_seg": bool(dicom_seg),
                  "tool": "pancancer-subtype", "version": __version__,
                  "code_sha256": code_sha256()}
        params_json = json.dumps(params, sort_keys=True)
        rows = man.to_dict("records")
        fps = {r["ID"]: case_fingerprint(
            r, params_json, ("ID",) + CLICK_COLUMNS[:-2] + ("Modality", "Appearance"),
            (("image_sha256", "Image"), ("second_channel_sha256", "SecondChannel"))) for r in rows}

        def intact(rec) -> bool:   # an earlier result whose mask file is still the one it wrote
            row = rec["row"]
            return bool(row.get("error")) or \
                file_sha(str(out_dir / row["Mask"])) == rec.get("mask_sha256")

        done: Dict[str, Dict[str, Any]] = {}
        timings: Dict[str, Any] = {}
        shas: Dict[str, str] = {}
        if resume:
            for recs in (_previous_segmentation(out_csv, prov_path, fps),
                         load_parts(parts_dir, fps)[2]):
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
        _keep_masks_not_made_here(todo, out_dir, ".dcm" if dicom_seg else ".nii.gz",
                                  _recorded_masks(prov_path, parts_dir))
        cores = os.cpu_count() or 1
        n_workers = worker_count(workers, len(todo))
        threads = max(1, cores // n_workers) if not scheduler else 1
        parts_dir.mkdir(parents=True, exist_ok=True)
        args = [(r, str(out_dir), confidence, appearance, resample_second_channel, threads,
                 dicom_seg) for r in todo]

        def store(res: Dict[str, Any]) -> int:
            cid = res["ID"]
            t, sha = pop_timings(res), res.pop("mask_sha256", "")
            stale = out_dir / "snapshots" / mask_file_name(cid, ".png")
            if stale.exists():   # of an earlier mask
                stale.unlink()
            atomic_write_text(parts_dir / part_name(cid), json.dumps(
                {"fingerprint": fps[cid]["fingerprint"], "row": res, "timings": t,
                 "mask_sha256": sha}))
            done[cid], timings[cid], shas[cid] = res, t, sha
            return len(done)

        t_start = time.perf_counter()
        results = (segment_case(*a) for a in args) if n_workers <= 1 and not scheduler else \
            map_tasks(_segment_worker, args, n_workers, scheduler)
        cancelled = collect_results(results, store, len(rows), len(rows) - len(todo), "segment",
                                    progress, callback, cancel)
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
            finish_parts(parts_dir)
        table.attrs["computed_now"] = len(todo)     # (the rest came from an earlier run)
        return table


def _snapshot(row: Mapping[str, str], out_dir: Path) -> str:
    """A segmented case's snapshot (:func:`.plots.mask_snapshot`), made unless it is there;
    its path relative to ``out_dir`` ("" when it cannot be made: logged, the run goes on)."""
    from ..io import read_image, read_mask
    from ..plots import mask_snapshot

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


def _recorded_masks(prov_path: Path, parts_dir: Path) -> set:
    """The checksums of every mask an earlier run on this output wrote (its provenance and its
    parts, whatever their fingerprints)."""
    shas = set()
    try:
        cases = json.loads(prov_path.read_text(encoding="utf-8")).get("cases", {})
        shas.update(c.get("mask_sha256", "") for c in cases.values() if isinstance(c, dict))
    except (OSError, ValueError, AttributeError):
        pass
    for p in sorted(parts_dir.glob("*.json")) if parts_dir.is_dir() else []:
        try:
            shas.add(json.loads(p.read_text(encoding="utf-8")).get("mask_sha256", ""))
        except (OSError, ValueError, AttributeError):
            continue
    shas.discard("")
    return shas


def _keep_masks_not_made_here(todo, out_dir: Path, suffix: str, made: set) -> None:
    """A file where a case to segment will write its mask that no run of this output wrote (a
    mask drawn or corrected by hand, a mask changed since) is moved aside, never replaced:
    ``masks/<ID>.edited<suffix>`` (``.edited-2`` ... when taken), with a warning."""
    for r in todo:
        name = mask_file_name(r["ID"], suffix)
        path = out_dir / "masks" / name
        if not path.is_file() or file_sha(str(path)) in made:
            continue
        stem = name[:-len(suffix)]
        n, kept = 1, path.with_name(f"{stem}.edited{suffix}")
        while kept.exists():
            n += 1
            kept = path.with_name(f"{stem}.edited-{n}{suffix}")
        os.replace(path, kept)
        log.warning("%s: masks/%s was not written by this command or was changed since (drawn "
                    "or corrected by hand?): kept as masks/%s; the case is segmented again",
                    r["ID"], name, kept.name)


def _previous_segmentation(out_csv: Path, prov_path: Path, fps) -> Dict[str, Dict[str, Any]]:
    """The rows of an earlier complete run's ``segmentation.csv`` whose fingerprint matches, as
    records of :func:`load_parts` (``{ID: {"row", "timings", "mask_sha256"}}``)."""
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
