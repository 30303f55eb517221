"""The denoising autoencoder of the deep feature group: configuration and network.

:class:`DeepEncoderConfig` holds every setting of a deep encoder (crops, normalisation, network,
noise, training) and is stored in the model's JSON file.  :func:`build_autoencoder` builds the
network it describes:

* **encoder**: ``len(channels)`` convolutions with stride 2 (3 x 3, or 3 x 3 x 3 for ``dims=3``),
  each followed by a ReLU, halve the crop ``len(channels)`` times to a ``g x g`` (``g x g x g``)
  grid, ``g = crop / 2^len(channels)``; a 1 x 1 convolution maps them to ``code_size / g^dims``
  channels.  The **code** is that last feature map, flattened in (channel, z, y, x) order: unit
  ``u`` is channel ``u // g^dims`` at grid position ``u % g^dims``.  With the defaults (2D crops of
  64 px, channels (16, 32, 64), g = 8) the code has 4,096 units, the size of the deep radiomic
  signature of the breast MRI radiogenomics study (Biomarker Research 2023);
* **decoder**: a 1 x 1 convolution back to ``channels[-1]``, then transposed convolutions with
  stride 2 (ReLU between them) up to the crop size, linear output (the input is normalised to
  about 0..1; the loss is the mean squared error against the clean crop).

The network is trained as a *denoising* autoencoder (:mod:`.training`): its input is the crop
corrupted by Gaussian noise (and optionally masking noise, a random fraction of pixels set to 0),
its target the clean crop, which makes the code describe structure rather than noise (Vincent et
al., ICML 2008).  torch is imported inside the functions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Tuple

#: default code size: the 4,096 deep features of the radiogenomics study
DEFAULT_CODE_SIZE = 4096


@dataclass
class DeepEncoderConfig:
    """Settings of a deep encoder (stored in ``deep_encoder.json``)."""

    dims: int = 2                                  #: 2 (slices through the tumour) or 3 (a cube)
    crop: int = 64                                 #: crop edge in pixels / voxels
    field_mm: Optional[float] = None               #: crop edge in mm; None: context x tumour
    context: float = 1.5                           #: adaptive field = context x tumour extent
    min_field_mm: float = 20.0                     #: smallest adaptive field
    n_slices: int = 5                              #: 2D: the slices of largest tumour area
    mask_channel: bool = False                     #: add the tumour mask as a second channel
    channels: Tuple[int, ...] = (16, 32, 64)       #: encoder filters per stride-2 level
    code_size: int = DEFAULT_CODE_SIZE             #: units of the code (the features)
    noise_std: float = 0.1                         #: Gaussian corruption (normalised units)
    mask_noise: float = 0.0                        #: fraction of input pixels set to 0
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1                      #: cases held out for early stopping
    patience: int = 8                              #: epochs without improvement before stopping
    seed: int = 0
    device: str = "auto"                           #: auto (CUDA when present) | cpu | cuda
    num_threads: Optional[int] = None              #: CPU threads (None: torch default)
    modality: Optional[str] = None                 #: default modality of cases without one
    ct_window: Tuple[float, float] = (-1000.0, 500.0)   #: CT normalisation window (HU)
    mr_percentiles: Tuple[float, float] = (1.0, 99.0)   #: MR normalisation percentiles

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "DeepEncoderConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown deep encoder setting(s) {unknown}")
        cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        cfg.validate()
        return cfg

    @property
    def in_channels(self) -> int:
        return 2 if self.mask_channel else 1

    @property
    def grid(self) -> int:
        """Edge of the code's spatial grid."""
        return self.crop // (2 ** len(self.channels))

    @property
    def code_channels(self) -> int:
        return self.code_size // (self.grid ** self.dims)

    def validate(self) -> None:
        if self.dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {self.dims}")
        levels = len(self.channels)
        if levels < 1 or self.crop % (2 ** levels) or self.crop < 2 ** levels:
            raise ValueError(f"crop ({self.crop}) must be a multiple of 2^{levels} (one halving "
                             f"per encoder level)")
        cells = self.grid ** self.dims
        if self.code_size < cells or self.code_size % cells:
            raise ValueError(
                f"code_size ({self.code_size}) must be a multiple of the code grid's "
                f"{cells} cells ({self.grid}^{self.dims}: crop {self.crop} halved "
                f"{levels} times); e.g. {cells * max(1, self.code_size // cells)}")
        if self.field_mm is not None and not self.field_mm > 0:
            raise ValueError("field_mm must be > 0")
        if not (self.context > 0 and self.min_field_mm > 0):
            raise ValueError("context and min_field_mm must be > 0")
        if self.n_slices < 1:
            raise ValueError("n_slices must be >= 1")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if not 0 <= self.mask_noise < 1 or self.noise_std < 0:
            raise ValueError("noise_std must be >= 0 and mask_noise in [0, 1)")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")


def deep_feature_names(code_size: int) -> List[str]:
    """Column names of the code units: ``deep_0000`` ... (zero-padded to at least 4 digits)."""
    width = max(4, len(str(int(code_size) - 1)))
    return [f"deep_{u:0{width}d}" for u in range(int(code_size))]


def build_autoencoder(cfg: DeepEncoderConfig):
    """The torch module of ``cfg`` (see the module docstring); ``module.encode(x)`` returns the
    flattened code, ``module(x)`` the reconstruction."""
    import torch
    from torch import nn

    cfg.validate()
    conv = nn.Conv2d if cfg.dims == 2 else nn.Conv3d
    convt = nn.ConvTranspose2d if cfg.dims == 2 else nn.ConvTranspose3d
    ch = [int(c) for c in cfg.channels]

    class DenoisingAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            enc = []
            cin = cfg.in_channels
            for c in ch:
                enc += [conv(cin, c, kernel_size=3, stride=2, padding=1), nn.ReLU()]
                cin = c
            self.encoder = nn.Sequential(*enc)
            self.code = conv(ch[-1], cfg.code_channels, kernel_size=1)
            dec = [conv(cfg.code_channels, ch[-1], kernel_size=1), nn.ReLU()]
            outs = list(reversed(ch[:-1])) + [cfg.in_channels]
            cin = ch[-1]
            for i, c in enumerate(outs):
                dec.append(convt(cin, c, kernel_size=4, stride=2, padding=1))
                if i < len(outs) - 1:
                    dec.append(nn.ReLU())
                cin = c
            self.decoder = nn.Sequential(*dec)

        def encode_map(self, x):
            return self.code(self.encoder(x))

        def encode(self, x):
            return torch.flatten(self.encode_map(x), start_dim=1)

        def forward(self, x):
            return self.decoder(self.encode_map(x))

    return DenoisingAutoencoder()


def resolve_device(device: str):
    """torch device for ``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but CUDA is not available")
    return torch.device(device)
