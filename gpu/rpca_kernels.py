"""GPU twins of ``solvers/rpca/_kernels_numba.py`` (same names and semantics).

Written with numba.cuda so that the kernels also run, unchanged, on the CPU under
``NUMBA_ENABLE_CUDASIM=1`` (see ``tests/rpca/test_kernels_cudasim.py``). The wrappers take
CuPy arrays (any object with ``__cuda_array_interface__``) on a real device, and NumPy
arrays under the simulator.
"""

from __future__ import annotations

import math

from numba import cuda, float64, int64

from solvers._config import FASTMATH

THREADS = 256
MAX_BLOCKS = 4096


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / THREADS)))


@cuda.jit(fastmath=FASTMATH)
def _shrink_shift_kernel(d, a, y, inv_mu, thresh, e, x):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, d.size, stride):
        shift = y[i] * inv_mu
        t = d[i] - a[i] + shift
        if t > thresh:
            v = t - thresh
        elif t < -thresh:
            v = t + thresh
        else:
            v = t * 0.0
        e[i] = v
        x[i] = d[i] - v + shift


@cuda.jit(fastmath=FASTMATH)
def _dual_update_kernel(d, a, e, y, mu, partial):
    """Y += mu*(D - A - E); per-block partial sums of Z² in ``partial``."""
    buf = cuda.shared.array(THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    acc = 0.0
    for i in range(start, d.size, stride):
        z = d[i] - a[i] - e[i]
        y[i] += mu * z
        acc += z * z
    buf[tid] = acc
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            buf[tid] += buf[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        partial[cuda.blockIdx.x] = buf[0]


@cuda.jit(fastmath=FASTMATH)
def _soft_threshold_kernel(t, thresh, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, t.size, stride):
        v = t[i]
        if v > thresh:
            out[i] = v - thresh
        elif v < -thresh:
            out[i] = v + thresh
        else:
            out[i] = v * 0.0


@cuda.jit(fastmath=FASTMATH)
def _shrink_shift_masked_kernel(d, a, y, w, inv_mu, thresh, e, x):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, d.size, stride):
        shift = y[i] * inv_mu
        t = d[i] - a[i] + shift
        if w[i] == 0:
            v = t
        elif t > thresh:
            v = t - thresh
        elif t < -thresh:
            v = t + thresh
        else:
            v = t * 0.0
        e[i] = v
        x[i] = d[i] - v + shift


@cuda.jit(device=True)
def _block_reduce(buf, cbuf, mbuf, tid):
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            buf[tid] += buf[tid + step]
            cbuf[tid] += cbuf[tid + step]
            mbuf[tid] = max(mbuf[tid], mbuf[tid + step])
        cuda.syncthreads()
        step //= 2


@cuda.jit(fastmath=FASTMATH)
def _hard_threshold_update_kernel(d, x, lo, w, masked, zeta, s, partial, pcount, pmax):
    """S = H_zeta(D - L+), X = D - S, L = L+ with L+ read from X (X = L+, S = 0 where
    w == 0 when ``masked``); per-block sums of residual², counts and max |L+ - L|."""
    buf = cuda.shared.array(THREADS, dtype=float64)
    cbuf = cuda.shared.array(THREADS, dtype=int64)
    mbuf = cuda.shared.array(THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    acc = 0.0
    cnt = 0
    dmax = 0.0
    for i in range(start, d.size, stride):
        ln = x[i]
        dmax = max(dmax, abs(ln - lo[i]))
        lo[i] = ln
        if masked and w[i] == 0:
            s[i] = ln * 0.0
            continue
        r = d[i] - ln
        if abs(r) > zeta:
            s[i] = r
            x[i] = d[i] - r
            cnt += 1
        else:
            s[i] = r * 0.0
            x[i] = d[i]
            acc += r * r
    buf[tid] = acc
    cbuf[tid] = cnt
    mbuf[tid] = dmax
    _block_reduce(buf, cbuf, mbuf, tid)
    if tid == 0:
        partial[cuda.blockIdx.x] = buf[0]
        pcount[cuda.blockIdx.x] = cbuf[0]
        pmax[cuda.blockIdx.x] = mbuf[0]


def _flat(a):  # noqa: ANN001, ANN202
    return a.reshape(-1)


def _empty_like_host_or_device(n: int, like, dtype: str = "float64"):  # noqa: ANN001, ANN202
    """A zeroed buffer of ``n`` on the same side as ``like`` (CuPy or NumPy)."""
    mod = type(like).__module__.split(".")[0]
    if mod == "cupy":
        import cupy

        return cupy.zeros(n, dtype=dtype)
    import numpy

    return numpy.zeros(n, dtype=dtype)


def shrink_shift(D, A, Y, inv_mu, thresh, E, X) -> None:  # noqa: N803, ANN001
    """``E = soft(D − A + Y/μ, λ/μ)``, ``X = D − E + Y/μ`` (in place)."""
    n = D.size
    _shrink_shift_kernel[_grid(n), THREADS](
        _flat(D), _flat(A), _flat(Y), inv_mu, thresh, _flat(E), _flat(X)
    )


def dual_update(D, A, E, Y, mu) -> float:  # noqa: N803, ANN001
    """``Y += μ (D − A − E)``; returns ``‖D − A − E‖_F²``."""
    n = D.size
    blocks = _grid(n)
    partial = _empty_like_host_or_device(blocks, D)
    _dual_update_kernel[blocks, THREADS](_flat(D), _flat(A), _flat(E), _flat(Y), mu, partial)
    return float(partial.sum())


def soft_threshold(T, thresh, out) -> None:  # noqa: N803, ANN001
    """``out = sign(T) ⊙ max(|T| − thresh, 0)``."""
    n = T.size
    _soft_threshold_kernel[_grid(n), THREADS](_flat(T), thresh, _flat(out))


def shrink_shift_masked(D, A, Y, W, inv_mu, thresh, E, X) -> None:  # noqa: N803, ANN001
    """:func:`shrink_shift` on observed entries; ``E = D − A + Y/μ`` where ``W == 0``."""
    n = D.size
    _shrink_shift_masked_kernel[_grid(n), THREADS](
        _flat(D), _flat(A), _flat(Y), _flat(W), inv_mu, thresh, _flat(E), _flat(X)
    )


def _hard_threshold(D, X, L, W, zeta, S) -> tuple[float, int, float]:  # noqa: N803, ANN001
    n = D.size
    blocks = _grid(n)
    partial = _empty_like_host_or_device(blocks, D)
    pcount = _empty_like_host_or_device(blocks, D, "int64")
    pmax = _empty_like_host_or_device(blocks, D)
    masked = W is not None
    w = _flat(W) if masked else _flat(D)  # a placeholder the kernel never reads
    _hard_threshold_update_kernel[blocks, THREADS](
        _flat(D), _flat(X), _flat(L), w, masked, zeta, _flat(S), partial, pcount, pmax
    )
    return float(partial.sum()), int(pcount.sum()), float(pmax.max())


def hard_threshold_update(D, X, L, zeta, S) -> tuple[float, int, float]:  # noqa: N803, ANN001
    """With ``X = L⁺`` on entry: ``S = H_ζ(D − L⁺)``, ``X = D − S``, ``L = L⁺``; returns
    ``(‖D − L⁺ − S‖_F², nnz(S), max|L⁺ − L|)``."""
    return _hard_threshold(D, X, L, None, zeta, S)


def hard_threshold_update_masked(D, X, L, W, zeta, S) -> tuple[float, int, float]:  # noqa: N803, ANN001
    """:func:`hard_threshold_update` on observed entries; ``S = 0``, ``X = L⁺`` elsewhere."""
    return _hard_threshold(D, X, L, W, zeta, S)


def qr_tall(A):  # noqa: N803, ANN001, ANN201
    """Thin QR ``(Q, R)`` of a tall matrix (cuSOLVER through CuPy; NumPy in the simulator)."""
    mod = type(A).__module__.split(".")[0]
    if mod == "cupy":
        import cupy

        return cupy.linalg.qr(A)
    import numpy

    return numpy.linalg.qr(A)
