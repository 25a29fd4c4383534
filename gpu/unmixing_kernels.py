"""GPU twins of ``solvers/unmixing/_kernels_numba.py`` (same names and semantics).

The per-pixel kernels are written with numba.cuda (one thread per pixel, grid-stride
loops), so that they also run, unchanged, on the CPU under ``NUMBA_ENABLE_CUDASIM=1``
(see ``tests/unmixing/test_kernels_cudasim.py``); the vector reductions
(:func:`lp_mass`, :func:`project_simplex`) are array code on CuPy (NumPy under the
simulator). The wrappers take CuPy arrays on a device and NumPy arrays in the
simulator. Per-thread work arrays are ``cuda.local`` arrays of :data:`MAX_K` entries:
the GPU path handles up to 32 endmembers.
"""

from __future__ import annotations

import math

from numba import cuda, float64, int64

from solvers._config import FASTMATH
from solvers._errors import InvalidProblemError

THREADS = 128
MAX_BLOCKS = 65535
#: largest number of endmembers the GPU kernels handle (size of the local arrays)
MAX_K = 32
#: sizes of the bordered KKT system's local arrays; numba-cuda >= 0.30 needs local-array
#: shapes as plain constants (an expression such as ``(MAX_K + 1, MAX_K + 1)`` inside a
#: kernel no longer types)
_KKT_N = MAX_K + 1
_KKT_SHAPE = (_KKT_N, _KKT_N)


def _grid(n: int) -> int:
    return max(1, min(MAX_BLOCKS, math.ceil(n / THREADS)))


def _xp(a):  # noqa: ANN001, ANN202
    """CuPy for CuPy arrays, NumPy otherwise (the simulator)."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    import numpy

    return numpy


def _check_k(k: int) -> None:
    if k > MAX_K:
        raise InvalidProblemError(
            f"the GPU unmixing kernels handle at most {MAX_K} endmembers, got {k}; "
            "use backend='cpu'",
            field="params.n_endmembers",
        )


# -- device helpers ------------------------------------------------------------------------
@cuda.jit(device=True, fastmath=FASTMATH)
def _pow_m1(a, p):
    if p == 0.5:
        return 1.0 / math.sqrt(a)
    return a ** (p - 1.0)


@cuda.jit(device=True, fastmath=FASTMATH)
def _pow(a, p):
    if p == 0.5:
        return math.sqrt(a)
    if p == 1.0:
        return a
    return a**p


@cuda.jit(device=True)
def _solve_small(Msys, rhs, n):  # noqa: N803
    for c in range(n):
        piv = c
        best = abs(Msys[c, c])
        for r in range(c + 1, n):
            v = abs(Msys[r, c])
            if v > best:
                best = v
                piv = r
        if best == 0.0:
            return False
        if piv != c:
            for j in range(n):
                tmp = Msys[c, j]
                Msys[c, j] = Msys[piv, j]
                Msys[piv, j] = tmp
            tmp = rhs[c]
            rhs[c] = rhs[piv]
            rhs[piv] = tmp
        inv = 1.0 / Msys[c, c]
        for r in range(c + 1, n):
            f = Msys[r, c] * inv
            if f != 0.0:
                for j in range(c, n):
                    Msys[r, j] -= f * Msys[c, j]
                rhs[r] -= f * rhs[c]
    for c in range(n - 1, -1, -1):
        s = rhs[c]
        for j in range(c + 1, n):
            s -= Msys[c, j] * rhs[j]
        rhs[c] = s / Msys[c, c]
    return True


@cuda.jit(device=True)
def _simplex_qp_pixel(G, B, n, a, free, idx, Msys, rhs, tol, maxit):  # noqa: N803
    K = G.shape[0]
    for k in range(K):
        a[k] = 1.0 / K
        free[k] = 1
    it = 0
    while it < maxit:
        it += 1
        nf = 0
        for k in range(K):
            if free[k] == 1:
                idx[nf] = k
                nf += 1
        for i in range(nf):
            for j in range(nf):
                Msys[i, j] = G[idx[i], idx[j]]
            Msys[i, nf] = 1.0
            Msys[nf, i] = 1.0
            rhs[i] = B[idx[i], n]
        Msys[nf, nf] = 0.0
        rhs[nf] = 1.0
        if not _solve_small(Msys, rhs, nf + 1):
            break
        feasible = True
        for i in range(nf):
            if rhs[i] < 0.0:
                feasible = False
                break
        if feasible:
            for k in range(K):
                a[k] = 0.0
            for i in range(nf):
                a[idx[i]] = rhs[i]
            nu = rhs[nf]
            worst = -tol
            jbest = -1
            for j in range(K):
                if free[j] == 0:
                    g = -B[j, n] + nu
                    for i in range(K):
                        g += G[j, i] * a[i]
                    if g < worst:
                        worst = g
                        jbest = j
            if jbest < 0:
                break
            free[jbest] = 1
        else:
            alpha = 1.0
            block = -1
            for i in range(nf):
                k = idx[i]
                s = rhs[i]
                if s < 0.0:
                    ratio = a[k] / (a[k] - s)
                    if ratio < alpha:
                        alpha = ratio
                        block = k
            for i in range(nf):
                k = idx[i]
                a[k] += alpha * (rhs[i] - a[k])
            if block >= 0:
                a[block] = 0.0
                free[block] = 0
    return it


@cuda.jit(device=True)
def _shift_for_unit_sum(w, b, floor, tvals, order, K):  # noqa: N803
    for k in range(K):
        tvals[k] = b[k] - floor / w[k]
        order[k] = k
    for i in range(1, K):
        j = i
        while j > 0 and tvals[order[j - 1]] < tvals[order[j]]:
            tmp = order[j - 1]
            order[j - 1] = order[j]
            order[j] = tmp
            j -= 1
    sw = 0.0
    swb = 0.0
    mu = 0.0
    for j in range(K):
        k = order[j]
        sw += w[k]
        swb += w[k] * b[k]
        mu = (swb + (K - j - 1) * floor - 1.0) / sw
        lower = tvals[order[j + 1]] if j + 1 < K else -math.inf
        if mu >= lower:
            return mu
    return mu


# -- kernels ---------------------------------------------------------------------------------
@cuda.jit
def _simplex_qp_kernel(G, B, A, tol, maxit, iters):  # noqa: N803
    a = cuda.local.array(MAX_K, float64)
    free = cuda.local.array(MAX_K, int64)
    idx = cuda.local.array(MAX_K, int64)
    Msys = cuda.local.array(_KKT_SHAPE, float64)  # noqa: N806
    rhs = cuda.local.array(_KKT_N, float64)
    K = G.shape[0]
    N = B.shape[1]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for n in range(start, N, stride):
        it = _simplex_qp_pixel(G, B, n, a, free, idx, Msys, rhs, tol, maxit)
        iters[n] = it
        for k in range(K):
            A[k, n] = a[k]


@cuda.jit(fastmath=FASTMATH)
def _abundance_step_kernel(Q, B, Bneg, has_neg, A, h, lam_p, p, floor, cmass):  # noqa: N803
    w = cuda.local.array(MAX_K, float64)
    b = cuda.local.array(MAX_K, float64)
    tvals = cuda.local.array(MAX_K, float64)
    order = cuda.local.array(MAX_K, int64)
    K = A.shape[0]
    N = A.shape[1]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for n in range(start, N, stride):
        wn = lam_p * h[n]
        for k in range(K):
            den = 0.0
            for j in range(K):
                den += Q[k, j] * A[j, n]
            if has_neg:
                den += Bneg[k, n]
            ak = A[k, n]
            if ak < floor:
                ak = floor
            if wn != 0.0:
                den += wn * _pow_m1(ak, p)
            if den < 1e-300:
                den = 1e-300
            w[k] = ak / den
            b[k] = B[k, n]
        mu = _shift_for_unit_sum(w, b, floor, tvals, order, K)
        s = 0.0
        for k in range(K):
            v = w[k] * (b[k] - mu)
            if v < floor:
                v = floor
            A[k, n] = v
            s += _pow(v, p)
        cmass[n] = s


@cuda.jit(fastmath=FASTMATH)
def _multiplicative_step_kernel(Q, B, Bneg, has_neg, A, h, lam_p, p, floor):  # noqa: N803
    new = cuda.local.array(MAX_K, float64)
    K = A.shape[0]
    N = A.shape[1]
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for n in range(start, N, stride):
        wn = lam_p * h[n]
        for k in range(K):
            den = 0.0
            for j in range(K):
                den += Q[k, j] * A[j, n]
            if has_neg:
                den += Bneg[k, n]
            ak = A[k, n]
            if ak < floor:
                ak = floor
            if wn != 0.0:
                den += wn * _pow_m1(ak, p)
            if den < 1e-300:
                den = 1e-300
            v = ak * B[k, n] / den
            new[k] = v if v > floor else floor
        for k in range(K):
            A[k, n] = new[k]


# -- wrappers (the names of the CPU module) -----------------------------------------------------
def simplex_qp(G, B, A, tol, maxit):  # noqa: N803, ANN001, ANN201
    """Fully constrained least squares per pixel (see the CPU twin)."""
    K, N = B.shape
    _check_k(K)
    xp = _xp(B)
    iters = xp.zeros(N, dtype=xp.int64)
    _simplex_qp_kernel[_grid(N), THREADS](G, B, A, float(tol), int(maxit), iters)
    return int(iters.max()) if N else 0


def abundance_step(Q, B, Bneg, A, h, lam_p, p, floor, cmass) -> None:  # noqa: N803, ANN001
    """One MM step of the RRLbS abundances, in place (see the CPU twin)."""
    K, N = A.shape
    _check_k(K)
    has_neg = Bneg.shape[1] == N and N > 0
    _abundance_step_kernel[_grid(N), THREADS](
        Q, B, Bneg if has_neg else B, has_neg, A, h, float(lam_p), float(p), float(floor), cmass
    )


def multiplicative_step(Q, B, Bneg, A, h, lam_p, p, floor) -> None:  # noqa: N803, ANN001
    """Lee–Seung abundance step, in place (see the CPU twin)."""
    K, N = A.shape
    _check_k(K)
    has_neg = Bneg.shape[1] == N and N > 0
    _multiplicative_step_kernel[_grid(N), THREADS](
        Q, B, Bneg if has_neg else B, has_neg, A, h, float(lam_p), float(p), float(floor)
    )


def lp_mass(A, p, out) -> None:  # noqa: N803, ANN001
    """``out[n] = Σ_k A[k, n]^p``."""
    xp = _xp(A)
    if p == 0.5:
        out[...] = xp.sqrt(A).sum(axis=0)
    elif p == 1.0:
        out[...] = A.sum(axis=0)
    else:
        out[...] = (A**p).sum(axis=0)


def project_simplex(v, total, out):  # noqa: ANN001, ANN201
    """Euclidean projection onto ``{x ≥ 0, Σx = total}`` (Newton/Michelot; see CPU twin)."""
    xp = _xp(v)
    n = v.size
    tau = (float(v.sum()) - total) / n
    for _ in range(n + 1):
        mask = v > tau
        cnt = int(mask.sum())
        s = float(xp.where(mask, v, 0.0).sum())
        new = (s - total) / cnt
        if new <= tau:
            break
        tau = new
    out[...] = xp.maximum(v - tau, 0.0)
    return tau
