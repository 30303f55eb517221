"""Tumour segmentation: U-Net (MONAI) training and inference, semi-automatic segmentation,
evaluation and a contour-perturbation reproducibility check.

Automatic (needs a trained model)
    :class:`SegmenterConfig`, :func:`train_segmenter`, :func:`segment_image`,
    :func:`load_model`, :func:`build_network` - a 2D U-Net with a dilated bottleneck built from
    MONAI blocks (the paper's architecture, Dice 0.84 on NSCLC CT there), or a 3D MONAI network.
    See :mod:`._seg_net` for the architecture, normalisation, sampling and augmentation.
    No model trained on real cohorts ships with the package: the networks are for users who train
    on their own data; nothing here is validated for clinical use.

Semi-automatic (no model)
    :func:`segment_from_seeds` - confidence-connected region growing from seed points (LPS mm),
    with an enhancing-rim step for MR, hole filling and morphological clean-up inside a maximum
    radius / bounding box (leak control in both cases), and an optional marker-controlled
    watershed refinement (``refine="watershed"``).  See :mod:`._seg_semiauto` for the method and
    the measured Dice (centroid and perturbed seeds, with and without a box).

Evaluation
    :func:`dice`, :func:`hausdorff95`, :func:`hausdorff_distance`, :func:`volume_difference`,
    :func:`evaluate_segmentation` (distances in mm, volumes in mL).

Reproducibility
    :func:`perturb_mask` (random smooth elastic contour deformation), :func:`icc` (Shrout &
    Fleiss ICC(1,1) / (2,1) / (3,1)), :func:`feature_icc` (ICC of every feature between original
    and perturbed masks).

torch and monai are imported only when a network is built, trained or run.
"""
from __future__ import annotations

from .robustness import feature_icc, icc, perturb_mask
from .metrics import (dice, evaluate_segmentation, hausdorff95, hausdorff_distance,
                           surface_distances, volume_difference)
from .semiauto import seeds_to_indices, segment_from_seeds

__all__ = [
    "SegmenterConfig", "build_network", "train_segmenter", "segment_image", "load_model",
    "normalise", "load_training_cases", "postprocess",
    "segment_from_seeds", "seeds_to_indices",
    "dice", "hausdorff95", "hausdorff_distance", "volume_difference", "evaluate_segmentation",
    "surface_distances",
    "perturb_mask", "icc", "feature_icc",
]

# _net imports only numpy at module level; torch / monai are imported inside its functions
from ._net import (SegmenterConfig, build_network, load_model,  # noqa: E402
                       load_training_cases, normalise, postprocess, segment_image,
                       train_segmenter)
