"""Is a new patient like the training cohort?  An out-of-distribution score for the classifier.

A classifier assigns every patient to some subtype, however unlike the training cohort the
patient is.  :class:`NoveltyDetector` measures how far a patient lies from that cohort, with a
threshold set on the training data, so that a subtype is not reported with confidence where the
model knows nothing.

Score
    The features are prepared as for discovery (:class:`~PanCancerSubtypeLib.preprocessing.
    FeaturePreparer`: median imputation, z-scores with the training mean and SD); size features
    (the ``shape_burden`` family: volume, radius, FOE scales in mm) are compared on a log scale,
    where sizes are roughly normal.  For every feature family ``f``
    (:func:`~PanCancerSubtypeLib.tables.feature_family`) the patient's Mahalanobis distance to the
    training mean under the Ledoit-Wolf shrinkage covariance of the family's training z-scores,
    divided by ``sqrt(p_f)``, is compared with ``q_f``, its out-of-fold ``quantile`` over the
    training patients: ``r_f = d_f / q_f``.  A patient may be unlike the cohort in one family
    only (a tumour far smaller than any in training, a texture never seen), which one distance
    over all 313 features would dilute, so the score is the largest ratio,
    ``novelty_score = max_f r_f / T``, and ``novelty_family`` names the family that gave it.

Threshold
    ``T`` is the ``quantile`` (default 0.975) of ``max_f r_f`` over the training patients'
    out-of-fold scores (``n_splits``-fold cross-validation: no patient is scored with a
    covariance fitted on it).  So ``novelty_score > 1`` (``novel``) for about ``1 - quantile``
    (2.5%) of new patients from the training population, and a flagged patient lies outside what
    the classifier was trained on: its subtype should not be trusted.

Saved as JSON (the preparer, per family: columns, mean, precision matrix, ``q_f``; ``T``); nothing
is pickled.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..preprocessing import FeaturePreparer, check_fitted
from ..tables import feature_family

NOVELTY_COLUMNS = ("novelty_score", "novelty_family", "novel")
#: families compared on a log scale (positive sizes)
LOG_FAMILIES = ("shape_burden",)


def _log_sizes(X: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in X.columns if feature_family(c) in LOG_FAMILIES]
    if not cols:
        return X
    X = X.copy()
    for c in cols:
        v = pd.to_numeric(X[c], errors="coerce").to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            X[c] = np.where(v > 0, np.log(v), np.nan)
    return X


class _FamilyModel:
    """Per-family Ledoit-Wolf means and precisions on prepared z-scores."""

    def __init__(self, columns: List[str]):
        fams: Dict[str, List[int]] = {}
        for i, c in enumerate(columns):
            fams.setdefault(feature_family(c), []).append(i)
        self.families = fams

    def fit(self, Z: np.ndarray) -> "_FamilyModel":
        from sklearn.covariance import LedoitWolf

        self.params = {}
        for f, idx in self.families.items():
            lw = LedoitWolf().fit(Z[:, idx])
            self.params[f] = (lw.location_, lw.get_precision())
        return self

    def distances(self, Z: np.ndarray) -> pd.DataFrame:
        out = {}
        for f, idx in self.families.items():
            mu, prec = self.params[f]
            d = Z[:, idx] - mu
            out[f] = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, prec, d), 0.0) / len(idx))
        return pd.DataFrame(out)


class NoveltyDetector(BaseEstimator):
    """Out-of-distribution score (see the module docstring).

    Parameters
    ----------
    quantile : training quantile of the out-of-fold scores that sets the thresholds.
    n_splits : folds of the cross-validation that sets them.
    seed : seed of the folds.
    """

    def __init__(self, quantile: float = 0.975, n_splits: int = 5, seed: int = 0):
        self.quantile = quantile
        self.n_splits = n_splits
        self.seed = seed

    @staticmethod
    def _prepare():
        return FeaturePreparer(max_missing=1.0, drop_constant=True, output="numpy")

    def fit(self, X: pd.DataFrame, source: Optional[str] = None) -> "NoveltyDetector":
        """Fit on the training feature table (metadata columns are ignored)."""
        from sklearn.model_selection import KFold

        if not 0.5 <= float(self.quantile) < 1.0:
            raise ValueError(f"quantile must be in [0.5, 1), got {self.quantile}")
        X = _log_sizes(pd.DataFrame(X))
        n = X.shape[0]
        if n < 2 * int(self.n_splits):
            raise ValueError(f"novelty threshold needs at least {2 * self.n_splits} training "
                             f"patients, got {n}")
        self.preparer_ = self._prepare().fit(X, source=source)
        fams = list(_FamilyModel(self.preparer_.columns_out_).families)
        oof = pd.DataFrame(np.nan, index=range(n), columns=fams)
        for tr, te in KFold(int(self.n_splits), shuffle=True,
                            random_state=int(self.seed)).split(X):
            # the fold's own preparation, so a held-out patient is scored like a new one
            prep = self._prepare().fit(X.iloc[tr])
            model = _FamilyModel(prep.columns_out_).fit(prep.transform(X.iloc[tr]))
            d = model.distances(prep.transform(X.iloc[te], strict=False))
            oof.loc[te, d.columns] = d.to_numpy()
        q = float(self.quantile)
        self.family_quantiles_ = {f: float(np.nanquantile(oof[f], q)) for f in fams}
        ratios = oof / pd.Series(self.family_quantiles_)
        self.threshold_ = float(np.quantile(ratios.max(axis=1), q))
        self.oof_scores_ = (ratios.max(axis=1) / self.threshold_).to_numpy()
        self.model_ = _FamilyModel(self.preparer_.columns_out_).fit(self.preparer_.transform(X))
        self.n_train_ = int(n)
        return self

    def flag(self, X: pd.DataFrame, source: Optional[str] = None) -> pd.DataFrame:
        """``novelty_score`` (> 1 beyond the training threshold), ``novelty_family`` (the family
        that gave it) and ``novel`` per row."""
        check_fitted(self, "model_")
        Z = self.preparer_.transform(_log_sizes(pd.DataFrame(X)), strict=False, source=source)
        ratios = self.model_.distances(Z) / pd.Series(self.family_quantiles_)
        score = ratios.max(axis=1).to_numpy() / self.threshold_
        return pd.DataFrame({"novelty_score": score,
                             "novelty_family": ratios.idxmax(axis=1).to_numpy(),
                             "novel": score > 1.0})

    def score(self, X: pd.DataFrame, source: Optional[str] = None) -> np.ndarray:
        return self.flag(X, source=source)["novelty_score"].to_numpy()

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {"class": "NoveltyDetector", "quantile": float(self.quantile),
                "n_splits": int(self.n_splits), "seed": int(self.seed),
                "threshold": self.threshold_, "n_train": self.n_train_,
                "log_families": list(LOG_FAMILIES), "preparer": self.preparer_.to_dict(),
                "families": {f: {"columns": [self.preparer_.columns_out_[i] for i in idx],
                                 "location": self.model_.params[f][0].tolist(),
                                 "precision": self.model_.params[f][1].tolist(),
                                 "quantile": self.family_quantiles_[f]}
                             for f, idx in self.model_.families.items()},
                "oof_scores": self.oof_scores_.tolist()}

    @classmethod
    def from_dict(cls, d: Dict[str, Any], source: Optional[str] = None) -> "NoveltyDetector":
        if d.get("class") != "NoveltyDetector":
            raise ValueError("not a NoveltyDetector description")
        self = cls(quantile=d["quantile"], n_splits=d["n_splits"], seed=d["seed"])
        self.preparer_ = FeaturePreparer.from_dict(d["preparer"], source=source)
        self.model_ = _FamilyModel(self.preparer_.columns_out_)
        if set(self.model_.families) != set(d["families"]):
            raise ValueError("novelty families do not match the preparer's columns")
        self.model_.params, self.family_quantiles_ = {}, {}
        for f, idx in self.model_.families.items():
            e = d["families"][f]
            cols = [self.preparer_.columns_out_[i] for i in idx]
            if e["columns"] != cols:
                raise ValueError(f"novelty family {f!r}: columns differ from the preparer's")
            mu = np.asarray(e["location"], dtype=float)
            prec = np.asarray(e["precision"], dtype=float)
            if mu.shape != (len(idx),) or prec.shape != (len(idx), len(idx)):
                raise ValueError(f"novelty family {f!r}: arrays do not match its columns")
            self.model_.params[f] = (mu, prec)
            self.family_quantiles_[f] = float(e["quantile"])
        self.threshold_ = float(d["threshold"])
        self.n_train_ = int(d["n_train"])
        self.oof_scores_ = np.asarray(d.get("oof_scores", []), dtype=float)
        return self
