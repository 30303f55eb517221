"""Tumour-likelihood maps for the click segmentation (private to segmentation; see
:mod:`.click` for the method as a whole).

Each model turns the smoothed image around the click into ``T`` in [0, 1], the likelihood that
a voxel belongs to the tumour, from physical knowledge or from the image itself, never from a
trained model:

``lung`` (CT, a solid or ground-glass seed inside aerated lung)
    Soft tissue against air: ``T = sigmoid((I - (-400 HU)) / 15 HU)``.  -400 HU lies half-way
    between aerated lung (about -850 HU) and soft tissue (about 40 HU), the iso-level used by
    lung-nodule tools (e.g. Kostis et al., IEEE TMI 22:1259, 2003).  A subsolid (ground-glass)
    seed, -500 HU or less but denser than the lung around it, takes the level half-way between
    that lung and the seed instead (``lung_level``), and tissue above -400 HU is not
    tumour-like for it: a ground-glass nodule against aerated lung, not the chest wall.

``bright`` (an enhancing or hyper-intense tumour; a necrotic or cystic core inside one)
    Normal tissue is described by the robust median m and standard deviation s (1.4826 MAD) of
    the body voxels within ``stats_radius_mm`` of the seeds.  Along rays from the seed, the
    first bright run (``I > m + k s``) of each ray has a peak; the threshold is
    ``t = max(m + k s, m + f (median peak - m))`` (a fraction f of the way from normal tissue to
    the enhancing tissue the click sees; k = 1, f = 0.3).  ``T = sigmoid((I - t) / (s / 4))``,
    then the enhancing voxels are closed (``closing_mm``) and their enclosed holes filled (3D,
    and slice by slice in each orientation when the voxels are near-isotropic; holes deeper
    than ``max_hole_radius_mm`` are left open), so that necrosis enclosed by an enhancing rim
    (or by the rim and the outside of a skull-stripped brain, not by that outside alone)
    counts as tumour: the glioblastoma "tumour core" (necrosis + non-enhancing + enhancing
    tumour).

``generic`` (any other tumour: non-lung CT, dark or iso-intense MR lesions)
    The values within ``generic_radius_mm`` of the seeds are split into three classes by
    multi-level Otsu thresholds (Liao, Chen & Chung, J Inf Sci Eng 17:713, 2001; scikit-image
    ``threshold_multiotsu``) and the tumour is the seed's class: ``T`` is the product of soft
    steps at the class's lower and upper thresholds.  The click module then re-estimates the
    model from the fitted surface (histograms of the values inside and in a shell outside; ``T``
    = the posterior of the inside class), as GrowCut / graph-cut appearance models do.

Second channel (e.g. FLAIR next to T1c): voxels whose second channel is at or below the normal
tissue's median (robust, as above), dilated by ``second_channel_margin_mm``, are vetoed (``T =
0``): glioblastoma core and oedema are FLAIR-hyper-intense, normal brain is not.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from ..regions import mask_box, slice_background

__all__ = ["ball", "dilate", "closing", "fill_enclosed", "deeper_than",
           "robust_stats", "sigmoid",
           "choose_model", "lung_likelihood", "bright_threshold", "rim_statistics",
           "bright_likelihood",
           "dark_core_point", "enclosed_prefix", "contiguous_enhancement", "enhancement_beyond",
           "enhancement_beyond_point", "enhancement_beyond_share", "enhancing_foci",
           "generic_likelihood", "own_band", "band_likelihood",
           "histogram_likelihood", "box_likelihood",
           "second_channel_veto", "SOLID_LUNG_HU", "lung_level", "in_aerated_lung",
           "air_beyond_fat"]


def sigmoid(x):
    """``1 / (1 + exp(-clip(x, -30, 30)))``, in ``x``'s precision, in one buffer."""
    y = np.asarray(np.clip(x, -30.0, 30.0))
    np.negative(y, out=y)
    np.exp(y, out=y)
    y += 1.0
    return np.divide(1.0, y, out=y)


def ball(r_mm: float, spacing_zyx) -> np.ndarray:
    """Boolean ball structuring element of radius ``r_mm`` on an anisotropic grid."""
    sp = np.asarray(spacing_zyx, float)
    r = np.maximum(np.floor(r_mm / sp).astype(int), 0)
    z, y, x = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1, -r[2]:r[2] + 1]
    return ((z * sp[0]) ** 2 + (y * sp[1]) ** 2 + (x * sp[2]) ** 2) <= r_mm ** 2 + 1e-6


def ball_median(arr: np.ndarray, centre_zyx, spacing_zyx, r_mm: float) -> float:
    """The median of ``arr`` within ``r_mm`` of voxel ``centre_zyx`` (z, y, x; inside): the
    :func:`ball` there, cut where it leaves the array."""
    b = ball(r_mm, spacing_zyx)
    c = np.asarray(centre_zyx, int)
    lo = c - np.array(b.shape) // 2
    a0, a1 = np.maximum(lo, 0), np.minimum(lo + b.shape, arr.shape)
    inside = b[tuple(slice(u - v, w - v) for u, w, v in zip(a0, a1, lo))]
    return float(np.median(arr[tuple(slice(u, w) for u, w in zip(a0, a1))][inside]))


def dilate(mask: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, b)`` for a ball ``b`` (:func:`ball`: symmetric,
    each of its rows along x one run centred on the middle): the union over the rows
    (dz, dy) of the mask, dilated along x by the row's run (the mask shifted by up to the
    run's half-length each way, one half-length after the other), shifted by (dz, dy);
    outside the array counts as background, as for SciPy.  SciPy's dilation tests every
    element of the ball at every voxel that the mask is not near; this takes a few passes
    over the array (``benchmarks/segmentation_history.md``, version 14)."""
    m = np.asarray(mask, bool)
    out = np.zeros(m.shape, bool)
    if not m.any():
        return out
    cz, cy = b.shape[0] // 2, b.shape[1] // 2
    rows = list(zip(*np.nonzero(b.any(axis=2))))
    half = {(iz, iy): int(b[iz, iy].sum()) // 2 for iz, iy in rows}
    runs: Dict[int, np.ndarray] = {0: m}
    run = m
    for w in range(1, max(half.values()) + 1):
        run = run.copy()
        run[..., w:] |= m[..., :-w]
        run[..., :-w] |= m[..., w:]
        runs[w] = run
    for iz, iy in rows:
        w = half[(iz, iy)]
        dst, src = [], []
        for d, n in ((int(iz) - cz, m.shape[0]), (int(iy) - cy, m.shape[1])):
            dst.append(slice(max(d, 0), max(min(n, n + d), 0)))
            src.append(slice(max(-d, 0), max(min(n, n - d), 0)))
        out[tuple(dst)] |= runs[w][tuple(src)]
    return out


def closing(mask: np.ndarray, r_mm: float, spacing_zyx) -> np.ndarray:
    """Binary closing with a ball, padded so that nothing is lost at the array border:
    ``scipy.ndimage.binary_closing`` of the padded mask, the dilation and the erosion (the
    complement's dilation: the padding, wider than the ball, keeps the array border's
    treatment out of the result) by :func:`dilate`."""
    if r_mm <= 0 or not mask.any():
        return mask
    b = ball(r_mm, spacing_zyx)
    pad = max(b.shape)
    closed = ~dilate(~dilate(np.pad(mask, pad), b), b)
    return closed[pad:-pad, pad:-pad, pad:-pad]


def fill_enclosed(mask: np.ndarray, spacing_zyx, max_hole_radius_mm: float,
                  wall: Optional[np.ndarray] = None) -> np.ndarray:
    """``mask`` with its enclosed holes filled: in 3D and slice by slice (every orientation when
    the slices are no thicker than 1.5 x the in-plane spacing, else axial only); holes deeper
    than ``max_hole_radius_mm`` (maximal distance to their border) stay open.  With ``wall``
    (part of ``mask``: the outside of the body), a slice's hole whose border with the wall is
    longer than the circumference of a disc of its area is no hole: the wall alone encloses
    it."""
    mask = np.asarray(mask, bool)
    if mask.all():
        return mask.copy()
    # (only the box of the background grown by a voxel is worked on: every background
    # component lies in it, its frame is foreground or the array's border, so the same
    # components touch the slices' border, the wall faces of their voxels are all in it, and
    # a hole's nearest voxel outside it is in it too: the result is the whole array's)
    box = mask_box(~mask, (1, 1, 1))
    out = mask.copy()
    out[box] |= _enclosed(mask[box], np.asarray(spacing_zyx, float), max_hole_radius_mm,
                          None if wall is None else np.asarray(wall, bool)[box])
    return out


def _enclosed(mask: np.ndarray, sp: np.ndarray, max_hole_radius_mm: float,
              wall: Optional[np.ndarray]) -> np.ndarray:
    """The holes that :func:`fill_enclosed` fills."""
    from scipy import ndimage as ndi

    # (a 3D hole is a hole of each of its slices, whichever the axis: its slice's background
    # component lies inside its own, which touches no border; the slices' holes hold it)
    # (the enhancing model's wall, the outside of a skull-stripped brain, closes a rim that
    # the brain's edge cuts open; it also encloses the brain's whole cross-section in the
    # slices that the crop holds entirely, riddled with enhancing vessels and so nowhere as
    # deep as the limit.  Such a hole is bordered by the wall along more than the
    # circumference of a disc of its area (the least border an area can have; the vessels
    # inside it only lower its area), while the rim encloses a core that the brain's edge
    # cuts open along less: a half-disc's straight edge is 0.45-0.64 of that circumference
    # in voxel faces.  The depth is that of all the holes: with those the wall encloses
    # left out, what is left of a deep hole could be shallow)
    holes = np.zeros(mask.shape, bool)
    kept = np.zeros(mask.shape, bool)
    edge, faces = None, None        # the body's voxels next to the wall; their wall faces
    if wall is not None and wall.any():
        count = np.zeros((3,) + mask.shape, np.uint8)      # wall neighbours along each axis
        for a in range(3):
            lo_ = tuple(slice(None, -1) if k == a else slice(None) for k in range(3))
            hi_ = tuple(slice(1, None) if k == a else slice(None) for k in range(3))
            count[a][lo_] += wall[hi_]
            count[a][hi_] += wall[lo_]
        edge = np.flatnonzero(count.any(axis=0) & ~wall)
        faces = count.reshape(3, -1)[:, edge]
    axes = (0, 1, 2) if sp[0] <= 1.5 * max(sp[1], sp[2]) else (0,)
    for ax in axes:
        lab, n, border = slice_background(mask, ax)
        if n == 0:
            continue
        inside = ~border[lab]                       # the holes of this axis' slices
        holes |= inside
        if edge is None:
            kept |= inside
            continue
        at = np.flatnonzero(inside)
        ids = lab.ravel()[at]
        # (a face between neighbours along in-plane axis a is as long as the voxel along
        # the other in-plane axis; only the holes' areas and wall borders count)
        area_mm2 = np.bincount(ids, minlength=n + 1) * float(np.prod(np.delete(sp, ax)))
        w_mm = sum(faces[a] * sp[3 - ax - a] for a in range(3) if a != ax)
        walled_mm = np.bincount(lab.ravel()[edge], w_mm, minlength=n + 1)
        walled = walled_mm > 2.0 * np.sqrt(np.pi * area_mm2)
        kept.reshape(-1)[at[~walled[ids]]] = True
    if kept.any():
        cand = _deep_candidates(holes, sp, max_hole_radius_mm)
        if cand.any():
            # (only the holes that hold kept voxels are tested: their candidates' box)
            lab, n = ndi.label(holes)
            mine = np.zeros(n + 1, bool)
            mine[lab[kept]] = True
            deep = deeper_than(holes, sp, max_hole_radius_mm, cand & mine[lab])
            if deep.any():
                gone = np.zeros(n + 1, bool)
                gone[lab[deep]] = True
                kept &= ~gone[lab]
    return kept


def _deep_candidates(region: np.ndarray, spacing_zyx, r_mm: float) -> np.ndarray:
    """The voxels of ``region`` that may lie deeper than ``r_mm`` inside it (its Euclidean
    distance transform above ``r_mm``), found without the transform: such a voxel has only
    region voxels within ``r_mm`` of it along each axis (outside the array counts as region,
    as for the transform); three 1D minimum filters keep those.  Every deeper voxel is kept."""
    from scipy import ndimage as ndi

    region = region.astype(np.uint8)
    cand = region.astype(bool)
    for ax, h in enumerate(spacing_zyx):
        # (a hair fewer samples when r_mm is a whole number of them: rounding cannot
        # reject a voxel the transform would find deeper)
        half = int(np.floor(r_mm / float(h) * (1.0 - 1e-9)))
        if half > 0:
            # (each axis from the region itself: the points within r_mm along the axes, a
            # cross, not the box that filtering the filtered array would test)
            cand &= ndi.minimum_filter1d(region, 2 * half + 1, axis=ax, mode="constant",
                                         cval=1) > 0
        if not cand.any():
            break
    return cand


def deeper_than(region: np.ndarray, spacing_zyx, r_mm: float,
                cand: Optional[np.ndarray] = None) -> np.ndarray:
    """``distance_transform_edt(region, sampling=spacing_zyx) > r_mm``, taken only at the
    voxels that may be that deep (``_deep_candidates``, or those of them given as ``cand``:
    the others are not tested) and only on their bounding box grown by ``r_mm`` and a voxel
    each way: a candidate's distance to the nearest voxel outside the region there, among
    those face-adjacent to the region (a k-d tree).  Exact: a candidate no deeper than
    ``r_mm`` has its nearest voxel outside the region within ``r_mm``, so inside that box; that
    voxel's neighbour one step nearer to it along an axis is in the region (else it would be
    nearer), so it is face-adjacent to the region; a deeper candidate's distance can only
    grow when the box leaves outside voxels out.  Voxels that are not candidates are not
    deeper (or, with ``cand``, not tested)."""
    from scipy import ndimage as ndi
    from scipy.spatial import cKDTree

    sp = np.asarray(spacing_zyx, float)
    if cand is None:
        cand = _deep_candidates(region, sp, r_mm)
    if not cand.any():
        return cand
    box = mask_box(cand, np.ceil(r_mm / sp).astype(int) + 1)
    sub = region[box].astype(bool)
    if sub.all():                       # nothing outside the region within r_mm of any candidate
        return cand
    outside = np.argwhere(ndi.binary_dilation(sub) & ~sub) * sp
    at = np.argwhere(cand[box])
    dist = cKDTree(outside).query(at * sp)[0]
    deep = np.zeros(region.shape, bool)
    deep[tuple((at[dist > r_mm] + [b.start for b in box]).T)] = True
    return deep


def thick_region(region: np.ndarray, spacing_zyx, r_mm: float, grid_mm: float = 3.0
                 ) -> np.ndarray:
    """The parts of ``region`` at least ``2 r_mm`` thick: its morphological opening by a ball
    of radius ``r_mm`` (the union of the balls of that radius that fit in it), by two
    Euclidean distance transforms in mm on a grid of about ``grid_mm`` (every k-th voxel along
    an axis whose spacing is finer), taken back to the voxels of ``region``."""
    from scipy import ndimage as ndi

    sp = np.asarray(spacing_zyx, float)
    if not region.any():
        return np.zeros(region.shape, bool)
    k = np.maximum(np.floor(grid_mm / sp), 1).astype(int)
    coarse = region[k[0] // 2::k[0], k[1] // 2::k[1], k[2] // 2::k[2]]   # each block's centre
    csp = sp * k
    core = ndi.distance_transform_edt(coarse, sampling=csp) >= r_mm
    if not core.any():
        return np.zeros(region.shape, bool)
    opened = ndi.distance_transform_edt(~core, sampling=csp) <= r_mm
    for ax in range(3):
        opened = np.repeat(opened, k[ax], axis=ax)
    opened = opened[:region.shape[0], :region.shape[1], :region.shape[2]]
    # a last block too short for its centre sample takes its neighbour's
    opened = np.pad(opened, [(0, n - m) for n, m in zip(region.shape, opened.shape)], "edge")
    return region & opened


def robust_stats(v: np.ndarray) -> Tuple[float, float]:
    """Median and 1.4826 x median absolute deviation."""
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def body_voxels(values: np.ndarray) -> np.ndarray:
    """Values minus the image's background: the padding / air at its 1st percentile and what
    lies within 1e-5 of the 1st-99th percentile spread above it (the smoothing's rounding and
    its farthest tail).  Relative to the spread alone, so that MR's arbitrary units, scaled or
    shifted (a brain z-scored with its padding at -3.5, or in scanner units with its padding at
    0), give the same voxels: float32 rounds a padding of magnitude m to about 1e-7 m, far
    below 1e-5 of the spread unless the padding lies a hundred spreads from 0 (a margin set by
    the padding's own magnitude let the smoothing's tail count next to a zero padding and not
    next to -3.5: ``benchmarks/segmentation_history.md``, version 30)."""
    floor, top = (float(v) for v in np.percentile(values, [1, 99]))
    body = values[values > floor + 1e-5 * (top - floor)]
    return body if body.size >= 10 else values


#: the ``lung`` model's iso-level for solid tissue (HU): half-way between lung and soft tissue
SOLID_LUNG_HU = -400.0


def lung_likelihood(sm: np.ndarray, level_hu: float = SOLID_LUNG_HU, width_hu: float = 15.0):
    """``sigmoid((sm - level_hu) / width_hu)``; below -400 HU (a ground-glass level,
    :func:`lung_level`) times ``sigmoid((-400 - sm) / width_hu)``: solid tissue (the chest
    wall, the mediastinum, vessels) is not ground glass."""
    t = sigmoid((sm - level_hu) / width_hu)
    if level_hu < SOLID_LUNG_HU:
        t = t * sigmoid((SOLID_LUNG_HU - sm) / width_hu)
    return t.astype(np.float32)


def bright_threshold(normal: np.ndarray, ray_values: np.ndarray, k: float, f: float,
                     edge: Optional[np.ndarray] = None
                     ) -> Tuple[float, float, float, Dict[str, float]]:
    """Threshold of enhancing tissue (see module docstring).

    ``normal``: body voxel values around the seeds; ``ray_values``: (n rays, K) smoothed values
    along rays from the seed; ``edge`` (optional, the same shape): the samples outside the body
    (a skull-stripped brain's padding).  Returns (threshold, median, sd, details) where details
    hold the fraction of rays that meet a bright run, the median length of that first run (mm
    units are applied by the caller: lengths are in samples here), the share of those rays on
    which that run goes on to the rays' end (``open_fraction``: an enhancing rim ends within
    the rays, a layer of fat around a limb's muscles often does not) and, with ``edge``, the
    fraction of rays that reach the body's edge before any bright sample.
    """
    med, sd = robust_stats(normal)
    sd = max(sd, 1e-6 * max(1.0, abs(med)))
    thr = med + k * sd
    hit = ray_values >= thr
    has = hit.any(1)
    n_k = ray_values.shape[1]
    # each ray's first bright run: from its first bright sample to the next dark one (or the end)
    j = np.arange(n_k)[None, :]
    first_all = hit.argmax(1)
    first = first_all[has, None]
    past = ~hit[has] & (j > first)
    end = np.where(past.any(1), past.argmax(1), n_k)[:, None]
    peaks = np.where((j >= first) & (j < end), ray_values[has], -np.inf).max(1).astype(float)
    runs = np.where(end < n_k, end - first, np.inf).ravel()
    details = {"hit_fraction": float(has.mean()),
               "first_run_samples": float(np.median(runs)) if runs.size else float("inf"),
               "open_fraction": float(np.isinf(runs).mean()) if runs.size else 0.0}
    if edge is not None:
        n_k = edge.shape[1]
        first_edge = np.where(edge.any(1), edge.argmax(1), n_k)
        details["edge_fraction"] = float(np.mean(first_edge < np.where(has, first_all, n_k)))
    if peaks.size:
        peak = float(np.median(peaks))
        details["peak"] = peak
        thr = max(thr, med + f * (peak - med))
    return thr, med, sd, details


def rim_statistics(sm: np.ndarray, near: np.ndarray, seed_zyx, spacing_zyx, dirs: np.ndarray,
                   radii_mm: np.ndarray, k: float, f: float, pad: Optional[np.ndarray] = None
                   ) -> Tuple[float, float, float, Dict[str, float]]:
    """:func:`bright_threshold` of the smoothed crop ``sm``: the normal tissue is its body
    voxels within ``near``, the rays run from ``seed_zyx`` (voxel index) along ``dirs`` to
    ``radii_mm``; with ``pad`` (the crop's padding: outside a skull-stripped brain) their
    samples outside the body are counted too (outside the crop is not)."""
    from ._surface import sample_rays

    rays = sample_rays(sm, spacing_zyx, seed_zyx, dirs, radii_mm, cval=-np.inf)
    edge = None if pad is None else sample_rays(
        pad.astype(np.float32), spacing_zyx, seed_zyx, dirs, radii_mm, cval=0.0) >= 0.5
    return bright_threshold(body_voxels(sm[near]), rays, k, f, edge)


def bright_likelihood(sm: np.ndarray, thr: float, sd: float, spacing_zyx, closing_mm: float,
                      max_hole_radius_mm: float, wall: Optional[np.ndarray] = None
                      ) -> np.ndarray:
    """Soft enhancement map, with the holes enclosed by enhancing tissue (and by ``wall``, the
    outside of the body: a necrotic core against a skull-stripped brain's edge) set to 1."""
    t = sigmoid((sm - thr) / (0.25 * sd)).astype(np.float32, copy=False)
    rim = closing(t >= 0.5, closing_mm, spacing_zyx)
    if wall is not None:
        rim = rim | wall
    enclosed = fill_enclosed(rim, spacing_zyx, max_hole_radius_mm, wall)
    if wall is not None:
        enclosed &= ~wall
    return np.maximum(t, enclosed.astype(np.float32))


def enclosed_prefix(tr: np.ndarray, stop: np.ndarray, step_mm: float, enclosure_mm: float
                    ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """The ``bright`` model along rays (``tr``: rays x samples every ``step_mm``): the dark
    interior between the seed and the first enhancing sample of each ray, or the edge of the
    body / a background point (``stop``), within ``enclosure_mm``, counts as tumour (a necrotic
    core inside an enhancing rim, or against a skull-stripped brain's edge).  Also returns the
    rays through a gap in the rim (a dark seed, nothing enhancing within ``enclosure_mm``; None
    when they are more than half the rays, the model's own test of a rim): the click method
    interpolates their radius."""
    n_k = tr.shape[1]
    hit = (tr >= 0.5) | stop
    first = np.where(hit.any(1), hit.argmax(1), n_k)
    reach = first * step_mm <= enclosure_mm
    prefix = (np.arange(n_k)[None, :] < first[:, None]) & reach[:, None]
    gaps = ~reach & (tr[:, 0] < 0.5)
    return np.maximum(tr, prefix.astype(tr.dtype)), (gaps if gaps.mean() <= 0.5 else None)


def contiguous_enhancement(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx,
                           reach_mm: float) -> np.ndarray:
    """``mask`` with the thin enhancement continuing it (along the cortex, a septum, a
    satellite touching it) that a star-shaped surface cannot follow: the ``enhancing`` voxels
    within ``reach_mm`` (at most a quarter of the mask's depth, its maximal distance to its
    surface) of the mask, beyond the voxels face-adjacent to it, that connect to those
    (6-connected), and the face-adjacent enhancing voxels that join them to it.  Enhancing
    voxels only face-adjacent to the mask (the blurred edge of its boundary) are not added, so
    the boundary itself does not move; a vessel leaving the rim adds its first ``reach_mm``."""
    from scipy import ndimage as ndi

    if reach_mm <= 0 or not mask.any():
        return mask
    sp = np.asarray(spacing_zyx, float)
    box = mask_box(mask, np.ceil(reach_mm / sp).astype(int) + 2)
    sub, enh = mask[box], enhancing[box]
    # around a lesion of a few mm, 3 mm of enhancing tissue is the parenchyma it lies in (a
    # breast lesion), not a continuation of it
    reach_mm = min(reach_mm, 0.25 * float(ndi.distance_transform_edt(np.pad(sub, 1),
                                                                      sampling=sp).max()))
    edge = ndi.binary_dilation(sub) & ~sub
    beyond = enh & ~sub & ~edge & (ndi.distance_transform_edt(~sub, sampling=sp) <= reach_mm)
    lab, _ = ndi.label(beyond)
    touch = np.unique(lab[ndi.binary_dilation(edge & enh) & beyond])
    kept = np.isin(lab, touch[touch > 0])
    out = mask.copy()
    out[box] |= kept | (edge & enh & ndi.binary_dilation(kept))
    return out


def _continuing_enhancement(mask: np.ndarray, enhancing: np.ndarray, sp: np.ndarray,
                            within_mm: float):
    """The box (slices) around a non-empty ``mask`` grown by ``within_mm`` and, in it, the
    ``enhancing`` voxels outside the mask within ``within_mm`` of it that connect to it
    (6-connected) through such voxels."""
    from scipy import ndimage as ndi

    box = mask_box(mask, np.ceil(within_mm / sp).astype(int) + 1)
    sub = mask[box]
    near = enhancing[box] & ~sub & (ndi.distance_transform_edt(~sub, sampling=sp)
                                     <= within_mm)
    lab, _ = ndi.label(near | sub)
    ids = np.unique(lab[sub])
    return box, np.isin(lab, ids[ids > 0]) & near


def enhancement_beyond(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx,
                       within_mm: float) -> float:
    """The volume (in voxels) of the ``enhancing`` voxels outside ``mask`` (0 if empty), within
    ``within_mm`` of it, that connect to it (6-connected) through such voxels: the enhancing
    tissue continuing past the surface.  Around a whole enhancing tumour it is the first
    ``within_mm`` of the vessels and cortex that touch it; around part of one, the rest of
    the tumour's enhancement."""
    if not mask.any():
        return 0.0
    return float(_continuing_enhancement(mask, enhancing, np.asarray(spacing_zyx, float),
                                         within_mm)[1].sum())


def enhancement_beyond_share(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx,
                             within_mm: float) -> float:
    """:func:`enhancement_beyond` as a share of ``mask``'s volume (0 for an empty mask)."""
    return enhancement_beyond(mask, enhancing, spacing_zyx, within_mm) / max(float(mask.sum()),
                                                                             1.0)


def enhancement_beyond_point(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx,
                             within_mm: float) -> Tuple[float, Optional[np.ndarray]]:
    """The voxel (z, y, x) of the enhancement continuing a non-empty ``mask`` (as in
    :func:`enhancement_beyond`) deepest inside it, its distance to the voxels that are neither
    it nor the mask taken as its depth (mm): how thick the continuation is outward (a vessel
    or the cortex: 1-3 mm; the rest of a tumour: more).  (0, None) when there is none."""
    from scipy import ndimage as ndi

    sp = np.asarray(spacing_zyx, float)
    box, cont = _continuing_enhancement(mask, enhancing, sp, within_mm)
    if not cont.any():
        return 0.0, None
    depth = ndi.distance_transform_edt(np.pad(cont | mask[box], 1), sampling=sp)[
        1:-1, 1:-1, 1:-1] * cont
    i = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(depth[i]), np.array(i) + [b.start for b in box]


def enhancing_foci(mask: np.ndarray, enhancing: np.ndarray, spacing_zyx, min_ml: float
                   ) -> Tuple[np.ndarray, int]:
    """The ``enhancing`` voxels outside ``mask`` whose connected components (6-connected) touch
    none of the array's faces and hold at least ``min_ml`` mL: with the array a box drawn around
    the tumour, the foci that lie wholly inside it (the other lesions of a multifocal tumour,
    enhancing parts a star-shaped surface misses).  A component that reaches a face goes on
    beyond the box (a vessel, the cortex): not counted.  Returns a boolean array of
    ``mask``'s shape and the number of pieces in it."""
    from scipy import ndimage as ndi

    lab, n = ndi.label(enhancing & ~mask)
    if n == 0:
        return np.zeros(mask.shape, bool), 0
    faces = np.zeros(lab.shape, bool)
    for ax in range(lab.ndim):
        faces[(slice(None),) * ax + (0,)] = True
        faces[(slice(None),) * ax + (-1,)] = True
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * float(np.prod(spacing_zyx)) / 1000.0
    keep = sizes >= min_ml
    keep[np.unique(lab[faces])] = False
    keep[0] = False
    return keep[lab], int(keep.sum())


def dark_tissue(t, sm, median: float, sd: float):
    """The enhancing model's dark tissue (necrosis, a cyst): not enhancing (``t`` < 1/2) and
    darker than the normal tissue by ``sd`` (``sm`` < ``median`` - ``sd``; one robust SD for the
    dark core next to a rim, half of one for a further seed's tissue)."""
    return (t < 0.5) & (sm < median - sd)


def dark_core_point(mask: np.ndarray, t: np.ndarray, sm: np.ndarray, valid: np.ndarray,
                    median: float, sd: float, spacing_zyx, touch_mm: float = 3.0,
                    reach_mm: float = 20.0) -> Optional[np.ndarray]:
    """The voxel (z, y, x) deepest inside the dark tissue next to an enhancing ``mask``: tissue
    that is not enhancing (``t`` < 1/2), darker than the normal tissue by one robust SD
    (``sm`` < ``median`` - ``sd``), inside the body (``valid``), within ``reach_mm`` of the mask,
    in the dark regions that come within ``touch_mm`` of it: the necrotic core next to a click
    on its rim.  None when no dark tissue touches the mask."""
    from scipy import ndimage as ndi

    sp = np.asarray(spacing_zyx, float)
    dark = dark_tissue(t, sm, median, sd) & ~mask & (valid > 0.5)
    lab, _ = ndi.label(dark)
    # both transforms on the mask's box grown by reach_mm and a voxel: everything within
    # reach_mm of the mask lies inside it, and a face of it lies nearer to any voxel inside
    # than whatever lies beyond that face, so the distances are the whole array's
    lo, box = np.zeros(3, int), (slice(None),) * 3
    if mask.any():
        box = mask_box(mask, np.ceil(max(touch_mm, reach_mm) / sp).astype(int) + 1)
        lo = np.array([b.start for b in box])
    dist = ndi.distance_transform_edt(~mask[box], sampling=sp)
    ids = np.unique(lab[box][dark[box] & (dist <= touch_mm)])
    if ids.size == 0:
        return None
    depth = ndi.distance_transform_edt(np.isin(lab[box], ids) & (dist <= reach_mm), sampling=sp)
    return np.array(np.unravel_index(int(np.argmax(depth)), depth.shape)) + lo


def generic_likelihood(feat: np.ndarray, near: np.ndarray, seed_level: float,
                       classes: int = 3) -> Tuple[np.ndarray, Dict[str, float]]:
    """Soft membership of the seed's multi-Otsu class among the values ``feat[near]``."""
    from skimage.filters import threshold_multiotsu

    vals = feat[near]
    spread = float(np.diff(np.percentile(vals, [5, 95]))[0])
    if spread <= 0 or np.unique(vals).size < classes + 1:
        return np.ones(feat.shape, np.float32), {"lower": -np.inf, "upper": np.inf}
    th = threshold_multiotsu(vals, classes=classes, nbins=128)
    c = int(np.searchsorted(th, seed_level))
    lower = float(th[c - 1]) if c > 0 else -np.inf
    upper = float(th[c]) if c < len(th) else np.inf
    width = 0.1 * spread / classes
    t = np.ones(feat.shape, np.float32)
    if np.isfinite(lower):
        t *= sigmoid((feat - lower) / width)
    if np.isfinite(upper):
        t *= sigmoid((upper - feat) / width)
    return t.astype(np.float32), {"lower": lower, "upper": upper}


def own_band(own: np.ndarray, around: np.ndarray, seed_level: float, k: float
             ) -> Dict[str, float]:
    """The band of the click's own tissue: ``seed_level`` +- ``k`` s, s the robust SD of the
    values ``own`` (around the click); ``share``: the share of the values ``around`` (its
    surroundings) inside the band (near 1: they hold nothing else)."""
    s = robust_stats(own)[1]
    lower, upper = seed_level - k * s, seed_level + k * s
    return {"lower": lower, "upper": upper, "sd": s,
            "share": float(np.mean((around >= lower) & (around <= upper)))}


def band_likelihood(feat: np.ndarray, level: float, sd: float, k: float
                    ) -> Tuple[np.ndarray, Dict[str, float]]:
    """Soft membership (steps ``sd`` / 2 wide) of the band ``level`` +- ``k`` ``sd``
    (:func:`own_band`): the tumour is the tissue like the click's."""
    if not sd > 0:
        return np.ones(feat.shape, np.float32), {"lower": -np.inf, "upper": np.inf}
    lower, upper = level - k * sd, level + k * sd
    t = sigmoid((feat - lower) / (0.5 * sd)) * sigmoid((upper - feat) / (0.5 * sd))
    return t.astype(np.float32, copy=False), {"lower": lower, "upper": upper}


def histogram_likelihood(feat: np.ndarray, inside: np.ndarray, outside: np.ndarray,
                         bins: int = 48, at: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
    """Posterior of the inside class from histograms of the inside and outside values (equal
    priors, add-one and Gaussian-smoothed histograms); None when either sample is too small.
    With ``at`` (flat indices into ``feat``) only those voxels are computed, the rest is 0:
    the values there are those of the whole array, bit for bit (e.g. the voxels that rays
    read, ``_surface.ray_voxels``)."""
    from scipy import ndimage as ndi

    if inside.size < 20 or outside.size < 20:
        return None
    both = np.concatenate([inside, outside])
    lo, hi = np.percentile(both, [0.5, 99.5])
    if not hi > lo:
        return None
    edges = np.linspace(lo, hi, bins + 1)
    hin = np.histogram(np.clip(inside, lo, hi), edges)[0] + 1.0
    hout = np.histogram(np.clip(outside, lo, hi), edges)[0] + 1.0
    hin = ndi.gaussian_filter1d(hin / hin.sum(), 1.0)
    hout = ndi.gaussian_filter1d(hout / hout.sum(), 1.0)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if at is None:
        return np.interp(feat, centres, hin / (hin + hout)).astype(np.float32)
    out = np.zeros(feat.shape, np.float32)
    out.flat[at] = np.interp(feat.flat[at], centres, hin / (hin + hout)).astype(np.float32)
    return out


def box_likelihood(full: np.ndarray, box, feat: np.ndarray, spacing_zyx,
                   smoothing_mm: float, core: float, band_mm: float,
                   pad_value: Optional[float]) -> Optional[np.ndarray]:
    """With a box (index slices z, y, x of ``full``), the generic model's tumour likelihood on
    ``feat`` (the crop's values, smoothed by ``smoothing_mm``) from the box itself, as GrabCut
    does (Rother, Kolmogorov & Blake, ACM TOG 23:309, 2004): the values of the box's core
    (the ellipsoid inscribed in the box, its semi-axes scaled by ``core``) against those of
    the band ``band_mm`` wide just outside the box (a box is drawn around the
    tumour): the posterior of two smoothed histograms (``histogram_likelihood``), through a
    soft step at 1/2.  None when either sample is too small (a box at the image's edge)."""
    from scipy import ndimage as ndi

    sp = np.asarray(spacing_zyx, float)
    shape = np.array(full.shape)
    blo = np.array([b.start for b in box])
    bhi = np.array([b.stop for b in box])
    mrg = np.ceil(band_mm / sp).astype(int)
    olo, ohi = np.maximum(blo - mrg, 0), np.minimum(bhi + mrg, shape)
    outer = np.asarray(full[tuple(slice(int(a), int(b)) for a, b in zip(olo, ohi))],
                       np.float32)
    sm = ndi.gaussian_filter(outer, smoothing_mm / sp, mode="nearest")
    g = np.ogrid[tuple(slice(0, n) for n in outer.shape)]
    c = (blo + bhi - 1) / 2.0 - olo
    half = np.maximum((bhi - blo) / 2.0, 0.5) * float(core)
    centre = sum(((gi - ci) / hi_) ** 2 for gi, ci, hi_ in zip(g, c, half)) <= 1.0
    inbox = np.zeros(outer.shape, bool)
    inbox[tuple(slice(int(a), int(b)) for a, b in zip(blo - olo, bhi - olo))] = True
    keep = np.ones(outer.shape, bool) if pad_value is None else outer != pad_value
    post = histogram_likelihood(feat, sm[centre & keep], sm[~inbox & keep])
    if post is None:
        return None
    # the Bayes decision (posterior > 1/2), softened: the surface's cost wants T near 1
    # inside, as the other models give, not a posterior capped by overlapping histograms
    return sigmoid((post - 0.5) / 0.05).astype(np.float32, copy=False)


def second_channel_veto(ch2: np.ndarray, near: np.ndarray, spacing_zyx,
                        margin_mm: float) -> Tuple[np.ndarray, np.ndarray]:
    """Voxels the second channel allows: above the normal tissue's median, dilated by
    ``margin_mm``; and those it shows as hyper-intense: above the median by a robust SD."""
    med, sd = robust_stats(body_voxels(ch2[near]))
    allowed = ch2 > med
    if margin_mm > 0 and allowed.any():
        allowed = dilate(allowed, ball(margin_mm, spacing_zyx))
    return allowed, ch2 > med + sd


def air_beyond_fat(rays_hu: np.ndarray, step_mm: float, window_mm: float = 8.0,
                   min_fat: float = 0.25) -> Optional[float]:
    """CT, rays from the click (HU samples every ``step_mm``; NaN outside the image): the share
    of the rays that meet air (< -600 HU) whose last ``window_mm`` before the air hold at least
    ``min_fat`` fat samples (-190 to -30 HU); None when no ray meets air.

    The air outside the body lies beyond the skin and the subcutaneous fat: every ray from a
    limb or trunk tumour that reaches it passes through fat just before.  Aerated lung touches
    the tumour or lung tissue directly: the rays into the lung reach air with no fat."""
    air = rays_hu < -600.0
    hit = air.any(axis=1)
    if not hit.any():
        return None
    first = air.argmax(axis=1)[hit]
    w = max(int(round(window_mm / step_mm)), 1)
    k = first[:, None] - w + np.arange(w)[None, :]
    vals = np.take_along_axis(rays_hu[hit], np.maximum(k, 0), axis=1)
    fat = (vals > -190.0) & (vals < -30.0) & (k >= 0)
    return float(np.mean(fat.mean(axis=1) >= min_fat))


def lung_level(seed_hu: float, near_hu: np.ndarray, min_contrast_sd: float
               ) -> Optional[float]:
    """CT: the ``lung`` model's iso-level for a click of ``seed_hu`` whose surroundings hold
    the values ``near_hu``: -400 HU for a solid seed (> -500 HU); for a subsolid (ground-glass)
    seed, half-way between it and the aerated lung around it (the robust median m of the values
    below -600 HU), when it lies at least ``min_contrast_sd`` robust SDs s of that lung above m
    (the level then lies at least half as many above it; the click method's
    ``ClickParameters.ggo_contrast_sd``); None otherwise (a seed in aerated lung, or no aerated
    lung around it).  No floor in HU: a faint nodule in a quiet lung is found by this level
    and lost by the generic model (``benchmarks/segmentation_history.md``, version 35)."""
    if seed_hu > -500.0:
        return SOLID_LUNG_HU
    lung = near_hu[near_hu < -600.0]
    if lung.size < 10:
        return None
    m, s = robust_stats(lung)
    if seed_hu - m < min_contrast_sd * max(s, 1.0):
        return None
    return 0.5 * (seed_hu + m)


def in_aerated_lung(seed_hu: float, air_30: float, air_reach: float, sd_30: float,
                    fatty: Optional[float] = None, max_fatty: float = 0.8,
                    subsolid: bool = False) -> bool:
    """CT: is the clicked tumour a lesion in aerated lung?  The seed is soft tissue (> -500
    HU; or ``subsolid``: a ground-glass seed denser than the lung around it, ``lung_level``)
    and either at least 10 % of the 30 mm around it is air (< -600 HU), or it lies in a large
    homogeneous solid mass (robust SD of the 30 mm around it < 40 HU: tumour, not the fat /
    muscle / bone mix of a limb or the abdomen) with air in at least 5 % of the rays' reach;
    and that air is not the air outside the body: ``fatty`` (:func:`air_beyond_fat`), the share
    of the rays reaching air through a layer of fat, is below ``max_fatty`` (a limb sarcoma's
    rays reach the air around the limb through subcutaneous fat, all of them).  A subsolid seed
    needs the 10 % (it lies in the lung, not in a solid mass)."""
    if seed_hu <= -500.0:
        return bool(subsolid) and air_30 >= 0.10 and (fatty is None or fatty < max_fatty)
    if fatty is not None and fatty >= max_fatty:
        return False
    return air_30 >= 0.10 or (air_reach >= 0.05 and sd_30 < 40.0)


def choose_model(seed_level: float, bright: Tuple[float, Dict[str, float]],
                 rim_max_samples: float, edge_rim_min_hits: float = 0.5) -> str:
    """MR: ``bright`` or ``generic`` (see :mod:`.click`).  A dark seed is inside a rim when at
    least half of its rays meet enhancing tissue, or, where the body's edge cuts the rim open
    (``details["edge_fraction"]``: the rays reaching the edge first), when at least
    ``edge_rim_min_hits`` of them do and the edge and the rim together stop half; and the
    enhancing layer is at most ``rim_max_samples`` thick."""
    thr, details = bright
    if seed_level >= thr:
        return "bright"
    hits = details["hit_fraction"]
    edge = details.get("edge_fraction", 0.0)
    rim = hits >= 0.5 or (hits >= edge_rim_min_hits and hits + edge >= 0.5)
    if rim and details["first_run_samples"] <= rim_max_samples:
        return "bright"
    return "generic"


def tone_recurrence(feat: np.ndarray, patch: np.ndarray, rest: np.ndarray) -> float:
    """The share of the ``rest`` voxels whose value in ``feat`` lies between the 10th and 90th
    percentiles of the ``patch`` voxels' values: whether the patch's tone recurs around it (a
    patch of a mottled tumour among others of its tone) or is its own (a lesion in an organ of
    another tone: about 0).  0 when either set is empty."""
    v = feat[rest]
    if v.size == 0 or not patch.any():
        return 0.0
    lo, hi = np.percentile(feat[patch], [10.0, 90.0])
    return float(np.mean((v >= lo) & (v <= hi)))
