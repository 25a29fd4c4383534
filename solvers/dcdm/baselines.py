"""Preconditioners of the baselines (Jacobi, IC(0), pyamg smoothed aggregation) and a
direct reference solve.

All preconditioners act on the backend's float64 vectors and return new arrays. IC(0)
and AMG run on the CPU only (their setup and triangular solves/cycles are host code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from solvers._errors import BackendUnavailableError

from .system import Analysis, Operator

PRECONDITIONERS = ("none", "jacobi", "ic", "amg")


def _regularized(an: Analysis) -> Any:
    """``A`` with a unit diagonal on empty rows (so that setups never divide by 0)."""
    if not an.empty_rows.any():
        return an.A
    fix = scipy.sparse.diags(an.empty_rows.astype(np.float64))
    return (an.A + fix).tocsr()


def make_preconditioner(
    kind: str, op: Operator, *, amg_options: dict[str, Any] | None = None
) -> tuple[Callable[[Any], Any] | None, dict[str, Any]]:
    """``(precond, info)`` for ``kind`` in :data:`PRECONDITIONERS` on ``op``'s backend.

    Raises
    ------
    BackendUnavailableError
        ``"ic"`` or ``"amg"`` on the GPU.
    """
    import time

    t0 = time.perf_counter()
    xp = op.be.xp
    an = op.an
    if kind == "none":
        return None, {"setup_seconds": 0.0}
    if kind == "jacobi":
        d = np.where(an.diag > 0, an.diag, 1.0)
        inv = xp.asarray(1.0 / d)

        def jacobi(r: Any) -> Any:
            return r * inv

        return jacobi, {"setup_seconds": time.perf_counter() - t0}
    if op.be.is_gpu:
        raise BackendUnavailableError(
            f"preconditioner {kind!r} runs on the CPU only; use backend='cpu' (or 'jacobi')"
        )
    if kind == "ic":
        fac = op.kern.ic0_factor(_regularized(an))

        def ic(r: Any) -> Any:
            return op.kern.ic0_solve(fac, r)

        return ic, {"setup_seconds": time.perf_counter() - t0, "ic_shifted_pivots": fac.shifted}
    if kind == "amg":
        import pyamg

        opts = {"symmetry": "hermitian", **(amg_options or {})}
        ml = pyamg.smoothed_aggregation_solver(_regularized(an), **opts)
        M = ml.aspreconditioner(cycle="V")  # noqa: N806

        def amg(r: Any) -> Any:
            return np.asarray(M @ r, dtype=np.float64)

        return amg, {
            "setup_seconds": time.perf_counter() - t0,
            "amg_levels": len(ml.levels),
            "amg_operator_complexity": float(ml.operator_complexity()),
        }
    raise ValueError(f"unknown preconditioner {kind!r}")


def direct_solve(an: Analysis, b: np.ndarray) -> np.ndarray:
    """Reference solution by sparse LU on the active rows (small problems only).

    Floating components are pinned at one cell, then shifted to zero mean; decoupled rows
    are ``b_i / A_ii``; empty rows 0. Memory grows fast with 3-D grids: use it up to ~40³.
    """
    b = an.project(b)
    x = np.zeros(an.n)
    dec = ~an.active & (an.diag > 0)
    x[dec] = b[dec] / an.diag[dec]
    act = np.flatnonzero(an.active)
    if act.size == 0:
        return x
    pinned = np.zeros(an.n, dtype=bool)
    for c in an.floating:
        pinned[np.flatnonzero(an.labels == c)[0]] = True
    keep = act[~pinned[act]]
    A_kk = an.A[keep][:, keep].tocsc()  # noqa: N806
    x[keep] = scipy.sparse.linalg.spsolve(A_kk, b[keep])
    return an.project(x)
