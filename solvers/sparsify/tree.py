"""Spanning-tree backbones and tree stretch (the first stage of GRASS / feGRASS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers._errors import InvalidProblemError

from . import _kernels_numba as K
from .graph import EdgeList, csr_with_edge_ids

TREES = ("auto", "mewst", "mst", "lsst")
#: hop radius of the balls of the low-stretch tree (2 was best on 3-D meshes: 1 gives
#: deep trees, 3 coarse clusters)
LSST_RADIUS = 2


@dataclass
class Backbone:
    """A spanning tree of a graph and the tree resistance of every edge.

    Attributes
    ----------
    in_tree : ndarray of bool, shape (m,)
        Which edges of the graph form the tree.
    root : int
    parent : ndarray of int64, shape (n,)
        Parent of each vertex (-1 at the root).
    dist : ndarray of float64, shape (n,)
        Resistance of the tree path from the root.
    lca : ndarray of int64, shape (m,)
        Lowest common ancestor of the endpoints of each off-tree edge (-1 on tree edges).
    stretch : ndarray of float64, shape (m,)
        ``w_e R_T(u_e, v_e)``: the edge's stretch (its distortion against the tree);
        0 on tree edges.
    kind : str
        Which tree it is ("mewst", "mst", "lsst"; "" when built by :func:`root_tree`).
    """

    in_tree: np.ndarray
    root: int
    parent: np.ndarray
    dist: np.ndarray
    lca: np.ndarray
    stretch: np.ndarray
    kind: str = ""

    @property
    def total_stretch(self) -> float:
        """Sum of the stretches of the off-tree edges (``tr(L_T^+ L_G) - (n - 1)``)."""
        return float(self.stretch.sum())


def effective_weights(g: EdgeList, csr: tuple | None = None) -> tuple[np.ndarray, int]:
    """feGRASS's effective weights ``w log(max(d_u, d_v)) / (l_u + l_v)``.

    ``d`` are vertex degrees and ``l`` BFS layers from the highest-degree vertex, so
    heavy edges near the centre of the graph are preferred, which shortens tree paths
    (a cheap proxy for a low-stretch tree). Returns the weights and the BFS root.
    """
    indptr, indices, _, _ = csr if csr is not None else csr_with_edge_ids(g)
    deg = np.diff(indptr)
    root = int(np.argmax(deg))
    layer = np.full(g.n, -1, dtype=np.int64)
    K.bfs_layers(indptr, indices, root, layer)
    dmax = np.maximum(deg[g.u], deg[g.v]).astype(float)
    lsum = (layer[g.u] + layer[g.v]).astype(float)
    return g.w * np.log(np.maximum(dmax, 2.0)) / np.maximum(lsum, 1.0), root


def low_stretch_tree(
    g: EdgeList, csr: tuple | None = None, *, radius: int = LSST_RADIUS, seed: int | None = 0
) -> np.ndarray:
    """Low-stretch spanning tree by hierarchical ball growing (AKPW-style).

    Each level partitions the current graph into balls of ``radius`` hops grown
    breadth-first from centres taken in random order (heavier edges scanned first),
    keeps each ball's BFS tree, and contracts the balls; parallel edges between two
    balls become one edge represented by the heaviest of them, with their summed
    weight (so the next level's balls follow strong couplings). The levels stop when
    one vertex is left. On meshes the tree paths then grow like ``log n`` instead of the
    ``n^(1/d)`` of a tree grown from one centre (BFS / feGRASS effective weights), which
    matters on 3-D meshes (tetrahedral 10⁵ nodes: mean stretch 19 instead of 31).

    Parameters
    ----------
    g : EdgeList
        A connected graph.
    csr : tuple, optional
        ``csr_with_edge_ids(g)`` (unused; accepted for symmetry with the other trees).
    radius : int
        Hop radius of the balls.
    seed : int, optional
        Seed of the centre order.

    Returns
    -------
    ndarray of bool, shape (m,)
        The tree edges.

    References
    ----------
    .. [1] N. Alon, R. M. Karp, D. Peleg, D. West, "A graph-theoretic game and its
       application to the k-server problem", SIAM J. Comput. 24(1), 1995.
    .. [2] I. Abraham, O. Neiman, "Using petal-decompositions to build a low stretch
       spanning tree", STOC 2012 (low-stretch trees in GRASS's first stage).
    """
    rng = np.random.default_rng(seed)
    u, v, w, eid = g.u, g.v, g.w, np.arange(g.m, dtype=np.int64)
    in_tree = np.zeros(g.m, dtype=np.bool_)
    nn = g.n
    while nn > 1 and u.size:
        src = np.concatenate([u, v])
        dst = np.concatenate([v, u])
        order = np.lexsort((-np.concatenate([w, w]), src))  # by vertex, heaviest first
        indptr = np.zeros(nn + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=nn), out=indptr[1:])
        comp = np.empty(nn, dtype=np.int64)
        nc = K.grow_balls(
            indptr, dst[order].astype(np.int64), np.concatenate([eid, eid])[order],
            rng.permutation(nn).astype(np.int64), radius, comp, in_tree,
        )  # fmt: skip
        a, b = comp[u], comp[v]
        cross = a != b
        a, b = np.minimum(a, b)[cross], np.maximum(a, b)[cross]
        w, eid = w[cross], eid[cross]
        key = a * nc + b
        srt = np.lexsort((-w, key))
        key, a, b, w, eid = key[srt], a[srt], b[srt], w[srt], eid[srt]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        starts = np.flatnonzero(first)
        w = np.add.reduceat(w, starts) if starts.size else w
        u, v, eid = a[first], b[first], eid[first]
        nn = nc
    if nn > 1:
        raise InvalidProblemError(
            f"the graph is not connected ({nn} components); a spanning tree needs a "
            "connected graph",
            field="inputs.A",
        )
    return in_tree


def spanning_tree(
    g: EdgeList, kind: str = "auto", csr: tuple | None = None, *, seed: int | None = 0
) -> Backbone:
    """Spanning tree of a connected graph and the stretch of the off-tree edges.

    Parameters
    ----------
    g : EdgeList
        A connected graph.
    kind : {"auto", "mewst", "mst", "lsst"}
        ``"mewst"``: maximum effective-weight spanning tree (feGRASS [1]_);
        ``"mst"``: maximum-weight spanning tree; ``"lsst"``: the low-stretch tree of
        :func:`low_stretch_tree` (GRASS's choice [2]_); ``"auto"``: whichever of
        ``"mewst"`` and ``"lsst"`` has the smaller total stretch
        ``Σ_e w_e R_T(e) = tr(L_T⁺ L_G) − (n − 1)`` (the effective-weight tree on
        circuit grids and 2-D meshes, the low-stretch tree on 3-D tetrahedral meshes).
    csr : tuple, optional
        ``csr_with_edge_ids(g)`` if already computed.
    seed : int, optional
        Seed of the low-stretch tree's centre order.

    Returns
    -------
    Backbone

    References
    ----------
    .. [1] Z. Liu, W. Yu, Z. Feng, "feGRASS: Fast and Effective Graph Spectral
       Sparsification for Scalable Power Grid Analysis", IEEE TCAD 41(3), 2022.
    .. [2] Z. Feng, "GRASS: Graph Spectral Sparsification Leveraging Scalable Spectral
       Perturbation Analysis", IEEE TCAD 39(12), 2020.
    """
    if kind not in TREES:
        raise InvalidProblemError(f"tree must be one of {TREES}, got {kind!r}", field="params.tree")
    csr = csr if csr is not None else csr_with_edge_ids(g)
    indptr, indices, wts, eids = csr
    if kind in ("auto", "lsst"):
        root = int(np.argmax(np.diff(indptr)))
        lsst = root_tree(g, low_stretch_tree(g, csr, seed=seed), root, csr)
        lsst.kind = "lsst"
        if kind == "lsst":
            return lsst
        mewst = spanning_tree(g, "mewst", csr)
        return lsst if lsst.total_stretch < mewst.total_stretch else mewst
    if kind == "mewst":
        key, root = effective_weights(g, csr)
    else:
        key, root = g.w, int(np.argmax(np.diff(indptr)))
    order = np.argsort(-key, kind="stable").astype(np.int64)
    in_tree = np.zeros(g.m, dtype=np.bool_)
    count = K.kruskal_forest(order, g.u, g.v, g.n, in_tree)
    if count != g.n - 1:
        raise InvalidProblemError(
            f"the graph is not connected ({g.n - count} components); a spanning tree needs "
            "a connected graph",
            field="inputs.A",
        )
    out = root_tree(g, in_tree, root, csr)
    out.kind = kind
    return out


def root_tree(g: EdgeList, in_tree: np.ndarray, root: int, csr: tuple | None = None) -> Backbone:
    """Root the tree ``in_tree`` at ``root``; distances, LCAs and stretches."""
    indptr, indices, wts, eids = csr if csr is not None else csr_with_edge_ids(g)
    dist = np.zeros(g.n)
    parent = np.full(g.n, -1, dtype=np.int64)
    lca = np.full(g.m, -1, dtype=np.int64)
    reached = K.tree_lca(indptr, indices, wts, eids, in_tree, root, dist, parent, lca)
    if reached != g.n:
        raise InvalidProblemError(
            f"the tree edges do not span the graph ({reached} of {g.n} vertices reached)",
            field="inputs.A",
        )
    stretch = np.empty(g.m)
    K.tree_stretch(g.u, g.v, g.w, dist, lca, in_tree, stretch)
    return Backbone(in_tree, int(root), parent, dist, lca, stretch)
