"""Co-clustering counts of the consensus clustering, stored compactly (private to this package).

For n items and the resamplings r: ``I[i, j]`` = number of resamplings that drew both i and j
(co-sampling, the diagonal = how often i was drawn) and, for each k, ``M_k[i, j]`` = number of
those in which PAM put i and j in the same cluster.  ``C_k = M_k / I`` (0 where ``I = 0``).

Storage: only the upper triangle including the diagonal, row by row (``n (n + 1) / 2`` values;
entry (i, j), i <= j, at ``offsets[i] + j - i``), as ``uint16`` when fewer than 65,536
resamplings (no count can exceed the number of resamplings) else ``uint32``: 100 MB per k at
n = 10,000 instead of 400 MB (dense int32) or 800 MB (dense float64).

Accumulation, per batch of B resamplings: every item gets a bit set over the batch's resamplings
(drawn: ``bits_s``) and, for each k and cluster c, one more (drawn and in cluster c: ``bits_l``).
Then ``I[i, j] += popcount(s_i & s_j)`` and ``M_k[i, j] += sum_c popcount(l_ikc & l_jkc)``: one
pass over the pairs per batch, with whole machine words of resamplings per operation, instead of
one scattered increment per co-clustered pair and resampling.

The consensus values are formed as before: the integer counts converted to float64 and divided
once (IEEE division gives R's doubles); the statistics are read straight from the counts, one k
at a time, without a dense matrix (:func:`cdf_pac_counts`, :func:`item_sums`).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of a uint64 (LLVM ``ctpop``: one ``popcnt`` instruction)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def count_dtype(reps: int):
    """``uint16`` below 65,536 resamplings, else ``uint32``."""
    return np.uint16 if int(reps) < 65536 else np.uint32


def packed_offsets(n: int) -> np.ndarray:
    """``offsets[i]`` = position of (i, i) in the packed upper triangle (int64)."""
    i = np.arange(n, dtype=np.int64)
    return i * n - (i * (i - 1)) // 2


def packed_size(n: int) -> int:
    return n * (n + 1) // 2


def cluster_slots(kmin: int, kmax: int):
    """(first slot, number of slots) of each k in the per-item cluster bit sets."""
    ks = np.arange(kmin, kmax + 1, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(ks)[:-1]]).astype(np.int64)
    return first, ks


@njit(cache=True)
def fill_bits(S, labels, first, bits_s, bits_l):
    """Bit r of ``bits_s[i, r // 64]``: item i drawn in resampling r of the batch; bit r of
    ``bits_l[i, first[t] + c, r // 64]``: drawn and in cluster c (0-based) at the t-th k."""
    B, m = S.shape
    nk = labels.shape[1]
    bits_s[:] = 0
    bits_l[:] = 0
    for r in range(B):
        w = r >> 6
        bit = np.uint64(1) << np.uint64(r & 63)
        for a in range(m):
            i = S[r, a]
            bits_s[i, w] |= bit
            for t in range(nk):
                bits_l[i, first[t] + labels[r, t, a], w] |= bit


@njit(cache=True, parallel=True)
def add_counts(bits_s, bits_l, first, nslots, offsets, I, M):
    """``I[p(i, j)] += popcount(s_i & s_j)``, ``M[t, p(i, j)] += sum_c popcount(l_itc & l_jtc)``
    for all i <= j.  Rows i and n - 1 - i go to the same task (equal work per task)."""
    n, W = bits_s.shape
    nk = M.shape[0]
    half = (n + 1) // 2
    for task in prange(half):
        for side in range(2):
            i = np.int64(task)
            if side == 1:
                i = np.int64(n - 1) - i
                if i == task:
                    break
            si = bits_s[i]
            drawn = np.uint64(0)
            for w in range(W):
                drawn |= si[w]
            if drawn == 0:
                continue
            li = bits_l[i]
            base = offsets[i] - i
            for j in range(i, n):
                sj = bits_s[j]
                cnt = np.uint64(0)
                for w in range(W):
                    cnt += _popcount(si[w] & sj[w])
                if cnt == 0:
                    continue
                p = base + j
                I[p] += cnt
                lj = bits_l[j]
                for t in range(nk):
                    acc = np.uint64(0)
                    for s in range(first[t], first[t] + nslots[t]):
                        for w in range(W):
                            acc += _popcount(li[s, w] & lj[s, w])
                    M[t, p] += acc


@njit(cache=True, parallel=True)
def dense_matrix(Mk, I, offsets, one_minus, out):
    """``out`` (n x n float64) = ``C_k = M_k / I`` (0 where I = 0), or ``1 - C_k``."""
    n = out.shape[0]
    for i in prange(n):
        base = offsets[i] - i
        for j in range(i, n):
            p = base + j
            d = I[p]
            v = np.float64(Mk[p]) / np.float64(d) if d != 0 else 0.0
            if one_minus:
                v = 1.0 - v
            out[i, j] = v
            out[j, i] = v


@njit(cache=True, parallel=True)
def cdf_pac_counts(Mk, I, offsets, n, edges, lower, upper, nchunks):
    """Histogram of the strict upper triangle of ``C_k`` over ``edges`` (``hist[b]`` = number of
    values v with ``edges[b-1] < v <= edges[b]``; v <= edges[-1] for all v) and the number of
    values with ``lower < v <= upper``."""
    nb = edges.shape[0]
    hist = np.zeros((nchunks, nb), dtype=np.int64)
    pac = np.zeros(nchunks, dtype=np.int64)
    for ch in prange(nchunks):
        for i in range(ch, n, nchunks):
            base = offsets[i] - i
            for j in range(i + 1, n):
                p = base + j
                d = I[p]
                v = np.float64(Mk[p]) / np.float64(d) if d != 0 else 0.0
                b = int(v * (nb - 1))
                if b > nb - 1:
                    b = nb - 1
                if b < 0:
                    b = 0
                while b > 0 and v <= edges[b - 1]:
                    b -= 1
                while v > edges[b]:
                    b += 1
                hist[ch, b] += 1
                if v > lower and v <= upper:
                    pac[ch] += 1
    return hist.sum(axis=0), pac.sum()


@njit(cache=True, parallel=True)
def item_sums(Mk, I, offsets, classes, k):
    """``S[i, c]`` = sum of ``C_k[i, j]`` over the items j != i of class c (0-based), summed in
    increasing j."""
    n = classes.shape[0]
    S = np.zeros((n, k))
    for i in prange(n):
        row = S[i]
        for j in range(i):
            p = offsets[j] + i - j
            d = I[p]
            if d != 0:
                row[classes[j]] += np.float64(Mk[p]) / np.float64(d)
        base = offsets[i] - i
        for j in range(i + 1, n):
            p = base + j
            d = I[p]
            if d != 0:
                row[classes[j]] += np.float64(Mk[p]) / np.float64(d)
    return S
