"""``pancancer-subtype roi-signature``: LASSO-Cox rad-score per ROI / image and their combination.

Writes ``blocks.csv`` (per block: features, selected features, combination weight, out-of-fold
C-index; and the combined row), ``radscores.csv`` (per patient: each block's rad-score and the
combined one) and ``summary.json``.
"""
from __future__ import annotations

import logging
import os

from .checks import at_least_two, names

log = logging.getLogger(__name__)



def register(sub):
    p = sub.add_parser("roi-signature", help="rad-score per ROI (tumour, peri-tumoural ring) and "
                                             "image, combined into one Cox rad-score")
    p.add_argument("--features", required=True,
                   help="feature CSV, one row per patient (e.g. from cohort-features with the "
                        "radiomics and peritumoural groups, several images per patient)")
    p.add_argument("--table", required=True, help="clinical CSV with time and event")
    p.add_argument("--id", default="ID", help="patient ID column in both files (default ID)")
    p.add_argument("--time", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--images", default=None,
                   help="image names of the column prefixes, comma separated; the columns of "
                        "other images are left out (default: every image found from the "
                        "column names)")
    p.add_argument("--cv", type=at_least_two, default=5, help="folds of each block's penalty selection")
    p.add_argument("--rule", choices=["min", "1se"], default="1se")
    p.add_argument("--stack-folds", type=at_least_two, default=5,
                   help="folds of the out-of-fold block scores the combination is fitted on")
    p.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    import pandas as pd

    from ..errors import SurvivalDataError
    from ..files import check_output_path, to_jsonable, write_json
    from ..multisignature import CombinedSignature, feature_blocks
    from ..survival import prepare_survival_data
    from ..tables import read_table, split_feature_table
    from .checks import columns_present, input_file

    # every check before any work
    input_file(args.features, "--features")
    input_file(args.table, "--table")
    check_output_path(args.out, "--out", folder=True)
    feats, _, notes = split_feature_table(read_table(args.features, id_column=args.id),
                                          id_column=args.id, source=args.features)
    clin = read_table(args.table, id_column=args.id)
    columns_present(clin, [args.id, args.time, args.event], "--id / --time / --event", args.table)
    ids_text = clin[args.id].astype(str)
    dup = sorted(set(ids_text[ids_text.duplicated()]))
    if dup:
        from ..errors import ManifestError

        raise ManifestError(f"duplicated {args.id} value(s): {dup[:10]}: one row per patient",
                            source=args.table)
    sd = prepare_survival_data(clin, args.time, args.event, source=args.table)
    clin = clin.loc[sd.df.index].set_index(args.id)
    ids = [i for i in feats.index if i in clin.index]
    X = feats.loc[ids]
    X = X[[c for c in X.columns if c not in (args.time, args.event)]]
    complete = X.notna().all(axis=1)
    if not complete.all():
        log.warning("%d patient(s) with missing feature values left out: %s",
                    int((~complete).sum()), ", ".join(X.index[~complete][:10]))
        X = X[complete]
    if len(X) < 10:
        raise SurvivalDataError(f"only {len(X)} patients have features and survival", args.table)
    for option, folds in (("--cv", args.cv), ("--stack-folds", args.stack_folds)):
        if folds > len(X):
            from ..errors import UsageError

            raise UsageError(f"{folds} folds for {len(X)} patients with features and survival",
                             source=option)
    t = clin.loc[X.index, args.time].to_numpy(float)
    e = clin.loc[X.index, args.event].to_numpy(int)
    images = names(args.images)
    absent = [i for i in images if not any(str(c).startswith(f"{i}_") for c in X.columns)]
    if absent:
        from ..errors import UsageError

        raise UsageError(f"no feature column of {args.features} starts with "
                         f"{', '.join(f'{i}_' for i in absent)}", source="--images")
    blocks = feature_blocks(X.columns, images=images or None)
    sig = CombinedSignature(blocks=blocks, cv=args.cv, rule=args.rule,
                            stack_folds=args.stack_folds, random_state=args.seed).fit(X, t, e)
    os.makedirs(args.out, exist_ok=True)
    summary = sig.summary()
    summary.to_csv(os.path.join(args.out, "blocks.csv"), index=False)
    scores = sig.transform(X)
    scores["combined"] = sig.predict(X)
    scores.index.name = "ID"
    scores.reset_index().to_csv(os.path.join(args.out, "radscores.csv"), index=False)
    write_json(os.path.join(args.out, "summary.json"), to_jsonable({
        "features": os.path.abspath(args.features), "table": os.path.abspath(args.table),
        "n": int(len(X)), "n_events": int(np.sum(e)),
        "blocks": {k: len(v) for k, v in blocks.items()}, "dropped_blocks": sig.dropped_,
        "weights": sig.weights_.to_dict(), "oof_c_index": sig.oof_c_index_.to_dict(),
        "apparent_c_index": sig.apparent_c_index_,
        "selected": {k: m.selected_features_ for k, m in sig.block_models_.items()},
        "excluded_rows": notes["excluded"]}), indent=2, allow_nan=False)
    for r in summary.to_dict("records"):
        print(f"{r['block']:>20}: {r['n_selected']}/{r['n_features']} features, "
              f"out-of-fold C = {r['oof_c_index']:.3f}")
    print(f"-> {args.out}")
    return 0
