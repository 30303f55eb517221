"""Feature group ``deep``: the code of a trained denoising autoencoder as features.

Columns ``deep_0000`` ... ``deep_<code_size - 1>``: unit ``u`` of the encoder's code layer (see
:mod:`.networks` for its layout), for 2D encoders averaged over the crops of the tumour's
``n_slices`` largest slices.  The group needs a trained encoder (``model``: the folder written by
``train-deep-encoder``); without one it still describes its columns (for the registry, with the
default code size of 4,096) but computing it is an error that says how to train one.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..errors import ModelBundleError
from ..registry import FeatureGroup, FeatureSpec
from .networks import DEFAULT_CODE_SIZE, deep_feature_names


class DeepFeatures(FeatureGroup):
    """Deep image features from a trained denoising autoencoder (see the module docstring)."""

    name = "deep"
    prefix = "deep_"
    requires = ("torch", "safetensors")

    def __init__(self, model: Optional[str] = None, device: str = "cpu"):
        self.model = None if model is None else str(model)
        self.device = device
        self._encoder = None
        self._sha = None
        if self.model is not None:
            from ..files import read_json

            try:
                doc = read_json(f"{self.model}/deep_encoder.json")
                self.code_size = int(doc["config"]["code_size"])
                self._sha = doc.get("weights_sha256")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelBundleError(f"not a deep encoder folder ({exc}); train one with "
                                       f"train-deep-encoder", source=self.model) from None
        else:
            self.code_size = DEFAULT_CODE_SIZE

    @property
    def encoder(self):
        if self._encoder is None:
            if self.model is None:
                raise ModelBundleError("the deep feature group needs a trained encoder: give "
                                       "--deep-model DIR (train one with train-deep-encoder)")
            from .training import DeepEncoder

            self._encoder = DeepEncoder.load(self.model, device=self.device)
        return self._encoder

    def options(self) -> Dict[str, Any]:
        return {"model": self.model, "weights_sha256": self._sha, "device": self.device}

    def specs(self) -> List[FeatureSpec]:
        return [FeatureSpec(
            name=n, group=self.name,
            description=f"unit {u} of the code layer of the deep denoising autoencoder "
                        f"(2D encoders: mean over the tumour's largest slices)",
            formula="code = conv1x1(relu(conv_s2(...relu(conv_s2(crop))))), flattened in "
                    "(channel, z, y, x) order; unit u = channel u // grid^dims at position "
                    "u % grid^dims",
            extra={"layer": "code", "unit": str(u)})
            for u, n in enumerate(deep_feature_names(self.code_size))]

    def compute(self, case) -> Dict[str, Any]:
        enc = self.encoder
        values = enc.case_features(case)
        out: Dict[str, Any] = dict(zip(deep_feature_names(enc.code_size),
                                       (float(v) for v in values)))
        return out
