"""``pancancer-subtype discover``: subtype discovery from a features table.

features CSV (rows = items, ``ID`` column) -> FeaturePreparer (z-scores, constant / missing
columns) -> [autoencoder codes with ``--encode``] -> consensus clustering (PAM, Pearson) for
k = k_min..k_max -> classes, consensus statistics, plots; purity by repeated 5-fold CV;
differential features per subtype; Cramér's V against cancer type; IGP on a validation set.
"""
from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)


def register(sub):
    p = sub.add_parser(
        "discover",
        help="find subtypes: consensus clustering (PAM + Pearson) of a features table, "
             "optionally of autoencoder codes, with purity, IGP and plots",
        description="Subtype discovery (Wu et al. 2021). Rows of the features CSV are items with "
                    "an ID column; other numeric columns are features (metadata such as Image, "
                    "Mask, Modality, CancerType, error and diag_* columns are ignored; rows with "
                    "an error are excluded).")
    p.add_argument("--features", required=True, help="discovery features CSV")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--validation", default=None,
                   help="validation features CSV (same feature columns): IGP of the discovery "
                        "subtypes, and validation classes by nearest centroid")
    p.add_argument("--encode", action="store_true",
                   help="fit the autoencoder on the discovery set and cluster its codes "
                        "(the paper's pipeline); saved in OUT/encoder/")
    g = p.add_argument_group("consensus clustering")
    g.add_argument("--k-min", type=int, default=2)
    g.add_argument("--k-max", type=int, default=10)
    g.add_argument("--reps", type=int, default=10000, help="resamplings (paper: 10,000)")
    g.add_argument("--p-item", type=float, default=0.8, help="fraction of items per resampling")
    g.add_argument("--seed", type=int, default=None,
                   help="random seed (default: drawn and recorded in summary.json)")
    g.add_argument("--r-compatible", action="store_true",
                   help="reproduce R ConsensusClusterPlus's resamplings and PAM exactly (slow)")
    g.add_argument("--n-jobs", type=int, default=1,
                   help="threads for consensus clustering and the autoencoder (-1: all cores)")
    g.add_argument("--k", type=int, default=None,
                   help="k used for purity, differential features and the heatmap "
                        "(default: the suggested k)")
    g.add_argument("--k-selection", choices=["cdf", "pac"], default="cdf",
                   help="rule for the suggested k: cdf = Monti's consensus-CDF (delta-area) elbow, "
                        "the paper's rule (default); pac = lowest PAC (Senbabaoglu et al. 2014)")
    g = p.add_argument_group("feature preparation")
    g.add_argument("--no-scale", action="store_true",
                   help="do not divide features by their standard deviation (only centre and "
                        "impute); codes of --encode are never rescaled")
    g.add_argument("--max-missing", type=float, default=0.2,
                   help="drop a feature missing in more than this fraction of discovery rows; "
                        "otherwise impute the discovery median (default 0.2)")
    g = p.add_argument_group("autoencoder (--encode)")
    g.add_argument("--code-dim", type=int, default=10, help="code size (paper: 10)")
    g.add_argument("--ae-epochs", type=int, default=500, help="maximum epochs")
    g.add_argument("--ae-patience", type=int, default=20, help="early-stopping patience")
    g.add_argument("--ae-batch-size", type=int, default=32)
    g.add_argument("--ae-hidden", type=int, nargs="*", default=[],
                   help="widths of extra hidden layers around the code, e.g. --ae-hidden 64 "
                        "(default none: the paper's 313 -> 10 -> 313)")
    g.add_argument("--code-activation", choices=["relu", "linear"], default="relu",
                   help="activation of the code layer (default relu, the paper's; linear "
                        "avoids all-zero codes)")
    g = p.add_argument_group("validation statistics")
    g.add_argument("--purity-repeats", type=int, default=10,
                   help="repeats of 5-fold cross-validation for cluster purity (0: skip)")
    g.add_argument("--purity-reps", type=int, default=None,
                   help="resamplings of each purity clustering (fast mode; default: min(reps, 1000))")
    g.add_argument("--igp-permutations", type=int, default=1000,
                   help="permutations of clusterRepro's IGP p-value")
    g.add_argument("--cancer-type-column", default="CancerType",
                   help="metadata column for Cramér's V between subtype and cancer type")
    g.add_argument("--differential-method", choices=["mannwhitney", "welch"],
                   default="mannwhitney")
    g.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.set_defaults(func=run)


def run(args):
    try:
        return _run(args)
    except ValueError as exc:
        from ..errors import PanCancerSubtypeError

        if isinstance(exc, PanCancerSubtypeError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args):
    import time

    import numpy as np
    import pandas as pd

    from .. import __version__
    from ..files import write_json
    from ..consensus import ConsensusClustering
    from ..encoder import Autoencoder
    from ..preprocessing import FeaturePreparer
    from ..tables import read_feature_table
    from ..validation import (centroids_from_labels, cluster_purity, cluster_repro,
                              consensus_cluster_fn, cramers_v, differential_features,
                              assign_to_centroids)

    out = args.out
    os.makedirs(out, exist_ok=True)
    say = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    timings = {}
    t_start = time.perf_counter()

    feats, meta, notes = read_feature_table(args.features)
    if notes["excluded"]:
        say(f"excluded {len(notes['excluded'])} row(s) with an error: "
            f"{list(notes['excluded'])[:10]}")
        pd.DataFrame({"ID": list(notes["excluded"]), "error": list(notes["excluded"].values())}
                     ).to_csv(os.path.join(out, "excluded.csv"), index=False)
    if notes["ignored_columns"]:
        say(f"ignored {len(notes['ignored_columns'])} non-feature column(s): "
            f"{list(notes['ignored_columns'])[:10]}")
    val = None
    if args.validation:
        vfeats, vmeta, vnotes = read_feature_table(args.validation)
        if vnotes["excluded"]:
            say(f"validation: excluded {len(vnotes['excluded'])} row(s) with an error")
        val = vfeats

    # -- preparation (fit on discovery only) -----------------------------------------------------
    prep = FeaturePreparer(max_missing=args.max_missing, scale=not args.no_scale)
    Xd = prep.fit_transform(feats)
    prep.report().to_csv(os.path.join(out, "feature_preparation.csv"), index=False)
    if prep.dropped_:
        say(f"dropped {len(prep.dropped_)} feature column(s): "
            + ", ".join(f"{c} ({r})" for c, r in list(prep.dropped_.items())[:10]))
    Xv = prep.transform(val, source=args.validation) if val is not None else None

    summary = {"version": __version__, "features": os.path.abspath(args.features),
               "validation": os.path.abspath(args.validation) if args.validation else None,
               "n_items": int(Xd.shape[0]), "n_features_in": int(feats.shape[1]),
               "n_features_used": int(Xd.shape[1]), "dropped_features": prep.dropped_,
               "imputed_features": prep.imputed_, "excluded_rows": notes["excluded"],
               "ignored_columns": notes["ignored_columns"], "encode": bool(args.encode)}

    # -- optional autoencoder ---------------------------------------------------------------------
    t0 = time.perf_counter()
    if args.encode:
        enc_seed = 0 if args.seed is None else int(args.seed)
        ae = Autoencoder(n_components=args.code_dim, max_epochs=args.ae_epochs,
                         patience=args.ae_patience, batch_size=args.ae_batch_size, seed=enc_seed,
                         code_activation=args.code_activation,
                         n_threads=args.n_jobs if args.n_jobs and args.n_jobs > 0 else None,
                         hidden_layers=tuple(args.ae_hidden or ()))
        ae.fit(Xd)
        enc_dir = os.path.join(out, "encoder")
        prep.save(enc_dir)
        ae.save(enc_dir)
        rep = ae.reconstruction_report(Xd, Xv)
        rep.to_csv(os.path.join(out, "reconstruction.csv"))
        cols = [f"code_{i + 1}" for i in range(args.code_dim)]
        Z = pd.DataFrame(ae.transform(Xd), index=Xd.index, columns=cols)
        Zv = (pd.DataFrame(ae.transform(Xv), index=Xv.index, columns=cols)
              if Xv is not None else None)
        Z.to_csv(os.path.join(out, "codes.csv"))
        if Zv is not None:
            Zv.to_csv(os.path.join(out, "validation_codes.csv"))
        dead = [c for c in cols if float(Z[c].max()) == 0.0]
        summary["autoencoder"] = {"epochs": ae.n_epochs_, "best_epoch": ae.best_epoch_,
                                  "seed": enc_seed, "inactive_code_units": dead,
                                  "reconstruction_mse": rep.to_dict(orient="index")}
        flat = [str(i) for i, row in zip(Z.index, Z.to_numpy()) if np.ptp(row) == 0]
        if flat:
            raise ValueError(
                f"the autoencoder code is constant (e.g. all zero after the ReLU) for "
                f"{len(flat)} item(s) ({flat[:10]}), so their Pearson correlation is undefined; "
                f"use --code-activation linear, a larger --code-dim, or cluster the "
                f"features without --encode")
        if dead:
            say(f"autoencoder: {len(dead)} code unit(s) are zero for every item (dead ReLU): "
                f"{dead}")
        say(f"autoencoder: {ae.n_epochs_} epochs (best {ae.best_epoch_}); reconstruction MSE "
            f"{rep.loc['autoencoder', 'train_mse']:.4f} (PCA {rep.loc['pca', 'train_mse']:.4f})")
        timings["autoencoder"] = time.perf_counter() - t0
    else:
        Z, Zv = Xd, Xv

    # -- consensus clustering -------------------------------------------------------------------
    cc = ConsensusClustering(k_min=args.k_min, k_max=args.k_max, reps=args.reps,
                             p_item=args.p_item, seed=args.seed, n_jobs=args.n_jobs,
                             r_compatible=args.r_compatible, k_selection=args.k_selection)
    t0 = time.perf_counter()
    cc.fit(Z)
    timings["consensus"] = time.perf_counter() - t0
    ks = sorted(cc.results_)
    classes = pd.DataFrame({f"k{k}": cc.results_[k].classes for k in ks}, index=Z.index)
    classes.index.name = "ID"
    classes.to_csv(os.path.join(out, "classes.csv"))
    cc.per_k_.to_csv(os.path.join(out, "per_k.csv"), index=False)
    ids = np.asarray([str(i) for i in Z.index])
    cons_rows = []
    for k in ks:
        r = cc.results_[k]
        np.savez_compressed(os.path.join(out, f"consensus_k{k}.npz"), consensus=r.consensus,
                            classes=r.classes, ids=ids, cdf=r.cdf,
                            item_consensus=r.item_consensus,
                            cluster_consensus=r.cluster_consensus)
        for c in range(k):
            cons_rows.append((k, c + 1, int(r.cluster_sizes[c]), r.cluster_consensus[c]))
    pd.DataFrame(cons_rows, columns=["k", "cluster", "size", "cluster_consensus"]).to_csv(
        os.path.join(out, "cluster_consensus.csv"), index=False)
    kinfo = {"k": int(cc.suggested_k_), "rule": cc.k_rule_}
    for extra in ("k_pac_", "k_delta_area_", "structure_", "structure_strength_"):
        if hasattr(cc, extra):
            kinfo[extra.rstrip("_")] = getattr(cc, extra)
    write_json(os.path.join(out, "suggested_k.json"), kinfo)
    k_sel = int(args.k) if args.k is not None else int(cc.suggested_k_)
    if k_sel not in cc.results_:
        raise ValueError(f"--k {k_sel} is outside k_min..k_max ({ks[0]}..{ks[-1]})")
    labels = cc.results_[k_sel].classes
    summary.update({"seed": getattr(cc, "seed_", args.seed), "k_range": [ks[0], ks[-1]],
                    "reps": args.reps, "p_item": args.p_item, "r_compatible": args.r_compatible,
                    "suggested_k": kinfo, "chosen_k": k_sel,
                    "consensus_seconds": getattr(cc, "fit_seconds_", None)})
    say(f"suggested k = {cc.suggested_k_}: {cc.k_rule_}")

    # -- plots ----------------------------------------------------------------------------------
    if not args.no_plots:
        from ..plots import cdf_plot, consensus_heatmap, delta_area_plot

        consensus_heatmap(cc.results_[k_sel].consensus, labels, k=k_sel,
                          path=os.path.join(out, f"consensus_k{k_sel}.png"))
        cdf_plot({k: cc.results_[k].cdf for k in ks}, path=os.path.join(out, "cdf.png"))
        delta_area_plot(cc.per_k_, suggested_k=cc.suggested_k_,
                        path=os.path.join(out, "delta_area.png"))

    # -- differential features and Cramér's V ---------------------------------------------------
    raw = feats[prep.columns_out_]
    differential_features(raw, labels, method=args.differential_method).to_csv(
        os.path.join(out, f"differential_k{k_sel}.csv"), index=False)
    ct_col = args.cancer_type_column
    if ct_col and ct_col in meta.columns and meta[ct_col].notna().any():
        rows = []
        for k in ks:
            try:
                cv = cramers_v(cc.results_[k].classes, meta[ct_col].to_numpy())
            except ValueError as exc:
                say(f"Cramér's V at k={k}: {exc}")
                continue
            rows.append((k, cv.v, cv.chi2, cv.dof, cv.p_value, cv.n))
            if k == k_sel:
                cv.table.rename_axis(index=f"subtype_k{k}", columns=ct_col).to_csv(
                    os.path.join(out, f"crosstab_k{k}.csv"))
        pd.DataFrame(rows, columns=["k", "cramers_v", "chi2", "dof", "p_value", "n"]).to_csv(
            os.path.join(out, "cramers_v.csv"), index=False)

    # -- IGP on the validation set ---------------------------------------------------------------
    if Zv is not None:
        t0 = time.perf_counter()
        rows, vclasses = [], {}
        for k in ks:
            cen = centroids_from_labels(Z, cc.results_[k].classes)
            res = cluster_repro(Zv, cen, n_perm=args.igp_permutations,
                                seed=None if args.seed is None else int(args.seed) + k)
            for c, r in res.iterrows():
                rows.append((k, c, r["igp"], int(r["size"]), r["p_value"], int(r["n_null"])))
            vclasses[f"k{k}"] = np.asarray(cen.index)[assign_to_centroids(Zv, cen)]
        pd.DataFrame(rows, columns=["k", "cluster", "igp", "size", "p_value", "n_null"]).to_csv(
            os.path.join(out, "igp.csv"), index=False)
        vc = pd.DataFrame(vclasses, index=Zv.index)
        vc.index.name = "ID"
        vc.to_csv(os.path.join(out, "validation_classes.csv"))
        timings["igp"] = time.perf_counter() - t0

    # -- purity ----------------------------------------------------------------------------------
    if args.purity_repeats > 0:
        t0 = time.perf_counter()
        preps = args.purity_reps if args.purity_reps else min(args.reps, 1000)
        pseed = 0 if args.seed is None else int(args.seed)
        fn = consensus_cluster_fn(k_sel, reps=preps, p_item=args.p_item, seed=pseed,
                                  n_jobs=args.n_jobs)
        pur = cluster_purity(Z.to_numpy(), fn, full_labels=labels, n_splits=5,
                             n_repeats=args.purity_repeats, seed=pseed)
        df = pur.per_repeat.copy()
        df.insert(0, "k", k_sel)
        df.to_csv(os.path.join(out, "purity.csv"), index=False)
        summary["purity"] = {"k": k_sel, "mean": pur.mean, "std": pur.std,
                             "repeats": args.purity_repeats, "reps_per_clustering": preps,
                             "per_cluster": {str(k): v for k, v in pur.per_cluster.items()}}
        timings["purity"] = time.perf_counter() - t0
        say(f"purity (k={k_sel}, {args.purity_repeats} x 5-fold): {pur.mean:.3f} "
            f"+/- {pur.std:.3f}")

    timings["total"] = time.perf_counter() - t_start
    summary["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    write_json(os.path.join(out, "summary.json"), summary)
    print(os.path.abspath(out))
    return 0
