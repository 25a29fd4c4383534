"""The Krylov loops of this family, written once against ``backend.xp``.

* :func:`conjugate_directions` — the deep conjugate direction method (Kaneda et al.
  2023, Alg. 2): each search direction is ``direction(r)`` (the network, or any map),
  A-orthogonalized against the last ``n_orth`` directions (modified Gram–Schmidt in the
  A inner product), with the exact line search ``α = qᵀr / qᵀAq``.
* :func:`pcg` — textbook (preconditioned) conjugate gradients (Hestenes–Stiefel), the
  baselines.

Both run in float64, use one product with ``A`` per iteration (the residual is updated
recursively, ``r −= α Aq``) and confirm convergence on the true residual ``b − A x``
before they stop. Relative residuals are ``‖b − A x‖ / ‖b‖`` with ``b`` projected onto
the range of ``A`` when ``A`` is singular (Neumann).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers._progress import Progress

from .system import Operator


@dataclass
class LoopResult:
    """Raw output of a Krylov loop (device arrays)."""

    x: Any
    n_iter: int
    converged: bool
    residuals: list[float]
    cancelled: bool = False
    breakdown: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _norm(xp: Any, v: Any) -> float:
    return math.sqrt(float(xp.dot(v, v)))


def start(op: Operator, b: Any, x0: Any | None) -> tuple[Any, Any, Any, float]:
    """Initial iterate and residual; decoupled rows solved exactly.

    Returns ``(x, r, b_projected, ‖b_projected‖)``.
    """
    xp = op.be.xp
    b = op.project(b.copy()) if op.singular else b
    x = xp.zeros(op.n) if x0 is None else x0.copy()
    if op.has_decoupled:
        dec = op.inv_diag_decoupled != 0
        x = xp.where(dec, b * op.inv_diag_decoupled, x)
    r = b - op.matvec(x)
    return x, r, b, _norm(xp, b)


def _confirm(op: Operator, x: Any, b: Any, bnorm: float) -> tuple[Any, float]:
    r = b - op.matvec(x)
    return r, _norm(op.be.xp, r) / bnorm


def conjugate_directions(
    op: Operator,
    b: Any,
    direction: Callable[[Any], Any],
    *,
    x0: Any | None = None,
    rtol: float = 1e-6,
    maxiter: int = 1000,
    n_orth: int = 2,
    prog: Progress | None = None,
) -> LoopResult:
    """Conjugate direction method with search directions ``direction(r)``.

    Parameters
    ----------
    op : Operator
    b : xp array (n,)
    direction : callable
        ``direction(r) -> q`` (xp float64 arrays); only its direction matters.
    x0 : xp array, optional
    rtol : float
        Stop when ``‖b − A x‖ ≤ rtol ‖b‖``.
    maxiter : int
    n_orth : int
        Number of previous directions ``q`` is A-orthogonalized against (0: none).
    prog : Progress, optional

    Returns
    -------
    LoopResult
    """
    xp = op.be.xp
    k = op.kern
    x, r, b, bnorm = start(op, b, x0)
    residuals: list[float] = []
    if bnorm == 0.0:
        return LoopResult(x=xp.zeros(op.n), n_iter=0, converged=True, residuals=[])
    res = _norm(xp, r) / bnorm
    if res <= rtol:
        return LoopResult(x=x, n_iter=0, converged=True, residuals=[])
    dirs: list[tuple[Any, Any, float]] = []  # (p, Ap, pᵀAp)
    converged = False
    breakdown = None
    it = 0
    restarts = 0
    for it in range(1, maxiter + 1):  # noqa: B007
        q = direction(r)
        aq = op.matvec(q)
        for p, ap, pap in dirs:
            beta = float(xp.dot(q, ap)) / pap
            k.orth_update(q, aq, p, ap, beta)
        qaq = float(xp.dot(q, aq))
        qr = float(xp.dot(q, r))
        if not (qaq > 0.0 and math.isfinite(qaq) and math.isfinite(qr)):
            breakdown = f"non-positive curvature qᵀAq = {qaq:.3g} at iteration {it}"
            it -= 1
            break
        alpha = qr / qaq
        rr = k.step_update(x, r, q, aq, alpha)
        res = math.sqrt(max(rr, 0.0)) / bnorm
        if n_orth > 0:
            dirs.append((q, aq, qaq))
            if len(dirs) > n_orth:
                dirs.pop(0)
        if res <= rtol:
            r_true, res_true = _confirm(op, x, b, bnorm)
            if res_true <= rtol:
                res = res_true
                converged = True
            else:  # the recursive residual drifted: continue from the true one
                r = r_true
                res = res_true
                restarts += 1
        residuals.append(res)
        stop = prog.report(it, residual=res) if prog is not None else False
        if converged or stop:
            break
    if op.singular:
        op.project(x)
    return LoopResult(
        x=x,
        n_iter=it,
        converged=converged,
        residuals=residuals,
        cancelled=bool(prog is not None and prog.cancelled and not converged),
        breakdown=breakdown,
        info={"residual_replacements": restarts},
    )


def pcg(
    op: Operator,
    b: Any,
    precond: Callable[[Any], Any] | None = None,
    *,
    x0: Any | None = None,
    rtol: float = 1e-6,
    maxiter: int = 1000,
    prog: Progress | None = None,
) -> LoopResult:
    """Preconditioned conjugate gradients (``precond(r) ≈ A⁻¹ r``; None: plain CG)."""
    xp = op.be.xp
    k = op.kern
    x, r, b, bnorm = start(op, b, x0)
    residuals: list[float] = []
    if bnorm == 0.0:
        return LoopResult(x=xp.zeros(op.n), n_iter=0, converged=True, residuals=[])
    res = _norm(xp, r) / bnorm
    if res <= rtol:
        return LoopResult(x=x, n_iter=0, converged=True, residuals=[])

    def apply(v: Any) -> Any:
        z = precond(v) if precond is not None else v.copy()
        if op.singular:
            op.project(z)
        return z

    z = apply(r)
    p = z.copy()
    rz = float(xp.dot(r, z))
    converged = False
    breakdown = None
    it = 0
    restarts = 0
    for it in range(1, maxiter + 1):  # noqa: B007
        ap = op.matvec(p)
        pap = float(xp.dot(p, ap))
        if not (pap > 0.0 and math.isfinite(pap)):
            breakdown = f"non-positive curvature pᵀAp = {pap:.3g} at iteration {it}"
            it -= 1
            break
        alpha = rz / pap
        rr = k.step_update(x, r, p, ap, alpha)
        res = math.sqrt(max(rr, 0.0)) / bnorm
        if res <= rtol:
            r_true, res_true = _confirm(op, x, b, bnorm)
            if res_true <= rtol:
                res = res_true
                converged = True
            else:
                r = r_true
                res = res_true
                restarts += 1
        residuals.append(res)
        stop = prog.report(it, residual=res) if prog is not None else False
        if converged or stop:
            break
        z = apply(r)
        rz_new = float(xp.dot(r, z))
        beta = rz_new / rz
        rz = rz_new
        p = z + beta * p
    if op.singular:
        op.project(x)
    return LoopResult(
        x=x,
        n_iter=it,
        converged=converged,
        residuals=residuals,
        cancelled=bool(prog is not None and prog.cancelled and not converged),
        breakdown=breakdown,
        info={"residual_replacements": restarts},
    )


def as_numpy_residuals(res: list[float]) -> np.ndarray:
    return np.asarray(res, dtype=np.float64)
