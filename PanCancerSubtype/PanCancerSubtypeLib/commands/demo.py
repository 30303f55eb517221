"""``pancancer-subtype demo``: the whole pipeline on a synthetic pan-cancer cohort, with a report."""
from __future__ import annotations

from .checks import non_negative_int, positive_int


def register(sub):
    p = sub.add_parser(
        "demo", help="run the whole pipeline on a generated synthetic cohort and write an HTML "
                     "report (no data needed)",
        description="Generate a seeded synthetic pan-cancer cohort (lung CT, breast MR, brain MR; "
                    "four morphological archetypes; simulated survival), extract the 313 "
                    "cross-modality features, run the discovery / validation design (encoder, "
                    "consensus clustering, IGP, purity), train the subtype classifier (with "
                    "calibration and novelty), test survival, and write report.html. "
                    "Real cases in $PANCANCER_SHARED_DATA (or ../shared/data) are added when "
                    "present.")
    p.add_argument("--n", type=positive_int, default=120,
                   help="number of synthetic cases (default 120)")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--reps", type=positive_int, default=500,
                   help="consensus resamplings (default 500)")
    p.add_argument("--k-min", type=positive_int, default=2)
    p.add_argument("--k-max", type=positive_int, default=8)
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes (default: the machine's cores)")
    p.add_argument("--encode", choices=["auto", "autoencoder", "pca", "none"], default="auto",
                   help="encoder before clustering: auto = the autoencoder or PCA, whichever "
                        "reconstructs held-out tumours better (both errors are reported)")
    p.add_argument("--no-encode", action="store_true",
                   help="same as --encode none: cluster the prepared features")
    p.add_argument("--data", default=None,
                   help="folder with the real cases' cases.csv (default: $PANCANCER_SHARED_DATA or "
                        "../shared/data when present)")
    p.add_argument("--no-real", action="store_true",
                   help="skip the real cases (and the paired CT / MR data)")
    p.add_argument("--pairs", default=None,
                   help="paired CT / MR manifest for the cross-modality section (default: "
                        "IBSI_soft_tissue_sarcoma_CT_MR/pairs.csv of the shared data, when found)")
    p.add_argument("--n-boot", type=non_negative_int, default=200,
                   help="bootstrap resamples for the C-index CI")
    p.add_argument("--no-workflows", action="store_true",
                   help="leave the related workflows out of the report (association, Cox model "
                        "evaluation, intra- / peri-tumoural signatures, deep features)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import UsageError
    from ..files import check_output_path

    # every check before any work: the options first, then the optional dependency
    if not 2 <= args.k_min <= args.k_max:
        raise UsageError(f"need 2 <= --k-min <= --k-max, got {args.k_min} and {args.k_max}",
                         source="--k-min / --k-max")
    if args.k_max >= int(args.n * 0.8):
        raise UsageError(f"--k-max {args.k_max} must be smaller than the {int(args.n * 0.8)} "
                         f"cases drawn per resampling (80% of --n {args.n})", source="--k-max")
    if args.n < 20:
        raise UsageError(f"the discovery / validation design needs at least 20 cases (a "
                         f"validation third that can be clustered, 10 discovery cases for the "
                         f"purity), got {args.n}", source="--n")
    check_output_path(args.out, "--out", folder=True)
    if not args.no_encode and args.encode in ("auto", "autoencoder"):
        from ..extras import require

        require("deep", f"demo --encode {args.encode} (its autoencoder step; --encode pca or "
                        f"--no-encode needs no torch)")
    from ..demo import run_demo

    run_demo(out=args.out, n=args.n, seed=args.seed, reps=args.reps, k_min=args.k_min,
             k_max=args.k_max, workers=args.workers,
             encode="none" if args.no_encode else args.encode,
             data_dir=args.data, real_cases=not args.no_real, n_boot=args.n_boot,
             pairs=args.pairs, workflows=not args.no_workflows)
    return 0
