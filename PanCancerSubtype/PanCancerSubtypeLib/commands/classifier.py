"""``pancancer-subtype train-classifier`` and ``pancancer-subtype classify``."""
from __future__ import annotations

import json
import sys

from .checks import non_negative_int, positive_float, positive_int, zero_or_at_least_two


def register(sub):
    p = sub.add_parser(
        "train-classifier",
        help="train the XGBoost subtype classifier on a feature table and a labels table; "
             "prints cross-validated metrics and writes a model bundle directory",
        description="Train the subtype classifier (XGBoost on the original features, as in Wu et "
                    "al. 2021). The labels CSV has an ID column and a label column; rows are "
                    "joined on ID. Rows whose 'error' column is set are skipped. Cross-validated "
                    "accuracy, balanced accuracy, per-class AUC and the confusion matrix are "
                    "printed and stored in the bundle's metadata.json.")
    p.add_argument("--features", required=True, help="feature table (CSV) with an ID column")
    p.add_argument("--labels", required=True, help="labels table (CSV): ID and a label column")
    p.add_argument("--out", required=True, help="model bundle directory to write")
    p.add_argument("--label-column", default=None,
                   help="label column (default: the only non-ID column, else 'subtype', "
                        "else 'class')")
    p.add_argument("--id-column", default="ID", help="ID column of both tables (default ID)")
    p.add_argument("--calibration", default="none",
                   choices=["none", "sigmoid", "isotonic", "temperature"],
                   help="probability calibration (default none)")
    p.add_argument("--cv-folds", type=zero_or_at_least_two, default=5,
                   help="stratified CV folds for the reported metrics (0: skip; default 5)")
    p.add_argument("--cv-repeats", type=positive_int, default=1, help="CV repeats (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--n-estimators", type=positive_int, default=200,
                   help="boosting rounds (default 200)")
    p.add_argument("--max-depth", type=positive_int, default=3, help="tree depth (default 3)")
    p.add_argument("--learning-rate", type=positive_float, default=0.1,
                   help="shrinkage (default 0.1)")
    p.add_argument("--max-bin", type=positive_int, default=64,
                   help="histogram bins per feature (default 64; XGBoost's own default is 256)")
    p.add_argument("--impute", default="none", choices=["none", "median", "mean"],
                   help="missing values: none = XGBoost's native handling (default)")
    p.add_argument("--drop-constant", action="store_true",
                   help="drop constant / all-missing columns (default: keep and report)")
    p.add_argument("--n-jobs", type=positive_int, default=1, help="XGBoost threads (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--top", type=non_negative_int, default=10,
                   help="print this many top features")
    p.set_defaults(func=run_train)

    q = sub.add_parser(
        "classify",
        help="assign subtypes to new patients with a trained model bundle",
        description="Write ID, predicted_subtype and prob_<class> for every row of a feature "
                    "table. The bundle's checksums are verified first; the table must hold "
                    "exactly the model's feature columns (metadata columns such as ID, Image, "
                    "Mask, Label, Organ, CancerType, Modality, error, diag_* are ignored).")
    q.add_argument("--model", required=True, help="model bundle directory")
    q.add_argument("--features", required=True, help="feature table (CSV)")
    q.add_argument("--out", required=True, help="predictions CSV to write ('-' for stdout)")
    q.add_argument("--id-column", default="ID", help="ID column (default ID)")
    q.add_argument("--ignore-extra-columns", action="store_true",
                   help="ignore feature columns the model does not use (default: error)")
    q.set_defaults(func=run_classify)


def run_train(args):
    from ..errors import PanCancerSubtypeError
    from ..classifier import (SubtypeClassifier, check_bundle_target, format_cv_report,
                              save_bundle)
    from ..files import check_output_path
    from ..tables import join_features_labels, read_table

    # every check before any work
    check_output_path(args.out, "--out", folder=True)
    check_bundle_target(args.out, overwrite=args.overwrite)
    feats = read_table(args.features, args.id_column)
    labels = read_table(args.labels, args.id_column)
    X, y, rep = join_features_labels(feats, labels, args.label_column, args.id_column,
                                     features_source=args.features, labels_source=args.labels)
    # a column of numbers with a typo is refused before any work (the model trained without it)
    from ..tables import check_stray_text, is_metadata_column

    ids = X[args.id_column].astype(str).to_numpy() if args.id_column in X.columns else X.index
    for c in X.columns:
        if not is_metadata_column(c) and c != args.id_column:
            check_stray_text(X[c].set_axis(ids), args.features, row_name=args.id_column)
    # IDs missing on either side, unlabelled and errored rows are listed (warnings) by the join
    print(f"joined {rep['n_joined']} ID(s); not used: {len(rep['ids_only_in_features'])} in the "
          f"features only, {len(rep['ids_only_in_labels'])} in the labels only, "
          f"{len(rep['ids_without_label'])} without a label, {len(rep['ids_skipped_error'])} "
          f"with a feature-extraction error")
    model = SubtypeClassifier(
        n_estimators=args.n_estimators, max_depth=args.max_depth,
        learning_rate=args.learning_rate, max_bin=args.max_bin,
        calibration=None if args.calibration == "none" else args.calibration,
        cv_folds=args.cv_folds, cv_repeats=args.cv_repeats,
        impute=None if args.impute == "none" else args.impute,
        drop_constant=args.drop_constant, random_state=args.seed, n_jobs=args.n_jobs)
    try:
        model.fit(X, y, source=args.features)
    except ValueError as exc:
        if isinstance(exc, PanCancerSubtypeError):
            raise
        print(f"error: {args.labels}: {exc}", file=sys.stderr)   # e.g. one class, too few cases
        return 1
    counts = ", ".join(f"{k}: {v}" for k, v in model.class_counts_.items())
    print(f"trained on {model.n_samples_} samples x {model.n_features_in_} features "
          f"(label column {rep['label_column']!r}; {counts})")
    pre = model.preprocessor_
    non_numeric = [c for c, why in pre.dropped_.items() if why == "non-numeric"]
    if non_numeric:
        print(f"dropped non-numeric columns: {', '.join(non_numeric)}")
    if pre.constant_:
        print(f"{len(pre.constant_)} constant/all-missing column(s) "
              f"{'dropped' if args.drop_constant else 'kept'}")
    print(format_cv_report(model.cv_report_))
    if args.top > 0:
        g = model.feature_importances("gain").head(args.top)
        s = model.feature_importances("shap")
        print(f"top {len(g)} features (gain, normalised; mean |SHAP|):")
        for name, v in g.items():
            print(f"  {name:<40} {v:.4f}   {float(s[name]):.4f}")
    out = save_bundle(model, args.out, overwrite=args.overwrite)
    print(f"model bundle written to {out}")
    return 0


def run_classify(args):
    import numpy as np

    from ..classifier import load_bundle
    from ..files import atomic_write_text, check_output_path
    from ..tables import read_table

    if args.out != "-":
        check_output_path(args.out, "--out")
    model = load_bundle(args.model)
    feats = read_table(args.features, args.id_column)
    from ..errors import ManifestError

    if args.id_column not in feats.columns:       # predictions must go back to their patients
        raise ManifestError(f"no {args.id_column!r} column (columns: {list(feats.columns)[:8]}); "
                            f"give --id-column", source=args.features)
    dup = feats[args.id_column][feats[args.id_column].duplicated()]
    if len(dup):
        raise ManifestError(f"duplicated {args.id_column} value(s): "
                            f"{sorted(set(map(str, dup)))[:10]}", source=args.features)
    if feats.empty:
        raise ManifestError("no row to classify", source=args.features)
    out = model.predict_frame(feats, id_column=args.id_column,
                              strict=not args.ignore_extra_columns, source=args.features)
    if args.out == "-":
        out.to_csv(sys.stdout, index=False)
    else:
        atomic_write_text(args.out, out.to_csv(index=False))
        counts = out["predicted_subtype"].value_counts(dropna=True).to_dict()
        print(f"{len(out)} row(s) classified -> {args.out}; predicted: "
              f"{json.dumps({str(k): int(v) for k, v in counts.items()})}")
    flagged = (out["novel"].map(lambda v: v is True or v is np.True_)
               if "novel" in out.columns else None)
    if flagged is not None and flagged.any():
        novel = out[flagged.to_numpy()]
        ids = (novel[args.id_column] if args.id_column in novel.columns else novel.index)
        print(f"warning: {len(novel)} row(s) lie outside the training cohort (novelty_score > 1; "
              f"see novelty_family): {', '.join(str(i) for i in list(ids)[:20])}; their subtype "
              f"should not be trusted", file=sys.stderr)
    return 0
