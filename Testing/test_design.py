"""The paper's discovery / validation design, family weighting, the encoder choice, the novelty
detector and the classifier's reliability table, on small data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib.classifier.metrics import reliability_table
from PanCancerSubtypeLib.classifier.novelty import NoveltyDetector
from PanCancerSubtypeLib.discovery import discover, discovery_validation, stratified_split
from PanCancerSubtypeLib.encoder import PCAEncoder
from PanCancerSubtypeLib.preprocessing import FeaturePreparer
from PanCancerSubtypeLib.tables import feature_family


# ------------------------------------------------------------------------------------------
# families and weighting
# ------------------------------------------------------------------------------------------
def test_feature_families():
    assert feature_family("shape_coef_l3_m-2") == "shape_coefficients"
    assert feature_family("shape_energy_l15") == "shape_energy"
    assert feature_family("shape_entropy_l1") == "shape_entropy"
    assert feature_family("shape_scale_norm_2") == "shape_scale"
    for c in ("shape_volume_mm3", "shape_radius_mm", "shape_scale_mm_3"):
        assert feature_family(c) == "shape_burden"
    assert feature_family("regional_TC_PM5_chisquare") == "regional"
    assert feature_family("original_glcm_Contrast") == "original_glcm"
    assert feature_family("wavelet-LLH_firstorder_Mean") == "wavelet-LLH_firstorder"
    assert feature_family("age") == "age" and feature_family("feat_3") == "feat_3"


def test_family_weighting_gives_each_family_equal_total_variance(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(50, 6)) * [1, 2, 3, 4, 5, 6],
                      columns=["shape_coef_l1_m0", "shape_coef_l1_m1", "shape_coef_l2_m0",
                               "shape_coef_l2_m1", "shape_volume_mm3", "regional_TC_TIM_x"])
    z = FeaturePreparer().fit_transform(df)
    prep = FeaturePreparer(weighting="family").fit(df)
    w = prep.transform(df)
    np.testing.assert_allclose(prep.weights_, [0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(w.to_numpy(), z.to_numpy() * prep.weights_)
    # total variance per family: 4 coefficients x 0.25 = 1 = volume's = regional's
    var = w.var(ddof=0)
    assert var[:4].sum() == pytest.approx(1.0) and var.iloc[4] == pytest.approx(1.0)
    rep = prep.report().set_index("column")
    assert rep.loc["shape_coef_l1_m0", "family"] == "shape_coefficients"
    assert rep.loc["shape_coef_l1_m0", "weight"] == pytest.approx(0.5)
    prep.save(str(tmp_path))
    back = FeaturePreparer.load(str(tmp_path))
    pd.testing.assert_frame_equal(back.transform(df), w)
    with pytest.raises(ValueError, match="weighting"):
        FeaturePreparer(weighting="equal").fit(df)


# ------------------------------------------------------------------------------------------
# encoders
# ------------------------------------------------------------------------------------------
def test_pca_encoder_matches_sklearn_and_round_trips(tmp_path):
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 12)) + 0.01 * rng.normal(size=(40, 12))
    enc = PCAEncoder(3).fit(X)
    ref = PCA(3, svd_solver="full").fit(X)
    np.testing.assert_allclose(enc.transform(X), ref.transform(X), atol=1e-10)
    assert enc.reconstruction_error(X) == pytest.approx(
        np.mean((ref.inverse_transform(ref.transform(X)) - X) ** 2))
    enc.save(str(tmp_path))
    back = PCAEncoder.load(str(tmp_path))
    np.testing.assert_array_equal(back.transform(X), enc.transform(X))


def _blobs(n_per=20, k=4, p=12, sep=3.0, noise=0.6, seed=0, types=("lung", "brain")):
    rng = np.random.default_rng(seed)
    cent = rng.normal(0, sep, (k, p))
    lab = np.repeat(np.arange(k), n_per)
    X = cent[lab] + rng.normal(0, noise, (k * n_per, p))
    df = pd.DataFrame(X, columns=[f"feat_{i}" for i in range(p)])
    df.insert(0, "ID", [f"c{i:03d}" for i in range(len(df))])
    df["CancerType"] = [types[i % len(types)] for i in range(len(df))]
    return df, lab


def test_auto_encoder_reports_both_heldout_errors_and_uses_the_better(tmp_path):
    df, lab = _blobs(n_per=15, k=3, p=30, seed=3)
    res = discover(df, encode="auto", code_dim=3, k_max=5, reps=20, seed=1, purity_repeats=0,
                   ae_epochs=60)
    comp = res.encoder_comparison
    assert set(comp.index) == {"autoencoder", "pca"}
    better = comp["heldout_mse"].idxmin()
    assert res.encoder_used == better
    assert res.summary()["encoder_comparison"]["pca"]["heldout_mse"] == \
        pytest.approx(comp.loc["pca", "heldout_mse"])
    assert res.codes.shape == (45, 3)
    # the saved table holds the errors, not the run's fit times (results are the same bytes for
    # the same inputs and seed; the times are in summary.json)
    res.save(str(tmp_path / "out"))
    saved = pd.read_csv(tmp_path / "out" / "encoder_comparison.csv", index_col="model")
    assert list(saved.columns) == ["n_components", "train_mse", "heldout_mse"]
    assert saved.loc["pca", "heldout_mse"] == pytest.approx(comp.loc["pca", "heldout_mse"])
    assert "fit_seconds" in res.summary()["encoder_comparison"]["pca"]


# ------------------------------------------------------------------------------------------
# the design
# ------------------------------------------------------------------------------------------
def test_stratified_split():
    ids = [f"x{i}" for i in range(30)]
    strata = ["a"] * 12 + ["b"] * 9 + ["c"] * 9
    d, v = stratified_split(ids, strata, 1 / 3, seed=4)
    assert sorted(d + v) == sorted(ids) and not set(d) & set(v)
    per = pd.Series(strata, index=ids).loc[v].value_counts().to_dict()
    assert per == {"a": 4, "b": 3, "c": 3}
    assert stratified_split(ids, strata, 1 / 3, seed=4) == (d, v)      # seeded
    assert stratified_split(ids, strata, 1 / 3, seed=5) != (d, v)


def test_design_recovers_planted_clusters_with_igp_and_purity(tmp_path):
    from sklearn.metrics import adjusted_rand_score

    df, lab = _blobs(n_per=21, k=4, p=10, sep=3.0, noise=0.5, seed=7)
    res = discovery_validation(df, k_max=6, reps=30, seed=2, split_seed=2, purity_repeats=2,
                               purity_reps=20, igp_permutations=200)
    assert res.k == 4 and res.whole.k == 4
    assert adjusted_rand_score(lab, res.whole.labels.loc[df["ID"]].to_numpy()) == 1.0
    igp = res.igp_at()
    assert len(igp) == 4 and (igp["igp"] >= 0.8).all() and igp["p_value"].notna().all()
    s = res.summary()
    assert s["n_validation"] == 28 and s["n_discovery"] == 56
    assert s["validation_own_k"] == 4 and s["validation_agreement_ari"] == 1.0
    assert set(res.purity_by_type["cancer_type"]) == {"all", "lung", "brain"}
    assert (res.purity_by_type["purity"] >= 0.9).all()
    out = res.save(tmp_path / "d")
    for f in ("split.csv", "purity_by_cancer_type.csv", "design_summary.json",
              "discovery/classes.csv", "discovery/igp.csv", "whole/classes.csv"):
        assert (out / f).is_file(), f


# ------------------------------------------------------------------------------------------
# novelty and calibration
# ------------------------------------------------------------------------------------------
def test_novelty_flags_a_far_patient_not_a_near_one():
    rng = np.random.default_rng(0)
    cov = np.diag(np.linspace(0.5, 2.0, 8))
    train = pd.DataFrame(rng.multivariate_normal(np.zeros(8), cov, 200),
                         columns=[f"f{i}" for i in range(8)])
    det = NoveltyDetector().fit(train)
    # the threshold comes from out-of-fold scores: about 2.5% of the training set lies above it
    assert np.mean(det.oof_scores_ > 1.0) == pytest.approx(0.025, abs=0.011)
    near = pd.DataFrame([np.zeros(8)], columns=train.columns)
    far = pd.DataFrame([np.full(8, 8.0)], columns=train.columns)
    assert not det.flag(near)["novel"].iloc[0]
    assert det.flag(far)["novel"].iloc[0]
    assert det.score(far)[0] > 3.0
    # fresh patients from the training distribution are flagged at about the nominal rate
    fresh = pd.DataFrame(rng.multivariate_normal(np.zeros(8), cov, 2000), columns=train.columns)
    assert 0.005 < det.flag(fresh)["novel"].mean() < 0.06
    back = NoveltyDetector.from_dict(det.to_dict())
    np.testing.assert_allclose(back.score(far), det.score(far))


def test_novelty_sees_an_outlier_in_one_family_only():
    """A tumour far smaller than any in training is novel although its other 300 features are
    typical: one distance over all features would dilute it, the per-family maximum does not."""
    rng = np.random.default_rng(2)
    n = 150
    size = np.exp(rng.normal(8.5, 0.5, n))                     # volumes 1,500-17,000 mm3
    cols = {"shape_volume_mm3": size, "shape_radius_mm": np.cbrt(size) * 0.62}
    for i in range(60):
        cols[f"shape_coef_l{i}_m0"] = rng.normal(0, 1, n)
    train = pd.DataFrame(cols)
    det = NoveltyDetector().fit(train)
    small = train.iloc[[0]].copy()
    small["shape_volume_mm3"], small["shape_radius_mm"] = 130.0, np.cbrt(130.0) * 0.62
    f = det.flag(small)
    assert f["novel"].iloc[0] and f["novelty_family"].iloc[0] == "shape_burden"


def test_classifier_bundle_carries_novelty_and_reliability(tmp_path):
    from PanCancerSubtypeLib.classifier import SubtypeClassifier, load_bundle, save_bundle

    df, lab = _blobs(n_per=25, k=3, p=6, seed=9)
    y = np.asarray([f"S{c}" for c in lab])
    m = SubtypeClassifier(n_estimators=20, cv_folds=3, random_state=0).fit(df, y)
    rel = m.cv_report_["reliability"]
    assert sum(b["n"] for b in rel["bins"]) == len(df) and 0 <= rel["ece"] <= 1
    far = df.head(2).copy()
    far.loc[:, [c for c in df.columns if c.startswith("feat_")]] = 50.0
    out = m.predict_frame(pd.concat([df.head(3), far]), id_column="ID")
    assert list(out["novel"]) == [False, False, False, True, True]
    assert set(out["novelty_family"].iloc[3:]) <= {f"feat_{i}" for i in range(6)}
    save_bundle(m, tmp_path / "b")
    assert (tmp_path / "b" / "novelty.json").is_file()
    back = load_bundle(tmp_path / "b").predict_frame(pd.concat([df.head(3), far]))
    pd.testing.assert_frame_equal(back, out)


def test_reliability_table_by_hand():
    # 4 predictions, one repeat: confidences 0.95 (right), 0.92 (wrong), 0.55 (right), 0.6 (right)
    oof = np.array([[[0.95, 0.05], [0.08, 0.92], [0.55, 0.45], [0.4, 0.6]]])
    y = np.array([0, 0, 0, 1])
    rel = reliability_table(y, oof, n_bins=10)
    bins = {round(b["bin_low"], 1): b for b in rel["bins"]}
    assert bins[0.9]["n"] == 2 and bins[0.9]["accuracy"] == 0.5
    assert bins[0.9]["confidence"] == pytest.approx(0.935)
    assert bins[0.5]["n"] == 2 and bins[0.5]["accuracy"] == 1.0
    # ECE = 2/4 |0.5 - 0.935| + 2/4 |1 - 0.575|
    assert rel["ece"] == pytest.approx(0.5 * 0.435 + 0.5 * 0.425)


# ------------------------------------------------------------------------------------------
# the audit of pass 50: seeds, R-compatible validation, small cohorts
# ------------------------------------------------------------------------------------------
def test_a_drawn_seed_repeats_the_whole_run(tmp_path):
    """Without a seed one is drawn and every step uses it (purity took 0, IGP none): giving
    the recorded seed back gives the same purity and IGP (audit)."""
    df, _ = _blobs(n_per=12, k=3, p=6, seed=3)
    kw = dict(validation=df.iloc[::3], k_max=4, reps=20, purity_repeats=1, purity_reps=10,
              igp_permutations=30)
    a = discover(df, **kw)
    seed = a.summary()["seed"]
    assert a.settings.seed == seed
    b = discover(df, seed=seed, **kw)
    pd.testing.assert_frame_equal(a.igp, b.igp)
    assert a.purity.mean == b.purity.mean and (a.labels == b.labels).all()


def test_design_clusters_the_validation_set_r_compatibly_too(monkeypatch):
    """With r_compatible, every clustering of the design is R's (the validation set's own
    ran in fast mode: audit)."""
    import PanCancerSubtypeLib.consensus as consensus

    made = []
    real = consensus.ConsensusClustering

    class Spy(real):
        def fit(self, *a, **k):
            made.append(self.r_compatible)
            return super().fit(*a, **k)

    monkeypatch.setattr(consensus, "ConsensusClustering", Spy)
    df, _ = _blobs(n_per=15, k=3, p=6, seed=4)
    discovery_validation(df, k_max=4, reps=10, seed=1, purity_repeats=0, igp_permutations=10,
                         r_compatible=True)
    assert made and all(made), made


def test_small_cohorts_skip_purity_instead_of_failing_after_the_work():
    """12 tumours at k=8: the consensus runs, but a 5-fold purity's smallest training fold (9)
    draws 7 per resampling, too few for 8 clusters: the run failed after all its work; now
    purity is skipped with a note.  A design whose validation set is clustered at smaller k
    than the discovery k says so instead of failing (KeyError)."""
    from PanCancerSubtypeLib.discovery.pipeline import purity_items_per_resampling

    assert purity_items_per_resampling(12, 0.8) == 7          # floor((12 - 3) * 0.8)
    assert purity_items_per_resampling(11, 0.8) == 6          # floor((11 - 3) * 0.8)
    df, _ = _blobs(n_per=4, k=3, p=6, seed=5)
    r = discover(df, k=8, k_max=8, reps=10, seed=1, purity_repeats=1, purity_reps=5)
    assert r.purity is None
    assert any("purity skipped: k=8 needs more than the 7 tumours" in n for n in r.notes)


def test_no_elbow_says_k_is_the_top_of_the_range():
    from PanCancerSubtypeLib.consensus import suggest_k

    sel = suggest_k([2, 3, 4], [0.5, 0.4, 0.3], [1.0, 0.5, 0.3])
    assert sel.k == 4 and "the largest k searched" in sel.rule and "no elbow" in sel.rule
    sel = suggest_k([2, 3, 4], [0.5, 0.4, 0.3], [1.0, 0.5, 0.05])
    assert sel.k == 3 and "drops below 0.1 after k=3" in sel.rule


def test_family_weighting_is_recorded_only_where_applied():
    df, _ = _blobs(n_per=10, k=3, p=6, seed=6)
    r = discover(df, k_max=3, reps=10, seed=1, purity_repeats=0, preprocess="none")
    assert r.summary()["settings"]["weighting"] == "none"


def test_design_with_a_discovery_k_above_the_validation_sets_range():
    """The validation set (10 tumours) is clustered at k <= 7; at a discovery k of 8 the
    summary failed with KeyError: 8 after all the work (audit); the agreement is now None."""
    df, _ = _blobs(n_per=10, k=4, p=6, seed=8)
    res = discovery_validation(df, validation_fraction=0.25, k=8, k_max=8, reps=10, seed=1,
                               purity_repeats=0, igp_permutations=10)
    s = res.summary()
    assert s["discovery_k"] == 8 and s["validation_agreement_ari"] is None
