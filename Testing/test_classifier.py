"""Tests of the subtype classifier and its model bundle (PanCancerSubtypeLib.classifier)."""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib import cli
from PanCancerSubtypeLib.classifier import (
    FeatureValueError, LabelTableError, SubtypeClassifier, choose_label_column,
    join_features_labels, load_bundle, save_bundle, verify_bundle)
from PanCancerSubtypeLib.errors import FeatureMismatchError, ModelBundleError

FAST = dict(n_estimators=40, max_depth=3, learning_rate=0.3)


def make_data(n=160, p=30, k=4, informative=(3, 7, 11), shift=6.0, seed=0, labels=None,
              noise_frac=0.0):
    """Gaussian noise features; class c (c >= 1) shifts informative column c-1 by ``shift`` SD."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    rng.shuffle(y)
    X = rng.normal(size=(n, p))
    for c in range(1, k):
        X[:, informative[(c - 1) % len(informative)]] += shift * (y == c)
    if noise_frac:
        flip = rng.random(n) < noise_frac
        y = np.where(flip, rng.integers(0, k, n), y)
    cols = [f"feat_{j:03d}" for j in range(p)]
    df = pd.DataFrame(X, columns=cols)
    df.insert(0, "ID", [f"P{i:04d}" for i in range(n)])
    lab = y if labels is None else np.asarray(labels, dtype=object)[y]
    return df, lab, [cols[j] for j in informative[:k - 1]]


@pytest.fixture(scope="module")
def fitted():
    df, y, inf = make_data(labels=["luminal", "basal", "her2", "normal"])
    m = SubtypeClassifier(**FAST, cv_folds=5, cv_repeats=2, random_state=1).fit(df, y)
    return m, df, y, inf


# ---------------------------------------------------------------- cross-validation, predictions

def test_cv_accuracy_near_one_on_separable_data(fitted):
    m, df, y, _ = fitted
    rep = m.cv_report_
    assert rep["n_folds"] == 5 and rep["n_repeats"] == 2 and len(rep["folds"]) == 10
    assert rep["accuracy"]["mean"] > 0.95
    assert rep["balanced_accuracy"]["mean"] > 0.95
    assert rep["macro_auc"]["mean"] > 0.98
    assert set(rep["auc_per_class"]) == {"basal", "her2", "luminal", "normal"}
    for v in rep["auc_per_class"].values():
        assert v["mean"] > 0.95
    # confusion matrix: every sample once per repeat; its diagonal is the pooled accuracy
    cm = np.array(rep["confusion_matrix"]["counts"])
    assert cm.sum() == 2 * len(df)
    assert np.trace(cm) / cm.sum() == pytest.approx(rep["pooled_out_of_fold"]["accuracy"]["mean"])
    # rows are true classes: row sums are the class counts (x repeats)
    counts = pd.Series(y).value_counts()
    np.testing.assert_array_equal(cm.sum(axis=1), [2 * counts[c] for c in m.classes_])


def test_cv_is_at_chance_on_random_labels():
    """No leakage: with labels independent of the features, CV accuracy ~ 1/K and AUC ~ 0.5."""
    df, _, _ = make_data(n=200, seed=3)
    y = np.random.default_rng(99).integers(0, 4, len(df))
    m = SubtypeClassifier(**FAST, cv_folds=5, random_state=0).fit(df, y)
    assert abs(m.cv_report_["accuracy"]["mean"] - 0.25) < 0.12
    assert abs(m.cv_report_["macro_auc"]["mean"] - 0.5) < 0.1


def test_probabilities_sum_to_one_and_predict_is_argmax(fitted):
    m, df, y, _ = fitted
    P = m.predict_proba(df)
    assert P.shape == (len(df), 4)
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(m.predict(df), m.classes_[P.argmax(axis=1)])
    # uncalibrated probabilities are the softmax of the margins
    M = m.predict_margin(df)
    S = np.exp(M - M.max(axis=1, keepdims=True))
    np.testing.assert_allclose(P, S / S.sum(axis=1, keepdims=True), atol=1e-6)


def test_string_labels_round_trip(fitted):
    m, df, y, _ = fitted
    assert list(m.classes_) == ["basal", "her2", "luminal", "normal"]   # sorted
    pred = m.predict(df)
    assert set(pred) <= set(y)
    assert np.mean(pred == np.asarray(y)) > 0.97      # training fit


def test_integer_labels_and_binary():
    df, y, _ = make_data(n=120, k=2, seed=5)
    y = np.where(y == 1, 7, 3)                        # integer labels, not 0..K-1
    m = SubtypeClassifier(**FAST, cv_folds=4, random_state=0).fit(df, y)
    assert list(m.classes_) == [3, 7]
    assert m.cv_report_["accuracy"]["mean"] > 0.95
    P = m.predict_proba(df)
    assert P.shape == (len(df), 2)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert set(np.unique(m.predict(df))) == {3, 7}
    sv = m.shap_values(df)
    assert sv.shape == (len(df), 2, df.shape[1])      # 29 features + bias (ID is not a feature)
    np.testing.assert_allclose(sv[:, 1].sum(-1), m.predict_margin(df)[:, 1], atol=1e-4)


def test_too_few_classes_and_missing_labels():
    df, y, _ = make_data(n=40)
    with pytest.raises(ValueError, match=r"at least 2 classes to train a classifier, "
                                         r"got \[0\.0\]$"):
        SubtypeClassifier(**FAST).fit(df, np.zeros(len(df)))    # a plain 0.0, not np.float64(0.0)
    y = np.asarray(y, dtype=object)
    y[3] = None
    with pytest.raises(ValueError, match="missing label"):
        SubtypeClassifier(**FAST).fit(df, y)


# ---------------------------------------------------------------- importances

def test_importances_rank_planted_features_first(fitted):
    m, df, _, informative = fitted
    for kind in ("gain", "total_gain", "shap"):
        top = list(m.feature_importances(kind).index[:3])
        assert set(top) == set(informative), (kind, top)
    g = m.feature_importances("gain")
    assert g.sum() == pytest.approx(1.0)
    assert "ID" not in g.index
    # per-class SHAP: the column that separates class "basal" (shift on feat_003 for y == 1,
    # i.e. the 2nd label "basal") matters most for that class
    assert m.feature_importances("shap_basal").index[0] == "feat_003"


def test_shap_contributions_add_up_to_margin(fitted):
    m, df, _, _ = fitted
    sv = m.shap_values(df)
    assert sv.shape == (len(df), 4, 31)
    np.testing.assert_allclose(sv.sum(axis=-1), m.predict_margin(df), atol=1e-4)


# ---------------------------------------------------------------- features, missing values

def test_missing_values_native_and_inf_as_missing():
    df, y, _ = make_data(n=120, seed=7)
    rng = np.random.default_rng(0)
    feats = [c for c in df.columns if c != "ID"]
    holes = rng.random((len(df), len(feats))) < 0.1
    vals = df[feats].to_numpy()
    vals[holes] = np.nan
    df[feats] = vals
    m = SubtypeClassifier(**FAST, cv_folds=3).fit(df, y)
    assert m.cv_report_["accuracy"]["mean"] > 0.8
    assert m.preprocessing_["impute"] is None
    assert 0.05 < m.preprocessing_["missing_fraction"]["feat_003"] < 0.15
    P_nan = m.predict_proba(df)
    df_inf = df.copy()
    df_inf[feats] = np.where(np.isnan(vals), np.inf, vals)
    np.testing.assert_array_equal(m.predict_proba(df_inf), P_nan)
    # median imputation: fill values are the training medians
    mi = SubtypeClassifier(**FAST, cv_folds=0, impute="median").fit(df, y)
    assert mi.preprocessing_["fill_values"]["feat_005"] == pytest.approx(
        np.nanmedian(df["feat_005"]))


def test_constant_and_non_numeric_columns():
    df, y, _ = make_data(n=80, seed=2)
    df["const"] = 1.0
    df["empty"] = np.nan
    df["comment"] = "x"
    m = SubtypeClassifier(**FAST, cv_folds=0).fit(df, y)
    assert set(m.preprocessing_["constant_columns"]) == {"const", "empty"}
    assert "const" in m.feature_names_in_                      # kept by default
    assert m.preprocessing_["dropped"]["non_numeric"] == ["comment"]
    assert "comment" not in m.feature_names_in_
    md = SubtypeClassifier(**FAST, cv_folds=0, drop_constant=True).fit(df, y)
    assert "const" not in md.feature_names_in_ and "empty" not in md.feature_names_in_
    # dropped columns are neither required nor "extra" at prediction
    np.testing.assert_array_equal(md.predict(df.drop(columns=["const", "empty"])),
                                  md.predict(df))
    bad = df.copy()
    bad["feat_004"] = bad["feat_004"].astype(object)
    bad.loc[2, "feat_004"] = "abc"
    with pytest.raises(FeatureValueError, match="feat_004"):
        m.predict(bad)


def test_feature_mismatch_names_the_columns(fitted):
    m, df, _, _ = fitted
    with pytest.raises(FeatureMismatchError, match="feat_007") as ei:
        m.predict(df.drop(columns=["feat_007"]))
    assert ei.value.missing == ["feat_007"] and ei.value.extra == []
    extra = df.assign(new_feature=1.0)
    with pytest.raises(FeatureMismatchError, match="new_feature") as ei:
        m.predict(extra)
    assert ei.value.extra == ["new_feature"]
    np.testing.assert_array_equal(m.predict(extra, strict=False), m.predict(df))
    # metadata / diagnostic columns are ignored; column order does not matter
    meta = df.assign(Image="a.nrrd", Mask="m.nrrd", Label="1", Organ="lung", CancerType="LUAD",
                     Modality="CT", error="", diag_time_shape_s=0.5)
    shuffled = meta[list(reversed(meta.columns))]
    np.testing.assert_array_equal(m.predict_proba(shuffled), m.predict_proba(df))
    out = m.predict_frame(shuffled)
    assert list(out.columns) == (["ID", "predicted_subtype"] + [f"prob_{c}" for c in m.classes_]
                                 + ["novelty_score", "novelty_family", "novel"])
    assert list(out["ID"]) == list(df["ID"])


def test_predict_frame_skips_rows_with_extraction_error(fitted):
    m, df, _, _ = fitted
    d = df.head(5).assign(error=["", "shape: EmptyMaskError: no voxel", "", "", ""])
    out = m.predict_frame(d)
    assert out.loc[1, "predicted_subtype"] is None and np.isnan(out.loc[1, "prob_basal"])
    assert "EmptyMaskError" in out.loc[1, "error"]
    assert out["predicted_subtype"].notna().sum() == 4
    # a row with no value of the model's features gets no prediction either (XGBoost gave it
    # the default branch's subtype, at a confident-looking probability, unflagged)
    e = df.head(4).copy()
    feats = [c for c in e.columns if c != "ID"]
    e.loc[e.index[2], feats] = np.nan
    out = m.predict_frame(e)
    assert out.loc[2, "predicted_subtype"] is None and np.isnan(out.loc[2, "prob_basal"])
    assert out.loc[2, "error"] == "no value of the model's features"
    assert out["predicted_subtype"].notna().sum() == 3 and (out.loc[[0, 1, 3], "error"] == "").all()


# ---------------------------------------------------------------- calibration

@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_calibration_reapplied_from_json_equals_sklearn(method, tmp_path):
    df, y, _ = make_data(n=150, seed=11, shift=2.0)
    m = SubtypeClassifier(**FAST, cv_folds=0, calibration=method, random_state=3).fit(df, y)
    new, _, _ = make_data(n=60, seed=12, shift=2.0)
    P = m.predict_proba(new)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)
    # reference: scikit-learn's own CalibratedClassifierCV on the same preprocessed matrix
    ref = m._last_sklearn_calibrated.predict_proba(m.preprocessor_.transform(new))
    np.testing.assert_allclose(P, ref, atol=5e-7)
    save_bundle(m, tmp_path / "b")
    assert (tmp_path / "b" / "calibration.json").is_file()
    np.testing.assert_allclose(load_bundle(tmp_path / "b").predict_proba(new), P, rtol=0, atol=0)


def test_calibration_improves_an_overconfident_model():
    """Deep, many-round boosting on noisy labels is overconfident; sigmoid / temperature
    calibration must lower the held-out log-loss and Brier score."""
    df, y, _ = make_data(n=480, p=12, seed=21, shift=1.5, noise_frac=0.3)
    tr, te = np.arange(320), np.arange(320, 480)
    over = dict(n_estimators=60, max_depth=6, learning_rate=0.3, subsample=1.0,
                colsample_bytree=1.0, cv_folds=0, random_state=0)
    y = np.asarray(y)

    def scores(model):
        P = model.predict_proba(df.iloc[te])
        yy = np.searchsorted(model.classes_, y[te])
        ll = -np.mean(np.log(np.clip(P[np.arange(len(te)), yy], 1e-15, 1)))
        brier = np.mean(np.sum((P - np.eye(P.shape[1])[yy]) ** 2, axis=1))
        return ll, brier

    base = scores(SubtypeClassifier(**over).fit(df.iloc[tr], y[tr]))
    for method in ("sigmoid", "temperature"):
        cal = scores(SubtypeClassifier(**over, calibration=method).fit(df.iloc[tr], y[tr]))
        assert cal[0] < 0.9 * base[0], (method, cal, base)
        assert cal[1] < base[1], (method, cal, base)


# ---------------------------------------------------------------- bundle

def test_bundle_round_trip_identical(fitted, tmp_path):
    m, df, _, _ = fitted
    d = save_bundle(m, tmp_path / "model")
    assert sorted(p.name for p in d.iterdir()) == [
        "checksums.json", "metadata.json", "model.json", "novelty.json", "preprocessing.json"]
    m2 = load_bundle(d)
    np.testing.assert_allclose(m2.predict_proba(df), m.predict_proba(df), rtol=0, atol=0)
    np.testing.assert_array_equal(m2.predict(df), m.predict(df))
    np.testing.assert_array_equal(m2.classes_, m.classes_)
    assert list(m2.feature_names_in_) == list(m.feature_names_in_)
    assert m2.cv_report_["accuracy"] == m.cv_report_["accuracy"]
    np.testing.assert_allclose(m2.shap_values(df), m.shap_values(df), rtol=0, atol=0)
    meta = json.loads((d / "metadata.json").read_text(encoding="utf-8"))
    from PanCancerSubtypeLib import __version__, registry
    import xgboost
    assert meta["tool_version"] == __version__
    assert meta["registry_version"] == registry.REGISTRY_VERSION
    assert meta["columns"] == [f"feat_{j:03d}" for j in range(30)]
    assert meta["classes"] == ["basal", "her2", "luminal", "normal"]
    assert sum(meta["class_counts"].values()) == len(df) == meta["n_samples"]
    assert meta["versions"]["xgboost"] == xgboost.__version__
    assert meta["objective"] == "multi:softprob"
    # model.json is XGBoost's own JSON, loadable by plain xgboost
    b = xgboost.Booster()
    b.load_model(str(d / "model.json"))
    assert b.num_features() == 30
    # integer labels come back as integers
    df2, y2, _ = make_data(n=60, k=3, seed=4)
    mi = SubtypeClassifier(**FAST, cv_folds=0).fit(df2, y2 + 1)
    mi2 = load_bundle(save_bundle(mi, tmp_path / "int"))
    np.testing.assert_array_equal(mi2.predict(df2), mi.predict(df2))
    assert mi2.predict(df2).dtype.kind == "i"


def test_two_trainings_give_the_same_bundle_bytes_under_source_date_epoch(tmp_path,
                                                                          monkeypatch):
    """The bundle records when it was trained and saved; with ``SOURCE_DATE_EPOCH`` set (the
    reproducible-builds convention, as for DICOM SEG) those are that time, so two trainings with
    the same data and seed write the same bytes, file for file (checksums.json included)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")          # 2026-01-01T00:00:00Z
    df, y, _ = make_data(n=80, k=3, seed=7)
    dirs = [save_bundle(SubtypeClassifier(**FAST, cv_folds=3, random_state=2).fit(df, y),
                        tmp_path / name) for name in ("a", "b")]
    for name in ("checksums.json", "metadata.json", "model.json", "novelty.json",
                 "preprocessing.json"):
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name
    meta = json.loads((dirs[0] / "metadata.json").read_text(encoding="utf-8"))
    assert meta["trained_at"] == meta["saved_at"] == "2026-01-01T00:00:00+00:00"


def test_bundle_contains_no_pickle(fitted, tmp_path):
    m, _, _, _ = fitted
    d = save_bundle(m, tmp_path / "model")
    for f in d.iterdir():
        data = f.read_bytes()
        assert f.suffix == ".json"
        assert not (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"))
        assert b"\x80\x04\x95" not in data and b"\x80\x05\x95" not in data
        json.loads(data.decode("utf-8"))              # every file is plain JSON


def test_tampered_or_missing_files_are_rejected(fitted, tmp_path):
    m, df, _, _ = fitted
    d = save_bundle(m, tmp_path / "model")
    with pytest.raises(ModelBundleError, match="already holds"):
        save_bundle(m, d)
    save_bundle(m, d, overwrite=True)
    verify_bundle(d)
    # one changed byte in model.json
    raw = bytearray((d / "model.json").read_bytes())
    i = raw.index(b"base_score")
    raw[i] = ord("B")
    (d / "model.json").write_bytes(bytes(raw))
    with pytest.raises(ModelBundleError, match="model.json.*checksum mismatch"):
        load_bundle(d)
    # a changed class label in metadata.json
    d2 = save_bundle(m, tmp_path / "m2")
    meta = (d2 / "metadata.json").read_text(encoding="utf-8").replace('"basal"', '"BASAL"')
    (d2 / "metadata.json").write_text(meta)
    with pytest.raises(ModelBundleError, match="metadata.json"):
        load_bundle(d2)
    # missing files
    d3 = save_bundle(m, tmp_path / "m3")
    (d3 / "preprocessing.json").unlink()
    with pytest.raises(ModelBundleError, match="preprocessing.json"):
        load_bundle(d3)
    d4 = save_bundle(m, tmp_path / "m4")
    (d4 / "checksums.json").unlink()
    with pytest.raises(ModelBundleError, match="checksums.json"):
        load_bundle(d4)
    with pytest.raises(ModelBundleError, match="not found"):
        load_bundle(tmp_path / "nowhere")


# ---------------------------------------------------------------- tables and CLI

def test_label_column_choice_and_bad_label_tables():
    assert choose_label_column(pd.DataFrame({"ID": [], "cluster": []})) == "cluster"
    assert choose_label_column(pd.DataFrame({"ID": [], "age": [], "subtype": []})) == "subtype"
    assert choose_label_column(pd.DataFrame({"ID": [], "age": [], "class": []})) == "class"
    with pytest.raises(LabelTableError, match="label-column"):
        choose_label_column(pd.DataFrame({"ID": [], "a": [], "b": []}))
    feats = pd.DataFrame({"ID": ["1", "2"], "f": [0.0, 1.0]})
    with pytest.raises(LabelTableError, match="duplicate IDs"):
        join_features_labels(feats, pd.DataFrame({"ID": ["1", "1"], "s": ["a", "b"]}))
    with pytest.raises(LabelTableError, match="no 'ID' column"):
        join_features_labels(feats, pd.DataFrame({"case": ["1"], "s": ["a"]}))


def test_cli_train_and_classify(tmp_path, capsys, caplog):
    df, y, informative = make_data(n=200, seed=8, labels=["A", "B", "C", "D"])
    df["Modality"] = "CT"
    df["error"] = ""
    df.loc[7, "error"] = "shape: TumourTooSmallError: 3 voxels"
    df["diag_time_shape_s"] = 0.25
    train, new = df.iloc[:150], df.iloc[150:].copy()
    feats_csv, labels_csv = tmp_path / "features.csv", tmp_path / "labels.csv"
    train.to_csv(feats_csv, index=False)
    lab = pd.DataFrame({"ID": df["ID"], "subtype": y}).iloc[5:170]     # 5 unlabelled, 20 extra
    lab.to_csv(labels_csv, index=False)
    model_dir = tmp_path / "model"
    with caplog.at_level(logging.WARNING):
        rc = cli.main(["train-classifier", "--features", str(feats_csv), "--labels",
                       str(labels_csv), "--out", str(model_dir), "--cv-folds", "3",
                       "--n-estimators", "40", "--seed", "2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "joined 144 ID(s)" in out           # 150 - 5 unlabelled - 1 error row
    assert "5 in the features only" in out and "20 in the labels only" in out
    assert "1 with a feature-extraction error" in out
    assert "accuracy" in out and "AUC A" in out and "confusion matrix" in out
    assert "P0007" in caplog.text
    meta = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["n_samples"] == 144 and meta["cv_report"]["accuracy"]["mean"] > 0.95
    assert meta["columns"] == [c for c in df.columns if c.startswith("feat_")]

    new_csv, pred_csv = tmp_path / "new.csv", tmp_path / "pred.csv"
    new.loc[new.index[3], "error"] = "regional: EmptyMaskError"
    new.to_csv(new_csv, index=False)
    assert cli.main(["classify", "--model", str(model_dir), "--features", str(new_csv),
                     "--out", str(pred_csv)]) == 0
    pred = pd.read_csv(pred_csv, dtype={"ID": str})
    assert list(pred.columns[:6]) == ["ID", "predicted_subtype", "prob_A", "prob_B", "prob_C",
                                      "prob_D"]
    assert list(pred["ID"]) == list(new["ID"])
    ok = pred["predicted_subtype"].notna()
    assert ok.sum() == 49 and pd.isna(pred.loc[3, "predicted_subtype"])
    np.testing.assert_allclose(pred.loc[ok, ["prob_A", "prob_B", "prob_C", "prob_D"]].sum(1), 1,
                               atol=1e-9)
    truth = np.asarray(y)[150:]
    assert np.mean(pred.loc[ok, "predicted_subtype"].to_numpy() == truth[ok.to_numpy()]) > 0.9
    # same as the library on the loaded bundle
    ref = load_bundle(model_dir).predict_frame(new)
    np.testing.assert_allclose(pred.loc[ok, "prob_B"], ref.loc[ok.to_numpy(), "prob_B"],
                               rtol=1e-12)

    # mismatching columns: error names the column, exit code 1
    new.drop(columns=["feat_011"]).to_csv(new_csv, index=False)
    capsys.readouterr()
    assert cli.main(["classify", "--model", str(model_dir), "--features", str(new_csv),
                     "--out", str(pred_csv)]) == 1
    assert "feat_011" in capsys.readouterr().err
    # tampered bundle: exit code 1, file named
    (model_dir / "preprocessing.json").write_text("{}")
    assert cli.main(["classify", "--model", str(model_dir), "--features", str(new_csv),
                     "--out", str(pred_csv)]) == 1
    assert "preprocessing.json" in capsys.readouterr().err


def test_numpy_input_and_sklearn_clone():
    from sklearn.base import clone

    df, y, _ = make_data(n=90, k=3, seed=13)
    X = df.drop(columns=["ID"]).to_numpy()
    m = SubtypeClassifier(**FAST, cv_folds=3).fit(X, y)
    assert list(m.feature_names_in_) == [f"x{j}" for j in range(X.shape[1])]
    assert m.score(X, y) > 0.95                       # ClassifierMixin.score = accuracy
    with pytest.raises(FeatureMismatchError, match="x29"):
        m.predict(X[:, :-1])
    c = clone(m)
    assert c.get_params() == m.get_params() and not hasattr(c, "booster_")
    np.testing.assert_array_equal(c.fit(X, y).predict_proba(X), m.predict_proba(X))  # seeded


def test_a_bundle_from_xgboost_3_1_is_refused_by_an_older_xgboost(tmp_path, monkeypatch):
    """XGBoost >= 3.1 saves one intercept per class; 3.0 and 2.1 (Slicer 5.8's) read them as
    0.5 and the probabilities move by up to 0.25 (packaging audit): such a load is refused,
    naming both versions.  The same version loads it."""
    import xgboost

    df, y, _ = make_data(n=90, seed=5, shift=2.0)
    assert len(set(y)) > 2
    m = SubtypeClassifier(**FAST, cv_folds=0, random_state=1).fit(df, y)
    save_bundle(m, tmp_path / "b")
    assert load_bundle(tmp_path / "b").predict_proba(df).shape[1] == len(set(y))
    monkeypatch.setattr(xgboost, "__version__", "3.0.5")
    with pytest.raises(ModelBundleError, match=r"per-class intercepts XGBoost 3\.0\.5 cannot "
                                               r"read.*install xgboost>=3\.1"):
        load_bundle(tmp_path / "b")
