"""Naive sparsifiers to compare against."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse

from .graph import as_graph, csr_with_edge_ids, to_adjacency
from .tree import spanning_tree


def mst_plus_random(
    A: Any,  # noqa: N803
    density: float,
    *,
    seed: int | None = None,
) -> scipy.sparse.csr_matrix:
    """A maximum-weight spanning tree plus off-tree edges drawn uniformly at random,
    ``floor(density * n)`` edges in all (original weights): the naive sparsifier
    GRASS must beat by far at the same density."""
    g = as_graph(A, "A", require_connected=True)
    tree = spanning_tree(g, "mst", csr_with_edge_ids(g))
    off = np.flatnonzero(~tree.in_tree)
    want = max(0, min(off.size, int(math.floor(density * g.n)) - (g.n - 1)))
    rng = np.random.default_rng(seed)
    pick = rng.choice(off, size=want, replace=False)
    mask = tree.in_tree.copy()
    mask[pick] = True
    return to_adjacency(g.n, g.u[mask], g.v[mask], g.w[mask])
