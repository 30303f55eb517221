"""``pancancer-subtype cohort-features``: features for every case of a manifest;
``cohort-segment``: a mask for every case of a manifest of clicks."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .checks import input_file, positive_int
from .segmentation import APPEARANCE_MODELS
from .features import (add_feature_options, build_groups, group_options_from_args,
                       report_skipped_groups)


def register(sub):
    p = sub.add_parser(
        "cohort-features", help="compute features for every case of a manifest (parallel, "
                                "resumable)",
        description="Manifest columns (PyRadiomics batch format): Image, Mask, optional Label, ID, "
                    "Organ, CancerType, Modality, OrganMask, OrganLabel. One output row per case; a "
                    "failing case is recorded in the 'error' column and the run goes on (exit "
                    "code 1 at the end when any case failed). Rerun the same command to resume. "
                    "Several images per patient: columns Image_<name> and Mask_<name> (e.g. "
                    "Image_T1c, Mask_T1c, Image_FLAIR, Mask_FLAIR) give one row per patient with "
                    "<name>_-prefixed features.")
    p.add_argument("--manifest", required=True,
                   help="CSV manifest (relative paths are relative to its folder)")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (default: the machine's cores, at most one per "
                        "case)")
    add_run_options(p)
    add_feature_options(p)
    p.set_defaults(func=run)

    p = sub.add_parser(
        "cohort-segment", help="segment the tumour of every case of a manifest of clicks "
                               "(parallel, resumable); its manifest.csv feeds cohort-features",
        description="Manifest columns: Image, Seed (x,y,z in LPS mm; several seeds separated by "
                    "';'), optional ID, Box (x0,y0,z0,x1,y1,z1), Background (points as Seed), "
                    "SecondChannel (e.g. FLAIR next to T1c, on the image's grid), Modality "
                    "(CT/MR; guessed when empty), Appearance (auto, lung, bright, generic), "
                    "and CancerType, Organ, OrganMask, OrganLabel (passed on). Writes "
                    "OUT_DIR/masks/<ID>.nii.gz, OUT_DIR/segmentation.csv (every case: mask, "
                    "modality and model used, confidence, needs_check, volume, warnings, error) "
                    "and OUT_DIR/manifest.csv (the cases segmented, for cohort-features). A "
                    "failing case is recorded and the run goes on (exit code 1 at the end when "
                    "any case failed). Rerun the same command to resume.")
    p.add_argument("--manifest", required=True,
                   help="CSV manifest of clicks (relative paths are relative to its folder)")
    p.add_argument("--out-dir", required=True, help="output folder")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (default: the machine's cores, at most one per "
                        "case)")
    p.add_argument("--appearance", choices=APPEARANCE_MODELS, default=None,
                   help="the appearance model of rows without an Appearance (default auto; see "
                        "segment --appearance)")
    p.add_argument("--no-confidence", action="store_true",
                   help="skip the confidence (its extra runs from other clicks)")
    p.add_argument("--resample-second-channel", action="store_true",
                   help="accept second channels on another grid that overlaps the image")
    p.add_argument("--dicom-seg", action="store_true",
                   help="write each mask as a DICOM SEG, OUT_DIR/masks/<ID>.dcm, referencing its "
                        "Image (a DICOM series folder)")
    p.add_argument("--snapshots", action="store_true",
                   help="a PNG per case, OUT_DIR/snapshots/<ID>.png: the axial, coronal and "
                        "sagittal slices through the mask with its outline and the seeds")
    add_run_options(p)
    p.set_defaults(func=run_segment_cohort)


def add_run_options(p) -> None:
    """The options of a cohort run: ``--scheduler``, ``--no-resume``, ``--retry-errors``,
    ``--no-progress``."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask distributed scheduler address (e.g. tcp://10.0.0.5:8786) instead of "
                        "local processes")
    p.add_argument("--no-resume", action="store_true", help="recompute every case")
    p.add_argument("--retry-errors", action="store_true", help="recompute cases that failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _resumed(table) -> str:
    """What a rerun did: "; 2 computed now, 7 from an earlier run" ("" when all were new)."""
    now = table.attrs.get("computed_now")
    if now is None or now >= len(table):
        return ""
    return f"; {now} computed now, {len(table) - now} from an earlier run"


def _not_the_input(out: str, manifest: str, out_option: str, in_option: str) -> None:
    """A run must not write over its own manifest (the same file by another path too)."""
    from ..errors import UsageError

    if os.path.exists(out) and os.path.exists(manifest) and os.path.samefile(out, manifest):
        raise UsageError(f"the run would write {out} over the manifest {manifest} "
                         f"({in_option}): choose another {out_option}", source=out_option)


def run(args) -> int:
    from ..cohort import read_manifest, run_cohort
    from ..files import check_output_path
    from ..multiimage import expand_manifest, is_multi_image_manifest, run_multi_image_cohort

    # every check before any work
    check_output_path(args.out, "--out")
    _not_the_input(args.out, args.manifest, "--out", "--manifest")
    if args.radiomics_params:
        input_file(args.radiomics_params, "--radiomics-params")
    if args.scheduler:
        from ..extras import require

        require("dask", "cohort-features --scheduler")
    opts = group_options_from_args(args)
    skipped: dict = {}
    groups = [g.name for g in build_groups(args.groups, opts, skipped=skipped)]
    report_skipped_groups(skipped)
    # a manifest with Image_<name> / Mask_<name> columns: one row per patient, prefixed features
    if is_multi_image_manifest(args.manifest):
        expand_manifest(args.manifest)
        runner = run_multi_image_cohort
    else:
        read_manifest(args.manifest)
        runner = run_cohort
    table = runner(args.manifest, args.out, groups=groups,
                   group_options=opts, workers=args.workers,
                       scheduler=args.scheduler, resume=not args.no_resume,
                       retry_errors=args.retry_errors, progress=not args.no_progress,
                       command=" ".join(sys.argv))
    n_err = int((table["error"] != "").sum())
    print(f"{len(table)} cases -> {args.out} ({n_err} with errors{_resumed(table)})",
          file=sys.stderr)
    for cid, err in zip(table["ID"], table["error"]):
        if err:
            print(f"  {cid}: {err}", file=sys.stderr)
    from ..shape import low_resolution_note

    note = low_resolution_note(zip(table["ID"], table.to_dict("records")))
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 1 if n_err else 0


def run_segment_cohort(args) -> int:
    from ..cohort import cases_to_check, read_click_manifest, run_segmentation_cohort
    from ..files import check_output_path

    # every check before any work
    check_output_path(args.out_dir, "--out-dir", folder=True)
    for written in ("manifest.csv", "segmentation.csv"):      # the files the run writes there
        _not_the_input(os.path.join(args.out_dir, written), args.manifest, "--out-dir",
                       "--manifest")
    if args.scheduler:
        from ..extras import require

        require("dask", "cohort-segment --scheduler")
    read_click_manifest(args.manifest)
    table = run_segmentation_cohort(
        args.manifest, args.out_dir, workers=args.workers, scheduler=args.scheduler,
        confidence=not args.no_confidence, appearance=args.appearance,
        resample_second_channel=args.resample_second_channel, resume=not args.no_resume,
        retry_errors=args.retry_errors, progress=not args.no_progress,
        command=" ".join(sys.argv), snapshots=args.snapshots, dicom_seg=args.dicom_seg)
    n_err = int((table["error"] != "").sum())
    check = cases_to_check(table)
    print(f"{len(table)} cases -> {Path(args.out_dir) / 'segmentation.csv'} ({n_err} with "
          f"errors, {len(check)} to check{_resumed(table)}); {len(table) - n_err} in "
          f"{Path(args.out_dir) / 'manifest.csv'} for cohort-features", file=sys.stderr)
    if check:
        print(f"  to check (low confidence or implausible): {', '.join(check)}", file=sys.stderr)
    for cid, err in zip(table["ID"], table["error"]):
        if err:
            print(f"  {cid}: {err}", file=sys.stderr)
    return 1 if n_err else 0
