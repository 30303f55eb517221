"""Synthetic images with tumours, for demos and tests (seeded, no data needed).

:func:`make_phantom` draws one CT-like chest or MR-like volume with a tumour whose radius is
perturbed by a smooth random field (spherical-harmonic-like lobes), a margin blurred over a chosen
width, realistic noise and spacing.  :func:`write_phantom_cohort` writes a small cohort and its
manifest.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import SimpleITK as sitk


def _radius_field(theta, phi, rng, irregularity: float, n_lobes: int = 6):
    """1 + sum of random low-order angular lobes (max amplitude ~ irregularity)."""
    r = np.ones_like(theta)
    for _ in range(n_lobes):
        l = int(rng.integers(2, 7))
        ax = rng.normal(size=3)
        ax /= np.linalg.norm(ax)
        x = np.sin(theta) * np.cos(phi)
        y = np.sin(theta) * np.sin(phi)
        z = np.cos(theta)
        c = ax[0] * x + ax[1] * y + ax[2] * z
        # Legendre polynomial of degree l along a random axis: a zonal harmonic
        from scipy.special import eval_legendre

        r += irregularity / n_lobes * rng.uniform(0.5, 1.5) * eval_legendre(l, c)
    return np.clip(r, 0.4, None)


def make_phantom(modality: str = "CT", size_xyz: Sequence[int] = (72, 72, 40),
                 spacing_xyz: Sequence[float] = (0.9, 0.9, 2.5), radius_mm: float = 12.0,
                 irregularity: float = 0.1, margin_mm: float = 1.0, elongation: float = 1.0,
                 seed: int = 0, noise: Optional[float] = None, centre_offset_mm=(0.0, 0.0, 0.0)
                 ) -> Tuple[sitk.Image, sitk.Image, Dict[str, float]]:
    """One synthetic volume and its tumour mask.

    CT: air outside a body ellipse (-1000 HU), soft tissue (40 HU), two lungs (-850 HU) and a
    tumour (30 HU) inside the right lung; MR: a brain/breast-like ellipsoid (signal 300) with a
    tumour (signal 700).  The tumour's radius follows a smooth random angular field
    (``irregularity`` ~ relative amplitude), its intensity falls off over ``margin_mm`` (an
    error-function blur), Gaussian noise is added.  Returns ``(image, mask, info)`` where
    ``info`` holds the true volume (mm^3) and parameters.
    """
    rng = np.random.default_rng(seed)
    nx, ny, nz = [int(v) for v in size_xyz]
    sx, sy, sz = [float(v) for v in spacing_xyz]
    z, y, x = np.meshgrid((np.arange(nz) - (nz - 1) / 2) * sz, (np.arange(ny) - (ny - 1) / 2) * sy,
                          (np.arange(nx) - (nx - 1) / 2) * sx, indexing="ij")
    half_x, half_y = nx * sx / 2, ny * sy / 2
    modality = modality.upper()
    if modality == "CT":
        body = (x / (0.95 * half_x)) ** 2 + (y / (0.8 * half_y)) ** 2 <= 1
        lung_r = ((x - 0.42 * half_x) / (0.38 * half_x)) ** 2 + (y / (0.6 * half_y)) ** 2 <= 1
        lung_l = ((x + 0.42 * half_x) / (0.38 * half_x)) ** 2 + (y / (0.6 * half_y)) ** 2 <= 1
        img = np.full(x.shape, -1000.0)
        img[body] = 40.0
        img[(lung_r | lung_l) & body] = -850.0
        centre = np.array([0.42 * half_x, 0.0, 0.0]) + np.asarray(centre_offset_mm)
        tumour_value, sigma = 30.0, 15.0 if noise is None else noise
    else:
        organ = (x / (0.85 * half_x)) ** 2 + (y / (0.85 * half_y)) ** 2 + \
            (z / (0.9 * nz * sz / 2)) ** 2 <= 1
        img = np.zeros(x.shape)
        img[organ] = 300.0
        centre = np.asarray(centre_offset_mm, dtype=float)
        tumour_value, sigma = 700.0, 20.0 if noise is None else noise
    dx, dy, dz = x - centre[0], y - centre[1], (z - centre[2]) * elongation ** -1
    r = np.sqrt(dx ** 2 + dy ** 2 + dz ** 2) + 1e-9
    theta = np.arccos(np.clip(dz / r, -1, 1))
    phi = np.arctan2(dy, dx)
    rad = radius_mm * _radius_field(theta, phi, rng, irregularity)
    signed = r - rad  # < 0 inside
    mask = signed <= 0
    from scipy.special import erf

    w = max(margin_mm, 1e-3)
    frac = 0.5 * (1 - erf(signed / (w / 1.5)))
    img = img * (1 - frac) + tumour_value * frac
    img += rng.normal(0, sigma, img.shape)
    im = sitk.GetImageFromArray(img.astype(np.float32))
    im.SetSpacing((sx, sy, sz))
    im.SetOrigin((-(nx - 1) / 2 * sx, -(ny - 1) / 2 * sy, -(nz - 1) / 2 * sz))
    mk = sitk.GetImageFromArray(mask.astype(np.uint8))
    mk.CopyInformation(im)
    info = {"volume_mm3": float(mask.sum() * sx * sy * sz), "radius_mm": radius_mm,
            "irregularity": irregularity, "margin_mm": margin_mm, "seed": seed}
    return im, mk, info


def write_phantom_cohort(out_dir, n: int = 6, seed: int = 0, modality: str = "CT",
                         size_xyz=(56, 56, 28)) -> Path:
    """Write ``n`` phantoms (NRRD) and ``manifest.csv``; returns the manifest path."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        im, mk, info = make_phantom(modality=modality, size_xyz=size_xyz,
                                    radius_mm=float(rng.uniform(6, 11)),
                                    irregularity=float(rng.uniform(0.0, 0.3)),
                                    margin_mm=float(rng.uniform(0.5, 3.0)), seed=seed * 1000 + i)
        ip, mp = out_dir / f"case{i:03d}_image.nrrd", out_dir / f"case{i:03d}_mask.nrrd"
        sitk.WriteImage(im, str(ip), True)
        sitk.WriteImage(mk, str(mp), True)
        rows.append({"ID": f"case{i:03d}", "Image": ip.name, "Mask": mp.name, "Label": "1",
                     "Modality": modality, "CancerType": "lung" if modality == "CT" else "brain"})
    man = out_dir / "manifest.csv"
    pd.DataFrame(rows).to_csv(man, index=False)
    return man
