"""Minimum s-t cut of a graph whose terminal arcs are held per node (private to segmentation).

:func:`min_cut` is Dinic's algorithm (Dinitz, Soviet Math. Doklady 11:1277, 1970) compiled
with numba, written for :func:`._surface.optimal_surface`'s closed-set graphs:

* the graph is given without its source and sink: a CSR structure of its other arcs, each
  with its sister (the reverse arc, present with capacity 0 when the graph has none), and
  one terminal capacity per node (``terminal[v] > 0``: an arc source -> v of that capacity;
  ``< 0``: an arc v -> sink of minus that).  No arc list of the terminals, no reverse arcs
  built per call: the structure is made once per ray layout;
* each phase labels the nodes by their residual distance from the source-adjacent nodes (a
  breadth-first search that stops at the level of the first sink-adjacent node it meets),
  then saturates the level graph by depth-first searches with current-arc pointers from each
  source-adjacent node in turn;
* the result is the source side of the cut: the nodes reachable from the source in the final
  residual graph.  That set is the same for every maximum flow (the minimal minimum cut), so
  it does not depend on the algorithm: the tests check it, and the flow's value, against
  SciPy's ``maximum_flow``.  Its speed against SciPy's: ``benchmarks/segmentation_history.md``;
* it runs without the GIL (``nogil``): the confidence's jittered runs, on threads, cut at
  once.  Each call owns its ``residual`` and ``terminal``; the structure is only read.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["min_cut"]


@njit(cache=True, nogil=True)
def min_cut(indptr, head, sister, residual, terminal):
    """Maximum flow and the source side of the minimum cut (see the module docstring).

    ``indptr``, ``head``: CSR structure of the non-terminal arcs (node u's arcs are
    ``indptr[u]:indptr[u + 1]``, arc a goes to ``head[a]``); ``sister[a]``: the reverse arc of
    ``a``; ``residual`` (int64, per arc) and ``terminal`` (int64, per node): capacities,
    changed in place into the final residual capacities.  Returns (flow value, boolean source
    side per node)."""
    n = len(indptr) - 1
    level = np.empty(n, np.int64)
    queue = np.empty(n, np.int64)
    current = np.empty(n, np.int64)
    path = np.empty(n + 1, np.int64)
    tails = np.empty(n + 1, np.int64)
    total = 0
    while True:
        # breadth-first levels from the source-adjacent nodes, up to the first sink-adjacent
        # node's level
        level[:] = -1
        tail = 0
        for v in range(n):
            if terminal[v] > 0:
                level[v] = 0
                queue[tail] = v
                tail += 1
        head_q = 0
        sink_level = -1
        while head_q < tail:
            u = queue[head_q]
            head_q += 1
            if sink_level >= 0 and level[u] >= sink_level:
                break
            if terminal[u] < 0 and sink_level < 0:
                sink_level = level[u]
            for a in range(indptr[u], indptr[u + 1]):
                if residual[a] > 0:
                    v = head[a]
                    if level[v] < 0:
                        level[v] = level[u] + 1
                        queue[tail] = v
                        tail += 1
        if sink_level < 0:
            break
        for u in range(n):
            current[u] = indptr[u]
        # blocking flow: augmenting paths along the levels from each source-adjacent node
        for s in range(n):
            if level[s] != 0:
                continue
            while terminal[s] > 0:
                u = s
                depth = 0
                while terminal[u] >= 0:
                    advanced = False
                    end = indptr[u + 1]
                    while current[u] < end:
                        a = current[u]
                        v = head[a]
                        if residual[a] > 0 and level[v] == level[u] + 1:
                            path[depth] = a
                            tails[depth] = u
                            depth += 1
                            u = v
                            advanced = True
                            break
                        current[u] += 1
                    if not advanced:
                        if u == s:
                            break
                        level[u] = -1               # a dead end for the rest of the phase
                        depth -= 1
                        u = tails[depth]
                        current[u] += 1
                if terminal[u] >= 0:               # no path left from s
                    break
                f = min(terminal[s], -terminal[u])
                for i in range(depth):
                    f = min(f, residual[path[i]])
                for i in range(depth):
                    a = path[i]
                    residual[a] -= f
                    residual[sister[a]] += f
                terminal[s] -= f
                terminal[u] += f
                total += f
    # the source side: what the source still reaches in the residual graph
    side = np.zeros(n, np.bool_)
    tail = 0
    for v in range(n):
        if terminal[v] > 0:
            side[v] = True
            queue[tail] = v
            tail += 1
    head_q = 0
    while head_q < tail:
        u = queue[head_q]
        head_q += 1
        for a in range(indptr[u], indptr[u + 1]):
            v = head[a]
            if residual[a] > 0 and not side[v]:
                side[v] = True
                queue[tail] = v
                tail += 1
    return total, side
