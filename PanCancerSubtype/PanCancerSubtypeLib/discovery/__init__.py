"""Subtype discovery: one entry point for the command line, the demo and the Slicer panel.

* :mod:`.pipeline` -- :func:`discover` on one feature table (below);
* :mod:`.design` -- :func:`discovery_validation`, the paper's design: a discovery / validation
  split stratified by cancer type, discovery on each, IGP of the validation subtypes against the
  discovery centroids, purity per cancer type, then the whole population.


:func:`discover` runs the paper's discovery step on a feature table (rows = tumours):

1. **preparation** (:class:`~PanCancerSubtypeLib.preprocessing.FeaturePreparer`, fitted on the
   discovery rows only): metadata / diagnostic / text columns are not features; rows with an
   extraction ``error`` are excluded and listed; a feature missing in more than ``max_missing`` of
   the rows or constant is dropped; other missing values get the discovery median; then
   ``preprocess`` = ``"standardize"`` (z-scores, default), ``"center"`` or ``"none"`` (the
   values exactly as given, which is what R's ConsensusClusterPlus receives).  With
   ``weighting="family"`` (default when standardising) every feature family
   (:func:`~PanCancerSubtypeLib.tables.feature_family`: SPHARM coefficients, energies, entropies,
   scales, burden, regional, ...) gets the same total weight;
2. optional **encoding** to ``code_dim`` dimensions: ``encode="autoencoder"`` (the paper's
   313 -> 10 autoencoder, :class:`~PanCancerSubtypeLib.encoder.Autoencoder`), ``"pca"``
   (:class:`~PanCancerSubtypeLib.encoder.PCAEncoder`) or ``"auto"``: both are fitted on a training
   part of the discovery set and the one with the lower reconstruction error on held-out data
   (the validation set when given, else a seeded ``heldout_fraction`` of the discovery rows) is
   refitted on the whole discovery set and used; both errors are reported
   (``encoder_comparison``).  *Dead-code policy*: when the ReLU code of an item is constant
   (all zero), its Pearson correlation with any other item is undefined; the autoencoder is then
   refitted once with a linear code layer, and the result records it (``encoder_refit``).  Codes
   are never rescaled;
3. **consensus clustering** (:class:`~PanCancerSubtypeLib.consensus.ConsensusClustering`: PAM,
   Pearson distance, ``p_item`` resampling) for k = k_min..k_max, the suggested k and the rule that
   chose it; ``k`` overrides the choice;
4. **validation statistics**: differential features per subtype (BH-adjusted), Cramér's V between
   subtype and cancer type, IGP of a validation set against the discovery centroids
   (clusterRepro's permutation p-values) with validation classes by nearest centroid, and cluster
   purity by repeated 5-fold cross-validation.

The result (:class:`DiscoveryResult`) holds everything, and :meth:`DiscoveryResult.save` writes
the files the ``discover`` command documents.  The same table, settings and seed give the same
subtypes whichever caller runs it.
"""
from .design import DesignResult, discovery_validation, stratified_split
from .pipeline import ENCODERS, DiscoveryResult, DiscoverySettings, discover

__all__ = ["discover", "DiscoveryResult", "DiscoverySettings", "ENCODERS", "discovery_validation",
           "DesignResult", "stratified_split"]
