"""``pancancer-subtype survival`` / ``signature`` / ``cross-cancer``: prognostic statistics.

* ``survival``: KM curves per group (subtype), log-rank (overall and pairwise), multivariable Cox
  with a reference level, PH check, C-index with bootstrap CI -> ``summary.json``, ``km.png``,
  ``forest.png``, ``km_at_risk.csv``, ``cox.csv``, ``logrank_pairwise.csv``, ``median_survival.csv``.
* ``signature``: LASSO-Cox rad-score from a feature table, risk groups (median or optimal cutoff),
  time-dependent AUC -> ``signature.json``, ``radscore.csv``, ``lasso_path.csv``, ``km_risk.png``.
* ``cross-cancer``: CTC / CTS features across cancer types and CTC-vs-CTS model comparison ->
  ``cross_cancer.json``, ``tests.csv``, ``models.csv``.
"""
from __future__ import annotations

import logging
import os
from typing import List, Optional

from .checks import at_least_two, fraction, names, non_negative_int, positive_int

log = logging.getLogger(__name__)


def _floats(text: Optional[str], option: str = "--times") -> Optional[List[float]]:
    from .checks import floats

    vals = floats(text, option)
    if vals is not None and min(vals) < 0:
        from ..errors import UsageError

        raise UsageError(f"times must be >= 0, got {text!r}", source=option)
    return vals


def _prepare_out(args) -> None:
    """Checks before any work: the input tables exist, --times parses, --out can be a folder."""
    from ..files import check_output_path
    from .checks import input_file

    for opt in ("table", "features"):
        if getattr(args, opt, None):
            input_file(getattr(args, opt), f"--{opt}")
    _floats(getattr(args, "times", None))
    check_output_path(args.out, "--out", folder=True)


def _csv(df, path, index=False) -> None:
    from ..files import atomic_write_text

    atomic_write_text(path, df.to_csv(index=index))


def _png(fig, path) -> None:
    from ..files import save_figure

    save_figure(fig, path, dpi=120)



def register(sub):
    p = sub.add_parser("survival", help="Kaplan-Meier, log-rank, Cox PH, C-index for a grouping "
                                        "(e.g. subtypes) of a clinical table")
    p.add_argument("--table", required=True, help="CSV with one row per patient")
    p.add_argument("--time", required=True, help="follow-up time column (>= 0)")
    p.add_argument("--event", required=True, help="event column (1 = event, 0 = censored)")
    p.add_argument("--group", required=True, help="group column (e.g. subtype)")
    p.add_argument("--covariates", default="", help="comma-separated Cox covariates; "
                                                    "non-numeric ones are dummy-coded")
    p.add_argument("--reference", default=None, help="reference level of the group in the Cox "
                                                     "model (default: first sorted level)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--times", default=None, help="comma-separated times of the at-risk table "
                                                 "(default: 5 ticks over the follow-up)")
    p.add_argument("--n-boot", type=non_negative_int, default=200,
                   help="bootstrap resamples of the C-index CI")
    p.add_argument("--seed", type=int, default=0, help="seed of the C-index bootstrap")
    p.add_argument("--alpha", type=fraction, default=0.05, help="1 - confidence level")
    p.set_defaults(func=run_survival)

    s = sub.add_parser("signature", help="LASSO-Cox radiomic signature (rad-score), risk groups, "
                                         "time-dependent AUC")
    s.add_argument("--features", required=True, help="feature CSV (one row per patient)")
    s.add_argument("--table", required=True, help="clinical CSV with time and event")
    s.add_argument("--id", default="ID", help="patient ID column of both files (rows are "
                                              "matched by it)")
    s.add_argument("--time", required=True)
    s.add_argument("--event", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--cv", type=at_least_two, default=5, help="folds of the penalty selection")
    s.add_argument("--rule", choices=["min", "1se"], default="1se",
                   help="penalty rule: 1se (sparser, the lambda glmnet predicts with) or min")
    s.add_argument("--cutoff", choices=["median", "optimal"], default="median",
                   help="risk-group cutoff (optimal = X-tile search; optimistic, see docs)")
    s.add_argument("--n-perm", type=positive_int, default=200,
                   help="permutations for the optimal-cutoff p-value")
    s.add_argument("--times", default=None, help="times of the time-dependent AUC, comma "
                                                 "separated (default: none computed)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of the cross-validation folds, bootstrap and permutations")
    s.set_defaults(func=run_signature)

    c = sub.add_parser("cross-cancer", help="cancer-type common (CTC) and specific (CTS) "
                                            "features and CTC-vs-CTS models")
    c.add_argument("--table", required=True, help="CSV with features, cancer type and outcome")
    c.add_argument("--features", default=None,
                   help="optional feature CSV joined on --id (else: all numeric columns of "
                        "--table other than the outcome)")
    c.add_argument("--id", default="ID", help="patient ID column of --table and --features")
    c.add_argument("--cancer-type", required=True, help="cancer-type column")
    c.add_argument("--time", default=None)
    c.add_argument("--event", default=None)
    c.add_argument("--outcome", default=None, help="binary outcome column (instead of time/event)")
    c.add_argument("--fdr", type=fraction, default=0.05)
    c.add_argument("--cv", type=at_least_two, default=5,
                   help="folds of the CTC / CTS models' cross-validation")
    c.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    c.add_argument("--out", required=True)
    c.set_defaults(func=run_cross_cancer)


def _read_csv(path):
    import pandas as pd
    from ..errors import UnreadableFileError
    if not os.path.isfile(path):
        raise UnreadableFileError("file not found", source=path)
    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise UnreadableFileError(f"cannot read CSV: {exc}", source=path) from exc


def _write_json(path, obj):
    from ..files import to_jsonable, write_json

    write_json(path, to_jsonable(obj), indent=2, allow_nan=False)


def run_survival(args):
    import matplotlib
    matplotlib.use("Agg")
    from .. import survival as S

    _prepare_out(args)
    df = _read_csv(args.table)
    summ = S.survival_summary(df, args.time, args.event, args.group,
                              covariates=names(args.covariates), reference=args.reference,
                              times=_floats(args.times), n_boot=args.n_boot, seed=args.seed,
                              alpha=args.alpha, source=args.table)
    km, cox = summ.pop("_km"), summ.pop("_cox")
    summ.pop("_logrank")
    import pandas as pd
    km_fig = S.plot_km(km, logrank_p=summ["logrank_p"], title=f"Kaplan-Meier by {args.group}",
                       xlabel=args.time)
    forest_fig = S.plot_forest(cox.table, title=f"Cox hazard ratios (95% CI); reference "
                                                f"{args.group}={summ['reference']}")
    # all computed: now the files, each written whole (atomically)
    _csv(km.at_risk, os.path.join(args.out, "km_at_risk.csv"), index=True)
    _csv(km.table, os.path.join(args.out, "km_table.csv"))
    _csv(km.median, os.path.join(args.out, "median_survival.csv"))
    _csv(cox.table, os.path.join(args.out, "cox.csv"))
    _csv(pd.DataFrame(summ["logrank_pairwise"]), os.path.join(args.out, "logrank_pairwise.csv"))
    _png(km_fig, os.path.join(args.out, "km.png"))
    _png(forest_fig, os.path.join(args.out, "forest.png"))
    summ["table"] = os.path.abspath(args.table)
    _write_json(os.path.join(args.out, "summary.json"), summ)
    print(f"n={summ['n']} events={summ['n_events']} log-rank p={summ['logrank_p']:.4g} "
          f"C-index={summ['c_index']['value']:.3f} -> {args.out}")
    return 0


def _join(features, table, id_col, source, table_source=None):
    """The clinical table's rows joined with their features on ``id_col``, which both files
    must have (rows are matched by ID, never by position); the feature columns by the core's
    rule (``tables.split_feature_table``: no metadata or ``diag_`` columns, cases whose
    features failed left out, with a warning)."""
    from ..errors import ManifestError
    from ..tables import split_feature_table

    for frame, where in ((features, source), (table, table_source)):
        if id_col not in frame.columns:
            raise ManifestError(f"no {id_col!r} column (columns: {list(frame.columns)[:10]}): "
                                f"give the patient ID column of both files with --id", where)
    dup = table[id_col][table[id_col].astype(str).duplicated()]
    if len(dup):
        raise ManifestError(f"duplicate ids in {id_col!r}: {sorted(set(map(str, dup)))[:10]}",
                            table_source)
    feats, _, notes = split_feature_table(features, id_col, source=source)
    if notes["excluded"]:
        log.warning("%d case(s) left out because their features failed (error column): %s",
                    len(notes["excluded"]), ", ".join(list(notes["excluded"])[:10]))
    tab = table.copy()
    tab[id_col] = tab[id_col].astype(str)
    clash = [c for c in feats.columns if c in tab.columns]
    feats = feats.rename(columns={c: f"{c}_feat" for c in clash})
    m = tab.merge(feats.reset_index(), on=id_col, how="inner")
    lost = len(table) - len(m)
    if lost:
        log.warning("%d row(s) of the table have no features", lost)
    return m, list(feats.columns)


def _numeric_features(df, fcols, source):
    """The numeric columns of ``fcols``; a column of numbers with a typo in it is refused
    (``tables.check_stray_text``), a column of text is left out."""
    import pandas as pd
    from ..tables import check_stray_text

    for c in fcols:
        check_stray_text(df[c], source)
    return [c for c in fcols if pd.api.types.is_numeric_dtype(df[c])]


def run_signature(args):
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd
    from .. import signatures as G
    from .. import survival as S

    _prepare_out(args)
    feats = _read_csv(args.features)
    tab = _read_csv(args.table)
    df, fcols = _join(feats, tab, args.id, args.features, args.table)
    fcols = _numeric_features(df, fcols, args.features)
    sd = S.prepare_survival_data(df, args.time, args.event, covariates=fcols, source=args.table)
    X = sd.df[fcols]
    const = [c for c in fcols if X[c].nunique() < 2]
    if const:
        log.warning("%d constant feature(s) dropped: %s", len(const), const[:10])
        X = X.drop(columns=const)
    if args.cv > len(X):
        from ..errors import UsageError

        raise UsageError(f"{args.cv} folds for {len(X)} patients with complete data",
                         source="--cv")
    m = G.LassoCoxSignature(cv=args.cv, rule=args.rule, random_state=args.seed).fit(
        X, sd.time, sd.event)
    score = m.predict(X)
    ci = S.c_index(sd.time, sd.event, score, n_boot=200, seed=args.seed)
    res = {"n": len(X), "n_events": int(sd.event.sum()), "n_features": X.shape[1],
           "n_dropped": sd.n_dropped, "alpha": m.alpha_, "rule": args.rule,
           "cv_c_index": m.cv_c_index_, "apparent_c_index": ci,
           "selected_features": m.selected_features_,
           "coef_standardised": {f: float(m.coef_[f]) for f in m.selected_features_},
           "coef_raw": {f: float(m.coef_raw_[f]) for f in m.selected_features_},
           "intercept_raw": m.intercept_raw_}
    if args.cutoff == "optimal":
        oc = G.optimal_cutoff(score, sd.time, sd.event, n_perm=args.n_perm, seed=args.seed)
        cut = oc["cutoff"]
        res["cutoff"] = {k: v for k, v in oc.items() if k != "table"}
        res["cutoff"]["caveat"] = ("maximally selected log-rank cutoff: p_naive is optimistic; "
                                   "use p_perm and validate the cutoff externally")
    else:
        cut = float(np.median(score))
        res["cutoff"] = {"cutoff": cut, "method": "median"}
    groups = G.risk_groups(score, cut)
    gdf = pd.DataFrame({"time": sd.time, "event": sd.event, "risk": groups})
    lr = S.logrank(gdf, "time", "event", "risk")
    res["risk_groups"] = {"logrank_p": lr["p"], "n_high": int((groups == "high").sum()),
                          "n_low": int((groups == "low").sum())}
    times = _floats(args.times)
    if times:
        td = G.time_dependent_auc(sd.time, sd.event, score, times)
        res["time_dependent_auc"] = {"times": times, "auc": td["auc"].tolist(),
                                     "mean_auc": td.attrs["mean_auc"]}
    out = pd.DataFrame({"rad_score": score, "risk_group": groups}, index=X.index)
    if args.id in df.columns:
        out.insert(0, args.id, df.loc[X.index, args.id].to_numpy())
    km = S.kaplan_meier(gdf, "time", "event", "risk", times=times)
    km_fig = S.plot_km(km, logrank_p=lr["p"], title="rad-score risk groups", xlabel=args.time)
    _csv(out, os.path.join(args.out, "radscore.csv"))
    _csv(m.cv_results_, os.path.join(args.out, "lasso_path.csv"))
    _png(km_fig, os.path.join(args.out, "km_risk.png"))
    _write_json(os.path.join(args.out, "signature.json"), res)
    print(f"{len(m.selected_features_)} feature(s) selected, CV C-index {m.cv_c_index_:.3f}, "
          f"risk-group log-rank p {lr['p']:.3g} -> {args.out}")
    return 0


def run_cross_cancer(args):
    import pandas as pd
    from .. import crosscancer as X

    _prepare_out(args)
    tab = _read_csv(args.table)
    used = [args.cancer_type, args.time, args.event, args.outcome, args.id]
    if args.features:
        df, fcols = _join(_read_csv(args.features), tab, args.id, args.features, args.table)
    else:
        from ..tables import is_metadata_column

        df, fcols = tab, [c for c in tab.columns if c not in used and not is_metadata_column(c)]
    fcols = _numeric_features(df, [c for c in fcols if c not in used],
                              args.features or args.table)
    r = X.cross_cancer_comparison(df, fcols, args.cancer_type, time=args.time, event=args.event,
                                  outcome=args.outcome, fdr=args.fdr, cv=args.cv, seed=args.seed,
                                  source=args.table)
    _csv(r.tests, os.path.join(args.out, "tests.csv"))
    _csv(r.models, os.path.join(args.out, "models.csv"))
    _write_json(os.path.join(args.out, "cross_cancer.json"),
                {"kind": r.kind, "fdr": r.fdr, "n_features": len(fcols), "ctc": r.ctc,
                 "cts": r.cts, "cts_by_type": r.cts_by_type,
                 "models": r.models.to_dict(orient="records")})
    print(f"CTC: {len(r.ctc)} feature(s); CTS: {len(r.cts)} feature(s) -> {args.out}")
    return 0
