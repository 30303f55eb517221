"""``pancancer-subtype cox-compare``: named Cox models compared in one command.

For every ``--model NAME=COL1,COL2`` (e.g. clinical, radiomics per modality, combined): terms,
log-likelihood, AIC, BIC, LR test against the null model, C-index with bootstrap CI,
time-dependent AUC at each ``--times``, DeLong test of the AUC at the first time against the
reference model; LR tests of every nested pair; calibration at ``--t`` (bootstrap-corrected as
``rms::calibrate``) and decision curves at ``--t``.

Writes ``models.csv``, ``lrt.csv``, ``calibration.csv``, ``calibration.png``, ``dca.csv``,
``dca.png``, ``summary.json``.
"""
from __future__ import annotations

import os

from ..errors import UsageError
from .checks import at_least_two, names, non_negative_int, positive_float, positive_int



def parse_models(items):
    """``["clinical=age,stage", "rad=radscore"]`` -> ``{"clinical": ["age", "stage"], ...}``."""
    models = {}
    for item in items:
        name, sep, cols = item.partition("=")
        if not sep or not name.strip() or not names(cols):
            raise UsageError(f"expected NAME=COLUMN[,COLUMN...], got {item!r}", source="--model")
        if name.strip() in models:
            raise UsageError(f"model {name.strip()!r} given twice", source="--model")
        models[name.strip()] = names(cols)
    return models


def register(sub):
    p = sub.add_parser("cox-compare", help="compare named Cox models: AIC, BIC, LR tests, "
                                           "C-index, td-AUC, DeLong, calibration, decision "
                                           "curves")
    p.add_argument("--table", required=True, help="CSV with one row per patient")
    p.add_argument("--time", required=True, help="follow-up time column")
    p.add_argument("--event", required=True, help="event column (1 = event, 0 = censored)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=COL[,COL...]",
                   help="a model and its covariates (repeat for each model)")
    p.add_argument("--t", type=positive_float, required=True,
                   help="time of calibration, decision curves and the DeLong test")
    p.add_argument("--times", default=None,
                   help="times of the time-dependent AUC, comma separated (default: --t)")
    p.add_argument("--reference", default=None, help="reference model of the DeLong tests "
                                                     "(default: the first --model)")
    p.add_argument("--categorical", default="", help="covariates to dummy-code although numeric")
    p.add_argument("--calibration-groups", type=at_least_two, default=4,
                   help="groups of predicted survival (default 4)")
    p.add_argument("--calibration-m", type=at_least_two, default=None,
                   help="patients per group instead (rms' m; groups = floor(n / m))")
    p.add_argument("--B", type=positive_int, default=200, help="bootstrap resamples of the calibration")
    p.add_argument("--n-boot", type=non_negative_int, default=200, help="bootstrap resamples of the C-index CI")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from .. import survival_eval as se
    from ..files import check_output_path, to_jsonable, write_json
    from ..tables import read_table
    from .checks import columns_present, floats, input_file

    # every check before any work
    models = parse_models(args.model)
    # --t first: the DeLong test is at the first time
    times = [args.t] + [x for x in (floats(args.times, "--times") or []) if x != args.t]
    if any(x <= 0 for x in times):
        raise UsageError(f"times must be > 0, got {args.times!r}", source="--times")
    input_file(args.table, "--table")
    check_output_path(args.out, "--out", folder=True)
    df = read_table(args.table, id_column="ID")
    columns_present(df, [args.time, args.event], "--time / --event", args.table)
    for name, cols in models.items():
        columns_present(df, cols, f"--model {name}", args.table)
    follow = pd.to_numeric(df[args.time], errors="coerce")
    if follow.notna().any() and args.t > float(follow.max()):
        raise UsageError(f"--t {args.t:g} is not inside the follow-up of {args.table} (its last "
                         f"time is {float(follow.max()):g})", source="--t")
    if args.reference is not None and args.reference not in models:
        raise UsageError(f"{args.reference!r} is not one of the --model names "
                         f"({', '.join(models)})", source="--reference")
    cmp_ = se.compare_cox_models(df, args.time, args.event, models, times,
                                 reference=args.reference,
                                 categorical=names(args.categorical), n_boot=args.n_boot,
                                 seed=args.seed, source=args.table)
    from ..errors import SurvivalDataError

    try:        # everything computed before the first file is written
        cals = [se.calibrate_cox(m, args.t, m=args.calibration_m, groups=args.calibration_groups,
                                 B=args.B, seed=args.seed) for m in cmp_.models.values()]
    except SurvivalDataError as exc:
        raise SurvivalDataError(f"--t {args.t:g}: {exc.args[0]}", source=args.table) from None
    first = next(iter(cmp_.models.values()))
    dca = se.decision_curve(first.time, first.event,
                            {nm: 1.0 - m.survival_at(args.t) for nm, m in cmp_.models.items()},
                            args.t)
    os.makedirs(args.out, exist_ok=True)
    cmp_.table.to_csv(os.path.join(args.out, "models.csv"), index=False)
    cmp_.lrt.to_csv(os.path.join(args.out, "lrt.csv"), index=False)
    pd.concat([c.table.assign(model=c.model) for c in cals]).to_csv(
        os.path.join(args.out, "calibration.csv"))
    se.calibration_plot(cals, path=os.path.join(args.out, "calibration.png"))
    dca.to_csv(os.path.join(args.out, "dca.csv"), index=False)
    se.decision_curve_plot(dca, args.t, path=os.path.join(args.out, "dca.png"))
    summ = {"table": os.path.abspath(args.table), "n": cmp_.n, "n_events": cmp_.n_events,
            "t": args.t, "times": times, "reference": cmp_.reference, "models": models,
            "comparison": cmp_.table.to_dict(orient="records"),
            "lrt": cmp_.lrt.to_dict(orient="records"),
            "calibration_mean_abs_error": {c.model: c.mean_abs_error() for c in cals},
            "calibration_B": args.B, "notes": cmp_.notes}
    write_json(os.path.join(args.out, "summary.json"), to_jsonable(summ), indent=2,
               allow_nan=False)
    for r in cmp_.table.to_dict("records"):
        print(f"{r['model']:>16}: k={r['k']} AIC={r['AIC']:.1f} BIC={r['BIC']:.1f} "
              f"C={r['c_index']:.3f}")
    print(f"-> {args.out}")
    return 0
