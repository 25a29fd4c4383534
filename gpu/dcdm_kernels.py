"""GPU twins of ``solvers/dcdm/_kernels_numba.py`` (same names and semantics).

The fused vector updates of the Krylov loops are numba.cuda kernels (grid-stride loops),
so that they also run, unchanged, on the CPU under ``NUMBA_ENABLE_CUDASIM=1`` (see
``tests/dcdm/test_kernels_cudasim.py``); reductions are CuPy dot products (NumPy under
the simulator). The matrix–vector product is cuSPARSE's (``cupyx.scipy.sparse``) on a
device; under the simulator, and in :func:`csr_matvec`, a one-thread-per-row CSR kernel.
IC(0) is CPU-only: :func:`ic0_factor` raises :class:`BackendUnavailableError`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse
from numba import config as numba_config
from numba import cuda

from solvers._config import FASTMATH
from solvers._errors import BackendUnavailableError

#: threads per block (fewer under the simulator, which runs every thread in Python)
THREADS = 8 if numba_config.ENABLE_CUDASIM else 256
MAX_BLOCKS = 4 if numba_config.ENABLE_CUDASIM else 65535


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / THREADS)))


def _on_device(a: Any) -> bool:
    return type(a).__module__.split(".")[0] == "cupy"


# -- kernels ---------------------------------------------------------------------------------
@cuda.jit(fastmath=FASTMATH)
def _spmv_kernel(indptr, indices, data, x, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, out.shape[0], stride):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s


@cuda.jit(fastmath=FASTMATH)
def _step_kernel(x, r, q, aq, alpha):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        x[i] += alpha * q[i]
        r[i] -= alpha * aq[i]


@cuda.jit(fastmath=FASTMATH)
def _orth_kernel(q, aq, p, ap, beta):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, q.shape[0], stride):
        q[i] -= beta * p[i]
        aq[i] -= beta * ap[i]


# -- matrices ----------------------------------------------------------------------------------
class DeviceCSR:
    """A CSR matrix on the device: cuSPARSE handle (CuPy) plus the raw arrays."""

    __slots__ = ("data", "indices", "indptr", "mat", "shape")

    def __init__(self, A: Any) -> None:  # noqa: N803
        A = scipy.sparse.csr_matrix(A, dtype=np.float64)  # noqa: N806
        self.shape = A.shape
        try:
            import cupy
            import cupyx.scipy.sparse as cusparse

            self.mat = cusparse.csr_matrix(A)
            self.indptr = self.mat.indptr
            self.indices = self.mat.indices
            self.data = self.mat.data
            self._check(cupy)
        except ImportError:  # the simulator: NumPy arrays
            self.mat = None
            self.indptr = np.ascontiguousarray(A.indptr, dtype=np.int64)
            self.indices = np.ascontiguousarray(A.indices, dtype=np.int64)
            self.data = np.ascontiguousarray(A.data)

    def _check(self, cupy: Any) -> None:  # pragma: no cover - needs a GPU
        if not isinstance(self.data, cupy.ndarray):
            raise BackendUnavailableError("cupyx did not give a device CSR matrix")


def prepare_matrix(A: Any) -> DeviceCSR:  # noqa: N803
    """The device form of the host CSR matrix ``A`` (float64)."""
    return DeviceCSR(A)


def csr_matvec(M: DeviceCSR, x: Any, out: Any) -> Any:  # noqa: N803
    """``out = M @ x`` by the numba.cuda CSR kernel (one thread per row)."""
    n = M.shape[0]
    _spmv_kernel[_grid(n), THREADS](M.indptr, M.indices, M.data, x, out)
    return out


def matvec(M: DeviceCSR, x: Any, out: Any | None = None) -> Any:  # noqa: N803
    """``out = M @ x`` (cuSPARSE on a device, the CSR kernel under the simulator)."""
    if M.mat is not None and _on_device(x):
        y = M.mat @ x
        if out is None:
            return y
        out[...] = y
        return out
    if out is None:
        out = (np if not _on_device(x) else _cupy()).empty(M.shape[0], dtype=np.float64)
    return csr_matvec(M, x, out)


def _cupy() -> Any:  # pragma: no cover - needs a GPU
    import cupy

    return cupy


# -- vector updates ------------------------------------------------------------------------------
def step_update(x: Any, r: Any, q: Any, aq: Any, alpha: float) -> float:
    """In place ``x += α q``, ``r −= α Aq``; returns the new ``‖r‖²``."""
    _step_kernel[_grid(x.shape[0]), THREADS](x, r, q, aq, float(alpha))
    xp = _cupy() if _on_device(r) else np
    return float(xp.dot(r, r))


def orth_update(q: Any, aq: Any, p: Any, ap: Any, beta: float) -> None:
    """In place ``q −= β p``, ``Aq −= β Ap``."""
    _orth_kernel[_grid(q.shape[0]), THREADS](q, aq, p, ap, float(beta))


def ic0_factor(A: Any) -> Any:  # noqa: N803
    raise BackendUnavailableError("IC(0) runs on the CPU only; use backend='cpu'")


def ic0_solve(F: Any, r: Any, out: Any = None) -> Any:  # noqa: N803
    raise BackendUnavailableError("IC(0) runs on the CPU only; use backend='cpu'")
