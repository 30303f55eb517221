"""The scikit-learn estimator contract of every estimator of the package.

``get_params`` / ``set_params`` / ``clone`` (an unknown parameter is refused), scikit-learn's
``NotFittedError`` before ``fit``, input left as the caller gave it, columns matched by name
(a DataFrame in another column order gives the same predictions; an array of another width is
refused), and targets that cannot be subtype labels refused with a message.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from PanCancerSubtypeLib.classifier import SubtypeClassifier
from PanCancerSubtypeLib.classifier.novelty import NoveltyDetector
from PanCancerSubtypeLib.consensus import ConsensusClustering
from PanCancerSubtypeLib.encoder import Autoencoder, PCAEncoder
from PanCancerSubtypeLib.errors import FeatureMismatchError
from PanCancerSubtypeLib.multisignature import CombinedSignature
from PanCancerSubtypeLib.preprocessing import FeaturePreparer
from PanCancerSubtypeLib.signatures import LassoCoxSignature, LassoLogisticSignature


def _classes(n=40, p=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = pd.DataFrame(rng.normal(size=(n, p)) + y[:, None] * 1.5,
                     columns=["age", "size", "noise", "f3", "f4"][:p])
    return X, y


def _survival(n=60, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(np.exp(-X[:, 0]))
    e = (rng.random(n) < 0.8).astype(int)
    return X, t, e


ESTIMATORS = [
    (FeaturePreparer, {}, "transform"),
    (Autoencoder, {"n_components": 2, "max_epochs": 2}, "transform"),
    (PCAEncoder, {"n_components": 2}, "transform"),
    (SubtypeClassifier, {"n_estimators": 5, "cv_folds": 0}, "predict"),
    (NoveltyDetector, {}, "flag"),
    (ConsensusClustering, {}, None),
    (LassoCoxSignature, {"n_alphas": 10}, "predict"),
    (LassoLogisticSignature, {"Cs": 5}, "predict"),
    (CombinedSignature, {}, "predict"),
]


@pytest.mark.parametrize("cls,kw,method", ESTIMATORS, ids=[c[0].__name__ for c in ESTIMATORS])
def test_params_clone_and_not_fitted(cls, kw, method):
    est = cls(**kw)
    params = est.get_params()
    assert {k: params[k] for k in kw} == kw
    twin = clone(est)
    assert type(twin) is cls and twin.get_params() == params
    with pytest.raises(ValueError, match="(?i)(invalid|unknown) parameter"):
        est.set_params(no_such_parameter=3)
    if method is not None:
        X, _ = _classes()
        with pytest.raises(NotFittedError, match=f"this {cls.__name__} is not fitted yet"):
            getattr(est, method)(X)


def test_lasso_logistic_matches_columns_by_name():
    X, y = _classes(60)
    m = LassoLogisticSignature(Cs=5, outer_cv=0).fit(X, y)
    assert m.n_features_in_ == 5 and m.feature_names_in_ == list(X.columns)
    p = m.predict_proba(X)
    shuffled = X[["noise", "f4", "age", "f3", "size"]]
    np.testing.assert_array_equal(m.predict_proba(shuffled), p)
    np.testing.assert_array_equal(m.decision_function(shuffled), m.decision_function(X))
    with pytest.raises(FeatureMismatchError, match="noise"):
        m.predict(X.rename(columns={"noise": "other"}))
    # an array: by position (another memory layout: the last bit may differ)
    np.testing.assert_allclose(m.predict_proba(X.to_numpy()), p, rtol=1e-12, atol=1e-15)
    with pytest.raises(FeatureMismatchError, match="expected 5 columns"):
        m.predict(X.to_numpy()[:, :3])


def test_lasso_logistic_in_scikit_learn_tools():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    X, y = _classes(60)
    est = LassoLogisticSignature(Cs=3, cv=3, outer_cv=0)
    scores = cross_val_score(est, X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(scores > 0.7)
    gs = GridSearchCV(est, {"Cs": [2, 3]}, cv=3, scoring="roc_auc").fit(X, y)
    assert gs.best_params_["Cs"] in (2, 3)


def test_lasso_cox_refuses_an_array_of_another_width():
    X, t, e = _survival()
    m = LassoCoxSignature(n_alphas=10, cv=3).fit(X, t, e)
    assert m.n_features_in_ == 5
    for k in (1, 3, 6):
        with pytest.raises(FeatureMismatchError, match="expected 5 columns"):
            m.predict(np.column_stack([X] * 2)[:, :k])
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    np.testing.assert_allclose(m.predict(df[["x4", "x3", "x2", "x1", "x0"]]), m.predict(X))


def test_transform_leaves_the_callers_frame_alone_and_integer_labels_work():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(30, 4)))               # integer column labels 0..3
    X.iloc[3, 1] = np.nan
    fp = FeaturePreparer(impute="median").fit(X)
    state = set(vars(fp))
    out = fp.transform(X)
    assert list(X.columns) == [0, 1, 2, 3] and np.isnan(X.iloc[3, 1])
    assert set(vars(fp)) == state                            # transform keeps no state
    assert np.isfinite(np.asarray(out)).all()
    Xc = X.fillna(0.0)
    for enc in (PCAEncoder(2), Autoencoder(n_components=2, max_epochs=2)):
        z = enc.fit(Xc).transform(Xc)
        assert z.shape == (30, 2)
        np.testing.assert_array_equal(enc.transform(Xc[[3, 2, 1, 0]]), z)


def test_autoencoder_refuses_data_without_features():
    with pytest.raises(ValueError, match="no feature column"):
        Autoencoder(n_components=2, max_epochs=2).fit(np.empty((30, 0)))


def test_subtype_classifier_refuses_what_cannot_be_labels():
    X, y = _classes()
    clf = SubtypeClassifier(n_estimators=5, cv_folds=0, novelty=False)
    with pytest.raises(ValueError, match="y looks continuous"):
        clf.fit(X, np.random.default_rng(0).exponential(size=len(X)))
    with pytest.raises(ValueError, match="y .* is required"):
        clf.fit(X, None)
    with pytest.raises(ValueError, match="one label per row"):
        clf.fit(X, np.stack([y, y, y], axis=1))
    # a column of labels, integral floats and text labels are labels
    a = clf.fit(X, y.reshape(-1, 1)).predict(X)
    b = clone(clf).fit(X, y.astype(float)).predict(X)
    np.testing.assert_array_equal(np.asarray(a, float), np.asarray(b, float))
    c = clone(clf).fit(X, np.where(y == 1, "B", "A")).predict(X)
    assert set(c) <= {"A", "B"}
