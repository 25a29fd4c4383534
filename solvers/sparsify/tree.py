"""Spanning-tree backbones and tree stretch (the first stage of GRASS / feGRASS)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solvers._errors import InvalidProblemError

from . import _kernels_numba as K
from .graph import EdgeList, csr_with_edge_ids

TREES = ("mewst", "mst")


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
    """

    in_tree: np.ndarray
    root: int
    parent: np.ndarray
    dist: np.ndarray
    lca: np.ndarray
    stretch: np.ndarray

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


def spanning_tree(g: EdgeList, kind: str = "mewst", csr: tuple | None = None) -> Backbone:
    """Spanning tree of a connected graph and the stretch of the off-tree edges.

    Parameters
    ----------
    g : EdgeList
        A connected graph.
    kind : {"mewst", "mst"}
        ``"mewst"``: maximum effective-weight spanning tree (feGRASS [1]_);
        ``"mst"``: maximum-weight spanning tree.
    csr : tuple, optional
        ``csr_with_edge_ids(g)`` if already computed.

    Returns
    -------
    Backbone

    References
    ----------
    .. [1] Z. Liu, W. Yu, Z. Feng, "feGRASS: Fast and Effective Graph Spectral
       Sparsification for Scalable Power Grid Analysis", IEEE TCAD 41(3), 2022.
    """
    if kind not in TREES:
        raise InvalidProblemError(f"tree must be one of {TREES}, got {kind!r}", field="params.tree")
    csr = csr if csr is not None else csr_with_edge_ids(g)
    indptr, indices, wts, eids = csr
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
    return root_tree(g, in_tree, root, csr)


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
