"""CPU hot loops of the KroSBL family (Numba). GPU twins: ``gpu/krosbl_kernels.py``.

The E-step's matrix work is BLAS (mode products, see :mod:`solvers.krosbl._kron`); what
is left are passes over the M- and N-sized vectors. Each is ONE fused kernel here, so an
iteration reads every long vector the minimum number of times and allocates nothing:

* :func:`whiten_stats` — M-space: ``d = 1/(σ² + p)``, ``ỹ ← d ∘ ỹ`` and the four sums the
  cost and the noise update need;
* :func:`posterior_moments` — N-space: ``μ = γ ∘ v``, ``diag Σ = γ − γ² s`` and the EM
  second moments ``Λ = diag Σ + mean_t |μ_t|²``;
* :func:`col_sqnorms` — classic SBL: squared column norms of an M × N matrix.

Every kernel accepts real or complex data (``v.real*v.real + v.imag*v.imag``). Work is
cut in chunks of :data:`CHUNK` rows; sums are per chunk and then added in chunk order,
so the serial and parallel drivers give bit-identical results. Below
:data:`PARALLEL_MIN` rows the serial driver runs (a parallel region costs more than it
saves on small vectors, far more on an oversubscribed machine).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from solvers._config import njit

CHUNK = 4096
#: rows from which the parallel drivers are used
PARALLEL_MIN = 1 << 16


def _parallel(n: int) -> bool:
    return n >= PARALLEL_MIN


# -- whiten_stats ------------------------------------------------------------------------
@njit
def _whiten_chunk(p, sigma2, Yt, d, c, out):  # noqa: N803
    m, t = Yt.shape
    i0 = c * CHUNK
    i1 = min(m, i0 + CHUNK)
    logdet = 0.0
    quad = 0.0
    quad2 = 0.0
    dof = 0.0
    for i in range(i0, i1):
        ci = sigma2 + p[i]
        di = 1.0 / ci
        d[i] = di
        a = 0.0
        for j in range(t):
            v = Yt[i, j]
            a += v.real * v.real + v.imag * v.imag
            Yt[i, j] = v * di
        logdet += math.log(ci)
        quad += di * a
        quad2 += di * di * a
        dof += p[i] * di
    out[c, 0] = logdet
    out[c, 1] = quad
    out[c, 2] = quad2
    out[c, 3] = dof


@njit(parallel=True)
def _whiten_par(p, sigma2, Yt, d, out):  # noqa: N803
    for c in prange(out.shape[0]):
        _whiten_chunk(p, sigma2, Yt, d, c, out)


@njit
def _whiten_ser(p, sigma2, Yt, d, out):  # noqa: N803
    for c in range(out.shape[0]):
        _whiten_chunk(p, sigma2, Yt, d, c, out)


def whiten_stats(p, sigma2, Yt, d):  # noqa: ANN001, ANN201, N803
    """Scale the rotated data by the inverse eigenvalues of the covariance; sums.

    Parameters
    ----------
    p : (M,) real
        Eigenvalues of ``H Γ Hᴴ`` (Kronecker product of the factors' eigenvalues).
    sigma2 : float
        Noise variance.
    Yt : (M, T) real or complex, C-contiguous
        ``(⊗U_k)ᴴ Y`` on entry, ``d ∘ (⊗U_k)ᴴ Y`` on exit (in place).
    d : (M,) real
        Output: ``1 / (σ² + p)``.

    Returns
    -------
    logdet, quad, quad2, dof : float
        ``Σ log(σ² + p)``, ``Σ d |ỹ|²`` (= ``tr Yᴴ C⁻¹ Y``), ``Σ d² |ỹ|²``
        (= ``‖C⁻¹ Y‖²_F``) and ``Σ p d`` (= ``Σ_i (1 − Σ_ii / γ_i)``).
    """
    m = Yt.shape[0]
    out = np.zeros(((m + CHUNK - 1) // CHUNK, 4))
    f = _whiten_par if _parallel(m) else _whiten_ser
    f(p, float(sigma2), Yt, d, out)
    s = out.sum(axis=0)
    return float(s[0]), float(s[1]), float(s[2]), float(s[3])


# -- posterior_moments -----------------------------------------------------------------------
@njit
def _moments_chunk(gamma, s, V, lam, c):  # noqa: N803
    n, t = V.shape
    inv_t = 1.0 / t
    i0 = c * CHUNK
    i1 = min(n, i0 + CHUNK)
    for i in range(i0, i1):
        g = gamma[i]
        sig = g - g * g * s[i]
        if sig < 0.0:
            sig = 0.0
        a = 0.0
        for j in range(t):
            v = V[i, j] * g
            V[i, j] = v
            a += v.real * v.real + v.imag * v.imag
        lam[i] = sig + a * inv_t


@njit(parallel=True)
def _moments_par(gamma, s, V, lam, nchunk):  # noqa: N803
    for c in prange(nchunk):
        _moments_chunk(gamma, s, V, lam, c)


@njit
def _moments_ser(gamma, s, V, lam, nchunk):  # noqa: N803
    for c in range(nchunk):
        _moments_chunk(gamma, s, V, lam, c)


def posterior_moments(gamma, s, V, lam):  # noqa: ANN001, ANN201, N803
    """Posterior mean (in place) and EM second moments.

    Parameters
    ----------
    gamma : (N,) real
        Prior variances ``γ``.
    s : (N,) real
        ``s_i = h_iᴴ C⁻¹ h_i``, so that ``Σ_ii = γ_i − γ_i² s_i``.
    V : (N, T) real or complex, C-contiguous
        ``Hᴴ C⁻¹ Y`` on entry, the posterior mean ``μ = γ ∘ V`` on exit.
    lam : (N,) real
        Output: ``Λ_i = Σ_ii + (1/T) Σ_t |μ_it|²`` (``Σ_ii`` clipped at 0).
    """
    n = V.shape[0]
    f = _moments_par if _parallel(n) else _moments_ser
    f(gamma, s, V, lam, (n + CHUNK - 1) // CHUNK)


# -- col_sqnorms -----------------------------------------------------------------------------
COLS = 256


@njit
def _colsq_chunk(B, out, c):  # noqa: N803
    m, n = B.shape
    j0 = c * COLS
    j1 = min(n, j0 + COLS)
    for j in range(j0, j1):
        out[j] = 0.0
    for i in range(m):
        for j in range(j0, j1):
            v = B[i, j]
            out[j] += v.real * v.real + v.imag * v.imag


@njit(parallel=True)
def _colsq_par(B, out, nchunk):  # noqa: N803
    for c in prange(nchunk):
        _colsq_chunk(B, out, c)


@njit
def _colsq_ser(B, out, nchunk):  # noqa: N803
    for c in range(nchunk):
        _colsq_chunk(B, out, c)


def col_sqnorms(B, out):  # noqa: ANN001, ANN201, N803
    """``out[j] = Σ_i |B[i, j]|²`` for a C-contiguous (M, N) matrix (no temporaries)."""
    f = _colsq_par if _parallel(B.size) else _colsq_ser
    f(B, out, (B.shape[1] + COLS - 1) // COLS)


# -- dense triangular solves (classic SBL) ----------------------------------------------
def solve_triangular(a, b, lower=False, trans=0):  # noqa: ANN001, ANN201
    """``scipy.linalg.solve_triangular`` (LAPACK trtrs); the GPU twin uses cuBLAS."""
    from scipy.linalg import solve_triangular as _st

    return _st(a, b, lower=lower, trans=trans, check_finite=False)


# -- naive references (for tests) -------------------------------------------------------
def whiten_stats_reference(p, sigma2, Yt):  # noqa: ANN001, ANN201, N803
    """NumPy version of :func:`whiten_stats` (returns ``(Yt_new, d, sums)``)."""
    c = sigma2 + p
    d = 1.0 / c
    a = (np.abs(Yt) ** 2).sum(axis=1)
    sums = (np.log(c).sum(), (d * a).sum(), (d * d * a).sum(), (p * d).sum())
    return Yt * d[:, None], d, sums


def posterior_moments_reference(gamma, s, V):  # noqa: ANN001, ANN201, N803
    """NumPy version of :func:`posterior_moments` (returns ``(mu, lam)``)."""
    mu = gamma[:, None] * V
    sig = np.maximum(gamma - gamma**2 * s, 0.0)
    return mu, sig + (np.abs(mu) ** 2).mean(axis=1)
