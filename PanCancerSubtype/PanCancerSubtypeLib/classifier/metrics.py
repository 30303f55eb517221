"""Cross-validated metrics of the subtype classifier and their text report."""
from __future__ import annotations

import warnings
from typing import Any, Dict, Optional, Sequence

import numpy as np


def fold_metrics(y: np.ndarray, P: np.ndarray, K: int) -> Dict[str, Any]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    pred = P.argmax(axis=1)
    aucs = []
    for k in range(K):
        t = (y == k)
        aucs.append(float(roc_auc_score(t, P[:, k])) if 0 < t.sum() < len(t) else float("nan"))
    Pc = np.clip(P, 1e-15, 1.0)
    onehot = np.eye(K)[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        macro = float(np.nanmean(aucs)) if np.any(np.isfinite(aucs)) else float("nan")
    return {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "auc": aucs,
        "macro_auc": macro,
        "log_loss": float(-np.mean(np.log(Pc[np.arange(len(y)), y]))),
        "brier": float(np.mean(np.sum((P - onehot) ** 2, axis=1))),
    }


def reliability_table(y: np.ndarray, oof: np.ndarray, n_bins: int = 10) -> Dict[str, Any]:
    """Calibration of out-of-fold probabilities (top-label reliability diagram).

    ``oof`` is ``(repeats, n, K)`` out-of-fold probabilities, ``y`` the true classes ``0..K-1``.
    The confidence of a prediction is its largest probability; predictions are binned by
    confidence into ``n_bins`` equal-width bins, and each bin reports its count, mean confidence
    and accuracy (a calibrated model has accuracy = confidence).  ``ece`` (expected calibration
    error) = sum over bins of ``n_b / N * |accuracy_b - confidence_b|``.
    """
    P = np.asarray(oof, dtype=float).reshape(-1, oof.shape[-1])
    yy = np.tile(np.asarray(y), oof.shape[0])
    conf = P.max(axis=1)
    correct = (P.argmax(axis=1) == yy).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    rows, ece = [], 0.0
    for i in range(n_bins):
        m = b == i
        if not m.any():
            continue
        acc, c = float(correct[m].mean()), float(conf[m].mean())
        ece += m.sum() / len(conf) * abs(acc - c)
        rows.append({"bin_low": float(edges[i]), "bin_high": float(edges[i + 1]),
                     "n": int(m.sum()), "confidence": c, "accuracy": acc})
    return {"bins": rows, "ece": float(ece), "n": int(len(conf))}


def mean_sd(values: Sequence[float]) -> Dict[str, Optional[float]]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0}



def format_cv_report(rep: Dict[str, Any]) -> str:
    """Human-readable summary of :attr:`SubtypeClassifier.cv_report_`."""
    if not rep:
        return "cross-validation: not run"
    if "skipped" in rep:
        return rep["skipped"]

    def ms(d):
        if d.get("mean") is None:
            return "n/a"
        return f"{d['mean']:.3f} +- {d['sd']:.3f}"

    lines = [f"cross-validation: {rep['scheme']}, seed {rep['seed']}, n = {rep['n_samples']}"
             + (f", calibration {rep['calibration']}" if rep.get("calibration") else ""),
             "  (mean +- SD over folds)",
             f"  accuracy           {ms(rep['accuracy'])}",
             f"  balanced accuracy  {ms(rep['balanced_accuracy'])}",
             f"  macro AUC (OvR)    {ms(rep['macro_auc'])}",
             f"  log-loss           {ms(rep['log_loss'])}",
             f"  Brier score        {ms(rep['brier'])}"]
    for k, v in rep["auc_per_class"].items():
        lines.append(f"  AUC {k!s:<14} {ms(v)}")
    cm = rep["confusion_matrix"]
    labs = [str(c) for c in cm["labels"]]
    w = max([len(s) for s in labs] + [6])
    lines.append(f"  confusion matrix ({cm['note']}; rows true, columns predicted):")
    lines.append("  " + " " * w + " " + " ".join(f"{s:>{w}}" for s in labs))
    for s, row in zip(labs, cm["counts"]):
        lines.append(f"  {s:>{w}} " + " ".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)

