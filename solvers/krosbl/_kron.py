"""Kronecker algebra without forming Kronecker products.

Convention (NumPy's ``np.kron``): for factors ``A_1, ..., A_K`` with ``A_k`` of shape
``(r_k, d_k)``, ``kron(A_1, ..., A_K)`` maps a vector indexed by ``(i_1, ..., i_K)`` in
C order (the LAST index varies fastest) — i.e. ``x.reshape(d_1, ..., d_K)``.

Written against the array module of the inputs (NumPy or CuPy).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np


def _xp(a: Any) -> Any:
    """The array module of ``a`` (CuPy is necessarily imported already for a CuPy array)."""
    mod = type(a).__module__.split(".")[0]
    if mod == "cupy":
        return sys.modules["cupy"]
    return np


def kron_matvec(factors: Sequence[Any], X: Any) -> Any:  # noqa: N803
    """``kron(A_1, ..., A_K) @ X`` by mode products (the Kronecker matrix is never formed).

    Parameters
    ----------
    factors : sequence of (r_k, d_k) arrays
    X : (prod d_k,) or (prod d_k, T) array

    Returns
    -------
    (prod r_k,) or (prod r_k, T) array

    Notes
    -----
    Each factor is applied with ONE matrix product that also rotates the tensor's axes:
    with ``X`` viewed as ``(rest, d_k)`` (mode ``k`` last), ``A_k @ X.T`` has shape
    ``(r_k, rest)``, i.e. the new mode in front. Applying ``A_K, ..., A_1`` in turn brings
    every axis back to its place. Cost ``sum_k r_k * (prod of the current sizes)``, i.e.
    ``O(max(prod r, prod d) * sum_k max(r_k, d_k))``; memory two tensors of the
    intermediate sizes. No transposition copies: BLAS reads ``X.T`` in place.
    """
    xp = _xp(X)
    vec = X.ndim == 1
    T = 1 if vec else X.shape[1]  # noqa: N806
    cur = X.reshape(-1) if vec else xp.ascontiguousarray(X.T).reshape(-1)
    for A in reversed(factors):  # noqa: N806
        d = A.shape[1]
        cur = A @ cur.reshape(-1, d).T
    out_rows = cur.size // T
    return cur.reshape(out_rows) if vec else cur.reshape(out_rows, T)


def kron_vec(vectors: Sequence[Any]) -> Any:
    """``kron(v_1, ..., v_K)`` of 1-D arrays (materialised; length prod len(v_k))."""
    return reduce(lambda a, b: (a[:, None] * b[None, :]).reshape(-1), vectors)


def kron_dense(factors: Sequence[Any]) -> Any:
    """The explicit Kronecker product ``kron(A_1, ..., A_K)`` (only for small problems)."""
    xp = _xp(factors[0])
    return reduce(xp.kron, factors)


def mode_contract(T: Any, vectors: Sequence[Any | None], k: int) -> Any:  # noqa: N803
    """Contract the K-way tensor ``T`` with ``vectors[j]`` along every mode ``j != k``.

    ``out[n] = sum_{i: i_k = n} T[i] * prod_{j != k} vectors[j][i_j]`` — two
    matrix–vector products over ``T`` viewed as ``(left, n_k, right)``.
    """
    shape = T.shape
    left = [vectors[j] for j in range(k)]
    right = [vectors[j] for j in range(k + 1, len(shape))]
    n = shape[k]
    cur = T.reshape(-1)
    if left:
        wl = kron_vec(left)
        cur = wl @ cur.reshape(wl.size, -1)
    if right:
        wr = kron_vec(right)
        cur = cur.reshape(n, wr.size) @ wr
    return cur.reshape(n)
