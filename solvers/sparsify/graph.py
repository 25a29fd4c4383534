"""Graphs as the sparsifiers see them: validation, edge lists, CSR adjacency, Laplacians.

A graph is undirected with positive edge weights. Users give it as a symmetric
adjacency matrix (scipy.sparse or dense, zero diagonal) or as an edge list
``(edges, weights)`` / ``(edges, weights, n)``; internally it is an :class:`EdgeList`
with ``u < v`` and one entry per undirected edge. The Laplacian is ``L = D - A``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from solvers._errors import InvalidProblemError

#: relative tolerance of the symmetry check (|A_ij - A_ji| <= SYM_RTOL * max|A|)
SYM_RTOL = 1e-10


@dataclass(frozen=True)
class EdgeList:
    """An undirected weighted graph, one entry per edge.

    Attributes
    ----------
    n : int
        Number of vertices (ids ``0 .. n-1``).
    u, v : ndarray of int64, shape (m,)
        Endpoints, ``u < v``, sorted lexicographically, no duplicates.
    w : ndarray of float64, shape (m,)
        Positive finite weights (conductances).
    """

    n: int
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray

    @property
    def m(self) -> int:
        """Number of edges."""
        return int(self.u.size)

    @property
    def density(self) -> float:
        """Edges per vertex, ``m / n`` (the papers' density)."""
        return self.m / max(self.n, 1)

    def adjacency(self) -> scipy.sparse.csr_matrix:
        """The symmetric adjacency matrix (CSR, float64)."""
        return to_adjacency(self.n, self.u, self.v, self.w)

    def laplacian(self) -> scipy.sparse.csr_matrix:
        """``L = D - A`` (CSR)."""
        return laplacian_from_edges(self.n, self.u, self.v, self.w)


def to_adjacency(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> scipy.sparse.csr_matrix:
    """Symmetric CSR adjacency matrix of the edges ``(u_k, v_k, w_k)``."""
    row = np.concatenate([u, v]).astype(np.int64, copy=False)
    col = np.concatenate([v, u]).astype(np.int64, copy=False)
    data = np.concatenate([w, w]).astype(np.float64, copy=False)
    A = scipy.sparse.csr_matrix((data, (row, col)), shape=(n, n))  # noqa: N806
    A.sum_duplicates()
    A.sort_indices()
    return A


def laplacian_from_edges(
    n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray
) -> scipy.sparse.csr_matrix:
    """Graph Laplacian ``D - A`` of the edges (CSR, float64)."""
    d = np.bincount(u, weights=w, minlength=n) + np.bincount(v, weights=w, minlength=n)
    row = np.concatenate([u, v, np.arange(n)])
    col = np.concatenate([v, u, np.arange(n)])
    data = np.concatenate([-w, -w, d])
    L = scipy.sparse.csr_matrix((data, (row, col)), shape=(n, n))  # noqa: N806
    L.sum_duplicates()
    return L


def laplacian(A: Any) -> scipy.sparse.csr_matrix:  # noqa: N803
    """Laplacian ``D - A`` of a graph given in any accepted form (see :func:`as_graph`)."""
    return as_graph(A).laplacian()


def _field(name: str) -> str:
    return name if "." in name else f"inputs.{name}"


def _first_pair(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> str:
    return f"A[{int(rows[0])}, {int(cols[0])}] = {float(vals[0]):g}"


def as_graph(
    A: Any,  # noqa: N803
    name: str = "A",
    *,
    require_connected: bool = False,
    min_nodes: int = 2,
) -> EdgeList:
    """Check a graph and return it as an :class:`EdgeList`.

    Parameters
    ----------
    A : scipy.sparse matrix, 2-D array_like, EdgeList, or tuple
        A symmetric adjacency matrix with zero diagonal and nonnegative entries (an
        explicit or implicit zero means "no edge"), or an edge list
        ``(edges, weights)`` / ``(edges, weights, n)`` with ``edges`` an (m, 2) integer
        array (each undirected edge once) and ``weights`` positive (a scalar applies
        to all edges; ``n`` defaults to ``edges.max() + 1``).
    name : str
        Input name used in error messages.
    require_connected : bool
        Raise unless the graph is connected.
    min_nodes : int
        Smallest accepted number of vertices.

    Returns
    -------
    EdgeList

    Raises
    ------
    InvalidProblemError
        Not square, not symmetric, negative, NaN or infinite weights, self loops,
        vertex ids out of range, duplicate edges, no edges, or (with
        ``require_connected``) more than one connected component. The message names
        the input, the shape and the first offending entry.
    """
    if isinstance(A, EdgeList):
        g = A
    elif isinstance(A, tuple):
        g = _from_tuple(A, name)
    else:
        g = _from_matrix(A, name)
    if g.n < min_nodes:
        raise InvalidProblemError(
            f"graph {name!r} must have at least {min_nodes} vertices, got {g.n}", field=_field(name)
        )
    if g.m == 0:
        raise InvalidProblemError(
            f"graph {name!r} ({g.n} vertices) has no edges", field=_field(name)
        )
    if require_connected:
        check_connected(g, name)
    return g


def _from_matrix(A: Any, name: str) -> EdgeList:  # noqa: N803
    field = _field(name)
    if scipy.sparse.issparse(A):
        M = A.tocoo()  # noqa: N806
    else:
        try:
            dense = np.asarray(A)
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError(
                f"input {name!r} is not a matrix: {exc}", field=field
            ) from None
        if dense.dtype == object or dense.ndim != 2:
            raise InvalidProblemError(
                f"input {name!r} must be a 2-D adjacency matrix (or an edge list tuple), "
                f"got an array of shape {dense.shape}",
                field=field,
            )
        M = scipy.sparse.coo_matrix(dense)  # noqa: N806
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise InvalidProblemError(
            f"adjacency matrix {name!r} must be square, got shape {M.shape}", field=field
        )
    if M.dtype.kind not in "fiub":
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) must be real, got dtype {M.dtype}",
            field=field,
        )
    n = int(M.shape[0])
    row = M.row.astype(np.int64)
    col = M.col.astype(np.int64)
    val = M.data.astype(np.float64)
    if not np.isfinite(val).all():
        bad = int((~np.isfinite(val)).sum())
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) has {bad} NaN or infinite entries",
            field=field,
        )
    nz = val != 0
    row, col, val = row[nz], col[nz], val[nz]
    # sum duplicate COO entries (scipy semantics) before checking
    if row.size:
        key = row * n + col
        order = np.argsort(key, kind="stable")
        key, row, col, val = key[order], row[order], col[order], val[order]
        first = np.ones(key.size, dtype=bool)
        first[1:] = key[1:] != key[:-1]
        if not first.all():
            starts = np.flatnonzero(first)
            val = np.add.reduceat(val, starts)
            row, col = row[starts], col[starts]
            nz = val != 0
            row, col, val = row[nz], col[nz], val[nz]
    diag = row == col
    if diag.any():
        r = row[diag]
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) has {int(diag.sum())} nonzero "
            f"diagonal entries (self loops), e.g. {_first_pair(r, r, val[diag])}; a graph's "
            "adjacency matrix has a zero diagonal (pass A, not the Laplacian)",
            field=field,
        )
    neg = val < 0
    if neg.any():
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) has {int(neg.sum())} negative "
            f"weights, e.g. {_first_pair(row[neg], col[neg], val[neg])}; edge weights must be "
            "positive",
            field=field,
        )
    up = row < col
    lo = ~up
    ku = row[up] * n + col[up]
    kl = col[lo] * n + row[lo]  # lower entries keyed as their mirror
    vu, vl = val[up], val[lo]
    ou, ol = np.argsort(ku, kind="stable"), np.argsort(kl, kind="stable")
    ku, vu, kl, vl = ku[ou], vu[ou], kl[ol], vl[ol]
    scale = float(np.abs(val).max()) if val.size else 1.0
    if ku.size != kl.size or not np.array_equal(ku, kl):
        missing = np.setxor1d(ku, kl)
        k = int(missing[0])
        i, j = divmod(k, n)
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) is not symmetric: "
            f"{ku.size} entries above the diagonal, {kl.size} below; e.g. A[{i}, {j}] and "
            f"A[{j}, {i}] are not both nonzero",
            field=field,
        )
    diff = np.abs(vu - vl)
    if diff.size and diff.max() > SYM_RTOL * scale:
        k = int(np.argmax(diff))
        i, j = divmod(int(ku[k]), n)
        raise InvalidProblemError(
            f"adjacency matrix {name!r} (shape {M.shape}) is not symmetric: "
            f"A[{i}, {j}] = {vu[k]:g} but A[{j}, {i}] = {vl[k]:g}",
            field=field,
        )
    u, v = np.divmod(ku, n)
    return EdgeList(n, u.astype(np.int64), v.astype(np.int64), 0.5 * (vu + vl))


def edges_array(edges: Any, name: str, n: int | None = None) -> np.ndarray:
    """Check an (m, 2) integer array of vertex ids (``n``: the vertex count)."""
    field = _field(name)
    try:
        e = np.asarray(edges)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(
            f"{name!r} is not an array of edges: {exc}", field=field
        ) from None
    if e.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    if e.ndim != 2 or e.shape[1] != 2:
        raise InvalidProblemError(
            f"{name!r} must be an (m, 2) array of vertex ids, got shape {e.shape}", field=field
        )
    if e.dtype.kind == "f":
        if not np.isfinite(e).all() or not np.array_equal(e, np.round(e)):
            raise InvalidProblemError(
                f"{name!r} (shape {e.shape}) must hold integer vertex ids, got {e.dtype} "
                "values that are not integers",
                field=field,
            )
    elif e.dtype.kind not in "iu":
        raise InvalidProblemError(
            f"{name!r} must hold integer vertex ids, got dtype {e.dtype}", field=field
        )
    e = e.astype(np.int64)
    if n is not None:
        bad = (e < 0) | (e >= n)
        if bad.any():
            k = int(np.flatnonzero(bad.any(axis=1))[0])
            raise InvalidProblemError(
                f"{name!r} (shape {e.shape}) has vertex ids out of range [0, {n}): "
                f"row {k} is ({int(e[k, 0])}, {int(e[k, 1])})",
                field=field,
            )
    elif (e < 0).any():
        k = int(np.flatnonzero((e < 0).any(axis=1))[0])
        raise InvalidProblemError(
            f"{name!r} (shape {e.shape}) has negative vertex ids: row {k} is "
            f"({int(e[k, 0])}, {int(e[k, 1])})",
            field=field,
        )
    loops = e[:, 0] == e[:, 1]
    if loops.any():
        k = int(np.flatnonzero(loops)[0])
        raise InvalidProblemError(
            f"{name!r} (shape {e.shape}) has {int(loops.sum())} self loops, e.g. row {k} = "
            f"({int(e[k, 0])}, {int(e[k, 1])})",
            field=field,
        )
    return e


def weights_array(weights: Any, m: int, name: str) -> np.ndarray:
    """Check positive finite weights: a scalar (broadcast) or an (m,) array."""
    field = _field(name)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(
            f"{name!r} is not an array of weights: {exc}", field=field
        ) from None
    if w.ndim == 0:
        w = np.full(m, float(w))
    if w.shape != (m,):
        raise InvalidProblemError(
            f"{name!r} must have one weight per edge, shape ({m},), got shape {w.shape}",
            field=field,
        )
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InvalidProblemError(
            f"{name!r} (shape {w.shape}) must be positive and finite; entry {k} is {float(w[k])!r}",
            field=field,
        )
    return w


def canonical_edges(e: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, order)`` with ``u < v``; raises on an edge given twice in ``e``."""
    u = np.minimum(e[:, 0], e[:, 1])
    v = np.maximum(e[:, 0], e[:, 1])
    key = u * (int(max(v.max(initial=0), 0)) + 1) + v
    order = np.argsort(key, kind="stable")
    ks = key[order]
    dup = np.flatnonzero(ks[1:] == ks[:-1])
    if dup.size:
        k = int(order[dup[0] + 1])
        raise InvalidProblemError(
            f"{name!r} lists the edge ({int(u[k])}, {int(v[k])}) more than once",
            field=_field(name),
        )
    return u, v, order


def _from_tuple(t: tuple, name: str) -> EdgeList:
    field = _field(name)
    if len(t) not in (2, 3):
        raise InvalidProblemError(
            f"an edge-list graph {name!r} is (edges, weights) or (edges, weights, n); got a "
            f"tuple of {len(t)} items",
            field=field,
        )
    n = None
    if len(t) == 3:
        n = int(t[2])
        if n < 1:
            raise InvalidProblemError(f"number of vertices of {name!r} must be >= 1, got {n}")
    e = edges_array(t[0], f"{name}.edges" if "." not in name else name, n)
    if n is None:
        n = int(e.max()) + 1 if e.size else 0
    w = weights_array(t[1], e.shape[0], f"{name}.weights" if "." not in name else name)
    if e.shape[0] == 0:
        return EdgeList(n, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    u, v, order = canonical_edges(e, name)
    return EdgeList(n, u[order], v[order], w[order])


def n_components(n: int, u: np.ndarray, v: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of connected components and the component label of each vertex."""
    A = to_adjacency(n, u, v, np.ones(u.size))  # noqa: N806
    k, labels = scipy.sparse.csgraph.connected_components(A, directed=False)
    return int(k), labels


def check_connected(g: EdgeList, name: str = "A") -> None:
    """Raise :class:`InvalidProblemError` unless ``g`` is connected."""
    k, labels = n_components(g.n, g.u, g.v)
    if k > 1:
        sizes = np.sort(np.bincount(labels))[::-1]
        shown = ", ".join(str(int(s)) for s in sizes[:5]) + (", ..." if k > 5 else "")
        raise InvalidProblemError(
            f"graph {name!r} ({g.n} vertices, {g.m} edges) is not connected: it has {k} "
            f"connected components (sizes {shown}); sparsify each component separately, "
            "e.g. with solvers.sparsify.largest_component",
            field=_field(name),
        )


def largest_component(A: Any) -> tuple[scipy.sparse.csr_matrix, np.ndarray]:  # noqa: N803
    """The largest connected component of a graph.

    Returns
    -------
    A_cc : csr_matrix
        Adjacency matrix of the component (vertices renumbered in increasing order).
    nodes : ndarray of int64
        Original ids of its vertices.
    """
    g = as_graph(A)
    _, labels = n_components(g.n, g.u, g.v)
    big = int(np.argmax(np.bincount(labels)))
    nodes = np.flatnonzero(labels == big)
    Adj = g.adjacency()  # noqa: N806
    return Adj[nodes][:, nodes].tocsr(), nodes.astype(np.int64)


def from_edges(n: int, edges: Any, weights: Any = 1.0) -> scipy.sparse.csr_matrix:
    """Symmetric adjacency matrix of ``n`` vertices from an (m, 2) edge array."""
    return as_graph((edges, weights, n), "edges", min_nodes=1).adjacency()


def edges_of(A: Any) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    """``(edges, weights)`` of a graph: an (m, 2) array with ``u < v`` and the weights."""
    g = as_graph(A, min_nodes=1)
    return np.stack([g.u, g.v], axis=1), g.w.copy()


def csr_with_edge_ids(g: EdgeList) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CSR adjacency of ``g`` with each entry's edge index.

    Returns ``indptr (n+1,), indices (2m,), weights (2m,), edge_id (2m,)``; the
    neighbours of each vertex are sorted.
    """
    n, m = g.n, g.m
    src = np.concatenate([g.u, g.v])
    dst = np.concatenate([g.v, g.u])
    eid = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((dst, src))
    src, dst, eid = src[order], dst[order], eid[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst.astype(np.int64), g.w[eid], eid.astype(np.int64)
