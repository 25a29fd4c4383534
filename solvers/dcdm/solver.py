"""The deep conjugate direction method and its baselines (public functions).

:func:`dcdm` solves ``A x = b`` on a 2-D/3-D grid with search directions proposed by a
trained convolutional network (float32, PyTorch on the CPU or CUDA), A-orthogonalized
against the last ``n_orth`` directions, with the exact line search (float64, NumPy/SciPy
on the CPU or CuPy on the GPU). :func:`cg` and :func:`pcg` (Jacobi, IC(0), pyamg
smoothed aggregation) are the baselines, on the same Krylov kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend, get_backend
from solvers._errors import InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult

from .krylov import LoopResult, conjugate_directions
from .krylov import pcg as _pcg_loop
from .system import Analysis, Operator, analyze, check_rhs

REFERENCE = (
    "A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, 'A Deep Conjugate Direction "
    "Method for Iteratively Solving Linear Systems', ICML 2023 (PMLR 202:15720-15736), "
    "arXiv:2205.10763"
)


@dataclass(kw_only=True)
class DCDMResult(SolverResult):
    """Result of :func:`dcdm`, :func:`cg` and :func:`pcg`.

    Attributes
    ----------
    x : ndarray
        The solution, shaped like ``b`` (flat, or ``grid_shape``). On singular (Neumann)
        systems: zero mean over each floating component.
    method : str
        ``"dcdm"``, ``"cg"``, ``"jacobi"``, ``"ic"`` or ``"amg"``.
    model : str
        The network used (DCDM), else empty.
    rtol : float
    setup_seconds : float
        Analysis of ``A``, model loading / preconditioner setup (part of ``elapsed``).
    solve_seconds : float
        The iterations alone.
    info : dict
        ``null_space_dim``, ``b_incompatible`` (relative norm of the part of ``b``
        outside the range of ``A``, removed), ``breakdown``, preconditioner figures.
    """

    x: np.ndarray
    method: str = "dcdm"
    model: str = ""
    rtol: float = 1e-6
    setup_seconds: float = 0.0
    solve_seconds: float = 0.0
    info: dict[str, Any] | None = None


def _prepare(
    A: Any,  # noqa: N803
    b: Any,
    grid_shape: Any,
    x0: Any,
    be: Backend,
    *,
    analysis: Analysis | None = None,
) -> tuple[Operator, Any, Any, tuple[int, ...], dict[str, Any]]:
    an = analysis if analysis is not None else analyze(A, grid_shape)
    b_host = check_rhs(b, an.n, "b")
    x0_host = check_rhs(x0, an.n, "x0") if x0 is not None else None
    op = Operator(an, be)
    info: dict[str, Any] = {"null_space_dim": an.null_dim}
    if op.singular:
        bp = an.project(b_host)
        nb = float(np.linalg.norm(b_host))
        info["b_incompatible"] = float(np.linalg.norm(b_host - bp) / nb) if nb > 0 else 0.0
    xp = be.xp
    b_dev = xp.asarray(b_host)
    x0_dev = xp.asarray(x0_host) if x0_host is not None else None
    out_shape = np.shape(b) if np.ndim(b) > 1 else (an.n,)
    return op, b_dev, x0_dev, out_shape, info


def _result(
    loop: LoopResult,
    op: Operator,
    out_shape: tuple[int, ...],
    *,
    method: str,
    model: str,
    rtol: float,
    t0: float,
    t_setup: float,
    info: dict[str, Any],
) -> DCDMResult:
    op.be.synchronize()
    x = np.asarray(op.be.to_host(loop.x), dtype=np.float64).reshape(out_shape)
    info = dict(info)
    info.update(loop.info)
    if loop.breakdown:
        info["breakdown"] = loop.breakdown
    now = time.perf_counter()
    return DCDMResult(
        x=x,
        n_iter=loop.n_iter,
        converged=loop.converged,
        residuals=np.asarray(loop.residuals, dtype=np.float64),
        cancelled=loop.cancelled,
        elapsed=now - t0,
        backend=op.be.name,
        method=method,
        model=model,
        rtol=rtol,
        setup_seconds=t_setup - t0,
        solve_seconds=now - t_setup,
        info=info,
    )


def _check_numbers(rtol: float, maxiter: int, n_orth: int = 0) -> None:
    if not (np.isfinite(rtol) and 0 < rtol < 1):
        raise InvalidProblemError(f"rtol must be in (0, 1), got {rtol!r}", field="params.rtol")
    if int(maxiter) != maxiter or maxiter < 1:
        raise InvalidProblemError(
            f"maxiter must be a positive integer, got {maxiter!r}", field="params.maxiter"
        )
    if int(n_orth) != n_orth or n_orth < 0:
        raise InvalidProblemError(
            f"n_orth must be a non-negative integer, got {n_orth!r}", field="params.n_orth"
        )


def dcdm(
    A: Any,  # noqa: N803 - the paper's name
    b: Any,
    *,
    grid_shape: Any = None,
    model: Any = "default",
    rtol: float = 1e-6,
    maxiter: int = 1000,
    n_orth: int = 2,
    x0: Any = None,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    reuse_setup: bool = False,
) -> DCDMResult:
    """Solve ``A x = b`` by the deep conjugate direction method.

    Each iteration applies the trained network to the current residual, A-orthogonalizes
    its output against the last ``n_orth`` search directions (modified Gram–Schmidt in the
    A inner product) and steps along it with the exact line search
    ``α = qᵀr / qᵀAq``. The network runs in float32 (PyTorch), the Krylov part in float64,
    so tight tolerances (1e-6 and below) are reached.

    Parameters
    ----------
    A : (n, n) sparse matrix or PoissonSystem
        Symmetric positive (semi-)definite grid matrix, ``n = prod(grid_shape)``, cells in
        C order (e.g. :func:`~solvers.dcdm.poisson_system` ``.A``). Rows without
        off-diagonal entries (solid/air cells) are solved exactly; the constants on
        pure-Neumann components are its null space (see Notes).
    b : array_like
        Right-hand side, ``n`` entries (flat or ``grid_shape``); ``x`` has its shape.
    grid_shape : sequence of int
        2 or 3 ints; optional when ``A`` is a PoissonSystem.
    model : str, path, bytes, DCDMModel or callable
        ``"default"`` (the shipped model for the grid's dimension), a shipped name
        (:func:`~solvers.dcdm.list_models`), a file written by ``dcdm_train`` /
        :meth:`DCDMModel.save`, the bytes of one, a loaded model, or any callable
        ``q = f(r)`` on the backend's float64 arrays (then no network is used: e.g.
        ``lambda r: r`` gives CG).
    rtol : float
        Stop when ``‖b − A x‖ ≤ rtol ‖b‖`` (checked on the true residual).
    maxiter : int
    n_orth : int
        Previous directions to A-orthogonalize against (the paper's code uses 2).
    x0 : array_like, optional
        Initial guess.
    backend : {"auto", "cpu", "gpu"}
        ``"gpu"``: CuPy for the Krylov part and CUDA PyTorch for the network, arrays
        exchanged through DLPack without copies.
    callback : callable, optional
        Receives a :class:`solvers.ProgressInfo` per iteration (``residual`` is the
        relative residual); returning True stops the solver (``cancelled=True``).
    reuse_setup : bool
        V-cycle models: keep the network's setup (the Galerkin hierarchy, most of the
        setup time) for the last matrix and reuse it when the same ``A`` (same CSR
        arrays, hashed) comes again — a pressure solve per time step with a fixed
        geometry. ``info["setup_reused"]`` tells. Off by default (it keeps memory).

    Returns
    -------
    DCDMResult
        ``.x``, ``.n_iter``, ``.converged``, ``.residuals`` (relative residual per
        iteration), ``.setup_seconds``, ``.solve_seconds``, ``.info``.

    Raises
    ------
    InvalidProblemError
        ``A`` not square, not matching ``grid_shape``, not symmetric or with a negative
        diagonal; ``b``/``x0`` of the wrong size or with NaN/Inf; a model for another
        dimension, an unknown model name, a file that is not a model.
    BackendUnavailableError
        PyTorch missing, or ``backend="gpu"`` without CuPy + a CUDA device + CUDA torch.

    Notes
    -----
    Singular systems (Neumann): ``b`` is projected onto the range of ``A`` (zero mean on
    each floating component; ``info["b_incompatible"]`` reports what was removed), the
    directions are projected the same way, and ``x`` has zero mean on each floating
    component. ``rtol`` is relative to the projected ``b``.

    References
    ----------
    .. [1] A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, "A Deep Conjugate
       Direction Method for Iteratively Solving Linear Systems", ICML 2023
       (PMLR 202:15720–15736), arXiv:2205.10763.

    Examples
    --------
    >>> sys = poisson_system((64, 64, 64), solid=obstacle, boundary=walls)
    >>> res = dcdm(sys.A, b, grid_shape=sys.grid_shape, rtol=1e-6)
    >>> res.x, res.n_iter, res.residuals[-1]
    """
    t0 = time.perf_counter()
    _check_numbers(rtol, maxiter, n_orth)
    be = get_backend(backend)
    op, b_dev, x0_dev, out_shape, info = _prepare(A, b, grid_shape, x0, be)
    if callable(model) and not _is_model(model):
        direction: Callable[[Any], Any] = _wrap_callable(model, op)
        label = getattr(model, "__name__", "callable")
    else:
        from .models import load_model, torch_module

        torch_module()
        m = load_model(model, len(op.grid_shape))
        from .network import NetworkDirection

        direction = NetworkDirection(m, op, reuse_setup=reuse_setup)
        label = m.name
        if getattr(direction, "vcycle", False):
            info["setup_reused"] = direction.reused
    t_setup = time.perf_counter()
    prog = Progress(callback, max_iter=maxiter)
    loop = conjugate_directions(
        op, b_dev, direction, x0=x0_dev, rtol=rtol, maxiter=maxiter, n_orth=n_orth, prog=prog
    )
    return _result(
        loop,
        op,
        out_shape,
        method="dcdm",
        model=label,
        rtol=rtol,
        t0=t0,
        t_setup=t_setup,
        info=info,
    )


def _is_model(obj: Any) -> bool:
    return type(obj).__name__ == "DCDMModel"


def _wrap_callable(f: Callable[[Any], Any], op: Operator) -> Callable[[Any], Any]:
    def direction(r: Any) -> Any:
        q = op.be.xp.asarray(f(r), dtype=op.be.xp.float64).reshape(-1)
        if q.shape[0] != op.n:
            raise InvalidProblemError(
                f"the direction callable returned {q.shape[0]} entries, expected {op.n}",
                field="params.model",
            )
        q = q * op.active
        if op.singular:
            op.project(q)
        return q

    return direction


def pcg(
    A: Any,  # noqa: N803
    b: Any,
    *,
    grid_shape: Any = None,
    precond: str = "jacobi",
    rtol: float = 1e-6,
    maxiter: int = 1000,
    x0: Any = None,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    amg_options: dict[str, Any] | None = None,
) -> DCDMResult:
    """Preconditioned conjugate gradients: the baselines of :func:`dcdm`.

    Parameters
    ----------
    A, b, grid_shape, rtol, maxiter, x0, backend, callback
        As in :func:`dcdm` (``grid_shape`` is only checked against ``A``; optional).
    precond : {"none", "jacobi", "ic", "amg"}
        ``"none"``: plain CG; ``"jacobi"``: diagonal; ``"ic"``: IC(0), zero-fill
        incomplete Cholesky (CPU); ``"amg"``: one V-cycle of pyamg's smoothed aggregation
        (CPU; ``amg_options`` go to ``pyamg.smoothed_aggregation_solver``).

    Returns
    -------
    DCDMResult
        ``method`` is ``"cg"`` for ``"none"``, else the preconditioner's name;
        ``setup_seconds`` includes the factorization / AMG hierarchy.

    References
    ----------
    .. [1] M. R. Hestenes, E. Stiefel, "Methods of conjugate gradients for solving linear
       systems", J. Res. NBS 49(6), 1952.
    .. [2] P. Vaněk, J. Mandel, M. Brezina, "Algebraic multigrid by smoothed aggregation
       for second and fourth order elliptic problems", Computing 56, 1996.
    """
    from .baselines import PRECONDITIONERS, make_preconditioner

    t0 = time.perf_counter()
    if precond not in PRECONDITIONERS:
        raise InvalidProblemError(
            f"precond must be one of {PRECONDITIONERS}, got {precond!r}", field="params.method"
        )
    _check_numbers(rtol, maxiter)
    be = get_backend(backend)
    if grid_shape is None:
        grid_shape = getattr(A, "grid_shape", None)
    if grid_shape is None:
        n = getattr(A, "shape", (0,))[0]
        grid_shape = (n, 1)
    op, b_dev, x0_dev, out_shape, info = _prepare(A, b, grid_shape, x0, be)
    M, pinfo = make_preconditioner(precond, op, amg_options=amg_options)  # noqa: N806
    info.update(pinfo)
    t_setup = time.perf_counter()
    prog = Progress(callback, max_iter=maxiter)
    loop = _pcg_loop(op, b_dev, M, x0=x0_dev, rtol=rtol, maxiter=maxiter, prog=prog)
    method = "cg" if precond == "none" else precond
    return _result(
        loop,
        op,
        out_shape,
        method=method,
        model="",
        rtol=rtol,
        t0=t0,
        t_setup=t_setup,
        info=info,
    )


def cg(
    A: Any,  # noqa: N803
    b: Any,
    *,
    grid_shape: Any = None,
    rtol: float = 1e-6,
    maxiter: int = 1000,
    x0: Any = None,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
) -> DCDMResult:
    """Plain conjugate gradients on the same kernels (``pcg(..., precond="none")``)."""
    return pcg(
        A,
        b,
        grid_shape=grid_shape,
        precond="none",
        rtol=rtol,
        maxiter=maxiter,
        x0=x0,
        backend=backend,
        callback=callback,
    )
