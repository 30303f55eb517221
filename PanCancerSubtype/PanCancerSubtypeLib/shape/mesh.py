"""Closed genus-0 surfaces from binary masks, mesh utilities and mesh files (SPHARM step 2).

Two surface builders:

* :func:`smooth_surface` (robust mode): the mask is resampled to an isotropic grid whose spacing
  is a fixed fraction of the tumour's equivalent-sphere radius (so the mesh density relative to
  the tumour does not depend on its size or on the scanner grid), its largest connected component
  kept, holes filled, handles closed, and a marching-cubes surface extracted at level 0.5 from the
  mask smoothed with a Gaussian of one grid step.
* :func:`voxel_face_surface` (reference mode): the surface made of the voxels' boundary faces, as
  SPHARM-MAT uses it, after making the voxel set *well-composed* (every 2x2x2 block has 6-connected
  foreground and background, which makes the face surface a 2-manifold), on a mask upsampled by an
  integer factor until the surface has at least ``min_vertices`` (10,000) vertices.

Topology fix (both, deterministic): keep the largest 6-connected component (ties: the first in
scan order), fill cavities (background not connected to the outside), then, while the Euler
characteristic V - E + F of the surface is not 2 (a handle / tunnel), apply a morphological closing
with a ball of growing radius (1, 2, ... ``max_closing`` grid voxels) to the component; if that
does not reach genus 0, the convex hull of the component is used.  Whether anything was changed is
reported (``topology_fixed``) with the description of the fix (:func:`describe_topology_fix`).

Mesh utilities (edges, Euler characteristic, areas, volume, centroid, :func:`mean_radius`) serve
the other steps; :func:`write_mesh` writes a mesh as .obj / .stl / .ply.

All coordinates here are in millimetres in the *voxel-aligned* frame of the input array: x along
the last array axis, y the middle, z the first, origin at the centre of voxel (0, 0, 0).
"""
from __future__ import annotations

import os
import struct
from typing import Dict, Tuple

import numpy as np
from scipy import ndimage as ndi


# ----------------------------------------------------------------------------- mesh utilities
def edges_of(faces: np.ndarray) -> np.ndarray:
    f = np.asarray(faces)
    k = f.shape[1]
    e = np.concatenate([f[:, [i, (i + 1) % k]] for i in range(k)])
    return np.sort(e, axis=1)


def _edge_keys(faces: np.ndarray) -> np.ndarray:
    e = edges_of(faces).astype(np.int64)
    return e[:, 0] * (int(faces.max()) + 1) + e[:, 1]


def euler_characteristic(n_vertices: int, faces: np.ndarray) -> int:
    n_edges = len(np.unique(_edge_keys(faces)))
    return int(n_vertices - n_edges + faces.shape[0])


def is_closed_manifold(faces: np.ndarray) -> bool:
    """Every edge shared by exactly two faces (closed, edge-manifold)."""
    _, counts = np.unique(_edge_keys(faces), return_counts=True)
    return bool(np.all(counts == 2))


def signed_volume(v: np.ndarray, f: np.ndarray) -> float:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def volume_centroid(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    vol = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    tot = vol.sum()
    if abs(tot) < 1e-12:
        return v.mean(axis=0)
    return ((a + b + c) / 4.0 * vol[:, None]).sum(axis=0) / tot


def face_areas(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)


def vertex_areas(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """One third of the adjacent triangles' area per vertex."""
    a = face_areas(v, f) / 3.0
    return np.bincount(f.ravel(), weights=np.repeat(a, 3), minlength=v.shape[0])


def largest_mesh_component(v: np.ndarray, f: np.ndarray):
    """Keep the connected piece of the mesh with the largest |enclosed volume|."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = edges_of(f)
    n = v.shape[0]
    g = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    ncomp, lab = connected_components(g, directed=False)
    if ncomp == 1:
        return v, f, 1
    flab = lab[f[:, 0]]
    best, best_vol = 0, -1.0
    for c in range(ncomp):
        ff = f[flab == c]
        if len(ff) == 0:
            continue
        vol = abs(signed_volume(v, ff))
        if vol > best_vol:
            best, best_vol = c, vol
    keep_f = f[flab == best]
    used = np.unique(keep_f)
    remap = -np.ones(n, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return v[used], remap[keep_f], ncomp


def orient_outward(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    if signed_volume(v, f) < 0:
        f = f[:, [0, 2, 1]]
    return f


def mean_radius(v: np.ndarray, f: np.ndarray, area_weighted: bool = True) -> float:
    """Mean distance of the surface from its centroid (the descriptors' size ``R``, mm).

    ``area_weighted``: centroid and mean weighted by :func:`vertex_areas` (the surface integral,
    independent of the mesh density; robust mode); otherwise the plain vertex mean, SPHARM-MAT's
    ``radius`` (reference mode).
    """
    if not area_weighted:
        c = v.mean(axis=0)
        return float(np.linalg.norm(v - c, axis=1).mean())
    w = vertex_areas(v, f)
    c = (w[:, None] * v).sum(0) / w.sum()
    return float((w * np.linalg.norm(v - c, axis=1)).sum() / w.sum())


# ----------------------------------------------------------------------------- mask topology
_BALLS: Dict[int, np.ndarray] = {}


def _ball(r: int) -> np.ndarray:
    if r not in _BALLS:
        g = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1]
        _BALLS[r] = (g ** 2).sum(0) <= r * r + 0.5
    return _BALLS[r]


def largest_component(b: np.ndarray) -> Tuple[np.ndarray, int]:
    lab, n = ndi.label(b)  # 6-connectivity
    if n <= 1:
        return b.copy(), n
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes)), n


def clean_topology(b: np.ndarray, surface_fn, max_closing: int = 6):
    """Largest component + cavities filled + closing until ``surface_fn(b)`` has Euler char 2.

    ``b`` must be padded (background on all borders, at least ``max_closing + 1`` voxels).
    ``surface_fn(b) -> (v, f)``.  Returns ``(b, v, f, info)``.
    """
    info = {"n_components": 0, "holes_filled": 0, "closing_radius": 0, "convex_hull": False}
    comp, n = largest_component(b)
    info["n_components"] = int(n)
    info["left_out_fraction"] = float(1.0 - comp.sum() / max(int(b.sum()), 1))
    filled = ndi.binary_fill_holes(comp)
    info["holes_filled"] = int(filled.sum() - comp.sum())
    cur = filled
    v, f = surface_fn(cur)
    chi = euler_characteristic(v.shape[0], f)
    r = 0
    while chi != 2 and r < max_closing:
        r += 1
        closed = ndi.binary_closing(filled, structure=_ball(r))
        closed, _ = largest_component(closed | filled)
        cur = ndi.binary_fill_holes(closed)
        v, f = surface_fn(cur)
        chi = euler_characteristic(v.shape[0], f)
        info["closing_radius"] = r
    if chi != 2:
        from skimage.morphology import convex_hull_image

        cur = convex_hull_image(filled)
        v, f = surface_fn(cur)
        chi = euler_characteristic(v.shape[0], f)
        info["convex_hull"] = True
    info["euler"] = int(chi)
    info["fixed"] = bool(n > 1 or info["holes_filled"] > 0 or info["closing_radius"] > 0
                         or info["convex_hull"] or info.get("well_composed_added", 0) > 0)
    return cur, v, f, info


def describe_topology_fix(info: Dict) -> str:
    """One line naming what the topology fix changed (``info`` of :func:`clean_topology`, or of
    a surface builder), empty when nothing."""
    parts = []
    if info.get("n_components", 1) > 1:
        left = info.get("left_out_fraction")
        parts.append(f"kept largest of {info['n_components']} components" + (
            f" ({100 * left:.0f}% of the mask left out)" if left is not None else ""))
    if info.get("holes_filled", 0):
        parts.append(f"filled {info['holes_filled']} cavity voxels")
    if info.get("well_composed_added", 0):
        parts.append(f"added {info['well_composed_added']} voxels (well-composed)")
    if info.get("closing_radius", 0):
        parts.append(f"closing radius {info['closing_radius']}")
    if info.get("convex_hull"):
        parts.append("convex hull")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- robust surface
def resample_isotropic(mask: np.ndarray, spacing_xyz, h: float, pad: int, order: int = 1,
                       shape_based: bool = False):
    """Resample a cropped bool mask (z, y, x) to isotropic spacing ``h`` (mm).

    Linear interpolation of the 0/1 mask (Gaussian anti-aliasing first along axes that are
    down-sampled; the IBSI-recommended mask interpolation), or with ``order=0`` nearest
    neighbour (the mask as a union of voxel cubes), or with ``shape_based=True`` shape-based
    interpolation (Raya & Udupa 1990; Herman et al. 1992): linear interpolation of the signed
    distance (mm) to the nearest voxel centre of the other class, so that contours morph
    between thick slices instead of forming terraces; the field is then
    ``clip(0.5 - phi / 2h, 0, 1)`` (level 0.5 = the interpolated boundary).  Returns (float
    field on the new grid, padded by ``pad`` zeros on every side, the mm position of new voxel
    (0,0,0) in the input's voxel-aligned frame (x, y, z)).
    """
    sp_zyx = np.asarray(spacing_xyz, dtype=np.float64)[::-1]
    # one voxel of background around the crop, so that the new grid covers the outer faces of
    # the outermost voxels (otherwise the tumour would be cut at its bounding box)
    m = np.pad(mask.astype(np.float32), 1)
    sig = 0.5 * np.sqrt(np.maximum((h / sp_zyx) ** 2 - 1.0, 0.0))
    if np.any(sig > 0.3) and order > 0 and not shape_based:
        m = ndi.gaussian_filter(m, sigma=sig, mode="constant")
    ext = (np.array(m.shape) - 1) * sp_zyx              # physical extent between voxel centres
    n = np.floor(ext / h).astype(int) + 1
    start = (ext - (n - 1) * h) / 2.0                   # centre the new grid on the old one
    axes = [start[i] + h * np.arange(n[i]) for i in range(3)]
    idx = np.meshgrid(*[a / sp_zyx[i] for i, a in enumerate(axes)], indexing="ij")
    if shape_based:
        mb = np.pad(mask.astype(bool), 2)
        d_out = ndi.distance_transform_edt(~mb, sampling=sp_zyx)
        d_in = ndi.distance_transform_edt(mb, sampling=sp_zyx)
        phi = np.where(mb, -d_in, d_out).astype(np.float64)
        idx = [a + 1.0 for a in idx]
        phi_new = ndi.map_coordinates(phi, idx, order=1, mode="nearest")
        field = np.clip(0.5 - phi_new / (2.0 * h), 0.0, 1.0)
    else:
        field = ndi.map_coordinates(m, idx, order=order, mode="constant", cval=0.0)
    field = np.pad(field, pad)
    origin_zyx = start - sp_zyx - pad * h
    return field, origin_zyx[::-1].copy()


def marching_cubes_surface(field: np.ndarray, h: float, origin_xyz, level: float = 0.5):
    from skimage.measure import marching_cubes

    v, f, _, _ = marching_cubes(field, level=level, spacing=(h, h, h), method="lewiner",
                                allow_degenerate=False)
    v = v[:, ::-1] + np.asarray(origin_xyz)[None, :]     # (z,y,x) -> (x,y,z) mm
    f = f.astype(np.int64)
    v, f = _weld(v, f)
    return v, f


def _weld(v, f, tol=1e-9):
    """Merge duplicated vertices and drop degenerate faces (marching cubes can produce them)."""
    key = np.round(v, 9)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    f = inv[f]
    ok = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    f = f[ok]
    used = np.unique(f)
    remap = -np.ones(len(uniq), dtype=np.int64)
    remap[used] = np.arange(len(used))
    return uniq[used], remap[f]


def smooth_surface(mask: np.ndarray, spacing_xyz, rel_step: float = 1.0 / 20.0,
                   smooth_sigma: float = 1.0, voxel_smooth: float = 0.0, max_closing: int = 4,
                   order: int = 1, shape_based: bool = False):
    """Robust-mode surface: (vertices mm (x,y,z), faces, info).

    The surface is the 0.5 level of the (component-cleaned) mask smoothed with a Gaussian of
    standard deviation ``sqrt((smooth_sigma * h)^2 + (voxel_smooth * s_i)^2)`` mm along axis i
    (``h`` the isotropic grid step, ``s_i`` the native spacing): the voxel term removes the
    staircase of the native grid (terraces of thick slices above all), which otherwise dominates
    the high degrees and changes with every re-voxelisation.
    """
    sp = np.asarray(spacing_xyz, dtype=np.float64)
    vol = float(mask.sum()) * float(np.prod(sp))
    r_eq = (3.0 * vol / (4.0 * np.pi)) ** (1.0 / 3.0)
    h = r_eq * rel_step
    pad = max_closing + 3
    pad = max(pad, int(np.ceil(3 * np.max(np.sqrt((smooth_sigma * h) ** 2
                                                   + (voxel_smooth * sp) ** 2)) / h)) + 2)
    field, origin = resample_isotropic(mask, sp, h, pad, order=order, shape_based=shape_based)
    b = field >= 0.5
    info: Dict = {"grid_step_mm": h, "r_eq_mm": r_eq, "grid_shape": list(field.shape)}
    if b.sum() == 0:
        b = field >= 0.5 * field.max()
        info["threshold_lowered"] = True

    sig = np.sqrt((smooth_sigma * h) ** 2 + (voxel_smooth * sp[::-1]) ** 2) / h   # z, y, x

    def surf(bb):
        fld = ndi.gaussian_filter(bb.astype(np.float32), sig) if np.any(sig > 0) \
            else bb.astype(np.float32)
        if fld.max() < 0.5:
            fld = bb.astype(np.float32)
        v, f = marching_cubes_surface(fld, h, origin)
        v, f, _ = largest_mesh_component(v, f)
        return v, f

    b, v, f, tinfo = clean_topology(b, surf, max_closing=max_closing)
    info.update(tinfo)
    f = orient_outward(v, f)
    return v, f, info


# ----------------------------------------------------------------------------- reference surface
def _block_lut() -> np.ndarray:
    """For each 2x2x2 pattern (bit = dz*4 + dy*2 + dx): True if not well-composed."""
    lut = np.zeros(256, dtype=bool)
    coords = [(i >> 2 & 1, i >> 1 & 1, i & 1) for i in range(8)]
    nb = [[j for j in range(8) if sum(abs(a - b) for a, b in zip(coords[i], coords[j])) == 1]
          for i in range(8)]

    def connected(bits):
        idx = [i for i in range(8) if bits[i]]
        if len(idx) <= 1:
            return True
        seen = {idx[0]}
        stack = [idx[0]]
        while stack:
            i = stack.pop()
            for j in nb[i]:
                if bits[j] and j not in seen:
                    seen.add(j)
                    stack.append(j)
        return len(seen) == len(idx)

    for p in range(256):
        bits = [(p >> i) & 1 for i in range(8)]
        lut[p] = not (connected(bits) and connected([1 - x for x in bits]))
    return lut


_LUT = None


def make_well_composed(b: np.ndarray, max_iter: int = 50):
    """Fill every 2x2x2 block whose foreground or background is not 6-connected, until none."""
    global _LUT
    if _LUT is None:
        _LUT = _block_lut()
    b = b.copy()
    added = 0
    for _ in range(max_iter):
        bi = b.astype(np.uint8)
        code = np.zeros(tuple(s - 1 for s in b.shape), dtype=np.uint8)
        for i in range(8):
            dz, dy, dx = i >> 2 & 1, i >> 1 & 1, i & 1
            code |= bi[dz:dz + code.shape[0], dy:dy + code.shape[1], dx:dx + code.shape[2]] << i
        bad = _LUT[code]
        if not bad.any():
            break
        fill = np.zeros_like(b)
        for i in range(8):
            dz, dy, dx = i >> 2 & 1, i >> 1 & 1, i & 1
            fill[dz:dz + code.shape[0], dy:dy + code.shape[1], dx:dx + code.shape[2]] |= bad
        added += int((fill & ~b).sum())
        b |= fill
    return b, added


def voxel_faces(b: np.ndarray, step: float = 1.0):
    """Quad mesh of the boundary faces of a padded bool volume (z, y, x).

    Returns (vertices (x,y,z) in units of ``step`` from voxel (0,0,0)'s centre, quads (Q x 4),
    outward counter-clockwise).  Vertices are voxel corners, numbered in (z, y, x) scan order.
    """
    quads = []
    bi = b.astype(np.int8)
    for axis in range(3):
        d = np.diff(bi, axis=axis)          # +1: bg -> fg going up the axis, -1: fg -> bg
        for sgn in (1, -1):
            idx = np.argwhere(d == sgn)     # face between voxel idx and idx + e_axis
            if len(idx) == 0:
                continue
            # corner coordinates (in corner index space; corner (i) = voxel i - 1/2)
            base = idx.copy()
            base[:, axis] += 1
            o = [a for a in range(3) if a != axis]
            c0 = base.copy()
            c1 = base.copy(); c1[:, o[0]] += 1
            c2 = base.copy(); c2[:, o[0]] += 1; c2[:, o[1]] += 1
            c3 = base.copy(); c3[:, o[1]] += 1
            q = np.stack([c0, c1, c2, c3], axis=1)   # (n, 4, 3) zyx corner indices
            quads.append((q, sgn, axis))
    allc = np.concatenate([q.reshape(-1, 3) for q, _, _ in quads])
    shape = np.array(b.shape) + 1
    keys = np.ravel_multi_index(allc.T, shape)
    uk, inv = np.unique(keys, return_inverse=True)
    corners = np.stack(np.unravel_index(uk, shape), axis=1)
    inv = inv.reshape(-1, 4)
    out = []
    pos = 0
    for q, sgn, axis in quads:
        n = q.shape[0]
        qi = inv[pos:pos + n]
        pos += n
        out.append(qi)
    Q = np.concatenate(out)
    v = (corners[:, ::-1].astype(np.float64) - 0.5) * step      # x, y, z
    # orient: make each quad's normal point outward (away from the foreground voxel)
    Q = _orient_quads(v, Q, b, step)
    return v, Q


def _orient_quads(v, Q, b, step):
    a, c = v[Q[:, 0]], v[Q[:, 2]]
    n = np.cross(v[Q[:, 1]] - a, c - a)
    centre = (a + c) / 2.0
    probe = centre - 0.25 * step * n / np.linalg.norm(n, axis=1, keepdims=True)
    ijk = np.round(probe / step).astype(int)[:, ::-1]            # zyx voxel index
    inside = b[ijk[:, 0], ijk[:, 1], ijk[:, 2]]
    Q = Q.copy()
    # normal must point out of the foreground: probing backwards must land inside
    Q[~inside] = Q[~inside][:, ::-1]
    return Q


def quads_to_tris(Q: np.ndarray) -> np.ndarray:
    return np.concatenate([Q[:, [0, 1, 2]], Q[:, [0, 2, 3]]])


def voxel_face_surface(mask: np.ndarray, spacing_xyz, min_vertices: int = 10000,
                       max_factor: int = 8, max_closing: int = 6):
    """Reference-mode surface (SPHARM-MAT style).  Returns (vertices mm, quads, tris, info)."""
    sp = np.asarray(spacing_xyz, dtype=np.float64)
    h = float(sp.min())
    info: Dict = {}
    if np.ptp(sp) > 1e-6 * h:
        # anisotropic: resample to the finest spacing (linear + threshold 0.5), documented
        field, origin = resample_isotropic(mask, sp, h, pad=0)
        base = field >= 0.5
        info["resampled_to_isotropic_mm"] = h
    else:
        base = mask.astype(bool)
        origin = np.zeros(3)
    pad = max_closing + 2
    base = np.pad(base, pad)
    origin = np.asarray(origin) - pad * h

    def fixed(bb):
        wc, added = make_well_composed(bb)
        return wc, added

    def surf(bb):
        wc, _ = fixed(bb)
        wc, _ = largest_component(wc)
        wc = ndi.binary_fill_holes(wc)
        vv, QQ = voxel_faces(wc, 1.0)
        return vv, quads_to_tris(QQ)

    b0, added = fixed(base)
    b, _, _, tinfo = clean_topology(b0, surf, max_closing=max_closing)
    b, added2 = fixed(b)
    b, _ = largest_component(b)
    b = ndi.binary_fill_holes(b)
    tinfo["well_composed_added"] = int(added + added2)
    tinfo["fixed"] = bool(tinfo["fixed"] or added + added2 > 0)
    # upsample by the smallest integer factor giving >= min_vertices surface vertices
    v, Q = voxel_faces(b, h)
    k = 1
    if v.shape[0] < min_vertices:
        k = min(max_factor, max(2, int(np.ceil(np.sqrt(min_vertices / v.shape[0])))))
        while True:
            bk = np.repeat(np.repeat(np.repeat(b, k, 0), k, 1), k, 2)
            v, Q = voxel_faces(bk, h / k)
            if v.shape[0] >= min_vertices or k >= max_factor:
                break
            k += 1
    # corner coordinate for factor k: voxel (0,0,0)-centre origin shifts by (1/k - 1)/2 voxel
    v = v + (0.5 * h / k - 0.5 * h) + np.asarray(origin)[None, :]
    tris = quads_to_tris(Q)
    info.update(tinfo)
    info["upsample_factor"] = k
    info["euler"] = euler_characteristic(v.shape[0], tris)
    return v, Q, tris, info


# ----------------------------------------------------------------------------- mesh files
def write_mesh(path, vertices: np.ndarray, faces: np.ndarray) -> str:
    """Write a triangle mesh as .obj, .stl (binary) or .ply (ASCII); plain Python, no VTK.

    Coordinates are written as given (this package uses LPS mm; Slicer reads .obj / .stl / .ply
    models as LPS by default since Slicer 4.11).
    """
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if ext == ".obj":
        with open(path, "w") as fh:
            fh.write("# PanCancerSubtype SPHARM mesh (LPS, mm)\n")
            np.savetxt(fh, v, fmt="v %.6f %.6f %.6f")
            np.savetxt(fh, f + 1, fmt="f %d %d %d")
    elif ext == ".ply":
        with open(path, "w") as fh:
            fh.write("ply\nformat ascii 1.0\ncomment PanCancerSubtype SPHARM mesh (LPS, mm)\n"
                     f"element vertex {len(v)}\nproperty float x\nproperty float y\n"
                     f"property float z\nelement face {len(f)}\n"
                     "property list uchar int vertex_indices\nend_header\n")
            np.savetxt(fh, v, fmt="%.6f %.6f %.6f")
            np.savetxt(fh, f, fmt="3 %d %d %d")
    elif ext == ".stl":
        a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
        n = np.cross(b - a, c - a)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)
        rec = np.zeros(len(f), dtype=[("n", "<f4", 3), ("a", "<f4", 3), ("b", "<f4", 3),
                                      ("c", "<f4", 3), ("attr", "<u2")])
        rec["n"], rec["a"], rec["b"], rec["c"] = n, a, b, c
        with open(path, "wb") as fh:
            fh.write(b"PanCancerSubtype SPHARM mesh (LPS, mm)".ljust(80, b" "))
            fh.write(struct.pack("<I", len(f)))
            fh.write(rec.tobytes())
    else:
        raise ValueError(f"{path}: unsupported mesh format {ext!r} (use .obj, .stl or .ply)")
    return path
