"""U-Net tumour segmentation with MONAI: network, normalisation, training, inference.

Network (``architecture="dilated_unet"``, 2D by default, 3D with ``dims=3``)
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

The default widths are chosen for CPU inference: a 512x512 slice costs ~0.35 CPU-seconds (one
thread), i.e. ~35 s for a 100-slice CT; 16-32-64-128 filters cost ~1 s per slice.

Batch normalisation (``norm="batch"``, the default) uses running statistics at inference, so
whole-slice inference sees the same normalisation as patch-wise training (instance
normalisation, ``norm="instance"``, would normalise a 512x512 slice differently from a 96x96
training patch); on the synthetic phantoms it also converged several times faster.

``architecture="segresnet"`` (3D) uses ``monai.networks.nets.SegResNet`` and ``"unet"`` MONAI's
residual ``UNet``, for users who prefer a 3D network.

Input normalisation
-------------------
CT: window ``ct_window`` HU (default -1000..500) mapped linearly to 0..1, clipped.
MR: 1st..99th percentiles (``mr_percentiles``) of the body region -> 0..1, clipped; the body is the
set of voxels above the image minimum (so zero / constant backgrounds of skull-stripped or
z-scored images are excluded), or all voxels when the image has no constant background.

Training: patches of ``patch`` px (2D: axial slices; 3D: cubes) are centred with probability
``pos_fraction`` on a random tumour voxel, otherwise on a random voxel; augmented with MONAI
(random flips, small in-plane rotations, intensity scaling / shifting, Gaussian noise); loss
``monai.losses.DiceCELoss`` (softmax, one-hot); Adam; validation Dice on the held-out cases
(split by case) after each epoch, computed on the tumour's bounding box widened by
``val_margin`` voxels (2D: the tumour's slices +- ``val_margin``, whole slices; ``None``: whole
volumes, which costs ~0.4 CPU-s per 512x512 slice per epoch); early stopping after
``patience`` epochs without improvement.

Saved model directory: ``config.json`` (this module's :class:`SegmenterConfig` plus training
metadata and the SHA-256 of the weights), ``best.safetensors``, ``last.safetensors``,
``training_log.csv``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import (EmptyMaskError, GeometryMismatchError, ImageDimensionError,
                      InvalidImageValuesError, LabelNotFoundError, ManifestError, ModelBundleError,
                      UnreadableFileError)
from ..files import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------- config
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
            with open(path, "w") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "SegmenterConfig":
        names = {f.name for f in fields(cls)}
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


# -------------------------------------------------------------------------------------- network
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


# -------------------------------------------------------------------------------- normalisation
def normalise(arr: np.ndarray, modality: Optional[str], cfg: SegmenterConfig) -> np.ndarray:
    """Intensity normalisation to ~0..1 (CT window or MR body percentiles), float32."""
    a = np.asarray(arr, dtype=np.float32)
    mod = (modality or cfg.modality or "CT").upper()
    if mod == "CT":
        lo, hi = cfg.ct_window
    elif mod == "MR":
        amin = float(a.min())
        body = a > amin
        vals = a[body] if body.mean() > 0.01 else a.ravel()
        if vals.size > 2_000_000:  # percentiles of a strided subsample: same to ~1e-3
            vals = vals[:: vals.size // 1_000_000]
        lo, hi = np.percentile(vals, cfg.mr_percentiles)
    else:
        raise ValueError(f"unknown modality {modality!r}; use CT or MR")
    if hi <= lo:
        hi = lo + 1.0
    out = (a - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def _resolve_device(device: str):
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device cuda requested but CUDA is not available")
    return torch.device(device)


# ------------------------------------------------------------------------------------ the data
@dataclass
class _Vol:
    case_id: str
    image: np.ndarray           # normalised float32 (z, y, x)
    mask: Optional[np.ndarray]  # uint8 (z, y, x)
    fg: Optional[np.ndarray] = None   # foreground voxel indices
    fg_slices: Optional[np.ndarray] = None


def _resample(img, spacing, interp, ref=None):
    import SimpleITK as sitk

    if ref is not None:
        return sitk.Resample(img, ref, sitk.Transform(), interp, 0.0, img.GetPixelID())
    sp = np.array(img.GetSpacing(), float)
    new_sp = np.array(spacing, float)
    size = np.maximum(np.round(np.array(img.GetSize()) * sp / new_sp), 1).astype(int)
    return sitk.Resample(img, [int(s) for s in size], sitk.Transform(), interp, img.GetOrigin(),
                         [float(v) for v in new_sp], img.GetDirection(), 0.0, img.GetPixelID())


@contextmanager
def _naming_case(case_id: str):
    """Re-raise the errors of reading a case's image and mask with the case ID as their source
    (the file stays in the message).  A ``Label`` that selects no voxel is an
    :class:`~PanCancerSubtypeLib.errors.EmptyMaskError` here: the case has no training target."""
    try:
        yield
    except LabelNotFoundError as exc:
        raise EmptyMaskError(f"mask has no foreground voxel for the selected label ({exc})",
                             source=case_id) from None
    except (UnreadableFileError, EmptyMaskError, GeometryMismatchError, ImageDimensionError,
            InvalidImageValuesError) as exc:
        raise type(exc)(str(exc), source=case_id) from None


def load_training_cases(cases, base_dir=None) -> List[Dict[str, Any]]:
    """Manifest path / DataFrame / list of dict rows / list of ``Case`` -> list of dicts.

    Each dict holds ``id``, ``image`` (SimpleITK float32), ``mask`` (uint8 0/1 on the image grid),
    ``modality`` (``"CT"``, ``"MR"`` or None).  Manifests are read and validated by
    :func:`PanCancerSubtypeLib.cohort.read_manifest` (columns ``Image``, ``Mask``, optional
    ``Label``, ``ID``, ``Modality``, or the aliases of ``shared/data/cases.csv``; relative paths
    are relative to the manifest's folder, or to ``base_dir``; IDs default to the image file name
    and must be unique).  Images and masks are read by :func:`PanCancerSubtypeLib.io.read_image`
    and :func:`~PanCancerSubtypeLib.io.read_mask`, so ``Label`` follows io's rule (a value,
    ``1,3,4``, or a segment name of a ``.seg.nrrd``; empty: the mask's only label, or label 1
    with a warning when it has several) and a mask on another grid is resampled onto the image
    grid when their extents overlap.  Errors name the case.
    """
    import SimpleITK as sitk

    from ..cohort import normalise_manifest, read_manifest
    from ..io import align_to_reference, check_image, read_image, read_mask

    source = None
    if isinstance(cases, (str, os.PathLike)):
        source = str(cases)
        rows: List[Any] = read_manifest(cases, base_dir=base_dir).to_dict("records")
    elif hasattr(cases, "to_dict") and hasattr(cases, "columns"):
        rows = normalise_manifest(cases, base_dir or ".").to_dict("records")
    else:
        rows = list(cases)
        at = [i for i, r in enumerate(rows) if isinstance(r, Mapping)]
        if at:
            import pandas as pd

            table = normalise_manifest(pd.DataFrame([dict(rows[i]) for i in at]), base_dir or ".",
                                       source="cases")
            for i, r in zip(at, table.to_dict("records")):
                rows[i] = r
    out = []
    seen = set()
    for row in rows:
        if isinstance(row, Mapping):
            cid = str(row["ID"])
            with _naming_case(cid):
                img = sitk.Cast(read_image(row["Image"], check=False), sitk.sitkFloat32)
                check_image(img, source=cid)
                m = read_mask(row["Mask"], label=row["Label"] or None, reference=img)
            mod = row["Modality"] or None
        elif hasattr(row, "image") and hasattr(row, "mask"):
            cid, mod = str(row.case_id), row.modality
            img = sitk.Cast(row.image, sitk.sitkFloat32)
            check_image(img, source=cid)
            m = align_to_reference(sitk.Cast(row.mask > 0, sitk.sitkUInt8), img, source=cid)
        else:
            raise TypeError(f"a training case is a manifest row (dict) or a Case, not "
                            f"{type(row).__name__}")
        if cid in seen:
            raise ManifestError(f"duplicate case ID {cid!r}", source=source)
        seen.add(cid)
        if not sitk.GetArrayViewFromImage(m).any():
            raise EmptyMaskError("mask has no foreground voxel (for the selected label)",
                                 source=cid)
        out.append({"id": cid, "image": img, "mask": m,
                    "modality": (str(mod).upper() if mod else None)})
    if not out:
        raise ManifestError("no training cases", source=source)
    return out


def _prepare(c: Dict[str, Any], cfg: SegmenterConfig) -> _Vol:
    import SimpleITK as sitk

    img, m = c["image"], c["mask"]
    if cfg.spacing:
        img = _resample(img, cfg.spacing, sitk.sitkLinear)
        m = _resample(m, None, sitk.sitkNearestNeighbor, ref=img)
    a = normalise(sitk.GetArrayFromImage(img), c.get("modality"), cfg)
    ma = sitk.GetArrayFromImage(m).astype(np.uint8)
    fg = np.argwhere(ma > 0)
    return _Vol(c["id"], a, ma, fg, np.unique(fg[:, 0]))


# ------------------------------------------------------------------------------------ sampling
def _crop(arr: np.ndarray, centre: Sequence[int], size: Sequence[int]) -> np.ndarray:
    """Crop of ``size`` centred at ``centre`` with zero padding outside the array."""
    out = np.zeros(tuple(size), arr.dtype)
    src, dst = [], []
    for c, s, n in zip(centre, size, arr.shape):
        a0 = int(c) - s // 2
        lo, hi = max(a0, 0), min(a0 + s, n)
        src.append(slice(lo, hi))
        dst.append(slice(lo - a0, hi - a0))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def _sample(vols: List[_Vol], cfg: SegmenterConfig, rng: np.random.Generator):
    v = vols[int(rng.integers(len(vols)))]
    p = cfg.patch
    pos = rng.random() < cfg.pos_fraction
    if cfg.dims == 2:
        if pos:
            ctr = v.fg[int(rng.integers(len(v.fg)))]
        else:
            ctr = np.array([int(rng.integers(n)) for n in v.image.shape])
        z = int(ctr[0])
        img = _crop(v.image[z], ctr[1:], (p, p))
        lab = _crop(v.mask[z], ctr[1:], (p, p))
    else:
        if pos:
            ctr = v.fg[int(rng.integers(len(v.fg)))]
        else:
            ctr = np.array([int(rng.integers(n)) for n in v.image.shape])
        img = _crop(v.image, ctr, (p, p, p))
        lab = _crop(v.mask, ctr, (p, p, p))
    return img[None], lab[None]


def _augmenter(cfg: SegmenterConfig, seed: int):
    import monai.transforms as T

    keys = ["image", "label"]
    sd = cfg.dims
    rot = np.deg2rad(cfg.rotate_deg)
    tr = [T.RandFlipd(keys, prob=0.5, spatial_axis=sd - 1),      # left-right (x)
          T.RandFlipd(keys, prob=0.5, spatial_axis=sd - 2)]      # antero-posterior (y)
    if rot > 0:
        # in-plane rotation only (about the z axis); label by nearest neighbour
        # MONAI: range_x = plane of the first two spatial axes (2D: y, x); range_z = plane of
        # the second and third axes (3D arrays are z, y, x: the axial plane)
        plane = {"range_x": rot} if sd == 2 else {"range_z": rot}
        tr.append(T.RandRotated(keys, prob=0.5, mode=("bilinear", "nearest"),
                                padding_mode="zeros", **plane))
    tr += [T.RandScaleIntensityd("image", factors=cfg.intensity_scale, prob=0.5),
           T.RandShiftIntensityd("image", offsets=cfg.intensity_shift, prob=0.5),
           T.RandGaussianNoised("image", prob=0.5, std=cfg.noise_std)]
    comp = T.Compose(tr)
    comp.set_random_state(seed=seed)
    return comp


# ------------------------------------------------------------------------------------ predict
def _predict_prob(model, arr: np.ndarray, cfg: SegmenterConfig, device) -> np.ndarray:
    """Tumour probability (z, y, x) of a normalised volume by sliding-window inference."""
    import torch
    from monai.inferers import sliding_window_inference

    roi = cfg.roi(arr.shape)
    model.eval()
    out = np.zeros(arr.shape, np.float32)
    with torch.no_grad():
        if cfg.dims == 2:
            nz = arr.shape[0]
            chunk = max(int(cfg.sw_batch_size), 1)
            for z0 in range(0, nz, chunk):
                x = torch.from_numpy(np.ascontiguousarray(arr[z0:z0 + chunk, None])).to(device)
                logits = sliding_window_inference(x, roi, cfg.sw_batch_size, model,
                                                  overlap=cfg.sw_overlap, mode="gaussian")
                prob = torch.softmax(logits, dim=1)[:, 1]
                out[z0:z0 + chunk] = prob.float().cpu().numpy()
        else:
            x = torch.from_numpy(np.ascontiguousarray(arr[None, None])).to(device)
            logits = sliding_window_inference(x, roi, cfg.sw_batch_size, model,
                                              overlap=cfg.sw_overlap, mode="gaussian")
            out[:] = torch.softmax(logits, dim=1)[0, 1].float().cpu().numpy()
    return out


def _val_crop(v: "_Vol", cfg: SegmenterConfig):
    """Validation region: the tumour's bounding box widened by ``val_margin`` voxels (2D: only
    along z, whole slices), or the whole volume when ``val_margin`` is None."""
    if cfg.val_margin is None or v.fg is None or not len(v.fg):
        return tuple(slice(None) for _ in v.image.shape)
    m = int(cfg.val_margin)
    lo = v.fg.min(0) - m
    hi = v.fg.max(0) + m + 1
    if cfg.dims == 2:
        return (slice(max(int(lo[0]), 0), int(hi[0])), slice(None), slice(None))
    return tuple(slice(max(int(a), 0), int(b)) for a, b in zip(lo, hi))


def _dice_np(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * float(np.logical_and(a, b).sum()) / s


# ------------------------------------------------------------------------------------ training
def train_segmenter(cases, out_dir, config: Optional[SegmenterConfig] = None,
                    progress: Optional[bool] = None, base_dir=None, **overrides) -> Dict[str, Any]:
    """Train a segmentation network; write ``out_dir`` (config.json, best/last weights, log).

    ``cases``: manifest CSV path, DataFrame, list of manifest rows (dicts with Image, Mask,
    optional Label, ID, Modality) or list of :class:`~PanCancerSubtypeLib.features.Case`.
    ``overrides`` replace fields of ``config``.  Returns a summary dict (best epoch, best
    validation Dice, device, seconds per epoch, split).

    Determinism: with the same seed on the same CPU build, two runs give bit-identical weights
    (``torch.manual_seed``, NumPy generator, MONAI ``set_random_state``,
    ``torch.use_deterministic_algorithms(True)``, no worker processes).  On CUDA the run is
    seeded but deterministic algorithms are only requested (``warn_only``).
    """
    import torch
    from monai.losses import DiceCELoss

    cfg = config or SegmenterConfig()
    if overrides:
        cfg = SegmenterConfig.from_dict({**cfg.to_dict(), **overrides})
    cfg.validate()
    device = _resolve_device(cfg.device)
    raw = load_training_cases(cases, base_dir=base_dir)
    if cfg.modality is None:
        mods = [c["modality"] for c in raw if c["modality"]]
        cfg.modality = max(set(mods), key=mods.count) if mods else "CT"
    for c in raw:
        c["modality"] = c["modality"] or cfg.modality

    # split by case
    rng_split = np.random.default_rng(cfg.seed)
    order = rng_split.permutation(len(raw))
    n_val = int(round(cfg.val_fraction * len(raw))) if len(raw) > 1 else 0
    if cfg.val_fraction > 0 and len(raw) > 1:
        n_val = max(n_val, 1)
    val_idx = sorted(order[:n_val].tolist())
    train_idx = sorted(order[n_val:].tolist())
    train = [_prepare(raw[i], cfg) for i in train_idx]
    val = [_prepare(raw[i], cfg) for i in val_idx]

    os.makedirs(out_dir, exist_ok=True)
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(cfg.seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(True)
    try:
        model = build_network(cfg).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate,
                               weight_decay=cfg.weight_decay)
        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
        rng = np.random.default_rng(cfg.seed + 1)
        aug = _augmenter(cfg, cfg.seed + 2) if cfg.augment else None
        from safetensors.torch import save_file

        best_path = os.path.join(out_dir, "best.safetensors")
        last_path = os.path.join(out_dir, "last.safetensors")
        log_path = os.path.join(out_dir, "training_log.csv")
        best, best_epoch, bad = -np.inf, -1, 0
        rows = []
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            tqdm = None
        bar = tqdm(range(cfg.epochs), desc="train-segmenter", unit="epoch",
                   disable=(not progress) if progress is not None else None) \
            if tqdm is not None else range(cfg.epochs)
        t_start = time.perf_counter()
        for epoch in bar:
            t0 = time.perf_counter()
            model.train()
            losses = []
            for _ in range(cfg.iterations_per_epoch):
                xs, ys = [], []
                for _ in range(cfg.batch_size):
                    x, y = _sample(train, cfg, rng)
                    if aug is not None:
                        d = aug({"image": x, "label": y.astype(np.float32)})
                        x = np.asarray(d["image"], np.float32)
                        y = np.asarray(d["label"])
                    xs.append(x)
                    ys.append(np.rint(y).astype(np.int64))
                xb = torch.from_numpy(np.stack(xs)).to(device)
                yb = torch.from_numpy(np.stack(ys)).to(device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            train_loss = float(np.mean(losses))
            if val:
                dices = []
                for v in val:
                    sl = _val_crop(v, cfg)
                    pred = _predict_prob(model, v.image[sl], cfg, device) >= cfg.threshold
                    dices.append(_dice_np(pred, v.mask[sl] > 0))
                score = float(np.mean(dices))
            else:
                score = -train_loss          # no validation case: track the training loss
            sd_cpu = {k: t.detach().cpu().contiguous() for k, t in model.state_dict().items()}
            save_file(sd_cpu, last_path)
            improved = score > best + 1e-6
            if improved:
                best, best_epoch, bad = score, epoch, 0
                save_file(sd_cpu, best_path)
            else:
                bad += 1
            dt = time.perf_counter() - t0
            rows.append({"epoch": epoch, "train_loss": round(train_loss, 6),
                         "val_dice": round(score, 6) if val else "",
                         "best": int(improved), "seconds": round(dt, 3)})
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{train_loss:.3f}",
                                val_dice=f"{score:.3f}" if val else "-")
            with open(log_path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
            if bad >= cfg.patience:
                log.info("early stopping at epoch %d (best %d)", epoch, best_epoch)
                break
        total = time.perf_counter() - t_start
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)
    summary = {
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "best_epoch": best_epoch,
        "best_val_dice": float(best) if val else None,
        "epochs_run": len(rows),
        "seconds_total": round(total, 3),
        "seconds_per_epoch": round(total / max(len(rows), 1), 3),
        "device": str(device),
        "train_cases": [raw[i]["id"] for i in train_idx],
        "val_cases": [raw[i]["id"] for i in val_idx],
        "weights_sha256": {"best.safetensors": sha256_file(best_path),
                           "last.safetensors": sha256_file(last_path)},
        "torch_version": torch.__version__,
        "note": "research model; not validated for clinical use",
    }
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    return summary


# ----------------------------------------------------------------------------------- inference
def load_model(model_dir, which: str = "best", device: str = "auto"):
    """(torch module in eval mode, SegmenterConfig, metadata) from a model directory."""
    import torch  # noqa: F401  (safetensors.torch needs it; fail here with a clear ImportError)
    from safetensors.torch import load_file

    model_dir = str(model_dir)
    cpath = os.path.join(model_dir, "config.json")
    wpath = os.path.join(model_dir, f"{which}.safetensors")
    if not os.path.isdir(model_dir):
        raise ModelBundleError("model directory does not exist", source=model_dir)
    for p in (cpath, wpath):
        if not os.path.isfile(p):
            raise ModelBundleError(f"model directory lacks {os.path.basename(p)}",
                                   source=model_dir)
    try:
        with open(cpath) as fh:
            meta = json.load(fh)
        cfg = SegmenterConfig.from_dict(meta["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelBundleError(f"config.json is invalid: {exc}", source=cpath) from None
    expected = (meta.get("weights_sha256") or {}).get(os.path.basename(wpath))
    if expected and sha256_file(wpath) != expected:
        raise ModelBundleError(f"{os.path.basename(wpath)} does not match the checksum recorded "
                               f"in config.json (file changed or corrupted)", source=model_dir)
    dev = _resolve_device(device if device != "auto" else "auto")
    model = build_network(cfg)
    try:
        model.load_state_dict(load_file(wpath))
    except (RuntimeError, OSError) as exc:
        raise ModelBundleError(f"weights do not fit the configured network: {exc}",
                               source=wpath) from None
    model.to(dev).eval()
    return model, cfg, meta


def postprocess(mask: np.ndarray, mode: Optional[str] = "largest",
                seed_indices_zyx: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """Keep the largest 26-connected component, or the component(s) containing the seed voxels."""
    from scipy import ndimage as ndi

    if mode is None or mode == "none" or not mask.any():
        return mask
    lab, n = ndi.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    if seed_indices_zyx:
        ids = {int(lab[tuple(s)]) for s in seed_indices_zyx} - {0}
        if ids:
            return np.isin(lab, list(ids))
        log.warning("no predicted component contains a seed point; keeping the largest")
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    return lab == int(counts.argmax())


def segment_image(image, model_dir, modality: Optional[str] = None, seeds_lps_mm=None,
                  postprocessing: Optional[str] = "largest", device: str = "auto",
                  return_probability: bool = False, model=None, source: Optional[str] = None,
                  num_threads: Optional[int] = None):
    """Segment the tumour of ``image`` with a trained model; mask on exactly the input grid.

    ``seeds_lps_mm``: optional seed points (LPS mm); the predicted component(s) containing them
    are kept (instead of the largest component).  ``postprocessing=None`` keeps every component.
    ``model``: an already loaded ``(module, config, meta)`` tuple (from :func:`load_model`), to
    segment many images without reloading.  With ``return_probability`` a float32 probability
    image is returned as well.
    """
    import SimpleITK as sitk
    import torch

    if not isinstance(image, sitk.Image):
        raise TypeError("image must be a SimpleITK image")
    from ..io import check_image

    check_image(image, source=source)
    net, cfg, _ = model if model is not None else load_model(model_dir, device=device)
    dev = next(net.parameters()).device
    img = sitk.Cast(image, sitk.sitkFloat32)
    work = _resample(img, cfg.spacing, sitk.sitkLinear) if cfg.spacing else img
    arr = normalise(sitk.GetArrayFromImage(work), modality or cfg.modality, cfg)
    prev_threads = torch.get_num_threads()
    nt = num_threads or cfg.num_threads
    if nt:
        torch.set_num_threads(int(nt))
    try:
        prob = _predict_prob(net, arr, cfg, dev)
    finally:
        torch.set_num_threads(prev_threads)
    if cfg.spacing:
        p = sitk.GetImageFromArray(prob)
        p.CopyInformation(work)
        prob = sitk.GetArrayFromImage(_resample(p, None, sitk.sitkLinear, ref=img))
    mask = prob >= cfg.threshold
    seeds_zyx = None
    if seeds_lps_mm is not None and len(np.atleast_2d(seeds_lps_mm)[0]):
        from .semiauto import seeds_to_indices

        seeds_zyx = [s[::-1] for s in seeds_to_indices(image, seeds_lps_mm, source=source)]
    mask = postprocess(mask, postprocessing, seeds_zyx)
    out = sitk.GetImageFromArray(mask.astype(np.uint8))
    out.CopyInformation(image)
    if return_probability:
        pimg = sitk.GetImageFromArray(prob.astype(np.float32))
        pimg.CopyInformation(image)
        return out, pimg
    return out
