"""GPU twins of ``solvers/ldp/_kernels_numba.py`` (same names and semantics).

:func:`release_rows` and :func:`fixed_point_sum` are numba.cuda kernels (they also run,
unchanged, on the CPU under ``NUMBA_ENABLE_CUDASIM=1``, see
``tests/ldp/test_kernels_cudasim.py``): one thread per owner for the randomizer (the
statistic is written into the output row, then turned into the report in place), and
one thread per (column, slice of rows) for the exact integer aggregate, which ends with
one ``atomic.add`` per thread — integer additions commute, so the GPU sums equal the
CPU's bit for bit. :func:`moment_sums` is array code on CuPy (NumPy under the
simulator): matrix products on the truncated data.
"""

from __future__ import annotations

import math

from numba import cuda, int64

from solvers._config import FASTMATH

THREADS = 128
MAX_BLOCKS = 65535
TINY = 2.2250738585072014e-308


def _xp(a):  # noqa: ANN001, ANN202
    """CuPy for CuPy arrays, NumPy otherwise (the simulator)."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    import numpy

    return numpy


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / THREADS)))


# -- the randomizers of simulated owners ---------------------------------------------------------
@cuda.jit(device=True)
def _write_statistics(kind, x, yv, theta, r, tau_x, tau_y, row):  # noqa: ANN001, ANN202
    d = x.shape[0]
    yb = min(max(yv, -tau_y), tau_y)
    if kind == 0:
        s = 0.0
        for i in range(d):
            s += x[i] * x[i]
        nrm = math.sqrt(s)
        scale = 1.0
        if nrm > r:
            scale = r / nrm
        k = 0
        for i in range(d):
            xi = x[i] * scale
            for j in range(i, d):
                row[k] = xi * (x[j] * scale)
                k += 1
        for i in range(d):
            row[k + i] = min(max(x[i], -tau_x), tau_x) * yb
    elif kind == 1:
        for i in range(d):
            row[i] = min(max(x[i], -tau_x), tau_x) * yb
    else:
        dot = 0.0
        for i in range(d):
            dot += min(max(x[i], -tau_x), tau_x) * theta[i]
        res = dot - yb
        for i in range(d):
            row[i] = min(max(x[i], -tau_x), tau_x) * res


@cuda.jit(device=True, fastmath=FASTMATH)
def _release_channel(row, g, u0, u1, off, dim, mech, radius, scale, pkeep):  # noqa: ANN001, ANN202
    if mech == 1:  # Gaussian
        for j in range(off, off + dim):
            row[j] = row[j] + scale * g[j]
        return
    nv2 = 0.0
    gn2 = 0.0
    dot = 0.0
    for j in range(off, off + dim):
        nv2 += row[j] * row[j]
        gn2 += g[j] * g[j]
        dot += g[j] * row[j]
    nv = math.sqrt(nv2)
    c = scale / max(math.sqrt(gn2), TINY)
    s = 1.0 if u0 < 0.5 + min(nv, radius) / (2.0 * radius) else -1.0
    want = s if u1 < pkeep else -s
    if (dot > 0.0) != (want > 0.0):  # the antipodal map: ±(B/‖g‖) g on the wanted side
        c = -c
    for j in range(off, off + dim):
        row[j] = g[j] * c


@cuda.jit
def _release_kernel(
    kind,
    X,
    y,
    theta,
    r,
    tau_x,
    tau_y,
    G,
    U,
    ch_off,
    ch_dim,
    ch_mech,
    ch_radius,
    ch_scale,
    ch_pkeep,
    out,  # noqa: ANN001, N803, E501
):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, X.shape[0], stride):
        row = out[i]
        _write_statistics(kind, X[i], y[i], theta, r, tau_x, tau_y, row)
        for c in range(ch_off.shape[0]):
            u0 = 0.0
            u1 = 0.0
            if ch_mech[c] == 0:
                u0 = U[i, 2 * c]
                u1 = U[i, 2 * c + 1]
            _release_channel(
                row,
                G[i],
                u0,
                u1,
                ch_off[c],
                ch_dim[c],
                ch_mech[c],
                ch_radius[c],
                ch_scale[c],
                ch_pkeep[c],  # noqa: E501
            )


def release_rows(
    kind,
    X,
    y,
    theta,
    r,
    tau_x,
    tau_y,
    G,
    U,
    ch_off,
    ch_dim,
    ch_mech,
    ch_radius,
    ch_scale,
    ch_pkeep,
    out,  # noqa: ANN001, ANN201, N803, E501
):
    """Reports ``out[i]`` of owners ``(X[i], y[i])`` from their draws (see the CPU twin)."""
    m = X.shape[0]
    if y.shape[0] != m or G.shape[0] != m or U.shape[0] != m or out.shape != (m, G.shape[1]):
        raise ValueError("release_rows: X, y, G, U and out must have matching shapes")
    if m == 0:
        return
    _release_kernel[_grid(m), THREADS](
        int(kind), X, y, theta, float(r), float(tau_x), float(tau_y), G, U,
        ch_off, ch_dim, ch_mech, ch_radius, ch_scale, ch_pkeep, out,
    )  # fmt: skip


# -- exact aggregation -------------------------------------------------------------------------
@cuda.jit
def _fixed_point_kernel(R, inv_q, acc, nslices):  # noqa: ANN001, N803
    t = cuda.grid(1)
    m = R.shape[0]
    width = R.shape[1]
    j = t % width
    sl = t // width
    if sl >= nslices:
        return
    s = int64(0)
    q = inv_q[j]
    for i in range(sl, m, nslices):
        s += int64(math.floor(R[i, j] * q + 0.5))
    cuda.atomic.add(acc, j, s)


def fixed_point_sum(R, inv_q, acc):  # noqa: ANN001, ANN201, N803
    """``acc[j] += Σ_i floor(R[i, j] · inv_q[j] + 1/2)`` in int64 (exact, order-free)."""
    m, width = R.shape
    if inv_q.shape[0] != width or acc.shape[0] != width:
        raise ValueError("fixed_point_sum: inv_q and acc must have one entry per column")
    if m == 0:
        return
    nslices = max(1, min(m, (MAX_BLOCKS * THREADS) // max(width, 1), 8192))
    total = nslices * width
    _fixed_point_kernel[_grid(total), THREADS](R, inv_q, acc, nslices)


# -- sums of the truncated statistics (no noise) ------------------------------------------------
def moment_sums(kind, X, y, theta, r, tau_x, tau_y, out):  # noqa: ANN001, ANN201, N803
    """``out += Σ_i stat_kind(X[i], y[i])`` with matrix products on the device."""
    xp = _xp(X)
    d = X.shape[1]
    yb = xp.clip(y, -tau_y, tau_y)
    Xb = xp.clip(X, -tau_x, tau_x)  # noqa: N806
    if kind == 0:
        nrm = xp.sqrt(xp.sum(X * X, axis=1))
        scale = xp.minimum(1.0, r / xp.maximum(nrm, TINY))
        Xt = X * scale[:, None]  # noqa: N806
        C = Xt.T @ Xt  # noqa: N806
        iu, ju = xp.triu_indices(d)
        D = d * (d + 1) // 2  # noqa: N806
        out[:D] += C[iu, ju]
        out[D:] += Xb.T @ yb
    elif kind == 1:
        out += Xb.T @ yb
    else:
        res = Xb @ theta - yb
        out += Xb.T @ res
