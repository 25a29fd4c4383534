"""CPU hot loops of the sparsification family (Numba).

Tree kernels (sequential by nature): BFS layers, Kruskal's spanning forest,
Tarjan's offline lowest common ancestors with the tree resistance to the root, and the
similarity-filtered edge selection. Parallel kernels: the spectral edge scores
(:func:`edge_heat`) and the dyGRASS non-backtracking random walks
(:func:`nbrw_walks`), whose GPU twins with the same names and semantics live in
``gpu/sparsify_kernels.py``.

The walks draw their random numbers from a counter-based generator (SplitMix64 of
``seed``, batch, update index, walker and step), so a walk is a pure function of its
coordinates: the CPU and GPU kernels make bit-identical walks from the same seed, and
a walk can be replayed to record its path.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from solvers._config import njit

# -- counter-based random numbers (shared bit-for-bit with the GPU kernels) -----------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)


@njit
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit
def walker_key(seed, batch, item, walker):
    """The 64-bit starting state of one walker (a hash of its coordinates)."""
    k = _mix64(np.uint64(seed) + _GOLDEN)
    k = _mix64(k ^ (np.uint64(batch) * _M1))
    k = _mix64(k ^ (np.uint64(item) * _M2))
    return _mix64(k ^ (np.uint64(walker) + _GOLDEN))


@njit
def _draw(key, step, d):
    """Uniform integer in ``[0, d)`` for step ``step`` of the walker with ``key``."""
    z = _mix64(key + np.uint64(step + 1) * _GOLDEN)
    return np.int64((z >> np.uint64(11)) % np.uint64(d))


# -- BFS, spanning forest, LCA ------------------------------------------------------
@njit
def bfs_layers(indptr, indices, root, layer):
    """Breadth-first layers from ``root`` (``layer`` preset to -1; unreached stay -1)."""
    n = indptr.size - 1
    queue = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    layer[root] = 0
    queue[tail] = root
    tail += 1
    while head < tail:
        x = queue[head]
        head += 1
        for k in range(indptr[x], indptr[x + 1]):
            y = indices[k]
            if layer[y] < 0:
                layer[y] = layer[x] + 1
                queue[tail] = y
                tail += 1
    return tail


@njit
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit
def kruskal_forest(order, u, v, n, in_tree):
    """Kruskal: scan edges in ``order``; mark in ``in_tree`` those joining two trees.

    Returns the number of tree edges (``n - components``).
    """
    parent = np.arange(n)
    rank = np.zeros(n, dtype=np.int32)
    count = 0
    for t in range(order.size):
        e = order[t]
        a = _find(parent, u[e])
        b = _find(parent, v[e])
        if a == b:
            continue
        if rank[a] < rank[b]:
            a, b = b, a
        parent[b] = a
        if rank[a] == rank[b]:
            rank[a] += 1
        in_tree[e] = True
        count += 1
        if count == n - 1:
            break
    return count


@njit
def tree_lca(indptr, indices, wts, eids, in_tree, root, dist, parent, lca):
    """Root the spanning tree (the ``in_tree`` edges of the graph CSR) at ``root``.

    Fills ``dist`` (tree resistance from the root, the sum of ``1/w`` along the tree
    path), ``parent`` (-1 at the root) and, for every off-tree edge ``e``, ``lca[e]``:
    the lowest common ancestor of its endpoints (Tarjan's offline algorithm with a
    union-find whose unfinished vertices are their own representatives). Returns the
    number of vertices reached.
    """
    n = indptr.size - 1
    uf = np.arange(n)
    state = np.zeros(n, dtype=np.int8)  # 0 new, 1 on the stack, 2 finished
    nxt = indptr[:-1].copy()  # next CSR slot to scan, per vertex
    stack = np.empty(n, dtype=np.int64)
    top = 0
    stack[0] = root
    state[root] = 1
    dist[root] = 0.0
    parent[root] = -1
    reached = 1
    while top >= 0:
        x = stack[top]
        pushed = False
        while nxt[x] < indptr[x + 1]:
            k = nxt[x]
            nxt[x] += 1
            if not in_tree[eids[k]]:
                continue
            y = indices[k]
            if state[y] != 0:
                continue
            state[y] = 1
            parent[y] = x
            dist[y] = dist[x] + 1.0 / wts[k]
            top += 1
            stack[top] = y
            reached += 1
            pushed = True
            break
        if pushed:
            continue
        top -= 1
        for k in range(indptr[x], indptr[x + 1]):
            e = eids[k]
            if in_tree[e]:
                continue
            y = indices[k]
            if state[y] == 2:
                lca[e] = _find(uf, y)
        state[x] = 2
        if parent[x] >= 0:
            uf[x] = parent[x]
    return reached


@njit(parallel=True)
def tree_stretch(u, v, w, dist, lca, in_tree, out):
    """Stretch ``w_e R_T(u, v)`` of every off-tree edge (0 for tree edges)."""
    for e in prange(u.size):
        if in_tree[e]:
            out[e] = 0.0
        else:
            r = dist[u[e]] + dist[v[e]] - 2.0 * dist[lca[e]]
            out[e] = w[e] * max(r, 0.0)


@njit
def select_dissimilar(order, u, v, h_indptr, h_indices, budget, hops, ball, mark, picked):
    """Greedy selection of the best-scored edges that are not "similar".

    Scans ``order`` (best first) in passes; in pass ``p`` an edge is taken when both
    endpoints were marked fewer than ``p`` times. Taking an edge marks its endpoints
    and the vertices within ``hops`` hops of them in H (CSR ``h_indptr, h_indices``),
    at most ``ball`` vertices per endpoint, nearest first (breadth-first order),
    so the next edges of a pass land elsewhere (feGRASS's similarity rule). Stops after
    ``budget`` edges or when the list is exhausted. ``picked`` (bool per candidate
    position) receives the choice; returns the number taken.
    """
    n = h_indptr.size - 1
    seen = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    qd = np.empty(n, dtype=np.int64)
    taken = 0
    limit = 1
    m = order.size
    while taken < budget and limit <= 64:
        progress = False
        for t in range(m):
            if taken >= budget:
                break
            if picked[t]:
                continue
            e = order[t]
            a = u[e]
            b = v[e]
            if mark[a] >= limit or mark[b] >= limit:
                continue
            picked[t] = True
            taken += 1
            progress = True
            for s in range(2):
                x0 = a if s == 0 else b
                head = 0
                tail = 1
                queue[0] = x0
                qd[0] = 0
                seen[x0] = taken * 2 + s
                while head < tail and head < ball:
                    x = queue[head]
                    d = qd[head]
                    head += 1
                    mark[x] += 1
                    if d >= hops:
                        continue
                    for k in range(h_indptr[x], h_indptr[x + 1]):
                        y = h_indices[k]
                        if seen[y] != taken * 2 + s:
                            seen[y] = taken * 2 + s
                            queue[tail] = y
                            qd[tail] = d + 1
                            tail += 1
        if not progress and limit > 1 and taken > 0:
            # nothing left that passes any looser limit either
            all_picked = True
            for t in range(m):
                if not picked[t]:
                    all_picked = False
                    break
            if all_picked:
                break
        limit += 1
    return taken


@njit(parallel=True)
def edge_heat(u, v, w, U, theta, out):
    """Spectral score of each edge: ``w_e Σ_j θ_j (U[u_e, j] - U[v_e, j])²``.

    With ``U`` the L_H-normalised Ritz vectors of the pencil (L_G, L_H) and ``θ`` their
    Ritz values, this is the first-order drop of ``Σ_j θ_j`` when the edge joins H.
    """
    k = U.shape[1]
    for e in prange(u.size):
        a = u[e]
        b = v[e]
        s = 0.0
        for j in range(k):
            d = U[a, j] - U[b, j]
            s += theta[j] * d * d
        out[e] = w[e] * s
