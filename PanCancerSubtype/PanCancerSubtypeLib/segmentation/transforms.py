"""Data transforms of the segmentation networks: intensity normalisation, resampling, patch
sampling and augmentation (arrays and SimpleITK images in, arrays out; no file is read here).

Intensity normalisation (:func:`normalise`)
-------------------------------------------
CT: window ``ct_window`` HU (default -1000..500) mapped linearly to 0..1, clipped.
MR: 1st..99th percentiles (``mr_percentiles``) of the body region -> 0..1, clipped; the body is the
set of voxels above the image minimum (so zero / constant backgrounds of skull-stripped or
z-scored images are excluded), or all voxels when the image has no constant background.

Resampling (:func:`resample`)
-----------------------------
With ``SegmenterConfig.spacing`` set, images are resampled (linear) to that spacing before
training and inference, masks by nearest neighbour; the probability map is resampled back onto
the input grid.

Patch sampling (:func:`sample_patch`)
-------------------------------------
Patches of ``patch`` px (2D: axial slices; 3D: cubes) are centred with probability
``pos_fraction`` on a random tumour voxel, otherwise on a random voxel, zero-padded at the
volume's border.

Augmentation (:func:`augmenter`)
--------------------------------
MONAI dictionary transforms on image and label: random left-right and antero-posterior flips,
small in-plane rotations (``rotate_deg``; label by nearest neighbour), intensity scaling and
shifting, Gaussian noise; seeded with ``set_random_state``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .networks import SegmenterConfig

__all__ = ["normalise", "resample", "TrainingVolume", "prepare_volume", "centred_crop",
           "sample_patch", "augmenter"]


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


def resample(img, spacing, interp, ref=None):
    """``img`` resampled (SimpleITK interpolator ``interp``) onto ``ref``'s grid, or, without
    ``ref``, to ``spacing`` (x, y, z mm) over the same physical extent (origin and direction
    kept)."""
    import SimpleITK as sitk

    if ref is not None:
        return sitk.Resample(img, ref, sitk.Transform(), interp, 0.0, img.GetPixelID())
    sp = np.array(img.GetSpacing(), float)
    new_sp = np.array(spacing, float)
    size = np.maximum(np.round(np.array(img.GetSize()) * sp / new_sp), 1).astype(int)
    return sitk.Resample(img, [int(s) for s in size], sitk.Transform(), interp, img.GetOrigin(),
                         [float(v) for v in new_sp], img.GetDirection(), 0.0, img.GetPixelID())


@dataclass
class TrainingVolume:
    """A training case as arrays: normalised image, mask and the mask's voxel indices."""

    case_id: str
    image: np.ndarray           # normalised float32 (z, y, x)
    mask: Optional[np.ndarray]  # uint8 (z, y, x)
    fg: Optional[np.ndarray] = None   # foreground voxel indices (z, y, x)


def prepare_volume(c: Dict[str, Any], cfg: SegmenterConfig) -> TrainingVolume:
    """A case of :func:`.training.load_training_cases` resampled (``cfg.spacing``) and
    normalised for training."""
    import SimpleITK as sitk

    img, m = c["image"], c["mask"]
    if cfg.spacing:
        img = resample(img, cfg.spacing, sitk.sitkLinear)
        m = resample(m, None, sitk.sitkNearestNeighbor, ref=img)
    a = normalise(sitk.GetArrayFromImage(img), c.get("modality"), cfg)
    ma = sitk.GetArrayFromImage(m).astype(np.uint8)
    fg = np.argwhere(ma > 0)
    return TrainingVolume(c["id"], a, ma, fg)


def centred_crop(arr: np.ndarray, centre: Sequence[int], size: Sequence[int]) -> np.ndarray:
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


def sample_patch(vols: List[TrainingVolume], cfg: SegmenterConfig, rng: np.random.Generator):
    """One (image, label) training patch, each with a leading channel axis: a random volume,
    centred on a tumour voxel with probability ``cfg.pos_fraction``, else on any voxel."""
    v = vols[int(rng.integers(len(vols)))]
    p = cfg.patch
    pos = rng.random() < cfg.pos_fraction
    if pos:
        ctr = v.fg[int(rng.integers(len(v.fg)))]
    else:
        ctr = np.array([int(rng.integers(n)) for n in v.image.shape])
    if cfg.dims == 2:
        z = int(ctr[0])
        img = centred_crop(v.image[z], ctr[1:], (p, p))
        lab = centred_crop(v.mask[z], ctr[1:], (p, p))
    else:
        img = centred_crop(v.image, ctr, (p, p, p))
        lab = centred_crop(v.mask, ctr, (p, p, p))
    return img[None], lab[None]


def augmenter(cfg: SegmenterConfig, seed: int):
    """Seeded MONAI transform of ``{"image", "label"}`` dictionaries (see module docstring)."""
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
