"""Subtype classifier for new patients, and its model bundle.

As in Wu et al. (Nat Mach Intell 2021), new patients are assigned to the discovered subtypes by a
gradient-boosted tree classifier (XGBoost) trained on the *original* features (the 313
cross-modality features, or any numeric feature table), not on the autoencoder's code.

:class:`SubtypeClassifier` (scikit-learn style: ``fit`` / ``predict`` / ``predict_proba``,
``classes_``, ``feature_names_in_``) does

* **preprocessing**, fixed at fit: the feature columns are the numeric columns of the training
  table, minus metadata (``ID``, ``Image``, ``Mask``, ``Label``, ``Organ``, ``CancerType``,
  ``Modality``, ``error`` and ``diag_*`` columns).  Non-numeric columns are dropped and reported.
  Missing values (NaN, empty CSV cells) are left to XGBoost, which handles them natively: every
  split learns a default direction for missing values.  ``+-inf`` is treated as missing (XGBoost
  rejects it).  Optionally (``impute="median"`` / ``"mean"``) missing values are filled with
  training statistics instead.  Constant columns (one distinct value, or all missing) are kept by
  default (trees never split on them, so they are harmless) and always reported; with
  ``drop_constant=True`` they are removed from the model and ignored at prediction.
* **XGBoost** ``multi:softprob`` (``binary:logistic`` when there are two classes), seeded, with
  defaults suited to cohorts of hundreds to a few thousand patients (depth-3 trees, 200 rounds,
  learning rate 0.1, row subsampling 0.8, column subsampling 0.5, 64 histogram bins) and
  ``n_jobs=1``.
* **labels of any type** (strings, integers) mapped to ``0..K-1`` (sorted, like scikit-learn) and
  back.
* **cross-validated metrics at training** (stratified, repeated k-fold, seeded): accuracy,
  balanced accuracy, one-vs-rest AUC per class, macro AUC, log-loss, Brier score and the
  out-of-fold confusion matrix, in :attr:`SubtypeClassifier.cv_report_`.  Every fold refits the
  whole pipeline (preprocessing, model, calibration) on its training part only.
* **feature importances**: XGBoost gain / total gain / split counts, and SHAP contributions
  (TreeSHAP, ``pred_contribs=True``), mean ``|SHAP|`` per feature and per class.
* **probability calibration** (optional): ``"sigmoid"`` (Platt), ``"isotonic"`` or
  ``"temperature"``, fitted by scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` on
  cross-validated predictions; its fitted parameters are then read out and stored as JSON (per-class
  ``a, b`` for sigmoid, breakpoints for isotonic, the inverse temperature ``beta``) and re-applied
  by this module, so that a saved model never needs pickle.

Model bundle (:func:`save_bundle` / :func:`load_bundle`): one directory holding

=====================  =========================================================================
``model.json``         the booster in XGBoost's own JSON format
``preprocessing.json`` feature columns in order, dropped columns (and why), fill values
``calibration.json``   calibration parameters (only when calibrated)
``metadata.json``      versions (tool, feature registry, XGBoost, Python), columns, classes, class
                       counts, training date, parameters, CV report, importances
``checksums.json``     SHA-256 of every other file
=====================  =========================================================================

Loading never unpickles.  Every checksum is verified before anything is parsed: a tampered or
missing file raises :class:`~PanCancerSubtypeLib.errors.ModelBundleError` naming it.  The checksums
protect against corruption and accidental edits, not against a deliberate forger who also rewrites
``checksums.json``.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
import platform
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from .errors import (FeatureMismatchError, FeatureValueError, LabelTableError,  # noqa: F401 (re-exported)
                     ModelBundleError)
from .features import META_COLUMNS
from .files import read_json, sha256_file, write_json

log = logging.getLogger(__name__)

#: columns never used as features (metadata written by the feature extraction)
IGNORED_COLUMNS = tuple(META_COLUMNS) + ("error",)
#: column-name prefixes never used as features (diagnostics)
IGNORED_PREFIXES = ("diag_",)

BUNDLE_FORMAT = 1
MODEL_FILE = "model.json"
PREPROCESSING_FILE = "preprocessing.json"
CALIBRATION_FILE = "calibration.json"
METADATA_FILE = "metadata.json"
CHECKSUMS_FILE = "checksums.json"
REQUIRED_FILES = (MODEL_FILE, PREPROCESSING_FILE, METADATA_FILE)

CALIBRATION_METHODS = ("sigmoid", "isotonic", "temperature")
PREDICTION_COLUMN = "predicted_subtype"


def is_ignored_column(name: str) -> bool:
    """True for metadata / diagnostic columns that are never features."""
    return name in IGNORED_COLUMNS or any(name.startswith(p) for p in IGNORED_PREFIXES)


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def _jsonable(v: Any) -> Any:
    """Plain-Python (JSON) version of numpy scalars / arrays / containers; NaN and inf -> None."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if v is None or isinstance(v, str):
        return v
    return str(v)


def _label_to_json(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def _as_frame(X: Any) -> pd.DataFrame:
    """DataFrame view of X; arrays get column names ``x0, x1, ...``."""
    if isinstance(X, pd.DataFrame):
        df = X
    else:
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D (samples x features), got shape {arr.shape}")
        df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise ValueError(f"duplicate column names in the feature table: {dup}")
    if list(df.columns) != cols:
        df = df.copy()
        df.columns = cols
    return df


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)


def _to_float(s: pd.Series, source: Optional[str]) -> np.ndarray:
    """Column as float64; strings that are not numbers raise :class:`FeatureValueError`."""
    if _is_numeric(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna() & s.notna() & (s.astype(str).str.strip() != "")
    if bad.any():
        first = s[bad].iloc[0]
        raise FeatureValueError(
            f"column {s.name!r} holds {int(bad.sum())} non-numeric value(s), e.g. {first!r}",
            source=source)
    return conv.to_numpy(dtype=np.float64, na_value=np.nan)


def _xgb():
    import xgboost
    return xgboost


# ----------------------------------------------------------------------------------------------
# preprocessing
# ----------------------------------------------------------------------------------------------

class _Preprocessor:
    """Column selection and missing-value handling, fixed at fit and stored as JSON."""

    def __init__(self, impute: Optional[str] = None, drop_constant: bool = False):
        if impute not in (None, "median", "mean"):
            raise ValueError("impute must be None (XGBoost's native missing-value handling), "
                             "'median' or 'mean'")
        self.impute = impute
        self.drop_constant = bool(drop_constant)
        self.columns: List[str] = []
        self.fill_values: Optional[Dict[str, float]] = None
        self.dropped: Dict[str, List[str]] = {}
        self.constant: List[str] = []
        self.missing_fraction: Dict[str, float] = {}
        self.n_nonfinite: int = 0

    def fit(self, df: pd.DataFrame, source: Optional[str] = None) -> "_Preprocessor":
        meta = [c for c in df.columns if is_ignored_column(c)]
        cand = [c for c in df.columns if not is_ignored_column(c)]
        non_numeric = [c for c in cand if not _is_numeric(df[c])]
        numeric = [c for c in cand if c not in non_numeric]
        if non_numeric:
            log.warning("dropping %d non-numeric column(s) from the features: %s",
                        len(non_numeric), ", ".join(non_numeric[:10]))
        if not numeric:
            raise FeatureValueError("the feature table has no numeric feature column", source)
        X = np.column_stack([_to_float(df[c], source) for c in numeric]) if len(df) else \
            np.empty((0, len(numeric)))
        X = np.where(np.isfinite(X), X, np.nan)
        constant = []
        for j, c in enumerate(numeric):
            v = X[:, j]
            v = v[~np.isnan(v)]
            if v.size == 0 or np.all(v == v[0]):
                constant.append(c)
        self.constant = constant
        if constant:
            log.info("%d constant or all-missing column(s)%s: %s", len(constant),
                     " dropped" if self.drop_constant else " kept (never split on)",
                     ", ".join(constant[:10]))
        keep = [c for c in numeric if not (self.drop_constant and c in constant)]
        self.columns = keep
        self.dropped = {"metadata": meta, "non_numeric": non_numeric,
                        "constant": constant if self.drop_constant else []}
        idx = [numeric.index(c) for c in keep]
        Xk = X[:, idx]
        frac = np.isnan(Xk).mean(axis=0) if len(Xk) else np.zeros(len(keep))
        self.missing_fraction = {c: float(f) for c, f in zip(keep, frac) if f > 0}
        if self.impute is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                stat = np.nanmedian(Xk, axis=0) if self.impute == "median" else \
                    np.nanmean(Xk, axis=0)
            stat = np.where(np.isfinite(stat), stat, 0.0)   # all-missing column -> 0
            self.fill_values = {c: float(v) for c, v in zip(keep, stat)}
        else:
            self.fill_values = None
        return self

    def transform(self, df: pd.DataFrame, strict: bool = True,
                  source: Optional[str] = None) -> np.ndarray:
        """float64 matrix in the fitted column order; ``+-inf`` -> NaN; optional fill.

        Raises :class:`FeatureMismatchError` when fitted columns are missing, or (``strict``)
        when the table has feature columns the model does not know.  Metadata / diagnostic
        columns and the columns dropped at fit are ignored.
        """
        present = set(df.columns)
        missing = [c for c in self.columns if c not in present]
        extra: List[str] = []
        if strict:
            known = set(self.columns)
            for v in self.dropped.values():
                known.update(v)
            extra = [c for c in df.columns if c not in known and not is_ignored_column(c)]
        if missing or extra:
            raise FeatureMismatchError(missing, extra, source=source)
        if len(df) == 0:
            return np.empty((0, len(self.columns)))
        sub = df[self.columns]
        if all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)
               for t in sub.dtypes):
            X = sub.to_numpy(dtype=np.float64, na_value=np.nan)     # one copy, fast path
        else:
            X = np.column_stack([_to_float(sub[c], source) for c in self.columns])
        nonfinite = np.isinf(X)
        self.n_nonfinite = int(nonfinite.sum())
        if self.n_nonfinite:
            log.warning("%d infinite feature value(s) treated as missing", self.n_nonfinite)
            X[nonfinite] = np.nan
        if self.fill_values is not None:
            fill = np.array([self.fill_values[c] for c in self.columns])
            nan = np.isnan(X)
            X[nan] = np.broadcast_to(fill, X.shape)[nan]
        return X

    def to_dict(self) -> Dict[str, Any]:
        return {
            "columns": list(self.columns),
            "missing_values": ("xgboost-native (NaN; +-inf treated as NaN)" if self.impute is None
                               else f"filled with the training {self.impute}"),
            "impute": self.impute,
            "fill_values": self.fill_values,
            "drop_constant": self.drop_constant,
            "constant_columns": list(self.constant),
            "dropped": {k: list(v) for k, v in self.dropped.items()},
            "missing_fraction": dict(self.missing_fraction),
            "ignored_columns": list(IGNORED_COLUMNS),
            "ignored_prefixes": list(IGNORED_PREFIXES),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "_Preprocessor":
        p = cls(impute=d.get("impute"), drop_constant=d.get("drop_constant", False))
        p.columns = [str(c) for c in d["columns"]]
        fv = d.get("fill_values")
        p.fill_values = None if fv is None else {str(k): float(v) for k, v in fv.items()}
        if p.fill_values is not None and set(p.fill_values) != set(p.columns):
            raise ValueError("fill_values do not cover the columns")
        p.dropped = {str(k): [str(c) for c in v] for k, v in d.get("dropped", {}).items()}
        p.constant = [str(c) for c in d.get("constant_columns", [])]
        p.missing_fraction = {str(k): float(v) for k, v in d.get("missing_fraction", {}).items()}
        return p


# ----------------------------------------------------------------------------------------------
# calibration (parameters as JSON, re-applied here)
# ----------------------------------------------------------------------------------------------

class _Calibration:
    """Calibration maps read out of a fitted ``CalibratedClassifierCV(ensemble=False)``.

    Re-applies exactly what scikit-learn's ``_CalibratedClassifier.predict_proba`` does on the
    base model's ``predict_proba`` output ``P`` (n x K):

    * sigmoid (Platt on the probability, one-vs-rest): ``q_k = 1 / (1 + exp(a_k P_k + b_k))``;
    * isotonic: ``q_k`` = piecewise-linear interpolation of the breakpoints (clipped at the ends);
    * then, for K > 2, ``q / sum(q)`` (uniform where the sum is 0); for K = 2 one map is fitted on
      ``P_1`` and ``q_0 = 1 - q_1``;
    * temperature: ``softmax(beta * log(P + 1e-12))`` (argmax-preserving).
    """

    def __init__(self, method: str, n_classes: int, params: List[Dict[str, Any]]):
        if method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self.n_classes = int(n_classes)
        self.params = params

    @classmethod
    def from_sklearn(cls, cc: Any, n_classes: int) -> "_Calibration":
        cal = cc.calibrated_classifiers_[0]
        params: List[Dict[str, Any]] = []
        for c in cal.calibrators:
            if cc.method == "sigmoid":
                params.append({"a": float(c.a_), "b": float(c.b_)})
            elif cc.method == "isotonic":
                params.append({"x": [float(v) for v in np.asarray(c.X_thresholds_)],
                               "y": [float(v) for v in np.asarray(c.y_thresholds_)],
                               "x_min": float(c.X_min_), "x_max": float(c.X_max_),
                               "dtype": str(np.asarray(c.X_thresholds_).dtype)})
            else:
                params.append({"beta": float(c.beta_)})
        return cls(cc.method, n_classes, params)

    def apply(self, P: np.ndarray) -> np.ndarray:
        """Calibrated probabilities from the base model's (n x K) probabilities."""
        K = self.n_classes
        n = P.shape[0]
        if self.method == "temperature":
            beta = float(self.params[0]["beta"])
            logits = beta * np.log(P.astype(np.float64) + 1e-12)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            q = e / e.sum(axis=1, keepdims=True)
        else:
            q = np.zeros((n, K))
            cols = [1] if K == 2 else list(range(K))
            for k, prm in zip(cols, self.params):
                f = P[:, k]
                if self.method == "sigmoid":
                    z = -(prm["a"] * f.astype(np.float64) + prm["b"])
                    q[:, k] = 1.0 / (1.0 + np.exp(-z))
                else:
                    dt = np.dtype(prm.get("dtype", "float64"))
                    t = np.clip(f.astype(dt), prm["x_min"], prm["x_max"])
                    q[:, k] = np.interp(t.astype(np.float64), np.asarray(prm["x"]),
                                        np.asarray(prm["y"])).astype(dt)
            if K == 2:
                q[:, 0] = 1.0 - q[:, 1]
            else:
                s = q.sum(axis=1, keepdims=True)
                q = np.divide(q, s, out=np.full_like(q, 1.0 / K), where=s != 0)
        q[(q > 1.0) & (q <= 1.0 + 1e-5)] = 1.0
        return q

    def to_dict(self) -> Dict[str, Any]:
        return {"method": self.method, "n_classes": self.n_classes,
                "input": "base model predict_proba (one-vs-rest; class 1 only when binary)",
                "fitted_by": "sklearn.calibration.CalibratedClassifierCV(ensemble=False)",
                "params": self.params}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "_Calibration":
        c = cls(d["method"], int(d["n_classes"]), list(d["params"]))
        want = 1 if (c.method == "temperature" or c.n_classes == 2) else c.n_classes
        if len(c.params) != want:
            raise ValueError(f"{len(c.params)} calibration map(s) for {c.n_classes} classes")
        return c


# ----------------------------------------------------------------------------------------------
# metrics
# ----------------------------------------------------------------------------------------------

def _fold_metrics(y: np.ndarray, P: np.ndarray, K: int) -> Dict[str, Any]:
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


def _mean_sd(values: Sequence[float]) -> Dict[str, Optional[float]]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": None, "sd": None}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0}


# ----------------------------------------------------------------------------------------------
# the classifier
# ----------------------------------------------------------------------------------------------

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
    xgb_params : extra keyword arguments for ``xgboost.XGBClassifier`` (override the above).

    Attributes (after fit)
    ----------------------
    classes_ : the labels, sorted; column k of :meth:`predict_proba` is ``classes_[k]``.
    feature_names_in_ : the feature columns, in model order.
    class_counts_ : training samples per class.
    cv_report_ : cross-validated metrics (JSON-ready dict), ``{}`` when skipped.
    preprocessing_ : the fitted preprocessing, as stored in ``preprocessing.json``.
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
                 xgb_params: Optional[Dict[str, Any]] = None):
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

    # -- parameters --------------------------------------------------------------------------

    def _xgb_params(self, n_classes: int) -> Dict[str, Any]:
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
        ys = pd.Series(np.asarray(y, dtype=object) if not isinstance(y, pd.Series) else
                       y.to_numpy(dtype=object))
        if ys.isna().any():
            raise ValueError(f"{int(ys.isna().sum())} missing label(s) in y")
        vals = ys.to_numpy()
        try:
            kinds = {type(_label_to_json(v)) for v in vals}
            if len(kinds) > 1:
                raise TypeError
            arr = np.asarray([_label_to_json(v) for v in vals])
            classes, y_enc = np.unique(arr, return_inverse=True)
        except TypeError:
            arr = np.asarray([str(v) for v in vals])
            classes, y_enc = np.unique(arr, return_inverse=True)
        return classes, y_enc.astype(np.int64)

    def _fit_core(self, df: pd.DataFrame, y_enc: np.ndarray, K: int,
                  source: Optional[str] = None):
        """Fit preprocessing + booster (+ calibration) on one training set."""
        xgb = _xgb()
        pre = _Preprocessor(self.impute, self.drop_constant).fit(df, source)
        X = pre.transform(df, strict=False, source=source)
        params = self._xgb_params(K)
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
            calib = _Calibration.from_sklearn(cc, K)
            self._last_sklearn_calibrated = cc     # kept in memory only (tests compare with it)
        return pre, model.get_booster(), calib

    def fit(self, X: Any, y: Any, source: Optional[str] = None) -> "SubtypeClassifier":
        """Fit on a feature table (DataFrame or array) and labels of any type.

        Runs the cross-validation first (unless ``cv_folds=0``), then fits the final model on
        all samples.  ``source`` names the feature file in error messages.
        """
        self._check_params()
        df = _as_frame(X)
        classes, y_enc = self._encode_labels(y)
        if len(y_enc) != len(df):
            raise ValueError(f"X has {len(df)} rows but y has {len(y_enc)} labels")
        K = len(classes)
        if K < 2:
            raise ValueError(f"need at least 2 classes to train a classifier, got {list(classes)}")
        self.classes_ = classes
        self.n_classes_ = K
        self.class_counts_ = {_label_to_json(c): int(n)
                              for c, n in zip(classes, np.bincount(y_enc, minlength=K))}
        self.cv_report_ = self._cross_validate(df, y_enc, K, source) if self.cv_folds else {}
        pre, booster, calib = self._fit_core(df, y_enc, K, source)
        self._set_state(pre, booster, calib)
        self.n_samples_ = int(len(df))
        self.trained_at_ = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        X_pre = pre.transform(df, strict=False, source=source)
        self.importances_ = self._importances(X_pre)
        return self

    def _set_state(self, pre: _Preprocessor, booster: Any, calib: Optional[_Calibration]):
        self.preprocessor_ = pre
        self.booster_ = booster
        self.calibration_ = calib
        self.feature_names_in_ = np.asarray(pre.columns, dtype=object)
        self.n_features_in_ = len(pre.columns)
        self.preprocessing_ = pre.to_dict()

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
            m = _fold_metrics(y_enc[te], P, K)
            m.update(repeat=r, fold=i % folds)
            fold_rows.append(m)
        labels = [_label_to_json(c) for c in self.classes_]
        keys = [str(c) for c in labels]
        cm = np.zeros((K, K), dtype=np.int64)
        pooled = []
        for r in range(repeats):
            pred = oof[r].argmax(axis=1)
            np.add.at(cm, (y_enc, pred), 1)
            pooled.append(_fold_metrics(y_enc, oof[r], K))
        rep: Dict[str, Any] = {
            "scheme": f"stratified {folds}-fold x {repeats} repeat(s)",
            "n_folds": folds, "n_repeats": repeats, "seed": int(self.random_state),
            "n_samples": int(n), "classes": labels,
            "calibration": self.calibration,
            "accuracy": _mean_sd([f["accuracy"] for f in fold_rows]),
            "balanced_accuracy": _mean_sd([f["balanced_accuracy"] for f in fold_rows]),
            "macro_auc": _mean_sd([f["macro_auc"] for f in fold_rows]),
            "auc_per_class": {keys[k]: _mean_sd([f["auc"][k] for f in fold_rows])
                              for k in range(K)},
            "log_loss": _mean_sd([f["log_loss"] for f in fold_rows]),
            "brier": _mean_sd([f["brier"] for f in fold_rows]),
            "pooled_out_of_fold": {
                "accuracy": _mean_sd([p["accuracy"] for p in pooled]),
                "balanced_accuracy": _mean_sd([p["balanced_accuracy"] for p in pooled]),
                "macro_auc": _mean_sd([p["macro_auc"] for p in pooled]),
                "auc_per_class": {keys[k]: _mean_sd([p["auc"][k] for p in pooled])
                                  for k in range(K)},
            },
            "confusion_matrix": {
                "labels": labels,
                "rows": "true class", "columns": "predicted class",
                "note": "out-of-fold predictions, summed over repeats",
                "counts": cm.tolist(),
            },
            "folds": [{k: v for k, v in f.items()} for f in fold_rows],
        }
        return _jsonable(rep)

    # -- prediction --------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ValueError("this SubtypeClassifier is not fitted yet; call fit() or "
                             "load_bundle() first")

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
                                _as_frame(X), strict=strict, source=source)

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
        df = _as_frame(X)
        out = pd.DataFrame(index=df.index)
        if id_column in df.columns:
            out[id_column] = df[id_column].to_numpy()
        bad = np.zeros(len(df), dtype=bool)
        if "error" in df.columns:
            err = df["error"].fillna("").astype(str).str.strip()
            bad = (err != "").to_numpy()
            if bad.any():
                log.warning("%d row(s) with a feature-extraction error get no prediction",
                            int(bad.sum()))
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
        if bad.any():
            out["error"] = np.where(bad, df["error"].astype(str), "")
        return out.reset_index(drop=True)

    # -- importances -------------------------------------------------------------------------

    def shap_values(self, X: Any, strict: bool = True) -> np.ndarray:
        """TreeSHAP contributions to the margin (log-odds), shape ``(n, K, p + 1)``.

        ``[:, k, j]`` is feature j's contribution to class k's raw score (softmax logit for
        K > 2); the last column is the bias.  Each row of ``[:, k, :]`` sums to class k's margin.
        For a binary model XGBoost has one margin (class 1's log-odds); class 0 gets its negative.
        """
        self._check_fitted()
        X_pre = self.preprocessor_.transform(_as_frame(X), strict=strict)
        return self._contribs(X_pre)

    def _contribs(self, X_pre: np.ndarray) -> np.ndarray:
        xgb = _xgb()
        c = np.asarray(self.booster_.predict(xgb.DMatrix(X_pre, missing=np.nan),
                                             pred_contribs=True, validate_features=False))
        if self.n_classes_ == 2:
            c = c.reshape(len(X_pre), 1, -1)
            c = np.concatenate([-c, c], axis=1)
        return c

    def predict_margin(self, X: Any, strict: bool = True) -> np.ndarray:
        """Raw scores (n x K) before softmax; binary: ``(-logit, logit)``."""
        self._check_fitted()
        X_pre = self.preprocessor_.transform(_as_frame(X), strict=strict)
        m = np.asarray(self.booster_.inplace_predict(X_pre, predict_type="margin",
                                                     missing=np.nan, validate_features=False))
        if self.n_classes_ == 2:
            m = m.reshape(-1)
            return np.column_stack([-m, m])
        return m.reshape(len(X_pre), -1)

    def _importances(self, X_pre: np.ndarray) -> pd.DataFrame:
        cols = list(self.preprocessor_.columns)
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

    # -- bundle convenience ------------------------------------------------------------------

    def save(self, directory: Any, overwrite: bool = False) -> Path:
        """Write a model bundle (see :func:`save_bundle`)."""
        return save_bundle(self, directory, overwrite=overwrite)

    @classmethod
    def load(cls, directory: Any) -> "SubtypeClassifier":
        """Read a model bundle (see :func:`load_bundle`)."""
        return load_bundle(directory)


# ----------------------------------------------------------------------------------------------
# model bundle
# ----------------------------------------------------------------------------------------------

def save_bundle(model: SubtypeClassifier, directory: Any, overwrite: bool = False) -> Path:
    """Write ``model`` to ``directory`` as a pickle-free bundle (see the module docstring).

    The directory is created if needed.  An existing bundle there is replaced only with
    ``overwrite=True`` (otherwise :class:`ModelBundleError`).
    """
    from . import __version__
    from . import registry
    import sklearn
    xgb = _xgb()

    model._check_fitted()
    d = Path(directory)
    names = (MODEL_FILE, PREPROCESSING_FILE, CALIBRATION_FILE, METADATA_FILE, CHECKSUMS_FILE)
    if d.exists() and not d.is_dir():
        raise ModelBundleError("exists and is not a directory", source=d)
    if d.exists() and not overwrite and any((d / n).exists() for n in names):
        raise ModelBundleError("already holds a model bundle (use overwrite=True / --overwrite)",
                               source=d)
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        if (d / n).exists():
            (d / n).unlink()
    model.booster_.save_model(str(d / MODEL_FILE))
    write_json(d / PREPROCESSING_FILE, _jsonable(model.preprocessor_.to_dict()))
    files = [MODEL_FILE, PREPROCESSING_FILE]
    if model.calibration_ is not None:
        write_json(d / CALIBRATION_FILE, _jsonable(model.calibration_.to_dict()))
        files.append(CALIBRATION_FILE)
    imp = model.importances_
    meta = {
        "bundle_format": BUNDLE_FORMAT,
        "kind": "PanCancerSubtype subtype classifier",
        "tool": "PanCancerSubtypeLib",
        "tool_version": __version__,
        "registry_version": registry.REGISTRY_VERSION,
        "columns": list(model.preprocessor_.columns),
        "n_features": len(model.preprocessor_.columns),
        "classes": [_label_to_json(c) for c in model.classes_],
        "class_counts": {str(k): v for k, v in model.class_counts_.items()},
        "n_samples": model.n_samples_,
        "trained_at": model.trained_at_,
        "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "objective": model._xgb_params(model.n_classes_)["objective"],
        "calibration": None if model.calibration_ is None else model.calibration_.method,
        "params": model.get_params(),
        "xgb_params": {k: v for k, v in model._xgb_params(model.n_classes_).items()
                       if k != "missing"},
        "cv_report": model.cv_report_,
        "importances": {"features": list(imp.index),
                        **{c: imp[c].tolist() for c in imp.columns}},
        "versions": {"xgboost": xgb.__version__, "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__,
                     "python": platform.python_version()},
        "platform": platform.platform(),
    }
    write_json(d / METADATA_FILE, _jsonable(meta))
    files.append(METADATA_FILE)
    write_json(d / CHECKSUMS_FILE, {"algorithm": "sha256",
                                     "files": {f: sha256_file(d / f) for f in files}})
    return d


def _read_json(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError) as exc:
        raise ModelBundleError(f"cannot read JSON: {exc}", source=path) from exc


def verify_bundle(directory: Any) -> Dict[str, str]:
    """Check that the bundle is complete and every file matches its SHA-256; return the sums.

    Raises :class:`ModelBundleError` naming the missing or mismatching file.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ModelBundleError("model directory not found", source=d)
    ck = d / CHECKSUMS_FILE
    if not ck.is_file():
        raise ModelBundleError(f"missing {CHECKSUMS_FILE}: not a model bundle, or incomplete",
                               source=d)
    sums = _read_json(ck)
    files = sums.get("files") if isinstance(sums, dict) else None
    if not isinstance(files, dict) or sums.get("algorithm") != "sha256":
        raise ModelBundleError("malformed checksums file", source=ck)
    for name in REQUIRED_FILES:
        if name not in files:
            raise ModelBundleError(f"{name} is not listed in {CHECKSUMS_FILE}", source=ck)
    for name, digest in files.items():
        if Path(name).name != name or name in (".", ".."):
            raise ModelBundleError(f"illegal file name {name!r} in {CHECKSUMS_FILE}", source=ck)
        p = d / name
        if not p.is_file():
            raise ModelBundleError("file missing from the model bundle", source=p)
        if sha256_file(p) != digest:
            raise ModelBundleError("checksum mismatch: the file was modified or corrupted "
                                   "after the model was saved", source=p)
    return dict(files)


def load_bundle(directory: Any, n_jobs: Optional[int] = None) -> SubtypeClassifier:
    """Read a bundle written by :func:`save_bundle`; never unpickles.

    All checksums are verified before any file is parsed.  A bundle from another feature-registry
    or XGBoost version loads with a warning.
    """
    from . import registry
    xgb = _xgb()

    d = Path(directory)
    files = verify_bundle(d)
    meta = _read_json(d / METADATA_FILE)
    if not isinstance(meta, dict) or meta.get("bundle_format") != BUNDLE_FORMAT:
        raise ModelBundleError(f"unsupported bundle format {meta.get('bundle_format')!r} "
                               f"(this version reads {BUNDLE_FORMAT})", source=d / METADATA_FILE)
    try:
        pre = _Preprocessor.from_dict(_read_json(d / PREPROCESSING_FILE))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelBundleError(f"malformed preprocessing: {exc}",
                               source=d / PREPROCESSING_FILE) from exc
    if pre.columns != list(meta.get("columns", [])):
        raise ModelBundleError("column list differs between preprocessing.json and "
                               "metadata.json", source=d)
    calib = None
    if meta.get("calibration"):
        if CALIBRATION_FILE not in files:
            raise ModelBundleError(f"model is calibrated but {CALIBRATION_FILE} is missing",
                                   source=d / CALIBRATION_FILE)
        try:
            calib = _Calibration.from_dict(_read_json(d / CALIBRATION_FILE))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"malformed calibration: {exc}",
                                   source=d / CALIBRATION_FILE) from exc
    booster = xgb.Booster()
    try:
        booster.load_model(str(d / MODEL_FILE))
    except xgb.core.XGBoostError as exc:
        raise ModelBundleError(f"XGBoost cannot read the model: {str(exc).splitlines()[0]}",
                               source=d / MODEL_FILE) from exc
    if booster.num_features() != len(pre.columns):
        raise ModelBundleError(f"model has {booster.num_features()} features but the bundle "
                               f"lists {len(pre.columns)} columns", source=d / MODEL_FILE)
    if meta.get("registry_version") != registry.REGISTRY_VERSION:
        warnings.warn(f"{d}: model trained with feature registry {meta.get('registry_version')}, "
                      f"this installation has {registry.REGISTRY_VERSION}; feature meanings may "
                      f"differ", stacklevel=2)
    saved_xgb = meta.get("versions", {}).get("xgboost")
    if saved_xgb and saved_xgb != xgb.__version__:
        log.warning("%s: model saved with XGBoost %s, loading with %s", d, saved_xgb,
                    xgb.__version__)
    params = dict(meta.get("params", {}))
    known = SubtypeClassifier().get_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        log.warning("%s: ignoring unknown parameter(s) %s", d, unknown)
    model = SubtypeClassifier(**{k: v for k, v in params.items() if k in known})
    if n_jobs is not None:
        model.n_jobs = int(n_jobs)
    booster.set_param({"nthread": int(model.n_jobs)})
    classes = np.asarray(meta["classes"])
    model.classes_ = classes
    model.n_classes_ = len(classes)
    if model.n_classes_ < 2:
        raise ModelBundleError("fewer than 2 classes", source=d / METADATA_FILE)
    model._set_state(pre, booster, calib)
    model.class_counts_ = dict(meta.get("class_counts", {}))
    model.n_samples_ = meta.get("n_samples")
    model.trained_at_ = meta.get("trained_at")
    model.cv_report_ = meta.get("cv_report", {})
    imp = meta.get("importances") or {}
    feats = imp.pop("features", list(pre.columns))
    model.importances_ = pd.DataFrame(imp, index=pd.Index(feats, name="feature"))
    model.metadata_ = meta
    return model


# ----------------------------------------------------------------------------------------------
# tables (used by the CLI)
# ----------------------------------------------------------------------------------------------

def read_table(path: Any, id_column: str = "ID") -> pd.DataFrame:
    """Read a CSV (or TSV) with the ID column as strings (so ``007`` stays ``007``)."""
    p = Path(path)
    if not p.is_file():
        from .errors import UnreadableFileError
        raise UnreadableFileError("file not found", source=p)
    sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
    return pd.read_csv(p, sep=sep, dtype={id_column: str}, keep_default_na=True)


def choose_label_column(labels: pd.DataFrame, label_column: Optional[str] = None,
                        id_column: str = "ID", source: Optional[str] = None) -> str:
    """The label column: as given, else the only non-ID column, else ``subtype``, else ``class``."""
    if label_column:
        if label_column not in labels.columns:
            raise LabelTableError(f"no column {label_column!r} (columns: "
                                  f"{list(labels.columns)})", source=source)
        return label_column
    others = [c for c in labels.columns if c != id_column]
    if len(others) == 1:
        return others[0]
    for c in ("subtype", "class"):
        if c in labels.columns:
            return c
    raise LabelTableError(f"cannot tell which column holds the labels among {others}; "
                          f"use --label-column", source=source)


def join_features_labels(features: pd.DataFrame, labels: pd.DataFrame,
                         label_column: Optional[str] = None, id_column: str = "ID",
                         features_source: Optional[str] = None,
                         labels_source: Optional[str] = None
                         ) -> Tuple[pd.DataFrame, pd.Series, Dict[str, Any]]:
    """Join a feature table and a labels table on the ID column.

    Returns ``(X, y, report)``: X the feature rows (ID kept, ignored as a feature), y the
    labels, and a report of IDs missing on either side, rows skipped for a feature-extraction
    ``error``, and rows without a label.
    """
    for tab, src in ((features, features_source), (labels, labels_source)):
        if id_column not in tab.columns:
            raise LabelTableError(f"no {id_column!r} column", source=src)
        ids = tab[id_column].astype(str)
        dup = sorted(set(ids[ids.duplicated()]))
        if dup:
            raise LabelTableError(f"duplicate IDs: {dup[:10]}", source=src)
    lab = choose_label_column(labels, label_column, id_column, labels_source)
    f = features.copy()
    f[id_column] = f[id_column].astype(str)
    la = labels[[id_column, lab]].copy()
    la[id_column] = la[id_column].astype(str)
    unlabelled = sorted(la.loc[la[lab].isna(), id_column])
    la = la[la[lab].notna()]
    if pd.api.types.is_float_dtype(la[lab]) and np.all(np.mod(la[lab], 1) == 0):
        la[lab] = la[lab].astype(np.int64)      # 1.0, 2.0 (a column with blanks) -> 1, 2
    if lab in f.columns and lab != id_column:
        log.warning("the feature table has a %r column; it is not used as a feature", lab)
        f = f.drop(columns=[lab])
    fid, lid = set(f[id_column]), set(la[id_column])
    only_features = sorted(fid - lid)
    only_labels = sorted(lid - fid)
    merged = f.merge(la.rename(columns={lab: "__label__"}), on=id_column, how="inner",
                     validate="one_to_one")
    errored: List[str] = []
    if "error" in merged.columns:
        e = merged["error"].fillna("").astype(str).str.strip() != ""
        errored = sorted(merged.loc[e, id_column])
        merged = merged[~e]
    if only_features:
        log.warning("%d ID(s) in the features but not in the labels (not used): %s",
                    len(only_features), ", ".join(only_features[:10]))
    if only_labels:
        log.warning("%d ID(s) in the labels but not in the features (not used): %s",
                    len(only_labels), ", ".join(only_labels[:10]))
    if unlabelled:
        log.warning("%d ID(s) without a label (not used): %s", len(unlabelled),
                    ", ".join(unlabelled[:10]))
    if errored:
        log.warning("%d row(s) skipped because feature extraction failed (error column): %s",
                    len(errored), ", ".join(errored[:10]))
    if merged.empty:
        raise LabelTableError("no ID is both in the features and (with a label, without an "
                              "error) in the labels", source=labels_source)
    y = merged.pop("__label__").reset_index(drop=True)
    X = merged.reset_index(drop=True)
    report = {"label_column": lab, "n_joined": int(len(X)),
              "ids_only_in_features": only_features, "ids_only_in_labels": only_labels,
              "ids_without_label": unlabelled, "ids_skipped_error": errored}
    return X, y, report


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


__all__ = [
    "SubtypeClassifier", "save_bundle", "load_bundle", "verify_bundle", "join_features_labels",
    "choose_label_column", "read_table", "format_cv_report", "is_ignored_column",
    "FeatureValueError", "LabelTableError", "PREDICTION_COLUMN",
]
