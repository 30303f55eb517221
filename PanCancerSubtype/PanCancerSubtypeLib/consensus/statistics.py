"""Statistics of consensus matrices and the rules that suggest the number of clusters.

Everything here works on the consensus matrices ``C_k`` (n x n, values in [0, 1]) that
:class:`~PanCancerSubtypeLib.consensus.ConsensusClustering` produces, so the same numbers can be
recomputed from a saved matrix (``consensus_k{K}.npz`` of ``pancancer-subtype discover``).
Definitions follow ConsensusClusterPlus 1.62 (``CDF()`` and ``calcICL()``; see
``shared/spec/consensus-clustering.md``, sections 6-8), with ``v`` = the strict lower triangle of
``C_k`` (``N = n (n - 1) / 2`` values):

* consensus CDF: ``F_k(x_j) = #{v <= x_j} / N`` on the grid ``x_j = j / 100``, j = 1..100 (R's
  ``hist(v, breaks = seq(0, 1, by = 0.01))`` with cumulated counts: right-closed bins, R's fuzz of
  ``1e-7 * 0.01`` on the edges);
* area ``A(k) = sum_j F_k(x_j) (x_j - x_{j-1})`` (right-endpoint step sum, in R's summation order);
* delta area ``Delta(k_min) = A(k_min)``, ``Delta(k) = (A(k) - A(k-1)) / A(k-1)``;
* PAC (Senbabaoglu et al. 2014): ``F(0.9) - F(0.1) = #{0.1 < v <= 0.9} / N``;
* cluster consensus (mean ``C_ij`` over the pairs of a final cluster) and item consensus (mean
  ``C_ij`` of item i to the members of a cluster, i itself excluded).

k selection (:func:`suggest_k`): Monti et al. (2003)'s elbow of the CDF area (the paper's rule) or
the PAC minimum (Senbabaoglu et al. 2014), both always reported.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import numpy as np

__all__ = ["CDF_GRID", "consensus_cdf", "consensus_cdf_xy", "consensus_cdf_curves", "delta_areas",
           "pac_score", "cluster_item_consensus", "KSelection", "suggest_k", "structure_label"]

_BREAKS = np.minimum(np.arange(101, dtype=np.float64) * 0.01, 1.0)  # R: seq(0, 1, by = 0.01)
_BREAKS.flags.writeable = False

#: x of the consensus CDF: the right bin edges 0.01, 0.02, ..., 1.00 (R's ``seq(0, 1, by = 0.01)``
#: without its first value), where :func:`consensus_cdf` evaluates the empirical CDF.
CDF_GRID = _BREAKS[1:]


def _lower_values(C: np.ndarray) -> np.ndarray:
    i, j = np.tril_indices(C.shape[0], -1)
    return C[i, j]


def _cdf_edges() -> np.ndarray:
    """Right bin edges of R's ``hist(v, breaks = seq(0, 1, 0.01))`` with its fuzz of
    ``1e-7 * bin width``: ``#{v <= edge_j}`` is R's cumulated count of bin j."""
    widths = np.diff(_BREAKS)
    return _BREAKS[1:] + 1e-7 * float(np.median(widths))


def _cdf_and_area(cum: np.ndarray, N: int):
    """``cdf[j] = cum[j] / N`` and R's area ``sum_j cdf[j] * (x_j - x_{j-1})`` in R's order."""
    if N == 0:
        raise ValueError("consensus CDF needs at least 2 items")
    cdf = np.asarray(cum, dtype=np.float64) / float(N)
    area = 0.0
    for b in range(100):
        area = area + cdf[b] * (_BREAKS[b + 1] - _BREAKS[b])
    return cdf, float(area)


def consensus_cdf(C: np.ndarray):
    """Consensus CDF at 0.01, 0.02, ..., 1 and its area, as ConsensusClusterPlus's ``CDF()``.

    ``v`` = strict lower triangle of C; ``hist(v, breaks = seq(0, 1, 0.01))`` (right-closed bins,
    R's fuzz of 1e-7 * bin width on the edges); ``cdf[j] = #{v <= x_j} / N``;
    ``area = sum_j cdf[j] * (x_j - x_{j-1})`` summed in R's order.
    """
    v = np.sort(_lower_values(np.asarray(C, dtype=np.float64)))
    cum = np.searchsorted(v, _cdf_edges(), side="right")
    return _cdf_and_area(cum, v.size)


def counts_statistics(co_clustered, co_sampled, offsets, classes, k: int,
                      lower: float = 0.1, upper: float = 0.9):
    """The per-k statistics straight from the packed co-clustering counts (no dense matrix):
    ``(cdf, area, pac, cluster_consensus, item_consensus)``, the same numbers as
    :func:`consensus_cdf`, :func:`pac_score` and :func:`cluster_item_consensus` give on
    ``C_k = co_clustered / co_sampled`` (item sums in increasing j instead of BLAS order)."""
    from . import _counts

    n = int(np.asarray(classes).shape[0])
    edges = _cdf_edges()
    hist, n_pac = _counts.cdf_pac_counts(co_clustered, co_sampled, offsets, n, edges,
                                         float(lower), float(upper), 64)
    N = n * (n - 1) // 2
    cdf, area = _cdf_and_area(np.cumsum(hist), N)
    cls0 = np.asarray(classes, dtype=np.int64) - 1
    S = _counts.item_sums(co_clustered, co_sampled, offsets, cls0, int(k))
    cluster, item = _cluster_item_from_sums(S, cls0, int(k))
    return cdf, area, float(n_pac / N), cluster, item


def consensus_cdf_xy(values) -> Tuple[np.ndarray, np.ndarray]:
    """The consensus CDF of one k as ``(x, y)`` arrays, exactly as the core defines it.

    ``values`` is either a consensus matrix ``C_k`` (n x n, n >= 2) or the 100 CDF values the core
    already computed from it (``ConsensusResult.cdf``, the ``cdf`` array of ``consensus_k{K}.npz``).
    ``x`` = :data:`CDF_GRID` (0.01, 0.02, ..., 1.00, the grid of the area and delta area) and
    ``y[j] = #{v <= x[j]} / N``: the empirical CDF of the ``N = n (n - 1) / 2`` strict
    lower-triangle consensus values ``v``, evaluated at ``x[j]`` (:func:`consensus_cdf`).  Each
    point is an exact value of the ECDF; the ECDF is constant between the values of ``v``, not
    between grid points.  ConsensusClusterPlus's own CDF plot draws the same ``y`` against the bin
    midpoints (``hist()$mids`` = ``x - 0.005``) joined by straight lines.

    Returns new arrays (float64, length 100).
    """
    a = np.asarray(values, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] == CDF_GRID.shape[0]:
        y = a.copy()
    elif a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] >= 2:
        y = consensus_cdf(a)[0]
    else:
        raise ValueError(f"expected a square consensus matrix (n >= 2) or the "
                         f"{CDF_GRID.shape[0]} values of a consensus CDF, got shape {a.shape}")
    return CDF_GRID.copy(), y


_NPZ_NAME = re.compile(r"^consensus_k(\d+)\.npz$")


def _npz_cdf_xy(path: str) -> Tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        if "cdf" in z.files:
            return consensus_cdf_xy(z["cdf"])
        if "consensus" in z.files:
            return consensus_cdf_xy(z["consensus"])
    raise ValueError(f"{path}: holds neither a 'cdf' nor a 'consensus' array")


def consensus_cdf_curves(source) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """Consensus CDFs of every k as ``{k: (x, y)}`` (see :func:`consensus_cdf_xy`), k ascending.

    ``source`` is one of

    * a fitted :class:`~PanCancerSubtypeLib.consensus.ConsensusClustering` (its ``results_``);
    * a mapping ``k -> ConsensusResult`` (or ``k ->`` consensus matrix / 100 CDF values);
    * the output folder of ``pancancer-subtype discover``: every ``consensus_k{K}.npz`` in it;
    * one ``consensus_k{K}.npz`` file (k is read from the name).

    A ``.npz`` file gives its ``cdf`` array (the 100 values the core stored), else its
    ``consensus`` matrix, from which the CDF is computed.
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if os.path.isdir(path):
            files = {int(m.group(1)): os.path.join(path, name)
                     for name in os.listdir(path) for m in [_NPZ_NAME.match(name)] if m}
            if not files:
                raise ValueError(f"{path}: no consensus_k{{K}}.npz file")
        else:
            m = _NPZ_NAME.match(os.path.basename(path))
            if m is None:
                raise ValueError(f"{path}: not a consensus_k{{K}}.npz file (k is read from the "
                                 f"name)")
            files = {int(m.group(1)): path}
        return {k: _npz_cdf_xy(files[k]) for k in sorted(files)}
    results = getattr(source, "results_", source)
    if not hasattr(results, "items"):
        raise TypeError(f"expected a fitted ConsensusClustering, a mapping k -> result, a folder "
                        f"or a .npz path, got {type(source).__name__}")
    return {int(k): consensus_cdf_xy(getattr(r, "cdf", r))
            for k, r in sorted(results.items(), key=lambda kr: int(kr[0]))}


def delta_areas(areas: Sequence[float]) -> np.ndarray:
    """Monti's delta area of consecutive k: the first value is the area itself (as R), then
    ``(A(k) - A(k-1)) / A(k-1)``."""
    a = [float(x) for x in areas]
    return np.array([a[0]] + [(a[i] - a[i - 1]) / a[i - 1] for i in range(1, len(a))],
                    dtype=np.float64)


def pac_score(C: np.ndarray, lower: float = 0.1, upper: float = 0.9) -> float:
    """Proportion of ambiguous clustering: ``F(upper) - F(lower)`` of the empirical CDF of the strict
    lower triangle of C (fraction of pairs with ``lower < C_ij <= upper``); lower is better."""
    v = _lower_values(np.asarray(C, dtype=np.float64))
    return float(np.count_nonzero((v > lower) & (v <= upper)) / v.size)


def cluster_item_consensus(C: np.ndarray, classes: np.ndarray, k: int):
    """ConsensusClusterPlus's ``calcICL``: cluster consensus (mean C over pairs within a cluster,
    NaN for a singleton) and item consensus (mean C of an item to the members of each cluster,
    itself excluded), shape (n, k)."""
    C = np.asarray(C, dtype=np.float64)
    n = C.shape[0]
    cls0 = np.asarray(classes, dtype=np.int64) - 1
    H = np.zeros((n, k), dtype=np.float64)
    H[np.arange(n), cls0] = 1.0
    S = C @ H - H * np.diag(C)[:, None]  # sum over members j != i
    return _cluster_item_from_sums(S, cls0, k)


def _cluster_item_from_sums(S: np.ndarray, cls0: np.ndarray, k: int):
    """calcICL's means from ``S[i, c]`` = sum of C_ij over the members j != i of cluster c."""
    n = S.shape[0]
    H = np.zeros((n, k), dtype=np.float64)
    H[np.arange(n), cls0] = 1.0
    sizes = H.sum(axis=0)
    denom = sizes[None, :] - H
    with np.errstate(invalid="ignore", divide="ignore"):
        item = S / denom
        within = (H * S).sum(axis=0) / 2.0
        cluster = within / (sizes * (sizes - 1) / 2.0)
    cluster[sizes < 2] = np.nan
    return cluster, item


# ----------------------------------------------------------------------------------------------
# k selection
# ----------------------------------------------------------------------------------------------
K_SELECTIONS = ("cdf", "pac")


def structure_label(pac: float) -> str:
    """"strong" (PAC < 0.05), "moderate" (PAC < 0.15) or "weak" cluster structure."""
    if pac < 0.05:
        return "strong"
    if pac < 0.15:
        return "moderate"
    return "weak"


@dataclass
class KSelection:
    """Outcome of :func:`suggest_k`.

    k : the suggested k; k_pac, k_delta_area : the k of the PAC minimum and of the delta-area
    elbow; structure : :func:`structure_label` of the PAC at k; structure_strength : ``1 - PAC``
    at k; rule : a sentence saying which rule chose k and what the other rule gives.
    """

    k: int
    k_pac: int
    k_delta_area: int
    structure: str
    structure_strength: float
    rule: str


def suggest_k(ks: Sequence[int], pac: Sequence[float], delta_area: Sequence[float],
              k_selection: str = "cdf", pac_tolerance: float = 0.01,
              delta_threshold: float = 0.1) -> KSelection:
    """Suggested number of clusters from the per-k PAC and delta area (``ks`` ascending).

    ``"cdf"``: Monti's consensus-CDF rule, the last k before the relative increase of the CDF area
    (``delta_area``) first drops below ``delta_threshold`` (the elbow of A(k); the paper's choice;
    the largest k when it never drops).  ``"pac"``: the PAC minimum (Senbabaoglu et al. 2014);
    when several k have a PAC within ``pac_tolerance`` of the minimum, the CDF elbow picks among
    them, else the smallest such k.
    """
    if k_selection not in K_SELECTIONS:
        raise ValueError(f"k_selection must be 'cdf' or 'pac', got {k_selection!r}")
    ks = [int(k) for k in ks]
    pac = np.asarray(pac, dtype=np.float64)
    delta = np.asarray(delta_area, dtype=np.float64)
    k_pac = ks[int(np.argmin(pac))]
    # delta-area elbow: last k before the relative area gain first drops below the threshold
    k_elbow, elbow_found = ks[-1], False
    for idx in range(1, len(ks)):
        if delta[idx] < delta_threshold:
            k_elbow, elbow_found = ks[idx - 1], True
            break
    tied = [k for k, v in zip(ks, pac) if v <= pac.min() + pac_tolerance]
    if k_selection == "cdf" and not elbow_found:
        k_sel = k_elbow
        rule = (f"k={k_sel}: the largest k searched: the relative increase of the consensus-CDF "
                f"area never drops below {delta_threshold} up to k={ks[-1]} (no elbow; Monti et "
                f"al. 2003): search further (a larger k_max) or choose k; the lowest PAC would "
                f"give k={k_pac}")
    elif k_selection == "cdf":
        k_sel = k_elbow
        rule = (f"k={k_sel}: consensus-CDF elbow (Monti et al. 2003; the relative increase of "
                f"the CDF area drops below {delta_threshold} after k={k_elbow}); the "
                f"lowest PAC would give k={k_pac}")
    elif len(tied) == 1:
        k_sel = k_pac
        rule = (f"k={k_sel}: lowest PAC ({pac.min():.3f}; Senbabaoglu et al. 2014); "
                f"Monti's delta-area elbow would give k={k_elbow}")
    elif k_elbow in tied:
        k_sel = k_elbow
        rule = (f"k={k_sel}: PAC within {pac_tolerance} of the minimum for k in {tied}; "
                f"Monti's delta-area elbow (relative area gain < {delta_threshold} "
                f"after k={k_elbow}) breaks the tie")
    else:
        k_sel = min(tied)
        rule = (f"k={k_sel}: smallest k with PAC within {pac_tolerance} of the minimum "
                f"({pac.min():.3f}, k in {tied}); Monti's delta-area elbow would give "
                f"k={k_elbow}")
    p_sel = float(pac[ks.index(k_sel)])
    strength = structure_label(p_sel)
    return KSelection(k=int(k_sel), k_pac=int(k_pac), k_delta_area=int(k_elbow),
                      structure=strength, structure_strength=float(1.0 - p_sel),
                      rule=rule + f"; structure {strength} (PAC {p_sel:.3f} at k={k_sel}).")
