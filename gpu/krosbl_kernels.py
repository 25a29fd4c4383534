"""GPU twins of ``solvers/krosbl/_kernels_numba.py`` (same names and semantics).

Written with numba.cuda so that the kernels also run, unchanged, on the CPU under
``NUMBA_ENABLE_CUDASIM=1`` (see ``tests/krosbl/test_kernels_cudasim.py``). The wrappers
take CuPy arrays (anything with ``__cuda_array_interface__``) on a real device and NumPy
arrays under the simulator. Real and complex data have separate kernels (``v*v`` vs
``v.real² + v.imag²``). The E-step's matrix work (mode products, the small
eigendecompositions) is CuPy/cuBLAS/cuSOLVER, called from the solver through
``backend.xp``.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from solvers._config import FASTMATH

THREADS = 256
MAX_BLOCKS = 4096


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / THREADS)))


def _zeros(shape, like):  # noqa: ANN001, ANN202
    """A float64 buffer on the same side as ``like`` (CuPy or NumPy)."""
    if type(like).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy.zeros(shape, dtype="float64")
    import numpy

    return numpy.zeros(shape, dtype="float64")


def _is_complex(a) -> bool:  # noqa: ANN001
    return a.dtype.kind == "c"


# -- whiten_stats ------------------------------------------------------------------------
@cuda.jit(fastmath=FASTMATH)
def _whiten_real(p, sigma2, yt, d, partial):
    s0 = cuda.shared.array(THREADS, dtype=float64)
    s1 = cuda.shared.array(THREADS, dtype=float64)
    s2 = cuda.shared.array(THREADS, dtype=float64)
    s3 = cuda.shared.array(THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    m, t = yt.shape
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(cuda.grid(1), m, cuda.gridsize(1)):
        c = sigma2 + p[i]
        di = 1.0 / c
        d[i] = di
        a = 0.0
        for j in range(t):
            v = yt[i, j]
            a += v * v
            yt[i, j] = v * di
        a0 += math.log(c)
        a1 += di * a
        a2 += di * di * a
        a3 += p[i] * di
    s0[tid] = a0
    s1[tid] = a1
    s2[tid] = a2
    s3[tid] = a3
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            s0[tid] += s0[tid + step]
            s1[tid] += s1[tid + step]
            s2[tid] += s2[tid + step]
            s3[tid] += s3[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        b = cuda.blockIdx.x
        partial[b, 0] = s0[0]
        partial[b, 1] = s1[0]
        partial[b, 2] = s2[0]
        partial[b, 3] = s3[0]


@cuda.jit(fastmath=FASTMATH)
def _whiten_complex(p, sigma2, yt, d, partial):
    s0 = cuda.shared.array(THREADS, dtype=float64)
    s1 = cuda.shared.array(THREADS, dtype=float64)
    s2 = cuda.shared.array(THREADS, dtype=float64)
    s3 = cuda.shared.array(THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    m, t = yt.shape
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for i in range(cuda.grid(1), m, cuda.gridsize(1)):
        c = sigma2 + p[i]
        di = 1.0 / c
        d[i] = di
        a = 0.0
        for j in range(t):
            v = yt[i, j]
            a += v.real * v.real + v.imag * v.imag
            yt[i, j] = v * di
        a0 += math.log(c)
        a1 += di * a
        a2 += di * di * a
        a3 += p[i] * di
    s0[tid] = a0
    s1[tid] = a1
    s2[tid] = a2
    s3[tid] = a3
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            s0[tid] += s0[tid + step]
            s1[tid] += s1[tid + step]
            s2[tid] += s2[tid + step]
            s3[tid] += s3[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        b = cuda.blockIdx.x
        partial[b, 0] = s0[0]
        partial[b, 1] = s1[0]
        partial[b, 2] = s2[0]
        partial[b, 3] = s3[0]


def whiten_stats(p, sigma2, Yt, d):  # noqa: ANN001, ANN201, N803
    """``d = 1/(σ² + p)``, ``Yt ← d ∘ Yt`` (in place); returns ``(Σ log(σ²+p), Σ d|ỹ|²,
    Σ d²|ỹ|², Σ p d)`` (see the CPU kernel)."""
    m = Yt.shape[0]
    blocks = _grid(m)
    partial = _zeros((blocks, 4), Yt)
    k = _whiten_complex if _is_complex(Yt) else _whiten_real
    k[blocks, THREADS](p, float(sigma2), Yt, d, partial)
    s = partial.sum(axis=0)
    s = s.get() if hasattr(s, "get") else s
    return float(s[0]), float(s[1]), float(s[2]), float(s[3])


# -- posterior_moments -----------------------------------------------------------------------
@cuda.jit(fastmath=FASTMATH)
def _moments_real(gamma, s, v, lam):
    n, t = v.shape
    inv_t = 1.0 / t
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        g = gamma[i]
        sig = g - g * g * s[i]
        if sig < 0.0:
            sig = 0.0
        a = 0.0
        for j in range(t):
            x = v[i, j] * g
            v[i, j] = x
            a += x * x
        lam[i] = sig + a * inv_t


@cuda.jit(fastmath=FASTMATH)
def _moments_complex(gamma, s, v, lam):
    n, t = v.shape
    inv_t = 1.0 / t
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        g = gamma[i]
        sig = g - g * g * s[i]
        if sig < 0.0:
            sig = 0.0
        a = 0.0
        for j in range(t):
            x = v[i, j] * g
            v[i, j] = x
            a += x.real * x.real + x.imag * x.imag
        lam[i] = sig + a * inv_t


def posterior_moments(gamma, s, V, lam):  # noqa: ANN001, ANN201, N803
    """``V ← γ ∘ V`` (the posterior mean), ``lam = max(γ − γ² s, 0) + mean_t |μ_t|²``."""
    n = V.shape[0]
    k = _moments_complex if _is_complex(V) else _moments_real
    k[_grid(n), THREADS](gamma, s, V, lam)


# -- col_sqnorms -----------------------------------------------------------------------------
@cuda.jit(fastmath=FASTMATH)
def _colsq_real(b, out):
    m, n = b.shape
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        a = 0.0
        for i in range(m):
            x = b[i, j]
            a += x * x
        out[j] = a


@cuda.jit(fastmath=FASTMATH)
def _colsq_complex(b, out):
    m, n = b.shape
    for j in range(cuda.grid(1), n, cuda.gridsize(1)):
        a = 0.0
        for i in range(m):
            x = b[i, j]
            a += x.real * x.real + x.imag * x.imag
        out[j] = a


def col_sqnorms(B, out):  # noqa: ANN001, ANN201, N803
    """``out[j] = Σ_i |B[i, j]|²`` (one thread per column: coalesced row reads)."""
    k = _colsq_complex if _is_complex(B) else _colsq_real
    k[_grid(B.shape[1]), THREADS](B, out)


# -- dense triangular solves (classic SBL) ----------------------------------------------
def solve_triangular(a, b, lower=False, trans=0):  # noqa: ANN001, ANN201
    """``cupyx.scipy.linalg.solve_triangular`` on a device (cuBLAS trsm); SciPy's under
    the simulator (NumPy inputs)."""
    if type(a).__module__.split(".")[0] == "cupy":
        from cupyx.scipy.linalg import solve_triangular as _st
    else:
        from scipy.linalg import solve_triangular as _st
    return _st(a, b, lower=lower, trans=trans)
