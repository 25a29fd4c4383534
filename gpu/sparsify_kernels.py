"""GPU twins of ``solvers/sparsify/_kernels_numba.py`` (same names and semantics).

Written with numba.cuda so that they also run, unchanged, on the CPU simulator
(``NUMBA_ENABLE_CUDASIM=1``; see ``tests/sparsify/test_kernels_cudasim.py``). The
wrappers take CuPy arrays on a device and NumPy arrays in the simulator.

* :func:`nbrw_walks`: the dyGRASS walks, one block per update edge and one thread per
  walker (the reference's layout), then a shared-memory reduction to the best walker in
  lexicographic order (score, new edges, walker index). The random numbers come from
  the same counter-based generator as the CPU kernel (SplitMix64 of seed, batch,
  update, walker and step), so both make bit-identical walks: the CPU kernel merely
  stops hopeless walkers early, which never changes the winner.
* :func:`nbrw_paths`: replay of the winning walks (one thread per update).
* :func:`edge_heat`: the spectral edge scores of GRASS (one thread per edge).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64, int64

from solvers._config import FASTMATH

#: threads per block of the walk kernel (the most walkers run in parallel per update)
WALK_THREADS = 256
THREADS = 256
MAX_BLOCKS = 65535
NO_PATH = 1 << 40

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)


def _grid(n: int, threads: int = THREADS) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / threads)))


# -- random numbers (bit-identical to the CPU kernels) -----------------------------------
@cuda.jit(device=True)
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@cuda.jit(device=True)
def _walker_key(seed, batch, item, walker):
    k = _mix64(np.uint64(seed) + _GOLDEN)
    k = _mix64(k ^ (np.uint64(batch) * _M1))
    k = _mix64(k ^ (np.uint64(item) * _M2))
    return _mix64(k ^ (np.uint64(walker) + _GOLDEN))


@cuda.jit(device=True)
def _draw(key, step, d):
    z = _mix64(key + np.uint64(step + 1) * _GOLDEN)
    return np.int64((z >> _S11) % np.uint64(d))


# -- walks ----------------------------------------------------------------------------------
@cuda.jit(device=True, fastmath=FASTMATH)
def _walk(start, deg, nbr, wt, flag, cong, p, q, wq, bound, max_steps, key):
    use_cong = cong.size == nbr.size
    lim = bound / wq
    x = p
    prev = -1
    r = 0.0
    c = 0.0
    new = 0
    for s in range(max_steps):
        d = deg[x]
        if prev < 0:
            if d == 0:
                return math.inf, NO_PATH
            j = _draw(key, s, d)
        else:
            if d <= 1:
                return math.inf, NO_PATH
            j = _draw(key, s, d - 1)
            if nbr[start[x] + j] == prev:
                j = d - 1
        k = start[x] + j
        y = nbr[k]
        r += 1.0 / wt[k]
        if use_cong and cong[k] > c:
            c = cong[k]
        if flag[k] == 0:
            new += 1
        score = r + c / wq  # no multiply-add: bit-identical with or without FMA
        if score >= lim:
            return math.inf, NO_PATH
        if y == q:
            return score, new
        prev = x
        x = y
    return math.inf, NO_PATH


@cuda.jit(fastmath=FASTMATH)
def _walks_kernel(
    start, deg, nbr, wt, flag, cong, src, dst, wq, bound, n_walkers, max_steps, seed, batch,
    best_s, best_new, best_walker,
):  # fmt: skip
    sh_s = cuda.shared.array(WALK_THREADS, dtype=float64)
    sh_n = cuda.shared.array(WALK_THREADS, dtype=int64)
    sh_w = cuda.shared.array(WALK_THREADS, dtype=int64)
    tid = cuda.threadIdx.x
    nthreads = cuda.blockDim.x
    for i in range(cuda.blockIdx.x, src.size, cuda.gridDim.x):
        bs = math.inf
        bn = NO_PATH
        bw = -1
        w = tid
        while w < n_walkers:
            key = _walker_key(seed, batch, i, w)
            sc, nn = _walk(start, deg, nbr, wt, flag, cong, src[i], dst[i], wq[i], bound[i],
                           max_steps, key)  # fmt: skip
            if sc < bs or (sc == bs and nn < bn):
                bs = sc
                bn = nn
                bw = w
            w += nthreads
        sh_s[tid] = bs
        sh_n[tid] = bn
        sh_w[tid] = bw
        cuda.syncthreads()
        step = nthreads // 2
        while step > 0:
            if tid < step:
                o = tid + step
                a_s, a_n, a_w = sh_s[tid], sh_n[tid], sh_w[tid]
                b_s, b_n, b_w = sh_s[o], sh_n[o], sh_w[o]
                tie = b_s == a_s and (b_n < a_n or (b_n == a_n and b_w < a_w))
                if b_w >= 0 and (a_w < 0 or b_s < a_s or tie):
                    sh_s[tid] = b_s
                    sh_n[tid] = b_n
                    sh_w[tid] = b_w
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            best_walker[i] = sh_w[0]
            best_new[i] = sh_n[0]
            best_s[i] = sh_s[0] if sh_w[0] >= 0 else math.inf
        cuda.syncthreads()


def nbrw_walks(
    start, deg, nbr, wt, flag, cong, src, dst, wq, bound, n_walkers, max_steps, seed, batch,
    best_s, best_new, best_walker,
):  # fmt: skip
    """dyGRASS walks for a batch of updates (see the CPU kernel of the same name).

    One block per update (grid-stride over updates), ``min(256, walkers)`` threads
    rounded up to a power of two, each thread running walkers ``tid, tid + blockDim,
    ...``.
    """
    m = int(src.size)
    if m == 0:
        return
    tpb = 1
    while tpb < min(int(n_walkers), WALK_THREADS):
        tpb *= 2
    blocks = max(1, min(MAX_BLOCKS, m))
    _walks_kernel[blocks, tpb](
        start, deg, nbr, wt, flag, cong, src, dst, wq, bound, int(n_walkers), int(max_steps),
        np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF), np.uint64(int(batch)), best_s, best_new,
        best_walker,
    )  # fmt: skip


@cuda.jit
def _paths_kernel(start, deg, nbr, src, dst, walker, max_steps, seed, batch, slots, length):
    for i in range(cuda.grid(1), src.size, cuda.gridsize(1)):
        length[i] = 0
        if walker[i] < 0:
            continue
        key = _walker_key(seed, batch, i, walker[i])
        x = src[i]
        prev = -1
        for s in range(max_steps):
            d = deg[x]
            if prev < 0:
                j = _draw(key, s, d)
            else:
                j = _draw(key, s, d - 1)
                if nbr[start[x] + j] == prev:
                    j = d - 1
            k = start[x] + j
            slots[i, s] = k
            length[i] = s + 1
            y = nbr[k]
            if y == dst[i]:
                break
            prev = x
            x = y


def nbrw_paths(start, deg, nbr, src, dst, walker, max_steps, seed, batch, slots, length):
    """Replay the winning walks and record their slots (see the CPU kernel)."""
    m = int(src.size)
    if m == 0:
        return
    _paths_kernel[_grid(m), THREADS](
        start, deg, nbr, src, dst, walker, int(max_steps),
        np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF), np.uint64(int(batch)), slots, length,
    )  # fmt: skip


# -- GRASS edge scores --------------------------------------------------------------------------
@cuda.jit(fastmath=FASTMATH)
def _heat_kernel(u, v, w, U, theta, out):
    k = U.shape[1]
    for e in range(cuda.grid(1), u.size, cuda.gridsize(1)):
        a = u[e]
        b = v[e]
        s = 0.0
        for j in range(k):
            d = U[a, j] - U[b, j]
            s += theta[j] * d * d
        out[e] = w[e] * s


def edge_heat(u, v, w, U, theta, out):  # noqa: N803
    """``out[e] = w_e Σ_j θ_j (U[u_e, j] − U[v_e, j])²`` (see the CPU kernel)."""
    m = int(u.size)
    if m:
        _heat_kernel[_grid(m), THREADS](u, v, w, U, theta, out)
