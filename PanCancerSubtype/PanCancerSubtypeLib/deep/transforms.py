"""Tumour-centred crops for the deep encoder, and the noise that corrupts them in training.

:func:`tumour_crops` turns a :class:`~PanCancerSubtypeLib.case.Case` into the network's input:

1. the whole image is normalised to about 0..1 per modality with the segmentation stage's rule
   (:func:`PanCancerSubtypeLib.segmentation.normalise`: CT window, MR body percentiles);
2. the crop is centred on the centre of the tumour's bounding box and spans ``field_mm`` in each
   direction (physical millimetres along the image axes), or, when ``field_mm`` is None,
   ``context`` times the tumour's largest extent (at least ``min_field_mm``): the tumour then fills
   a similar part of every crop whatever its size, and the crop still shows its margin;
3. the field is sampled on a ``crop x crop`` grid (2D: on each of the ``n_slices`` image slices
   with the largest tumour area; 3D: one isotropic ``crop^3`` cube) by linear interpolation
   (``scipy.ndimage.map_coordinates``; outside the image: 0); with ``mask_channel`` the tumour
   mask (nearest neighbour) is a second channel.

The result is a float32 array ``(n, channels, crop, crop)`` (2D, ``n = n_slices`` or fewer when
the tumour spans fewer slices) or ``(1, channels, crop, crop, crop)`` (3D).
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def _field_mm(mask: np.ndarray, spacing_zyx: np.ndarray, cfg) -> float:
    if cfg.field_mm is not None:
        return float(cfg.field_mm)
    idx = np.argwhere(mask)
    extent = (idx.max(axis=0) - idx.min(axis=0) + 1) * spacing_zyx
    axes = extent if cfg.dims == 3 else extent[1:]
    return max(float(cfg.min_field_mm), float(cfg.context) * float(axes.max()))


def crop_geometry(case, cfg) -> Tuple[np.ndarray, float, np.ndarray]:
    """``(centre index (z, y, x), field in mm, slice indices)`` of a case's crops."""
    mask = np.asarray(case.mask_array(), bool)
    if not mask.any():
        from ..errors import EmptyMaskError

        raise EmptyMaskError("tumour mask is empty", source=case.case_id)
    spacing = np.asarray(case.spacing, float)[::-1]          # z, y, x
    idx = np.argwhere(mask)
    centre = (idx.min(axis=0) + idx.max(axis=0)) / 2.0
    area = mask.sum(axis=(1, 2))
    order = np.argsort(-area, kind="stable")
    slices = np.sort(order[: min(int(cfg.n_slices), int((area > 0).sum()))])
    return centre, _field_mm(mask, spacing, cfg), slices


def normalised_image(case, cfg) -> np.ndarray:
    """The case's image (z, y, x) normalised by the segmentation stage's per-modality rule."""
    from ..segmentation import normalise

    return normalise(np.asarray(case.image_array()), case.modality or cfg.modality, cfg)


def tumour_crops(case, cfg) -> np.ndarray:
    """Network input of one case (see the module docstring)."""
    from scipy.ndimage import map_coordinates

    img = normalised_image(case, cfg)
    mask = np.asarray(case.mask_array(), np.float32)
    centre, field, slices = crop_geometry(case, cfg)
    spacing = np.asarray(case.spacing, float)[::-1]
    n = int(cfg.crop)
    # pixel centres of the crop grid, in mm from the crop centre
    off = (np.arange(n) - (n - 1) / 2.0) * (field / n)
    chans = []
    if cfg.dims == 2:
        yy, xx = np.meshgrid(centre[1] + off / spacing[1], centre[2] + off / spacing[2],
                             indexing="ij")
        out = np.empty((len(slices), cfg.in_channels, n, n), np.float32)
        for i, k in enumerate(slices):
            out[i, 0] = map_coordinates(img[k], [yy, xx], order=1, mode="constant", cval=0.0)
            if cfg.mask_channel:
                out[i, 1] = map_coordinates(mask[k], [yy, xx], order=0, mode="constant")
        return out
    zz, yy, xx = np.meshgrid(centre[0] + off / spacing[0], centre[1] + off / spacing[1],
                             centre[2] + off / spacing[2], indexing="ij")
    chans.append(map_coordinates(img, [zz, yy, xx], order=1, mode="constant", cval=0.0))
    if cfg.mask_channel:
        chans.append(map_coordinates(mask, [zz, yy, xx], order=0, mode="constant"))
    return np.stack(chans)[None].astype(np.float32)


def corrupt(x, cfg, generator):
    """Denoising-autoencoder corruption of a batch (torch): additive Gaussian noise of
    ``noise_std`` and masking noise (a ``mask_noise`` fraction of the values set to 0), drawn
    from ``generator``; a mask channel is left clean."""
    import torch

    img = x[:, :1]
    if cfg.noise_std > 0:
        img = img + cfg.noise_std * torch.randn(img.shape, generator=generator,
                                                dtype=img.dtype).to(img.device)
    if cfg.mask_noise > 0:
        keep = torch.rand(img.shape, generator=generator, dtype=img.dtype).to(img.device)
        img = img * (keep >= cfg.mask_noise).to(img.dtype)
    return torch.cat([img, x[:, 1:]], dim=1) if x.shape[1] > 1 else img
