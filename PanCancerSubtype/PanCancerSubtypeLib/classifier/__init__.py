"""Subtype classifier for new patients, and its model bundle.

As in Wu et al. (Nat Mach Intell 2021), new patients are assigned to the discovered subtypes by a
gradient-boosted tree classifier (XGBoost) trained on the *original* features (the 313
cross-modality features, or any numeric feature table), not on the autoencoder's code.

:class:`SubtypeClassifier` (scikit-learn style: ``fit`` / ``predict`` / ``predict_proba``,
``classes_``, ``feature_names_in_``) does

* **preprocessing** (:class:`~PanCancerSubtypeLib.preprocessing.FeaturePreparer`), fixed at fit:
  the feature columns are the numeric columns of the training
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

Model bundle (:func:`save_bundle` / :func:`load_bundle`, see :mod:`.bundle`): a directory of JSON
files (booster, preprocessing, calibration, metadata) and their SHA-256 checksums; loading never
unpickles and verifies every checksum first.

Modules: :mod:`.model` (the estimator), :mod:`.calibration`, :mod:`.metrics` (cross-validated
metrics and their report), :mod:`.bundle` (saving and loading).  Reading feature and label tables
is :mod:`PanCancerSubtypeLib.tables`' job (re-exported here for convenience).
"""
from __future__ import annotations

from ..errors import FeatureValueError, LabelTableError
from ..tables import (choose_label_column, is_metadata_column, join_features_labels,
                      read_table)
from .bundle import (BUNDLE_FORMAT, CALIBRATION_FILE, CHECKSUMS_FILE, METADATA_FILE, MODEL_FILE,
                     PREPROCESSING_FILE, REQUIRED_FILES, check_bundle_target, load_bundle,
                     save_bundle, verify_bundle)
from .calibration import CALIBRATION_METHODS, Calibration
from .metrics import format_cv_report
from .model import PREDICTION_COLUMN, SubtypeClassifier

#: metadata / diagnostic columns are never features (the rule of :mod:`PanCancerSubtypeLib.tables`)
is_ignored_column = is_metadata_column

__all__ = [
    "SubtypeClassifier", "save_bundle", "load_bundle", "verify_bundle", "check_bundle_target",
    "join_features_labels",
    "choose_label_column", "read_table", "format_cv_report", "is_ignored_column",
    "FeatureValueError", "LabelTableError", "PREDICTION_COLUMN", "Calibration",
    "CALIBRATION_METHODS", "BUNDLE_FORMAT", "MODEL_FILE", "PREPROCESSING_FILE",
    "CALIBRATION_FILE", "METADATA_FILE", "CHECKSUMS_FILE", "REQUIRED_FILES",
]
