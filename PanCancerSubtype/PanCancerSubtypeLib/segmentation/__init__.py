"""Tumour segmentation: U-Net (MONAI) training and inference, semi-automatic segmentation,
evaluation and a contour-perturbation reproducibility check.

Laid out by role, as MONAI is (a network never reads a file; images, masks and labels are read
by :mod:`PanCancerSubtypeLib.io`):

=================  ==============================================================================
module             contents
=================  ==============================================================================
:mod:`.networks`   :class:`SegmenterConfig`, :func:`build_network` (dilated 2D/3D U-Net, MONAI
                   3D U-Net, SegResNet), :func:`resolve_device`
:mod:`.transforms` :func:`normalise` (CT window / MR percentiles), resampling, patch sampling,
                   augmentation
:mod:`.training`   :func:`train_segmenter` (loop, validation, early stopping, checkpoints),
                   :func:`load_training_cases`
:mod:`.inference`  :func:`load_model`, :func:`segment_image` (sliding window), :func:`postprocess`
                   (largest or seeded component)
:mod:`.semiauto`   :func:`segment_from_seeds`, :func:`seeds_to_indices`
:mod:`.metrics`    :func:`dice`, :func:`jaccard`, :func:`hausdorff95`,
                   :func:`hausdorff_distance`, :func:`volume_difference`,
                   :func:`evaluate_segmentation`
:mod:`.robustness` :func:`perturb_mask`, :func:`icc`, :func:`icc_ci`, :func:`feature_icc`
=================  ==============================================================================

Automatic (needs a trained model)
    A 2D U-Net with a dilated bottleneck built from MONAI blocks (the paper's architecture, Dice
    0.84 on NSCLC CT there), or a 3D MONAI network.  No model trained on real cohorts ships with
    the package: the networks are for users who train on their own data; nothing here is
    validated for clinical use.

Semi-automatic (no model)
    Confidence-connected region growing from seed points (LPS mm), with an enhancing-rim step
    for MR, hole filling and morphological clean-up inside a maximum radius / bounding box (leak
    control in both cases), and an optional marker-controlled watershed refinement
    (``refine="watershed"``).  Measured Dice on the shared cases: README and
    ``benchmarks/segmentation_bench.py``.

Evaluation
    Distances in mm, volumes in mL.

Reproducibility
    Random smooth elastic contour deformation; Shrout & Fleiss ICC(1,1) / (2,1) / (3,1) of every
    feature between original and perturbed masks.

torch and monai are imported only when a network is built, trained or run: importing this
package and the semi-automatic method work without them.
"""
from __future__ import annotations

from .inference import load_model, postprocess, segment_image
from .metrics import (dice, evaluate_segmentation, hausdorff95, hausdorff_distance, jaccard,
                      surface_distances, volume_difference)
from .networks import SegmenterConfig, build_network, resolve_device
from .robustness import feature_icc, icc, icc_ci, perturb_mask
from .semiauto import seeds_to_indices, segment_from_seeds
from .training import load_training_cases, train_segmenter
from .transforms import normalise

__all__ = [
    "SegmenterConfig", "build_network", "resolve_device", "train_segmenter", "segment_image",
    "load_model", "normalise", "load_training_cases", "postprocess",
    "segment_from_seeds", "seeds_to_indices",
    "dice", "jaccard", "hausdorff95", "hausdorff_distance", "volume_difference", "evaluate_segmentation",
    "surface_distances",
    "perturb_mask", "icc", "icc_ci", "feature_icc",
]
