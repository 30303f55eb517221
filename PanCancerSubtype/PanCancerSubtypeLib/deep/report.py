"""The deep features' section of a report (the demo's): train a small encoder on a cohort, encode
every case, and measure how well the deep features tell labelled groups apart (one-vs-rest LASSO
logistic regression with a nested cross-validated AUC, as the radiogenomics study's LASSO models
of clinical status)."""
from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np
import pandas as pd

#: a small encoder for the demo report, quick on the CPU.  A fixed 64 mm field keeps the tumour's
#: size in the crops (the synthetic archetypes differ in size; an adaptive field would hide it)
DEMO_SETTINGS = dict(crop=32, channels=(8, 16, 32), code_size=256, n_slices=3, epochs=8,
                     batch_size=32, field_mm=64.0, val_fraction=0.0)


def separation_auc(features: pd.DataFrame, labels: pd.Series, seed: int = 0,
                   outer_cv: int = 5) -> pd.DataFrame:
    """For each label, the nested cross-validated AUC of a LASSO logistic regression (label vs
    the rest) on ``features`` (:class:`.signatures.LassoLogisticSignature`), and the number of
    features it selects on all cases."""
    from ..signatures import LassoLogisticSignature

    X = features.loc[:, features.std() > 0]
    rows = []
    for lab in sorted(pd.unique(labels)):
        y = (labels.to_numpy() == lab).astype(int)
        m = LassoLogisticSignature(Cs=10, cv=3, outer_cv=outer_cv, random_state=seed).fit(X, y)
        rows.append({"label": lab, "n": int(y.sum()), "cv_auc": m.cv_auc_,
                     "cv_auc_sd": m.cv_auc_sd_, "n_selected": len(m.selected_features_)})
    return pd.DataFrame(rows)


def report_section(report, manifest: pd.DataFrame, labels: pd.Series, out_dir,
                   settings: Optional[Dict] = None, seed: int = 0, anchor: str = "deep",
                   title: str = "Deep image features (denoising autoencoder)") -> Dict:
    """Add a section to a :class:`~PanCancerSubtypeLib.report.Report`: train a deep encoder
    (``DEMO_SETTINGS`` updated by ``settings``) on ``manifest``'s cases into ``out_dir``, encode
    them, and report the one-vs-rest cross-validated AUC of each label of ``labels`` (a Series
    indexed by ID, e.g. the planted archetypes) and a PCA view.  Returns a summary dict."""
    from matplotlib.figure import Figure

    from .networks import DeepEncoderConfig
    from .training import deep_feature_table, train_deep_encoder

    cfg = DeepEncoderConfig(**{**DEMO_SETTINGS, "seed": seed, "device": "cpu",
                               **(settings or {})})
    t0 = time.perf_counter()
    enc = train_deep_encoder(manifest, out_dir, cfg)
    t_train = time.perf_counter() - t0
    feats = deep_feature_table(manifest, enc)
    feats = feats.dropna().set_index("ID")
    lab = labels.reindex(feats.index)
    auc = separation_auc(feats, lab, seed=seed)
    Z = feats.loc[:, feats.std() > 0].to_numpy()
    Z = (Z - Z.mean(0)) / Z.std(0)
    u, s, _ = np.linalg.svd(Z, full_matrices=False)
    pcs = u[:, :2] * s[:2]
    fig = Figure(figsize=(5, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for i, g in enumerate(sorted(pd.unique(lab))):
        sel = lab.to_numpy() == g
        ax.scatter(pcs[sel, 0], pcs[sel, 1], s=12, color=f"C{i}", label=str(g))
    ax.set_xlabel("PC1 of the deep features")
    ax.set_ylabel("PC2")
    ax.legend(fontsize=7, title=labels.name or "label", title_fontsize=7)
    report.section(anchor, title)
    report.kpis([("deep features", enc.code_size), ("cases", len(feats)),
                 ("training time", f"{t_train:.0f} s on {enc.meta['trained_on']}"),
                 ("mean one-vs-rest CV AUC", f"{auc['cv_auc'].mean():.2f}")])
    report.table(auc.set_index("label"), caption="LASSO logistic regression on the deep "
                                                  "features, each label against the rest: nested "
                                                  "5-fold cross-validated AUC")
    report.figure(fig, f"The cases on the first two principal components of their "
                       f"{enc.code_size} deep features")
    report.text(f"Denoising autoencoder on {cfg.crop}-pixel tumour-centred crops of the "
                f"{cfg.n_slices} largest tumour slices (per-modality normalisation, Gaussian "
                f"noise {cfg.noise_std:g}), {len(enc.meta['history'])} epochs; the features are "
                f"its {enc.code_size}-unit code averaged over the slices.", "note")
    return {"code_size": enc.code_size, "n_cases": int(len(feats)), "train_time_s": t_train,
            "auc": auc.to_dict(orient="records"),
            "mean_auc": float(auc["cv_auc"].mean())}
