"""``pancancer-subtype cohort-features``: features for every case of a manifest."""
from __future__ import annotations

import sys

from .checks import input_file, positive_int
from .features import add_feature_options, build_groups, group_options_from_args


def register(sub):
    p = sub.add_parser(
        "cohort-features", help="compute features for every case of a manifest (parallel, "
                                "resumable)",
        description="Manifest columns (PyRadiomics batch format): Image, Mask, optional Label, ID, "
                    "Organ, CancerType, Modality, OrganMask, OrganLabel. One output row per case; a "
                    "failing case is recorded in the 'error' column and the run goes on (exit "
                    "code 1 at the end when any case failed). Rerun the same command to resume.")
    p.add_argument("--manifest", required=True, help="CSV manifest")
    p.add_argument("--out", required=True, help="output CSV")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="local worker processes (default 1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask distributed scheduler address (e.g. tcp://10.0.0.5:8786) instead of "
                        "local processes")
    p.add_argument("--no-resume", action="store_true", help="recompute every case")
    p.add_argument("--retry-errors", action="store_true", help="recompute cases that failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_feature_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..cohort import read_manifest, run_cohort
    from ..files import check_output_path

    # every check before any work
    check_output_path(args.out, "--out")
    if args.radiomics_params:
        input_file(args.radiomics_params, "--radiomics-params")
    opts = group_options_from_args(args)
    build_groups(args.groups, opts)
    read_manifest(args.manifest)
    table = run_cohort(args.manifest, args.out, groups=args.groups,
                       group_options=opts, workers=args.workers,
                       scheduler=args.scheduler, resume=not args.no_resume,
                       retry_errors=args.retry_errors, progress=not args.no_progress,
                       command=" ".join(sys.argv))
    n_err = int((table["error"] != "").sum())
    print(f"{len(table)} cases -> {args.out} ({n_err} with errors)", file=sys.stderr)
    for cid, err in zip(table["ID"], table["error"]):
        if err:
            print(f"  {cid}: {err}", file=sys.stderr)
    from ..shape import low_resolution_note

    note = low_resolution_note(zip(table["ID"], table.to_dict("records")))
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 1 if n_err else 0
