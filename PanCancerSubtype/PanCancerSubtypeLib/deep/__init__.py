"""Deep image features: a denoising autoencoder trained on tumour-centred crops, whose code is
the feature vector (the 4,096 deep radiomic features of the breast MRI radiogenomics study,
Biomarker Research 2023), laid out as MONAI lays out a model:

=================  ==============================================================================
module             contents
=================  ==============================================================================
:mod:`.networks`   :class:`DeepEncoderConfig`, :func:`build_autoencoder`, :func:`resolve_device`
:mod:`.transforms` :func:`tumour_crops` (per-modality normalisation, crops), :func:`corrupt`
                   (noise)
:mod:`.training`   :func:`train_deep_encoder`, :class:`DeepEncoder` (load, save, encode),
                   :func:`deep_feature_table`
:mod:`.features`   :class:`DeepFeatures`, the feature group ``deep``
:mod:`.report`     :func:`report_section` (the demo report's section)
=================  ==============================================================================

torch and safetensors are imported only when a network is built, trained or run.
"""
from __future__ import annotations

from .features import DeepFeatures
from .networks import (DEFAULT_CODE_SIZE, DeepEncoderConfig, build_autoencoder,
                       deep_feature_names, resolve_device)
from .training import (DeepEncoder, deep_feature_table, load_deep_encoder,
                       train_deep_encoder)
from .transforms import corrupt, crop_geometry, tumour_crops

__all__ = ["DeepFeatures", "deep_feature_names", "DEFAULT_CODE_SIZE", "DeepEncoderConfig",
           "build_autoencoder", "resolve_device", "DeepEncoder", "deep_feature_table",
           "load_deep_encoder", "train_deep_encoder", "corrupt", "crop_geometry",
           "tumour_crops"]
