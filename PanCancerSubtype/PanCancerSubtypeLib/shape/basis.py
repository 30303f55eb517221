"""Real orthonormal spherical harmonics, their complex counterparts, least-squares fitting and
coefficient maths (rotation, reflection) (SPHARM step 4).

Conventions (used throughout this package)
------------------------------------------
* Points on the unit sphere are unit vectors ``u = (x, y, z)``; polar angle
  ``theta = arccos(z)``, azimuth ``phi = atan2(y, x)``.
* Coefficients are stored in rows indexed ``k = l*l + l + m`` for ``l = 0..L``, ``m = -l..l``:
  ``(L+1)**2`` rows (256 for ``L = 15``), one column per coordinate (x, y, z).
* Real basis (orthonormal on the sphere, **no** Condon-Shortley phase)::

      R_{l,0}  = Q_l^0(cos theta)
      R_{l,m}  = sqrt(2) Q_l^m(cos theta) cos(m phi)      (m > 0)
      R_{l,-m} = sqrt(2) Q_l^m(cos theta) sin(m phi)      (m > 0)
      Q_l^m    = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) P_l^m  (P without the (-1)^m phase)

  so that ``R_{1,1} = sqrt(3/(4 pi)) x``, ``R_{1,-1} = sqrt(3/(4 pi)) y``,
  ``R_{1,0} = sqrt(3/(4 pi)) z``: a coordinate function ``a * x`` has the degree-1 coefficient
  ``a * sqrt(4 pi / 3)``.
* Complex basis: the standard ``Y_l^m`` with the Condon-Shortley phase, as SciPy's
  ``sph_harm_y`` and MATLAB/SPHARM-MAT use it (``Y_l^{-m} = (-1)^m conj(Y_l^m)``).  For a real
  function with real coefficients ``a``, the complex coefficients are
  ``c_{l,m} = (-1)^m (a_{l,m} - i a_{l,-m}) / sqrt(2)`` and
  ``c_{l,-m} = (a_{l,m} + i a_{l,-m}) / sqrt(2)`` (m > 0), ``c_{l,0} = a_{l,0}``
  (checked against ``scipy.special.sph_harm_y`` in the tests).
"""
from __future__ import annotations

import numpy as np

FOUR_PI = 4.0 * np.pi


def n_coef(max_degree: int) -> int:
    return (int(max_degree) + 1) ** 2


def index(l: int, m: int) -> int:
    """Row of degree ``l``, order ``m`` in a coefficient array."""
    return l * l + l + m


def real_basis(u: np.ndarray, max_degree: int) -> np.ndarray:
    """Real orthonormal spherical harmonics at unit vectors ``u`` (N x 3) -> (N, (L+1)^2).

    Stable three-term recurrence on fully normalised associated Legendre functions; float64.
    """
    u = np.asarray(u, dtype=np.float64)
    L = int(max_degree)
    n = u.shape[0]
    x = np.clip(u[:, 2], -1.0, 1.0)
    s = np.sqrt(np.maximum(0.0, 1.0 - x * x))
    phi = np.arctan2(u[:, 1], u[:, 0])
    out = np.empty((n, (L + 1) ** 2), dtype=np.float64)
    cos_m = [np.ones(n)]
    sin_m = [np.zeros(n)]
    c1, s1 = np.cos(phi), np.sin(phi)
    for m in range(1, L + 1):
        cp, sp = cos_m[-1], sin_m[-1]
        cos_m.append(cp * c1 - sp * s1)
        sin_m.append(sp * c1 + cp * s1)
    sqrt2 = np.sqrt(2.0)
    qmm = np.full(n, np.sqrt(1.0 / FOUR_PI))
    for m in range(0, L + 1):
        if m > 0:
            qmm = np.sqrt((2.0 * m + 1.0) / (2.0 * m)) * s * qmm
        # degree l = m
        q_lm2 = None
        q_lm1 = qmm
        _put(out, m, m, q_lm1, cos_m, sin_m, sqrt2)
        if m + 1 <= L:
            q_l = np.sqrt(2.0 * m + 3.0) * x * qmm
            _put(out, m + 1, m, q_l, cos_m, sin_m, sqrt2)
            q_lm2, q_lm1 = q_lm1, q_l
            for l in range(m + 2, L + 1):
                a = np.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
                b = np.sqrt(((l - 1.0) ** 2 - m * m) / (4.0 * (l - 1.0) ** 2 - 1.0))
                q_l = a * (x * q_lm1 - b * q_lm2)
                _put(out, l, m, q_l, cos_m, sin_m, sqrt2)
                q_lm2, q_lm1 = q_lm1, q_l
    return out


def _put(out, l, m, q, cos_m, sin_m, sqrt2):
    if m == 0:
        out[:, l * l + l] = q
    else:
        out[:, l * l + l + m] = sqrt2 * q * cos_m[m]
        out[:, l * l + l - m] = sqrt2 * q * sin_m[m]


def real_to_complex(a: np.ndarray) -> np.ndarray:
    """Real-basis coefficients ((L+1)^2 x k) -> complex ``Y_l^m`` coefficients (same shape)."""
    a = np.asarray(a, dtype=np.float64)
    L = int(round(np.sqrt(a.shape[0]))) - 1
    c = np.zeros(a.shape, dtype=np.complex128)
    r2 = 1.0 / np.sqrt(2.0)
    for l in range(L + 1):
        c[index(l, 0)] = a[index(l, 0)]
        for m in range(1, l + 1):
            ap, an = a[index(l, m)], a[index(l, -m)]
            c[index(l, m)] = ((-1) ** m) * (ap - 1j * an) * r2
            c[index(l, -m)] = (ap + 1j * an) * r2
    return c


def complex_to_real(c: np.ndarray) -> np.ndarray:
    """Inverse of :func:`real_to_complex` (for the coefficients of real functions)."""
    c = np.asarray(c, dtype=np.complex128)
    L = int(round(np.sqrt(c.shape[0]))) - 1
    a = np.zeros(c.shape, dtype=np.float64)
    s2 = np.sqrt(2.0)
    for l in range(L + 1):
        a[index(l, 0)] = c[index(l, 0)].real
        for m in range(1, l + 1):
            cn = c[index(l, -m)]
            a[index(l, m)] = s2 * cn.real
            a[index(l, -m)] = s2 * cn.imag
    return a


def reflection_signs(max_degree: int, eps) -> np.ndarray:
    """Signs ``s_k`` with ``R_k(D u) = s_k R_k(u)`` for the reflection ``D = diag(eps)``
    (``eps`` = +-1 for each of x, y, z): coefficients of ``f(D u)`` are ``s * coef``.

    From the real basis: ``x -> e_x x``, ``y -> e_y y``, ``z -> e_z z`` gives
    ``R_{l,0} -> e_z^l R_{l,0}``, ``R_{l,m} -> e_x^m e_z^(l+m) R_{l,m}`` and
    ``R_{l,-m} -> e_x^(m+1) e_y e_z^(l+m) R_{l,-m}`` (m > 0).
    """
    L = int(max_degree)
    ex, ey, ez = (int(e) for e in eps)
    s = np.empty((L + 1) ** 2)
    for l in range(L + 1):
        s[index(l, 0)] = ez ** l
        for m in range(1, l + 1):
            s[index(l, m)] = ex ** m * ez ** (l + m)
            s[index(l, -m)] = ex ** (m + 1) * ey * ez ** (l + m)
    return s


def lstsq_fit(u: np.ndarray, values: np.ndarray, max_degree: int, weights=None):
    """Least-squares expansion of ``values`` (N x k) at sphere points ``u`` to degree ``L``.

    ``weights`` (N,), when given, weight each point's squared residual (e.g. the spherical area
    each vertex represents, which makes the fit approximate the L2 projection on the sphere,
    independently of how densely the map places vertices).  Returns (coefficients, rms residual).
    """
    A = real_basis(u, max_degree)
    V = np.asarray(values, dtype=np.float64)
    if weights is not None:
        w = np.sqrt(np.asarray(weights, dtype=np.float64) / np.mean(weights))[:, None]
        Aw, Vw = A * w, V * w
    else:
        Aw, Vw = A, V
    if A.shape[0] < A.shape[1]:
        raise ValueError(f"{A.shape[0]} points cannot determine {A.shape[1]} coefficients")
    # Normal equations (fast); fall back to an SVD solve when they are ill-conditioned.
    G = Aw.T @ Aw
    rhs = Aw.T @ Vw
    try:
        cf = np.linalg.cholesky(G)
        coef = np.linalg.solve(cf.T, np.linalg.solve(cf, rhs))
        d = np.diag(cf)
        if not np.all(np.isfinite(coef)) or d.min() < 1e-7 * d.max():
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        coef = np.linalg.lstsq(Aw, Vw, rcond=None)[0]
    res = V - A @ coef
    rms = float(np.sqrt(np.mean(np.sum(res * res, axis=1))))
    return coef, rms


def icosphere(n_subdiv: int = 4):
    """Unit icosphere: (vertices (N x 3), faces (M x 3) outward, counter-clockwise)."""
    t = (1.0 + 5 ** 0.5) / 2.0
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
                  [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
                 dtype=np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9],
                  [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2],
                  [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
                  [8, 6, 7], [9, 8, 1]], dtype=np.int64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(int(n_subdiv)):
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(e, axis=0, return_inverse=True)
        mid = v[uniq[:, 0]] + v[uniq[:, 1]]
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        base = v.shape[0]
        nf = f.shape[0]
        inv = inv.reshape(-1)
        a, b, c = base + inv[:nf], base + inv[nf:2 * nf], base + inv[2 * nf:]
        f = np.concatenate([np.stack([f[:, 0], a, c], 1), np.stack([f[:, 1], b, a], 1),
                            np.stack([f[:, 2], c, b], 1), np.stack([a, b, c], 1)])
        v = np.concatenate([v, mid])
    return v, f


def _quadrature(L: int):
    """Gauss-Legendre (cos theta) x uniform (phi) rule exact for band limit 2L on the sphere."""
    n_t = L + 1
    n_p = 2 * L + 1
    x, w = np.polynomial.legendre.leggauss(n_t)
    phi = 2 * np.pi * np.arange(n_p) / n_p
    X, P = np.meshgrid(x, phi, indexing="ij")
    s = np.sqrt(1 - X ** 2)
    u = np.stack([s * np.cos(P), s * np.sin(P), X], -1).reshape(-1, 3)
    wt = (np.repeat(w, n_p) * (2 * np.pi / n_p))
    return u, wt


def rotate_coefficients(coef: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Coefficients of g(u) = f(V u) given those of f (both band-limited to the same L).

    Exact (quadrature of degree 2L), so re-parameterising the sphere by a rotation needs no new
    least-squares fit.
    """
    L = int(round(np.sqrt(coef.shape[0]))) - 1
    u, w = _quadrature(L)
    g = real_basis(u @ np.asarray(V).T, L) @ coef        # f(V u) at the nodes
    return real_basis(u, L).T @ (g * w[:, None])
