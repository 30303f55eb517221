"""Rays from a point and the optimal star-shaped surface across them (private to segmentation).

* :func:`sphere_directions`: ``n`` nearly uniform unit vectors (Fibonacci lattice) and the edges
  of their triangulation (the convex hull of the points), i.e. which rays are neighbours;
  :func:`ray_directions` caches them with the matrix that averages each ray's neighbours.
* :func:`sample_rays`: values of a volume along every ray, at radii ``0, step, 2 step, ...``
  (physical mm; trilinear interpolation), as an (n rays x K radii) array.
* :func:`halfway_radii`: a surface moved, ray by ray, to the half-way crossing between the
  tumour's level and the level beyond it (the edge of a blurred step), then regularised by
  :func:`optimal_surface`.
* :func:`level_crossing_radii`: a surface's radii (mm) moved from each ray's last sample on the
  tumour's side of a level to the crossing of that level, linearly interpolated between samples.
* :func:`fit_surface`: the click method's surface from a likelihood along the rays (its cost,
  the optimal surface, and the interpolation where no boundary shows).
* :func:`optimal_surface`: the radius index on every ray that minimises
  ``sum_d cost[d, r_d] + smooth * sum_(d,e) |r_d - r_e|`` subject to ``|r_d - r_e| <= max_step``
  for neighbouring rays d, e: the optimal-surface graph search of Li, Wu, Chen & Sonka (IEEE
  TPAMI 28:119, 2006; minimum-weight closed set = minimum s-t cut), with the linear soft
  smoothness penalty of Ishikawa (IEEE TPAMI 25:1333, 2003) added as finite arcs between
  neighbouring columns.  Exact (a global minimum), solved by :func:`._maxflow.min_cut`.
"""
from __future__ import annotations

import functools
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ["sphere_directions", "ray_directions", "ray_points", "sample_rays", "beyond_crop",
           "box_ellipsoid", "box_ellipsoid_radii",
           "optimal_surface", "star_mask", "fit_surface", "forbid_beyond_stops", "halfway_radii",
           "level_crossing_radii"]


def sphere_directions(n: int) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors (z, y, x) of a Fibonacci sphere lattice and their neighbour pairs."""
    from scipy.spatial import ConvexHull

    i = np.arange(n, dtype=float) + 0.5
    z = 1.0 - 2.0 * i / n
    rho = np.sqrt(np.maximum(1.0 - z * z, 0.0))
    phi = np.pi * (1.0 + 5.0 ** 0.5) * i
    dirs = np.stack([z, rho * np.sin(phi), rho * np.cos(phi)], axis=1)
    tri = ConvexHull(dirs).simplices
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [0, 2]]])
    e.sort(axis=1)
    edges = np.unique(e, axis=0)
    return dirs, edges


def ray_points(spacing_zyx, centre_zyx, dirs: np.ndarray, radii_mm: np.ndarray) -> np.ndarray:
    """Voxel positions (rays x samples x 3, z y x) of the samples along rays from
    ``centre_zyx`` (voxel index) in physical directions ``dirs`` at ``radii_mm``."""
    sp = np.asarray(spacing_zyx, float)
    return (np.asarray(centre_zyx, float)[None, None, :]
            + dirs[:, None, :] * np.asarray(radii_mm, float)[None, :, None] / sp[None, None, :])


def beyond_crop(spacing_zyx, centre_zyx, dirs: np.ndarray, radii_mm: np.ndarray, crop_shape,
                crop_lo, full_shape) -> np.ndarray:
    """Ray samples (as :func:`sample_rays` places them from ``centre_zyx``, a voxel index of a
    crop of ``crop_shape`` starting at ``crop_lo`` in an image of ``full_shape``) outside the
    crop but inside the image (beyond a box that the crop is cut to)."""
    pts = ray_points(spacing_zyx, centre_zyx, dirs, radii_mm)
    out_crop = np.any((pts < 0) | (pts > np.asarray(crop_shape) - 1), axis=2)
    full = pts + np.asarray(crop_lo, float)
    return out_crop & np.all((full >= 0) & (full <= np.asarray(full_shape) - 1), axis=2)


def box_ellipsoid(box_lo, box_hi, spacing_zyx) -> Tuple[np.ndarray, np.ndarray]:
    """Centre (voxel index) and semi-axes (mm) of the ellipsoid inscribed in the box of voxels
    ``box_lo`` to ``box_hi`` (exclusive)."""
    lo, hi = np.asarray(box_lo, float), np.asarray(box_hi, float)
    return 0.5 * (lo + hi - 1.0), 0.5 * (hi - lo) * np.asarray(spacing_zyx, float)


def box_ellipsoid_mask(shape, box, spacing_zyx) -> np.ndarray:
    """The voxels of an array of ``shape`` inside the ellipsoid inscribed in ``box`` (index
    slices z, y, x; :func:`box_ellipsoid`): a voxel is inside when
    ``sum_i ((x_i - c_i) h_i / a_i)^2 <= 1`` (centre c, spacing h, semi-axes a in mm)."""
    centre, semi = box_ellipsoid([b.start for b in box], [b.stop for b in box], spacing_zyx)
    semi = np.maximum(semi, 1e-6)
    g = np.ogrid[tuple(slice(0, int(n)) for n in shape)]
    return sum((((gg - c) * h) / a) ** 2 for gg, c, h, a in zip(
        g, centre, np.asarray(spacing_zyx, float), semi)) <= 1.0


def box_ellipsoid_radii(spacing_zyx, centre_zyx, dirs: np.ndarray, box_lo, box_hi
                        ) -> np.ndarray:
    """Distance (mm) along each ray from ``centre_zyx`` (voxel index) in directions ``dirs``
    to the surface of the ellipsoid inscribed in the box of voxels ``box_lo`` to ``box_hi``
    (exclusive; same frame as the centre); NaN for every ray when the centre lies outside
    the ellipsoid."""
    sp = np.asarray(spacing_zyx, float)
    c, semi = box_ellipsoid(box_lo, box_hi, sp)
    semi = np.maximum(semi, 1e-6)
    q = (np.asarray(centre_zyx, float) - c) * sp / semi
    dd = dirs / semi[None, :]
    a = (dd ** 2).sum(1)
    b = 2.0 * (dd @ q)
    c = float(q @ q) - 1.0
    if c >= 0.0:
        return np.full(len(dirs), np.nan)
    return (-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)


def ray_voxels(shape, spacing_zyx, centres_zyx, dirs: np.ndarray, radii_mm: np.ndarray
               ) -> np.ndarray:
    """Flat indices (sorted, each once) of the voxels of an array of ``shape`` that
    :func:`sample_rays` (``order=1``) reads along the rays from ``centres_zyx``: the eight
    corners of each sample's cell that lie inside the array.  A volume that is right on
    these voxels, whatever it holds elsewhere, gives the same samples.  (Marked on a boolean
    array: neighbouring samples share cells, and sorting out the repeats costs more.)"""
    shape = np.asarray(shape)
    cells = np.concatenate([np.floor(ray_points(spacing_zyx, c, dirs, radii_mm).reshape(-1, 3))
                            for c in centres_zyx]).astype(np.int64)
    read = np.zeros(int(np.prod(shape)), bool)
    # cells with all eight corners inside: their first corner's index plus each corner's step
    whole = np.all((cells >= 0) & (cells < shape - 1), axis=1)
    first = np.ravel_multi_index(cells[whole].T, tuple(shape))
    steps = np.array([shape[1] * shape[2], shape[2], 1])
    rest = cells[~whole]
    for off in np.ndindex(2, 2, 2):
        read[first + int(np.dot(off, steps))] = True
        v = rest + np.asarray(off)
        v = v[np.all((v >= 0) & (v < shape), axis=1)]
        read[np.ravel_multi_index(v.T, tuple(shape))] = True
    return np.flatnonzero(read)


def sample_rays(vol: np.ndarray, spacing_zyx, centre_zyx, dirs: np.ndarray, radii_mm: np.ndarray,
                cval: float = np.nan, order: int = 1) -> np.ndarray:
    """Values of ``vol`` (z, y, x) along rays from ``centre_zyx`` (voxel index) in physical
    directions ``dirs`` at ``radii_mm``; points outside the volume get ``cval``."""
    from scipy import ndimage as ndi

    pts = ray_points(spacing_zyx, centre_zyx, dirs, radii_mm)
    coords = pts.reshape(-1, 3).T
    out = ndi.map_coordinates(np.asarray(vol, np.float32), coords, order=order, mode="constant",
                              cval=np.nan, prefilter=False)
    out = out.reshape(len(dirs), len(radii_mm))
    if not np.isnan(cval):
        out[np.isnan(out)] = cval
    return out


@functools.lru_cache(maxsize=4)
def _cut_arcs(n: int, k: int, max_step: int, edge_bytes: bytes, smooth: bool):
    """The arcs of :func:`optimal_surface`'s graph for ``n`` rays of ``k`` samples, the same for
    every cut of one ray layout (only the capacities change), without the terminal arcs (one
    capacity per node, :mod:`._maxflow`): the CSR structure (``indptr``, ``head``) of the arcs
    and their reverses, each one's sister, and per CSR position the number of hard arcs
    (intra-column, inter-column) and of smoothness arcs at it (arcs sharing a position add
    their capacities up; a reverse that is no arc of the graph has capacity 0)."""
    edges = np.frombuffer(edge_bytes, np.int64).reshape(-1, 2)
    nid = np.arange(n * k).reshape(n, k)
    # the intra-column hard arcs v(d, j) -> v(d, j - 1)
    rows, cols = [nid[:, 1:].ravel()], [nid[:, :-1].ravel()]
    # inter-column hard constraints: v(d, j) -> v(e, max(0, j - max_step)), both ways (for
    # 1 <= j <= max_step the arc to the bottom node is implied by the column's own arcs down
    # to its bottom node and the bottom nodes' arcs: left out)
    jj = np.concatenate([[0], np.arange(k)[max_step + 1:]])
    pairs = ((edges[:, 0], edges[:, 1]), (edges[:, 1], edges[:, 0]))
    for a, b in pairs:
        rows.append(nid[a][:, jj].ravel())
        cols.append(nid[b][:, np.maximum(jj - max_step, 0)].ravel())
    n_hard = sum(len(r) for r in rows)
    if smooth:
        for a, b in pairs:
            rows.append(nid[a][:, 1:].ravel())
            cols.append(nid[b][:, 1:].ravel())
    r, c = np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)
    keep = r != c
    size = n * k
    # every arc and its reverse once, sorted by (tail, head): the CSR order
    keys = np.sort(np.concatenate([r[keep] * size + c[keep], c[keep] * size + r[keep]]))
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]     # (np.unique, cheaper)
    tail, head = keys // size, keys % size
    indptr = np.concatenate([[0], np.cumsum(np.bincount(tail, minlength=size))]).astype(np.int64)
    sister = np.searchsorted(keys, head * size + tail)
    pos = np.searchsorted(keys, r * size + c)
    hard = np.arange(len(r)) < n_hard
    n_at = [np.bincount(pos[keep & h], minlength=len(keys)) for h in (hard, ~hard)]
    out = (indptr, head, sister, n_at[0], n_at[1])
    for v in out:
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return out


def optimal_surface(cost: np.ndarray, edges: np.ndarray, max_step: int,
                    smooth: float = 0.0, scale: float = 1000.0) -> np.ndarray:
    """Radius index per ray minimising the total cost (see module docstring).

    cost : (n, K) array, ``cost[d, k]`` = cost of the surface passing at radius index ``k`` on
    ray ``d`` (finite); edges : (m, 2) neighbouring ray pairs; max_step : hard limit on the
    radius-index difference between neighbours; smooth : linear penalty per index of difference.
    The graph's arcs are built once per ray layout (``_cut_arcs``) and only their capacities
    per call; the cut is :func:`._maxflow.min_cut`'s.
    """
    from ._maxflow import min_cut

    c = np.asarray(cost, float)
    n, k = c.shape
    # node weights of the closed-set problem: w[d, 0] = c[d, 0], w[d, j] = c[d, j] - c[d, j-1];
    # bottom nodes are shifted down so that the optimal closed set is never empty
    w = np.empty_like(c)
    w[:, 0] = c[:, 0]
    w[:, 1:] = np.diff(c, axis=1)
    w = np.round(w * scale).astype(np.int64)
    # the bottom nodes are tied together by the hard arcs (every non-empty closed set holds all
    # of them), so shifting them down by more than the sum of all positive weights in total makes
    # the optimal closed set non-empty and changes nothing else; spread over all n bottom nodes
    # (not put on one) the flow enters every column at its foot
    w[:, 0] -= int(np.clip(w, 0, None).sum()) // n + 1
    cap_smooth = int(round(smooth * scale)) if smooth > 0 else 0
    edges = np.ascontiguousarray(edges, np.int64)
    finite = int(np.abs(w).sum()) + 2 * len(edges) * (k - 1) * cap_smooth
    inf = finite + 1
    if inf >= 2 ** 31 - 1:
        raise ValueError("optimal_surface: costs too large for 32-bit capacities; lower scale")
    indptr, head, sister, n_hard, n_smooth = _cut_arcs(n, k, int(max_step), edges.tobytes(),
                                                       cap_smooth > 0)
    # arcs sharing a position add up, to at most inf; the terminal arcs: source -> v where
    # w < 0, v -> sink where w > 0
    residual = np.where(n_hard > 0, inf, n_smooth * cap_smooth).astype(np.int64)
    _, side = min_cut(indptr, head, sister, residual, -w.ravel())
    z = side.reshape(n, k)
    # surface = highest node of each column in the closed set (columns are closed downwards)
    top = np.where(z.any(1), k - 1 - np.argmax(z[:, ::-1], axis=1), 0)
    return top


@functools.lru_cache(maxsize=4)
def _star_table(dir_bytes: bytes, nt: int):
    """For :func:`star_mask`'s table of ``nt`` x ``2 nt`` (polar angle x azimuth) cells: the
    three rays nearest each cell centre and their inverse-angle weights (the same for every
    mask of one set of rays)."""
    from scipy.spatial import cKDTree

    dirs = np.frombuffer(dir_bytes, float).reshape(-1, 3)
    nphi = 2 * nt
    th = (np.arange(nt) + 0.5) * np.pi / nt
    ph = (np.arange(nphi) + 0.5) * 2 * np.pi / nphi - np.pi
    tt, pp = np.meshgrid(th, ph, indexing="ij")
    u = np.stack([np.cos(tt), np.sin(tt) * np.sin(pp), np.sin(tt) * np.cos(pp)], -1).reshape(-1, 3)
    dd, ii = cKDTree(dirs).query(u, k=3)
    wgt = 1.0 / np.maximum(dd, 1e-6)
    for v in (ii, wgt):
        v.setflags(write=False)
    return ii, wgt


def star_mask(shape, spacing_zyx, centre_zyx, dirs: np.ndarray, radius_mm: np.ndarray,
              table: int = 96) -> np.ndarray:
    """Voxels (z, y, x) inside the star-shaped surface ``radius_mm[d]`` along ``dirs`` from
    ``centre_zyx`` (voxel index).  The radius between rays is read from a (polar angle x
    azimuth) table of ``table`` x ``2 table`` cells, each holding the inverse-angle-weighted
    mean radius of its three nearest rays (``_star_table``, once per set of rays)."""
    sp = np.asarray(spacing_zyx, float)
    rad_rays = np.asarray(radius_mm, float)
    rmax = float(rad_rays.max()) if rad_rays.size else 0.0
    c = np.asarray(centre_zyx, float)
    out = np.zeros(shape, bool)
    lo = np.maximum(np.floor(c - rmax / sp) - 1, 0).astype(int)
    hi = np.minimum(np.ceil(c + rmax / sp) + 2, np.asarray(shape)).astype(int)
    if np.any(hi <= lo):
        return out
    # radius table over (theta, phi) cell centres
    nt, nphi = int(table), 2 * int(table)
    ii, wgt = _star_table(np.ascontiguousarray(dirs, float).tobytes(), nt)
    tab = ((rad_rays[ii] * wgt).sum(1) / wgt.sum(1)).reshape(nt, nphi)
    z = (np.arange(lo[0], hi[0]) - c[0]) * sp[0]
    y = (np.arange(lo[1], hi[1]) - c[1]) * sp[1]
    x = (np.arange(lo[2], hi[2]) - c[2]) * sp[2]
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    dist = np.sqrt(zz ** 2 + yy ** 2 + xx ** 2)
    ti = np.clip((np.arccos(np.clip(zz / np.maximum(dist, 1e-9), -1, 1)) * (nt / np.pi))
                 .astype(int), 0, nt - 1)
    pi_ = np.clip(((np.arctan2(yy, xx) + np.pi) * (nphi / (2 * np.pi))).astype(int), 0, nphi - 1)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = dist <= tab[ti, pi_]
    return out


def fit_surface(tr: np.ndarray, blocked: np.ndarray, user: np.ndarray, edges: np.ndarray, avg,
                step_mm: float, exit_window_mm: float, size_prior: float, max_slope_mm: float,
                gaps: Optional[np.ndarray] = None, shape_prior: Optional[np.ndarray] = None,
                inside_reward: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """The click method's surface (:mod:`.click`, steps 3 and 4): the optimal surface of the
    likelihood ``tr`` sampled along the rays (rays x samples, every ``step_mm``), and where
    the image shows no boundary the radius interpolated from the rays that do show one.

    The cost of radius index r on a ray is the tumour-unlike samples inside (1 - T), less
    ``inside_reward`` times the tumour-like ones (T), the tumour-like ones in the
    ``exit_window_mm`` just outside and ``size_prior`` per sample, all times ``step_mm``; the
    radii of neighbouring rays (``edges``) differ by at most ``max_slope_mm``.  ``blocked``:
    samples a ray may not reach; ``user``: those blocked by a background point or the body's
    edge (a boundary); ``avg``: the matrix averaging each ray's neighbours; ``gaps``: rays
    known to show no boundary (their cost is the size prior alone); ``shape_prior``: a radius
    index per ray (NaN: none; the click method passes the box's inscribed ellipsoid) that the
    interpolated radii do not exceed, and that the rays take when no ray shows a boundary.
    Returns the radius index per ray and which rays showed a boundary."""
    n, n_k = tr.shape
    w = max(int(round(exit_window_mm / step_mm)), 1)
    j = np.arange(n_k)
    inside_cost = np.cumsum(1.0 - (1.0 + inside_reward) * tr, axis=1)
    cs = np.concatenate([np.zeros((n, 1)), np.cumsum(tr, axis=1)], axis=1)
    jw = np.minimum(j + w, n_k - 1)
    exit_cost = cs[:, jw + 1] - cs[:, j + 1]
    prior = size_prior * j
    cost = (inside_cost + exit_cost + prior[None, :]) * step_mm
    if gaps is not None:
        cost[gaps] = prior * step_mm
    first_blocked, forbid, penalty = forbid_beyond_stops(cost, blocked)
    max_step = max(int(round(max_slope_mm / step_mm)), 1)
    r = optimal_surface(cost, edges, max_step)
    jj = np.minimum(r[:, None] + 1 + np.arange(w)[None, :], n_k - 1)
    after = np.where(blocked, 1.0, tr)[np.arange(n)[:, None], jj].mean(1)
    at_stop = r >= first_blocked - 2
    user_stop = user[np.arange(n), np.minimum(first_blocked, n_k - 1)] & \
        (first_blocked < n_k)
    seen = ((after < 0.5) & ~at_stop) | (at_stop & user_stop)
    if gaps is not None:
        seen &= ~gaps
    has_prior = shape_prior is not None and bool(np.isfinite(shape_prior[~seen]).any())
    if (seen.any() or has_prior) and not seen.all():
        unseen = np.flatnonzero(~seen)
        ri = r.astype(float)
        if seen.any():
            ri[unseen] = np.median(r[seen])
            # 300 Jacobi sweeps of the neighbour mean over the unseen rays (a sparse product)
            avg_unseen = avg[unseen]
            for _ in range(300):
                ri[unseen] = avg_unseen @ ri
        if has_prior:
            known = unseen[np.isfinite(shape_prior[unseen])]
            ri[known] = (np.minimum(ri[known], shape_prior[known]) if seen.any()
                         else shape_prior[known])
        cost2 = cost.copy()
        cost2[unseen] = np.abs(j[None, :] - ri[unseen][:, None]) * step_mm
        cost2[forbid] += penalty
        r = optimal_surface(cost2, edges, max_step)
    # blocked rays end just before the blocking sample
    r = np.minimum(r, first_blocked - 1)
    return r, seen


def forbid_beyond_stops(cost: np.ndarray, blocked: np.ndarray):
    """A ray cannot pass a blocked sample: raise, in place, the cost of every sample at or
    beyond each ray's first blocked one by ``2 ptp(cost) + 1`` (more than any other choice
    saves).  The first sample (the seed) is always allowed.  Returns (index of the first blocked
    sample per ray, at least 1; the forbidden samples; the penalty)."""
    n_k = blocked.shape[1]
    first_blocked = np.maximum(np.where(blocked.any(1), blocked.argmax(1), n_k), 1)
    forbid = np.arange(n_k)[None, :] >= first_blocked[:, None]
    penalty = 2.0 * float(np.ptp(cost)) + 1.0
    cost[forbid] += penalty
    return first_blocked, forbid, penalty


def halfway_radii(fr: np.ndarray, r: np.ndarray, seen: np.ndarray, blocked: np.ndarray,
                  edges: np.ndarray, step_mm: float, max_slope_mm: float) -> np.ndarray:
    """The generic model's surface moved to where each ray's profile crosses half-way
    between the tumour and what lies beyond it: the edge of a blurred step between two
    tissues, wherever the appearance model's class boundary put the surface (a boundary
    set by the tissues' histograms sits inside a blurred edge: on spheres of 5-15 mm radius
    in noise, Dice 0.79-0.96 without this step, 0.98-0.998 with it).

    ``fr``: (rays x samples, every ``step_mm``) values of the image along the rays (the click
    method passes its 0.7 mm smoothing, less than the generic model's 1.5 mm: a wider blur
    moves the half-way level of a convex tumour inwards); ``r``: the surface's radius index
    per ray; ``seen``: rays whose boundary the image showed; ``blocked``: samples a ray may not
    reach; ``edges``: neighbouring rays.  The tumour level is the median of the samples at
    least 1 mm inside the surface (all rays), the level beyond it that of each ray's samples
    2-6 mm outside; on each ray whose boundary the image showed (``seen``) the radius is the
    last sample, walking out from 3 mm inside the surface (at most 3 mm outside it), still on
    the tumour's side of the half-way level, plus the linearly interpolated fraction of a
    sample to the crossing.  The radii are then regularised by the same optimal surface (cost
    ``|r - r_halfway|`` per ray, the slope limit ``max_slope_mm``)."""
    n, n_k = fr.shape
    st = step_mm
    j = np.arange(n_k)[None, :]
    ok = ~blocked & np.isfinite(fr)
    inside = ok & (j <= r[:, None] - round(1.0 / st))
    if inside.sum() < 20:
        return r
    m_in = float(np.median(fr[inside]))
    out = ok & (j >= r[:, None] + round(2.0 / st)) & (j <= r[:, None] + round(6.0 / st))
    target = r.astype(float)
    w = int(round(3.0 / st))
    for d in np.flatnonzero(seen & (out.sum(1) >= 3)):
        m_out = float(np.median(fr[d, out[d]]))
        sgn = np.sign(m_in - m_out)
        if sgn == 0:
            continue
        level = 0.5 * (m_in + m_out)
        k0, k1 = max(int(r[d]) - w, 0), min(int(r[d]) + w, n_k - 1)
        if not (ok[d, k0] and sgn * (fr[d, k0] - level) > 0):
            continue
        k = k0
        while k + 1 <= k1 and ok[d, k + 1] and sgn * (fr[d, k + 1] - level) > 0:
            k += 1
        if k < k1 and ok[d, k + 1]:
            # the crossing between samples k and k + 1, linearly interpolated
            a, b = fr[d, k] - level, fr[d, k + 1] - level
            target[d] = k + float(a / (a - b)) if a != b else k + 0.5
        else:
            target[d] = k
    cost = np.abs(j - target[:, None]) * st
    first_blocked, _, _ = forbid_beyond_stops(cost, blocked)
    max_step = max(int(round(max_slope_mm / st)), 1)
    return np.minimum(optimal_surface(cost, edges, max_step), first_blocked - 1)


def level_crossing_radii(fr: np.ndarray, r: np.ndarray, level: float, blocked: np.ndarray,
                         step_mm: float) -> np.ndarray:
    """Radii (mm) of a surface whose radius index ``r`` on each ray is its last sample at or
    above ``level`` (the tumour's side), moved to where the ray's values ``fr`` (rays x samples,
    every ``step_mm``) cross the level: ``(r + (f_r - level) / (f_r - f_(r+1))) step_mm`` on a
    ray whose next sample is below the level and not ``blocked``; elsewhere ``r step_mm``.

    A surface on its last inside sample lies on average half a sample inside the crossing (a
    quarter of a millimetre at the 0.5 mm step: 17 % of a 4 mm nodule's volume); the crossing
    of a sharp, physically set level (the lung model's -400 HU between air and soft tissue)
    is where the surface is meant to be."""
    n, n_k = fr.shape
    i = np.arange(n)
    r = np.asarray(r, int)
    nxt = np.minimum(r + 1, n_k - 1)
    a, b = fr[i, r], fr[i, nxt]
    cross = (nxt > r) & ~blocked[i, nxt] & np.isfinite(a) & np.isfinite(b) & (a >= level) & \
        (b < level)
    frac = np.zeros(n)
    frac[cross] = (a[cross] - level) / (a[cross] - b[cross])
    return (r + frac) * step_mm


_RAYS: Dict[int, tuple] = {}


def ray_directions(n: int):
    """``n`` ray directions, their neighbour pairs and the sparse (n x n) matrix whose row d
    averages the radii of ray d's neighbours (cached per ``n``)."""
    if n not in _RAYS:
        from scipy.sparse import csr_array

        dirs, edges = sphere_directions(n)
        nbrs: List[List[int]] = [[] for _ in range(n)]
        for a, b in edges:
            nbrs[a].append(int(b))
            nbrs[b].append(int(a))
        rows = np.repeat(np.arange(n), [len(b) for b in nbrs])
        cols = np.concatenate([np.asarray(b, int) for b in nbrs])
        vals = np.concatenate([np.full(len(b), 1.0 / len(b)) for b in nbrs])
        avg = csr_array((vals, (rows, cols)), shape=(n, n))
        for v in (dirs, edges, avg.data, avg.indices, avg.indptr):
            v.setflags(write=False)
        _RAYS[n] = (dirs, edges, avg)
    return _RAYS[n]
