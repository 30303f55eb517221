"""The XGBoost subtype classifier (see :mod:`PanCancerSubtypeLib.classifier` for the overview)."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ..files import to_jsonable, utc_timestamp
from ..preprocessing import FeaturePreparer, check_fitted, check_unique_columns
from .calibration import CALIBRATION_METHODS, Calibration
from .metrics import fold_metrics, mean_sd, reliability_table
from .novelty import NoveltyDetector

log = logging.getLogger(__name__)

PREDICTION_COLUMN = "predicted_subtype"


def label_to_json(v: Any) -> Any:
    """A class label as a plain JSON value (bool, int, float or str)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def as_feature_frame(X: Any) -> pd.DataFrame:
    """DataFrame view of X with text column names; arrays get column names ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        df = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D (samples x features), got shape {arr.shape}")
        df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    cols = check_unique_columns(df, "the feature table")
    if list(df.columns) != cols:
        df = df.copy()
        df.columns = cols
    return df


def xgboost_module():
    """``import xgboost`` with a clear message when it is missing."""
    try:
        import xgboost
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("the subtype classifier needs XGBoost: pip install xgboost-cpu") from exc
    return xgboost


class SubtypeClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost subtype classifier on the original feature table (see the module docstring).

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, subsample, colsample_bytree, min_child_weight,
    reg_lambda : XGBoost parameters (boosting rounds, tree depth, shrinkage, row and column
        subsampling per tree, minimum hessian per leaf, L2 penalty).
    max_bin : histogram bins per feature (``tree_method="hist"``).  64 rather than XGBoost's 256:
        2.7x less CPU time at 1,682 x 313, and with a few thousand samples 64 quantile bins
        (~26 samples each) lose nothing measurable (CV log-loss 1.398 vs 1.387, accuracy 0.360 vs
        0.357 on the benchmark data).  Use 256 for large cohorts.
    calibration : ``None``, ``"sigmoid"``, ``"isotonic"`` or ``"temperature"``.
    calibration_cv : folds of the cross-fitting that produces the calibration data.
    cv_folds, cv_repeats : stratified k-fold cross-validation run by :meth:`fit` (``cv_folds=0``
        skips it).  Folds are reduced (with a warning) when a class has fewer samples.
    impute : ``None`` (XGBoost's native missing values), ``"median"`` or ``"mean"``.
    drop_constant : drop constant / all-missing columns (default: keep, they are never split on).
    random_state : seed of XGBoost's subsampling and of the CV / calibration splits.
    n_jobs : XGBoost threads (1 by default: more threads were slower on 2 shared cores).
    novelty : fit an out-of-distribution detector on the training features
        (:class:`~.novelty.NoveltyDetector`); ``predict_frame`` then adds ``novelty_score`` (> 1:
        beyond the training threshold), ``novelty_family`` and ``novel`` to every prediction.
    novelty_quantile : the training quantile of out-of-fold novelty scores used as threshold.
    xgb_params : extra keyword arguments for ``xgboost.XGBClassifier`` (override the above).

    Attributes (after fit)
    ----------------------
    classes_ : the labels, sorted; column k of :meth:`predict_proba` is ``classes_[k]``.
    feature_names_in_ : the feature columns, in model order.
    class_counts_ : training samples per class.
    cv_report_ : cross-validated metrics (JSON-ready dict), ``{}`` when skipped.
    preprocessing_ : the fitted preprocessing policy (``FeaturePreparer.summary()``); the full
        state is ``preprocessor_`` and is stored in ``preprocessing.json``.
    importances_ : DataFrame (features x ``gain, total_gain, weight, shap_mean_abs,
        shap_<class>...``); gains and SHAP means on the training data; ``gain``-type columns
        normalised to sum 1.
    booster_ : the fitted ``xgboost.Booster``.
    """

    def __init__(self, n_estimators: int = 200, max_depth: int = 3, learning_rate: float = 0.1,
                 subsample: float = 0.8, colsample_bytree: float = 0.5,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0, max_bin: int = 64,
                 calibration: Optional[str] = None, calibration_cv: int = 5,
                 cv_folds: int = 5, cv_repeats: int = 1, impute: Optional[str] = None,
                 drop_constant: bool = False, random_state: int = 0, n_jobs: int = 1,
                 xgb_params: Optional[Dict[str, Any]] = None, novelty: bool = True,
                 novelty_quantile: float = 0.975):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.calibration = calibration
        self.calibration_cv = calibration_cv
        self.cv_folds = cv_folds
        self.cv_repeats = cv_repeats
        self.impute = impute
        self.drop_constant = drop_constant
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.xgb_params = xgb_params
        self.novelty = novelty
        self.novelty_quantile = novelty_quantile

    # -- parameters --------------------------------------------------------------------------

    def xgb_params_for(self, n_classes: int) -> Dict[str, Any]:
        p: Dict[str, Any] = dict(
            n_estimators=int(self.n_estimators), max_depth=int(self.max_depth),
            learning_rate=float(self.learning_rate), subsample=float(self.subsample),
            colsample_bytree=float(self.colsample_bytree),
            min_child_weight=float(self.min_child_weight), reg_lambda=float(self.reg_lambda),
            tree_method="hist", max_bin=int(self.max_bin), n_jobs=int(self.n_jobs),
            random_state=int(self.random_state),
            missing=np.nan)
        if n_classes > 2:
            p.update(objective="multi:softprob", eval_metric="mlogloss")
        else:
            p.update(objective="binary:logistic", eval_metric="logloss")
        p.update(self.xgb_params or {})
        return p

    def _check_params(self) -> None:
        if self.calibration not in (None,) + CALIBRATION_METHODS:
            raise ValueError(f"calibration must be None or one of {CALIBRATION_METHODS}, "
                             f"got {self.calibration!r}")
        if int(self.cv_folds) == 1 or int(self.cv_folds) < 0:
            raise ValueError("cv_folds must be 0 (no cross-validation) or >= 2")
        if int(self.cv_repeats) < 1:
            raise ValueError("cv_repeats must be >= 1")

    # -- fitting -----------------------------------------------------------------------------

    @staticmethod
    def _encode_labels(y: Any) -> Tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError("y (the subtype labels, one per row of X) is required")
        if isinstance(y, pd.DataFrame):
            y = y.to_numpy(dtype=object)
        arr = np.asarray(y.to_numpy(dtype=object) if isinstance(y, pd.Series) else y,
                         dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]                     # a column of labels
        if arr.ndim != 1:
            raise ValueError(f"y must hold one label per row of X, got shape {arr.shape}")
        floats = [v for v in arr if isinstance(v, (float, np.floating))]
        if len(floats) == len(arr) and len(arr) and any(
                np.isfinite(v) and not float(v).is_integer() for v in floats) and \
                len(set(floats)) > max(10, len(arr) // 2):
            raise ValueError(f"y looks continuous ({len(set(floats))} distinct non-integer "
                             f"numbers in {len(arr)} rows): SubtypeClassifier needs subtype "
                             f"labels (e.g. the cluster of each patient), not a measurement")
        ys = pd.Series(arr)
        if ys.isna().any():
            raise ValueError(f"{int(ys.isna().sum())} missing label(s) in y")
        vals = ys.to_numpy()
        try:
            kinds = {type(label_to_json(v)) for v in vals}
            if len(kinds) > 1:
                raise TypeError
            arr = np.asarray([label_to_json(v) for v in vals])
            classes, y_enc = np.unique(arr, return_inverse=True)
        except TypeError:
            arr = np.asarray([str(v) for v in vals])
            classes, y_enc = np.unique(arr, return_inverse=True)
        return classes, y_enc.astype(np.int64)

    def _fit_core(self, df: pd.DataFrame, y_enc: np.ndarray, K: int,
                  source: Optional[str] = None):
        """Fit preprocessing + booster (+ calibration) on one training set."""
        xgb = xgboost_module()
        pre = FeaturePreparer(impute=self.impute, center=False, scale=False, max_missing=1.0,
                              drop_constant=self.drop_constant, output="numpy").fit(df, source=source)
        X = pre.transform(df, strict=False, source=source)
        params = self.xgb_params_for(K)
        calib = None
        if self.calibration is None:
            model = xgb.XGBClassifier(**params).fit(X, y_enc)
        else:
            from sklearn.calibration import CalibratedClassifierCV
            from sklearn.model_selection import StratifiedKFold

            counts = np.bincount(y_enc, minlength=K)
            if counts.min() < int(self.calibration_cv):
                raise ValueError(
                    f"calibration with {self.calibration_cv}-fold cross-fitting needs at least "
                    f"{self.calibration_cv} samples per class (smallest class: {counts.min()})")
            cv = StratifiedKFold(int(self.calibration_cv), shuffle=True,
                                 random_state=int(self.random_state))
            cc = CalibratedClassifierCV(xgb.XGBClassifier(**params), method=self.calibration,
                                        cv=cv, ensemble=False).fit(X, y_enc)
            model = cc.calibrated_classifiers_[0].estimator
            calib = Calibration.from_sklearn(cc, K)
            self._last_sklearn_calibrated = cc     # kept in memory only (tests compare with it)
        return pre, model.get_booster(), calib

    def fit(self, X: Any, y: Any, source: Optional[str] = None) -> "SubtypeClassifier":
        """Fit on a feature table (DataFrame or array) and labels of any type.

        Runs the cross-validation first (unless ``cv_folds=0``), then fits the final model on
        all samples.  ``source`` names the feature file in error messages.
        """
        self._check_params()
        df = as_feature_frame(X)
        classes, y_enc = self._encode_labels(y)
        if len(y_enc) != len(df):
            raise ValueError(f"X has {len(df)} rows but y has {len(y_enc)} labels")
        K = len(classes)
        if K < 2:
            raise ValueError(f"need at least 2 classes to train a classifier, got "
                             f"{np.asarray(classes).tolist()}")
        self.classes_ = classes
        self.n_classes_ = K
        self.class_counts_ = {label_to_json(c): int(n)
                              for c, n in zip(classes, np.bincount(y_enc, minlength=K))}
        self.cv_report_ = self._cross_validate(df, y_enc, K, source) if self.cv_folds else {}
        pre, booster, calib = self._fit_core(df, y_enc, K, source)
        self.restore_state(pre, booster, calib)
        self.n_samples_ = int(len(df))
        self.trained_at_ = utc_timestamp()       # (SOURCE_DATE_EPOCH when set)
        X_pre = pre.transform(df, strict=False, source=source)
        self.importances_ = self._importances(X_pre)
        self.novelty_ = self._fit_novelty(df, source)
        return self

    def _fit_novelty(self, df: pd.DataFrame, source: Optional[str]):
        if not self.novelty:
            return None
        if len(df) < 10:
            log.warning("no novelty detector: it needs at least 10 training samples, got %d",
                        len(df))
            return None
        return NoveltyDetector(quantile=self.novelty_quantile, seed=int(self.random_state)).fit(
            df[list(self.preprocessor_.columns_out_)], source=source)

    def restore_state(self, pre: FeaturePreparer, booster: Any, calib: Optional[Calibration]):
        self.preprocessor_ = pre
        self.booster_ = booster
        self.calibration_ = calib
        self.feature_names_in_ = np.asarray(pre.columns_out_, dtype=object)
        self.n_features_in_ = len(pre.columns_out_)
        self.preprocessing_ = pre.summary()

    def _cross_validate(self, df: pd.DataFrame, y_enc: np.ndarray, K: int,
                        source: Optional[str]) -> Dict[str, Any]:
        from sklearn.model_selection import RepeatedStratifiedKFold

        counts = np.bincount(y_enc, minlength=K)
        folds = min(int(self.cv_folds), int(counts.min()))
        if folds < 2:
            msg = (f"cross-validation skipped: smallest class has {counts.min()} sample(s)")
            log.warning(msg)
            return {"skipped": msg}
        if folds < int(self.cv_folds):
            log.warning("cross-validation reduced to %d folds: smallest class has %d samples",
                        folds, counts.min())
        repeats = int(self.cv_repeats)
        splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats,
                                           random_state=int(self.random_state))
        n = len(y_enc)
        oof = np.full((repeats, n, K), np.nan)
        fold_rows = []
        for i, (tr, te) in enumerate(splitter.split(np.zeros(n), y_enc)):
            r = i // folds
            pre, booster, calib = self._fit_core(df.iloc[tr], y_enc[tr], K, source)
            P = self._proba_from(pre, booster, calib, df.iloc[te], strict=False, source=source)
            oof[r, te] = P
            m = fold_metrics(y_enc[te], P, K)
            m.update(repeat=r, fold=i % folds)
            fold_rows.append(m)
        labels = [label_to_json(c) for c in self.classes_]
        keys = [str(c) for c in labels]
        cm = np.zeros((K, K), dtype=np.int64)
        pooled = []
        for r in range(repeats):
            pred = oof[r].argmax(axis=1)
            np.add.at(cm, (y_enc, pred), 1)
            pooled.append(fold_metrics(y_enc, oof[r], K))
        rep: Dict[str, Any] = {
            "scheme": f"stratified {folds}-fold x {repeats} repeat(s)",
            "n_folds": folds, "n_repeats": repeats, "seed": int(self.random_state),
            "n_samples": int(n), "classes": labels,
            "calibration": self.calibration,
            "accuracy": mean_sd([f["accuracy"] for f in fold_rows]),
            "balanced_accuracy": mean_sd([f["balanced_accuracy"] for f in fold_rows]),
            "macro_auc": mean_sd([f["macro_auc"] for f in fold_rows]),
            "auc_per_class": {keys[k]: mean_sd([f["auc"][k] for f in fold_rows])
                              for k in range(K)},
            "log_loss": mean_sd([f["log_loss"] for f in fold_rows]),
            "brier": mean_sd([f["brier"] for f in fold_rows]),
            "pooled_out_of_fold": {
                "accuracy": mean_sd([p["accuracy"] for p in pooled]),
                "balanced_accuracy": mean_sd([p["balanced_accuracy"] for p in pooled]),
                "macro_auc": mean_sd([p["macro_auc"] for p in pooled]),
                "auc_per_class": {keys[k]: mean_sd([p["auc"][k] for p in pooled])
                                  for k in range(K)},
            },
            "reliability": reliability_table(y_enc, oof),
            "confusion_matrix": {
                "labels": labels,
                "rows": "true class", "columns": "predicted class",
                "note": "out-of-fold predictions, summed over repeats",
                "counts": cm.tolist(),
            },
            "folds": [{k: v for k, v in f.items()} for f in fold_rows],
        }
        return to_jsonable(rep)

    # -- prediction --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        check_fitted(self, "booster_", "fit() or load_bundle()")

    def _raw_proba(self, booster: Any, X: np.ndarray, K: int) -> np.ndarray:
        if X.shape[0] == 0:
            return np.empty((0, K), dtype=np.float32)
        # inplace_predict: same trees and numbers as predict(DMatrix), without building a DMatrix
        out = booster.inplace_predict(X, missing=np.nan, validate_features=False)
        if K == 2:
            out = np.asarray(out).reshape(-1)
            return np.column_stack([1.0 - out, out])
        return np.asarray(out).reshape(-1, K)

    def _proba_from(self, pre, booster, calib, df, strict=True, source=None) -> np.ndarray:
        X = pre.transform(df, strict=strict, source=source)
        K = self.n_classes_
        raw = self._raw_proba(booster, X, K)
        if calib is not None:
            return calib.apply(raw)
        P = raw.astype(np.float64)
        return P / P.sum(axis=1, keepdims=True) if len(P) else P

    def predict_proba(self, X: Any, strict: bool = True,
                      source: Optional[str] = None) -> np.ndarray:
        """Class probabilities (n x K, rows sum to 1), columns in the order of ``classes_``.

        Columns are matched by name (metadata / ``diag_*`` columns ignored); ``strict=False``
        also ignores unknown extra feature columns.
        """
        self._check_fitted()
        return self._proba_from(self.preprocessor_, self.booster_, self.calibration_,
                                as_feature_frame(X), strict=strict, source=source)

    def predict(self, X: Any, strict: bool = True, source: Optional[str] = None) -> np.ndarray:
        """Most probable class label per row (labels as given at fit)."""
        P = self.predict_proba(X, strict=strict, source=source)
        return self.classes_[P.argmax(axis=1)]

    def predict_frame(self, X: pd.DataFrame, id_column: str = "ID", strict: bool = True,
                      source: Optional[str] = None) -> pd.DataFrame:
        """Prediction table: ``ID`` (when present), ``predicted_subtype``, ``prob_<class>``.

        Rows whose ``error`` column is non-empty (failed feature extraction) get no prediction;
        their message is carried into an ``error`` column.
        """
        self._check_fitted()
        df = as_feature_frame(X)
        out = pd.DataFrame(index=df.index)
        if id_column in df.columns:
            out[id_column] = df[id_column].to_numpy()
        bad = np.zeros(len(df), dtype=bool)
        why = np.full(len(df), "", dtype=object)
        if "error" in df.columns:
            err = df["error"].fillna("").astype(str).str.strip()
            bad = (err != "").to_numpy()
            why[bad] = err[bad].to_numpy()
            if bad.any():
                log.warning("%d row(s) with a feature-extraction error get no prediction",
                            int(bad.sum()))
        # a row without a single value of the model's features carries nothing to classify by:
        # no prediction (XGBoost would give it the default branch's subtype)
        known = [c for c in self.feature_names_in_ if c in df.columns]
        if known:
            vals = df[known].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
            empty = ~np.isfinite(vals).any(axis=1) & ~bad
            if empty.any():
                bad = bad | empty
                why[empty] = "no value of the model's features"
                log.warning("%d row(s) without any feature value get no prediction",
                            int(empty.sum()))
        K = self.n_classes_
        P = np.full((len(df), K), np.nan)
        if (~bad).any():
            P[~bad] = self.predict_proba(df.loc[~bad], strict=strict, source=source)
        else:  # still validate the columns
            self.preprocessor_.transform(df.iloc[:0], strict=strict, source=source)
        pred = np.full(len(df), None, dtype=object)
        pred[~bad] = self.classes_[P[~bad].argmax(axis=1)]
        out[PREDICTION_COLUMN] = pred
        for k, c in enumerate(self.classes_):
            out[f"prob_{c}"] = P[:, k]
        nov = getattr(self, "novelty_", None)
        if nov is not None:
            score = np.full(len(df), np.nan)
            family = np.full(len(df), None, dtype=object)
            novel = np.full(len(df), None, dtype=object)
            if (~bad).any():
                flags = nov.flag(df.loc[~bad], source=source)
                score[~bad] = flags["novelty_score"].to_numpy()
                family[~bad] = flags["novelty_family"].to_numpy()
                novel[~bad] = flags["novel"].to_numpy()
                if flags["novel"].any():
                    log.warning("%d row(s) lie outside the training cohort (novelty score > 1); "
                                "their subtype should not be trusted", int(flags["novel"].sum()))
            out["novelty_score"] = score
            out["novelty_family"] = family
            out["novel"] = novel
        if bad.any():
            out["error"] = np.where(bad, why, "")
        return out.reset_index(drop=True)

    # -- importances -------------------------------------------------------------------------

    def shap_values(self, X: Any, strict: bool = True) -> np.ndarray:
        """TreeSHAP contributions to the margin (log-odds), shape ``(n, K, p + 1)``.

        ``[:, k, j]`` is feature j's contribution to class k's raw score (softmax logit for
        K > 2); the last column is the bias.  Each row of ``[:, k, :]`` sums to class k's margin.
        For a binary model XGBoost has one margin (class 1's log-odds); class 0 gets its negative.
        """
        self._check_fitted()
        X_pre = self.preprocessor_.transform(as_feature_frame(X), strict=strict)
        return self._contribs(X_pre)

    def _contribs(self, X_pre: np.ndarray) -> np.ndarray:
        xgb = xgboost_module()
        c = np.asarray(self.booster_.predict(xgb.DMatrix(X_pre, missing=np.nan),
                                             pred_contribs=True, validate_features=False))
        if self.n_classes_ == 2:
            c = c.reshape(len(X_pre), 1, -1)
            c = np.concatenate([-c, c], axis=1)
        return c

    def predict_margin(self, X: Any, strict: bool = True) -> np.ndarray:
        """Raw scores (n x K) before softmax; binary: ``(-logit, logit)``."""
        self._check_fitted()
        X_pre = self.preprocessor_.transform(as_feature_frame(X), strict=strict)
        m = np.asarray(self.booster_.inplace_predict(X_pre, predict_type="margin",
                                                     missing=np.nan, validate_features=False))
        if self.n_classes_ == 2:
            m = m.reshape(-1)
            return np.column_stack([-m, m])
        return m.reshape(len(X_pre), -1)

    def _importances(self, X_pre: np.ndarray) -> pd.DataFrame:
        cols = list(self.preprocessor_.columns_out_)
        df = pd.DataFrame(index=pd.Index(cols, name="feature"))
        for kind in ("gain", "total_gain", "weight"):
            score = self.booster_.get_score(importance_type=kind)
            v = np.zeros(len(cols))
            for key, val in score.items():
                j = int(key[1:]) if key.startswith("f") and key[1:].isdigit() else cols.index(key)
                v[j] = float(val)
            df[kind] = v / v.sum() if v.sum() > 0 else v
        if len(X_pre):
            c = np.abs(self._contribs(X_pre)[:, :, :-1]).mean(axis=0)    # K x p
            df["shap_mean_abs"] = c.mean(axis=0)
            for k, lab in enumerate(self.classes_):
                df[f"shap_{lab}"] = c[k]
        return df

    def feature_importances(self, kind: str = "gain") -> pd.Series:
        """Importances sorted in decreasing order.

        ``kind``: ``"gain"`` (mean gain per split, XGBoost's default, normalised), ``"total_gain"``,
        ``"weight"`` (number of splits), ``"shap"`` (mean |SHAP| on the training data, averaged
        over classes) or ``"shap_<class>"``.
        """
        self._check_fitted()
        col = "shap_mean_abs" if kind == "shap" else kind
        if col not in self.importances_.columns:
            raise ValueError(f"unknown importance kind {kind!r}; one of "
                             f"{['shap'] + list(self.importances_.columns)}")
        return self.importances_[col].sort_values(ascending=False, kind="stable")
