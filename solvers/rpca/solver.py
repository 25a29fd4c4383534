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
from solvers._errors import InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult

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
    rank: int | None = None,
    mask: Any = None,
    lam: float | None = None,
    tol: float = 1e-7,
    maxiter: int = 1000,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    **options: Any,
) -> RPCAResult:
    """Decompose ``M = L + S`` with ``L`` low-rank and ``S`` sparse.

    ``method="ialm"`` solves principal component pursuit
    ``min ||L||_* + lam ||S||_1 s.t. L + S = M`` by the inexact augmented Lagrange
    multiplier method; ``method="altproj"`` runs non-convex alternating projections
    onto rank-k matrices and sparse matrices (no full SVD: suited to large matrices).

    Parameters
    ----------
    M : (m, n) array_like
        Real data matrix (float32 or float64; integers are promoted). Finite
        everywhere; the values at entries that ``mask`` marks missing are ignored.
    method : {"ialm", "altproj"}
        ``"ialm"``: inexact augmented Lagrange multipliers (convex PCP, no rank
        needed). ``"altproj"``: alternating projections with a known or estimated rank.
    rank : int, optional
        ``altproj`` only: the rank of ``L``; ``None`` estimates it (stage-wise).
    mask : (m, n) array_like of bool, optional
        Observed entries (True = observed). Both methods support it: ``S`` is zero on
        the missing entries and ``L`` is completed there.
    lam : float, optional
        ``ialm`` only: l1 weight; default ``1/sqrt(max(m, n))``, or
        ``1/sqrt(p max(m, n))`` when a mask observes a fraction ``p`` of the entries.
    tol : float
        Stop when ``||P(M - L - S)||_F / ||P(M)||_F <= tol`` (``P`` keeps the observed
        entries).
    maxiter : int
    backend : {"auto", "cpu", "gpu"}
    callback : callable, optional
        Receives a :class:`solvers.ProgressInfo` per iteration (``residual`` is the
        relative residual above); returning True stops the solver.
    **options
        ``ialm``: ``rho`` (penalty growth, 1.5), ``mu`` (initial penalty,
        1.25/||M||_2), ``svd`` ({"auto", "full", "partial"}, the SVT route; see
        :mod:`solvers.rpca._svd`). ``altproj``: ``beta`` (threshold constant,
        ``1/(2 (mn)^{1/4})``), ``gamma`` (threshold decay, 0.5), ``oversample`` (10),
        ``seed`` (0). See :mod:`solvers.rpca.altproj`.

    Returns
    -------
    RPCAResult
        ``.L``, ``.S``, ``.n_iter``, ``.converged``, ``.residuals`` (relative residual
        per iteration), ``.rank``, ``.method``, ``.info`` (method statistics; for
        ``altproj`` ``info["stop"]`` is ``"tol"``, ``"stagnation"`` (the residual
        stopped falling: noisy data), ``"maxiter"`` or ``"cancelled"``).

    Raises
    ------
    InvalidProblemError
        ``M`` is not a finite real 2-D array, ``mask`` does not match ``M``'s shape or
        is not boolean, ``rank`` exceeds ``min(m, n)`` or is given to ``ialm``, or a
        parameter is out of range.
    BackendUnavailableError
        ``backend="gpu"`` without a usable GPU.

    References
    ----------
    .. [1] Z. Lin, M. Chen, Y. Ma, "The Augmented Lagrange Multiplier Method for Exact
       Recovery of Corrupted Low-Rank Matrices", arXiv:1009.5055, 2010.
    .. [2] E. J. Candès, X. Li, Y. Ma, J. Wright, "Robust Principal Component
       Analysis?", J. ACM 58(3), 2011.
    .. [3] P. Netrapalli, U. N. Niranjan, S. Sanghavi, A. Anandkumar, P. Jain,
       "Non-convex Robust PCA", NeurIPS 2014 (arXiv:1410.7660).
    .. [4] H. Cai, J.-F. Cai, K. Wei, "Accelerated Alternating Projections for Robust
       Principal Component Analysis", JMLR 20, 2019.

    Examples
    --------
    >>> res = rpca(M)                                   # convex PCP, no rank needed
    >>> res = rpca(M, method="altproj", rank=20)        # large matrices
    >>> res = rpca(M, method="altproj", mask=observed)  # missing entries, rank estimated
    >>> res.L, res.S, res.converged
    """
    from solvers._registry import get_spec

    spec = get_spec("rpca")
    params = spec.parse_params(
        {"method": method, "rank": rank, "lam": lam, "tol": tol, "maxiter": maxiter, **options}
    )
    inputs = spec.check_inputs({"M": M, "mask": mask})
    validate(inputs, params)
    be = get_backend(backend)
    return solve(inputs["M"], params, be, callback, mask=inputs.get("mask"))


def validate(inputs: dict[str, Any], params: RPCAParams) -> None:
    """Cross-input checks of solver ``"rpca"`` (run at submission and before solving).

    Converts ``inputs["mask"]`` to a boolean array in place.
    """
    M = inputs["M"]  # noqa: N806
    m, n = M.shape
    check_method_params(params)
    if params.rank is not None and params.rank > min(m, n):
        raise InvalidProblemError(
            f"parameter 'rank' = {params.rank} exceeds min(m, n) = {min(m, n)} for M of "
            f"shape {M.shape}",
            field="params.rank",
        )
    if inputs.get("mask") is not None:
        inputs["mask"] = check_mask(inputs["mask"], M.shape)


#: parameters that only one method reads
METHOD_PARAMS = {
    "ialm": ("lam", "rho", "mu", "svd"),
    "altproj": ("rank", "beta", "gamma", "oversample", "seed"),
}


def check_method_params(params: Any) -> None:
    """Reject a parameter that the chosen method does not read, set to a value other than
    its default (the service stores and re-reads the params with all defaults filled)."""
    fields = type(params).model_fields
    for method, names in METHOD_PARAMS.items():
        if method == params.method:
            continue
        for name in names:
            if name not in fields:
                continue
            value = getattr(params, name)
            if value is not None and value != fields[name].default:
                hint = " (method is 'ialm', which finds the rank itself)" if name == "rank" else ""
                raise InvalidProblemError(
                    f"parameter {name!r} applies to method={method!r} only; method is "
                    f"{params.method!r}{hint}",
                    field=f"params.{name}",
                )


def check_mask(
    mask: Any, shape: tuple[int, ...], *, name: str = "mask", of: str = "M"
) -> np.ndarray:
    """Return ``mask`` as a boolean array of ``shape`` (True = observed), or raise.

    Accepts booleans and numbers equal to 0 or 1; at least one entry must be observed.
    """
    field = f"inputs.{name}"
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise InvalidProblemError(
            f"input {name!r} has shape {mask.shape} but {of} has shape {tuple(shape)}; "
            f"the mask marks the observed entries of {of} and must have its shape",
            field=field,
        )
    if mask.dtype != np.bool_:
        if mask.dtype.kind not in "iuf":
            raise InvalidProblemError(
                f"input {name!r} must be boolean (True = observed), got dtype {mask.dtype}",
                field=field,
            )
        ok = (mask == 0) | (mask == 1)
        if not bool(np.all(ok)):
            raise InvalidProblemError(
                f"input {name!r} must be boolean or 0/1 (True = observed); found "
                f"{int(mask.size - np.count_nonzero(ok))} other value(s)",
                field=field,
            )
        mask = mask != 0
    if not mask.any():
        raise InvalidProblemError(
            f"input {name!r} (shape {mask.shape}) marks no entry as observed", field=field
        )
    return mask


def solve(
    M: np.ndarray,  # noqa: N803
    params: RPCAParams,
    be: Backend,
    callback: Callback | None,
    *,
    mask: np.ndarray | None = None,
) -> RPCAResult:
    """Dispatch on ``params.method`` (inputs already validated)."""
    if mask is not None and bool(mask.all()):
        mask = None  # fully observed: the plain kernels, same numbers
    if params.method == "ialm":
        return ialm(M, params, be, callback, mask=mask)
    if params.method == "altproj":
        from .altproj import altproj

        return altproj(M, mask, params, be, callback)
    raise ValueError(f"unknown method {params.method!r}")  # pragma: no cover - pydantic guards


def ialm(
    M: np.ndarray,  # noqa: N803
    params: RPCAParams,
    be: Backend,
    callback: Callback | None,
    *,
    mask: np.ndarray | None = None,
) -> RPCAResult:
    """Inexact ALM of Lin, Chen & Ma (2010), exactly as in their reference code.

    Per iteration: one fused soft-threshold pass (kernel ``shrink_shift``), one SVT
    (see :mod:`solvers.rpca._svd` for the route), one fused multiplier pass (kernel
    ``dual_update``), then ``mu = min(rho mu, 1e7 mu0)``.

    With a mask Ω of observed entries the problem is
    ``min ||L||_* + lam ||P_Ω(S)||_1 s.t. L + S = M`` with ``M`` zero-filled on the
    holes: ``S`` is unpenalised there (kernel ``shrink_shift_masked``), so it absorbs
    whatever ``L`` puts in the holes, and the SVT argument carries the current ``L``
    there. Only the entries on Ω are returned in ``S``.
    """
    t0 = time.perf_counter()
    xp = be.xp
    k = be.kernels("rpca")
    dtype = M.dtype if M.dtype in (np.float32, np.float64) else np.float64
    D = xp.ascontiguousarray(be.asarray(M, dtype=dtype))
    m, n = D.shape
    W = None
    p_obs = 1.0
    if mask is not None:
        W = xp.ascontiguousarray(be.asarray(mask, dtype=np.uint8))
        D = xp.where(W != 0, D, dtype.type(0))
        p_obs = float(np.count_nonzero(mask)) / (m * n)
    lam = params.lam if params.lam is not None else default_lambda((m, n), p_obs)
    tol = params.tol
    prog = Progress(callback, max_iter=params.maxiter)

    d_norm = float(xp.linalg.norm(D))
    if d_norm == 0.0:
        zeros = np.zeros((m, n), dtype=dtype)
        return RPCAResult(
            L=zeros,
            S=zeros.copy(),
            n_iter=0,
            converged=True,
            residuals=np.zeros(0),
            elapsed=time.perf_counter() - t0,
            backend=be.name,
            lam=lam,
            rank=0,
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
        if W is None:
            k.shrink_shift(D, A, Y, dtype.type(1.0 / mu), dtype.type(lam / mu), E, X)
        else:
            k.shrink_shift_masked(D, A, Y, W, dtype.type(1.0 / mu), dtype.type(lam / mu), E, X)
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
    if W is not None:
        E = xp.where(W != 0, E, dtype.type(0))  # S lives on the observed entries
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
