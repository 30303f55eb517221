"""The classifier's model bundle: a directory of JSON files with SHA-256 checksums, no pickle.

=====================  =========================================================================
``model.json``         the booster in XGBoost's own JSON format
``preprocessing.json`` the fitted :class:`~PanCancerSubtypeLib.preprocessing.FeaturePreparer`
                       (feature columns in order, dropped columns and why, fill values)
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

import logging
import platform
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import pandas as pd

from ..errors import ModelBundleError
from ..files import read_json, sha256_file, to_jsonable, utc_timestamp, write_json
from ..preprocessing import FeaturePreparer
from .calibration import Calibration
from .model import SubtypeClassifier, label_to_json, xgboost_module
from .novelty import NoveltyDetector

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
MODEL_FILE = "model.json"
PREPROCESSING_FILE = "preprocessing.json"
CALIBRATION_FILE = "calibration.json"
NOVELTY_FILE = "novelty.json"
METADATA_FILE = "metadata.json"
CHECKSUMS_FILE = "checksums.json"
REQUIRED_FILES = (MODEL_FILE, PREPROCESSING_FILE, METADATA_FILE)


BUNDLE_FILES = (MODEL_FILE, PREPROCESSING_FILE, CALIBRATION_FILE, NOVELTY_FILE, METADATA_FILE,
                CHECKSUMS_FILE)


def check_bundle_target(directory: Any, overwrite: bool = False) -> Path:
    """Raise :class:`ModelBundleError` unless :func:`save_bundle` may write to ``directory``
    (callers check before training, so that a refusal costs nothing)."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ModelBundleError("exists and is not a directory", source=d)
    if d.exists() and not overwrite and any((d / n).exists() for n in BUNDLE_FILES):
        raise ModelBundleError("already holds a model bundle (use overwrite=True / --overwrite)",
                               source=d)
    return d


def save_bundle(model: SubtypeClassifier, directory: Any, overwrite: bool = False) -> Path:
    """Write ``model`` to ``directory`` as a pickle-free bundle (see the module docstring).

    The directory is created if needed.  An existing bundle there is replaced only with
    ``overwrite=True`` (otherwise :class:`ModelBundleError`).
    """
    from .. import __version__, registry
    import sklearn
    xgb = xgboost_module()

    model._check_fitted()
    d = check_bundle_target(directory, overwrite)
    names = BUNDLE_FILES
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        if (d / n).exists():
            (d / n).unlink()
    model.booster_.save_model(str(d / MODEL_FILE))
    write_json(d / PREPROCESSING_FILE, to_jsonable(model.preprocessor_.to_dict()))
    files = [MODEL_FILE, PREPROCESSING_FILE]
    if model.calibration_ is not None:
        write_json(d / CALIBRATION_FILE, to_jsonable(model.calibration_.to_dict()))
        files.append(CALIBRATION_FILE)
    if getattr(model, "novelty_", None) is not None:
        write_json(d / NOVELTY_FILE, to_jsonable(model.novelty_.to_dict()))
        files.append(NOVELTY_FILE)
    imp = model.importances_
    meta = {
        "bundle_format": BUNDLE_FORMAT,
        "kind": "PanCancerSubtype subtype classifier",
        "tool": "PanCancerSubtypeLib",
        "tool_version": __version__,
        "registry_version": registry.REGISTRY_VERSION,
        "columns": list(model.preprocessor_.columns_out_),
        "n_features": len(model.preprocessor_.columns_out_),
        "classes": [label_to_json(c) for c in model.classes_],
        "class_counts": {str(k): v for k, v in model.class_counts_.items()},
        "n_samples": model.n_samples_,
        "trained_at": model.trained_at_,
        "saved_at": utc_timestamp(),
        "objective": model.xgb_params_for(model.n_classes_)["objective"],
        "calibration": None if model.calibration_ is None else model.calibration_.method,
        "novelty_threshold": (None if getattr(model, "novelty_", None) is None
                              else model.novelty_.threshold_),
        "params": model.get_params(),
        "xgb_params": {k: v for k, v in model.xgb_params_for(model.n_classes_).items()
                       if k != "missing"},
        "cv_report": model.cv_report_,
        "importances": {"features": list(imp.index),
                        **{c: imp[c].tolist() for c in imp.columns}},
        "versions": {"xgboost": xgb.__version__, "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__,
                     "python": platform.python_version()},
        "platform": platform.platform(),
    }
    write_json(d / METADATA_FILE, to_jsonable(meta))
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


def _major_minor(version: str) -> tuple:
    """``(major, minor)`` of a version string ("3.1.0rc1" -> (3, 1)); (0, 0) when unreadable."""
    import re

    m = re.match(r"(\d+)\.(\d+)", str(version))
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def load_bundle(directory: Any, n_jobs: Optional[int] = None) -> SubtypeClassifier:
    """Read a bundle written by :func:`save_bundle`; never unpickles.

    All checksums are verified before any file is parsed.  A bundle from another feature-registry
    or XGBoost version loads with a warning.
    """
    from .. import registry
    xgb = xgboost_module()

    d = Path(directory)
    files = verify_bundle(d)
    meta = _read_json(d / METADATA_FILE)
    if not isinstance(meta, dict) or meta.get("bundle_format") != BUNDLE_FORMAT:
        raise ModelBundleError(f"unsupported bundle format {meta.get('bundle_format')!r} "
                               f"(this version reads {BUNDLE_FORMAT})", source=d / METADATA_FILE)
    try:
        pre = FeaturePreparer.from_dict(_read_json(d / PREPROCESSING_FILE),
                                       source=str(d / PREPROCESSING_FILE))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelBundleError(f"malformed preprocessing: {exc}",
                               source=d / PREPROCESSING_FILE) from exc
    if pre.columns_out_ != list(meta.get("columns", [])):
        raise ModelBundleError("column list differs between preprocessing.json and "
                               "metadata.json", source=d)
    calib = None
    if meta.get("calibration"):
        if CALIBRATION_FILE not in files:
            raise ModelBundleError(f"model is calibrated but {CALIBRATION_FILE} is missing",
                                   source=d / CALIBRATION_FILE)
        try:
            calib = Calibration.from_dict(_read_json(d / CALIBRATION_FILE))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"malformed calibration: {exc}",
                                   source=d / CALIBRATION_FILE) from exc
    booster = xgb.Booster()
    try:
        booster.load_model(str(d / MODEL_FILE))
    except (xgb.core.XGBoostError, UnicodeDecodeError, ValueError) as exc:  # e.g. not JSON
        raise ModelBundleError(f"XGBoost cannot read the model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]}); a model bundle holds an "
                               f"XGBoost JSON model, never a pickle", source=d / MODEL_FILE) \
            from None
    if booster.num_features() != len(pre.columns_out_):
        raise ModelBundleError(f"model has {booster.num_features()} features but the bundle "
                               f"lists {len(pre.columns_out_)} columns", source=d / MODEL_FILE)
    if meta.get("registry_version") != registry.REGISTRY_VERSION:
        warnings.warn(f"{d}: model trained with feature registry {meta.get('registry_version')}, "
                      f"this installation has {registry.REGISTRY_VERSION}; feature meanings may "
                      f"differ", stacklevel=2)
    saved_xgb = meta.get("versions", {}).get("xgboost")
    if saved_xgb and _major_minor(saved_xgb) >= (3, 1) > _major_minor(xgb.__version__) \
            and len(meta.get("classes", [])) > 2:
        # XGBoost 3.1 saves one intercept per class; earlier versions read them as 0.5, and
        # the probabilities move (by up to 0.25, 1 subtype in 10 changed: packaging audit)
        raise ModelBundleError(
            f"saved with XGBoost {saved_xgb}, whose per-class intercepts XGBoost "
            f"{xgb.__version__} cannot read (its subtypes would differ): install xgboost>=3.1, "
            f"or train the model with this installation", source=d / MODEL_FILE)
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
    model.restore_state(pre, booster, calib)
    model.class_counts_ = dict(meta.get("class_counts", {}))
    model.n_samples_ = meta.get("n_samples")
    model.trained_at_ = meta.get("trained_at")
    model.cv_report_ = meta.get("cv_report", {})
    model.novelty_ = None
    if NOVELTY_FILE in files:
        try:
            model.novelty_ = NoveltyDetector.from_dict(_read_json(d / NOVELTY_FILE),
                                                       source=str(d / NOVELTY_FILE))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelBundleError(f"malformed novelty detector: {exc}",
                                   source=d / NOVELTY_FILE) from exc
    imp = meta.get("importances") or {}
    feats = imp.pop("features", list(pre.columns_out_))
    model.importances_ = pd.DataFrame(imp, index=pd.Index(feats, name="feature"))
    model.metadata_ = meta
    return model

