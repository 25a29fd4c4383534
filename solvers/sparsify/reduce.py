"""Series/leaf reduction of a nearly-tree Laplacian before its sparse factorization.

A sparsifier H of density 1.1-1.3 is a spanning tree plus a few off-tree edges: most
of its vertices have degree 1 or 2. Eliminating them (Gaussian elimination of the
grounded Laplacian, in an order that only ever picks a vertex of current degree <= 2)
creates no fill: a leaf disappears, and a degree-2 vertex between ``a`` and ``b``
becomes one edge ``a-b`` of conductance ``c_a c_b / (c_a + c_b)`` (series reduction,
merged with an existing ``a-b`` edge in parallel). What is left is the Schur complement
on the *core* (the vertices of degree >= 3 after the reduction, at most about twice the
number of off-tree edges), again a Laplacian, which is factored with SuperLU. A solve
is then a forward sweep over the eliminated vertices, one core solve and a backward
sweep, exact to rounding (the same ``L_H⁺ b`` as a factorization of the whole matrix).

The reduction and the sweeps are Numba loops; the adjacency never grows (a degree-2
elimination replaces one neighbour slot by another), so it runs in place on a copy
of H's CSR arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse

from solvers._config import njit

from .condition import factorize_laplacian


@njit
def _find(nbr, indptr, u, t):
    for s in range(indptr[u], indptr[u + 1]):
        if nbr[s] == t:
            return s
    return -1


@njit
def reduce_degree12(indptr, indices, weights, ground):
    """Eliminate vertices of degree <= 2 (never ``ground``) from a connected graph.

    Returns ``(order, n1, n2, c1, c2, d, nbr, cw, count)``: the ``count`` eliminated
    vertices in order with their (at most two) neighbours at elimination time
    (``-1`` = none), the conductances to them and the vertex's degree; ``nbr``/``cw``
    are the per-slot neighbours (``-1`` = dead slot) and conductances of what is left.
    """
    n = indptr.size - 1
    nbr = indices.copy()
    cw = weights.copy()
    deg = np.empty(n, dtype=np.int64)
    for u in range(n):
        deg[u] = indptr[u + 1] - indptr[u]
    gone = np.zeros(n, dtype=np.bool_)
    stack = np.empty(n, dtype=np.int64)
    onstack = np.zeros(n, dtype=np.bool_)
    top = 0
    for u in range(n):
        if deg[u] <= 2 and u != ground:
            stack[top] = u
            top += 1
            onstack[u] = True
    order = np.empty(n, dtype=np.int64)
    o1 = np.full(n, -1, dtype=np.int64)
    o2 = np.full(n, -1, dtype=np.int64)
    oc1 = np.zeros(n)
    oc2 = np.zeros(n)
    od = np.zeros(n)
    count = 0
    while top > 0:
        top -= 1
        v = stack[top]
        onstack[v] = False
        if gone[v] or deg[v] > 2 or deg[v] == 0:
            continue
        a = -1
        b = -1
        ca = 0.0
        cb = 0.0
        for s in range(indptr[v], indptr[v + 1]):
            t = nbr[s]
            if t >= 0:
                if a < 0:
                    a = t
                    ca = cw[s]
                else:
                    b = t
                    cb = cw[s]
        d = ca + cb
        if b < 0:
            sa = _find(nbr, indptr, a, v)
            nbr[sa] = -1
            deg[a] -= 1
        else:
            cab = ca * cb / d
            for x, y in ((a, b), (b, a)):
                sx = _find(nbr, indptr, x, v)
                sy = _find(nbr, indptr, x, y)
                if sy >= 0:
                    cw[sy] += cab
                    nbr[sx] = -1
                    deg[x] -= 1
                else:
                    nbr[sx] = y
                    cw[sx] = cab
        gone[v] = True
        for s in range(indptr[v], indptr[v + 1]):
            nbr[s] = -1
        deg[v] = 0
        order[count] = v
        o1[count] = a
        o2[count] = b
        oc1[count] = ca
        oc2[count] = cb
        od[count] = d
        count += 1
        for x in (a, b):
            if x >= 0 and x != ground and not gone[x] and deg[x] <= 2 and not onstack[x]:
                stack[top] = x
                top += 1
                onstack[x] = True
    return order, o1, o2, oc1, oc2, od, nbr, cw, count


@njit
def _forward(Y, order, o1, o2, oc1, oc2, od, count):  # noqa: N803
    k = Y.shape[1]
    for i in range(count):
        v = order[i]
        a = o1[i]
        b = o2[i]
        for j in range(k):
            y = Y[v, j] / od[i]
            Y[v, j] = y
            Y[a, j] += oc1[i] * y
            if b >= 0:
                Y[b, j] += oc2[i] * y


@njit
def _backward(X, order, o1, o2, oc1, oc2, od, count):  # noqa: N803
    k = X.shape[1]
    for i in range(count - 1, -1, -1):
        v = order[i]
        a = o1[i]
        b = o2[i]
        for j in range(k):
            s = oc1[i] * X[a, j]
            if b >= 0:
                s += oc2[i] * X[b, j]
            X[v, j] += s / od[i]


class ReducedLaplacianSolver:
    """``L_H⁺`` (grounded at ``ground``: zero there) by leaf/series reduction + SuperLU.

    Parameters
    ----------
    H : scipy.sparse.csr_matrix
        Symmetric adjacency of a connected graph (conductances), zero diagonal.
    ground : int
        The grounded vertex (never eliminated; the solution is zero there).
    ordering : str
        SuperLU column ordering of the core factorization.
    """

    def __init__(self, H: scipy.sparse.csr_matrix, ground: int, ordering: str = "COLAMD") -> None:  # noqa: N803
        H = scipy.sparse.csr_matrix(H)  # noqa: N806
        n = H.shape[0]
        indptr = H.indptr.astype(np.int64)
        indices = H.indices.astype(np.int64)
        weights = np.asarray(H.data, dtype=np.float64)
        red = reduce_degree12(indptr, indices, weights, int(ground))
        order, o1, o2, oc1, oc2, od, nbr, cw, count = red
        self._elim = (order[:count], o1[:count], o2[:count], oc1[:count], oc2[:count], od[:count])
        self.count = int(count)
        alive = np.ones(n, dtype=bool)
        alive[order[:count]] = False
        alive[ground] = False
        core = np.flatnonzero(alive)
        self.core = core
        self.n = n
        self.lu: Any = None
        if core.size:
            idx = np.full(n, -1, dtype=np.int64)
            idx[core] = np.arange(core.size)
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
            live = nbr >= 0
            r, c, w = rows[live], nbr[live], cw[live]
            diag = np.bincount(r, weights=w, minlength=n)[core]
            off = (idx[r] >= 0) & (idx[c] >= 0)
            L = scipy.sparse.csc_matrix(  # noqa: N806
                (
                    np.concatenate([-w[off], diag]),
                    (
                        np.concatenate([idx[r[off]], np.arange(core.size)]),
                        np.concatenate([idx[c[off]], np.arange(core.size)]),
                    ),
                ),
                shape=(core.size, core.size),
            )
            self.lu = factorize_laplacian(L, ordering)

    def solve(self, B: np.ndarray) -> np.ndarray:  # noqa: N803
        """``L_H⁺ B`` for full-length right-hand sides (one column or a block)."""
        one = B.ndim == 1
        Y = np.array(B, dtype=np.float64, order="C", copy=True).reshape(self.n, -1)  # noqa: N806
        _forward(Y, *self._elim, self.count)
        X = np.zeros_like(Y)  # noqa: N806
        if self.lu is not None:
            X[self.core] = self.lu.solve(np.ascontiguousarray(Y[self.core]))
        order = self._elim[0]
        X[order] = Y[order]
        _backward(X, *self._elim, self.count)
        return X[:, 0] if one else X
