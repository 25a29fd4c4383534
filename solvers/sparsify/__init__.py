"""Spectral graph sparsification, static (GRASS) and dynamic (dyGRASS).

Public names: :func:`sparsify` (methods ``"grass"`` and ``"er_sampling"``) with
:class:`SparsifyResult`; :class:`DynamicSparsifier` (``insert``, ``delete``,
``update``, ``graph``, ``sparsifier``, ``stats``) with :class:`BatchStats`;
:func:`relative_condition_number` (:class:`ConditionNumber`); the graph helpers
:func:`as_graph`, :func:`edges_of`, :func:`from_edges`, :func:`laplacian`,
:func:`largest_component`, :func:`effective_resistances`, :func:`spanning_tree`,
:func:`describe`, :func:`mst_plus_random`; the generators :func:`mesh_2d`,
:func:`delaunay_2d`, :func:`mesh_3d`, :func:`circuit_grid`, :func:`random_geometric`,
:func:`preferential_attachment`; update streams :func:`insertion_stream`,
:func:`deletion_stream`, :func:`batches`; and the Matrix Market reader/writer
:func:`read_mtx`, :func:`write_mtx`. See ``docs/sparsify.md``.
"""

from __future__ import annotations

from . import _spec  # noqa: F401 - registers the solver
from .baselines import mst_plus_random
from .condition import ConditionNumber, relative_condition_number
from .dynamic import (
    BatchStats,
    DynamicSparsifier,
    batches,
    deletion_stream,
    insertion_stream,
)
from .generators import (
    circuit_grid,
    delaunay_2d,
    describe,
    mesh_2d,
    mesh_3d,
    preferential_attachment,
    random_geometric,
)
from .graph import (
    EdgeList,
    as_graph,
    edges_of,
    from_edges,
    laplacian,
    largest_component,
)
from .io import read_mtx, write_mtx
from .sampling import effective_resistances
from .solver import SparsifyResult, sparsify
from .tree import Backbone, spanning_tree

__all__ = [
    "Backbone",
    "BatchStats",
    "DynamicSparsifier",
    "batches",
    "deletion_stream",
    "insertion_stream",
    "ConditionNumber",
    "EdgeList",
    "SparsifyResult",
    "as_graph",
    "circuit_grid",
    "delaunay_2d",
    "describe",
    "edges_of",
    "effective_resistances",
    "from_edges",
    "laplacian",
    "largest_component",
    "mesh_2d",
    "mesh_3d",
    "mst_plus_random",
    "preferential_attachment",
    "random_geometric",
    "read_mtx",
    "relative_condition_number",
    "spanning_tree",
    "sparsify",
    "write_mtx",
]
