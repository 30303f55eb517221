"""R's ``hclust(method = "average")`` and ``cutree`` (private to this package).

:func:`hclust_average_r` follows ``hclust.f`` (R 4.x, including its nearest-neighbour tie rule
and J. Bien's fix): each step merges the pair of the **smallest** i with strictly minimal
nearest-neighbour distance, with the average-link Lance-Williams update
``d(I u J, K) = (|I| d(I, K) + |J| d(J, K)) / (|I| + |J|)``.  :func:`cutree_r` performs the first
``n - k`` merges and numbers the clusters by first appearance along the items, as ``cutree``.
Consensus values are discrete, so ties are common and the tie rule decides the classes.
"""
from __future__ import annotations

import numpy as np
from numba import njit

@njit(cache=True)
def _hclust_average_r_kernel(diss, n_merges):
    """The merges of hclust.f; ``diss`` (n x n, symmetric) is overwritten by the updates."""
    n = diss.shape[0]
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
    diss = np.array(diss, dtype=np.float64, order="C", copy=True)
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


def cutree_r(diss, k: int, overwrite: bool = False) -> np.ndarray:
    """``cutree(hclust(as.dist(diss), "average"), k)``: labels 1..k numbered by first appearance.

    ``overwrite=True`` lets the merges overwrite ``diss`` (a C-contiguous float64 array) instead
    of working on a copy (saves one n x n matrix for large n)."""
    if not (overwrite and isinstance(diss, np.ndarray) and diss.dtype == np.float64
            and diss.flags.c_contiguous and diss.flags.writeable):
        diss = np.array(diss, dtype=np.float64, order="C", copy=True)
    n = diss.shape[0]
    if not (1 <= k <= n):
        raise ValueError(f"cutree: k={k} must be in 1..{n}")
    nm = n - k
    ia, ib, _ = _hclust_average_r_kernel(diss, nm)
    return _cutree_kernel(n, ia, ib, nm)
