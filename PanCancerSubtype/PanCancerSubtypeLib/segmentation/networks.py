"""Segmentation networks (MONAI) and their configuration.

:class:`SegmenterConfig` holds every setting of a segmentation model (network, normalisation,
training, inference); it is stored as ``config.json`` in the model directory.
:func:`build_network` returns the torch module it describes.  A network never reads a file:
images come from :mod:`PanCancerSubtypeLib.io`, model files are written by :mod:`.training` and
read by :mod:`.inference`.

Dilated U-Net (``architecture="dilated_unet"``, 2D by default, 3D with ``dims=3``)
-------------------------------------------------------------------------------
A U-Net built from MONAI blocks (``monai.networks.blocks.ResidualUnit`` / ``Convolution``), after
the paper's 2D U-Net with dilated convolutions at the bottleneck:

* encoder: one residual unit (two 3x3 conv + batch norm + PReLU, with a residual connection)
  per level with ``channels`` (default 8, 16, 32, 64, 128) filters; levels 2.. downsample by a
  stride-2 convolution (so the input size must be a multiple of 2**(levels-1); sliding-window
  inference pads automatically);
* bottleneck: a cascade of residual units with dilation rates ``bottleneck_dilations`` (default
  1, 2, 4, 8) at the coarsest level (1/16 resolution), which enlarges the receptive field to
  the whole 512 px slice without further downsampling;
* decoder: stride-2 transposed convolutions, concatenation with the encoder features of the same
  level (skip connections) and a residual unit per level; a final 1x1 convolution gives two
  logits (background, tumour).

The default widths are chosen for CPU inference (inference time of a 512x512x100 CT:
``benchmarks/segmentation_bench.py``, README).

Batch normalisation (``norm="batch"``, the default) uses running statistics at inference, so
whole-slice inference sees the same normalisation as patch-wise training (instance
normalisation, ``norm="instance"``, would normalise a 512x512 slice differently from a 96x96
training patch); on the synthetic phantoms it also converged faster.

3D U-Net and SegResNet
----------------------
``architecture="segresnet"`` (3D) uses ``monai.networks.nets.SegResNet`` and ``"unet"`` MONAI's
residual ``UNet`` (2D or 3D), for users who prefer a 3D network.

torch and monai are imported inside the functions that need them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..files import atomic_write_text

__all__ = ["SegmenterConfig", "build_network", "resolve_device", "FORMAT_VERSION"]

#: version of the model directory layout (``train_segmenter`` writes it, ``load_model`` reads
#: this version and older ones)
FORMAT_VERSION = 1


@dataclass
class SegmenterConfig:
    """All settings of a segmentation model (stored as ``config.json`` in the model directory)."""

    dims: int = 2                                   #: 2 (slice-wise) or 3
    architecture: str = "dilated_unet"              #: dilated_unet | segresnet | unet
    channels: Tuple[int, ...] = (8, 16, 32, 64, 128)  #: filters per level
    bottleneck_dilations: Tuple[int, ...] = (1, 2, 4, 8)
    patch: int = 96                                 #: training patch edge (px)
    batch_size: int = 8
    epochs: int = 100
    iterations_per_epoch: int = 50                  #: batches per epoch
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 10                              #: early stopping (epochs without improvement)
    val_fraction: float = 0.2
    val_margin: Optional[int] = 8                   #: validation region: tumour bbox +- voxels
    seed: int = 0
    device: str = "auto"                            #: auto | cpu | cuda
    modality: Optional[str] = None                  #: default modality ("CT"/"MR")
    ct_window: Tuple[float, float] = (-1000.0, 500.0)
    mr_percentiles: Tuple[float, float] = (1.0, 99.0)
    pos_fraction: float = 0.67
    augment: bool = True
    rotate_deg: float = 10.0
    intensity_scale: float = 0.1
    intensity_shift: float = 0.1
    noise_std: float = 0.02
    spacing: Optional[Tuple[float, float, float]] = None   #: resample to (x, y, z) mm
    inference_roi: Optional[int] = None             #: sliding-window cap (2D default 512)
    sw_overlap: float = 0.25
    sw_batch_size: int = 8
    threshold: float = 0.5                          #: on the tumour probability
    norm: str = "batch"                             #: batch | instance (dilated_unet, unet)
    num_threads: Optional[int] = None               #: CPU threads for torch (None: torch default)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_dict(cls, d: Dict[str, Any], strict: bool = False) -> "SegmenterConfig":
        """The config of a dict; ``strict``: a setting this version does not know is refused
        (a model's config.json: a newer model's preprocessing may depend on it), else ignored."""
        if not isinstance(d, dict):
            raise TypeError(f"a config is a mapping, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(k for k in d if k not in names)
        if strict and unknown:
            raise ValueError(f"settings this version does not know: {unknown}")
        kw = {}
        for k, v in d.items():
            if k in names:
                kw[k] = tuple(v) if isinstance(v, list) else v
        cfg = cls(**kw)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.dims not in (2, 3):
            raise ValueError("dims must be 2 or 3")
        if self.architecture not in ("dilated_unet", "segresnet", "unet"):
            raise ValueError("architecture must be dilated_unet, segresnet or unet")
        if self.architecture == "segresnet" and self.dims != 3:
            raise ValueError("segresnet is a 3D network; use dims=3")
        if self.patch % self.divisor() != 0:
            raise ValueError(f"patch ({self.patch}) must be a multiple of {self.divisor()}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.norm == "batch" and self.batch_size < 2:
            raise ValueError("batch normalisation needs batch_size >= 2")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError("device must be auto, cpu or cuda")

    def divisor(self) -> int:
        if self.architecture == "segresnet":
            return 8
        return 2 ** (len(self.channels) - 1)

    def roi(self, shape: Optional[Sequence[int]] = None) -> Tuple[int, ...]:
        """Sliding-window size for an input of ``shape`` (spatial, z/y/x or y/x).

        2D: the whole slice (rounded up to the network's divisor) when it is no larger than
        ``inference_roi`` (default 512), so that a CT slice is one window without overlap;
        larger slices are tiled.  3D: ``inference_roi`` (default ``patch``) per axis.
        """
        d = self.divisor()
        up = lambda v: int(np.ceil(v / d) * d)  # noqa: E731
        if self.dims == 2:
            cap = up(self.inference_roi or 512)
            if shape is None:
                return (cap, cap)
            return tuple(min(up(n), cap) for n in shape[-2:])
        r = up(self.inference_roi or self.patch)
        if shape is None:
            return (r, r, r)
        return tuple(min(up(n), r) if n < r else r for n in shape[-3:])


def build_network(cfg: SegmenterConfig):
    """The torch module described by ``cfg`` (see module docstring)."""
    import torch
    from torch import nn
    from monai.networks.blocks import Convolution, ResidualUnit

    sd = cfg.dims
    if cfg.architecture == "segresnet":
        from monai.networks.nets import SegResNet

        return SegResNet(spatial_dims=sd, init_filters=int(cfg.channels[0]), in_channels=1,
                         out_channels=2)
    if cfg.architecture == "unet":
        from monai.networks.nets import UNet

        return UNet(spatial_dims=sd, in_channels=1, out_channels=2, channels=tuple(cfg.channels),
                    strides=(2,) * (len(cfg.channels) - 1), num_res_units=2, norm=cfg.norm)

    norm = cfg.norm

    class DilatedUNet(nn.Module):
        def __init__(self):
            super().__init__()
            ch = list(cfg.channels)
            self.enc = nn.ModuleList()
            cin = 1
            for i, c in enumerate(ch):
                self.enc.append(ResidualUnit(sd, cin, c, strides=1 if i == 0 else 2,
                                             subunits=2, norm=norm))
                cin = c
            self.bottleneck = nn.Sequential(*[
                ResidualUnit(sd, ch[-1], ch[-1], strides=1, subunits=2, norm=norm, dilation=int(d))
                for d in cfg.bottleneck_dilations])
            self.up = nn.ModuleList()
            self.dec = nn.ModuleList()
            for i in range(len(ch) - 1, 0, -1):
                self.up.append(Convolution(sd, ch[i], ch[i - 1], strides=2, kernel_size=3,
                                           is_transposed=True, norm=norm))
                self.dec.append(ResidualUnit(sd, 2 * ch[i - 1], ch[i - 1], strides=1,
                                             subunits=2, norm=norm))
            self.head = Convolution(sd, ch[0], 2, kernel_size=1, conv_only=True)

        def forward(self, x):
            skips = []
            for e in self.enc:
                x = e(x)
                skips.append(x)
            x = self.bottleneck(x)
            for up, dec, skip in zip(self.up, self.dec, reversed(skips[:-1])):
                x = up(x)
                x = dec(torch.cat([x, skip], dim=1))
            return self.head(x)

    return DilatedUNet()


def resolve_device(device: str):
    """torch device for ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``; an error when CUDA is requested but not available."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but CUDA is not available")
    return torch.device(device)
