"""CPU hot loops of the DCDM family (Numba). GPU twins: ``gpu/dcdm_kernels.py``.

The Krylov part of every solver in this family (DCDM and the CG / PCG baselines) runs
on these few kernels, so that the comparisons in ``benchmarks/dcdm_bench.py`` measure
the methods, not two different sparse matrix–vector products.

* :func:`prepare_matrix` / :func:`matvec` — CSR sparse matrix–vector product: rows in
  parallel (``prange``) from :data:`PARALLEL_MIN_ROWS` rows on when Numba has more than
  one thread; SciPy's compiled product otherwise (it is ~2× faster than a one-thread
  Numba loop).
* :func:`step_update` — fused ``x += α q; r −= α Aq`` returning ``‖r‖²`` (one pass).
* :func:`orth_update` — fused ``q −= β p; Aq −= β Ap`` (A-orthogonalization step).
* :func:`ic0_factor` / :func:`ic0_solve` — incomplete Cholesky IC(0) on the sparsity
  pattern of the lower triangle, and the two triangular solves of the preconditioner.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse
from numba import prange

from solvers._config import njit

#: below this many rows the kernels run on one thread (a parallel region costs more)
PARALLEL_MIN_ROWS = 1 << 15


def _par(n: int) -> bool:
    return n >= PARALLEL_MIN_ROWS and numba.get_num_threads() > 1


# -- sparse matrix–vector product ---------------------------------------------------------
@njit
def _spmv_serial(indptr, indices, data, x, out):
    for i in range(indptr.size - 1):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s


@njit(parallel=True)
def _spmv_parallel(indptr, indices, data, x, out):
    for i in prange(indptr.size - 1):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s


class CSR:
    """A CSR matrix as three contiguous arrays (what the kernels take) and as SciPy."""

    __slots__ = ("data", "indices", "indptr", "shape", "scipy")

    def __init__(self, A: Any) -> None:  # noqa: N803
        A = scipy.sparse.csr_matrix(A)  # noqa: N806
        self.indptr = np.ascontiguousarray(A.indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(A.indices, dtype=np.int64)
        self.data = np.ascontiguousarray(A.data, dtype=np.float64)
        self.shape = A.shape
        self.scipy = scipy.sparse.csr_matrix(
            (self.data, A.indices, A.indptr), shape=A.shape, copy=False
        )


def prepare_matrix(A: Any) -> CSR:  # noqa: N803
    """The kernel-side form of the host CSR matrix ``A`` (float64)."""
    return CSR(A)


def matvec(M: CSR, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:  # noqa: N803
    """``out = M @ x`` (float64)."""
    if _par(M.shape[0]):
        if out is None:
            out = np.empty(M.shape[0], dtype=np.float64)
        _spmv_parallel(M.indptr, M.indices, M.data, x, out)
        return out
    y = M.scipy @ x
    if out is None:
        return y
    out[:] = y
    return out


# -- fused vector updates -------------------------------------------------------------------
@njit
def _step_serial(x, r, q, aq, alpha):
    s = 0.0
    for i in range(x.size):
        x[i] += alpha * q[i]
        ri = r[i] - alpha * aq[i]
        r[i] = ri
        s += ri * ri
    return s


@njit(parallel=True)
def _step_parallel(x, r, q, aq, alpha):
    s = 0.0
    for i in prange(x.size):
        x[i] += alpha * q[i]
        ri = r[i] - alpha * aq[i]
        r[i] = ri
        s += ri * ri
    return s


def step_update(x: np.ndarray, r: np.ndarray, q: np.ndarray, aq: np.ndarray, alpha: float) -> float:
    """In place ``x += α q``, ``r −= α Aq``; returns the new ``‖r‖²``."""
    if _par(x.size):
        return float(_step_parallel(x, r, q, aq, float(alpha)))
    return float(_step_serial(x, r, q, aq, float(alpha)))


@njit
def _orth_serial(q, aq, p, ap, beta):
    for i in range(q.size):
        q[i] -= beta * p[i]
        aq[i] -= beta * ap[i]


@njit(parallel=True)
def _orth_parallel(q, aq, p, ap, beta):
    for i in prange(q.size):
        q[i] -= beta * p[i]
        aq[i] -= beta * ap[i]


def orth_update(q: np.ndarray, aq: np.ndarray, p: np.ndarray, ap: np.ndarray, beta: float) -> None:
    """In place ``q −= β p``, ``Aq −= β Ap``."""
    if _par(q.size):
        _orth_parallel(q, aq, p, ap, float(beta))
    else:
        _orth_serial(q, aq, p, ap, float(beta))


# -- incomplete Cholesky IC(0) -----------------------------------------------------------------
@njit
def _ic0(indptr, indices, data, n):
    """IC(0) of the lower triangle (CSR, sorted columns, diagonal last in each row).

    Returns the factor's values on the same pattern (row-oriented, left-looking), and
    the number of pivots that had to be shifted (non-positive pivots).
    """
    vals = data.copy()
    diag_pos = np.empty(n, dtype=np.int64)
    shifted = 0
    for i in range(n):
        diag_pos[i] = indptr[i + 1] - 1
    for i in range(n):
        start, end = indptr[i], indptr[i + 1]
        for kk in range(start, end):
            j = indices[kk]
            # s = sum_{k<j} L[i,k] L[j,k] over the common pattern
            s = vals[kk]
            a = start
            b = indptr[j]
            bend = indptr[j + 1] - 1  # exclude L[j,j]
            while a < kk and b < bend:
                ca = indices[a]
                cb = indices[b]
                if ca == cb:
                    s -= vals[a] * vals[b]
                    a += 1
                    b += 1
                elif ca < cb:
                    a += 1
                else:
                    b += 1
            if j == i:
                if s <= 0.0:
                    s = abs(data[kk]) if data[kk] != 0.0 else 1.0
                    shifted += 1
                vals[kk] = np.sqrt(s)
            else:
                vals[kk] = s / vals[diag_pos[j]]
    return vals, shifted


class IC0:
    """Lower-triangular IC(0) factor ``L`` (``A ≈ L Lᵀ``) with its transpose."""

    __slots__ = ("L", "Lt", "shifted")

    def __init__(self, L: CSR, Lt: CSR, shifted: int) -> None:  # noqa: N803
        self.L = L
        self.Lt = Lt
        self.shifted = shifted


def ic0_factor(A: Any) -> IC0:  # noqa: N803
    """IC(0) of the symmetric matrix ``A`` (host CSR); zero-pattern incomplete Cholesky.

    Rows with a zero diagonal (empty rows) get a unit pivot, so the factor is always
    usable as a preconditioner.
    """
    lower = scipy.sparse.tril(scipy.sparse.csr_matrix(A), format="csr")
    lower.sort_indices()
    n = lower.shape[0]
    diag = lower.diagonal()
    missing = np.flatnonzero(diag == 0)
    if missing.size:
        fix = scipy.sparse.csr_matrix((np.ones(missing.size), (missing, missing)), shape=(n, n))
        lower = (lower + fix).tocsr()
        lower.sort_indices()
    L = CSR(lower)  # noqa: N806
    vals, shifted = _ic0(L.indptr, L.indices, L.data, n)
    L.data = vals
    lt = scipy.sparse.csr_matrix((vals, L.indices, L.indptr), shape=(n, n)).T.tocsr()
    lt.sort_indices()
    return IC0(L, CSR(lt), int(shifted))


@njit
def _lower_solve(indptr, indices, data, b, out):
    for i in range(b.size):
        s = b[i]
        end = indptr[i + 1] - 1
        for k in range(indptr[i], end):
            s -= data[k] * out[indices[k]]
        out[i] = s / data[end]


@njit
def _upper_solve(indptr, indices, data, b, out):
    for i in range(b.size - 1, -1, -1):
        s = b[i]
        start = indptr[i]
        for k in range(start + 1, indptr[i + 1]):
            s -= data[k] * out[indices[k]]
        out[i] = s / data[start]


def ic0_solve(F: IC0, r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:  # noqa: N803
    """``out = (L Lᵀ)⁻¹ r`` by a forward and a backward triangular solve."""
    y = np.empty_like(r)
    _lower_solve(F.L.indptr, F.L.indices, F.L.data, r, y)
    if out is None:
        out = np.empty_like(r)
    _upper_solve(F.Lt.indptr, F.Lt.indices, F.Lt.data, y, out)
    return out
