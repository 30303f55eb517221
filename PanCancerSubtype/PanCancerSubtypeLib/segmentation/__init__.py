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
:mod:`.semiauto`   :func:`segment_from_seeds` (method ``"click"`` or ``"region_growing"``),
                   :func:`seeds_to_indices`, the checks of a click's inputs
                   (:func:`check_click_points`, :func:`check_not_constant`,
                   :func:`read_second_channel`)
:mod:`.click`      :func:`segment_click` -> :class:`ClickResult` (mask, confidence, model),
                   :class:`ClickParameters`
:mod:`.growing`    :func:`segment_by_region_growing` (the first method, kept as an option)
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
    From one click (LPS mm; more seeds, a box, background points and a second channel are
    optional): a star-shaped optimal surface around the click on a tumour likelihood from a
    lung / enhancing-tumour / generic appearance model, re-centred on its deepest point, with a
    confidence from other clicks in the tumour (:mod:`.click`).  The former confidence-connected
    region growing stays as ``method="region_growing"`` (:mod:`.growing`).  Measured Dice:
    README and ``benchmarks/segmentation_bench.py``.

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
from .click import ClickParameters, ClickResult, segment_click
from .growing import segment_by_region_growing
from .semiauto import (check_click_points, check_not_constant, read_second_channel,
                       second_channel_fit, seeds_to_indices, segment_from_seeds)
from .training import load_training_cases, train_segmenter
from .transforms import normalise

__all__ = [
    "SegmenterConfig", "build_network", "resolve_device", "train_segmenter", "segment_image",
    "load_model", "normalise", "load_training_cases", "postprocess",
    "segment_from_seeds", "seeds_to_indices", "second_channel_fit", "segment_click",
    "check_click_points", "check_not_constant", "read_second_channel",
    "ClickResult", "ClickParameters",
    "segment_by_region_growing",
    "dice", "jaccard", "hausdorff95", "hausdorff_distance", "volume_difference", "evaluate_segmentation",
    "surface_distances",
    "perturb_mask", "icc", "icc_ci", "feature_icc",
]
