"""Cross-cancer feature comparison: cancer-type common (CTC) and cancer-type specific (CTS) features.

As in pan-cancer radiomics studies (e.g. breast cancer and glioblastoma): for every cancer type
separately, each feature is tested univariably against the outcome, p-values are adjusted with
Benjamini-Hochberg within the type, and

* **CTC** features are significant (q < ``fdr``) in *every* type,
* **CTS** features are significant in *exactly one* type (reported with that type).

Then, per type, models built on the CTC features, on that type's CTS features and on both are
compared by
cross-validated performance (C-index for survival, ROC AUC for a binary outcome).

Tests
-----
* survival outcome: univariable Cox model per (standardised) feature, lifelines ``CoxPHFitter``
  (Efron ties), Wald p-value; the effect is the log hazard ratio per SD.
* binary outcome: two-sided Mann-Whitney U test (scipy), effect = AUC - 0.5 of the feature
  (positive = higher in outcome 1).

Models: survival -> lifelines ``CoxPHFitter`` with a small ridge penalty (``penalizer``, default
0.1, so that many correlated features still fit), test-fold Harrell's C; binary -> L2 logistic
regression (scikit-learn) on standardised features, test-fold AUC.  Stratified K-fold (by event /
class), seeded.  The feature *selection* uses all data of the type, so the CV performance of a
selected set is optimistic in absolute terms; it is meant for comparing CTC vs CTS sets on the
same footing, not as an external-validation estimate.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .multitest import adjust_pvalues
from .survival import SurvivalDataError, c_index, survival_times

log = logging.getLogger(__name__)

__all__ = ["CrossCancerResult", "univariable_tests", "cross_cancer_comparison", "cv_performance"]


@dataclass
class CrossCancerResult:
    """``tests``: long table (cancer_type, feature, effect, p, q, significant);
    ``ctc``: features significant in all types; ``cts``: {feature: the one type it is significant
    in}; ``cts_by_type``: {type: [features]}; ``models``: (cancer_type, feature_set, n_features,
    metric, mean, sd); ``kind``: "survival" or "binary"."""
    tests: pd.DataFrame
    ctc: List[str]
    cts: Dict[str, str]
    cts_by_type: Dict[str, List[str]]
    models: pd.DataFrame
    kind: str
    fdr: float


def univariable_tests(X: pd.DataFrame, time=None, event=None, y=None) -> pd.DataFrame:
    """Univariable association of every column of ``X`` with a survival (``time``, ``event``) or
    binary (``y``) outcome.  Returns (feature, effect, p)."""
    rows = []
    if y is not None:
        from scipy.stats import mannwhitneyu
        yv = np.asarray(y).astype(int)
        pos, neg = X.to_numpy(float)[yv == 1], X.to_numpy(float)[yv == 0]
        r = mannwhitneyu(pos, neg, alternative="two-sided", axis=0)
        auc = r.statistic / (len(pos) * len(neg))
        return pd.DataFrame({"feature": list(X.columns), "effect": auc - 0.5, "p": r.pvalue})
    from lifelines import CoxPHFitter
    t = np.asarray(time, float)
    e = np.asarray(event).astype(int)
    for c in X.columns:
        x = X[c].to_numpy(float)
        sd = x.std()
        if sd == 0:
            rows.append({"feature": c, "effect": 0.0, "p": 1.0})
            continue
        d = pd.DataFrame({"x": (x - x.mean()) / sd, "t": t, "e": e})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = CoxPHFitter().fit(d, "t", "e")
            rows.append({"feature": c, "effect": float(f.params_["x"]),
                         "p": float(f.summary.loc["x", "p"])})
        except Exception as exc:  # convergence failure (e.g. perfect separation)
            log.warning("univariable Cox for %s failed: %s", c, exc)
            rows.append({"feature": c, "effect": np.nan, "p": 1.0})
    return pd.DataFrame(rows)


def cv_performance(X: pd.DataFrame, time=None, event=None, y=None, cv: int = 5,
                   seed: Optional[int] = 0, penalizer: float = 0.1) -> Dict[str, float]:
    """Cross-validated C-index (survival) or ROC AUC (binary) of a model on the columns of ``X``.
    Returns {metric, mean, sd, n_folds}."""
    from sklearn.model_selection import KFold, StratifiedKFold

    strat = np.asarray(y if y is not None else event).astype(int)
    n_min = np.bincount(strat, minlength=2).min()
    if y is None and n_min < cv:
        # survival: folds stratified by event only where both have a member per fold; a
        # cohort where (almost) every patient had the event still has its C-index
        k = int(min(cv, len(strat)))
        folds = KFold(k, shuffle=True, random_state=seed)
    else:
        k = int(min(cv, n_min))       # binary: each test fold needs both classes (AUC)
        folds = StratifiedKFold(k, shuffle=True, random_state=seed) if k >= 2 else None
        if 2 <= k < cv:
            log.warning("cross-validation with %d folds instead of %d: the rarer outcome has "
                        "%d patient(s)", k, cv, n_min)
    if X.shape[1] == 0 or k < 2:
        return {"metric": "auc" if y is not None else "c_index", "mean": np.nan, "sd": np.nan,
                "n_folds": 0}
    Xv = X.to_numpy(float)
    scores = []
    for tr, te in folds.split(Xv, strat):
        mu, sd = Xv[tr].mean(0), Xv[tr].std(0)
        sd[sd == 0] = 1.0
        Ztr, Zte = (Xv[tr] - mu) / sd, (Xv[te] - mu) / sd
        if y is not None:
            from sklearn.linear_model import LogisticRegression
            from sklearn.metrics import roc_auc_score
            yv = np.asarray(y).astype(int)
            if len(np.unique(yv[te])) < 2:
                continue
            m = LogisticRegression(C=1.0, max_iter=1000).fit(Ztr, yv[tr])
            scores.append(roc_auc_score(yv[te], m.decision_function(Zte)))
        else:
            from lifelines import CoxPHFitter
            t = np.asarray(time, float)
            e = np.asarray(event).astype(int)
            cols = [f"x{i}" for i in range(Xv.shape[1])]
            d = pd.DataFrame(Ztr, columns=cols)
            d["t"], d["e"] = t[tr], e[tr]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = CoxPHFitter(penalizer=penalizer).fit(d, "t", "e")
            lp = Zte @ m.params_[cols].to_numpy()
            if e[te].sum() == 0:
                continue
            scores.append(c_index(t[te], e[te], lp, n_boot=0)["value"])
    metric = "auc" if y is not None else "c_index"
    if not scores:
        return {"metric": metric, "mean": np.nan, "sd": np.nan, "n_folds": 0}
    return {"metric": metric, "mean": float(np.mean(scores)),
            "sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else np.nan,
            "n_folds": len(scores)}


def cross_cancer_comparison(table: pd.DataFrame, features: Sequence[str], cancer_type: str,
                            time: Optional[str] = None, event: Optional[str] = None,
                            outcome: Optional[str] = None, fdr: float = 0.05,
                            compare_models: bool = True, cv: int = 5, seed: Optional[int] = 0,
                            penalizer: float = 0.1, source: Optional[str] = None
                            ) -> CrossCancerResult:
    """CTC / CTS features of a table with >= 2 cancer types, and CTC-vs-CTS model comparison.

    Give either ``time`` + ``event`` (survival) or ``outcome`` (binary 0/1).  Rows with a missing
    value in the used columns are dropped (logged).  See the module notes for the tests.
    """
    features = list(features)
    surv = outcome is None
    if surv and (time is None or event is None):
        raise SurvivalDataError("give time and event (survival) or outcome (binary)", source)
    if not surv and (time is not None or event is not None):
        raise SurvivalDataError("give time and event (survival) or outcome (binary), not both",
                                source)
    used = features + [cancer_type] + ([time, event] if surv else [outcome])
    missing = [c for c in used if c not in table.columns]
    if missing:
        raise SurvivalDataError(f"column(s) {missing[:10]} not in the table", source)
    df = table[used]
    na = df.isna().any(axis=1)
    if na.any():
        log.warning("%d row(s) with missing values dropped", int(na.sum()))
        df = df.loc[~na]
    types = sorted(df[cancer_type].unique(), key=str)
    if len(types) < 2:
        raise SurvivalDataError(f"need >= 2 cancer types in {cancer_type!r}, found {types}", source)
    outc = [event] if surv else [outcome]
    vals = set(np.unique(df[outc[0]]).tolist())
    if not vals <= {0, 1}:
        raise SurvivalDataError(f"{outc[0]!r} must be 0/1, found {sorted(vals, key=str)[:10]}",
                                source)
    if surv:
        df = df.assign(**{time: survival_times(df[time], source)})
    if not features:
        raise SurvivalDataError("no numeric feature column to test", source)
    tests = []
    for ct in types:
        sub = df[df[cancer_type] == ct]
        o = sub[outc[0]].astype(int)
        few = o.sum() < 2 if surv else min(o.sum(), len(o) - o.sum()) < 2
        if few:
            raise SurvivalDataError(f"cancer type {ct!r}: too few events / positives "
                                    f"({int(o.sum())} of {len(o)})", source)
        r = univariable_tests(sub[features], time=sub[time] if surv else None,
                              event=o if surv else None, y=None if surv else o)
        r["q"] = adjust_pvalues(r["p"].to_numpy(), "bh")
        r["significant"] = r["q"] < fdr
        r.insert(0, "cancer_type", ct)
        r["n"] = len(sub)
        tests.append(r)
    tests = pd.concat(tests, ignore_index=True)
    sig = tests.pivot(index="feature", columns="cancer_type", values="significant").reindex(features)
    n_sig = sig.sum(axis=1)
    ctc = [f for f in features if n_sig[f] == len(types)]
    cts = {f: str(sig.columns[sig.loc[f].to_numpy().astype(bool)][0])
           for f in features if n_sig[f] == 1}
    cts_by_type = {str(ct): [f for f, t in cts.items() if t == str(ct)] for ct in types}
    rows = []
    if compare_models:
        for ct in types:
            sub = df[df[cancer_type] == ct]
            own = cts_by_type[str(ct)]
            for name, fs in (("CTC", ctc), ("CTS", own), ("CTC+CTS", ctc + own)):
                perf = cv_performance(sub[fs], time=sub[time] if surv else None,
                                      event=sub[event] if surv else None,
                                      y=None if surv else sub[outcome], cv=cv, seed=seed,
                                      penalizer=penalizer)
                rows.append({"cancer_type": ct, "feature_set": name, "n_features": len(fs),
                             **perf})
    models = pd.DataFrame(rows, columns=["cancer_type", "feature_set", "n_features", "metric",
                                         "mean", "sd", "n_folds"])
    return CrossCancerResult(tests=tests, ctc=ctc, cts=cts, cts_by_type=cts_by_type,
                             models=models, kind="survival" if surv else "binary", fdr=fdr)
