"""Spherical parameterisations of closed genus-0 meshes (SPHARM step 3).

* :func:`heat_inflated_map` (robust mode) - radial projection from the enclosed solid's centroid
  in the *whitened* frame of its second moments (an ellipsoid gets its natural affine map,
  elongated tumours become more star-shaped).  When some triangle folds (not star-shaped), the
  projection of the surface "inflated" by one implicit step of geometric heat flow
  ``(M + t L) x_t = M x_0`` (cotangent Laplacian, lumped areas), re-whitened, with the smallest
  ``t`` (to about 4% in log t) that makes it bijective, then doubled.  The map is a smooth
  function of the geometry, nearly independent of the triangulation, and equivariant under
  rotation, translation and scaling.  Falls back to :func:`robust_map` when no ``t`` up to 1000
  works (C- or ring-shaped tumours).
* :func:`robust_map` - the fallback of :func:`heat_inflated_map`: the same whitened radial map,
  inflated by graph-Laplacian smoothing (the smallest number of iterations, to within 4, up to
  2400, that makes it bijective; the count depends on the triangulation, which is why the
  geometric heat flow comes first), and, if that does not help, the heat-diffusion map
  between the polar caps of the longest principal axis with *smooth* latitude / longitude area
  equalisation (four rounds; spherical Tutte relaxation as the last resort).
* :func:`diffusion_map` - Brechbuehler, Gerig & Kuebler (1995): latitude by heat diffusion
  (discrete Laplace equation with Dirichlet values 0 / pi at two poles), longitude by a second
  Laplace equation on the pole-free annulus with a 2 pi jump across a date line (a steepest-ascent
  path of the latitude from the north to the south pole).
* :func:`equalise_lat_lon` - monotone re-mapping of latitude and longitude so that cumulative
  object area matches cumulative sphere area (removes most of the diffusion map's global area
  distortion in milliseconds; our addition, between the two published steps).  Exact per-vertex
  CDFs in the reference mode; smoothed, binned CDFs (monotone cubic) in the robust fallback, whose
  re-mapping stays bijective on re-voxelised copies of a tumour.
* :func:`cald_smooth` - area-equalising local smoothing after Shen & Makedon (2006, CALD): each
  vertex moves towards the centroid of its incident spherical triangles weighted by how much more
  sphere area they have than their share of the object's area; moves that fold a triangle are
  undone.  Written from the papers' description, not from SPHARM-MAT's code.
* :func:`reference_map` (reference mode) - :func:`diffusion_map`, :func:`equalise_lat_lon` (as
  much as stays bijective), then :func:`cald_smooth` within a deterministic iteration budget
  (:func:`cald_iteration_budget`).
* :func:`sphere_vertex_areas` - the spherical area each vertex represents (robust-mode fit
  weights); :func:`area_distortion`, :func:`check_bijective` - the reported quality of a map.

A map is *bijective* (reported) when every triangle keeps its orientation on the sphere and the
signed spherical areas add up to 4 pi (a degree-one, locally injective map of a sphere).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sps
from numba import njit
from scipy.sparse.linalg import spsolve

from ._cholesky import SparseCholesky
from .mesh import edges_of, face_areas, vertex_areas, volume_centroid


def adjacency(n: int, edges: np.ndarray) -> sps.csr_matrix:
    e = np.sort(edges, axis=1).astype(np.int64)
    k = np.unique(e[:, 0] * n + e[:, 1])
    e = np.stack([k // n, k % n], axis=1)
    A = sps.coo_matrix((np.ones(2 * len(e)), (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])),
                       shape=(n, n)).tocsr()
    return A


def spherical_signed_areas(u: np.ndarray, f: np.ndarray) -> np.ndarray:
    a, b, c = u[f[:, 0]], u[f[:, 1]], u[f[:, 2]]
    det = np.einsum("ij,ij->i", a, np.cross(b, c))
    den = 1.0 + np.einsum("ij,ij->i", a, b) + np.einsum("ij,ij->i", b, c) \
        + np.einsum("ij,ij->i", c, a)
    return 2.0 * np.arctan2(det, den)


def check_bijective(u: np.ndarray, f: np.ndarray) -> Tuple[bool, int, float]:
    """(bijective, number of folded triangles, total signed area / 4 pi)."""
    s = spherical_signed_areas(u, f)
    n_bad = int(np.sum(s <= 0))
    tot = float(s.sum() / (4 * np.pi))
    return (n_bad == 0 and abs(tot - 1.0) < 1e-6), n_bad, tot


def area_distortion(u: np.ndarray, v: np.ndarray, f: np.ndarray) -> Dict[str, float]:
    """Area distortion of a map: per triangle r = (sphere area / 4pi) / (object area / total).

    Returns the area-weighted mean |log r| and the 5th / 95th percentiles of r.
    """
    sa = np.abs(spherical_signed_areas(u, f)) / (4 * np.pi)
    oa = face_areas(v, f)
    oa = oa / oa.sum()
    r = np.maximum(sa, 1e-15) / np.maximum(oa, 1e-15)
    lr = np.abs(np.log(r))
    return {"area_log_mean": float(np.sum(oa * lr)),
            "area_ratio_p05": float(np.percentile(r, 5)),
            "area_ratio_p95": float(np.percentile(r, 95))}


def sphere_vertex_areas(u: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Spherical area each vertex of a map represents (one third of its incident triangles' area
    on the sphere, plus 1e-12 so that none is zero): the least-squares weights of robust mode."""
    a = np.abs(spherical_signed_areas(u, f)) / 3.0
    return np.bincount(f.ravel(), weights=np.repeat(a, 3), minlength=u.shape[0]) + 1e-12


def _normalise(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def radial_map(v: np.ndarray, centre: np.ndarray) -> np.ndarray:
    d = v - centre[None, :]
    return _normalise(d)


def laplacian_smooth(v: np.ndarray, A: sps.csr_matrix, iters: int, lam: float = 0.5):
    """``iters`` steps of ``x <- x + lam * (A x / deg - x)`` (umbrella-operator smoothing).

    One compiled loop: the neighbour sums run in the CSR order of ``A`` from 0, as SciPy's
    ``A @ x``, and the element-wise steps are the same operations, so the result is identical
    to the NumPy / SciPy formulation at a fraction of its time (no per-iteration overhead)."""
    A = sps.csr_matrix(A)
    deg = np.asarray(A.sum(axis=1), dtype=np.float64).ravel()
    x = np.array(v, dtype=np.float64, order="C", copy=True)
    if iters <= 0 or x.shape[0] == 0:
        return x
    if x.ndim != 2 or x.shape[1] != 3:
        for _ in range(iters):
            x = x + lam * ((A @ x) / deg[:, None] - x)
        return x
    return _laplacian_smooth_loop(A.indptr.astype(np.int64), A.indices.astype(np.int64),
                                  A.data.astype(np.float64), deg, x, int(iters), float(lam))


@njit(cache=True, error_model="numpy")
def _laplacian_smooth_loop(indptr, indices, data, deg, x, iters, lam):
    n = x.shape[0]
    y = np.empty_like(x)
    for it in range(iters):
        src = x if it % 2 == 0 else y
        dst = y if it % 2 == 0 else x
        for i in range(n):
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            for kk in range(indptr[i], indptr[i + 1]):
                a = data[kk]
                j = indices[kk]
                a0 += a * src[j, 0]
                a1 += a * src[j, 1]
                a2 += a * src[j, 2]
            g = deg[i]
            dst[i, 0] = src[i, 0] + lam * (a0 / g - src[i, 0])
            dst[i, 1] = src[i, 1] + lam * (a1 / g - src[i, 1])
            dst[i, 2] = src[i, 2] + lam * (a2 / g - src[i, 2])
    return x if iters % 2 == 0 else y


def spherical_tutte(u: np.ndarray, f: np.ndarray, A: sps.csr_matrix, iters: int = 2000,
                    check_every: int = 50):
    """Relax ``u`` on the sphere: each vertex to the normalised mean of its neighbours (with
    re-centring to prevent collapse) until the map is bijective (or ``iters``)."""
    deg = np.asarray(A.sum(axis=1)).ravel()
    x = u.copy()
    for it in range(1, iters + 1):
        x = _normalise((A @ x) / deg[:, None])
        x = _normalise(x - x.mean(axis=0))
        if it % check_every == 0 and check_bijective(x, f)[0]:
            break
    return x


def equalise_bijective(u: np.ndarray, v: np.ndarray, f: np.ndarray, rounds: int = 4,
                       bins: Optional[int] = None):
    """Repeat :func:`equalise_lat_lon`, each time keeping as much of it as stays bijective.

    With ``bins=None`` (exact, per-vertex CDFs; reference mode) it stops after the first round
    that is kept whole; with smooth CDFs (``bins``) every round is applied, since each one
    brings the marginals closer to the sphere's.
    """
    ts = []
    for _ in range(rounds):
        u, t = blend_bijective(u, equalise_lat_lon(u, v, f, bins=bins), f)
        ts.append(t)
        if t < 0.05 or (bins is None and t >= 1.0):
            break
    return u, ts


def blend_bijective(u0: np.ndarray, u1: np.ndarray, f: np.ndarray, steps: int = 8):
    """Largest t in [0, 1] (bisection) with normalise((1-t) u0 + t u1) bijective; u0 must be.

    Returns (u, t).
    """
    if check_bijective(u1, f)[0]:
        return u1, 1.0
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if check_bijective(_normalise((1 - mid) * u0 + mid * u1), f)[0]:
            lo = mid
        else:
            hi = mid
    return _normalise((1 - lo) * u0 + lo * u1), lo


def solid_moments(v: np.ndarray, f: np.ndarray):
    """Centroid and covariance of the solid enclosed by a closed outward mesh (exact)."""
    c0 = v.mean(axis=0)
    x = v - c0
    a, b, c = x[f[:, 0]], x[f[:, 1]], x[f[:, 2]]
    vol = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    V = vol.sum()
    cen = ((a + b + c) / 4.0 * vol[:, None]).sum(axis=0) / V
    s = a + b + c
    M2 = (np.einsum("t,ti,tj->ij", vol, a, a) + np.einsum("t,ti,tj->ij", vol, b, b)
          + np.einsum("t,ti,tj->ij", vol, c, c) + np.einsum("t,ti,tj->ij", vol, s, s)) / 20.0
    cov = M2 / V - np.outer(cen, cen)
    return cen + c0, cov


EQUALISE_BINS = 128      # smooth latitude / longitude equalisation of the robust fallback
POLE_CAP = 0.01          # share of the vertices that forms each polar cap of the fallback


def _cap_pole(v: np.ndarray, f: np.ndarray, t: np.ndarray) -> int:
    """The vertex nearest to the area-weighted centroid of the cap of the ``POLE_CAP`` (1%)
    vertices with the largest ``t``.  Unlike the single most extreme vertex, which jumps
    between the corners of a blunt end when the tumour is re-voxelised, the cap's centre moves
    continuously with the shape (effect on the C-shaped tumours: README)."""
    k = max(3, int(np.ceil(POLE_CAP * v.shape[0])))
    cap = np.argpartition(-t, k - 1)[:k]
    wa = vertex_areas(v, f)[cap]
    p = (wa[:, None] * v[cap]).sum(axis=0) / wa.sum()
    return int(np.argmin(np.linalg.norm(v - p, axis=1)))


def robust_map(v: np.ndarray, f: np.ndarray, max_inflation: int = 2400, check_every: int = 4,
               whiten: bool = True, min_inflation: int = 0, fallback: str = "diffusion"):
    """Radial map from the solid's centroid, in the *whitened* frame (moments -> identity).

    Whitening by the inverse square root of the enclosed solid's covariance makes the map of an
    ellipsoid its natural (affine) parameterisation ``x = (a u_x, b u_y, c u_z)`` in its axes,
    so an ellipsoid has only degree-1 energy, and makes elongated tumours more star-shaped.
    The map is equivariant under rotation, translation and scaling.  Returns (u, info).
    """
    A = adjacency(v.shape[0], edges_of(f))
    info: Dict = {}
    c, cov = solid_moments(v, f)
    if whiten:
        w, Q = np.linalg.eigh(cov)
        W = Q @ np.diag(1.0 / np.sqrt(np.maximum(w, 1e-12 * w.max()))) @ Q.T
    else:
        W = np.eye(3)
    x = (v - c) @ W
    info["whitened"] = bool(whiten)
    # smallest inflation (to ``check_every`` iterations) that makes the map bijective: doubling
    # steps to bracket it, then bisection; fine steps keep the map a near-continuous function
    # of the shape
    def test(xx):
        uu = radial_map(xx, volume_centroid(xx, f))
        return uu, check_bijective(uu, f)[0]

    if min_inflation:
        x = laplacian_smooth(x, A, min_inflation)
    u, ok = test(x)
    if ok:
        info.update(method="radial", smoothing_iters=min_inflation, bijective=True, folded=0)
        return u, info
    lo, x_lo = min_inflation, x
    hi, u_hi = None, None
    step = check_every
    while lo < max_inflation:
        nxt = min(lo + step, max_inflation)
        xn = laplacian_smooth(x_lo, A, nxt - lo)
        un, okn = test(xn)
        if okn:
            hi, u_hi = nxt, un
            break
        lo, x_lo = nxt, xn
        step *= 2
    if hi is not None:
        while hi - lo > check_every:
            mid = lo + ((hi - lo) // (2 * check_every)) * check_every
            if mid <= lo:
                break
            xm = laplacian_smooth(x_lo, A, mid - lo)
            um, okm = test(xm)
            if okm:
                hi, u_hi = mid, um
            else:
                lo, x_lo = mid, xm
        info.update(method="radial_inflated", smoothing_iters=hi, bijective=True, folded=0)
        return u_hi, info
    done = lo
    # Not star-shaped even after inflation: heat-diffusion map between the extremes of the
    # solid's longest principal axis (equivariant), with latitude / longitude area equalisation.
    w, Q = np.linalg.eigh(cov)
    e = Q[:, -1]
    t = (v - c) @ e
    if np.sum(t ** 3) < 0:
        e, t = -e, -t
    north, south = _cap_pole(v, f, t), _cap_pole(v, f, -t)
    u, dinfo = diffusion_map(v, f, north=north, south=south)
    if check_bijective(u, f)[0]:
        u, ts = equalise_bijective(u, v, f, bins=EQUALISE_BINS)
        info["lat_lon_equalised"] = [float(x) for x in ts]
    ok, nbad, tot = check_bijective(u, f)
    if not ok:
        u2 = spherical_tutte(u, f, A, iters=500)
        ok2, nbad2, _ = check_bijective(u2, f)
        if nbad2 < nbad:
            u, ok, nbad = u2, ok2, nbad2
    info.update(method="diffusion_equal_area", smoothing_iters=done, bijective=ok, folded=nbad)
    return u, info


# ----------------------------------------------------------------------------- Brechbuehler
def _ring_next(faces: np.ndarray):
    """dict vertex -> dict neighbour -> next neighbour counter-clockwise (outward normal)."""
    k = faces.shape[1]
    nxt: Dict[int, Dict[int, int]] = {}
    for i in range(k):
        a = faces[:, i]
        b = faces[:, (i + 1) % k]
        c = faces[:, (i - 1) % k]
        for aa, bb, cc in zip(a.tolist(), b.tolist(), c.tolist()):
            nxt.setdefault(aa, {})[bb] = cc
    return nxt


def diffusion_map(v: np.ndarray, faces: np.ndarray, north: Optional[int] = None,
                  south: Optional[int] = None, tris: Optional[np.ndarray] = None):
    """Initial parameterisation by heat diffusion (Brechbuehler et al. 1995).

    ``faces`` are the polygons whose edges define the neighbourhoods (quads for a voxel-face
    surface, as in the original method), outward and counter-clockwise.  Poles default to the
    vertices with the largest / smallest z (first in vertex order on ties).  Returns (u, info).
    """
    n = v.shape[0]
    A = adjacency(n, edges_of(faces)).astype(np.float64)
    deg = np.asarray(A.sum(axis=1)).ravel()
    if north is None:
        north = int(np.argmax(v[:, 2]))
    if south is None:
        south = int(np.argmin(v[:, 2]))
    L = sps.diags(deg) - A
    # latitude
    free = np.ones(n, dtype=bool)
    free[[north, south]] = False
    fi = np.flatnonzero(free)
    rhs = -(L[fi][:, [south]].toarray().ravel() * np.pi)
    theta = np.zeros(n)
    theta[south] = np.pi
    theta[fi] = spsolve(L[fi][:, fi].tocsc(), rhs)
    theta = np.clip(theta, 0.0, np.pi)
    # date line: steepest ascent of latitude from north to south
    path = [north]
    seen = {north}
    cur = north
    indptr, indices = A.indptr, A.indices
    while cur != south:
        nb = indices[indptr[cur]:indptr[cur + 1]]
        nb = nb[[x not in seen for x in nb.tolist()]]
        if len(nb) == 0:
            raise RuntimeError("date line search got stuck")
        cur = int(nb[np.argmax(theta[nb])])
        path.append(cur)
        seen.add(cur)
    nxt = _ring_next(faces)
    on_path = np.zeros(n, dtype=bool)
    on_path[path] = True
    b = np.zeros(n)
    for j in range(1, len(path) - 1):
        p, prev, nx = path[j], path[j - 1], path[j + 1]
        ring = nxt[p]
        w = ring[nx]
        guard = 0
        while w != prev and guard < 1000:
            if not on_path[w]:
                b[p] -= 2 * np.pi
                b[w] += 2 * np.pi
            w = ring[w]
            guard += 1
    keep = np.ones(n, dtype=bool)
    keep[[north, south]] = False
    ki = np.flatnonzero(keep)
    Lk = (sps.diags(np.asarray(A[ki][:, ki].sum(axis=1)).ravel()) - A[ki][:, ki]).tocsr()
    # fix the first path vertex to 0 (removes the constant null space)
    p0 = int(np.searchsorted(ki, path[1]))
    rest = np.ones(len(ki), dtype=bool)
    rest[p0] = False
    ri = np.flatnonzero(rest)
    phi_k = np.zeros(len(ki))
    phi_k[ri] = spsolve(Lk[ri][:, ri].tocsc(), b[ki][ri])
    phi = np.zeros(n)
    phi[ki] = phi_k
    st = np.sin(theta)
    u = np.stack([st * np.cos(phi), st * np.sin(phi), np.cos(theta)], axis=1)
    u[north] = [0, 0, 1]
    u[south] = [0, 0, -1]
    tri = tris if tris is not None else faces
    ok, nbad, tot = check_bijective(u, tri)
    if tot < 0:                               # longitude runs the wrong way: mirror
        u[:, 1] = -u[:, 1]
        ok, nbad, tot = check_bijective(u, tri)
    return u, {"north": north, "south": south, "dateline_len": len(path),
               "initial_bijective": ok, "initial_folded": nbad}


def cald_smooth(u: np.ndarray, v: np.ndarray, f: np.ndarray, iters: int = 100,
                local_iters: int = 10, step: float = 0.5, rel_tol: float = 2e-3):
    """Area-equalising smoothing of a spherical map (CALD-style).  Returns (u, info).

    Up to ``iters`` outer iterations, each recomputing the target area ratios and doing
    ``local_iters`` vectorised vertex moves; a move that folds a triangle that was not folded
    is undone for the vertices of that triangle (a triangle folded already, as a diffusion map
    of a thin mask can leave them, may move: undoing those undid every move and the map stayed
    folded).  Stops early when an outer iteration improves the mean
    |log area ratio| by less than ``rel_tol`` (relative) or moves no vertex.  Every rule is a
    function of the mesh and the map only (no clock), so repeated runs are bit-identical.
    """
    oa = face_areas(v, f)
    target = oa / oa.sum() * 4 * np.pi                  # sphere area each triangle should get
    n = u.shape[0]
    fr = f.ravel()
    x = u.copy()
    hist = []
    for _ in range(iters):
        moved = False
        for _ in range(local_iters):
            sa = np.maximum(spherical_signed_areas(x, f), 1e-18)
            w = sa / target                                # > 1: too big on the sphere
            cen = _normalise(x[f[:, 0]] + x[f[:, 1]] + x[f[:, 2]])
            wc = cen * w[:, None]
            acc = np.stack([np.bincount(fr, weights=np.repeat(wc[:, d], 3), minlength=n)
                            for d in range(3)], axis=1)
            tw = np.bincount(fr, weights=np.repeat(w, 3), minlength=n)
            tgt = _normalise(acc / tw[:, None])
            new = _normalise(x + step * (tgt - x))
            was_ok = spherical_signed_areas(x, f) > 0
            for _ in range(8):
                s = spherical_signed_areas(new, f)
                bad = (s <= 0) & was_ok
                if not bad.any():
                    break
                bv = np.unique(f[bad])
                new[bv] = x[bv]
            else:
                s = spherical_signed_areas(new, f)
                if ((s <= 0) & was_ok).any():
                    continue
            if np.max(np.abs(new - x)) > 1e-7:
                moved = True
            x = new
        sa = np.abs(spherical_signed_areas(x, f))
        hist.append(float(np.sum(oa / oa.sum() * np.abs(np.log(np.maximum(sa, 1e-18) / target)))))
        if not moved:
            break
        if len(hist) > 1 and hist[-2] - hist[-1] < rel_tol * hist[-2]:
            break
    return x, {"cald_iterations": len(hist),
               "cald_area_log_mean_final": hist[-1] if hist else float("nan")}


def _rank_cdf(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cumulative weight share at each sample, in the order of ``x`` (a step function)."""
    order = np.argsort(x, kind="stable")
    out = np.empty_like(x)
    out[order] = np.cumsum(w[order]) - 0.5 * w[order]
    return out


def _smooth_cdf(x: np.ndarray, w: np.ndarray, period: float, bins: int, sigma: float,
                mode: str) -> np.ndarray:
    """Cumulative weight share of ``x`` in [0, period]: histogram over ``bins`` bins smoothed by a
    Gaussian of ``sigma`` bins (``mode`` "wrap" for a periodic variable), 0.1% uniform mass so
    that it is strictly increasing, interpolated by a monotone cubic (PCHIP)."""
    from scipy.interpolate import PchipInterpolator
    from scipy.ndimage import gaussian_filter1d

    idx = np.clip((x / period * bins).astype(np.int64), 0, bins - 1)
    h = gaussian_filter1d(np.bincount(idx, weights=w, minlength=bins), sigma, mode=mode)
    h = (1.0 - 1e-3) * h / h.sum() + 1e-3 / bins
    c = np.r_[0.0, np.cumsum(h)]
    return PchipInterpolator(np.linspace(0.0, period, bins + 1), c / c[-1])(x)


def equalise_lat_lon(u: np.ndarray, v: np.ndarray, f: np.ndarray, bins: Optional[int] = None,
                     sigma: float = 2.0):
    """Monotone 1D re-mapping of latitude then longitude so that the object's area is spread
    over the sphere like the sphere's own area (cumulative object-area share below latitude
    theta -> sphere-area share ``(1 - cos theta') / 2``; same for longitude).  Monotone maps of
    each angle keep the map bijective up to rare thin triangles, which are checked by caller.

    ``bins=None``: the exact per-vertex cumulative share (a step function of the vertex rank, as
    in the reference mode).  ``bins=n``: the object-area histogram over ``n`` bins of the
    sphere-area coordinate ``(1 - cos theta) / 2`` (resp. of the longitude, periodic), smoothed
    by a Gaussian of ``sigma`` bins, with 0.1% uniform mass so that it is strictly increasing,
    and interpolated by a monotone cubic (PCHIP).  The smooth re-mapping folds far fewer thin
    triangles, so it is kept whole on re-voxelised copies of a tumour where the step function
    had to be cut back by different amounts (which made the fallback unstable; README).
    """
    n = u.shape[0]
    fr = f.ravel()
    oa = face_areas(v, f)
    w = np.bincount(fr, weights=np.repeat(oa / 3.0, 3), minlength=n)
    w /= w.sum()
    theta = np.arccos(np.clip(u[:, 2], -1, 1))
    phi = np.mod(np.arctan2(u[:, 1], u[:, 0]), 2 * np.pi)

    if bins is None:
        t_new = np.arccos(np.clip(1.0 - 2.0 * _rank_cdf(theta, w), -1, 1))
        p_new = 2 * np.pi * _rank_cdf(phi, w)
    else:
        s = 0.5 * (1.0 - np.cos(theta))              # sphere-area share below theta
        t_new = np.arccos(np.clip(1.0 - 2.0 * _smooth_cdf(s, w, 1.0, bins, sigma, "nearest"),
                                  -1, 1))
        p_new = 2 * np.pi * _smooth_cdf(phi, w, 2 * np.pi, bins, sigma, "wrap")
    # keep the poles exactly
    t_new[theta < 1e-12] = 0.0
    t_new[theta > np.pi - 1e-12] = np.pi
    st = np.sin(t_new)
    return np.stack([st * np.cos(p_new), st * np.sin(p_new), np.cos(t_new)], axis=1)


# ----------------------------------------------------------------------------- reference map
#: Work budget of the reference mode's CALD smoothing: outer iterations x mesh vertices.  It
#: replaces a 15 s wall-clock budget (results depended on the machine's load) by a count: large
#: enough that the shared tumours stop by convergence or at 100 iterations as before (README,
#: SPHARM section), small enough to bound the time on very large meshes.
CALD_VERTEX_BUDGET = 4_000_000


def cald_iteration_budget(n_vertices: int, iters: int = 100,
                          vertex_budget: int = CALD_VERTEX_BUDGET) -> int:
    """Outer CALD iterations allowed for a mesh of ``n_vertices``: ``min(iters, vertex_budget //
    n_vertices)``, at least 1.  A function of the mesh only: deterministic."""
    return int(max(1, min(int(iters), int(vertex_budget) // max(int(n_vertices), 1))))


def reference_map(v: np.ndarray, quads: np.ndarray, tris: np.ndarray, iters: int = 100,
                  local_iters: int = 10, vertex_budget: int = CALD_VERTEX_BUDGET):
    """Reference-mode parameterisation (SPHARM-MAT-like) of a voxel-face surface.  Returns
    (u, info).

    1. :func:`diffusion_map` on the quads (Brechbuehler 1995), poles at the z-extreme vertices.
    2. If that map is bijective, :func:`equalise_bijective` with exact per-vertex CDFs: as much
       of the latitude / longitude area equalisation as keeps it bijective (a few polar
       triangles can fold).
    3. :func:`cald_smooth` (Shen & Makedon 2006): up to :func:`cald_iteration_budget` outer
       iterations (``iters`` = 100, fewer on meshes over ``vertex_budget / iters`` vertices) of
       ``local_iters`` (10) local steps, stopping when an iteration gains < 0.2%.  No clock is
       involved: repeated runs are bit-identical on any machine.

    It follows the published algorithm but is not a bit-exact re-implementation of SPHARM-MAT
    (which the spec says depends on a no-op least-squares call of its Windows binary and
    un-centred coordinates), so published numbers are approached, not reproduced to 4 decimals.
    """
    u, info = diffusion_map(v, quads, tris=tris)
    if check_bijective(u, tris)[0]:
        u, tq = equalise_bijective(u, v, tris)
        info["lat_lon_equalised"] = tq
    budget = cald_iteration_budget(v.shape[0], iters, vertex_budget)
    u, cinfo = cald_smooth(u, v, tris, iters=budget, local_iters=local_iters)
    info.update(cinfo)
    info["cald_iteration_budget"] = budget
    ok, nbad, _ = check_bijective(u, tris)
    info.update(method="diffusion+cald", bijective=ok, folded=nbad)
    return u, info


# ----------------------------------------------------------------------------- heat inflation
def cot_laplacian(v: np.ndarray, f: np.ndarray, clamp: float = 1e3,
                  floor: Optional[float] = None) -> sps.csr_matrix:
    """Cotangent stiffness matrix ``L`` (edge weight ``(cot a + cot b) / 2``, ``a``, ``b`` the
    angles opposite the edge): the linear finite-element Laplace-Beltrami operator, positive
    semi-definite for any triangulation (each triangle adds a PSD 3 x 3 block).

    The weights are *not* clipped at 0: obtuse triangles give negative weights, and clipping
    them (an M-matrix) makes the operator depend on how the surface happens to be triangulated,
    i.e., for marching cubes, on the orientation of the voxel grid (README, SPHARM section: the
    main leak of orientation into the robust energies).  A near-degenerate
    sliver whose largest |weight| exceeds ``clamp`` has its three weights scaled down together
    (its block stays PSD).  ``floor`` (optional) clips each weight from below, as the earlier
    versions did with 0.
    """
    n = v.shape[0]
    W = np.empty((f.shape[0], 3))
    for k in range(3):
        i, j, o = f[:, (k + 1) % 3], f[:, (k + 2) % 3], f[:, k]
        a = v[i] - v[o]
        b = v[j] - v[o]
        cr = np.linalg.norm(np.cross(a, b), axis=1)
        W[:, k] = 0.5 * np.einsum("ij,ij->i", a, b) / np.maximum(cr, 1e-30)
    big = np.abs(W).max(axis=1)
    scale = np.where(big > clamp, clamp / np.maximum(big, 1e-300), 1.0)
    W *= scale[:, None]
    if floor is not None:
        W = np.maximum(W, floor)
    I, J, X = [], [], []
    for k in range(3):
        i, j = f[:, (k + 1) % 3], f[:, (k + 2) % 3]
        I += [i, j]
        J += [j, i]
        X += [W[:, k], W[:, k]]
    A = sps.coo_matrix((np.concatenate(X), (np.concatenate(I), np.concatenate(J))),
                       shape=(n, n)).tocsr()
    return (sps.diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsr()


def _splu_sym(A):
    """LU of a symmetric positive definite sparse matrix (symmetric ordering: 2x faster)."""
    from scipy.sparse.linalg import splu

    return splu(sps.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                options=dict(SymmetricMode=True))


def _whitened(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``x`` centred on its enclosed solid's centroid, second moments -> identity."""
    c, cov = solid_moments(x, f)
    w, Q = np.linalg.eigh(cov)
    return (x - c) @ (Q @ np.diag(1.0 / np.sqrt(np.maximum(w, 1e-12 * w.max()))) @ Q.T)


def heat_inflated_map(v: np.ndarray, f: np.ndarray, t_min: float = 1e-3, t_max: float = 1e3,
                      bisect: int = 6, extra: float = 2.0, fallback_kw: Optional[Dict] = None):
    """Robust-mode parameterisation.  Returns (u, info).

    1. The surface is whitened (centred on the enclosed solid's centroid, second moments ->
       identity) and projected radially onto the sphere; if no triangle folds (star-shaped
       tumour), that is the map (an ellipsoid gets its natural affine parameterisation).
    2. Otherwise the whitened surface is *inflated* by one implicit step of geometric heat flow,
       ``(M + t L) x_t = M x_0`` (``L`` the cotangent Laplacian, ``M`` the lumped vertex areas of
       the whitened surface), re-whitened (the flow shrinks elongated parts faster; whitening
       is affine, so it keeps star-shapedness but spreads the directions evenly) and projected.
       ``t`` is the smallest value, found by decades from ``t_min`` then ``bisect`` bisections in
       log t, whose projection is bijective, times ``extra`` (2) when that stays bijective.
       Unlike an iteration count of graph-Laplacian smoothing, ``x_t`` is a smooth function of
       ``t`` and of the geometry, nearly independent of the triangulation, so re-voxelised
       copies of a tumour get nearly the same map.
    3. If not even ``t_max`` makes it bijective (C- or ring-shaped tumours): :func:`robust_map`
       (graph-Laplacian inflation, then the heat-diffusion map with area equalisation).
    """
    x0 = _whitened(v, f)

    def test(xx):
        uu = radial_map(_whitened(xx, f), np.zeros(3))
        return uu, check_bijective(uu, f)[0]

    u, ok = test(x0)
    if ok:
        return u, {"method": "radial", "bijective": True, "folded": 0, "heat_t": 0.0}
    L0 = cot_laplacian(x0, f)
    m = vertex_areas(x0, f)
    Mm = sps.diags(m)
    rhs = m[:, None] * x0
    # one symbolic analysis for every t (the pattern of M + t L does not change); equal to
    # SuperLU's solution up to rounding, 2-3x faster per t (see _cholesky)
    chol = SparseCholesky(Mm + L0)

    def at(t):
        A = Mm + t * L0
        try:
            return chol.factor(A).solve(rhs)
        except np.linalg.LinAlgError:      # not positive definite: general LU
            return _splu_sym(A).solve(rhs)

    # bracket the smallest bijective t by decades from t_min, then bisect in log t
    lo, hi = None, np.log(t_min)
    while True:
        uh, okh = test(at(np.exp(hi)))
        if okh or hi >= np.log(t_max) - 1e-9:
            break
        lo, hi = hi, hi + np.log(10.0)
    if not okh:
        return robust_map(v, f, **(fallback_kw or {}))
    if lo is None:                          # already bijective at t_min: look two decades lower
        lo = hi - 2.0 * np.log(10.0)
    for _ in range(bisect):
        mid = 0.5 * (lo + hi)
        um, okm = test(at(np.exp(mid)))
        if okm:
            hi, uh = mid, um
        else:
            lo = mid
    t = float(np.exp(hi))
    if extra != 1.0:
        u2, ok2 = test(at(t * extra))
        if ok2:
            uh, t = u2, t * extra
    return uh, {"method": "heat_inflated", "bijective": True, "folded": 0, "heat_t": t}
