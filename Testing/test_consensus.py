"""Tests of consensus clustering (issue 5, item 3).

The R reference (``fixtures/consensus_r_reference.npz``) was produced once with
``benchmarks/r/make_consensus_fixture.py`` (R 4.x, ConsensusClusterPlus 1.62.0, cluster 2.1.4):
200 items x 10 features (3 Gaussian clusters + 20 uniform noise items), pam + pearson, reps=20,
maxK=6, seed=123 (and pam + euclidean, reps=8, maxK=4, seed=77); ``cluster::pam`` on five small matrices (three with ties); R's ``sample()``.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score

from PanCancerSubtypeLib.consensus import (CDF_GRID, RRNG, ConsensusClustering,
                                           ConsensusCounts, cluster_item_consensus, consensus_cdf,
                                           consensus_cdf_curves, consensus_cdf_xy, delta_areas,
                                           hclust_cutree_r, pac_score, pam_r, pam_r_all_k,
                                           r_sample,
                                           structure_label, suggest_k)
from PanCancerSubtypeLib.consensus import _counts, _fastpam, _pam  # numba kernels: no public
                                                                   # equivalent

FIXTURE = Path(__file__).parent / "fixtures" / "consensus_r_reference.npz"


@pytest.fixture(scope="module")
def ref():
    return np.load(FIXTURE)


def blobs(n_per=(40, 40, 40, 40), p=10, sep=4.0, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=sep, size=(len(n_per), p))
    X = np.vstack([centres[c] + rng.normal(size=(s, p)) for c, s in enumerate(n_per)])
    y = np.repeat(np.arange(len(n_per)), n_per)
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


# ---------------------------------------------------------------------------------------------
# R reproductions
# ---------------------------------------------------------------------------------------------
def test_r_rng_reproduces_r_sample(ref):
    assert_array_equal(r_sample(676, 540, seed=1), ref["rng_1_676_540"])
    assert_array_equal(r_sample(1682, 1345, seed=123), ref["rng_123_1682_1345"])
    assert_array_equal(r_sample(100000, 10, seed=-5), ref["rng_m5_100000_10"])  # 17-bit draws
    rng = RRNG(2024)  # consecutive draws continue R's stream
    assert_array_equal(np.r_[rng.sample(50, 40), rng.sample(50, 40)], ref["rng_2024_twice"])
    rng = RRNG(7)
    assert [rng.unif_rand() for _ in range(5)] == list(ref["rng_7_runif"])


def test_pam_r_matches_cluster_pam_including_ties(ref):
    for i in range(1, int(ref["n_pam"]) + 1):
        D = ref[f"pam_D_{i}"]
        out = ref[f"pam_out_{i}"]
        pos = 0
        for k in (2, 3, 4):
            med = out[pos:pos + k]
            pos += k
            cl = out[pos:pos + D.shape[0]]
            pos += D.shape[0]
            labels, medoids = pam_r(D, k)
            assert_array_equal(medoids + 1, med, err_msg=f"matrix {i}, k={k}: medoids")
            assert_array_equal(labels, cl, err_msg=f"matrix {i}, k={k}: clustering")


def _pam_test_matrices(rng):
    """Dissimilarities of several kinds: generic, Pearson, and with many ties (grid Manhattan
    distances, duplicated points, integer-valued, all equal)."""
    for trial in range(60):
        n = int(rng.integers(6, 70))
        kind = trial % 5
        if kind == 0:
            P = rng.normal(size=(n, 3))
            D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
        elif kind == 1:
            D = _pam.pearson_distance_r(rng.normal(size=(n, 10)))
        elif kind == 2:
            P = rng.integers(0, 4, size=(n, 2)).astype(float)  # grid points, many duplicates
            D = np.abs(P[:, None] - P[None]).sum(-1)
        elif kind == 3:
            iv = np.triu(rng.integers(1, 4, size=(n, n)).astype(float), 1)
            D = iv + iv.T
        else:
            D = 1.0 - np.eye(n)
        yield trial, D


def test_pam_r_shared_build_and_exact_candidates_equal_the_reference_port():
    """The fast exact kernel (BUILD shared between k, FastPAM1 estimates + exact sums of the
    candidates) chooses what the line-by-line port of cluster::pam chooses, ties included."""
    rng = np.random.default_rng(11)
    for trial, D in _pam_test_matrices(rng):
        kmax = min(7, D.shape[0] - 1)
        labels, medoids = pam_r_all_k(D, 2, kmax)
        assert sorted(labels) == list(range(2, kmax + 1))
        for k in range(2, kmax + 1):
            ref_labels, ref_medoids = pam_r(D, k, reference=True)
            assert_array_equal(medoids[k], ref_medoids, err_msg=f"trial {trial}, k={k}")
            assert_array_equal(labels[k], ref_labels, err_msg=f"trial {trial}, k={k}")
            assert_array_equal(pam_r(D, k)[1], ref_medoids)
    # a resample-sized Pearson case with several swaps per k
    X = np.load(FIXTURE)["X"]
    D = _pam.pearson_distance_r(X)[:150, :150]
    labels, medoids = pam_r_all_k(D, 2, 8)
    for k in (2, 5, 8):
        ref_labels, ref_medoids = pam_r(D, k, reference=True)
        assert_array_equal(medoids[k], ref_medoids)
        assert_array_equal(labels[k], ref_labels)
    # as.dist: only the lower triangle counts
    upper_noise = np.triu(rng.uniform(size=D.shape), 1)
    assert_array_equal(pam_r(D + upper_noise, 4)[0], labels[4])
    with pytest.raises(ValueError, match="k_min <= k_max"):
        pam_r_all_k(D, 3, 2)


def test_pearson_distance_equals_r_cor(ref):
    D = _pam.pearson_distance_r(ref["X"])
    assert_array_equal(D[:40, :40], ref["r_dist_block"])
    assert np.abs(_pam.pearson_distance_fast(ref["X"])[:40, :40] - ref["r_dist_block"]).max() < 1e-14


def test_r_compatible_equals_consensusclusterplus(ref):
    X = ref["X"]
    n = X.shape[0]
    cc = ConsensusClustering(k_min=2, k_max=int(ref["max_k"]), reps=int(ref["reps"]),
                             p_item=float(ref["p_item"]), seed=int(ref["seed"]),
                             r_compatible=True, n_jobs=2).fit(X)
    iu = np.triu_indices(n)
    for k in range(2, int(ref["max_k"]) + 1):
        C_r = np.zeros((n, n))
        C_r[iu] = ref[f"cons_values_{k}"][ref[f"cons_codes_{k}"]]
        C_r = C_r + np.triu(C_r, 1).T
        res = cc.results_[k]
        assert_array_equal(res.consensus, C_r, err_msg=f"consensus matrix k={k}")
        assert_array_equal(res.classes, ref[f"classes_{k}"], err_msg=f"classes k={k}")
        assert abs(res.cdf_area - ref["cdf_areas"][k - 2]) <= 1e-12
    assert_array_equal(cc.classes_[3].to_numpy(), ref["classes_3"])


def test_r_compatible_euclidean_equals_consensusclusterplus(ref):
    X = ref["X"]
    n = X.shape[0]
    cc = ConsensusClustering(k_max=4, reps=8, seed=77, r_compatible=True,
                             distance="euclidean").fit(X)
    iu = np.triu_indices(n)
    for k in range(2, 5):
        C_r = np.zeros((n, n))
        C_r[iu] = ref[f"econs_values_{k}"][ref[f"econs_codes_{k}"]]
        C_r = C_r + np.triu(C_r, 1).T
        assert_array_equal(cc.results_[k].consensus, C_r, err_msg=f"k={k}")
        assert_array_equal(cc.results_[k].classes, ref[f"eclasses_{k}"], err_msg=f"k={k}")


def test_discover_r_compatible_preprocess_none_reproduces_consensusclusterplus(ref, tmp_path):
    """The same CSV given to R (``ConsensusClusterPlus(t(X), ...)``) and to ``discover
    --r-compatible --preprocess none`` gives R's consensus matrices and classes; the default
    preprocessing (z-scores) clusters other numbers and does not."""
    from PanCancerSubtypeLib.cli import main
    from PanCancerSubtypeLib.discovery import discover

    X = ref["X"]
    n = X.shape[0]
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    df.insert(0, "ID", [f"item{i + 1}" for i in range(n)])
    csv = tmp_path / "features.csv"
    df.to_csv(csv, index=False, float_format="%.17g")  # 17 digits: the doubles, exactly
    from PanCancerSubtypeLib.tables import read_feature_table

    # read as R's read.csv reads it: correctly rounded (pandas' default parser is not)
    assert_array_equal(read_feature_table(str(csv))[0].to_numpy(), X)
    max_k, reps, seed = int(ref["max_k"]), int(ref["reps"]), int(ref["seed"])
    out = tmp_path / "out"
    assert main(["discover", "--features", str(csv), "--out", str(out), "--r-compatible",
                 "--preprocess", "none", "--reps", str(reps), "--k-max", str(max_k),
                 "--seed", str(seed), "--purity-repeats", "0", "--igp-permutations", "1",
                 "--no-plots", "--no-progress"]) == 0
    classes = pd.read_csv(out / "classes.csv", index_col=0)
    iu = np.triu_indices(n)
    for k in range(2, max_k + 1):
        assert_array_equal(classes[f"k{k}"].to_numpy(), ref[f"classes_{k}"], err_msg=f"k={k}")
        C_r = np.zeros((n, n))
        C_r[iu] = ref[f"cons_values_{k}"][ref[f"cons_codes_{k}"]]
        C_r = C_r + np.triu(C_r, 1).T
        with np.load(out / f"consensus_k{k}.npz") as z:
            assert_array_equal(z["consensus"], C_r, err_msg=f"k={k}")
    z_scored = discover(csv, r_compatible=True, reps=reps, k_max=max_k, seed=seed,
                        purity_repeats=0)
    assert z_scored.settings.preprocess == "standardize"
    assert not np.array_equal(z_scored.consensus.results_[3].classes, ref["classes_3"])


def test_resampling_progress_lines_for_logs_and_the_slicer_panel():
    """Off a terminal the command prints the tqdm meter as whole lines (every ``every``
    seconds), which the Slicer panel's background job parses as done / total."""
    import io
    import time

    from PanCancerSubtypeLib.commands.discover import ResamplingProgress
    from PanCancerSubtypeSlicerLib.process import parse_progress

    buf = io.StringIO()
    bar = ResamplingProgress(stream=buf, every=0.02)
    for done in range(0, 101, 20):
        bar(done, 100)
        time.sleep(0.03)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert lines and "resamplings/s" in lines[-1] and "\r" not in buf.getvalue()
    parsed = [parse_progress(line) for line in lines]
    assert parsed[-1] == (100, 100) and all(p is not None and p[1] == 100 for p in parsed)
    assert [p[0] for p in parsed] == sorted(p[0] for p in parsed)
    quiet = io.StringIO()
    bar = ResamplingProgress(stream=quiet)  # a short run prints nothing
    bar(0, 10)
    bar(10, 10)
    assert quiet.getvalue() == ""


# ---------------------------------------------------------------------------------------------
# behaviour of the fast mode
# ---------------------------------------------------------------------------------------------
def test_separated_clusters_recovered_with_right_k():
    X, y = blobs(seed=3)
    cc = ConsensusClustering(k_min=2, k_max=7, reps=40, seed=11, n_jobs=2)
    labels = cc.fit_predict(X)
    assert cc.suggested_k_ == 4, cc.k_rule_
    assert adjusted_rand_score(y, labels) > 0.99
    assert cc.structure_ == "strong" and cc.strong_structure_
    assert cc.results_[4].pac < 0.02
    # consensus of the true partition is high within clusters
    assert np.nanmin(cc.results_[4].cluster_consensus) > 0.95
    # a single k (k_min == k_max, as used for purity) works too
    one = ConsensusClustering(k_min=4, k_max=4, reps=10, seed=1).fit(X)
    assert one.suggested_k_ == 4 and list(one.per_k_["k"]) == [4]
    assert adjusted_rand_score(y, one.results_[4].classes) > 0.99


def test_k_selection_rules():
    """cdf (Monti's delta-area elbow, the paper's rule) and pac both find 4 well-separated
    clusters; on clusters of unequal separation (two pairs of close blobs) the two rules are
    reported side by side, and the chosen one is the one asked for."""
    X, y = blobs(seed=3)
    for rule in ("cdf", "pac"):
        cc = ConsensusClustering(k_min=2, k_max=7, reps=40, seed=11, k_selection=rule).fit(X)
        assert cc.suggested_k_ == 4 and cc.k_delta_area_ == 4 and cc.k_pac_ == 4, cc.k_rule_
    cc = ConsensusClustering(k_min=2, k_max=7, reps=40, seed=11, k_selection="cdf").fit(X)
    assert cc.k_rule_.startswith("k=4: consensus-CDF elbow")
    # the elbow by hand: the last k before delta_area first drops below the threshold
    d = cc.per_k_.set_index("k")["delta_area"]
    first_flat = next(k for k in d.index[1:] if d[k] < cc.delta_threshold)
    assert cc.k_delta_area_ == first_flat - 1
    with pytest.raises(ValueError, match="k_selection"):
        ConsensusClustering(k_min=2, k_max=3, reps=5, seed=1, k_selection="gap").fit(X)


def test_pure_noise_gives_weak_structure():
    X = np.random.default_rng(8).normal(size=(150, 10))
    cc = ConsensusClustering(k_min=2, k_max=6, reps=40, seed=2).fit(X)
    assert cc.structure_ == "weak", cc.k_rule_
    assert not cc.strong_structure_
    assert cc.per_k_["pac"].min() > 0.2
    assert cc.structure_strength_ < 0.8


def test_fast_mode_agrees_with_r_compatible_mode(ref):
    X = ref["X"]
    fast = ConsensusClustering(k_max=4, reps=40, seed=5).fit(X)
    slow = ConsensusClustering(k_max=4, reps=20, seed=123, r_compatible=True).fit(X)
    assert adjusted_rand_score(fast.results_[3].classes, slow.results_[3].classes) > 0.95
    assert abs(fast.results_[3].cdf_area - slow.results_[3].cdf_area) < 0.02


def test_fast_swap_reaches_a_local_optimum_no_single_swap_improves():
    rng = np.random.default_rng(4)
    for trial in range(3):
        P = rng.normal(size=(60, 4))
        D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1)).astype(np.float32)
        m = D.shape[0]
        order = np.empty(5, dtype=np.int64)
        _fastpam._build_prefix(D, 5, order)
        for k in (2, 3, 5):
            med = order[:k].copy()
            n1 = np.empty(m, np.int64)
            n2 = np.empty(m, np.int64)
            d1 = np.empty(m)
            d2 = np.empty(m)
            lab = np.empty(m, np.int64)
            gain = np.empty(m, np.float32)
            td = _fastpam._swap_blocked(D, med, k, n1, d1, n2, d2, lab, 50, 16, gain)
            D64 = D.astype(np.float64)
            cost = lambda ms: D64[list(ms)].min(axis=0).sum()  # noqa: E731
            assert td == pytest.approx(cost(med), rel=1e-12)
            assert td <= cost(order[:k]) + 1e-9  # never worse than BUILD
            best = min(cost([h if x == out else x for x in med])
                       for out in med for h in range(m) if h not in set(med))
            assert best >= td * (1 - 1e-6), (trial, k)
            assert_array_equal(lab, D64[med].argmin(axis=0))
            # and R's PAM reaches an equally good or comparable local optimum
            _, med_r = pam_r(D64, k)
            assert td <= cost(med_r) * 1.05


def test_hclust_cutree_matches_scipy_without_ties():
    rng = np.random.default_rng(9)
    P = rng.normal(size=(80, 3))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    Z = linkage(squareform(D, checks=False), method="average")
    for k in range(2, 8):
        ours = hclust_cutree_r(D, k)
        theirs = fcluster(Z, k, criterion="maxclust")
        assert adjusted_rand_score(ours, theirs) == 1.0
        # R's cutree numbering: clusters numbered by first appearance
        first = [ours[np.argmax(ours == c)] for c in np.unique(ours)]
        assert list(pd.unique(ours)) == list(range(1, k + 1)) and first == sorted(first)


def test_statistics_against_direct_computation():
    rng = np.random.default_rng(1)
    n, reps = 30, 17
    counts = rng.integers(0, reps + 1, size=(n, n))
    C = np.triu(counts, 1) / reps
    C = C + C.T + np.eye(n)
    cdf, area = consensus_cdf(C)
    v = np.array([C[i, j] for i in range(n) for j in range(i)])
    direct = np.array([np.mean(v <= j / 100 + 1e-12) for j in range(1, 101)])
    assert_allclose(cdf, direct, rtol=0, atol=1e-15)
    assert area == pytest.approx(direct.sum() * 0.01, abs=1e-12)
    assert pac_score(C) == pytest.approx(np.mean((v > 0.1) & (v <= 0.9)), abs=1e-15)
    classes = rng.integers(1, 4, size=n)
    classes[:3] = [1, 2, 3]
    cl, it = cluster_item_consensus(C, classes, 3)
    for c in range(1, 4):
        mem = np.nonzero(classes == c)[0]
        pairs = [C[i, j] for i, j in itertools.combinations(mem, 2)]
        assert cl[c - 1] == pytest.approx(np.mean(pairs), abs=1e-12)
        for i in range(n):
            others = [C[i, j] for j in mem if j != i]
            assert it[i, c - 1] == pytest.approx(np.mean(others), abs=1e-12)


def test_suggest_k_rules_and_structure_labels():
    ks = [2, 3, 4, 5]
    delta = [0.5, 0.3, 0.05, 0.01]  # the gain first drops below 0.1 at k=4: elbow k=3
    sel = suggest_k(ks, [0.2, 0.1, 0.01, 0.3], delta)
    assert (sel.k, sel.k_delta_area, sel.k_pac) == (3, 3, 4)
    assert sel.structure == "moderate" and sel.structure_strength == pytest.approx(0.9)
    assert sel.rule.startswith("k=3: consensus-CDF elbow")
    assert "lowest PAC would give k=4" in sel.rule
    # the gain never flattens: the largest k
    assert suggest_k(ks, [0.2, 0.1, 0.01, 0.3], [0.5, 0.3, 0.2, 0.15]).k_delta_area == 5
    # pac, a single minimum
    sel = suggest_k(ks, [0.2, 0.1, 0.01, 0.3], delta, k_selection="pac")
    assert (sel.k, sel.structure, sel.structure_strength) == (4, "strong", 0.99)
    assert sel.rule.startswith("k=4: lowest PAC (0.010")
    # pac, tied minimum that includes the elbow: the elbow breaks the tie
    sel = suggest_k(ks, [0.05, 0.055, 0.2, 0.3], delta, k_selection="pac")
    assert sel.k == 3 and sel.k_pac == 2 and "breaks the tie" in sel.rule
    assert sel.structure == "moderate"
    # pac, tied minimum without the elbow: the smallest tied k
    sel = suggest_k(ks, [0.3, 0.2, 0.052, 0.05], delta, k_selection="pac")
    assert sel.k == 4 and sel.k_pac == 5 and sel.rule.startswith("k=4: smallest k with PAC")
    assert [structure_label(p) for p in (0.049, 0.05, 0.149, 0.15)] == [
        "strong", "moderate", "moderate", "weak"]
    with pytest.raises(ValueError, match="k_selection"):
        suggest_k(ks, [0.1] * 4, delta, k_selection="gap")
    assert_allclose(delta_areas([0.5, 0.6, 0.66]), [0.5, 0.2, 0.1], rtol=1e-12)


def test_outputs_layout_determinism_and_threads():
    X, _ = blobs(n_per=(30, 30, 30), seed=2)
    df = pd.DataFrame(X, index=[f"pt{i:03d}" for i in range(len(X))],
                      columns=[f"f{j}" for j in range(X.shape[1])])
    a = ConsensusClustering(k_min=2, k_max=5, reps=24, seed=3, n_jobs=1).fit(df)
    b = ConsensusClustering(k_min=2, k_max=5, reps=24, seed=3, n_jobs=2, batch_size=5).fit(df)
    assert list(a.per_k_.columns) == ["k", "cdf_area", "delta_area", "pac", "cluster_sizes"]
    assert list(a.per_k_["k"]) == [2, 3, 4, 5]
    assert list(a.classes_.columns) == [2, 3, 4, 5]
    assert list(a.classes_.index) == list(df.index) == a.item_ids_
    for k in range(2, 6):
        r = a.results_[k]
        assert_array_equal(r.consensus, b.results_[k].consensus)  # threads/batches do not matter
        assert_array_equal(r.consensus, r.consensus.T)
        assert np.all(np.diag(r.consensus) == 1.0)  # every item drawn at least once in 24 reps
        assert r.consensus.min() >= 0 and r.consensus.max() <= 1
        assert r.classes.min() == 1 and r.classes.max() == k and r.classes[0] == 1
        sizes = [int(s) for s in a.per_k_.set_index("k").loc[k, "cluster_sizes"].split(";")]
        assert sizes == list(np.bincount(r.classes)[1:]) and sum(sizes) == len(X)
        assert r.cdf.shape == (100,) and np.all(np.diff(r.cdf) >= 0) and r.cdf[-1] == 1.0
        assert r.item_consensus.shape == (len(X), k) and r.cluster_consensus.shape == (k,)
    areas = a.per_k_["cdf_area"].to_numpy()
    assert_allclose(a.per_k_["delta_area"].to_numpy()[1:], (areas[1:] - areas[:-1]) / areas[:-1])
    assert a.per_k_["delta_area"].iloc[0] == areas[0]
    assert_array_equal(delta_areas(areas), a.per_k_["delta_area"].to_numpy())
    assert isinstance(a.k_rule_, str) and f"k={a.suggested_k_}" in a.k_rule_
    assert a.get_params()["reps"] == 24
    c = ConsensusClustering(k_min=2, k_max=5, reps=24, seed=4).fit(df)
    assert not np.array_equal(c.results_[5].consensus, a.results_[5].consensus)  # seed matters


def test_consensus_cdf_xy_and_curves_from_model_matrix_and_files(tmp_path):
    X, _ = blobs(n_per=(25, 25, 25), seed=4)
    cc = ConsensusClustering(k_min=2, k_max=4, reps=15, seed=2).fit(X)
    # the grid: R's seq(0, 1, by = 0.01) without 0, the right edges of the area's bins
    assert_allclose(CDF_GRID, np.arange(1, 101) / 100, rtol=0, atol=1e-15)
    assert CDF_GRID[0] == 0.01 and CDF_GRID[-1] == 1.0
    curves = consensus_cdf_curves(cc)
    assert list(curves) == [2, 3, 4]
    for k, (x, y) in curves.items():
        r = cc.results_[k]
        assert_array_equal(x, CDF_GRID)
        assert_array_equal(y, r.cdf)
        x2, y2 = consensus_cdf_xy(r.consensus)  # recomputed from the matrix: the same numbers
        assert_array_equal(x2, x)
        assert_array_equal(y2, y)
        # y is the ECDF of the strict lower triangle at x; the area is its right-endpoint sum
        v = r.consensus[np.tril_indices(len(X), -1)]
        assert_allclose(y, [np.mean(v <= t + 1e-12) for t in x], rtol=0, atol=1e-15)
        assert np.sum(y * np.diff(np.r_[0.0, x])) == pytest.approx(r.cdf_area, abs=1e-14)
        y[:] = -1  # new arrays: the model is untouched
        assert r.cdf.min() >= 0
    # files as ``discover`` writes them: the stored cdf, else the consensus matrix
    np.savez_compressed(tmp_path / "consensus_k2.npz", consensus=cc.results_[2].consensus,
                        cdf=cc.results_[2].cdf)
    np.savez_compressed(tmp_path / "consensus_k3.npz", consensus=cc.results_[3].consensus)
    np.savez_compressed(tmp_path / "other.npz", consensus=cc.results_[4].consensus)
    from_dir = consensus_cdf_curves(tmp_path)
    assert list(from_dir) == [2, 3]
    for k in (2, 3):
        assert_array_equal(from_dir[k][1], cc.results_[k].cdf)
    (k3,) = consensus_cdf_curves(str(tmp_path / "consensus_k3.npz")).items()
    assert k3[0] == 3 and np.array_equal(k3[1][1], cc.results_[3].cdf)
    with pytest.raises(ValueError, match="consensus_k"):
        consensus_cdf_curves(tmp_path / "other.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no consensus_k"):
        consensus_cdf_curves(tmp_path / "empty")
    with pytest.raises(ValueError, match="square consensus matrix"):
        consensus_cdf_xy(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="square consensus matrix"):
        consensus_cdf_xy(np.zeros(99))
    with pytest.raises(TypeError, match="fitted ConsensusClustering"):
        consensus_cdf_curves(ConsensusClustering())


def test_compact_counts_equal_direct_counting():
    """Bit-set accumulation over batches spanning several 64-bit words equals counting pairs one
    by one; uint16 below 65,536 resamplings, uint32 from there."""
    rng = np.random.default_rng(3)
    n, m, reps, kmin, kmax = 23, 17, 150, 2, 4
    S = np.stack([np.sort(rng.choice(n, m, replace=False)) for _ in range(reps)])
    labels = np.stack([np.stack([rng.integers(0, k, size=m) for k in range(kmin, kmax + 1)])
                       for _ in range(reps)]).astype(np.int8)
    I = np.zeros((n, n), np.int64)
    M = np.zeros((kmax - kmin + 1, n, n), np.int64)
    for r in range(reps):
        I[np.ix_(S[r], S[r])] += 1
        for t in range(kmax - kmin + 1):
            same = labels[r, t][:, None] == labels[r, t][None, :]
            M[t][np.ix_(S[r], S[r])] += same
    iu = np.triu_indices(n)
    for dtype_reps in (reps, 70000):
        counts = ConsensusCounts(n, range(kmin, kmax + 1), dtype_reps)
        assert counts.co_sampled.dtype == (np.uint16 if dtype_reps < 65536 else np.uint32)
        first, nslots = _counts.cluster_slots(kmin, kmax)
        for lo in range(0, reps, 130):  # batches of 130 resamplings: 3 words, the last partial
            hi = min(reps, lo + 130)
            words = (hi - lo + 63) // 64
            bits_s = np.zeros((n, words), np.uint64)
            bits_l = np.zeros((n, int(nslots.sum()), words), np.uint64)
            _counts.fill_bits(S[lo:hi], labels[lo:hi], first, bits_s, bits_l)
            _counts.add_counts(bits_s, bits_l, first, nslots, counts.offsets, counts.co_sampled,
                               counts.co_clustered)
        assert_array_equal(counts.co_sampled, I[iu])
        for t, k in enumerate(range(kmin, kmax + 1)):
            assert_array_equal(counts.co_clustered[t], M[t][iu])
            with np.errstate(invalid="ignore", divide="ignore"):
                C = np.where(I > 0, M[t] / I, 0.0)
            assert_array_equal(counts.matrix(k), C)
            assert_array_equal(counts.dissimilarity(k), 1.0 - C)
            classes = rng.integers(1, k + 1, size=n)
            classes[:k] = np.arange(1, k + 1)
            cdf, area, pac, ccons, icons = counts.statistics(k, classes)
            cdf_d, area_d = consensus_cdf(C)
            assert_array_equal(cdf, cdf_d)
            assert area == area_d and pac == pac_score(C)
            ccons_d, icons_d = cluster_item_consensus(C, classes, k)
            assert_allclose(ccons, ccons_d, rtol=1e-13, atol=0)
            assert_allclose(icons, icons_d, rtol=1e-13, atol=0)
    with pytest.raises(KeyError, match="k=9"):
        counts.matrix(9)


def test_compact_mode_gives_the_same_results_and_reports_progress():
    X, _ = blobs(n_per=(30, 25, 20), seed=6)
    calls = []
    dense = ConsensusClustering(k_min=2, k_max=5, reps=70, seed=9, batch_size=32,
                                keep_matrices=True).fit(X, progress=lambda d, t: calls.append((d, t)))
    compact = ConsensusClustering(k_min=2, k_max=5, reps=70, seed=9,
                                  keep_matrices=False).fit(X)
    assert calls == [(0, 70), (32, 70), (64, 70), (70, 70)]
    for k in range(2, 6):
        a, b = dense.results_[k], compact.results_[k]
        assert a._consensus is not None and b._consensus is None
        assert_array_equal(a.consensus, b.consensus)  # built from the counts on access
        assert_array_equal(a.classes, b.classes)
        assert_array_equal(a.cdf, b.cdf)
        assert a.pac == b.pac and a.cdf_area == b.cdf_area and a.delta_area == b.delta_area
        assert_array_equal(a.item_consensus, b.item_consensus)
        # statistics from the counts are those of the dense matrix
        assert_array_equal(a.cdf, consensus_cdf(a.consensus)[0])
        assert a.pac == pac_score(a.consensus)
        assert_allclose(a.item_consensus, cluster_item_consensus(a.consensus, a.classes, k)[1],
                        rtol=1e-13)
    assert compact.counts_.co_sampled.dtype == np.uint16
    assert compact.counts_.nbytes < 5 * 75 * 76 // 2 * 2 + 8 * 75 + 1
    # the auto rule keeps small problems dense
    assert ConsensusClustering(k_max=3, reps=5, seed=1).fit(X).results_[2]._consensus is not None

    class Stop(Exception):
        pass

    def stop(done, total):
        if done > 0:
            raise Stop()

    with pytest.raises(Stop):  # an exception in the callback stops the fit
        ConsensusClustering(k_max=3, reps=40, seed=1, batch_size=8).fit(X, progress=stop)


def test_item_sampled_in_no_resampling_gets_zero_consensus():
    # with 2 resamplings of 80% some items are never drawn: their row is 0 (R sets C = 0 there)
    X, _ = blobs(n_per=(20, 20), seed=1)
    cc = ConsensusClustering(k_max=3, reps=1, seed=1, r_compatible=True).fit(X)
    C = cc.results_[2].consensus
    never = np.nonzero(np.diag(C) == 0)[0]
    assert never.size == len(X) - int(len(X) * 0.8)
    assert np.all(C[never] == 0)


@pytest.mark.parametrize("bad, message", [
    (np.array([[1.0, np.nan, 2.0]] + [[1.0, 2.0, 3.0 + i] for i in range(20)]), "NaN"),
    (np.array([[5.0, 5.0, 5.0]] + [[1.0, 2.0, 3.0 + i] for i in range(20)]), "identical values"),
    (np.arange(10.0), "2-D"),
])
def test_bad_input_is_reported(bad, message):
    with pytest.raises(ValueError, match=message):
        ConsensusClustering(k_max=3, reps=2, seed=1).fit(bad)


def test_bad_parameters_are_reported():
    X, _ = blobs(n_per=(10, 10), seed=1)
    with pytest.raises(ValueError, match="k_max=16 must be smaller"):
        ConsensusClustering(k_max=16, reps=2).fit(X)
    with pytest.raises(ValueError, match="k_min <= k_max"):
        ConsensusClustering(k_min=1, k_max=3, reps=2).fit(X)
    with pytest.raises(ValueError, match="distance"):
        ConsensusClustering(k_max=3, reps=2, distance="cosine").fit(X)
    with pytest.raises(ValueError, match="p_item"):
        ConsensusClustering(k_max=3, reps=2, p_item=1.5).fit(X)
    df = pd.DataFrame(X)
    df["site"] = "a"
    with pytest.raises(ValueError, match="non-numeric"):
        ConsensusClustering(k_max=3, reps=2).fit(df)
    with pytest.raises(ValueError, match="k=5 must be in"):
        pam_r(np.zeros((5, 5)), 5)
