"""CPU hot loops of the LDP family (Numba); GPU twins in ``gpu/ldp_kernels.py``.

* :func:`release_rows` — the owners' randomizers for a block of simulated owners, given
  their random draws (the same arithmetic as
  :func:`solvers.ldp.randomizers.release_from_draws`, fused: statistics, mechanism and
  output in one pass per owner);
* :func:`fixed_point_sum` — the server's exact aggregation of reports (integer sums of
  ``round(v / q)``; order-independent, so parallel and GPU sums are identical);
* :func:`moment_sums` — sums of the truncated statistics themselves (no noise): the
  simulation's exact-aggregate-noise path and the non-private quantities of tests and
  baselines.

Statistic kinds (``kind``): 0 = NLDP ``[pack(x̃x̃ᵀ) | x̄ȳ]``, 1 = ``x̄ȳ`` (nldp_public),
2 = gradient ``x̄(⟨x̄, θ⟩ − ȳ)`` (interactive). Channels are described by parallel
arrays ``ch_off, ch_dim, ch_mech (0 = l2ball, 1 = gaussian), ch_radius, ch_scale,
ch_pkeep`` (``pkeep = e^ε/(e^ε+1)``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from solvers._config import njit

#: rows per parallel work item (fixed, so float sums do not depend on the thread count)
ROWS_PER_TASK = 4096


@njit
def _row_statistics(kind, x, yv, theta, r, tau_x, tau_y, xt, buf):  # noqa: ANN001, ANN202
    """Write owner ``(x, y)``'s statistics of ``kind`` into ``buf``; ``xt`` is work space."""
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
        for i in range(d):
            xt[i] = x[i] * scale
        k = 0
        for i in range(d):
            for j in range(i, d):
                buf[k] = xt[i] * xt[j]
                k += 1
        for i in range(d):
            buf[k + i] = min(max(x[i], -tau_x), tau_x) * yb
    elif kind == 1:
        for i in range(d):
            buf[i] = min(max(x[i], -tau_x), tau_x) * yb
    else:
        dot = 0.0
        for i in range(d):
            xt[i] = min(max(x[i], -tau_x), tau_x)
            dot += xt[i] * theta[i]
        res = dot - yb
        for i in range(d):
            buf[i] = xt[i] * res


@njit
def _release_channel(buf, g, u0, u1, off, dim, mech, radius, scale, pkeep, out):  # noqa: ANN001, ANN202
    """One channel of one owner: ``out[off:off+dim]`` from ``buf`` and the draws.

    ℓ2 ball: ``±(B/‖g‖) g``, the sign putting the output in the wanted hemisphere of the
    pole ``s·v`` (the antipodal map, see :func:`solvers.ldp.randomizers.l2ball_from_draws`).
    """
    if mech == 1:  # Gaussian
        for j in range(off, off + dim):
            out[j] = buf[j] + scale * g[j]
        return
    nv2 = 0.0
    gn2 = 0.0
    dot = 0.0
    for j in range(off, off + dim):
        nv2 += buf[j] * buf[j]
        gn2 += g[j] * g[j]
        dot += g[j] * buf[j]
    nv = math.sqrt(nv2)
    c = scale / max(math.sqrt(gn2), 2.2250738585072014e-308)
    s = 1.0 if u0 < 0.5 + min(nv, radius) / (2.0 * radius) else -1.0
    want = s if u1 < pkeep else -s
    if (dot > 0.0) != (want > 0.0):
        c = -c
    for j in range(off, off + dim):
        out[j] = g[j] * c


@njit(parallel=True)
def release_rows(  # noqa: ANN201
    kind,  # noqa: ANN001
    X,  # noqa: ANN001, N803
    y,  # noqa: ANN001
    theta,  # noqa: ANN001
    r,  # noqa: ANN001
    tau_x,  # noqa: ANN001
    tau_y,  # noqa: ANN001
    G,  # noqa: ANN001, N803
    U,  # noqa: ANN001, N803
    ch_off,  # noqa: ANN001
    ch_dim,  # noqa: ANN001
    ch_mech,  # noqa: ANN001
    ch_radius,  # noqa: ANN001
    ch_scale,  # noqa: ANN001
    ch_pkeep,  # noqa: ANN001
    out,  # noqa: ANN001
):
    """Reports ``out[i]`` of owners ``(X[i], y[i])`` from their draws ``G[i]``, ``U[i]``."""
    m, d = X.shape
    width = G.shape[1]
    if y.shape[0] != m or G.shape[0] != m or out.shape[0] != m or out.shape[1] != width:
        raise ValueError("release_rows: X, y, G and out must have matching shapes")
    if U.shape[0] != m:
        raise ValueError("release_rows: U must have one row per owner")
    nch = ch_off.shape[0]
    ntask = (m + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for t in numba.prange(ntask):
        xt = np.empty(d)
        buf = np.empty(width)
        for i in range(t * ROWS_PER_TASK, min(m, (t + 1) * ROWS_PER_TASK)):
            _row_statistics(kind, X[i], y[i], theta, r, tau_x, tau_y, xt, buf)
            for c in range(nch):
                u0 = 0.0
                u1 = 0.0
                if ch_mech[c] == 0:
                    u0 = U[i, 2 * c]
                    u1 = U[i, 2 * c + 1]
                _release_channel(
                    buf,
                    G[i],
                    u0,
                    u1,
                    ch_off[c],
                    ch_dim[c],
                    ch_mech[c],
                    ch_radius[c],
                    ch_scale[c],
                    ch_pkeep[c],
                    out[i],
                )


@njit(parallel=True)
def fixed_point_sum(R, inv_q, acc):  # noqa: ANN001, ANN201, N803
    """``acc[j] += Σ_i floor(R[i, j] · inv_q[j] + 1/2)`` in int64 (exact)."""
    m, width = R.shape
    if inv_q.shape[0] != width or acc.shape[0] != width:
        raise ValueError("fixed_point_sum: inv_q and acc must have one entry per column")
    ntask = (m + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    parts = np.zeros((max(ntask, 1), width), dtype=np.int64)
    for t in numba.prange(ntask):
        for i in range(t * ROWS_PER_TASK, min(m, (t + 1) * ROWS_PER_TASK)):
            for j in range(width):
                parts[t, j] += np.int64(math.floor(R[i, j] * inv_q[j] + 0.5))
    for t in range(ntask):
        for j in range(width):
            acc[j] += parts[t, j]


@njit(parallel=True)
def moment_sums(kind, X, y, theta, r, tau_x, tau_y, out):  # noqa: ANN001, ANN201, N803
    """``out += Σ_i stat_kind(X[i], y[i])`` (float64; fixed task split → reproducible)."""
    m, d = X.shape
    if y.shape[0] != m:
        raise ValueError("moment_sums: X and y must have one row per owner")
    width = out.shape[0]
    ntask = (m + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    parts = np.zeros((max(ntask, 1), width))
    for t in numba.prange(ntask):
        xt = np.empty(d)
        buf = np.empty(width)
        for i in range(t * ROWS_PER_TASK, min(m, (t + 1) * ROWS_PER_TASK)):
            _row_statistics(kind, X[i], y[i], theta, r, tau_x, tau_y, xt, buf)
            for j in range(width):
                parts[t, j] += buf[j]
    for t in range(ntask):
        for j in range(width):
            out[j] += parts[t, j]


@njit(parallel=True)
def check_sum(R, inv_q, col_bound, ch_off, ch_dim, ch_norm, ch_raw, rtol, acc, bad):  # noqa: ANN001, ANN201, N803
    """Schema check and exact sum of a batch of reports in one pass (the server's path).

    Every value must satisfy ``|v| ≤ col_bound·(1 + rtol)`` (NaN fails); every channel
    ``c`` with ``ch_norm[c] > 0`` must have norm ``ch_norm[c]`` (relative ``rtol``), and
    with ``ch_raw[c] > 0`` a norm above ``ch_raw[c]``. On success ``acc`` receives the
    fixed-point sums and ``bad[0] = -1``; otherwise ``acc`` is untouched and
    ``bad = (row, code, channel)`` of the first failing report (code 1: not finite,
    2: above the bound, 3: wrong l2-ball norm, 4: raw-looking).
    """
    m, width = R.shape
    nch = ch_off.shape[0]
    ntask = (m + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    parts = np.zeros((max(ntask, 1), width), dtype=np.int64)
    first = np.full(max(ntask, 1), m, dtype=np.int64)
    codes = np.zeros(max(ntask, 1), dtype=np.int64)
    chans = np.zeros(max(ntask, 1), dtype=np.int64)
    for t in numba.prange(ntask):
        for i in range(t * ROWS_PER_TASK, min(m, (t + 1) * ROWS_PER_TASK)):
            code = 0
            chan = 0
            for j in range(width):
                v = R[i, j]
                if not (abs(v) <= col_bound[j] * (1.0 + rtol)):
                    code = 1 if not math.isfinite(v) else 2
                    break
            if code == 0:
                for c in range(nch):
                    s = 0.0
                    for j in range(ch_off[c], ch_off[c] + ch_dim[c]):
                        s += R[i, j] * R[i, j]
                    nrm = math.sqrt(s)
                    if ch_norm[c] > 0.0 and abs(nrm - ch_norm[c]) > rtol * ch_norm[c] + 1e-12:
                        code = 3
                    elif ch_raw[c] > 0.0 and nrm <= ch_raw[c]:
                        code = 4
                    if code != 0:
                        chan = c
                        break
            if code != 0:
                first[t] = i
                codes[t] = code
                chans[t] = chan
                break
            for j in range(width):
                parts[t, j] += np.int64(math.floor(R[i, j] * inv_q[j] + 0.5))
    worst = 0
    for t in range(ntask):
        if first[t] < first[worst]:
            worst = t
    if ntask > 0 and first[worst] < m:
        bad[0] = first[worst]
        bad[1] = codes[worst]
        bad[2] = chans[worst]
        return
    bad[0] = -1
    for t in range(ntask):
        for j in range(width):
            acc[j] += parts[t, j]
