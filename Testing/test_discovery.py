"""Tests of subtype discovery: feature preparation, autoencoder, IGP, purity, differential
features / FDR / Cramér's V, and the ``discover`` command end to end."""
from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from PanCancerSubtypeLib.encoder import AE_CONFIG_FILE, AE_WEIGHTS_FILE, Autoencoder
from PanCancerSubtypeLib.preprocessing import FeaturePreparer
from PanCancerSubtypeLib.tables import read_feature_table
from PanCancerSubtypeLib.errors import FeatureMismatchError, ManifestError, ModelBundleError
from PanCancerSubtypeLib.validation import (assign_to_centroids, bh_fdr, centroids_from_labels,
                                            cluster_purity, cluster_repro, cramers_v,
                                            differential_features, igp, match_labels)


def _blobs(n_per, k, p, sep, noise, seed):
    rng = np.random.default_rng(seed)
    cent = rng.normal(0, sep, (k, p))
    lab = np.repeat(np.arange(k), n_per)
    return cent[lab] + rng.normal(0, noise, (len(lab), p)), lab, cent


# ------------------------------------------------------------------------------------------
# FeaturePreparer
# ------------------------------------------------------------------------------------------
def _prep_table():
    return pd.DataFrame({
        "a": [1.0, 2.0, 3.0, 4.0, 10.0],
        "const": [5.0] * 5,
        "mostly_nan": [1.0, np.nan, np.nan, np.nan, 2.0],
        "some_nan": [1.0, np.nan, 3.0, 5.0, np.inf],     # inf counts as missing
        "text": ["x", "y", "z", "x", "y"],
    })


def test_preparer_policy_and_values():
    df = _prep_table()
    prep = FeaturePreparer(max_missing=0.5).fit(df)
    assert prep.columns_in_ == ["a", "const", "mostly_nan", "some_nan", "text"]
    assert prep.columns_out_ == ["a", "some_nan"]
    assert prep.dropped_ == {"const": "constant", "mostly_nan": "missing", "text": "non-numeric"}
    assert prep.imputed_ == {"some_nan": 2}
    z = prep.transform(df)
    # column a: population mean 4, sd sqrt(10)
    np.testing.assert_allclose(z["a"], (np.array([1, 2, 3, 4, 10.0]) - 4) / np.sqrt(10))
    # some_nan: observed 1, 3, 5 -> median 3, mean 3, sd sqrt(8/3); missing -> median -> 0
    np.testing.assert_allclose(z["some_nan"], np.array([-2, 0, 0, 2, 0]) / np.sqrt(8 / 3))
    # another set is standardised with the discovery statistics, NaN -> discovery median
    other = pd.DataFrame({"text": ["q"], "some_nan": [np.nan], "mostly_nan": [0.0],
                          "const": [1.0], "a": [14.0]})       # column order does not matter
    zo = prep.transform(other)
    np.testing.assert_allclose(zo.to_numpy()[0], [10 / np.sqrt(10), 0.0])
    rep = prep.report().set_index("column")
    assert rep.loc["const", "action"] == "dropped" and rep.loc["some_nan", "n_imputed"] == 2


def test_preparer_threshold_and_mismatch_and_json(tmp_path):
    df = _prep_table()
    strict = FeaturePreparer(max_missing=0.3).fit(df)       # some_nan is 40 % missing
    assert strict.dropped_["some_nan"] == "missing"
    prep = FeaturePreparer(max_missing=0.5).fit(df)
    bad = df.drop(columns=["a"]).assign(extra=1.0)
    with pytest.raises(FeatureMismatchError) as ei:
        prep.transform(bad, source="val.csv")
    assert ei.value.missing == ["a"] and ei.value.extra == ["extra"]
    assert "val.csv" in str(ei.value) and "a" in str(ei.value)
    with pytest.raises(FeatureMismatchError):
        prep.transform(np.zeros((2, 4)))
    prep.save(str(tmp_path))
    back = FeaturePreparer.load(str(tmp_path))
    pd.testing.assert_frame_equal(back.transform(df), prep.transform(df))
    assert back.dropped_ == prep.dropped_
    with pytest.raises(ModelBundleError):
        FeaturePreparer.load(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------------------------------
# Autoencoder
# ------------------------------------------------------------------------------------------
def _nonlinear_data(n=400, p=30, seed=0):
    """2-D latent variables mapped non-linearly into p dimensions (a curved 2-D sheet)."""
    rng = np.random.RandomState(seed)
    z = rng.uniform(-1, 1, (n, 2))
    H = np.c_[np.sin(3 * z[:, 0]), np.cos(3 * z[:, 0]), np.sin(3 * z[:, 1]),
              np.cos(3 * z[:, 1]), z[:, 0] * z[:, 1], z[:, 0] ** 2]
    X = H @ rng.randn(6, p) + 0.05 * rng.randn(n, p)
    return (X - X.mean(0)) / X.std(0)


def test_autoencoder_deterministic_and_torch_state_untouched():
    import torch

    X = _nonlinear_data(n=150, p=20)
    kw = dict(n_components=3, max_epochs=12, batch_size=32, seed=7, n_threads=1)
    before = torch.random.get_rng_state().clone()
    a = Autoencoder(**kw).fit(X)
    assert torch.equal(torch.random.get_rng_state(), before)      # global RNG untouched
    b = Autoencoder(**kw).fit(X)
    sa, sb = a.network_.state_dict(), b.network_.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = Autoencoder(**dict(kw, seed=8)).fit(X)
    assert not torch.equal(sa["0.0.weight"], c.network_.state_dict()["0.0.weight"])
    # default architecture: p -> k (ReLU) -> p (linear); codes are non-negative
    assert a.transform(X).shape == (150, 3) and (a.transform(X) >= 0).all()
    assert a.inverse_transform(a.transform(X)).shape == X.shape
    assert not torch.are_deterministic_algorithms_enabled()        # restored after fit


def test_autoencoder_save_load_without_pickle(tmp_path):
    from safetensors.numpy import load_file as np_load

    cols = [f"x{i}" for i in range(20)]
    X = pd.DataFrame(_nonlinear_data(n=120, p=20), columns=cols)
    ae = Autoencoder(n_components=4, hidden_layers=(8,), max_epochs=8, seed=1,
                     n_threads=1).fit(X)
    ae.save(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([AE_CONFIG_FILE, AE_WEIGHTS_FILE])
    weights = np_load(str(tmp_path / AE_WEIGHTS_FILE))         # plain tensors, no pickle
    assert weights["0.0.weight"].shape == (8, 20)
    cfg = json.loads((tmp_path / AE_CONFIG_FILE).read_text(encoding="utf-8"))
    assert cfg["params"]["n_components"] == 4 and cfg["feature_names_in"] == cols
    back = Autoencoder.load(str(tmp_path))
    np.testing.assert_array_equal(back.transform(X), ae.transform(X))
    assert back.reconstruction_error(X) == ae.reconstruction_error(X)
    with pytest.raises(FeatureMismatchError):
        back.transform(X.rename(columns={"x3": "y3"}))
    # a modified weights file is refused
    raw = bytearray((tmp_path / AE_WEIGHTS_FILE).read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / AE_WEIGHTS_FILE).write_bytes(bytes(raw))
    with pytest.raises(ModelBundleError, match="checksum"):
        Autoencoder.load(str(tmp_path))


def test_autoencoder_against_pca():
    X = _nonlinear_data(n=400, p=30, seed=0)
    tr, va = X[:320], X[320:]
    # the paper's architecture (one ReLU code layer, linear decoder) cannot beat PCA on its own
    # training data (PCA is the optimal rank-k affine reconstruction), but should come close
    lin = Autoencoder(n_components=2, max_epochs=60, batch_size=32, learning_rate=3e-3,
                      patience=60, seed=0, n_threads=1).fit(tr)
    rep = lin.reconstruction_report(tr, va)
    assert rep.loc["autoencoder", "train_mse"] >= rep.loc["pca", "train_mse"] * (1 - 1e-6)
    assert rep.loc["autoencoder", "val_mse"] < 1.5 * rep.loc["pca", "val_mse"]
    # a non-linear encoder / decoder captures the curved 2-D sheet better than 2 PCs
    deep = Autoencoder(n_components=2, hidden_layers=(64,), max_epochs=60, batch_size=32,
                       learning_rate=3e-3, patience=60, seed=0, n_threads=1).fit(tr)
    rep = deep.reconstruction_report(tr, va)
    assert rep.loc["autoencoder", "val_mse"] < 0.8 * rep.loc["pca", "val_mse"], rep


def test_autoencoder_bad_input():
    X = _nonlinear_data(n=50, p=10)
    X[3, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        Autoencoder(max_epochs=2).fit(X)
    ae = Autoencoder(n_components=2, max_epochs=2).fit(_nonlinear_data(n=50, p=10))
    with pytest.raises(FeatureMismatchError):
        ae.transform(np.zeros((3, 11)))


# ------------------------------------------------------------------------------------------
# IGP / clusterRepro
# ------------------------------------------------------------------------------------------
def _igp_reference(data_fxs, cent_fxk):
    """Line-by-line port of clusterRepro's IGP.clusterRepro (features x samples, R layout)."""
    n, K = data_fxs.shape[1], cent_fxk.shape[1]
    corr = np.array([[np.corrcoef(data_fxs[:, i], cent_fxk[:, c])[0, 1] for c in range(K)]
                     for i in range(n)])
    cls = [int(np.argmax(corr[i])) for i in range(n)]
    cs = np.corrcoef(data_fxs.T)
    np.fill_diagonal(cs, -np.inf)
    table = np.zeros((K, K))
    for i in range(n):
        table[cls[i], cls[int(np.argmax(cs[i]))]] += 1
    with np.errstate(invalid="ignore"):
        return np.array(cls), np.diag(table) / table.sum(1), table.sum(1)


def test_igp_hand_example():
    # centroids: rising and falling profiles over 3 features
    C = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    X = np.array([[0.0, 1.0, 2.1],     # class 1, NN = sample 2
                  [0.0, 1.1, 2.0],     # class 1, NN = sample 1
                  [0.0, 2.0, 1.9],     # class 1, NN = sample 1
                  [0.1, 2.0, 1.8],     # class 1, NN = sample 3 (replaced below)
                  [2.0, 1.0, 0.1],     # class 2, NN = sample 6
                  [2.1, 1.0, 0.0]])    # class 2, NN = sample 5
    res = igp(X, C)
    np.testing.assert_array_equal(res.classes, [0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(res.igp.to_numpy(), [1.0, 1.0])
    # move sample 4 so that it is classified 2 (x1 > x3) while its nearest neighbour is sample 3
    X[3] = [0.2, 2.0, 0.1]
    res = igp(X, C)
    np.testing.assert_array_equal(res.classes, [0, 0, 0, 1, 1, 1])
    # class 1: samples 1-3, nearest neighbours all in class 1 -> 1
    # class 2: sample 4 (NN = sample 3, class 1), samples 5, 6 (NN each other) -> 2/3
    np.testing.assert_allclose(res.igp.to_numpy(), [1.0, 2 / 3])
    np.testing.assert_array_equal(res.size.to_numpy(), [3, 3])
    cls, ref, size = _igp_reference(X.T, C.T)
    np.testing.assert_allclose(res.igp.to_numpy(), ref)


def test_igp_matches_reference_port_on_random_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 7))
    C = rng.normal(size=(4, 7))
    res = igp(X, C)
    cls, ref, size = _igp_reference(X.T, C.T)
    np.testing.assert_array_equal(res.classes, cls)
    np.testing.assert_allclose(res.igp.to_numpy(), ref, equal_nan=True)
    np.testing.assert_array_equal(res.size.to_numpy(), size)


def test_igp_self_is_one_and_random_labels_low():
    X, lab, _ = _blobs(40, 3, 20, sep=3.0, noise=0.5, seed=0)
    cen = centroids_from_labels(X, lab)
    res = cluster_repro(X, cen, n_perm=200, seed=1)
    np.testing.assert_array_equal(res["igp"].to_numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(res["size"].to_numpy(), [40, 40, 40])
    assert (res["n_null"] > 0).all() and res["p_value"].between(0, 1).all()
    np.testing.assert_array_equal(assign_to_centroids(X, cen), lab)
    # pure noise, centroids of random labels: low IGP, no significance
    rng = np.random.default_rng(5)
    Xn = rng.normal(size=(150, 20))
    cen = centroids_from_labels(Xn, rng.integers(0, 3, 150))
    res = cluster_repro(Xn, cen, n_perm=300, seed=2)
    assert res["igp"].mean() < 0.75, res
    assert (res["p_value"] > 0.05).all(), res
    # a validation set drawn from the same planted clusters reproduces them
    Xv, labv, _ = _blobs(30, 3, 20, sep=3.0, noise=0.5, seed=0)   # same centroids (same seed)
    Xv = Xv + np.random.default_rng(9).normal(0, 0.3, Xv.shape)
    res = cluster_repro(Xv, centroids_from_labels(X, lab), n_perm=100, seed=3)
    assert (res["igp"] == 1.0).all()


# ------------------------------------------------------------------------------------------
# purity
# ------------------------------------------------------------------------------------------
def _kmeans_fn(k):
    from sklearn.cluster import KMeans

    return lambda x: KMeans(k, n_init=5, random_state=0).fit_predict(x) + 1


def test_match_labels_hungarian():
    m = match_labels([1, 1, 2, 2, 3, 3], ["b", "b", "c", "c", "a", "a"])
    assert m == {"a": 3, "b": 1, "c": 2}


def test_purity_separated_and_noise():
    X, lab, _ = _blobs(30, 3, 10, sep=3.0, noise=0.5, seed=2)
    res = cluster_purity(X, _kmeans_fn(3), n_repeats=3, seed=0)
    assert res.mean == 1.0 and len(res.per_repeat) == 3 and len(res.per_fold) == 15
    assert (res.per_cluster == 1.0).all()
    noise = np.random.default_rng(4).normal(size=(90, 10))
    res_n = cluster_purity(noise, _kmeans_fn(3), n_repeats=3, seed=0)
    assert res_n.mean < 0.9, res_n.per_repeat


# ------------------------------------------------------------------------------------------
# differential features, FDR, Cramér's V
# ------------------------------------------------------------------------------------------
def test_bh_fdr_hand_and_scipy():
    from scipy.stats import false_discovery_control

    np.testing.assert_allclose(bh_fdr([0.01, 0.04, 0.03, 0.005]), [0.02, 0.04, 0.04, 0.02])
    p = np.random.default_rng(0).random(200) ** 3
    np.testing.assert_allclose(bh_fdr(p), false_discovery_control(p), rtol=1e-12)
    q = bh_fdr([0.01, np.nan, 0.02])
    assert np.isnan(q[1]) and np.allclose(q[[0, 2]], [0.02, 0.02])
    assert bh_fdr([0.9, 0.95]).max() <= 1.0


def test_cramers_v_known_table():
    from scipy.stats.contingency import association

    a = ["x"] * 10 + ["y"] * 10
    b = [1] * 8 + [2] * 2 + [1] * 3 + [2] * 7            # table [[8, 2], [3, 7]]
    res = cramers_v(a, b)
    chi2 = 20 * (8 * 7 - 2 * 3) ** 2 / (10 * 10 * 11 * 9)  # 5.0505...
    assert res.chi2 == pytest.approx(chi2, rel=1e-12)
    assert res.v == pytest.approx(np.sqrt(chi2 / 20), rel=1e-12)    # 0.50252
    assert res.p_value == pytest.approx(0.024618761, rel=1e-6)
    assert res.v == pytest.approx(association(np.array([[8, 2], [3, 7]]), method="cramer"))
    perfect = cramers_v([1, 1, 2, 2, 3, 3], ["a", "a", "b", "b", "c", "c"])
    assert perfect.v == pytest.approx(1.0) and perfect.dof == 4
    with pytest.raises(ValueError):
        cramers_v([1, 1, 1], ["a", "b", "c"])


def test_differential_features():
    rng = np.random.default_rng(0)
    lab = np.repeat([1, 2, 3], 30)
    X = pd.DataFrame(rng.normal(size=(90, 4)), columns=list("abcd"))
    X.loc[lab == 2, "b"] += 3.0
    X.loc[5, "c"] = np.nan
    d = differential_features(X, lab)
    row = d[(d.subtype == 2) & (d.feature == "b")].iloc[0]
    assert row.q_value < 1e-6 and row.effect_size > 0.9
    assert d[(d.subtype == 1) & (d.feature == "c")].iloc[0].n_in == 29
    others = d[d.feature.isin(["a", "d"])]
    assert (others.q_value > 0.01).all()
    # rank-biserial by hand: in-group [1, 2, 3] all below [4, 5] -> U = 0 -> effect -1
    tiny = differential_features(pd.DataFrame({"f": [1, 2, 3, 4, 5.0]}), [1, 1, 1, 2, 2])
    assert tiny[tiny.subtype == 1].iloc[0].effect_size == -1.0
    w = differential_features(X, lab, method="welch")
    assert w[(w.subtype == 2) & (w.feature == "b")].iloc[0].effect_size > 2.0


# ------------------------------------------------------------------------------------------
# discover command
# ------------------------------------------------------------------------------------------
def _write_table(path, X, lab, prefix, extras=True):
    df = pd.DataFrame(X, columns=[f"feat_{i}" for i in range(X.shape[1])])
    df.insert(0, "ID", [f"{prefix}{i}" for i in range(len(X))])
    df["CancerType"] = np.array(["lung", "breast", "brain"])[lab]
    df["Modality"] = "CT"
    df["diag_shape_n"] = 1.0
    df["error"] = ""
    if extras:
        df["const"] = 2.0
        df.loc[3, "error"] = "EmptyMaskError: mask has no foreground voxel"
        df.loc[4, "feat_1"] = np.nan
    df.to_csv(path, index=False)
    return df


def test_a_row_without_any_feature_value_is_left_out(tmp_path, capsys):
    """A tumour whose features are all empty (an extraction that wrote nothing and no error)
    was imputed with the medians and given a subtype without a word (audit); it is now left out
    as a failed case is, listed in excluded.csv and named."""
    from PanCancerSubtypeLib.cli import main

    X, lab, _ = _blobs(14, 3, 6, 3.0, 0.5, 2)
    df = _write_table(tmp_path / "F.csv", X, lab, "d", extras=False)
    df.loc[7, [f"feat_{i}" for i in range(6)]] = np.nan
    df.to_csv(tmp_path / "F.csv", index=False)
    feats, _, notes = read_feature_table(str(tmp_path / "F.csv"))
    assert "d7" not in feats.index and len(feats) == 41
    assert notes["excluded"] == {"d7": "no feature value (every feature column is empty)"}
    out = tmp_path / "out"
    assert main(["discover", "--features", str(tmp_path / "F.csv"), "--out", str(out),
                 "--k-max", "4", "--reps", "20", "--seed", "1", "--purity-repeats", "0",
                 "--no-progress", "--no-plots"]) == 0
    assert "d7" in capsys.readouterr().err
    assert "d7" not in pd.read_csv(out / "classes.csv")["ID"].tolist()
    assert pd.read_csv(out / "excluded.csv")["ID"].tolist() == ["d7"]


def test_read_feature_table_errors(tmp_path):
    p = tmp_path / "t.csv"
    pd.DataFrame({"case": ["a", "b"], "x": [1, 2]}).to_csv(p, index=False)
    with pytest.raises(ManifestError, match="ID"):
        read_feature_table(str(p))
    pd.DataFrame({"ID": ["a", "a"], "x": [1, 2]}).to_csv(p, index=False)
    with pytest.raises(ManifestError, match="duplicated"):
        read_feature_table(str(p))


def test_discover_cli_end_to_end(tmp_path, capsys):
    pytest.importorskip("PanCancerSubtypeLib.consensus")
    from sklearn.metrics import adjusted_rand_score

    from PanCancerSubtypeLib.cli import main

    rng = np.random.default_rng(11)
    cent = rng.normal(0, 2.0, (3, 8))
    lab = np.repeat([0, 1, 2], 24)
    X = cent[lab] + rng.normal(0, 0.5, (72, 8))
    labv = np.repeat([0, 1, 2], 12)
    Xv = cent[labv] + rng.normal(0, 0.5, (36, 8))
    _write_table(tmp_path / "F.csv", X, lab, "d")
    _write_table(tmp_path / "V.csv", Xv, labv, "v", extras=False)
    # the validation table lacks 'const', so give it the column back (constant in discovery)
    v = pd.read_csv(tmp_path / "V.csv").assign(const=7.0)
    v.to_csv(tmp_path / "V.csv", index=False)
    out = tmp_path / "out"
    rc = main(["discover", "--features", str(tmp_path / "F.csv"), "--validation",
               str(tmp_path / "V.csv"), "--out", str(out), "--k-max", "5", "--reps", "25",
               "--seed", "3", "--purity-repeats", "1", "--purity-reps", "10",
               "--igp-permutations", "50"])
    err = capsys.readouterr().err
    assert rc == 0, err
    for f in ["classes.csv", "per_k.csv", "suggested_k.json", "igp.csv", "purity.csv",
              "differential_k3.csv", "cramers_v.csv", "consensus_k3.png", "cdf.png",
              "delta_area.png", "excluded.csv", "summary.json", "validation_classes.csv"] + \
            [f"consensus_k{k}.npz" for k in range(2, 6)]:
        assert (out / f).is_file(), f
    classes = pd.read_csv(out / "classes.csv", index_col="ID")
    assert list(classes.columns) == ["k2", "k3", "k4", "k5"]
    assert "d3" not in classes.index and len(classes) == 71          # the error row is out
    keep = [i for i in range(72) if i != 3]
    assert adjusted_rand_score(lab[keep], classes.loc[[f"d{i}" for i in keep], "k3"]) >= 0.9
    assert json.loads((out / "suggested_k.json").read_text(encoding="utf-8"))["k"] == 3
    npz = np.load(out / "consensus_k3.npz")
    assert npz["consensus"].shape == (71, 71) and list(npz["ids"][:3]) == ["d0", "d1", "d2"]
    igp_t = pd.read_csv(out / "igp.csv")
    assert (igp_t[igp_t.k == 3]["igp"] == 1.0).all()
    assert pd.read_csv(out / "purity.csv")["purity"].min() >= 0.9
    cv = pd.read_csv(out / "cramers_v.csv").set_index("k")
    assert cv.loc[3, "cramers_v"] > 0.9                   # subtypes = planted cancer types
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summ["dropped_features"] == {"const": "constant"}
    assert "diag_shape_n" in summ["ignored_columns"] and "d3" in summ["excluded_rows"]
    per_k = pd.read_csv(out / "per_k.csv")
    assert list(per_k.k) == [2, 3, 4, 5] and per_k.set_index("k").loc[3, "pac"] < 0.05
    # the core's consensus CDFs read back from the output folder (what the Slicer layer plots)
    from PanCancerSubtypeLib.consensus import CDF_GRID, consensus_cdf, consensus_cdf_curves

    curves = consensus_cdf_curves(out)
    assert list(curves) == [2, 3, 4, 5]
    for k, (x, y) in curves.items():
        with np.load(out / f"consensus_k{k}.npz") as z:
            cdf, area = consensus_cdf(z["consensus"])
        np.testing.assert_array_equal(x, CDF_GRID)
        np.testing.assert_array_equal(y, cdf)
        assert area == pytest.approx(per_k.set_index("k").loc[k, "cdf_area"], abs=1e-12)

    # --encode: the encoder is saved and reproduces the codes it clustered
    out2 = tmp_path / "out2"
    rc = main(["discover", "--features", str(tmp_path / "F.csv"), "--out", str(out2),
               "--encode", "--ae-epochs", "150", "--ae-batch-size", "8", "--k-max", "4",
               "--reps", "10", "--seed", "1", "--purity-repeats", "0", "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    prep = FeaturePreparer.load(str(out2 / "encoder"))
    ae = Autoencoder.load(str(out2 / "encoder"))
    feats, _, _ = read_feature_table(str(tmp_path / "F.csv"))
    codes = pd.read_csv(out2 / "codes.csv", index_col=0)
    np.testing.assert_allclose(ae.transform(prep.transform(feats)), codes.to_numpy(), atol=1e-6)
    assert (out2 / "reconstruction.csv").is_file()

    # a validation table with other feature columns is refused with the column names
    pd.read_csv(tmp_path / "V.csv").drop(columns=["feat_2"]).to_csv(tmp_path / "W.csv",
                                                                   index=False)
    rc = main(["discover", "--features", str(tmp_path / "F.csv"), "--validation",
               str(tmp_path / "W.csv"), "--out", str(tmp_path / "o3"), "--reps", "5",
               "--k-max", "3"])
    err = capsys.readouterr().err
    assert rc == 1 and "FeatureMismatchError" in err and "feat_2" in err


def test_plots_write_png_and_order_by_class(tmp_path):
    from PanCancerSubtypeLib.plots import (cdf_plot, consensus_heatmap, consensus_order,
                                           delta_area_plot)

    rng = np.random.default_rng(0)
    cls = rng.permutation(np.repeat([1, 2, 3], 10))
    C = (cls[:, None] == cls[None, :]).astype(float) * 0.9 + 0.05
    np.fill_diagonal(C, 1.0)
    order = consensus_order(C, cls)
    assert sorted(order) == list(range(30))
    np.testing.assert_array_equal(cls[order], np.repeat([1, 2, 3], 10))   # grouped by class
    consensus_heatmap(C, cls, path=str(tmp_path / "h.png"))
    cdf_plot({2: np.linspace(0.01, 1, 100), 3: np.linspace(0.3, 1, 100)},
             path=str(tmp_path / "c.png"))
    fig = delta_area_plot(pd.DataFrame({"k": [2, 3, 4], "delta_area": [0.5, 0.3, 0.05]}),
                          suggested_k=3, path=str(tmp_path / "d.png"))
    assert fig.axes[0].get_xlabel() == "k"
    for f in ("h.png", "c.png", "d.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_purity_with_consensus_clustering():
    pytest.importorskip("PanCancerSubtypeLib.consensus")
    from PanCancerSubtypeLib.validation import consensus_cluster_fn

    X, lab, _ = _blobs(20, 3, 8, sep=3.0, noise=0.5, seed=6)
    fn = consensus_cluster_fn(3, seed=4, reps=30)
    full = fn(X)
    assert sorted(np.unique(full)) == [1, 2, 3]
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(lab, full) == 1.0
    res = cluster_purity(X, fn, full_labels=full, n_repeats=2, seed=0)
    assert res.mean == 1.0 and len(res.per_fold) == 10


def test_cli_api_and_slicer_logic_give_the_same_subtypes(tmp_path, capsys):
    """One discovery for every caller: the ``discover`` command, ``discovery.discover`` (what the
    demo calls) and the Slicer Subtype panel's logic give identical subtypes for the same table,
    settings and seed."""
    from PanCancerSubtypeLib.cli import main
    from PanCancerSubtypeLib.discovery import discover

    rng = np.random.default_rng(5)
    cent = rng.normal(0, 2.0, (3, 6))
    lab = np.repeat([0, 1, 2], 15)
    X = cent[lab] + rng.normal(0, 0.7, (45, 6))
    df = _write_table(tmp_path / "F.csv", X, lab, "p")
    opts = dict(k_max=5, reps=20, seed=4, purity_repeats=0)
    api = discover(tmp_path / "F.csv", **opts).classes
    rc = main(["discover", "--features", str(tmp_path / "F.csv"), "--out", str(tmp_path / "o"),
               "--k-max", "5", "--reps", "20", "--seed", "4", "--purity-repeats", "0",
               "--no-plots"])
    assert rc == 0, capsys.readouterr().err
    cli = pd.read_csv(tmp_path / "o" / "classes.csv", dtype={"ID": str}).set_index("ID")
    pd.testing.assert_frame_equal(cli, api, check_dtype=False)
    # the same table given as a DataFrame (as the Slicer panel and the demo pass it)
    pd.testing.assert_frame_equal(discover(df, **opts).classes, api)
    slicer_core = pytest.importorskip("slicer")
    if not hasattr(slicer_core, "vtkMRMLScene"):
        pytest.skip("slicer-core (real MRML) is not installed")
    from PanCancerSubtypeSlicerLib import logic, mrml

    scene = slicer_core.vtkMRMLScene()
    table = mrml.table_node_from_dataframe(df, scene=scene, name="cohort")
    nodes = logic.discover_subtypes(table, **opts, scene=scene)
    pd.testing.assert_frame_equal(nodes["result"].classes, api)
    got = mrml.dataframe_from_table_node(nodes["classes"]).set_index("ID")
    assert (got.to_numpy() == api.to_numpy()).all()


def test_a_bad_value_is_named_by_its_id_or_its_row_of_the_file():
    """A value that is not a number is named by its row's ID, else by its row of the file
    (the header is row 1, as manifests count); classify named no row, survival the 0-based
    index (README audit)."""
    from PanCancerSubtypeLib.errors import FeatureValueError
    from PanCancerSubtypeLib.tables import check_stray_text

    train = pd.DataFrame({"ID": [f"P{i}" for i in range(6)], "x": np.arange(6.0),
                          "y": np.arange(6.0) ** 2})
    prep = FeaturePreparer().fit(train)
    new = train.assign(x=["1", "2", "3", "4", "5", "n/a?"])
    with pytest.raises(FeatureValueError, match=r"'x'.*'n/a\?' \(ID P5\)"):
        prep.transform(new)
    s = pd.Series(["1.5", "2", "x?", "3", "4"], name="age")
    with pytest.raises(FeatureValueError, match=r"'x\?' \(row 4\)"):
        check_stray_text(s)
