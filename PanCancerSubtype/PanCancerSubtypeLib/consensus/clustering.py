"""Consensus clustering with the semantics of R's ConsensusClusterPlus (PAM + Pearson).

Monti et al. (2003) consensus clustering as configured by Wu et al. (2021): for ``reps``
resamplings a fraction ``p_item`` of the items is drawn without replacement, partitioned around
medoids (PAM) for every k on the distance ``1 - Pearson correlation`` between items (computed once on
all items), and the consensus matrix ``C_k[i, j]`` is the fraction of the resamplings holding both i and
j in which they fell into the same cluster.  Final classes: average-linkage hierarchical clustering of
``1 - C_k`` cut into k groups.  Per k the consensus CDF, its area, the relative change of the area
(Monti's delta area), PAC (Senbabaoglu et al. 2014), cluster consensus and item consensus are given
(computed by :mod:`.statistics`, which also holds the k-selection rules).
See ``shared/spec/consensus-clustering.md`` for the exact R behaviour reproduced here.

Two modes:

* ``r_compatible=True``: R's random stream (``set.seed(seed)``, one ``sample()`` per resampling,
  sorted), R's ``cor`` arithmetic, ``cluster::pam`` "original" BUILD + SWAP with R's tie rules,
  integer co-clustering counts divided once, R's ``hclust`` tie rule and ``cutree`` numbering: the
  consensus matrices and classes equal ConsensusClusterPlus's for the same data, seed and settings.
* default (fast): NumPy's PCG64 random stream; the same PAM objective (total distance of the items
  to their nearest medoid) solved per resample by a greedy BUILD for ``k_min``, then for each
  further k a warm start (the k-1 optimum plus one greedy BUILD step) and an eager, blocked,
  vectorised swap search (FastPAM1 / FasterPAM terms, Schubert & Rousseeuw 2021) until no single
  swap lowers the total deviation (swap gains are estimated in single precision and every accepted
  swap is checked in double precision); resamplings run in parallel threads (numba); co-clustering
  counts accumulated as integers.  Same statistics, different random draws and possibly a different
  (equally valid) PAM local optimum than R's in rare resamplings.

Rows of ``X`` are items (patients, tumours), columns are features; R takes the transpose.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import pandas as pd

from . import _pam
from ._r_rng import RRNG
from .statistics import (cluster_item_consensus, consensus_cdf, delta_areas, pac_score,
                         suggest_k)

__all__ = ["ConsensusResult", "ConsensusClustering", "pam_r", "hclust_cutree_r"]

pam_r = _pam.pam_r


def hclust_cutree_r(diss, k: int) -> np.ndarray:
    """``cutree(hclust(as.dist(diss), method = "average"), k)`` with R's tie rule (labels 1..k)."""
    return _pam.cutree_r(diss, k)


# ----------------------------------------------------------------------------------------------
# result container
# ----------------------------------------------------------------------------------------------
@dataclass
class ConsensusResult:
    """Consensus clustering result for one k.

    consensus : (n, n) float64 consensus matrix ``C_k`` (diagonal 1 for items sampled at least once).
    classes : (n,) int, 1..k, final classes (average linkage on ``1 - C_k``, R's cutree numbering:
        order of first appearance along the items).
    cdf : (100,) consensus CDF at 0.01, ..., 1.00 (``CDF_GRID``; ``consensus_cdf_xy`` gives (x, y)).
    cdf_area : area under the CDF (R's right-endpoint step sum).
    delta_area : relative change of the area from k-1 (for the first k: the area itself, as R).
    pac : proportion of ambiguous clustering, ``#{0.1 < C_ij <= 0.9} / #pairs``.
    cluster_consensus : (k,) mean consensus within each final cluster (NaN for singletons).
    item_consensus : (n, k) mean consensus of each item with the members of each cluster.
    """

    k: int
    consensus: np.ndarray
    classes: np.ndarray
    cdf: np.ndarray
    cdf_area: float
    delta_area: float
    pac: float
    cluster_consensus: np.ndarray
    item_consensus: np.ndarray

    @property
    def cluster_sizes(self) -> np.ndarray:
        return np.bincount(self.classes, minlength=self.k + 1)[1:]

    def save_npz(self, path, ids) -> None:
        """Write ``consensus_k{K}.npz``: ``consensus``, ``classes``, ``ids`` (item ids as text),
        ``cdf``, ``item_consensus``, ``cluster_consensus`` (what
        :func:`~.statistics.consensus_cdf_curves` reads back)."""
        from ..files import atomic_path

        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, consensus=self.consensus, classes=self.classes,
                                ids=np.asarray([str(i) for i in ids]), cdf=self.cdf,
                                item_consensus=self.item_consensus,
                                cluster_consensus=self.cluster_consensus)


# ----------------------------------------------------------------------------------------------
# estimator
# ----------------------------------------------------------------------------------------------
_DISTANCES = ("pearson", "euclidean")
# numba's default "workqueue" threading layer must not run parallel kernels from two Python threads
# at once (it aborts the process); fits from concurrent threads are serialised here.
_KERNEL_LOCK = threading.Lock()


class ConsensusClustering:
    """Consensus clustering (ConsensusClusterPlus with ``clusterAlg = "pam"``).

    Parameters
    ----------
    k_min, k_max : range of cluster numbers (``2 <= k_min <= k_max``).
    reps : number of resamplings (paper: 10,000).
    p_item : fraction of items drawn in each resampling (``floor(n * p_item)`` items).
    seed : integer seed.  ``None`` draws one from the system (recorded in ``seed_``).
    n_jobs : threads for the resamplings (``-1``: all cores).
    r_compatible : reproduce ConsensusClusterPlus exactly (slow; see module docstring).
    distance : ``"pearson"`` (``1 - r`` between items, the paper's choice) or ``"euclidean"``.
    final_linkage : only ``"average"`` (ConsensusClusterPlus's default and the paper's setting).
    k_selection : how ``suggested_k_`` is chosen: ``"cdf"`` (default; the paper's rule, Monti et
        al. 2003: the elbow of the consensus-CDF area, i.e. the last k before the relative area
        gain ``delta_area`` drops below ``delta_threshold``) or ``"pac"`` (lowest PAC,
        Senbabaoglu et al. 2014, ties within ``pac_tolerance`` broken by the CDF elbow).  Both
        candidates are always reported (``k_delta_area_``, ``k_pac_``).
    pac_tolerance : PAC values within this of the minimum count as tied when suggesting k.
    delta_threshold : relative area increase under which the delta-area curve has flattened.
    batch_size : resamplings processed per parallel batch (memory / speed trade-off).

    Attributes after ``fit``
    ------------------------
    results_ : dict k -> :class:`ConsensusResult`.
    per_k_ : DataFrame with columns k, cdf_area, delta_area, pac, cluster_sizes ("12;30;8").
    classes_ : DataFrame, index = item ids, one int column per k.
    suggested_k_, k_rule_ : suggested k and a sentence saying which rule chose it.
    k_pac_, k_delta_area_ : the k chosen by the PAC minimum and by the delta-area elbow.
    structure_strength_ : ``1 - PAC`` at the suggested k (1 = perfectly stable partitions).
    structure_ : "strong" (PAC < 0.05), "moderate" (PAC < 0.15) or "weak".
    strong_structure_ : bool, ``structure_ == "strong"``.
    item_ids_, n_items_, seed_, fit_seconds_.
    """

    def __init__(self, k_min: int = 2, k_max: int = 10, reps: int = 1000, p_item: float = 0.8,
                 seed: Optional[int] = None, n_jobs: int = 1, r_compatible: bool = False,
                 distance: str = "pearson", final_linkage: str = "average",
                 pac_tolerance: float = 0.01, delta_threshold: float = 0.1,
                 batch_size: int = 64, k_selection: str = "cdf"):
        self.k_min = k_min
        self.k_max = k_max
        self.reps = reps
        self.p_item = p_item
        self.seed = seed
        self.n_jobs = n_jobs
        self.r_compatible = r_compatible
        self.distance = distance
        self.final_linkage = final_linkage
        self.pac_tolerance = pac_tolerance
        self.delta_threshold = delta_threshold
        self.batch_size = batch_size
        self.k_selection = k_selection

    # -- scikit-learn conventions ---------------------------------------------------------------
    _PARAMS = ("k_min", "k_max", "reps", "p_item", "seed", "n_jobs", "r_compatible", "distance",
               "final_linkage", "pac_tolerance", "delta_threshold", "batch_size", "k_selection")

    def get_params(self, deep: bool = True) -> dict:
        return {p: getattr(self, p) for p in self._PARAMS}

    def set_params(self, **params) -> "ConsensusClustering":
        for key, value in params.items():
            if key not in self._PARAMS:
                raise ValueError(f"unknown parameter {key!r} for ConsensusClustering")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._PARAMS)
        return f"ConsensusClustering({args})"

    # -- validation ----------------------------------------------------------------------------
    def _check(self, X):
        if isinstance(X, pd.DataFrame):
            ids = list(X.index)
            non_num = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
            if non_num:
                raise ValueError(f"consensus clustering needs numeric features; non-numeric "
                                 f"column(s): {non_num[:10]}")
            A = X.to_numpy(dtype=np.float64)
        else:
            A = np.asarray(X, dtype=np.float64)
            ids = list(range(A.shape[0])) if A.ndim == 2 else []
        if A.ndim != 2:
            raise ValueError(f"X must be a 2-D (items x features) table, got shape {A.shape}")
        n, p = A.shape
        if not np.all(np.isfinite(A)):
            bad = np.unique(np.nonzero(~np.isfinite(A))[0])
            raise ValueError(f"X holds NaN or infinite values in {bad.size} item(s): "
                             f"{[ids[i] for i in bad[:10]]}")
        if self.distance not in _DISTANCES:
            raise ValueError(f"distance must be one of {_DISTANCES}, got {self.distance!r}")
        if self.final_linkage != "average":
            raise ValueError(f"final_linkage {self.final_linkage!r} is not supported (only "
                             f"'average', ConsensusClusterPlus's default and the paper's setting)")
        if self.distance == "pearson" and p < 2:
            raise ValueError(f"Pearson distance needs at least 2 features, X has {p}")
        if not (0.0 < float(self.p_item) <= 1.0):
            raise ValueError(f"p_item must be in (0, 1], got {self.p_item}")
        if int(self.reps) < 1:
            raise ValueError(f"reps must be >= 1, got {self.reps}")
        if int(self.reps) >= 2 ** 31 - 1:
            raise ValueError("reps too large for 32-bit counts")
        m = int(math.floor(n * float(self.p_item)))
        if not (2 <= int(self.k_min) <= int(self.k_max)):
            raise ValueError(f"need 2 <= k_min <= k_max, got k_min={self.k_min}, "
                             f"k_max={self.k_max}")
        if int(self.k_max) >= m:
            raise ValueError(f"k_max={self.k_max} must be smaller than the {m} items drawn per "
                             f"resampling (n={n}, p_item={self.p_item})")
        if int(self.k_max) > 120:
            raise ValueError(f"k_max={self.k_max} is too large (at most 120)")
        if self.distance == "pearson":
            sd = A.std(axis=1)
            const = np.nonzero(sd == 0)[0]
            if const.size:
                raise ValueError(f"{const.size} item(s) have identical values in all features, "
                                 f"so their Pearson correlation is undefined: "
                                 f"{[ids[i] for i in const[:10]]}")
        if len(set(ids)) != len(ids):
            raise ValueError("item ids (the DataFrame index) are not unique")
        return A, ids, m

    def _distance(self, A):
        if self.distance == "pearson":
            D = _pam.pearson_distance_r(A) if self.r_compatible else _pam.pearson_distance_fast(A)
        else:
            if self.r_compatible:
                # R's dist(): sqrt(sum_k (x_ik - x_jk)^2), summed over features in order
                acc = np.zeros((A.shape[0], A.shape[0]))
                for c in range(A.shape[1]):
                    diff = A[:, c][:, None] - A[:, c][None, :]
                    acc = acc + diff * diff
                D = np.sqrt(acc)
            else:
                sq = np.einsum("ij,ij->i", A, A)
                D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (A @ A.T), 0.0))
                np.fill_diagonal(D, 0.0)
        return np.ascontiguousarray(D)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, y=None) -> "ConsensusClustering":
        """Run the resamplings and compute, for every k, the consensus matrix and its statistics.

        X : (n_items, n_features) array or DataFrame (index = item ids).  Rows are items.
        """
        import numba

        t0 = time.perf_counter()
        A, ids, m = self._check(X)
        n = A.shape[0]
        kmin, kmax = int(self.k_min), int(self.k_max)
        ks = list(range(kmin, kmax + 1))
        nk = len(ks)
        reps = int(self.reps)
        seed = self.seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2 ** 31 - 1))
        self.seed_ = int(seed)

        D = self._distance(A)
        n_threads = numba.config.NUMBA_NUM_THREADS
        want = n_threads if (self.n_jobs is None or int(self.n_jobs) < 0) else int(self.n_jobs)
        want = max(1, min(want, n_threads))
        _KERNEL_LOCK.acquire()
        old_threads = numba.get_num_threads()
        numba.set_num_threads(want)
        try:
            M = np.zeros((nk, n, n), dtype=np.int32)
            I = np.zeros((n, n), dtype=np.int32)
            B = max(1, int(self.batch_size))
            if self.r_compatible:
                rng = RRNG(self.seed_)
                Df = D
            else:
                rng = np.random.default_rng(self.seed_)
                Df = D.astype(np.float32)
            done = 0
            while done < reps:
                b = min(B, reps - done)
                S = np.empty((b, m), dtype=np.int64)
                if self.r_compatible:
                    for r in range(b):
                        S[r] = np.sort(rng.sample(n, m)) - 1
                else:
                    for r in range(b):
                        S[r] = np.sort(rng.choice(n, m, replace=False))
                labels = np.empty((b, nk, m), dtype=np.int8)
                if self.r_compatible:
                    _pam._r_batch(D, S, kmin, kmax, labels)
                else:
                    _pam._fast_batch(Df, S, kmin, kmax, labels)
                _pam._accumulate_counts(S, labels, I, M)
                done += b
        finally:
            numba.set_num_threads(old_threads)
            _KERNEL_LOCK.release()

        # consensus matrices: integer counts divided once (upper triangle, then symmetrised)
        Iu = np.triu(I)
        Isym = Iu + np.triu(Iu, 1).T
        results: Dict[int, ConsensusResult] = {}
        for kk, k in enumerate(ks):
            Mu = np.triu(M[kk])
            Msym = Mu + np.triu(Mu, 1).T
            with np.errstate(invalid="ignore", divide="ignore"):
                C = Msym.astype(np.float64) / Isym.astype(np.float64)
            C[Isym == 0] = 0.0
            M[kk] = 0  # release early (the array itself is freed below)
            classes = _pam.cutree_r(1.0 - C, k)
            cdf, area = consensus_cdf(C)
            ccons, icons = cluster_item_consensus(C, classes, k)
            results[k] = ConsensusResult(k=k, consensus=C, classes=classes.astype(np.int64),
                                         cdf=cdf, cdf_area=area, delta_area=np.nan,
                                         pac=pac_score(C), cluster_consensus=ccons,
                                         item_consensus=icons)
        del M
        for k, delta in zip(ks, delta_areas([results[k].cdf_area for k in ks])):
            results[k].delta_area = float(delta)
        self.results_ = results
        self.item_ids_ = ids
        self.n_items_ = n
        self.n_sampled_ = m
        self.per_k_ = pd.DataFrame({
            "k": ks,
            "cdf_area": [results[k].cdf_area for k in ks],
            "delta_area": [results[k].delta_area for k in ks],
            "pac": [results[k].pac for k in ks],
            "cluster_sizes": [";".join(str(int(s)) for s in results[k].cluster_sizes) for k in ks],
        })
        index_name = X.index.name if isinstance(X, pd.DataFrame) else None
        self.classes_ = pd.DataFrame({k: results[k].classes for k in ks},
                                     index=pd.Index(ids, name=index_name))
        self._suggest_k()
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _suggest_k(self) -> None:
        """Suggested k and the structure attributes (:func:`.statistics.suggest_k`)."""
        ks = sorted(self.results_)
        sel = suggest_k(ks, [self.results_[k].pac for k in ks],
                        [self.results_[k].delta_area for k in ks], k_selection=self.k_selection,
                        pac_tolerance=self.pac_tolerance, delta_threshold=self.delta_threshold)
        self.k_pac_ = sel.k_pac
        self.k_delta_area_ = sel.k_delta_area
        self.suggested_k_ = sel.k
        self.structure_strength_ = sel.structure_strength
        self.structure_ = sel.structure
        self.strong_structure_ = sel.structure == "strong"
        self.k_rule_ = sel.rule

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit and return the final classes (1..k) for the suggested k."""
        self.fit(X)
        return self.results_[self.suggested_k_].classes.copy()

    def consensus_matrix(self, k: int) -> np.ndarray:
        return self.results_[k].consensus
