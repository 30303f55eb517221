"""Feature preparation: one preprocessor for every model of the pipeline.

:class:`FeaturePreparer` turns a feature table into the matrix a model sees, with an explicit,
reported policy fixed at ``fit`` (on the discovery / training set) and re-applied unchanged to any
other set.  The autoencoder and consensus clustering (z-scores, imputed) and the XGBoost
classifier (raw values, missing values left to XGBoost) use it with different options:

==================  =================================  ===================================
option              discovery (default)                classifier
==================  =================================  ===================================
``impute``          ``"median"`` (discovery median)    ``None`` (NaN kept; XGBoost native)
``center``          ``True``                           ``False``
``scale``           ``True`` (population SD)           ``False``
``max_missing``     ``0.2``                            ``1.0`` (never dropped for missing)
``drop_constant``   ``True``                           ``False`` (kept, never split on)
==================  =================================  ===================================

Policy, in this order, per input column:

1. metadata / diagnostic columns (:func:`.tables.is_metadata_column`: ``ID``, ``Image``, ...,
   ``error``, ``diag_*``) are not features (reason ``"metadata"``);
2. a column that is not numeric (text that is not numbers) is dropped (``"non-numeric"``); a
   column of numbers with a few values that are not (a typo) is refused
   (:func:`.tables.check_stray_text`);
3. non-finite values (``inf``, ``-inf``) count as missing;
4. a column missing in more than ``max_missing`` of the rows is dropped (``"missing"``);
5. a column whose observed values are all equal, or that has none, is *constant*: dropped
   (``"constant"``) with ``drop_constant=True``, else kept;
6. kept columns: missing values imputed with the fit-set median (or mean), then
   ``z = (x - mean) / sd`` with the fit-set mean and population SD (``ddof=0``, as
   scikit-learn's ``StandardScaler``) where ``center`` / ``scale`` ask for it;
7. ``weighting="family"``: every kept column is multiplied by ``1 / sqrt(n_f)``, ``n_f`` the
   number of kept columns of its family (:func:`.tables.feature_family`), so each family has the
   same total variance (block scaling, as in multiple factor analysis).  Without it the 255
   SPHARM coefficient magnitudes -- 135 distinct values, since ``|c(l, m)| = |c(l, -m)|`` --
   make up 81% of the 313 cross-modality features and dominate any distance between tumours;
   the 5 burden and 20 regional features hardly count.

``transform`` of a table that lacks a kept column, or (``strict=True``) has a feature column
the preparer never saw, raises :class:`~.errors.FeatureMismatchError` naming both lists;
metadata columns and columns dropped at fit are ignored, and column order does not matter.
Text in a kept column that is not a number raises :class:`~.errors.FeatureValueError`.

The fitted state is plain JSON (:meth:`FeaturePreparer.to_dict`, :meth:`~FeaturePreparer.save`);
nothing is pickled.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import FeatureMismatchError, ModelBundleError
from .files import read_json, write_json
from .tables import (check_stray_text, feature_family, is_metadata_column, is_numeric_column,
                     to_float)

log = logging.getLogger(__name__)

PREPARER_FILE = "preparer.json"
WEIGHTINGS = ("none", "family")
FORMAT_VERSION = 1
IMPUTE_METHODS = (None, "median", "mean")
#: ``--preprocess`` choices of the command line and what they mean
PREPROCESS_CHOICES = {"standardize": dict(center=True, scale=True),
                      "center": dict(center=True, scale=False),
                      "none": dict(center=False, scale=False)}


def as_frame(X, columns: Optional[Sequence[str]] = None, prefix: str = "f") -> pd.DataFrame:
    """A DataFrame view of ``X``; arrays get columns ``f0, f1, ...`` (or ``columns``)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2D table (items x features), got shape {arr.shape}")
    if columns is None:
        columns = [f"{prefix}{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=list(columns))


def check_fitted(estimator, attribute: str, how: str = "fit()") -> None:
    """Raise scikit-learn's ``NotFittedError`` (a ``ValueError`` and an ``AttributeError``)
    naming the estimator when it has no ``attribute`` yet: the one rule of every estimator of
    this package."""
    from sklearn.exceptions import NotFittedError

    if not hasattr(estimator, attribute):
        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call {how} "
                             f"first")


def feature_matrix(X, names: Sequence[str], source: Optional[str] = None) -> np.ndarray:
    """The float matrix of the features ``names`` a model was fitted on: from a DataFrame by
    column name (any order; other columns ignored; names compared as text, so a frame with
    integer column labels matches the names its fit recorded), from an array by position, with
    exactly ``len(names)`` columns.  A missing column or a wrong width raises
    :class:`~.errors.FeatureMismatchError`."""
    names = [str(c) for c in names]
    if isinstance(X, pd.DataFrame):
        got = check_unique_columns(X, source)
        missing = sorted(set(names) - set(got))
        if missing:
            raise FeatureMismatchError(missing, [], source=source)
        return X.set_axis(got, axis=1)[names].to_numpy(dtype=float)
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        raise FeatureMismatchError([f"(expected {len(names)} columns)"],
                                   [f"(got an array of shape {arr.shape})"], source=source)
    return arr


def check_unique_columns(df: pd.DataFrame, source: Optional[str] = None) -> List[str]:
    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise ValueError(f"{source or 'feature table'}: duplicated column names: {dup}")
    return cols


class FeaturePreparer(TransformerMixin, BaseEstimator):
    """Select, impute and standardise feature columns (see the module docstring for the policy).

    Parameters
    ----------
    max_missing : float
        Drop a column missing (NaN or non-finite) in *more than* this fraction of the fit rows.
    scale : bool
        Divide by the fit-set standard deviation (population).
    center : bool
        Subtract the fit-set mean.
    impute : {"median", "mean", None}
        Fill missing values with the fit-set median / mean; ``None`` keeps NaN.
    drop_constant : bool
        Drop constant (or all-missing) columns; ``False`` keeps them.
    constant_tol : float
        A column whose observed range (max - min) is ``<= constant_tol`` is constant.
    weighting : {"none", "family"}
        ``"family"``: divide each column by the square root of the number of kept columns of its
        family (step 7 of the policy).
    output : {"auto", "numpy"}
        ``"auto"``: a DataFrame in gives a DataFrame out, an array an array; ``"numpy"``:
        always an array.

    Attributes (after ``fit``)
    --------------------------
    columns_in_ : list of str      the columns ``fit`` saw
    columns_out_ : list of str     the columns kept, in input order
    dropped_ : dict                dropped column -> ``"metadata"`` / ``"non-numeric"`` /
                                   ``"missing"`` / ``"constant"``
    constant_ : list of str        constant or all-missing columns (kept or dropped)
    imputed_ : dict                kept column -> number of fit-set values imputed (if any)
    missing_fraction_ : dict       column -> fraction of fit rows missing
    fill_, mean_, scale_ : ndarray per kept column: the imputation value (NaN when
                                   ``impute=None``), mean and SD used (0 / 1 where not used)
    weights_ : ndarray             per kept column: the family weight (1 without weighting)
    families_ : dict               kept column -> family
    """

    def __init__(self, max_missing: float = 0.2, scale: bool = True, center: bool = True,
                 impute: Optional[str] = "median", drop_constant: bool = True,
                 constant_tol: float = 0.0, weighting: str = "none", output: str = "auto"):
        self.max_missing = max_missing
        self.scale = scale
        self.center = center
        self.impute = impute
        self.drop_constant = drop_constant
        self.constant_tol = constant_tol
        self.weighting = weighting
        self.output = output

    # -- fit ---------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if not 0.0 <= float(self.max_missing) <= 1.0:
            raise ValueError(f"max_missing must be in [0, 1], got {self.max_missing}")
        if self.impute not in IMPUTE_METHODS:
            raise ValueError("impute must be None (keep NaN, e.g. for XGBoost's native "
                             "missing-value handling), 'median' or 'mean'")
        if self.output not in ("auto", "numpy"):
            raise ValueError("output must be 'auto' or 'numpy'")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")

    def fit(self, X, y=None, source: Optional[str] = None):
        self._check_params()
        df = as_frame(X)
        if df.shape[0] < 2:
            raise ValueError(f"{source or 'feature table'}: need at least 2 rows to fit, "
                             f"got {df.shape[0]}")
        cols = check_unique_columns(df, source)
        self.columns_in_: List[str] = cols
        self.dropped_: Dict[str, str] = {}
        self.imputed_: Dict[str, int] = {}
        self.missing_fraction_: Dict[str, float] = {}
        self.constant_: List[str] = []
        kept, fill, mean, sd = [], [], [], []
        n = df.shape[0]
        for c, name in zip(df.columns, cols):
            s = df[c]
            if is_metadata_column(name):
                self.dropped_[name] = "metadata"
                continue
            if not is_numeric_column(s):
                # a column of numbers with a typo ("n/a?") is refused, naming it (it was
                # dropped and the model trained without that feature)
                if "ID" in df.columns:      # the row named by its ID
                    check_stray_text(s.set_axis(df["ID"].astype(str).to_numpy()), source,
                                     row_name="ID")
                else:
                    check_stray_text(s, source)
                num = pd.to_numeric(s, errors="coerce")
                # a text column that is not numbers at all is not a feature
                if num.notna().sum() < s.notna().sum():
                    self.dropped_[name] = "non-numeric"
                    continue
                s = num
            v = s.to_numpy(dtype=float, na_value=np.nan)
            finite = np.isfinite(v)
            frac_missing = 1.0 - finite.mean()
            self.missing_fraction_[name] = float(frac_missing)
            if frac_missing > self.max_missing:
                self.dropped_[name] = "missing"
                continue
            obs = v[finite]
            if obs.size == 0 or obs.max() - obs.min() <= self.constant_tol:
                self.constant_.append(name)
                if self.drop_constant:
                    self.dropped_[name] = "constant"
                    continue
            kept.append(name)
            if obs.size:
                stat = {"median": np.median, "mean": np.mean}.get(self.impute)
                fill.append(stat(obs) if stat is not None else np.nan)
                mean.append(obs.mean() if self.center else 0.0)
                s_ = obs.std() if self.scale else 1.0
                sd.append(s_ if s_ > 0 else 1.0)
            else:  # all missing, kept (drop_constant=False): filled with 0 if imputing
                fill.append(0.0 if self.impute is not None else np.nan)
                mean.append(0.0)
                sd.append(1.0)
            if not finite.all() and self.impute is not None:
                self.imputed_[name] = int(n - finite.sum())
        if not kept:
            raise ValueError(f"{source or 'feature table'}: no usable feature column left "
                             f"(dropped: {self.dropped_})")
        self.columns_out_: List[str] = kept
        self.families_: Dict[str, str] = {c: feature_family(c) for c in kept}
        counts: Dict[str, int] = {}
        for fam in self.families_.values():
            counts[fam] = counts.get(fam, 0) + 1
        self.weights_ = np.asarray([1.0 / np.sqrt(counts[self.families_[c]])
                                    if self.weighting == "family" else 1.0 for c in kept])
        self.fill_ = np.asarray(fill, dtype=float)
        self.mean_ = np.asarray(mean, dtype=float)
        self.scale_ = np.asarray(sd, dtype=float)
        self.n_features_in_ = len(cols)
        for name, why in self.dropped_.items():
            if why != "metadata":
                log.info("feature %s dropped (%s)", name, why)
        return self

    # -- transform ---------------------------------------------------------------------------
    def transform(self, X, strict: bool = True, source: Optional[str] = None):
        """Kept columns, imputed and standardised (see the class docstring for the output type).

        ``strict=False`` ignores feature columns the preparer never saw instead of raising.
        """
        self._check_fitted()
        was_frame = isinstance(X, pd.DataFrame)
        if not was_frame and (np.ndim(X) != 2 or np.shape(X)[1] != len(self.columns_in_)):
            raise FeatureMismatchError([f"(expected {len(self.columns_in_)} columns)"],
                                       [f"(got an array of shape {np.shape(X)})"], source=source)
        df = as_frame(X, columns=self.columns_in_ if not was_frame else None)
        got = check_unique_columns(df, source)
        df = df.set_axis(got, axis=1)           # a new frame: the caller's keeps its labels
        missing = [c for c in self.columns_out_ if c not in set(got)]
        extra: List[str] = []
        if strict:
            known = set(self.columns_in_)
            extra = [c for c in got if c not in known and not is_metadata_column(c)]
        if missing or extra:
            raise FeatureMismatchError(missing, extra, source=source)
        v = self._matrix(df, source)
        bad = ~np.isfinite(v)
        n_inf = int(np.isinf(v).sum())          # (transform changes no state of the preparer)
        if n_inf:
            log.warning("%d infinite feature value(s) treated as missing", n_inf)
        if bad.any():
            rows, cols = np.nonzero(bad)
            v[rows, cols] = self.fill_[cols]     # NaN when impute is None
        if self.center or self.scale:
            v = (v - self.mean_) / self.scale_
        if self.weighting != "none":
            v = v * self.weights_
        if was_frame and self.output == "auto":
            return pd.DataFrame(v, index=df.index, columns=list(self.columns_out_))
        return v

    def _matrix(self, df: pd.DataFrame, source: Optional[str]) -> np.ndarray:
        if len(df) == 0:
            return np.empty((0, len(self.columns_out_)))
        sub = df[self.columns_out_]
        if all(pd.api.types.is_numeric_dtype(t) or pd.api.types.is_bool_dtype(t)
               for t in sub.dtypes):
            return sub.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        if "ID" in df.columns:        # a bad value is named by its row's ID
            sub = sub.set_axis(df["ID"].astype(str).to_numpy())
            return np.column_stack([to_float(sub[c], source, row_name="ID")
                                    for c in self.columns_out_])
        return np.column_stack([to_float(sub[c], source) for c in self.columns_out_])

    def get_feature_names_out(self, input_features=None):
        self._check_fitted()
        return np.asarray(self.columns_out_, dtype=object)

    def report(self) -> pd.DataFrame:
        """One row per input column: ``column, action (kept/dropped), reason, missing_fraction,
        n_imputed``."""
        self._check_fitted()
        rows = []
        what = {"median": "imputed with discovery median", "mean": "imputed with discovery mean"}
        weight = dict(zip(self.columns_out_, self.weights_))
        for c in self.columns_in_:
            if c in self.dropped_:
                rows.append((c, "dropped", self.dropped_[c], self.missing_fraction_.get(c), 0,
                             feature_family(c), np.nan))
            else:
                n_imp = self.imputed_.get(c, 0)
                rows.append((c, "kept", what.get(self.impute, "") if n_imp else "",
                             self.missing_fraction_.get(c), n_imp, self.families_[c],
                             weight[c]))
        return pd.DataFrame(rows, columns=["column", "action", "reason", "missing_fraction",
                                           "n_imputed", "family", "weight"])

    def summary(self) -> Dict[str, Any]:
        """The fitted policy as a JSON-ready dict: kept ``columns``, ``impute`` and
        ``fill_values`` (``None`` without imputation), ``constant_columns``, ``dropped`` (reason
        -> columns: ``metadata``, ``non_numeric``, ``missing``, ``constant``) and the
        ``missing_fraction`` of the kept columns that have missing values, and the family
        ``weighting``."""
        self._check_fitted()
        dropped: Dict[str, List[str]] = {"metadata": [], "non_numeric": [], "missing": [],
                                         "constant": []}
        for c, why in self.dropped_.items():
            dropped[why.replace("-", "_")].append(c)
        how = {None: "kept as NaN", "median": "filled with the training median",
               "mean": "filled with the training mean"}[self.impute]
        return {
            "columns": list(self.columns_out_),
            "missing_values": f"{how} (+-inf counts as missing)",
            "impute": self.impute,
            "fill_values": (None if self.impute is None else
                            {c: float(v) for c, v in zip(self.columns_out_, self.fill_)}),
            "center": bool(self.center), "scale": bool(self.scale),
            "weighting": self.weighting,
            "drop_constant": bool(self.drop_constant),
            "constant_columns": list(self.constant_),
            "dropped": dropped,
            "missing_fraction": {c: self.missing_fraction_[c] for c in self.columns_out_
                                 if self.missing_fraction_.get(c, 0.0) > 0},
        }

    def _check_fitted(self):
        check_fitted(self, "columns_out_")

    # -- persistence (JSON, no pickle) ---------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        self._check_fitted()
        nan_to_none = lambda a: [None if not np.isfinite(x) else float(x) for x in a]  # noqa
        return {"format_version": FORMAT_VERSION, "class": "FeaturePreparer",
                "params": self.get_params(), "columns_in": self.columns_in_,
                "columns_out": self.columns_out_, "dropped": self.dropped_,
                "constant": self.constant_, "imputed": self.imputed_,
                "missing_fraction": self.missing_fraction_, "fill": nan_to_none(self.fill_),
                "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                "families": self.families_, "weights": self.weights_.tolist()}

    @classmethod
    def from_dict(cls, d: Dict[str, Any], source: Optional[str] = None) -> "FeaturePreparer":
        try:
            if d.get("class") != "FeaturePreparer":
                raise KeyError("class")
            known = cls().get_params()
            self = cls(**{k: v for k, v in d["params"].items() if k in known})
            self._check_params()
            self.columns_in_ = [str(c) for c in d["columns_in"]]
            self.columns_out_ = [str(c) for c in d["columns_out"]]
            self.dropped_ = {str(k): str(v) for k, v in d["dropped"].items()}
            self.constant_ = [str(c) for c in d.get("constant", [])]
            self.imputed_ = {str(k): int(v) for k, v in d["imputed"].items()}
            self.missing_fraction_ = {str(k): float(v)
                                      for k, v in d.get("missing_fraction", {}).items()}
            fill = d["fill"] if "fill" in d else d["median"]     # format of version 0.1.0
            self.fill_ = np.asarray([np.nan if x is None else x for x in fill], dtype=float)
            self.mean_ = np.asarray(d["mean"], dtype=float)
            self.scale_ = np.asarray(d["scale"], dtype=float)
            self.families_ = {str(k): str(v) for k, v in
                              d.get("families", {c: feature_family(c)
                                                 for c in self.columns_out_}).items()}
            self.weights_ = np.asarray(d.get("weights", [1.0] * len(self.columns_out_)),
                                       dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"not a valid FeaturePreparer description ({exc})",
                                   source=source) from None
        k = len(self.columns_out_)
        if not (len(self.fill_) == len(self.mean_) == len(self.scale_) == len(self.weights_)
                == k):
            raise ModelBundleError("FeaturePreparer arrays do not match its columns", source=source)
        self.n_features_in_ = len(self.columns_in_)
        return self

    def save(self, directory: str, filename: str = PREPARER_FILE) -> str:
        path = os.path.join(directory, filename)
        write_json(path, self.to_dict(), allow_nan=False)
        return path

    @classmethod
    def load(cls, directory: str, filename: str = PREPARER_FILE) -> "FeaturePreparer":
        path = os.path.join(directory, filename)
        if not os.path.isfile(path):
            raise ModelBundleError(f"missing {filename}", source=directory)
        try:
            d = read_json(path)
        except ValueError as exc:
            raise ModelBundleError(f"unreadable JSON ({exc})", source=path) from None
        return cls.from_dict(d, source=path)

