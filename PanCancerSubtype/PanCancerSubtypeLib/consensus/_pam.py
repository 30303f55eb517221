"""R-exact kernels of the consensus clustering (private to this package).

* :func:`pam_r` - ``cluster::pam(diss, k)`` (variant "original", cluster 2.1.4 ``pam.c``): the
  medoids and labels equal R's, ties included.
* :func:`pam_r_all_k` - the same for every k of ``k_min..k_max`` on one dissimilarity matrix,
  as ConsensusClusterPlus calls it once per k, but with the work shared and reduced:

  - **BUILD once.**  R's BUILD is greedy and does not look at k: the first k medoids of the
    BUILD for ``k_max`` are the BUILD for k (same sums in the same order), and so is ``sky``
    after k steps.  Each BUILD gain ``sum_j max(dysma_j - d_ij, 0)`` is accumulated for all
    candidates i at once along the rows ``j`` (``D`` symmetric), which adds the same terms in the
    same order as R's loop over j, so the sums are R's doubles.
  - **SWAP with FastPAM1 bounds** (Schubert & Rousseeuw 2021).  R evaluates every pair
    (medoid i, non-medoid h): ``T_ih = sum_j t_ijh`` with ``t = min(dysmb_j, d_hj) - dysma_j``
    when ``d_ij == dysma_j`` and ``min(d_hj - dysma_j, 0)`` otherwise, O(k n^2) per swap; it takes
    the first strict minimum in the order (h ascending, i ascending) and swaps when it is below
    ``-16 eps |sky|``.  Here ``T_ih`` is first estimated in O(n^2) for all pairs:
    ``T_ih = S_h + R_ih`` with ``S_h = sum_j min(d_hj - dysma_j, 0)`` and
    ``R_ih = sum_{j: c(j) = i} (min(max(d_hj, dysma_j), dysmb_j) - dysma_j)`` (c(j) = a nearest
    medoid of j; when j has two nearest medoids ``dysmb_j = dysma_j`` and the term is 0 for both,
    as in R).  The estimate and R's sum differ only by rounding, bounded by
    ``|error| <= gamma_n * sum_j |t_j| <= 2 n^2 u max|d|`` for either (u = 2^-53): every pair
    whose estimate lies within ``tol = 16 (n + 2)^2 eps max|d|`` (> twice both bounds) of the
    smallest estimate is a candidate, and only the candidates are summed again exactly as R does
    (same terms, same order).  A pair left out is strictly worse than the best candidate in R's
    own arithmetic, so the first strict minimum among the candidates in R's order is R's choice,
    exact ties included; its exact sum also updates ``sky`` and decides the stop as in R.
  - labels: each non-medoid to the nearest medoid (strict ``<``: the lowest medoid index wins),
    clusters numbered by first appearance (R's ``cstat``).
* :func:`pearson_distance_r` - ``1 - cor(t(X))`` computed like R's ``cov.c`` (long double sums),
  so that the distances equal R's doubles.
* ``_pam_r_kernel`` - a line-by-line port of R's BUILD + SWAP, O(k n^2) per swap: the reference
  the fast exact kernels are tested against.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_DBL_EPS = np.finfo(np.float64).eps


# ----------------------------------------------------------------------------------------------
# cluster::pam, variant "original": line-by-line reference
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


# ----------------------------------------------------------------------------------------------
# cluster::pam, variant "original": BUILD shared between k, SWAP with exact candidates
# ----------------------------------------------------------------------------------------------
@njit(cache=True)
def _max_min(D):
    """(max, min) of the off-diagonal entries (R: ``s = max(dys)`` over the lower triangle)."""
    n = D.shape[0]
    s = 0.0
    lo = 0.0
    for i in range(n):
        row = D[i]
        for j in range(i + 1, n):
            v = row[j]
            if s < v:
                s = v
            if lo > v:
                lo = v
    return s, lo


@njit(cache=True)
def _r_build_order(D, kmax, s, order, skys):
    """R's BUILD up to ``kmax`` medoids: ``order[t]`` = the medoid added at step t, ``skys[t]`` =
    ``sum_j dysma_j`` after t + 1 medoids (R's ``sky`` for k = t + 1).  The gains of all
    candidates are accumulated along the rows j (same terms, same order as R's loop over j);
    ``max(cmd, 0)`` adds exactly what R's ``if (cmd > 0) bet += cmd`` adds (bet >= +0)."""
    n = D.shape[0]
    dysma = np.empty(n)
    for j in range(n):
        dysma[j] = s
    nrepr = np.zeros(n, dtype=np.bool_)
    bet = np.empty(n)
    for t in range(kmax):
        for i in range(n):
            bet[i] = 0.0
        for j in range(n):
            a = dysma[j]
            row = D[j]
            for i in range(n):
                cmd = a - row[i]
                bet[i] += cmd if cmd > 0.0 else 0.0
        nmax = -1
        ammax = 0.0
        for i in range(n):
            if not nrepr[i] and ammax <= bet[i]:  # ties: the largest index
                ammax = bet[i]
                nmax = i
        nrepr[nmax] = True
        order[t] = nmax
        row = D[nmax]
        for j in range(n):
            if dysma[j] > row[j]:
                dysma[j] = row[j]
        sky = 0.0
        for j in range(n):
            sky += dysma[j]
        skys[t] = sky


@njit(cache=True)
def _r_dz(D, i, h, dysma, dysmb):
    """R's ``dz`` for removing medoid i and adding h: the same terms in the same order."""
    n = D.shape[0]
    Di = D[i]
    Dh = D[h]
    dz = 0.0
    for j in range(n):
        dij = Di[j]
        dhj = Dh[j]
        a = dysma[j]
        if dij == a:
            b = dysmb[j]
            small = dhj if b > dhj else b
            dz += (-a + small)
        elif dhj < a:
            dz += (-a + dhj)
    return dz


@njit(cache=True)
def _r_swap(D, med, k, s, sky, tol, nrepr, dysma, dysmb, near, shared, corr):
    """R's SWAP phase from the medoids ``med[:k]`` (ascending, flagged in ``nrepr``); ``med`` /
    ``nrepr`` are updated in place; returns the final ``sky``.  See the module docstring."""
    n = D.shape[0]
    stop = 16.0 * _DBL_EPS
    while True:
        # nearest / second-nearest medoid distance of every item (pure minima, as R)
        for j in range(n):
            a = s
            b = s
            c1 = 0
            row = D[j]
            for c in range(k):
                dij = row[med[c]]
                if a > dij:
                    b = a
                    a = dij
                    c1 = c
                elif b > dij:
                    b = dij
            dysma[j] = a
            dysmb[j] = b
            near[j] = c1
        # FastPAM1 estimates of every T_ih in O(n^2): shared[h] + corr[c, h]
        for h in range(n):
            shared[h] = 0.0
        for c in range(k):
            for h in range(n):
                corr[c, h] = 0.0
        for j in range(n):
            a = dysma[j]
            b = dysmb[j]
            row = D[j]
            if b > a:
                cr = corr[near[j]]
                for h in range(n):
                    d = row[h]
                    shared[h] += min(d - a, 0.0)
                    cr[h] += min(max(d, a), b) - a
            else:
                for h in range(n):
                    shared[h] += min(row[h] - a, 0.0)
        tmin = np.inf
        for h in range(n):
            if nrepr[h]:
                continue
            sh = shared[h]
            for c in range(k):
                v = sh + corr[c, h]
                if v < tmin:
                    tmin = v
        # candidates summed exactly, in R's order: first strict minimum
        thr = tmin + tol
        dzsky = 1.0
        hbest = -1
        cbest = -1
        for h in range(n):
            if nrepr[h]:
                continue
            sh = shared[h]
            for c in range(k):
                if sh + corr[c, h] <= thr:
                    dz = _r_dz(D, med[c], h, dysma, dysmb)
                    if dzsky > dz:
                        dzsky = dz
                        hbest = h
                        cbest = c
        if hbest >= 0 and dzsky < -stop * abs(sky):
            nrepr[med[cbest]] = False
            nrepr[hbest] = True
            med[cbest] = hbest
            # keep med ascending (R visits the medoids in index order)
            c = cbest
            while c > 0 and med[c - 1] > med[c]:
                med[c - 1], med[c] = med[c], med[c - 1]
                c -= 1
            while c < k - 1 and med[c + 1] < med[c]:
                med[c + 1], med[c] = med[c], med[c + 1]
                c += 1
            sky += dzsky
        else:
            return sky


@njit(cache=True)
def _r_labels(D, med, k, nrepr, s_raw, labels):
    """R's ``cstat``: each non-medoid to its nearest medoid (strict ``<``: the lowest medoid index
    wins), clusters numbered 1.. by first appearance along the items."""
    n = D.shape[0]
    ss = s_raw * 1.1 + 1.0
    code = np.zeros(n, dtype=np.int64)  # medoid -> cluster number
    nxt = 0
    for j in range(n):
        if nrepr[j]:
            m = j
        else:
            dsmal = ss
            m = -1
            row = D[j]
            for c in range(k):  # medoids ascending
                v = row[med[c]]
                if dsmal > v:
                    dsmal = v
                    m = med[c]
        if code[m] == 0:
            nxt += 1
            code[m] = nxt
        labels[j] = code[m]


@njit(cache=True)
def _pam_r_all_k(D, kmin, kmax, labels, medoids):
    """``cluster::pam(D, k)`` for k = kmin..kmax: ``labels[k - kmin]`` (1..k, R's numbering) and
    ``medoids[k - kmin, :k]`` (ascending).  D: symmetric, zero diagonal, float64."""
    n = D.shape[0]
    s_raw, lo = _max_min(D)
    s = s_raw * 1.1 + 1.0
    dabs = max(s_raw, -lo)
    tol = 16.0 * (n + 2.0) * (n + 2.0) * _DBL_EPS * dabs
    order = np.empty(kmax, dtype=np.int64)
    skys = np.empty(kmax)
    _r_build_order(D, kmax, s, order, skys)
    nrepr = np.zeros(n, dtype=np.bool_)
    dysma = np.empty(n)
    dysmb = np.empty(n)
    near = np.empty(n, dtype=np.int64)
    shared = np.empty(n)
    corr = np.empty((kmax, n))
    for k in range(kmin, kmax + 1):
        med = np.sort(order[:k])
        for i in range(n):
            nrepr[i] = False
        for c in range(k):
            nrepr[med[c]] = True
        if k > 1:
            _r_swap(D, med, k, s, skys[k - 1], tol, nrepr, dysma, dysmb, near, shared, corr)
        _r_labels(D, med, k, nrepr, s_raw, labels[k - kmin])
        for c in range(k):
            medoids[k - kmin, c] = med[c]


def _as_r_dist(D, name: str) -> np.ndarray:
    """A square matrix as R's ``as.dist`` sees it: the lower triangle, mirrored, zero diagonal."""
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"{name} needs a square dissimilarity matrix, got shape {D.shape}")
    if not np.all(np.isfinite(D)):
        raise ValueError(f"{name}: the dissimilarity matrix holds NaN or infinite values")
    low = np.tril(D, -1)
    return np.ascontiguousarray(low + low.T)


def pam_r(D, k: int, reference: bool = False):
    """``cluster::pam(as.dist(D), k, diss = TRUE)`` with R's exact semantics.

    Parameters
    ----------
    D : (n, n) dissimilarity matrix; as ``as.dist``, only its lower triangle is used.
    k : number of medoids, ``1 <= k < n``.
    reference : use the line-by-line port of R's loops (O(k n^2) per swap) instead of the
        shared-BUILD / FastPAM1-candidate kernel; both give R's result.

    Returns
    -------
    labels : (n,) int64, clusters 1..k numbered by first appearance (R's ``clustering``).
    medoids : (k,) int64, 0-based medoid indices in increasing order (R's ``id.med - 1`` sorted).
    """
    D = _as_r_dist(D, "pam_r")
    n = D.shape[0]
    if not (1 <= k < n):
        raise ValueError(f"pam_r: number of clusters k={k} must be in 1..{n - 1} for {n} items")
    if reference:
        labels, medoids, _ = _pam_r_kernel(D, int(k))
        return labels, medoids
    labels = np.empty((1, n), dtype=np.int64)
    medoids = np.empty((1, int(k)), dtype=np.int64)
    _pam_r_all_k(D, int(k), int(k), labels, medoids)
    return labels[0], medoids[0]


def pam_r_all_k(D, k_min: int, k_max: int):
    """:func:`pam_r` for every k in ``k_min..k_max`` (BUILD shared): ``({k: labels},
    {k: medoids})``."""
    D = _as_r_dist(D, "pam_r_all_k")
    n = D.shape[0]
    if not (1 <= k_min <= k_max < n):
        raise ValueError(f"pam_r_all_k: need 1 <= k_min <= k_max < {n}, got {k_min}..{k_max}")
    nk = k_max - k_min + 1
    labels = np.empty((nk, n), dtype=np.int64)
    medoids = np.zeros((nk, k_max), dtype=np.int64)
    _pam_r_all_k(D, int(k_min), int(k_max), labels, medoids)
    ks = range(k_min, k_max + 1)
    return ({k: labels[k - k_min] for k in ks}, {k: medoids[k - k_min, :k].copy() for k in ks})


@njit(cache=True)
def submatrix(D, idx, dtype):
    """D[idx][:, idx] as a new contiguous array of ``dtype`` (one resample's distances)."""
    m = idx.shape[0]
    Dr = np.empty((m, m), dtype=dtype)
    for i in range(m):
        Di = D[idx[i]]
        for j in range(m):
            Dr[i, j] = Di[idx[j]]
    return Dr


@njit(cache=True, parallel=True)
def r_batch(D, S, kmin, kmax, labels_out):
    """R-compatible batch: ``cluster::pam`` on D[S_b, S_b] for every resample b and every k;
    ``labels_out[b, k - kmin]`` = labels 0..k-1 (R's numbering minus one)."""
    B, m = S.shape
    for b in prange(B):
        Dr = submatrix(D, S[b], np.float64)
        nk = kmax - kmin + 1
        lab = np.empty((nk, m), dtype=np.int64)
        med = np.empty((nk, kmax), dtype=np.int64)
        _pam_r_all_k(Dr, kmin, kmax, lab, med)
        for t in range(nk):
            for j in range(m):
                labels_out[b, t, j] = lab[t, j] - 1


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


def pearson_distance_fast(X, dtype=np.float64, block: int = 2048) -> np.ndarray:
    """``1 - Pearson correlation`` between the rows of X (BLAS in float64, equal to R's up to
    ~1e-15), returned as ``dtype``; computed in blocks of rows, so that only the result is held
    at full size (n = 10,000: 400 MB in float32)."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=1, keepdims=True)
    nrm = np.sqrt(np.einsum("ij,ij->i", Xc, Xc))
    with np.errstate(invalid="ignore", divide="ignore"):
        Z = Xc / nrm[:, None]
    zero = nrm == 0
    n = X.shape[0]
    out = np.empty((n, n), dtype=dtype)
    for a in range(0, n, block):
        b = min(n, a + block)
        R = Z[a:b] @ Z.T
        np.clip(R, -1.0, 1.0, out=R)
        R[np.arange(b - a), np.arange(a, b)] = 1.0
        if zero.any():
            R[zero[a:b], :] = np.nan
            R[:, zero] = np.nan
        np.subtract(1.0, R, out=R)
        out[a:b] = R
    return out
