"""``pancancer-subtype agreement``: do the features agree between modalities on paired data?"""
from __future__ import annotations

import sys

from .checks import non_negative_int, positive_int
from .features import (add_feature_options, build_groups, group_options_from_args,
                       report_skipped_groups)


def register(sub):
    p = sub.add_parser(
        "agreement", help="agreement of every feature between modalities (or raters) on paired "
                          "data: ICC(3,1) with 95%% CI, Spearman, Bland-Altman, figures",
        description="Paired manifest: the cohort manifest columns (Image, Mask, optional Label, "
                    "Organ, OrganMask, ...) plus a patient column (Patient, patient_id, "
                    "PatientID, subject or pair) and one row per modality (column Modality, or "
                    "--rater-column). Writes DIR/features.csv (resumable), agreement.csv (per "
                    "feature: ICC(3,1) with 95% CI, ICC(2,1), Spearman rho, Bland-Altman bias "
                    "and limits, between-patient spread), agreement_summary.csv (per feature "
                    "group: median ICC with a bootstrap interval, min, counts), agreement.json "
                    "and two figures.")
    p.add_argument("--manifest", required=True, help="paired manifest CSV")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--patient-column", default=None,
                   help="patient column (default: the first of Patient, patient_id, PatientID, "
                        "subject, pair)")
    p.add_argument("--rater-column", default="Modality",
                   help="column telling a patient's rows apart")
    p.add_argument("--raters", default=None,
                   help="raters to compare, comma separated, in order (default: all, in manifest "
                        "order); Bland-Altman differences are second minus first")
    p.add_argument("--organ", default=None,
                   help="organ for rows without one (parenchyma of the regional features), e.g. "
                        "soft-tissue for sarcomas")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (default: the machine's cores, at most one per "
                        "image)")
    p.add_argument("--bootstrap", type=non_negative_int, default=2000,
                   help="bootstrap resamplings of the patients for the interval of the median ICC "
                        "(0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--no-resume", action="store_true", help="recompute every row's features")
    p.add_argument("--no-figures", action="store_true", help="no PNG figures")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_feature_options(p, groups_default="cross")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..agreement import read_paired_manifest, run_agreement
    from ..files import check_output_path
    from .checks import input_file

    input_file(args.manifest, "--manifest")
    check_output_path(args.out, "--out", folder=True)
    raters = [r.strip() for r in args.raters.split(",")] if args.raters else None
    if raters is not None and len(set(raters)) < 2:
        from ..errors import UsageError

        raise UsageError(f"two different raters are needed, got {args.raters!r}",
                         source="--raters")
    group_options = group_options_from_args(args)
    skipped: dict = {}                                  # --groups / --set errors before any work
    build_groups(args.groups, group_options, skipped=skipped)
    report_skipped_groups(skipped)
    read_paired_manifest(args.manifest, args.patient_column, args.rater_column)
    res = run_agreement(args.manifest, args.out, groups=args.groups,
                        group_options=group_options, organ=args.organ,
                        patient_column=args.patient_column, rater_column=args.rater_column,
                        raters=raters, workers=args.workers, resume=not args.no_resume,
                        n_boot=args.bootstrap, seed=args.seed, figures=not args.no_figures,
                        progress=not args.no_progress, command=" ".join(sys.argv))
    print(f"{res.n_pairs} pairs ({' vs '.join(res.raters)}), {len(res.table)} features -> "
          f"{args.out}", file=sys.stderr)
    for r in res.summary.to_dict("records"):
        ci = ""
        if "median_icc_ci_low" in r and r["median_icc_ci_low"] == r["median_icc_ci_low"]:
            ci = f" [{r['median_icc_ci_low']:.2f}, {r['median_icc_ci_high']:.2f}]"
        print(f"  {r['group']:<10} {r['features']:>4} features: median ICC {r['median_icc']:.3f}"
              f"{ci}, min {r['min_icc']:.3f}, {r['n_below_0.5']} below 0.5", file=sys.stderr)
    unpaired = res.unpaired
    if unpaired:     # named, as the failed cases are (only agreement.json listed them)
        print(f"{len(unpaired)} patient(s) without a complete pair, left out: "
              f"{', '.join(map(str, unpaired[:20]))}", file=sys.stderr)
    feats = res.features
    failed = [i for i, e in enumerate(feats["error"]) if str(e).strip()]
    if failed:      # one line per case that failed (its pair is left out), as cohort-features
        print(f"{len(failed)} case(s) failed:", file=sys.stderr)
        ids = feats["ID"] if "ID" in feats.columns else feats.index
        for i in failed:
            print(f"  {list(ids)[i]}: {feats['error'].iloc[i]}", file=sys.stderr)
    return 1 if failed else 0
