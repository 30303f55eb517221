"""Sparse Cholesky factorisation for a sequence of matrices with one sparsity pattern (private).

The robust parameterisation solves ``(M + t L) x = M x0`` for a dozen values of t (the heat-flow
inflation of :func:`~.parameterisation.heat_inflated_map`); every matrix is symmetric positive
definite with the pattern of the mesh.  SuperLU (``splu``) redoes its ordering and symbolic
analysis and runs a general LU each time.  Here the analysis is done once per pattern:

* ordering: SuperLU's minimum degree on ``A + A^T`` (``MMD_AT_PLUS_A``, taken from an incomplete
  factorisation that costs almost nothing), then a postorder of the elimination tree, so that the
  columns of a supernode are consecutive (fill is unchanged by the postorder);
* symbolic factorisation: the elimination tree (Liu) and the row structures of L by row
  subtrees; fundamental supernodes (a column joins the previous one when it is that column's
  parent and has one row less);
* numeric factorisation, per matrix: left-looking supernodal Cholesky ``A = L L^T`` with dense
  column-major panels (each descendant's update is a dense product scattered into the panel);
  ``solve`` does the two triangular solves.

The solution equals SuperLU's up to rounding (both are backward stable; measured differences
~1e-13 relative on the shared cases), at about a third of the time per matrix.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sps
from numba import njit


@njit(cache=True)
def _etree(indptr, indices, n):
    """Elimination tree of a symmetric pattern (CSC, full): ``parent[j]`` (-1 for a root)."""
    parent = np.full(n, -1, dtype=np.int64)
    ancestor = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i != -1 and i < k:
                nxt = ancestor[i]
                ancestor[i] = k
                if nxt == -1:
                    parent[i] = k
                i = nxt
    return parent


@njit(cache=True)
def _postorder(parent, n):
    """A postorder of the forest ``parent`` (children in increasing order)."""
    head = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    for j in range(n - 1, -1, -1):
        p = parent[j]
        if p != -1:
            nxt[j] = head[p]
            head[p] = j
    post = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = 0
    for root in range(n):
        if parent[root] != -1:
            continue
        top = 0
        stack[0] = root
        while top >= 0:
            p = stack[top]
            c = head[p]
            if c == -1:
                top -= 1
                post[k] = p
                k += 1
            else:
                head[p] = nxt[c]
                top += 1
                stack[top] = c
    return post


@njit(cache=True)
def _row_structure(indptr, indices, parent, n):
    """Column structures of L (rows below the diagonal), by walking the row subtrees.

    Returns (colptr, rowind) with the rows of column j in ``rowind[colptr[j]:colptr[j+1]]``,
    ascending."""
    mark = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for k in range(n):
        mark[k] = k
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i < k and mark[i] != k:
                count[i] += 1
                mark[i] = k
                i = parent[i]
    colptr = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        colptr[j + 1] = colptr[j] + count[j]
    rowind = np.empty(colptr[n], dtype=np.int64)
    fill = colptr[:n].copy()
    mark[:] = -1
    for k in range(n):
        mark[k] = k
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i < k and mark[i] != k:
                rowind[fill[i]] = k
                fill[i] += 1
                mark[i] = k
                i = parent[i]
    return colptr, rowind


@njit(cache=True)
def _supernodes(parent, colptr, n):
    """Fundamental supernodes: first columns ``sfirst`` (plus n at the end)."""
    first = [0]
    for j in range(1, n):
        cj = colptr[j + 1] - colptr[j]
        cprev = colptr[j] - colptr[j - 1]
        if not (parent[j - 1] == j and cprev == cj + 1):
            first.append(j)
    first.append(n)
    return np.array(first, dtype=np.int64)


@njit(cache=True)
def _layout(sfirst, colptr, rowind, n):
    """Row lists of the supernodes (the supernode's own columns first) and panel offsets."""
    ns = sfirst.shape[0] - 1
    rptr = np.zeros(ns + 1, dtype=np.int64)
    xptr = np.zeros(ns + 1, dtype=np.int64)
    super_of = np.empty(n, dtype=np.int64)
    for s in range(ns):
        f = sfirst[s]
        w = sfirst[s + 1] - f
        nr = 1 + colptr[f + 1] - colptr[f]  # the diagonal + the rows below in column f
        rptr[s + 1] = rptr[s] + nr
        xptr[s + 1] = xptr[s] + nr * w
        for j in range(f, f + w):
            super_of[j] = s
    rows = np.empty(rptr[ns], dtype=np.int64)
    for s in range(ns):
        f = sfirst[s]
        r0 = rptr[s]
        rows[r0] = f
        q = 1
        for p in range(colptr[f], colptr[f + 1]):
            rows[r0 + q] = rowind[p]
            q += 1
    return rptr, rows, xptr, super_of


@njit(cache=True)
def _numeric(indptr, indices, data, n, sfirst, rptr, rows, xptr, super_of):
    """Left-looking supernodal Cholesky; panels column-major in one flat array.  Returns
    (X, ok) with ok False when a pivot is not positive."""
    ns = sfirst.shape[0] - 1
    X = np.zeros(xptr[ns])
    relpos = np.full(n, -1, dtype=np.int64)
    head = np.full(ns, -1, dtype=np.int64)
    link = np.full(ns, -1, dtype=np.int64)
    ptr = np.zeros(ns, dtype=np.int64)
    maxr = 0
    for s in range(ns):
        if rptr[s + 1] - rptr[s] > maxr:
            maxr = rptr[s + 1] - rptr[s]
    tmp = np.empty(maxr)
    for s in range(ns):
        f = sfirst[s]
        w = sfirst[s + 1] - f
        l_last = f + w - 1
        r0 = rptr[s]
        nr = rptr[s + 1] - r0
        x0 = xptr[s]
        for q in range(nr):
            relpos[rows[r0 + q]] = q
        # the lower part of A's columns
        for c in range(w):
            j = f + c
            base = x0 + c * nr
            for p in range(indptr[j], indptr[j + 1]):
                i = indices[p]
                if i >= j:
                    X[base + relpos[i]] += data[p]
        # updates from the descendants whose next rows fall in this supernode
        d = head[s]
        while d != -1:
            nxt_d = link[d]
            dr0 = rptr[d]
            dnr = rptr[d + 1] - dr0
            dw = sfirst[d + 1] - sfirst[d]
            dx0 = xptr[d]
            p0 = ptr[d]
            p1 = p0
            while p1 < dnr and rows[dr0 + p1] <= l_last:
                p1 += 1
            m = dnr - p0
            for q in range(p0, p1):
                for p in range(m):
                    tmp[p] = 0.0
                for c in range(dw):
                    col = dx0 + c * dnr
                    lq = X[col + q]
                    if lq != 0.0:
                        for p in range(q, dnr):
                            tmp[p - p0] += X[col + p] * lq
                tbase = x0 + (rows[dr0 + q] - f) * nr
                for p in range(q, dnr):
                    X[tbase + relpos[rows[dr0 + p]]] -= tmp[p - p0]
            ptr[d] = p1
            if p1 < dnr:
                t = super_of[rows[dr0 + p1]]
                link[d] = head[t]
                head[t] = d
            d = nxt_d
        # dense Cholesky of the panel (diagonal block and the rows below)
        for c in range(w):
            cb = x0 + c * nr
            for c2 in range(c):
                c2b = x0 + c2 * nr
                lk = X[c2b + c]
                if lk != 0.0:
                    for r in range(c, nr):
                        X[cb + r] -= X[c2b + r] * lk
            piv = X[cb + c]
            if not piv > 0.0:
                return X, False
            dg = np.sqrt(piv)
            X[cb + c] = dg
            for r in range(c + 1, nr):
                X[cb + r] /= dg
        if nr > w:
            ptr[s] = w
            t = super_of[rows[r0 + w]]
            link[s] = head[t]
            head[t] = s
    return X, True


@njit(cache=True)
def _solve(X, sfirst, rptr, rows, xptr, b):
    """Solve ``L L^T x = b`` in place (b: n x k, permuted)."""
    ns = sfirst.shape[0] - 1
    k = b.shape[1]
    for s in range(ns):
        f = sfirst[s]
        w = sfirst[s + 1] - f
        r0 = rptr[s]
        nr = rptr[s + 1] - r0
        x0 = xptr[s]
        for c in range(w):
            cb = x0 + c * nr
            j = f + c
            dg = X[cb + c]
            for e in range(k):
                b[j, e] /= dg
            for r in range(c + 1, nr):
                lv = X[cb + r]
                i = rows[r0 + r]
                for e in range(k):
                    b[i, e] -= lv * b[j, e]
    for s in range(ns - 1, -1, -1):
        f = sfirst[s]
        w = sfirst[s + 1] - f
        r0 = rptr[s]
        nr = rptr[s + 1] - r0
        x0 = xptr[s]
        for c in range(w - 1, -1, -1):
            cb = x0 + c * nr
            j = f + c
            for r in range(c + 1, nr):
                lv = X[cb + r]
                i = rows[r0 + r]
                for e in range(k):
                    b[j, e] -= lv * b[i, e]
            dg = X[cb + c]
            for e in range(k):
                b[j, e] /= dg


class SparseCholesky:
    """Symbolic analysis of a symmetric pattern; :meth:`factor` then :meth:`solve` for matrices
    whose nonzeros lie in it (see the module docstring)."""

    def __init__(self, pattern):
        from scipy.sparse.linalg import spilu

        P = sps.csc_matrix(pattern)
        n = P.shape[0]
        P = sps.csc_matrix(abs(P) + abs(P.T) + sps.identity(n, format="csc"))
        # SuperLU's minimum-degree ordering; an incomplete factorisation dropping everything
        # off the diagonal costs almost nothing and reports it
        ilu = spilu(P, drop_tol=1e300, fill_factor=1.0, permc_spec="MMD_AT_PLUS_A",
                    diag_pivot_thresh=0.0, options=dict(SymmetricMode=True))
        order = np.argsort(ilu.perm_c)  # A[order][:, order] is the ordered matrix
        B = P[order][:, order].tocsc()
        B.sort_indices()
        parent = _etree(B.indptr.astype(np.int64), B.indices.astype(np.int64), n)
        post = _postorder(parent, n)
        order = order[post]
        B = P[order][:, order].tocsc()
        B.sort_indices()
        ip, ix = B.indptr.astype(np.int64), B.indices.astype(np.int64)
        parent = _etree(ip, ix, n)
        colptr, rowind = _row_structure(ip, ix, parent, n)
        self.n = n
        self.order = order
        self.sfirst = _supernodes(parent, colptr, n)
        self.rptr, self.rows, self.xptr, self.super_of = _layout(self.sfirst, colptr, rowind, n)
        self.nnz_l = int(colptr[n] + n)
        self._X = None

    def factor(self, A) -> "SparseCholesky":
        """Numeric factorisation of ``A`` (symmetric positive definite, nonzeros inside the
        analysed pattern).  Raises ``np.linalg.LinAlgError`` when A is not positive definite."""
        B = sps.csc_matrix(A)[self.order][:, self.order].tocsc()
        X, ok = _numeric(B.indptr.astype(np.int64), B.indices.astype(np.int64),
                         B.data.astype(np.float64), self.n, self.sfirst, self.rptr, self.rows,
                         self.xptr, self.super_of)
        if not ok:
            raise np.linalg.LinAlgError("matrix is not positive definite")
        self._X = X
        return self

    def solve(self, b) -> np.ndarray:
        b = np.asarray(b, dtype=np.float64)
        one = b.ndim == 1
        rhs = np.ascontiguousarray((b[:, None] if one else b)[self.order])
        _solve(self._X, self.sfirst, self.rptr, self.rows, self.xptr, rhs)
        out = np.empty_like(rhs)
        out[self.order] = rhs
        return out[:, 0] if one else out
