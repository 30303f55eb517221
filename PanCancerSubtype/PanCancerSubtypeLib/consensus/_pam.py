"""Numba kernels of the consensus clustering (private to this package).

* :func:`pam_r` - ``cluster::pam(diss, k)`` (variant "original", cluster 2.1.4 ``pam.c``), BUILD + SWAP
  with the same floating-point operations in the same order and the same tie rules, so that its
  medoids and labels equal R's.
* :func:`hclust_average_r` / :func:`cutree_r` - R's ``hclust(method = "average")`` (``hclust.f``,
  including its nearest-neighbour-chain tie rule and J. Bien's fix) and ``cutree(tree, k)``.
* :func:`pearson_distance_r` - ``1 - cor(t(X))`` computed like R's ``cov.c`` (long double sums),
  so that the distances equal R's doubles.
* fast-mode kernels: greedy BUILD for ``k_min``; for every larger k the local optimum of k-1 plus
  one greedy BUILD step is the start; then an eager, blocked and vectorised swap search (FastPAM1 /
  FasterPAM terms, Schubert & Rousseeuw 2021) until no single swap lowers the total deviation;
  resamplings run in parallel threads (``numba.prange``).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_DBL_EPS = np.finfo(np.float64).eps


# ----------------------------------------------------------------------------------------------
# cluster::pam, variant "original" (exact R semantics)
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _pam_r_kernel(D, k):
    n = D.shape[0]
    # s := max{dys}, bswap: s = s * 1.1 + 1
    s = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            if s < D[i, j]:
                s = D[i, j]
    s_cstat = s
    s = s * 1.1 + 1.0
    nrepr = np.zeros(n, dtype=np.bool_)
    dysma = np.empty(n)
    dysmb = np.empty(n)
    for i in range(n):
        dysma[i] = s
    # BUILD
    for _ in range(k):
        nmax = -1
        ammax = 0.0
        for i in range(n):
            if not nrepr[i]:
                bet = 0.0
                for j in range(n):
                    cmd = dysma[j] - D[i, j]
                    if cmd > 0.0:
                        bet += cmd
                if ammax <= bet:
                    ammax = bet
                    nmax = i
        nrepr[nmax] = True
        for j in range(n):
            if dysma[j] > D[nmax, j]:
                dysma[j] = D[nmax, j]
    sky = 0.0
    for j in range(n):
        sky += dysma[j]
    # SWAP
    if k > 1:
        while True:
            for j in range(n):
                dysma[j] = s
                dysmb[j] = s
                for i in range(n):
                    if nrepr[i]:
                        dij = D[i, j]
                        if dysma[j] > dij:
                            dysmb[j] = dysma[j]
                            dysma[j] = dij
                        elif dysmb[j] > dij:
                            dysmb[j] = dij
            dzsky = 1.0
            hbest = -1
            nbest = -1
            for h in range(n):
                if nrepr[h]:
                    continue
                for i in range(n):
                    if not nrepr[i]:
                        continue
                    dz = 0.0
                    for j in range(n):
                        dhj = D[h, j]
                        dij = D[i, j]
                        if dij == dysma[j]:
                            small = dhj if dysmb[j] > dhj else dysmb[j]
                            dz += (-dysma[j] + small)
                        elif dhj < dysma[j]:
                            dz += (-dysma[j] + dhj)
                    if dzsky > dz:
                        dzsky = dz
                        hbest = h
                        nbest = i
            if dzsky < -16.0 * _DBL_EPS * abs(sky):
                nrepr[hbest] = True
                nrepr[nbest] = False
                sky += dzsky
            else:
                break
    # cstat: nearest medoid (strict <, lowest medoid index wins), numbering by first appearance
    ss = s_cstat * 1.1 + 1.0
    nsend = np.empty(n, dtype=np.int64)
    for j in range(n):
        if not nrepr[j]:
            dsmal = ss
            ksmal = -1
            for kk in range(n):
                if nrepr[kk]:
                    if dsmal > D[kk, j]:
                        dsmal = D[kk, j]
                        ksmal = kk
            nsend[j] = ksmal
        else:
            nsend[j] = j
    labels = np.zeros(n, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)  # medoid -> cluster number
    nxt = 0
    for j in range(n):
        m = nsend[j]
        if code[m] == 0:
            nxt += 1
            code[m] = nxt
        labels[j] = code[m]
    medoids = np.empty(k, dtype=np.int64)
    c = 0
    for i in range(n):
        if nrepr[i]:
            medoids[c] = i
            c += 1
    return labels, medoids, sky


def pam_r(D, k: int):
    """``cluster::pam(as.dist(D), k, diss = TRUE)`` with R's exact semantics.

    Parameters
    ----------
    D : (n, n) symmetric dissimilarity matrix (float64, zero diagonal).
    k : number of medoids, ``1 <= k < n``.

    Returns
    -------
    labels : (n,) int64, clusters 1..k numbered by first appearance (R's ``clustering``).
    medoids : (k,) int64, 0-based medoid indices in increasing order (R's ``id.med - 1`` sorted).
    """
    D = np.ascontiguousarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"pam_r needs a square dissimilarity matrix, got shape {D.shape}")
    n = D.shape[0]
    if not (1 <= k < n):
        raise ValueError(f"pam_r: number of clusters k={k} must be in 1..{n - 1} for {n} items")
    if not np.all(np.isfinite(D)):
        raise ValueError("pam_r: the dissimilarity matrix holds NaN or infinite values")
    labels, medoids, _ = _pam_r_kernel(D, int(k))
    return labels, medoids


# ----------------------------------------------------------------------------------------------
# R's hclust (average) + cutree
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _hclust_average_r_kernel(diss_in, n_merges):
    n = diss_in.shape[0]
    diss = diss_in.copy()
    INF = 1e300
    flag = np.ones(n, dtype=np.bool_)
    membr = np.ones(n)
    nn = np.zeros(n, dtype=np.int64)
    disnn = np.zeros(n)
    ia = np.zeros(n_merges, dtype=np.int64)
    ib = np.zeros(n_merges, dtype=np.int64)
    crit = np.zeros(n_merges)
    jm = 0
    im = 0
    jj = 0
    for i in range(n - 1):
        dmin = INF
        for j in range(i + 1, n):
            if dmin > diss[i, j]:
                dmin = diss[i, j]
                jm = j
        nn[i] = jm
        disnn[i] = dmin
    for step in range(n_merges):
        dmin = INF
        for i in range(n - 1):
            if flag[i] and disnn[i] < dmin:
                dmin = disnn[i]
                im = i
                jm = nn[i]
        i2 = min(im, jm)
        j2 = max(im, jm)
        ia[step] = i2
        ib[step] = j2
        crit[step] = dmin
        flag[j2] = False
        dmin = INF
        for kk in range(n):
            if flag[kk] and kk != i2:
                v = (membr[i2] * diss[i2, kk] + membr[j2] * diss[j2, kk]) / (membr[i2] + membr[j2])
                diss[i2, kk] = v
                diss[kk, i2] = v
                if i2 < kk:
                    if v < dmin:
                        dmin = v
                        jj = kk
                else:
                    if v < disnn[kk]:
                        disnn[kk] = v
                        nn[kk] = i2
        membr[i2] = membr[i2] + membr[j2]
        disnn[i2] = dmin
        nn[i2] = jj
        for i in range(n - 1):
            if flag[i] and (nn[i] == i2 or nn[i] == j2):
                dmin = INF
                for j in range(i + 1, n):
                    if flag[j]:
                        if diss[i, j] < dmin:
                            dmin = diss[i, j]
                            jj = j
                nn[i] = jj
                disnn[i] = dmin
    return ia, ib, crit


def hclust_average_r(diss, n_merges=None):
    """Merges of R's ``hclust(as.dist(diss), method = "average")``: (ia, ib, heights) with 0-based
    item indices ``ia < ib`` (the representative of a cluster is its lowest item), in merge order."""
    diss = np.ascontiguousarray(diss, dtype=np.float64)
    n = diss.shape[0]
    if n_merges is None:
        n_merges = n - 1
    return _hclust_average_r_kernel(diss, int(n_merges))


@njit(cache=True)
def _cutree_kernel(n, ia, ib, n_merges):
    parent = np.arange(n)
    for s in range(n_merges):
        # representatives: ia is the lowest index of its cluster, ib of its own (hclust.f semantics)
        a = ia[s]
        b = ib[s]
        while parent[a] != a:
            a = parent[a]
        while parent[b] != b:
            b = parent[b]
        if a < b:
            parent[b] = a
        else:
            parent[a] = b
    labels = np.zeros(n, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)
    nxt = 0
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        if code[r] == 0:
            nxt += 1
            code[r] = nxt
        labels[i] = code[r]
    return labels


def cutree_r(diss, k: int) -> np.ndarray:
    """``cutree(hclust(as.dist(diss), "average"), k)``: labels 1..k numbered by first appearance."""
    diss = np.ascontiguousarray(diss, dtype=np.float64)
    n = diss.shape[0]
    if not (1 <= k <= n):
        raise ValueError(f"cutree: k={k} must be in 1..{n}")
    nm = n - k
    ia, ib, _ = _hclust_average_r_kernel(diss, nm)
    return _cutree_kernel(n, ia, ib, nm)


# ----------------------------------------------------------------------------------------------
# R-exact Pearson distance
# ----------------------------------------------------------------------------------------------
def pearson_distance_r(X) -> np.ndarray:
    """``as.matrix(1 - cor(t(X)))`` for X (items x features), computed as R's ``cov.c``
    (``cov_na_1``: two-pass long-double means, long-double cross-product sums, double ratio), so
    that the result equals R's doubles on platforms where R's ``LDOUBLE`` is the x87 80-bit type
    (x86-64 Linux).  Items with zero variance give NaN (R: NA with a warning)."""
    X = np.asarray(X, dtype=np.float64)
    n_items, p = X.shape
    L = np.longdouble
    Xl = X.astype(L)
    # MEAN_: sum in long double, tmp = sum / n, then tmp += sum(x - tmp) / n
    s = np.zeros(n_items, dtype=L)
    for kcol in range(p):
        s = s + Xl[:, kcol]
    tmp = s / L(p)
    s2 = np.zeros(n_items, dtype=L)
    for kcol in range(p):
        s2 = s2 + (Xl[:, kcol] - tmp)
    tmp = tmp + s2 / L(p)
    xm = tmp.astype(np.float64).astype(L)  # xm[i] = (double) tmp
    C = np.zeros((n_items, n_items), dtype=L)
    Xc = Xl - xm[:, None]  # (xx[k] - xxm) in long double
    for kcol in range(p):
        col = Xc[:, kcol]
        C += col[:, None] * col[None, :]
    cov = (C / L(p - 1)).astype(np.float64)
    sd = np.sqrt(np.diag(cov).copy())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / (sd[:, None] * sd[None, :])
    r = np.clip(r, -1.0, 1.0)
    zero = sd == 0
    if zero.any():
        r[zero, :] = np.nan
        r[:, zero] = np.nan
    np.fill_diagonal(r, 1.0)
    return 1.0 - r


def pearson_distance_fast(X) -> np.ndarray:
    """``1 - Pearson correlation`` between the rows of X (float64, BLAS; equal to R's up to ~1e-15)."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=1, keepdims=True)
    nrm = np.sqrt(np.einsum("ij,ij->i", Xc, Xc))
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = Xc / nrm[:, None]
    R = Z @ Z.T
    np.clip(R, -1.0, 1.0, out=R)
    np.fill_diagonal(R, 1.0)
    zero = nrm == 0
    if zero.any():
        R[zero, :] = np.nan
        R[:, zero] = np.nan
    return 1.0 - R


# ----------------------------------------------------------------------------------------------
# fast mode: BUILD once up to k_max, eager SWAP (FasterPAM) per k, in parallel over resamples
# ----------------------------------------------------------------------------------------------
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


@njit(cache=True, fastmath=True)
def _build_add(Dr, med, k):
    """One greedy BUILD step: given medoids med[:k-1], choose med[k-1] maximising the decrease of
    the total deviation (the BUILD criterion)."""
    m = Dr.shape[0]
    dmin = np.empty(m, dtype=Dr.dtype)
    row = Dr[med[0]]
    for j in range(m):
        dmin[j] = row[j]
    for c in range(1, k - 1):
        _lower(dmin, Dr[med[c]])
    ismed = np.zeros(m, dtype=np.bool_)
    for c in range(k - 1):
        ismed[med[c]] = True
    med[k - 1] = _best_addition(Dr, dmin, ismed)


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
def _swap_blocked(Dr, med, k, n1, d1, n2, d2, labels, max_passes, hb):
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


@njit(cache=True)
def _submatrix(D, idx, dtype):
    """D[idx][:, idx] as a new contiguous array of ``dtype`` (one resample's distances)."""
    m = idx.shape[0]
    Dr = np.empty((m, m), dtype=dtype)
    for i in range(m):
        Di = D[idx[i]]
        for j in range(m):
            Dr[i, j] = Di[idx[j]]
    return Dr


@njit(cache=True, parallel=True)
def _fast_batch(D, S, kmin, kmax, labels_out):
    """For every resample b (rows of S, 0-based sorted item indices), gather D[S_b, S_b], BUILD up to
    kmax, then FasterPAM per k; labels_out[b, k - kmin, :] = 0..k-1 labels of the sampled items."""
    B, m = S.shape
    for b in prange(B):
        Dr = _submatrix(D, S[b], D.dtype)
        order = np.empty(kmin, dtype=np.int64)
        _build_prefix(Dr, kmin, order)
        n1 = np.empty(m, dtype=np.int64)
        n2 = np.empty(m, dtype=np.int64)
        d1 = np.empty(m, dtype=np.float64)
        d2 = np.empty(m, dtype=np.float64)
        lab = np.empty(m, dtype=np.int64)
        med = np.empty(kmax, dtype=np.int64)
        med[:kmin] = order
        for k in range(kmin, kmax + 1):
            if k > kmin:
                # warm start: the optimum for k-1 plus one greedy BUILD step
                _build_add(Dr, med, k)
            _swap_blocked(Dr, med[:k], k, n1, d1, n2, d2, lab, 50, 128)
            for j in range(m):
                labels_out[b, k - kmin, j] = lab[j]


@njit(cache=True, parallel=True)
def _r_batch(D, S, kmin, kmax, labels_out):
    """R-compatible batch: exact ``pam_r`` on D[S_b, S_b] for every resample and every k."""
    B, m = S.shape
    for b in prange(B):
        Dr = _submatrix(D, S[b], np.float64)
        for k in range(kmin, kmax + 1):
            lab, _, _ = _pam_r_kernel(Dr, k)
            for j in range(m):
                labels_out[b, k - kmin, j] = lab[j] - 1


@njit(cache=True, parallel=True)
def _accumulate_counts(S, labels, I, M):
    """Integer co-clustering counts, upper triangle incl. diagonal: I[i, j] += 1 for sampled
    i <= j, M[kk, i, j] += 1 for sampled i <= j with equal labels.  Items of each cluster are
    gathered first (counting sort) so only same-cluster pairs are visited; parallel over k."""
    B, m = S.shape
    nk = labels.shape[1]
    for t in prange(nk + 1):
        if t == nk:
            for b in range(B):
                idx = S[b]
                for a in range(m):
                    row = I[idx[a]]
                    for c in range(a, m):
                        row[idx[c]] += 1
            continue
        Mk = M[t]
        order = np.empty(m, dtype=np.int64)
        for b in range(B):
            idx = S[b]
            lab = labels[b, t]
            kcl = 0
            for a in range(m):
                if lab[a] + 1 > kcl:
                    kcl = lab[a] + 1
            start = np.zeros(kcl + 1, dtype=np.int64)
            for a in range(m):
                start[lab[a] + 1] += 1
            for c in range(kcl):
                start[c + 1] += start[c]
            pos = start[:kcl].copy()
            for a in range(m):  # stable: items stay in increasing order inside a cluster
                order[pos[lab[a]]] = idx[a]
                pos[lab[a]] += 1
            for c in range(kcl):
                for a in range(start[c], start[c + 1]):
                    row = Mk[order[a]]
                    for e in range(a, start[c + 1]):
                        row[order[e]] += 1
