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
    coords = np.stack([x, y, z], axis=-1)
    signed = _tumour_field(coords, centre, radius_mm, irregularity, (2, 6), rng,
                           (1.0, 1.0, elongation))  # < 0 inside
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


# ============================================================================================
# Synthetic pan-cancer cohort (demo and end-to-end test)
# ============================================================================================
#: The four morphological archetypes, after Wu et al. 2021's description of the subtypes.
#: radius: equivalent-sphere radius range (mm); irregularity: amplitude of the angular radius
#: field; degrees: harmonic degrees of its lobes; margin: width (mm) of the intensity transition at
#: the rim (sharp -> blurred / infiltrative); hr: hazard ratio of the simulated survival.
ARCHETYPES: Dict[int, Dict[str, object]] = {
    1: dict(name="small, sharp margin", radius=(5.0, 7.0), irregularity=(0.02, 0.05),
            degrees=(2, 2), elongation=(1.0, 1.1), margin=(0.2, 0.5), hr=1.0),
    2: dict(name="intermediate, moderately defined margin", radius=(10.0, 13.0),
            irregularity=(0.2, 0.25), degrees=(2, 2), elongation=(1.2, 1.35), margin=(1.5, 2.5),
            hr=1.7),
    3: dict(name="large, ill-defined blurred margin", radius=(16.0, 20.0),
            irregularity=(0.15, 0.2), degrees=(3, 4), elongation=(0.95, 1.1), margin=(5.0, 7.0),
            hr=2.8),
    4: dict(name="large, irregular rugged shape, moderately defined margin", radius=(16.0, 20.0),
            irregularity=(0.45, 0.55), degrees=(6, 9), elongation=(0.95, 1.1), margin=(1.5, 2.5),
            hr=3.6),
}

#: cancer type -> (modality, organ)
CANCER_TYPES = {"lung": ("CT", "lung"), "breast": ("MR", "breast"), "brain": ("MR", "brain")}


def _rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]])


def _smooth_noise(shape, rng, sigma_vox: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    n = gaussian_filter(rng.normal(size=shape), sigma_vox)
    return n / (n.std() + 1e-12)


def _tumour_field(coords_mm, centre, radius, irregularity, degrees, rng, elongation):
    """Signed distance-like field (mm, < 0 inside) of a star-shaped tumour."""
    from scipy.special import eval_legendre

    R = _rotation(rng)
    d = (coords_mm - centre) @ R  # tumour frame
    d = d / np.asarray(elongation)
    r = np.linalg.norm(d, axis=-1) + 1e-9
    u = d / r[..., None]
    field = np.ones(r.shape)
    n_lobes = 8
    for _ in range(n_lobes):
        l = int(rng.integers(degrees[0], degrees[1] + 1))
        ax = rng.normal(size=3)
        ax /= np.linalg.norm(ax)
        field += irregularity * rng.uniform(0.5, 1.5) / np.sqrt(n_lobes) * \
            eval_legendre(l, u @ ax) * np.sqrt(2 * l + 1) / 2
    field = np.clip(field, 0.35, None)
    return r - radius * field


def make_cohort_case(archetype: int, cancer_type: str, seed: int,
                     slice_mm: Optional[float] = None) -> Dict[str, object]:
    """One synthetic case: image, tumour mask and parenchyma mask (SimpleITK), and its truth.

    * lung (CT, HU): air -1000, body 40 +- texture, lungs -850 with vessels, tumour 30;
    * brain (MR, arbitrary units): background 0, scalp 500, brain 300 (grey/white texture),
      tumour 650 with a necrotic core in large tumours;
    * breast (MR): background 0, fat 450, fibroglandular tissue 180 (smooth random blobs),
      tumour 750.
    The rim's intensity follows an error-function profile of the archetype's width (infiltration
    of the parenchyma for blurred margins). Slice thickness is drawn from the modality's usual
    range (CT 1.25 / 2.5 / 5 mm) unless given.
    """
    from scipy.special import erf

    rng = np.random.default_rng(seed)
    a = ARCHETYPES[archetype]
    modality, organ = CANCER_TYPES[cancer_type]
    if modality == "CT":
        sxy = 1.5
        sz = float(slice_mm or rng.choice([1.25, 2.5, 5.0], p=[0.35, 0.45, 0.2]))
        fov = (180.0, 180.0, 90.0)
    elif organ == "brain":
        sxy = 1.25
        sz = float(slice_mm or rng.choice([1.25, 3.0, 5.0], p=[0.4, 0.4, 0.2]))
        fov = (150.0, 170.0, 110.0)
    else:
        sxy = 1.0
        sz = float(slice_mm or rng.choice([1.5, 2.0, 3.0]))
        fov = (120.0, 110.0, 80.0)
    nx, ny, nz = int(fov[0] / sxy), int(fov[1] / sxy), max(8, int(round(fov[2] / sz)))
    zz, yy, xx = np.meshgrid((np.arange(nz) - (nz - 1) / 2) * sz, (np.arange(ny) - (ny - 1) / 2) * sxy,
                             (np.arange(nx) - (nx - 1) / 2) * sxy, indexing="ij")
    coords = np.stack([xx, yy, zz], axis=-1)
    hx, hy, hz = fov[0] / 2, fov[1] / 2, fov[2] / 2
    tex = _smooth_noise((nz, ny, nx), rng, 1.5)
    radius = float(rng.uniform(*a["radius"]))
    irr = float(rng.uniform(*a["irregularity"]))
    margin = float(rng.uniform(*a["margin"]))
    e = float(rng.uniform(*a["elongation"]))  # along one (randomly rotated) axis, volume kept
    elong = np.array([e ** -0.5, e ** -0.5, e])
    if modality == "CT":
        body = (xx / (0.97 * hx)) ** 2 + (yy / (0.75 * hy)) ** 2 <= 1
        side = rng.choice([-1.0, 1.0])
        lungs = []
        for sgn in (-1.0, 1.0):
            lungs.append(((xx - sgn * 0.45 * hx) / (0.4 * hx)) ** 2 + (yy / (0.6 * hy)) ** 2 +
                         (zz / (1.3 * hz)) ** 2 <= 1)
        organ_m = (lungs[0] | lungs[1]) & body
        img = np.full(xx.shape, -1000.0)
        img[body] = 40.0 + 8 * tex[body]
        vessels = _smooth_noise((nz, ny, nx), rng, 1.0) > 2.3
        img[organ_m] = -850.0 + 25 * tex[organ_m]
        img[organ_m & vessels] = 20.0
        centre = np.array([side * 0.45 * hx + rng.uniform(-8, 8), rng.uniform(-15, 15),
                           rng.uniform(-10, 10)])
        t_val, t_tex, noise = 30.0, 12.0, 12.0
    elif organ == "brain":
        head = (xx / (0.95 * hx)) ** 2 + (yy / (0.95 * hy)) ** 2 + (zz / (0.95 * hz)) ** 2 <= 1
        organ_m = (xx / (0.85 * hx)) ** 2 + (yy / (0.87 * hy)) ** 2 + (zz / (0.85 * hz)) ** 2 <= 1
        img = np.zeros(xx.shape)
        img[head] = 500.0
        img[organ_m] = 300.0 + 30 * tex[organ_m]
        centre = np.array([rng.uniform(-25, 25), rng.uniform(-30, 30), rng.uniform(-10, 10)])
        t_val, t_tex, noise = 650.0, 40.0, 15.0
    else:
        breast = ((xx / (0.9 * hx)) ** 2 + ((yy - 0.2 * hy) / (0.8 * hy)) ** 2 +
                  (zz / (0.9 * hz)) ** 2 <= 1) & (yy > -0.5 * hy)
        fg = (_smooth_noise((nz, ny, nx), rng, 3.0) > -0.2) & breast
        organ_m = breast
        img = np.zeros(xx.shape)
        img[breast] = 450.0 + 20 * tex[breast]
        img[fg] = 180.0 + 20 * tex[fg]
        centre = np.array([rng.uniform(-15, 15), 0.2 * hy + rng.uniform(-10, 10),
                           rng.uniform(-8, 8)])
        t_val, t_tex, noise = 750.0, 40.0, 15.0
    sd = _tumour_field(coords, centre, radius, irr, a["degrees"], rng, elong)
    mask = sd <= 0
    frac = 0.5 * (1 - erf(sd / max(margin, 1e-3)))
    t_int = t_val + t_tex * _smooth_noise((nz, ny, nx), rng, 1.0)
    if archetype == 3:  # large ill-defined tumours: necrotic, less enhancing core
        depth = np.clip(-sd / radius, 0, 1)
        t_int = t_int - (0.35 * t_val if modality == "MR" else 25.0) * (depth > 0.5)
    img = img * (1 - frac) + t_int * frac
    img += rng.normal(0, noise, img.shape)
    organ_m = organ_m | mask
    origin = (-(nx - 1) / 2 * sxy, -(ny - 1) / 2 * sxy, -(nz - 1) / 2 * sz)
    out = {}
    for key, arr, dt in (("image", img, np.int16 if modality == "CT" else np.float32),
                         ("mask", mask, np.uint8), ("organ_mask", organ_m, np.uint8)):
        im = sitk.GetImageFromArray(np.round(arr).astype(dt) if dt is np.int16 else arr.astype(dt))
        im.SetSpacing((sxy, sxy, sz))
        im.SetOrigin(origin)
        out[key] = im
    out.update({"archetype": archetype, "cancer_type": cancer_type, "modality": modality,
                "organ": organ, "radius_mm": radius, "irregularity": irr, "margin_mm": margin,
                "slice_mm": sz, "volume_ml": float(mask.sum() * sxy * sxy * sz / 1000.0)})
    return out


def simulate_survival(archetypes: Sequence[int], ages: Sequence[float], rng,
                      median_months: float = 40.0, age_log_hr_per_year: float = 0.03,
                      follow_up=(24.0, 96.0)):
    """Exponential survival times with hazard ``h0 * HR(archetype) * exp(b * (age - 62))`` and
    uniform administrative censoring; returns (time, event)."""
    h0 = np.log(2) / median_months
    hr = np.array([float(ARCHETYPES[int(a)]["hr"]) for a in archetypes])
    lam = h0 * hr * np.exp(age_log_hr_per_year * (np.asarray(ages, float) - 62.0))
    t = rng.exponential(1.0 / lam)
    c = rng.uniform(*follow_up, size=len(t))
    return np.round(np.minimum(t, c), 2), (t <= c).astype(int)


def _write_cohort_case(args):
    """Generate one cohort case and write its three NRRD files (top level: picklable)."""
    out_dir, cid, arch, ctype, seed = args
    case = make_cohort_case(arch, ctype, seed=seed)
    paths = {}
    for key in ("image", "mask", "organ_mask"):
        p = Path(out_dir) / "images" / f"{cid}_{key}.nrrd"
        sitk.WriteImage(case[key], str(p), True)
        paths[key] = str(p.resolve())
    info = {k: case[k] for k in ("modality", "organ", "cancer_type", "volume_ml", "margin_mm",
                                 "irregularity", "slice_mm")}
    return cid, paths, info


def make_cohort(out_dir, n: int = 120, seed: int = 2021, cancer_types=("lung", "breast", "brain"),
                workers: int = 1, progress: bool = False, reuse: bool = True):
    """Write a synthetic pan-cancer cohort: images, tumour and parenchyma masks (NRRD) and
    ``manifest.csv`` (ID, Image, Mask, Label, OrganMask, Modality, Organ, CancerType) with the
    truth columns ``archetype``, ``age``, ``time``, ``event``, ``volume_ml``, ``margin_mm``,
    ``irregularity``, ``slice_mm``.  Archetypes are balanced and crossed with cancer types.

    ``workers > 1`` generates cases in parallel processes (same result).  With ``reuse``, an
    existing complete cohort of the same size in ``out_dir`` is returned as is.
    Returns the manifest DataFrame (paths absolute)."""
    import sys

    import pandas as pd

    out_dir = Path(out_dir)
    man_path = out_dir / "manifest.csv"
    if reuse and man_path.is_file():
        man = pd.read_csv(man_path, dtype={"Label": str})
        if len(man) == n and all(Path(p).is_file() for p in man["Image"]):
            return man
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    archs = np.array([1 + i % 4 for i in range(n)])
    types = np.array([cancer_types[(i // 4) % len(cancer_types)] for i in range(n)])
    order = rng.permutation(n)
    archs, types = archs[order], types[order]
    ages = np.clip(rng.normal(62, 10, n), 30, 90).round(1)
    times, events = simulate_survival(archs, ages, rng)
    jobs = [(str(out_dir), f"SYN{i:04d}", int(archs[i]), str(types[i]), seed * 100_000 + i)
            for i in range(n)]
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        pool = ProcessPoolExecutor(workers, mp_context=ctx)
        results = pool.map(_write_cohort_case, jobs)
    else:
        pool = None
        results = map(_write_cohort_case, jobs)
    if progress:
        from tqdm import tqdm

        # progress bars on a terminal only (disable=None): logs and CI output stay readable
        results = tqdm(results, total=n, desc="cohort", unit="case", file=sys.stderr, disable=None)
    try:
        done = {cid: (paths, info) for cid, paths, info in results}
    finally:
        if pool is not None:
            pool.shutdown()
    rows = []
    for i, job in enumerate(jobs):
        cid = job[1]
        paths, info = done[cid]
        rows.append({"ID": cid, "Image": paths["image"], "Mask": paths["mask"], "Label": "1",
                     "OrganMask": paths["organ_mask"], "Modality": info["modality"],
                     "Organ": info["organ"], "CancerType": info["cancer_type"],
                     "archetype": int(archs[i]), "age": float(ages[i]), "time": float(times[i]),
                     "event": int(events[i]), "volume_ml": round(info["volume_ml"], 3),
                     "margin_mm": round(info["margin_mm"], 3),
                     "irregularity": round(info["irregularity"], 3), "slice_mm": info["slice_mm"]})
    man = pd.DataFrame(rows)
    from .files import atomic_write_text

    atomic_write_text(man_path, man.to_csv(index=False))
    return man
