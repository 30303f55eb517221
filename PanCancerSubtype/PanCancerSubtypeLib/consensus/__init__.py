"""Consensus clustering with the semantics of R's ConsensusClusterPlus (PAM + Pearson).

* :mod:`.clustering`: the :class:`ConsensusClustering` estimator (scikit-learn conventions), the
  per-k :class:`ConsensusResult` and the compact integer counts (:class:`ConsensusCounts`);
  R-compatible ``cluster::pam`` (:func:`pam_r`, :func:`pam_r_all_k` for a range of k) and
  ``hclust`` + ``cutree`` (:func:`hclust_cutree_r`).
* :mod:`.statistics`: consensus CDF (:func:`consensus_cdf`; as plottable (x, y) arrays on the
  grid :data:`CDF_GRID`: :func:`consensus_cdf_xy` for one k, :func:`consensus_cdf_curves` for
  every k of a fitted model or a ``discover`` output folder), delta area, PAC, cluster / item
  consensus and the k-selection rules (:func:`suggest_k`).
* :class:`RRNG` / :func:`r_sample`: R's ``set.seed`` + ``sample()`` reproduced bit for bit.

The numba kernels (``_pam``: R-exact PAM and distances; ``_fastpam``: fast-mode PAM;
``_hclust``: R's hclust / cutree; ``_counts``: compact co-clustering counts) and ``_r_rng`` are
private to this package.
See ``shared/spec/consensus-clustering.md`` for the R behaviour reproduced here.
"""
from ._r_rng import RRNG, r_sample
from .clustering import (ConsensusClustering, ConsensusCounts, ConsensusResult, hclust_cutree_r,
                         pam_r, pam_r_all_k)
from .statistics import (CDF_GRID, KSelection, cluster_item_consensus, consensus_cdf,
                         consensus_cdf_curves, consensus_cdf_xy, delta_areas, pac_score,
                         structure_label, suggest_k)

__all__ = ["ConsensusClustering", "ConsensusResult", "ConsensusCounts", "pam_r", "pam_r_all_k",
           "hclust_cutree_r",
           "CDF_GRID", "consensus_cdf", "consensus_cdf_xy", "consensus_cdf_curves", "delta_areas",
           "pac_score", "cluster_item_consensus", "KSelection", "suggest_k", "structure_label",
           "RRNG", "r_sample"]
