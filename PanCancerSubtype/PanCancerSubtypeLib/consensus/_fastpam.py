"""Fast-mode PAM kernels (private to this package).

The PAM objective (total distance of the items to their nearest medoid) is solved per resample
by a greedy BUILD for ``k_min``; for every larger k the local optimum of k-1 plus one greedy BUILD
step is the start; then an eager, blocked and vectorised swap search (FastPAM1 / FasterPAM
terms, Schubert & Rousseeuw 2021) runs until no single swap lowers the total deviation.  Swap
gains are estimated in single precision and every accepted swap is checked in double precision.
Resamplings run in parallel threads (``numba.prange``).  Not R's choices (see ``_pam`` for those):
the result is a local optimum of the same objective, usually R's.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._pam import submatrix

@njit(cache=True, fastmath=True)
def _lower(dmin, row):
    """dmin <- min(dmin, row), elementwise."""
    for j in range(dmin.shape[0]):
        if row[j] < dmin[j]:
            dmin[j] = row[j]


@njit(cache=True, fastmath=True)
def _best_addition(Dr, dmin, ismed):
    """The non-medoid whose addition decreases the total deviation most (BUILD criterion:
    sum_j max(dmin_j - d_ij, 0)); the first one on ties."""
    m = Dr.shape[0]
    best = -1.0
    bi = -1
    for i in range(m):
        if ismed[i]:
            continue
        row = Dr[i]
        acc = 0.0
        for j in range(m):
            c = dmin[j] - row[j]
            acc += c if c > 0 else 0.0
        if bi < 0 or acc > best:
            best = acc
            bi = i
    return bi


@njit(cache=True, fastmath=True)
def _build_prefix(Dr, kmax, order):
    """Greedy BUILD: writes the medoids in the order chosen into ``order[:kmax]``."""
    m = Dr.shape[0]
    dmin = np.empty(m, dtype=Dr.dtype)
    ismed = np.zeros(m, dtype=np.bool_)
    for t in range(kmax):
        if t == 0:
            # first medoid: the smallest total distance (kept apart from the gain formula,
            # whose "infinite" initial dmin would swamp the sums in floating point)
            best = -1.0
            bi = -1
            for i in range(m):
                row = Dr[i]
                acc = 0.0
                for j in range(m):
                    acc -= row[j]
                if bi < 0 or acc > best:
                    best = acc
                    bi = i
            row = Dr[bi]
            for j in range(m):
                dmin[j] = row[j]
        else:
            bi = _best_addition(Dr, dmin, ismed)
            _lower(dmin, Dr[bi])
        order[t] = bi
        ismed[bi] = True


@njit(cache=True)
def _assign(Dr, med, k, n1, d1, n2, d2):
    m = Dr.shape[0]
    td = 0.0
    for j in range(m):
        b1 = -1
        b2 = -1
        v1 = np.inf
        v2 = np.inf
        for c in range(k):
            d = Dr[med[c], j]
            if d < v1:
                b2 = b1
                v2 = v1
                b1 = c
                v1 = d
            elif d < v2:
                b2 = c
                v2 = d
        n1[j] = b1
        d1[j] = v1
        n2[j] = b2
        d2[j] = v2
        td += v1
    return td


@njit(cache=True, fastmath=True)
def _eval_block(Dr, a32, b32, n1, h0, w, acc, dl):
    """Accumulate acc[t] = sum_j min(D[j,h0+t] - d1[j], 0) and, per nearest medoid c(j),
    dl[c(j), t] += min(max(D[j,h0+t], d1[j]), d2[j]) - d2[j]  (float32, vectorised)."""
    m = Dr.shape[0]
    for t in range(w):
        acc[t] = np.float32(0.0)
    for c in range(dl.shape[0]):
        for t in range(w):
            dl[c, t] = np.float32(0.0)
    for j in range(m):
        a = a32[j]
        b = b32[j]
        row = Dr[j, h0:h0 + w]
        dlc = dl[n1[j]]
        for t in range(w):
            d = row[t]
            acc[t] += min(d - a, np.float32(0.0))
            dlc[t] += min(max(d, a), b) - b


@njit(cache=True, fastmath=True)
def _swap_blocked(Dr, med, k, n1, d1, n2, d2, labels, max_passes, hb, gain):
    """Eager swap search in blocks of ``hb`` candidate medoids (a blocked FasterPAM).

    For the candidates h of one block, the change of the total deviation for every (h, removed
    medoid c) is accumulated over all items j at once: the distance matrix is symmetric, so the
    loop runs over rows ``Dr[j, h0:h1]`` (contiguous, vectorised).  With d1 / d2 the distances of j
    to its nearest / second-nearest medoid and c(j) its nearest medoid,

        change(h, c) = loss[c] + sum_j min(D[j,h] - d1[j], 0)
                       + sum_{j: c(j) = c} (min(max(D[j,h], d1[j]), d2[j]) - d2[j]),

    with ``loss[c] = sum_{j: c(j) = c} (d2[j] - d1[j])`` (Schubert & Rousseeuw's FastPAM1 terms).
    The best swap of a block is applied when it lowers the deviation; the block is then searched
    again; the search stops after a full round of blocks without an improving swap, so the result
    is a local optimum of the PAM objective (no single swap improves it), as PAM's SWAP guarantees.
    Labels 0..k-1 (index into ``med``) are written to ``labels``; returns the total deviation.
    ``gain[h]`` receives ``sum_j min(D[j,h] - d1[j], 0)``, minus the BUILD gain of adding h to the
    final medoids (the last round of blocks ran with them), so the next k's greedy BUILD step
    needs no pass of its own.
    """
    m = Dr.shape[0]
    ismed = np.zeros(m, dtype=np.bool_)
    for c in range(k):
        ismed[med[c]] = True
    td = _assign(Dr, med, k, n1, d1, n2, d2)
    loss = np.zeros(k)
    for j in range(m):
        loss[n1[j]] += d2[j] - d1[j]
    nblocks = (m + hb - 1) // hb
    acc = np.empty(hb, dtype=np.float32)
    dl = np.empty((k, hb), dtype=np.float32)
    a32 = np.empty(m, dtype=np.float32)
    b32 = np.empty(m, dtype=np.float32)
    for j in range(m):
        a32[j] = d1[j]
        b32[j] = d2[j]
    blk = 0
    since = 0
    evals = 0
    limit = max_passes * nblocks
    while since < nblocks and evals < limit:
        evals += 1
        h0 = blk * hb
        h1 = min(m, h0 + hb)
        w = h1 - h0
        _eval_block(Dr, a32, b32, n1, h0, w, acc, dl)
        for t in range(w):
            gain[h0 + t] = acc[t]
        best = 0.0
        bh = -1
        bc = -1
        for t in range(w):
            h = h0 + t
            if ismed[h]:
                continue
            for c in range(k):
                v = np.float64(dl[c, t]) + loss[c] + np.float64(acc[t])
                if v < best:
                    best = v
                    bh = h
                    bc = c
        swapped = False
        if bh >= 0 and best < -1e-6 * td:
            old = med[bc]
            med[bc] = bh
            # exact (float64) check of the single-precision estimate: keep only real improvements
            td_new = _assign(Dr, med, k, n1, d1, n2, d2)
            if td_new < td * (1.0 - 1e-12):
                ismed[old] = False
                ismed[bh] = True
                td = td_new
                swapped = True
            else:
                med[bc] = old
                _assign(Dr, med, k, n1, d1, n2, d2)
            for c in range(k):
                loss[c] = 0.0
            for j in range(m):
                loss[n1[j]] += d2[j] - d1[j]
                a32[j] = d1[j]
                b32[j] = d2[j]
        if swapped:
            since = 0  # search this block again with the new medoids
        else:
            since += 1
            blk += 1
            if blk == nblocks:
                blk = 0
    for j in range(m):
        labels[j] = n1[j]
    return td


@njit(cache=True, parallel=True)
def fast_batch(D, S, kmin, kmax, labels_out):
    """For every resample b (rows of S, 0-based sorted item indices), gather D[S_b, S_b], BUILD up to
    kmax, then FasterPAM per k; labels_out[b, k - kmin, :] = 0..k-1 labels of the sampled items."""
    B, m = S.shape
    for b in prange(B):
        Dr = submatrix(D, S[b], D.dtype)
        order = np.empty(kmin, dtype=np.int64)
        _build_prefix(Dr, kmin, order)
        n1 = np.empty(m, dtype=np.int64)
        n2 = np.empty(m, dtype=np.int64)
        d1 = np.empty(m, dtype=np.float64)
        d2 = np.empty(m, dtype=np.float64)
        lab = np.empty(m, dtype=np.int64)
        med = np.empty(kmax, dtype=np.int64)
        med[:kmin] = order
        gain = np.empty(m, dtype=np.float32)
        ismed = np.zeros(m, dtype=np.bool_)
        for k in range(kmin, kmax + 1):
            if k > kmin:
                # warm start: the optimum for k-1 plus one greedy BUILD step, whose gains the
                # last round of the k-1 swap search left in ``gain``
                for c in range(k - 1):
                    ismed[med[c]] = True
                best = np.float32(0.0)
                bi = -1
                for h in range(m):
                    if not ismed[h] and (bi < 0 or gain[h] < best):
                        best = gain[h]
                        bi = h
                for c in range(k - 1):
                    ismed[med[c]] = False
                med[k - 1] = bi
            _swap_blocked(Dr, med[:k], k, n1, d1, n2, d2, lab, 50, 256, gain)
            for j in range(m):
                labels_out[b, k - kmin, j] = lab[j]
