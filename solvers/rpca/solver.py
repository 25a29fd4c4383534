"""Robust PCA by principal component pursuit, solved with the inexact ALM.

One implementation written against ``backend.xp``; the elementwise passes come from
``backend.kernels("rpca")`` (Numba on the CPU, numba.cuda on the GPU).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend, get_backend
from solvers._progress import Callback, Progress
from solvers._result import SolverResult
from solvers._validation import as_array

from ._svd import SVTState, default_lambda, spectral_norm, svt
from .params import RPCAParams


@dataclass(kw_only=True)
class RPCAResult(SolverResult):
    """Result of :func:`rpca`.

    Attributes
    ----------
    L : ndarray
        Low-rank part.
    S : ndarray
        Sparse part.
    rank : int
        Rank of ``L`` (number of singular values kept at the last iteration).
    lam : float
        The l1 weight used.
    method : str
    info : dict
        Route statistics (full / partial SVDs, inner iterations).
    """

    L: np.ndarray
    S: np.ndarray
    rank: int = 0
    lam: float = 0.0
    method: str = "ialm"
    info: dict[str, Any] | None = None


def rpca(
    M: Any,  # noqa: N803 - the paper's name
    *,
    method: str = "ialm",
    lam: float | None = None,
    tol: float = 1e-7,
    maxiter: int = 1000,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    **options: Any,
) -> RPCAResult:
    """Decompose ``M = L + S`` with ``L`` low-rank and ``S`` sparse.

    Solves principal component pursuit ``min ||L||_* + lam ||S||_1 s.t. L + S = M``.

    Parameters
    ----------
    M : (m, n) array_like
        Real data matrix (float32 or float64; integers are promoted).
    method : {"ialm"}
        ``"ialm"``: inexact augmented Lagrange multipliers.
    lam : float, optional
        l1 weight; default ``1/sqrt(max(m, n))``.
    tol : float
        Stop when ``||M - L - S||_F / ||M||_F <= tol``.
    maxiter : int
    backend : {"auto", "cpu", "gpu"}
    callback : callable, optional
        Receives a :class:`solvers.ProgressInfo` per iteration (``residual`` is the
        relative constraint violation); returning True stops the solver.
    **options
        ``rho`` (penalty growth, 1.5), ``mu`` (initial penalty, 1.25/||M||_2),
        ``svd`` ({"auto", "full", "partial"}, the SVT route; see
        :mod:`solvers.rpca._svd`).

    Returns
    -------
    RPCAResult
        ``.L``, ``.S``, ``.n_iter``, ``.converged``, ``.residuals`` (relative
        constraint violation per iteration), ``.rank``.

    Raises
    ------
    InvalidProblemError
        ``M`` is not a finite real 2-D array, or a parameter is out of range.
    BackendUnavailableError
        ``backend="gpu"`` without a usable GPU.

    References
    ----------
    .. [1] Z. Lin, M. Chen, Y. Ma, "The Augmented Lagrange Multiplier Method for Exact
       Recovery of Corrupted Low-Rank Matrices", arXiv:1009.5055, 2010.
    .. [2] E. J. Candès, X. Li, Y. Ma, J. Wright, "Robust Principal Component
       Analysis?", J. ACM 58(3), 2011.

    Examples
    --------
    >>> res = rpca(M)
    >>> res.L, res.S, res.converged
    """
    from solvers._registry import get_spec

    params = get_spec("rpca").parse_params(
        {"method": method, "lam": lam, "tol": tol, "maxiter": maxiter, **options}
    )
    M = as_array(M, "M", ndim=2, dtype="real")
    be = get_backend(backend)
    return solve(M, params, be, callback)


def solve(M: np.ndarray, params: RPCAParams, be: Backend, callback: Callback | None) -> RPCAResult:  # noqa: N803
    """Dispatch on ``params.method`` (inputs already validated)."""
    if params.method == "ialm":
        return ialm(M, params, be, callback)
    raise ValueError(f"unknown method {params.method!r}")  # pragma: no cover - pydantic guards


def ialm(M: np.ndarray, params: RPCAParams, be: Backend, callback: Callback | None) -> RPCAResult:  # noqa: N803
    """Inexact ALM of Lin, Chen & Ma (2010), exactly as in their reference code.

    Per iteration: one fused soft-threshold pass (kernel ``shrink_shift``), one SVT
    (see :mod:`solvers.rpca._svd` for the route), one fused multiplier pass (kernel
    ``dual_update``), then ``mu = min(rho mu, 1e7 mu0)``.
    """
    t0 = time.perf_counter()
    xp = be.xp
    k = be.kernels("rpca")
    dtype = M.dtype if M.dtype in (np.float32, np.float64) else np.float64
    D = xp.ascontiguousarray(be.asarray(M, dtype=dtype))
    m, n = D.shape
    lam = params.lam if params.lam is not None else default_lambda((m, n))
    tol = params.tol
    prog = Progress(callback, max_iter=params.maxiter)

    d_norm = float(xp.linalg.norm(D))
    if d_norm == 0.0:
        zeros = np.zeros((m, n), dtype=dtype)
        return RPCAResult(
            L=zeros, S=zeros.copy(), n_iter=0, converged=True, residuals=np.zeros(0),
            elapsed=time.perf_counter() - t0, backend=be.name, lam=lam, rank=0,
        )
    norm_two = spectral_norm(D, xp=xp)
    norm_inf = float(xp.abs(D).max()) / lam
    Y = D / max(norm_two, norm_inf)
    A = xp.zeros_like(D)
    E = xp.empty_like(D)
    X = xp.empty_like(D)
    mu = params.mu if params.mu is not None else 1.25 / norm_two
    mu_bar = mu * 1e7
    rho = params.rho
    state = SVTState()
    eps_floor = 50.0 * float(np.finfo(dtype).eps)
    residuals: list[float] = []
    converged = False
    rank = 0
    it = 0
    res = math.inf
    for it in range(1, params.maxiter + 1):  # noqa: B007
        k.shrink_shift(D, A, Y, dtype.type(1.0 / mu), dtype.type(lam / mu), E, X)
        # inner SVD tolerance follows the outer residual (inexact but never sloppier
        # than the constraint violation the iteration has reached)
        svd_tol = min(1e-6, 1e-3 * res) if math.isfinite(res) else 1e-6
        svd_tol = max(svd_tol, eps_floor)
        A, rank = svt(X, 1.0 / mu, state, xp=xp, route=params.svd, tol=svd_tol)
        z2 = float(k.dual_update(D, A, E, Y, dtype.type(mu)))
        res = math.sqrt(max(z2, 0.0)) / d_norm
        residuals.append(res)
        mu = min(mu * rho, mu_bar)
        if res <= tol:
            converged = True
        if prog.report(it, residual=res, rank=rank) or converged:
            break
    be.synchronize()
    return RPCAResult(
        L=be.to_host(A),
        S=be.to_host(E),
        n_iter=it,
        converged=converged,
        residuals=np.asarray(residuals),
        cancelled=prog.cancelled and not converged,
        elapsed=time.perf_counter() - t0,
        backend=be.name,
        rank=rank,
        lam=lam,
        method="ialm",
        info={
            "full_svds": state.full_svds,
            "partial_svds": state.partial_svds,
            "svd_inner_iters": state.inner_iters,
        },
    )
