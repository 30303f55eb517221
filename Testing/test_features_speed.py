"""The faster implementations behind the 313 features give the numbers of the plain ones (issue 21).

Each fast path is checked against the straightforward formulation it replaced: hole filling on
the foreground's bounding box, in-plane distance transforms slice by slice, the compiled
Laplacian smoothing loop (bit for bit) and the supernodal Cholesky of the heat-flow systems (to
rounding).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.sparse as sps
from numpy.testing import assert_array_equal

from PanCancerSubtypeLib import regions
from PanCancerSubtypeLib.shape import parameterisation as P
from PanCancerSubtypeLib.shape._cholesky import SparseCholesky


def _random_masks(rng, n=25):
    for t in range(n):
        shape = (int(rng.integers(1, 5)), int(rng.integers(5, 40)), int(rng.integers(5, 40)))
        m = ndi.binary_opening(rng.uniform(size=shape) > rng.uniform(0.2, 0.8),
                               structure=np.ones((1, 2, 2)))
        if t % 5 == 0:
            m[:, 0, :] = True  # foreground on the image border
        if t % 7 == 0:
            m[:] = False
        yield m


def test_fill_holes_on_the_bounding_box_equals_scipy_slice_by_slice():
    rng = np.random.default_rng(0)
    for m in _random_masks(rng):
        ref = np.stack([ndi.binary_fill_holes(s) for s in m])  # 4-connected background
        assert_array_equal(regions._fill_holes_2d(m), ref)
    ring = np.zeros((1, 9, 9), bool)
    ring[0, 2:7, 2:7] = True
    ring[0, 3:6, 3:6] = False
    assert regions._fill_holes_2d(ring)[0, 4, 4]


def test_inplane_distance_slice_by_slice_equals_the_padded_3d_transform():
    rng = np.random.default_rng(1)
    for m in _random_masks(rng):
        m[rng.integers(0, m.shape[0])] = True  # a slice without background
        sampling = (1e6, float(rng.uniform(0.4, 2.0)), float(rng.uniform(0.4, 2.0)))
        old = ndi.distance_transform_edt(np.pad(m, ((1, 1), (0, 0), (0, 0))),
                                         sampling=sampling)[1:-1]
        new = regions._edt_inplane(m, sampling)
        finite = old < 1e5
        assert_array_equal(new[finite], old[finite])
        assert np.all(np.isinf(new[~finite]))
        for thr in (0.5, 3.0, 8.0):
            assert_array_equal(new > thr, old > thr)
            assert_array_equal(new <= thr, old <= thr)


def _sphere_mesh():
    from skimage.measure import marching_cubes

    zz, yy, xx = np.mgrid[-12:13, -12:13, -12:13]
    vol = ((xx / 11.0) ** 2 + (yy / 8.0) ** 2 + (zz / 6.0) ** 2 <= 1.0).astype(float)
    v, f, _, _ = marching_cubes(vol, 0.5)
    return v.astype(np.float64), f.astype(np.int64)


def test_laplacian_smoothing_loop_is_bit_identical_to_the_sparse_formulation():
    from PanCancerSubtypeLib.shape.mesh import edges_of

    v, f = _sphere_mesh()
    A = P.adjacency(v.shape[0], edges_of(f))
    deg = np.asarray(A.sum(axis=1)).ravel()
    ref = v.copy()
    for _ in range(31):
        ref = ref + 0.5 * ((A @ ref) / deg[:, None] - ref)
    assert_array_equal(P.laplacian_smooth(v, A, 31), ref)
    assert_array_equal(P.laplacian_smooth(v, A, 0), v)
    one = v + 0.25 * ((A @ v) / deg[:, None] - v)
    assert_array_equal(P.laplacian_smooth(v, A, 1, lam=0.25), one)


def test_supernodal_cholesky_solves_the_heat_flow_systems_like_superlu():
    v, f = _sphere_mesh()
    x0 = P._whitened(v, f)
    L0 = P.cot_laplacian(x0, f)
    m = P.vertex_areas(x0, f)
    Mm = sps.diags(m)
    rhs = m[:, None] * x0
    chol = SparseCholesky(Mm + L0)
    assert chol.nnz_l >= v.shape[0]
    for t in (1e-3, 0.1, 10.0):
        A = (Mm + t * L0).tocsc()
        x = chol.factor(A).solve(rhs)
        ref = P._splu_sym(A).solve(rhs)
        assert np.abs(x - ref).max() <= 1e-10 * np.abs(ref).max()
        assert np.abs(A @ x - rhs).max() <= 1e-10 * np.abs(rhs).max()
        assert np.allclose(chol.solve(rhs[:, 0]), x[:, 0], rtol=0, atol=1e-14)
    with pytest.raises(np.linalg.LinAlgError):
        chol.factor(Mm - 10.0 * sps.identity(v.shape[0]))
