"""``pancancer-subtype associate``: every feature against every external variable.

Writes ``associations.csv`` (one row per pair: coefficient, SE, statistic, p, BH q),
``summary.json``, ``volcano.png`` and ``heatmap.png``.
"""
from __future__ import annotations

import os

from .checks import fraction, names



def register(sub):
    p = sub.add_parser("associate", help="linear (mixed) models of every feature against every "
                                         "clinical / genomic variable, BH-adjusted")
    p.add_argument("--features", required=True, help="feature CSV (one row per patient)")
    p.add_argument("--variables", required=True,
                   help="CSV of per-patient variables (clinical, gene-expression signatures, "
                        "pathway scores) with the same ID column")
    p.add_argument("--id", default="ID", help="patient ID column in both files (default ID)")
    p.add_argument("--columns", default=None,
                   help="variables to test, comma separated (default: every numeric column "
                        "other than --group and --covariates)")
    p.add_argument("--feature-columns", default=None,
                   help="features to test, comma separated (default: all)")
    p.add_argument("--group", default=None,
                   help="grouping column (batch, site): random intercept, linear mixed model")
    p.add_argument("--covariates", default="", help="adjustment covariates, comma separated")
    p.add_argument("--response", choices=["variable", "feature"], default="variable",
                   help="which side is the response: variable ~ feature (default) or "
                        "feature ~ variable")
    p.add_argument("--no-standardise", action="store_true",
                   help="raw coefficients instead of z-scored response and predictor")
    p.add_argument("--adjust", choices=["bh", "holm", "bonferroni"], default="bh")
    p.add_argument("--fdr", type=fraction, default=0.05, help="threshold on q for the plots")
    p.add_argument("--engine", choices=["fast", "statsmodels"], default="fast",
                   help="fast: vectorised least squares / REML (default); statsmodels: "
                        "statsmodels OLS / MixedLM per pair")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from ..association import associate, association_heatmap, volcano_plot
    from ..files import check_output_path, to_jsonable, write_json
    from ..tables import read_table
    from .checks import columns_present, input_file

    # every check before any work
    if args.engine == "statsmodels":
        from ..extras import module_available

        if not module_available("statsmodels"):
            from ..errors import MissingDependencyError

            raise MissingDependencyError(
                "associate --engine statsmodels needs statsmodels, which is not installed: pip "
                "install statsmodels (or leave --engine at fast, which needs nothing more)",
                source="--engine")
    input_file(args.features, "--features")
    input_file(args.variables, "--variables")
    check_output_path(args.out, "--out", folder=True)
    feats = read_table(args.features, id_column=args.id)
    var = read_table(args.variables, id_column=args.id)
    columns_present(feats, [args.id] + names(args.feature_columns), "--feature-columns / --id",
                    args.features)
    columns_present(var, [args.id] + names(args.columns), "--columns / --id", args.variables)
    columns_present(var, [args.group] if args.group else [], "--group", args.variables)
    columns_present(var, names(args.covariates), "--covariates", args.variables)
    res = associate(feats, var, id_column=args.id, variable_columns=names(args.columns) or None,
                    feature_columns=names(args.feature_columns) or None, group=args.group,
                    covariates=names(args.covariates), response=args.response,
                    standardise=not args.no_standardise, method=args.adjust,
                    engine=args.engine, source=args.variables, features_source=args.features)
    if len(res) and res["p"].isna().all():
        from ..errors import LabelTableError

        raise LabelTableError("no feature-variable pair could be tested (each has a constant "
                              "column or too few complete rows; see the warnings above)",
                              source=args.variables)
    os.makedirs(args.out, exist_ok=True)
    res.to_csv(os.path.join(args.out, "associations.csv"), index=False)
    volcano_plot(res, fdr=args.fdr, path=os.path.join(args.out, "volcano.png"))
    association_heatmap(res, fdr=args.fdr, path=os.path.join(args.out, "heatmap.png"))
    n_sig = int((res["q"] < args.fdr).sum())
    summ = {"features": os.path.abspath(args.features),
            "variables": os.path.abspath(args.variables), "n_pairs": int(len(res)),
            "n_features": int(res["feature"].nunique()),
            "n_variables": int(res["variable"].nunique()),
            "model": "mixed" if args.group else "ols", "group": args.group,
            "covariates": names(args.covariates), "response": args.response,
            "standardised": not args.no_standardise, "adjust": args.adjust, "fdr": args.fdr,
            "n_significant": n_sig,
            "top": res.nsmallest(10, "q").to_dict(orient="records")}
    write_json(os.path.join(args.out, "summary.json"), to_jsonable(summ), indent=2,
               allow_nan=False)
    print(f"{len(res)} pairs, {n_sig} with q < {args.fdr:g} -> {args.out}")
    return 0
