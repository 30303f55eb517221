"""The SPHARM pipeline: binary tumour mask -> FOE-aligned spherical-harmonic coefficients.

The tumour surface is mapped onto the unit sphere and its x, y, z coordinate functions expanded in
spherical harmonics up to degree 15 (Brechbuehler et al. 1995; SPHARM-MAT, Shen et al.).  The
coefficients, aligned by the first-order ellipsoid (FOE), give the shape descriptors of
:mod:`.features`.  :func:`spharm_decompose` runs the steps in this order:

1. **Input checks**: empty mask -> :class:`EmptyMaskError`; fewer than ``min_voxels`` (8) voxels
   or a tumour only one voxel thick along an axis (a single slice) -> :class:`TumourTooSmallError`.
   The mask is cropped to its bounding box and padded, so masks touching the image border work.
   Tumours fewer than ``LOW_RESOLUTION_EXTENT`` (5) voxels thick along some axis are flagged
   ``low_resolution``: re-digitising them alone changes their high-degree energies (README).
   Robust mode then puts the cropped mask in its :func:`canonical_pose` (one of the 48 axis
   permutations / flips of the grid, chosen from the mask's exact integer moments, ties broken
   by its bytes) and runs steps 2-5 there: an exact 90-degree rotation or flip of the input
   grid gives the same array, hence bit-identical descriptors, although marching cubes
   triangulates differently in different orientations.  The results are mapped back to the
   input's frame.  (Reference mode keeps the input's orientation: SPHARM-MAT's poles are the
   grid's z-extremes.)
2. **Surface** (:mod:`.mesh`): a closed genus-0 triangle mesh, Euler characteristic
   V - E + F = 2 checked; largest 6-connected component, cavities filled, handles removed by
   morphological closing of growing radius (convex hull as the last resort);
   ``diag_shape_topology_fixed`` says when any of this changed the mask.  Anisotropic grids
   (e.g. 5 mm slices) are resampled to an isotropic grid first (linear interpolation of the
   mask, threshold 0.5).

   * ``robust`` mode: grid step = equivalent-sphere radius / 20 (the mesh density relative to
     the tumour is the same at every size and scanner grid), Gaussian smoothing of one grid step,
     marching cubes at 0.5 (about 5,000-15,000 vertices).  ``interpolation="shape"`` replaces
     the linear interpolation of the mask by shape-based interpolation (linear interpolation of
     the signed distance to the other class's voxel centres; Raya & Udupa 1990), which removes
     the terraces of thick slices.
   * ``reference`` mode: the voxel-face surface (SPHARM-MAT), well-composed fix, upsampled by the
     smallest integer factor giving >= 10,000 vertices.
3. **Parameterisation** (:mod:`.parameterisation`; bijectivity checked and reported):

   * ``robust``: :func:`.parameterisation.heat_inflated_map`, radial projection from the
     centroid of the enclosed volume in the frame where the solid's second moments are the
     identity (whitened: an ellipsoid gets its natural affine map).  If some triangle folds
     (tumour not star-shaped), the same projection of the surface inflated by one implicit step
     of geometric heat flow ``(M + t L) x = M x_0`` (cotangent Laplacian, weights not clipped:
     clipping made it depend on the triangulation; re-whitened), with the smallest bijective
     ``t``, doubled; ``diag_shape_inflation_heat_time`` reports ``t``.
     ``x_t`` is a smooth function of the geometry, so the map barely depends on the
     triangulation.  C- or ring-shaped tumours that no ``t`` makes star-shaped get
     graph-Laplacian inflation, then the heat-diffusion map between the polar caps of the
     longest axis with smooth latitude / longitude area equalisation.
   * ``reference``: :func:`.parameterisation.reference_map`, the heat-diffusion latitude /
     longitude map between the two z-extreme vertices with a date line (Brechbuehler 1995), a
     monotone latitude / longitude area equalisation (ours: it removes most of the global
     distortion in milliseconds), then CALD-style area-equalising local smoothing (Shen &
     Makedon 2006), implemented from the papers, stopped by convergence or a deterministic
     iteration budget (never by a clock: repeated runs are bit-identical).
4. **Fit** (:mod:`.basis`): least squares on all vertices with real orthonormal harmonics to
   ``max_degree`` (15): ``(L+1)^2 = 256`` coefficients per coordinate.  Robust mode weights each
   vertex by the spherical area it represents (an approximation of the L2 projection on the
   sphere); reference mode is unweighted as SPHARM-MAT.
5. **FOE alignment** (:func:`foe_align`): the degree-1 coefficients define the ellipsoid
   ``X(u) = c0 + M u``; with ``M = U S V^T`` (singular values ascending, so x is the shortest and
   z the longest axis, the north pole on the longest axis), the parameter sphere is rotated by
   ``V`` (coefficients rotated exactly by quadrature, since the degree-<=L space is rotation
   invariant) and the object by ``U^T``.  ``det V = +1``; the remaining 180-degree ambiguities are
   fixed by making the third moments of the aligned surface along x and y non-negative.  Degree 0
   (position) is removed.

Coordinates: the mask array is (z, y, x) as SimpleITK returns it; spacing is (x, y, z) in mm.
Meshes and coefficients are in physical LPS millimetres when ``origin`` / ``direction`` are given
(SimpleITK's physical space, which Slicer converts to RAS), otherwise in the voxel-aligned frame
with voxel (0, 0, 0)'s centre at the origin.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import (EmptyMaskError, ImageDimensionError, InvalidImageValuesError,
                      TumourTooSmallError)
from . import basis as B
from . import mesh as M
from . import parameterisation as P

__all__ = ["SpharmResult", "spharm_decompose", "canonical_pose", "foe_rotations", "foe_align",
           "reconstruct", "MODES", "INTERPOLATIONS", "DEFAULT_MAX_DEGREE", "LOW_RESOLUTION_EXTENT"]

MODES = ("robust", "reference")
INTERPOLATIONS = ("linear", "shape")
DEFAULT_MAX_DEGREE = 15
LOW_RESOLUTION_EXTENT = 5      # voxels; thinner tumours are flagged ``low_resolution``


@dataclass
class SpharmResult:
    """Result of :func:`spharm_decompose`.

    ``coef`` real-basis coefficients ((L+1)^2 x 3, rows ``l*l + l + m``, columns x, y, z) of the
    surface in physical (or voxel-aligned) mm, for the FOE-aligned parameter sphere;
    ``coef_aligned`` the same for the object rotated into its FOE frame with degree 0 removed
    (what the descriptors use).  ``complex_coef`` / ``complex_coef_aligned`` give the ``Y_l^m``
    coefficients (see :mod:`.basis` for the conventions).  ``vertices`` / ``faces`` are the
    surface mesh that was parameterised, ``sphere`` its vertices' positions on the (aligned) unit
    sphere.
    """

    coef: np.ndarray
    coef_aligned: np.ndarray
    max_degree: int
    mode: str
    vertices: np.ndarray
    faces: np.ndarray
    sphere: np.ndarray
    rotation_object: np.ndarray      # U: columns = FOE axes (ascending) in the output frame
    rotation_param: np.ndarray       # V: parameter rotation applied
    radius_mm: float
    volume_mm3: float
    diagnostics: Dict[str, Any] = field(default_factory=dict)

    @property
    def complex_coef(self) -> np.ndarray:
        return B.real_to_complex(self.coef)

    @property
    def complex_coef_aligned(self) -> np.ndarray:
        return B.real_to_complex(self.coef_aligned)

    @property
    def foe_semi_axes_mm(self) -> np.ndarray:
        """Semi-axes of the first-order ellipsoid (ascending), mm."""
        c1 = self.coef_aligned[1:4]
        return np.sqrt((c1 ** 2).sum(axis=0)) / np.sqrt(4 * np.pi / 3)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable summary (coefficients as nested lists)."""
        cc = self.complex_coef_aligned
        return {
            "mode": self.mode, "max_degree": self.max_degree,
            "convention": "rows l*l+l+m (l=0..L, m=-l..l); columns x,y,z; real orthonormal "
                          "harmonics without Condon-Shortley phase; complex = Y_l^m with it",
            "coef_real_mm": self.coef.tolist(),
            "coef_aligned_real_mm": self.coef_aligned.tolist(),
            "coef_aligned_complex_mm": {"real": cc.real.tolist(), "imag": cc.imag.tolist()},
            "rotation_object": self.rotation_object.tolist(),
            "rotation_param": self.rotation_param.tolist(),
            "radius_mm": self.radius_mm, "volume_mm3": self.volume_mm3,
            "diagnostics": {k: (v.item() if isinstance(v, np.generic) else v)
                            for k, v in self.diagnostics.items()},
        }


# ----------------------------------------------------------------------------- 1. input checks
def _check_mask(mask, spacing_xyz, source, min_voxels):
    """(bool mask, spacing, voxel count, (lo, hi) bounding box z, y, x) or an error."""
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ImageDimensionError(f"mask must be 3D, got {m.ndim}D array", source=source)
    if m.dtype != bool:
        if np.issubdtype(m.dtype, np.floating) and not np.all(np.isfinite(m)):
            raise InvalidImageValuesError("mask holds NaN / infinite values", source=source)
        m = m > 0
    sp = np.asarray(spacing_xyz, dtype=np.float64).ravel()
    if sp.shape != (3,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(f"{source}: spacing must be three positive numbers (x, y, z), got "
                         f"{spacing_xyz!r}")
    n = int(np.count_nonzero(m))
    if n == 0:
        raise EmptyMaskError("mask has no foreground voxel", source=source)
    if n < min_voxels:
        raise TumourTooSmallError(
            f"tumour has {n} voxel(s); SPHARM shape needs at least {min_voxels}", source=source)
    lo, hi = [], []
    for ax in range(3):
        idx = np.flatnonzero(m.any(axis=tuple(a for a in range(3) if a != ax)))
        lo.append(int(idx[0]))
        hi.append(int(idx[-1]) + 1)
    nz = (np.array(lo), np.array(hi))
    ext = [h - l for l, h in zip(lo, hi)]
    if min(ext) < 2:
        axis = "zyx"[int(np.argmin(ext))]
        raise TumourTooSmallError(
            f"tumour is one voxel thick along {axis} (extent z,y,x = {ext} voxels): too thin to "
            f"define a 3D surface", source=source)
    return m, sp, n, nz


# ----------------------------------------------------------------------------- 1b. canonical pose
def _axis_moments(m: np.ndarray, axis: int) -> Tuple[int, int, int]:
    """Exact integer moments of the voxel indices along ``axis``: (n, n^2 * variance,
    n^3 * third central moment), in voxel units (Python integers: no rounding, no overflow)."""
    counts = np.count_nonzero(m, axis=tuple(a for a in range(3) if a != axis))
    i = np.arange(counts.size, dtype=object)
    c = counts.astype(object)
    n = int(c.sum())
    s1, s2, s3 = int((i * c).sum()), int((i * i * c).sum()), int((i * i * i * c).sum())
    return n, n * s2 - s1 * s1, n * n * s3 - 3 * n * s1 * s2 + 2 * s1 ** 3


def canonical_pose(mask_zyx: np.ndarray, spacing_xyz: Sequence[float]):
    """The mask in a canonical orientation among the 48 exact grid symmetries (axis permutations
    and flips), so that any exact 90-degree rotation or flip of the input grid gives the same
    array and spacing, hence bit-identical descriptors, whatever step downstream depends on the
    grid's orientation (marching-cubes triangulation, vertex order, tie-breaks).

    Rule (a function of each axis' own data, so the same for every rotated / flipped copy): the
    axes are ordered by ascending physical variance of the voxel positions, then spacing, then
    extent; each axis is flipped so that its third central moment is positive.  Moments are
    exact integers (voxel units; the variance then times the squared spacing).  Remaining ties
    (equal axis keys, zero third moments: symmetric masks) are broken by taking, among the
    candidates, the one whose packed voxel bytes are lexicographically smallest.

    ``mask_zyx``: bool array (cropped); ``spacing_xyz``: (x, y, z) mm.  Returns ``(mask, spacing,
    A, b)``: the canonical mask (z, y, x), its spacing (x, y, z), and the affine map from the
    canonical array's voxel-aligned frame to the input's, ``p_in = A @ p_can + b`` (x, y, z mm;
    ``A`` a signed permutation matrix, ``det A = -1`` for a reflection).
    """
    from itertools import permutations, product

    m = np.asarray(mask_zyx, dtype=bool)
    s_zyx = np.asarray(spacing_xyz, dtype=np.float64)[::-1]
    keys, m3 = [], []
    for ax in range(3):
        n, M2, M3 = _axis_moments(m, ax)
        var = float(s_zyx[ax]) ** 2 * M2 / float(n) ** 2 if n else 0.0
        keys.append((var, float(s_zyx[ax]), int(m.shape[ax]), M2))
        m3.append(M3)
    base = sorted(range(3), key=lambda a: keys[a])
    perms = [p for p in permutations(range(3))
             if all(keys[p[k]] == keys[base[k]] for k in range(3))]
    cands = []
    for perm in perms:
        flip_opts = [((False, True) if m3[perm[k]] == 0 else (m3[perm[k]] < 0,))
                     for k in range(3)]
        for flips in product(*flip_opts):
            c = np.transpose(m, perm)
            c = c[tuple(slice(None, None, -1) if fl else slice(None) for fl in flips)]
            cands.append((perm, flips, c))
    if len(cands) > 1:
        cands.sort(key=lambda t: np.packbits(t[2], axis=None).tobytes())
    perm, flips, c = cands[0]
    sp_c = s_zyx[list(perm)]
    # canonical axis k (z, y, x order) is input axis perm[k], reversed when flipped
    Az = np.zeros((3, 3))
    bz = np.zeros(3)
    for k in range(3):
        if flips[k]:
            Az[perm[k], k] = -1.0
            bz[perm[k]] = (c.shape[k] - 1) * sp_c[k]
        else:
            Az[perm[k], k] = 1.0
    R = np.eye(3)[::-1]                                     # (x, y, z) <-> (z, y, x)
    return np.ascontiguousarray(c), tuple(float(x) for x in sp_c[::-1]), R @ Az @ R, R @ bz


# ----------------------------------------------------------------------------- 5. FOE alignment
def foe_rotations(coef: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FOE rotations from degree-1 coefficients: (U object axes, V parameter rotation, s).

    ``X(u) = c0 + M u`` with ``M = U diag(s) V^T``, singular values ``s`` ascending (z = the
    longest axis), ``det V = +1``.
    """
    # rows 1,2,3 = (l=1, m=-1 ~ y), (m=0 ~ z), (m=1 ~ x); X(u) = c0 + sqrt(3/4pi) * Bm @ u
    Bm = coef[[3, 1, 2]].T * np.sqrt(3.0 / (4 * np.pi))     # 3 (coords) x 3 (u_x, u_y, u_z)
    U, s, Vt = np.linalg.svd(Bm)
    order = np.argsort(s, kind="stable")                     # ascending: z = longest axis
    U, s, V = U[:, order], s[order], Vt.T[:, order]
    if np.linalg.det(V) < 0:
        V[:, 0] *= -1
        U[:, 0] *= -1
    return U, V, s


def foe_align(coef: np.ndarray, u: np.ndarray, v: np.ndarray, f: np.ndarray):
    """FOE alignment of fitted coefficients ``coef`` ((L+1)^2 x 3) of the surface (``v``, ``f``)
    parameterised by ``u``.

    The parameter sphere is rotated by :func:`foe_rotations`' ``V`` (``u' = V^T u``; the
    coefficients are rotated exactly, identical to refitting), then both frames are turned by
    180 degrees where needed so that the third moments of the aligned surface (area-weighted
    vertices) along x and y are non-negative.  Returns ``(coef_rot, coef_aligned, U, V, u')``:
    ``coef_rot`` the coefficients of the object on the rotated sphere, ``coef_aligned`` those of
    the object rotated by ``U^T`` with degree 0 (position) removed.
    """
    L = int(round(np.sqrt(coef.shape[0]))) - 1
    Uo, Vp, _ = foe_rotations(coef)
    u2 = u @ Vp                                             # u' = V^T u (rows)
    coef_rot = B.rotate_coefficients(coef, Vp)
    # sign rules on the aligned object: third moments along x and y non-negative
    centre = coef_rot[0] / np.sqrt(4 * np.pi)
    w_obj = M.vertex_areas(v, f)
    Y = (v - centre) @ Uo
    sk = (w_obj[:, None] * Y ** 3).sum(axis=0)
    flip = np.ones(3)
    if sk[0] < 0:
        flip[[0, 2]] *= -1
    if sk[1] * flip[1] < 0:
        flip[[1, 2]] *= -1
    if np.any(flip < 0):
        # a 180-degree turn of both frames; on the sphere it only changes coefficient signs
        Uo = Uo * flip[None, :]
        Vp = Vp * flip[None, :]
        u2 = u @ Vp
        coef_rot = coef_rot * B.reflection_signs(L, flip)[:, None]
    coef_al = coef_rot @ Uo
    coef_al[0] = 0.0
    return coef_rot, coef_al, Uo, Vp, u2


# ----------------------------------------------------------------------------- the pipeline
def spharm_decompose(mask_zyx: np.ndarray, spacing_xyz: Sequence[float], mode: str = "robust",
                     max_degree: int = DEFAULT_MAX_DEGREE, origin: Optional[Sequence[float]] = None,
                     direction: Optional[Sequence[float]] = None, source: Optional[str] = None,
                     min_voxels: int = 8, rel_step: float = 1.0 / 20.0,
                     min_vertices: int = 10000, cald_iterations: int = 100,
                     cald_local_iterations: int = 10,
                     cald_vertex_budget: int = P.CALD_VERTEX_BUDGET,
                     voxel_smooth: float = 0.0, smooth_sigma: float = 1.0,
                     interpolation: str = "linear", blas_threads: int = 1) -> SpharmResult:
    """SPHARM decomposition of a binary tumour mask (see the module docstring for the method).

    ``mask_zyx``: 3D array (z, y, x), nonzero = tumour.  ``spacing_xyz``: voxel size in mm.
    ``origin`` (x, y, z) and ``direction`` (9 numbers, row-major, SimpleITK's ``GetDirection()``)
    put coefficients and meshes in physical LPS space.  ``mode``: ``"robust"`` (default) or
    ``"reference"``.  ``interpolation`` (robust mode): how the mask is brought to the isotropic
    mesh grid, ``"linear"`` (default; linear interpolation + threshold 0.5, as IBSI recommends
    for masks) or ``"shape"`` (shape-based interpolation of the signed distance: contours morph
    between thick slices instead of forming terraces; closer to the true shape on 2-5 mm slices,
    see README).  ``cald_iterations`` / ``cald_local_iterations`` / ``cald_vertex_budget``
    (reference mode): the CALD smoothing's outer and local iterations and its deterministic work
    budget (:func:`.parameterisation.cald_iteration_budget`; no wall-clock limit, so the same
    mask gives the same result on any machine).  Raises :class:`EmptyMaskError` /
    :class:`TumourTooSmallError` on bad input.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    kw = dict(mode=mode, max_degree=max_degree, origin=origin, direction=direction,
              source=source, min_voxels=min_voxels, rel_step=rel_step,
              min_vertices=min_vertices, cald_iterations=cald_iterations,
              cald_local_iterations=cald_local_iterations, cald_vertex_budget=cald_vertex_budget,
              voxel_smooth=voxel_smooth, smooth_sigma=smooth_sigma,
              interpolation=interpolation)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        threadpool_limits = None
    if threadpool_limits is not None and blas_threads:
        # Small dense problems: one BLAS thread is much faster than several competing ones;
        # cohort runs parallelise over cases instead.  The limit is a process-wide setting
        # (and per thread for OpenMP): with two threads of one process decomposing at once
        # (a Dask worker's threads), the first to finish would lift it while the other still
        # computes, and that one's long sums would change in the last bits.  One decomposition
        # at a time per process keeps the coefficients the same bit for bit however a cohort
        # is run (processes, the default, are not serialised).
        with _DECOMPOSE_LOCK, threadpool_limits(limits=int(blas_threads)):
            return _decompose(mask_zyx, spacing_xyz, **kw)
    return _decompose(mask_zyx, spacing_xyz, **kw)


_DECOMPOSE_LOCK = threading.Lock()


def _decompose(mask_zyx, spacing_xyz, mode, max_degree, origin, direction, source, min_voxels,
               rel_step, min_vertices, cald_iterations, cald_local_iterations, cald_vertex_budget,
               voxel_smooth, smooth_sigma, interpolation="linear") -> SpharmResult:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    L = int(max_degree)
    if L < 1:
        raise ValueError("max_degree must be >= 1")
    t0 = time.perf_counter()
    # 1. mask: checks, crop
    m, sp, nvox, (lo, hi) = _check_mask(mask_zyx, spacing_xyz, source, min_voxels)
    crop = m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    shift = lo[::-1] * sp                                  # crop origin in the local mm frame
    diag: Dict[str, Any] = {"mode": mode, "n_voxels": nvox}
    ext = hi - lo
    diag["min_extent_voxels"] = int(ext.min())
    diag["low_resolution"] = bool(ext.min() < LOW_RESOLUTION_EXTENT)

    # 2. mask -> closed genus-0 surface mesh.  Robust mode works in the canonical pose of the
    # crop (steps 2-5 then see the same array for every exact rotation / flip of the grid) and
    # maps the results back to the crop's frame afterwards: p = A p_can + b.
    if mode == "robust":
        crop_c, sp_c, A, b = canonical_pose(crop, sp)
        v, tris, sinfo = M.smooth_surface(crop_c, sp_c, rel_step=rel_step,
                                          voxel_smooth=voxel_smooth, smooth_sigma=smooth_sigma,
                                          shape_based=(interpolation == "shape"))
        diag["interpolation"] = interpolation
        volume = float(nvox * np.prod(sp_c))
    else:
        v, quads, tris, sinfo = M.voxel_face_surface(crop, sp, min_vertices=min_vertices)
        v = v + shift[None, :]
        A, b = np.eye(3), np.zeros(3)
        volume = float(nvox * np.prod(sp))
    diag["topology_fixed"] = bool(sinfo.get("fixed", False))
    diag["topology_fix"] = M.describe_topology_fix(sinfo)
    diag["euler"] = int(sinfo.get("euler", M.euler_characteristic(v.shape[0], tris)))
    diag["n_vertices"] = int(v.shape[0])
    diag["n_faces"] = int(tris.shape[0])
    if mode == "reference":
        diag["upsample_factor"] = int(sinfo.get("upsample_factor", 1))
    # the fit needs a vertex per coefficient: checked before the (slow) parameterisation
    nfit = v.shape[0]
    if nfit < (L + 1) ** 2:
        raise TumourTooSmallError(
            f"surface has {nfit} vertices, fewer than the {(L + 1) ** 2} coefficients of degree "
            f"{L} (max_degree, --max-degree); this mask allows degree {math.isqrt(nfit) - 1} at most",
            source=source)
    t_surf = time.perf_counter()

    # 3. surface -> unit sphere
    if mode == "robust":
        u, pinfo = P.heat_inflated_map(v, tris)
        weights = P.sphere_vertex_areas(u, tris)
    else:
        u, pinfo = P.reference_map(v, quads, tris, iters=cald_iterations,
                                   local_iters=cald_local_iterations,
                                   vertex_budget=cald_vertex_budget)
        weights = None
    if mode == "reference" and not pinfo.get("bijective", False):
        # descriptors of a folded map are meaningless (audit: a thin staircase gave
        # shape_energy_l1 3267 and a 13 m scale for a 20 mm object, with no error)
        raise TumourTooSmallError(
            f"the reference-mode (CALD) map of this surface folds {int(pinfo.get('folded', 0))}"
            f" of {len(tris)} triangles (a thin or elongated mask): its SPHARM descriptors "
            f"would be meaningless; the robust mode (--shape-mode robust) maps it", source=source)
    diag["param_method"] = pinfo.get("method")
    diag["bijective"] = bool(pinfo.get("bijective", False))
    diag["folded_triangles"] = int(pinfo.get("folded", 0))
    # the same keys in the same order for every tumour (empty where a step did not run), so
    # that single-case tables have the same columns
    diag["inflation_iters"] = int(pinfo["smoothing_iters"]) if "smoothing_iters" in pinfo \
        else None
    diag["inflation_heat_time"] = float(pinfo["heat_t"]) if "heat_t" in pinfo else None
    diag["cald_iterations"] = int(pinfo["cald_iterations"]) if "cald_iterations" in pinfo \
        else None
    diag["cald_iteration_budget"] = int(pinfo["cald_iteration_budget"]) \
        if "cald_iteration_budget" in pinfo else None
    dist = P.area_distortion(u, v, tris)
    diag["area_distortion_log_mean"] = dist["area_log_mean"]
    diag["area_ratio_p05"] = dist["area_ratio_p05"]
    diag["area_ratio_p95"] = dist["area_ratio_p95"]
    t_param = time.perf_counter()

    # 4. least-squares fit of the x, y, z coordinates in spherical harmonics
    coef0, rms = B.lstsq_fit(u, v, L, weights)
    # 5. FOE alignment of the parameter sphere and of the object
    coef, coef_al, Uo, Vp, u2 = foe_align(coef0, u, v, tris)
    radius = M.mean_radius(v, tris, area_weighted=(mode == "robust"))
    diag["fit_rms_mm"] = rms
    diag["fit_rms_rel"] = rms / max(radius, 1e-12)
    t_fit = time.perf_counter()

    # physical frame: canonical pose -> crop (A, b), crop -> local mm frame (shift) -> LPS (D, o)
    D = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64).reshape(3, 3)
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
    if mode == "robust":
        b = b + shift
    DA = D @ A
    off = D @ b + o
    v_phys = v @ DA.T + off
    coef_phys = coef @ DA.T
    coef_phys[0] += off * np.sqrt(4 * np.pi)
    faces = tris if np.linalg.det(DA) > 0 else tris[:, [0, 2, 1]]
    diag["time_surface_s"] = t_surf - t0
    diag["time_param_s"] = t_param - t_surf
    diag["time_fit_s"] = t_fit - t_param
    res = SpharmResult(coef=coef_phys, coef_aligned=coef_al, max_degree=L, mode=mode,
                       vertices=v_phys, faces=faces, sphere=u2, rotation_object=DA @ Uo,
                       rotation_param=Vp, radius_mm=float(radius),
                       volume_mm3=volume, diagnostics=diag)
    ax = res.foe_semi_axes_mm
    for i in range(3):
        diag[f"foe_semi_axis_mm_{i + 1}"] = float(ax[i])
    return res


# ----------------------------------------------------------------------------- reconstruction
def reconstruct(result_or_coeffs: Union[SpharmResult, np.ndarray], degree: Optional[int] = None,
                n_subdiv: int = 4, aligned: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Surface rebuilt from the coefficients up to ``degree``: (vertices (N x 3) mm, faces).

    Samples an icosphere (``n_subdiv`` subdivisions: 4 -> 2,562 vertices, 5 -> 10,242).  With a
    :class:`SpharmResult`, vertices are in its output frame (physical LPS mm when the mask's
    origin / direction were given), or in the FOE frame centred at 0 with ``aligned=True``.
    A bare coefficient array ((L+1)^2 x 3, real convention of :mod:`.basis`) is used as is.
    """
    if isinstance(result_or_coeffs, SpharmResult):
        coef = result_or_coeffs.coef_aligned if aligned else result_or_coeffs.coef
    else:
        coef = np.asarray(result_or_coeffs)
        if np.iscomplexobj(coef):
            coef = B.complex_to_real(coef)
    Lmax = int(round(np.sqrt(coef.shape[0]))) - 1
    d = Lmax if degree is None else int(degree)
    if d < 0 or d > Lmax:
        raise ValueError(f"degree must be in 0..{Lmax}, got {degree}")
    u, f = B.icosphere(n_subdiv)
    X = B.real_basis(u, d) @ coef[:(d + 1) ** 2]
    return X, M.orient_outward(X - X.mean(0), f)
