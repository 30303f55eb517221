"""``pancancer-subtype demo``: the whole pipeline on a synthetic pan-cancer cohort, with a report."""
from __future__ import annotations

import os


def register(sub):
    p = sub.add_parser(
        "demo", help="run the whole pipeline on a generated synthetic cohort and write an HTML "
                     "report (no data needed)",
        description="Generate a seeded synthetic pan-cancer cohort (lung CT, breast MR, brain MR; "
                    "four morphological archetypes; simulated survival), extract the 313 "
                    "cross-modality features, encode them, find subtypes by consensus clustering, "
                    "train the subtype classifier, test survival, and write report.html. "
                    "Real cases in $PANCANCER_SHARED_DATA (or ../shared/data) are added when "
                    "present.")
    p.add_argument("--n", type=int, default=120, help="number of synthetic cases (default 120)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--reps", type=int, default=500, help="consensus resamplings (default 500)")
    p.add_argument("--k-min", type=int, default=2)
    p.add_argument("--k-max", type=int, default=8)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default: 2 or the number of CPUs if fewer)")
    p.add_argument("--no-encode", action="store_true",
                   help="cluster the standardised features instead of the autoencoder's codes")
    p.add_argument("--data", default=None,
                   help="folder with the real cases' cases.csv (default: $PANCANCER_SHARED_DATA or "
                        "../shared/data when present)")
    p.add_argument("--no-real", action="store_true", help="skip the real cases")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples for the C-index CI")
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.no_encode:
        from ..extras import require

        require("deep", "demo (its autoencoder step; --no-encode skips it)")
    from ..demo import run_demo

    run_demo(out=args.out, n=args.n, seed=args.seed, reps=args.reps, k_min=args.k_min,
             k_max=args.k_max, workers=args.workers, encode=not args.no_encode,
             data_dir=args.data, real_cases=not args.no_real, n_boot=args.n_boot)
    return 0
