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
def grow_balls(indptr, indices, eids, order, radius, comp, in_tree):
    """One level of the low-stretch tree: partition the graph into BFS balls.

    Scans the vertices in ``order``; an unassigned vertex becomes the centre of a new
    cluster, which grows breadth-first over unassigned vertices up to ``radius`` hops
    (neighbours in CSR order). Each vertex joins through one edge, marked in
    ``in_tree`` (original edge ids ``eids``), so every cluster is a BFS tree of its
    centre. Fills ``comp`` (cluster of each vertex) and returns the number of clusters.
    """
    n = indptr.size - 1
    for i in range(n):
        comp[i] = -1
    queue = np.empty(n, dtype=np.int64)
    qd = np.empty(n, dtype=np.int64)
    nc = 0
    for t in range(order.size):
        s = order[t]
        if comp[s] >= 0:
            continue
        comp[s] = nc
        head = 0
        tail = 1
        queue[0] = s
        qd[0] = 0
        while head < tail:
            x = queue[head]
            d = qd[head]
            head += 1
            if d >= radius:
                continue
            for k in range(indptr[x], indptr[x + 1]):
                y = indices[k]
                if comp[y] < 0:
                    comp[y] = nc
                    in_tree[eids[k]] = True
                    queue[tail] = y
                    qd[tail] = d + 1
                    tail += 1
        nc += 1
    return nc


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


# -- dyGRASS: localized non-backtracking random walks -------------------------------------
#: "no walk arrived yet" value of the new-edge count
NO_PATH = 1 << 40


@njit
def _walk(start, deg, nbr, wt, flag, cong, p, q, wq, bound, best_s, best_new, max_steps, key):
    """One non-backtracking walk from ``p``; ``(score, new)`` on reaching ``q``.

    Neighbours are drawn uniformly (unweighted); after the first step the walk never
    steps back to the vertex it just left (a draw from the other ``d - 1`` slots, the
    last slot standing in for the previous vertex's). The score is
    ``r + c / wq`` (the distortion ``wq r + c`` over ``wq``, kept in resistance units
    so that no multiply-add appears, which a GPU compiler would fuse): ``r`` the path
    resistance (sum of ``1/w``) and ``c`` the largest congestion ``cong`` on the path
    (when ``cong`` has one entry per slot; 0 otherwise); ``new`` counts the steps over
    slots with ``flag == 0``. The walk fails (returns ``(inf, NO_PATH)``) at a dead
    end, after ``max_steps`` steps, once the score reaches ``bound / wq``, or once
    ``(score, new)`` can no longer beat ``(best_s, best_new)`` in lexicographic order
    (the score grows strictly and ``new`` never decreases along a walk).
    """
    use_cong = cong.size == nbr.size
    lim = bound / wq
    x = p
    prev = -1
    r = 0.0
    c = 0.0
    new = 0
    for s in range(max_steps):
        d = deg[x]
        if prev < 0:
            if d == 0:
                return np.inf, NO_PATH
            j = _draw(key, s, d)
        else:
            if d <= 1:
                return np.inf, NO_PATH
            j = _draw(key, s, d - 1)
            if nbr[start[x] + j] == prev:
                j = d - 1
        k = start[x] + j
        y = nbr[k]
        r += 1.0 / wt[k]
        if use_cong and cong[k] > c:
            c = cong[k]
        if flag[k] == 0:
            new += 1
        score = r + c / wq  # no multiply-add: bit-identical with or without FMA
        if score >= lim:
            return np.inf, NO_PATH
        if score > best_s or (score == best_s and new >= best_new):
            return np.inf, NO_PATH
        if y == q:
            return score, new
        prev = x
        x = y
    return np.inf, NO_PATH


@njit(parallel=True)
def nbrw_walks(
    start, deg, nbr, wt, flag, cong, src, dst, wq, bound, n_walkers, max_steps, seed, batch,
    best_s, best_new, best_walker,
):  # fmt: skip
    """dyGRASS walks for a batch of update edges (one parallel task per edge).

    For update ``i`` (``src[i] → dst[i]``) run ``n_walkers`` walks and keep the best
    arrival whose distortion ``wq[i] * r + c`` (see :func:`_walk`) stays below
    ``bound[i]``, in lexicographic order of (score, steps over ``flag == 0`` slots):
    ``best_s[i]`` (the score ``r + c / wq``, inf when no walk arrived), ``best_new[i]``
    and the walker,
    ``best_walker[i]`` (-1 if none; the lowest index among ties). Insertions walk in H
    with ``wq = w`` and ``bound = K`` (the score is the path distortion plus the
    congestion met); deletions walk in G with ``wq = 1`` and no bound (the
    lowest-resistance path; the second key only breaks exact ties, common with unit
    weights, towards paths that reuse more edges of H). Walkers run one after the
    other and stop as soon as they cannot beat the best so far, which gives the same
    result as running them all (the GPU kernel does).
    """
    for i in prange(src.size):
        bs = np.inf
        bn = NO_PATH
        bw = -1
        for w in range(n_walkers):
            key = walker_key(seed, batch, i, w)
            sc, nn = _walk(start, deg, nbr, wt, flag, cong, src[i], dst[i], wq[i], bound[i],
                           bs, bn, max_steps, key)  # fmt: skip
            if sc < bs or (sc == bs and nn < bn):
                bs = sc
                bn = nn
                bw = w
        best_walker[i] = bw
        best_new[i] = bn
        best_s[i] = bs


@njit(parallel=True)
def nbrw_paths(start, deg, nbr, src, dst, walker, max_steps, seed, batch, slots, length):
    """Replay the winning walk of each update (``walker[i] >= 0``) and record its path
    as adjacency slots (``slots[i, :length[i]]``; slot ``k`` is the edge from the walk's
    current vertex to ``nbr[k]``). ``length[i] = 0`` where no walker arrived."""
    for i in prange(src.size):
        length[i] = 0
        if walker[i] < 0:
            continue
        key = walker_key(seed, batch, i, walker[i])
        x = src[i]
        prev = -1
        for s in range(max_steps):
            d = deg[x]
            if prev < 0:
                j = _draw(key, s, d)
            else:
                j = _draw(key, s, d - 1)
                if nbr[start[x] + j] == prev:
                    j = d - 1
            k = start[x] + j
            slots[i, s] = k
            length[i] = s + 1
            y = nbr[k]
            if y == dst[i]:
                break
            prev = x
            x = y


@njit
def _mirror(start, deg, nbr, x, k):
    """The slot of the reverse direction of slot ``k`` (which leaves vertex ``x``)."""
    y = nbr[k]
    for j in range(start[y], start[y] + deg[y]):
        if nbr[j] == x:
            return j
    return -1


@njit
def route_dropped(start, deg, nbr, wt, cong, src, w, slots, length, budget, keep):
    """Sequential congestion check of the insertions whose walk arrived.

    For each update ``i`` with a path (``length[i] > 0``), in order: its distortion
    ``delta = w[i] * R(path)`` plus the largest congestion on the path (including what
    the earlier updates of this batch added) must stay below ``budget``; then it is
    routed through the path (``delta`` added to the congestion of every path edge, both
    directions) and ``keep[i] = False``; otherwise ``keep[i] = True``. Updates without a
    path keep ``keep[i] = True``.
    """
    for i in range(src.size):
        L = length[i]
        if L == 0:
            keep[i] = True
            continue
        r = 0.0
        c = 0.0
        for t in range(L):
            k = slots[i, t]
            r += 1.0 / wt[k]
            if cong[k] > c:
                c = cong[k]
        delta = w[i] * r
        if delta + c >= budget:
            keep[i] = True
            continue
        keep[i] = False
        x = src[i]
        for t in range(L):
            k = slots[i, t]
            cong[k] += delta
            m = _mirror(start, deg, nbr, x, k)
            if m >= 0:
                cong[m] += delta
            x = nbr[k]


#: ``decide_insertions`` actions
DROP, KEEP, EXCHANGE, DEFER = 0, 1, 2, 3
#: weight marking a slot removed during ``decide_insertions`` (resistance 1e300)
DEAD = 1e-300


@njit
def _route(start, deg, nbr, cong, x, slots_row, length, skip, value):
    """Add ``value`` to the congestion of the path's slots (both directions), except
    slot ``skip``; ``x`` is the path's first vertex."""
    for t in range(length):
        k = slots_row[t]
        if k != skip:
            cong[k] += value
            m = _mirror(start, deg, nbr, x, k)
            if m >= 0:
                cong[m] += value
        x = nbr[k]


@njit
def decide_insertions(
    start, deg, nbr, wt, flag, cong, src, dst, w, slots, length, budget, weight, tau,
    ratio, exchange, radius, defer, wt_work, dist, prev_slot, prev_v, touched, hk, hv, path,
    action, out_fu, out_fv, out_c,
):  # fmt: skip
    """Sequential decisions for a batch of insertions (after the walks), in order.

    Update ``i`` (``src[i] → dst[i]``, weight ``w[i]``) whose walk arrived has the path
    ``slots[i, :length[i]]`` in H, of resistance ``r``, largest congestion ``c`` and
    weakest edge ``f`` (resistance ``r_f``, congestion ``c_f``). With ``R_C = r + 1/w``
    the resistance of the cycle the new edge would close, ``d_f = R_C / r_f - 1`` is
    the distortion ``f`` would have once replaced by the rest of the cycle.

    * **exchange** (``exchange`` true; a dynamic maximum-spanning-tree step): if
      ``w_f < ratio * w`` and ``d_f (1 + c_f) < min(w r, tau)``, the new edge joins H and ``f``
      leaves it (``action = EXCHANGE``; ``out_fu/out_fv`` its endpoints); ``f``'s load
      ``weight d_f + c_f d_f`` is routed over the rest of the cycle and becomes the new
      edge's congestion ``out_c``.
    * **drop**: else if ``w r + c < budget`` the edge stays out of H and
      ``weight * w r`` is added to the congestion of its path (``action = DROP``).
    * **keep**: otherwise (``action = KEEP``). A kept edge (or one whose walk did not
      arrive) may still exchange: the lowest-resistance path in H within resistance
      ``radius * budget / w`` is searched (Dijkstra on ``wt_work``) and its weakest
      edge swapped out when ``w_f < ratio * w`` and ``d_f (1 + c_f) < tau``.

    Exchanges remove edges while the batch is decided: ``wt_work`` (a copy of ``wt``)
    marks their slots ``DEAD``, and an update whose walk path crosses a removed edge is
    deferred (``action = DEFER``, to be walked again) when ``defer`` is true, kept
    otherwise. ``cong`` (one entry per slot, or a one-entry dummy: no congestion) is
    updated in place; the Dijkstra scratch arrays are those of :func:`dijkstra_path`.
    """
    use_cong = cong.size == nbr.size
    for i in range(src.size):
        L = length[i]
        wi = w[i]
        lim_kept = tau
        if L > 0:
            r = 0.0
            c = 0.0
            kf = -1
            dead = False
            for t in range(L):
                k = slots[i, t]
                if wt_work[k] <= DEAD:
                    dead = True
                    break
                r += 1.0 / wt[k]
                if use_cong and cong[k] > c:
                    c = cong[k]
                if kf < 0 or wt[k] < wt[kf]:
                    kf = k
            if dead:
                action[i] = DEFER if defer else KEEP
                if defer:
                    continue
            else:
                delta = wi * r
                if exchange and wt[kf] < ratio * wi:
                    d_f = (r + 1.0 / wi) * wt[kf] - 1.0
                    cf = cong[kf] if use_cong else 0.0
                    if d_f + cf * d_f < min(delta, tau):
                        # the vertex that owns slot kf: walk the path up to it
                        x = src[i]
                        for t in range(L):
                            if slots[i, t] == kf:
                                break
                            x = nbr[slots[i, t]]
                        out_fu[i] = x
                        out_fv[i] = nbr[kf]
                        wt_work[kf] = DEAD
                        m = _mirror(start, deg, nbr, x, kf)
                        if m >= 0:
                            wt_work[m] = DEAD
                        load = weight * d_f + cf * d_f
                        if use_cong:
                            _route(start, deg, nbr, cong, src[i], slots[i], L, kf, load)
                        out_c[i] = load
                        action[i] = EXCHANGE
                        continue
                if delta + c < budget:
                    action[i] = DROP
                    if use_cong:
                        _route(start, deg, nbr, cong, src[i], slots[i], L, -1, weight * delta)
                    continue
                action[i] = KEEP
        else:
            action[i] = KEEP
        if not exchange:
            continue
        # a kept edge: exchange it against the weakest edge of its H cycle, if any
        n_steps = dijkstra_path(
            start, deg, nbr, wt_work, flag, src[i], dst[i], radius * budget / wi, dist,
            prev_slot, prev_v, touched, hk, hv, path,
        )  # fmt: skip
        if n_steps <= 0:
            continue
        r = 0.0
        kf = -1
        for t in range(n_steps):
            k = path[t]
            r += 1.0 / wt[k]
            if kf < 0 or wt[k] < wt[kf]:
                kf = k
        d_f = (r + 1.0 / wi) * wt[kf] - 1.0
        cf = cong[kf] if use_cong else 0.0
        if wt[kf] < ratio * wi and d_f + cf * d_f < lim_kept:
            x = src[i]
            for t in range(n_steps):
                if path[t] == kf:
                    break
                x = nbr[path[t]]
            out_fu[i] = x
            out_fv[i] = nbr[kf]
            wt_work[kf] = DEAD
            m = _mirror(start, deg, nbr, x, kf)
            if m >= 0:
                wt_work[m] = DEAD
            load = weight * d_f + cf * d_f
            if use_cong:
                _route(start, deg, nbr, cong, src[i], path, n_steps, kf, load)
            out_c[i] = load
            action[i] = EXCHANGE


@njit
def path_mirrors(start, deg, nbr, x, slots, out):
    """The reverse-direction slot of every slot of a path starting at vertex ``x``."""
    for t in range(slots.size):
        k = slots[t]
        out[t] = _mirror(start, deg, nbr, x, k)
        x = nbr[k]


@njit
def loop_erase(vertices, slots, length):
    """Chronological loop erasure of a walk ``vertices[0..length]`` (``slots[s]`` joins
    ``vertices[s]`` to ``vertices[s+1]``), in place; returns the new number of steps."""
    top = 0  # vertices[0..top] is the erased path so far
    for s in range(length):
        y = vertices[s + 1]
        found = -1
        for t in range(top + 1):
            if vertices[t] == y:
                found = t
                break
        if found >= 0:
            top = found
        else:
            slots[top] = slots[s]
            top += 1
            vertices[top] = y
    return top


# -- dynamic adjacency (per-vertex segments with slack in one pool) ------------------------
@njit
def adj_fill(start, deg, nbr, wt, flag, cong, u, v, w, fval):
    """Append the edges ``(u, v, w)`` (both directions) with flag ``fval`` and zero
    congestion (``cong`` is per slot, or a 1-entry dummy); capacities must suffice."""
    use_cong = cong.size == nbr.size
    for e in range(u.size):
        a = u[e]
        b = v[e]
        ka = start[a] + deg[a]
        kb = start[b] + deg[b]
        nbr[ka] = b
        wt[ka] = w[e]
        flag[ka] = fval
        nbr[kb] = a
        wt[kb] = w[e]
        flag[kb] = fval
        if use_cong:
            cong[ka] = 0.0
            cong[kb] = 0.0
        deg[a] += 1
        deg[b] += 1


@njit
def adj_relocate(start, deg, nbr, wt, flag, cong, verts, new_start):
    """Move the segments of ``verts`` to ``new_start`` (inside the same, grown pool)."""
    use_cong = cong.size == nbr.size
    for t in range(verts.size):
        x = verts[t]
        s0 = start[x]
        s1 = new_start[t]
        for j in range(deg[x]):
            nbr[s1 + j] = nbr[s0 + j]
            wt[s1 + j] = wt[s0 + j]
            flag[s1 + j] = flag[s0 + j]
            if use_cong:
                cong[s1 + j] = cong[s0 + j]
        start[x] = s1


@njit
def adj_lookup(start, deg, nbr, wt, u, v, out):
    """Weight of each edge ``(u[e], v[e])``, NaN when absent."""
    for e in range(u.size):
        a = u[e]
        b = v[e]
        out[e] = np.nan
        for j in range(start[a], start[a] + deg[a]):
            if nbr[j] == b:
                out[e] = wt[j]
                break


@njit
def _remove_one(start, deg, nbr, wt, flag, cong, a, b):
    s = start[a]
    for j in range(s, s + deg[a]):
        if nbr[j] == b:
            last = s + deg[a] - 1
            nbr[j] = nbr[last]
            wt[j] = wt[last]
            flag[j] = flag[last]
            if cong.size == nbr.size:
                cong[j] = cong[last]
            deg[a] -= 1
            return True
    return False


@njit
def adj_remove(start, deg, nbr, wt, flag, cong, u, v, removed):
    """Remove the edges ``(u[e], v[e])`` (swap with the segment's last entry);
    ``removed[e]`` says whether the edge was there."""
    for e in range(u.size):
        ok = _remove_one(start, deg, nbr, wt, flag, cong, u[e], v[e])
        if ok:
            _remove_one(start, deg, nbr, wt, flag, cong, v[e], u[e])
        removed[e] = ok


@njit
def adj_add_cong(start, deg, nbr, cong, u, v, val):
    """Add ``val[e]`` to the congestion of both slots of each edge ``(u[e], v[e])``."""
    for e in range(u.size):
        a = u[e]
        b = v[e]
        for j in range(start[a], start[a] + deg[a]):
            if nbr[j] == b:
                cong[j] += val[e]
                break
        for j in range(start[b], start[b] + deg[b]):
            if nbr[j] == a:
                cong[j] += val[e]
                break


@njit
def adj_get_cong(start, deg, nbr, cong, u, v, out):
    """Congestion of each edge ``(u[e], v[e])`` (NaN when absent)."""
    for e in range(u.size):
        a = u[e]
        b = v[e]
        out[e] = np.nan
        for j in range(start[a], start[a] + deg[a]):
            if nbr[j] == b:
                out[e] = cong[j]
                break


@njit
def adj_set_flag(start, deg, nbr, flag, u, v, value):
    """Set the flag of both slots of each edge ``(u[e], v[e])`` that exists."""
    for e in range(u.size):
        a = u[e]
        b = v[e]
        for j in range(start[a], start[a] + deg[a]):
            if nbr[j] == b:
                flag[j] = value
                break
        for j in range(start[b], start[b] + deg[b]):
            if nbr[j] == a:
                flag[j] = value
                break


@njit
def adj_edges(start, deg, nbr, wt, u, v, w):
    """Every edge once (``u < v``) into ``u, v, w``; returns the count."""
    m = 0
    for a in range(start.size):
        for j in range(start[a], start[a] + deg[a]):
            b = nbr[j]
            if a < b:
                u[m] = a
                v[m] = b
                w[m] = wt[j]
                m += 1
    return m


# -- shortest-resistance path (fallback when no walk arrives) -----------------------------
#: relative penalty of an unflagged slot in dijkstra_path (tie-breaking only)
TIE = 1e-9


@njit
def _heap_push(hk, hv, size, key, val):
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit
def _heap_pop(hk, hv, size):
    key = hk[0]
    val = hv[0]
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= size:
            break
        b = a + 1
        c = b if (b < size and hk[b] < hk[a]) else a
        if hk[i] <= hk[c]:
            break
        hk[c], hk[i] = hk[i], hk[c]
        hv[c], hv[i] = hv[i], hv[c]
        i = c
    return key, val, size


@njit
def dijkstra_path(
    start, deg, nbr, wt, flag, p, q, limit, dist, prev_slot, prev_v, touched, hk, hv, path
):
    """Lowest-resistance path ``p → q`` (edge lengths ``1/w``) by Dijkstra, exploring
    only vertices closer than ``limit`` (inf: no bound; a walk's path resistance is a
    valid bound, so the search stays local). Slots with ``flag == 0`` count
    ``1 + TIE`` times their resistance, so among paths of equal resistance (common with
    unit weights) the one with fewer unflagged edges wins.

    ``dist`` (inf), ``prev_slot`` and ``prev_v`` (-1) are persistent scratch arrays of
    size n that are restored before returning; ``touched`` (size n), ``hk``/``hv`` (heap, size >=
    number of adjacency entries + 1) are scratch. Writes the path's slots, from p, into
    ``path`` and returns its length, or -1 when q is unreachable.
    """
    nt = 0
    dist[p] = 0.0
    touched[nt] = p
    nt += 1
    size = _heap_push(hk, hv, 0, 0.0, p)
    found = False
    while size > 0:
        d, x, size = _heap_pop(hk, hv, size)
        if d > dist[x]:
            continue
        if x == q:
            found = True
            break
        for k in range(start[x], start[x] + deg[x]):
            y = nbr[k]
            nd = d + (1.0 / wt[k]) * (1.0 + TIE * (flag[k] == 0))
            if nd < dist[y] and nd <= limit:
                if dist[y] == np.inf:
                    touched[nt] = y
                    nt += 1
                dist[y] = nd
                prev_slot[y] = k
                prev_v[y] = x
                size = _heap_push(hk, hv, size, nd, y)
    length = -1
    if found:
        # walk back from q: the slot into y lives in the segment of its predecessor
        length = 0
        y = q
        while y != p:
            path[length] = prev_slot[y]
            length += 1
            y = prev_v[y]
        # reverse into p → q order
        for t in range(length // 2):
            path[t], path[length - 1 - t] = path[length - 1 - t], path[t]
    for t in range(nt):
        dist[touched[t]] = np.inf
        prev_slot[touched[t]] = -1
        prev_v[touched[t]] = -1
    return length
