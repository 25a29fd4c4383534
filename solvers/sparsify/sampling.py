"""Spielman–Srivastava sparsification by effective-resistance sampling (the baseline).

Effective resistances ``R_e = b_eᵀ L⁺ b_e`` of every edge come from the
Johnson–Lindenstrauss sketch ``Z = Q W^½ B L⁺`` (``Q`` a k × m random ±1/√k matrix):
``R_e ≈ ‖Z (χ_p − χ_q)‖²``, with k Laplacian solves by conjugate gradients
preconditioned with smoothed-aggregation AMG (pyamg) on the grounded Laplacian. Then
``q`` edges are drawn with replacement with probabilities ``p_e ∝ w_e R_e`` and an edge
drawn ``c_e`` times gets the weight ``w_e c_e / (q p_e)`` (so ``E[L_H] = L_G``).

``q`` is chosen so that the expected number of distinct edges matches
``target_density · n`` (bisection on ``Σ_e 1 − (1 − p_e)^q``), or, with only a target
condition κ, as ``q = ⌈n ln n / ε²⌉`` with ``ε = (κ − 1)/(κ + 1)`` (a spectral
ε-approximation has κ ≤ (1 + ε)/(1 − ε); the theorem's constant is replaced by 1, the
usual practical choice). At the low densities GRASS works at, sampling usually leaves H
disconnected (κ = inf): that is what the baseline shows.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from solvers._backend import Backend
from solvers._progress import Progress

from .graph import EdgeList, to_adjacency
from .params import SparsifyParams


def effective_resistances(
    g: EdgeList, *, jl_dim: int = 32, tol: float = 1e-6, seed: Any = None
) -> np.ndarray:
    """Approximate effective resistance of every edge (random projections + pyamg).

    The relative error of each estimate is about ``sqrt(2 / jl_dim)`` (one standard
    deviation) plus the solver tolerance.

    References
    ----------
    .. [1] D. A. Spielman, N. Srivastava, "Graph sparsification by effective
       resistances", SIAM J. Comput. 40(6), 2011 (the sketch ``Q W^½ B L⁺``).
    """
    import pyamg

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, m = g.n, g.m
    ground = int(np.argmax(np.bincount(g.u, minlength=n) + np.bincount(g.v, minlength=n)))
    keep = np.ones(n, dtype=bool)
    keep[ground] = False
    L = g.laplacian()  # noqa: N806
    Lg = L[keep][:, keep].tocsr()  # noqa: N806
    ml = pyamg.smoothed_aggregation_solver(Lg, symmetry="symmetric")
    s = np.sqrt(g.w)
    Z = np.zeros((n, jl_dim))  # noqa: N806
    for j in range(jl_dim):
        q = rng.choice(np.array([-1.0, 1.0]), size=m) * s / math.sqrt(jl_dim)
        y = np.bincount(g.u, weights=q, minlength=n) - np.bincount(g.v, weights=q, minlength=n)
        Z[keep, j] = ml.solve(y[keep], tol=tol, accel="cg", maxiter=500)
    d = Z[g.u] - Z[g.v]
    return np.einsum("ij,ij->i", d, d)


def _expected_distinct(p: np.ndarray, q: float) -> float:
    return float(np.sum(-np.expm1(q * np.log1p(-np.minimum(p, 1 - 1e-16)))))


def er_sparsify(
    g: EdgeList,
    params: SparsifyParams,
    backend: Backend,
    prog: Progress,
    rng: np.random.Generator,
) -> Any:
    """Spielman–Srivastava sampling (see the module docstring)."""
    from .condition import relative_condition_number
    from .solver import SparsifyResult

    n, m = g.n, g.m
    t0 = time.perf_counter()
    R = effective_resistances(g, jl_dim=params.jl_dim, seed=rng)  # noqa: N806
    t_er = time.perf_counter() - t0
    lev = np.maximum(g.w * R, 1e-300)
    p = lev / lev.sum()
    target_d = params.target_density
    if target_d is not None:
        want = min(target_d * n, float(m))
        if want >= m * (1 - 1e-9):
            q = math.inf
        else:
            lo, hi = 1.0, 1.0
            while _expected_distinct(p, hi) < want and hi < 1e15:
                hi *= 2.0
            for _ in range(80):
                mid = math.sqrt(lo * hi)
                if _expected_distinct(p, mid) < want:
                    lo = mid
                else:
                    hi = mid
            q = math.ceil(hi)
    else:
        kappa = float(params.target_condition)
        eps = (kappa - 1.0) / (kappa + 1.0)
        q = math.ceil(n * math.log(n) / eps**2)
    if math.isinf(q):
        u, v, w = g.u, g.v, g.w.copy()
        samples = -1
    else:
        counts = rng.multinomial(int(q), p)
        keep = counts > 0
        u, v = g.u[keep], g.v[keep]
        w = g.w[keep] * counts[keep] / (q * p[keep])
        samples = int(q)
    H = to_adjacency(n, u, v, w)  # noqa: N806
    prog.report(1, message="er_sampling", samples=samples)
    kappa_est = math.nan
    if params.estimate_condition:
        kappa_est = float(relative_condition_number(g, (np.stack([u, v], 1), w, n), tol=1e-4))
    converged = params.target_condition is None or kappa_est <= params.target_condition
    return SparsifyResult(
        H=H,
        density=u.size / n,
        condition_estimate=kappa_est,
        method="er_sampling",
        kept=None,
        n_nodes=n,
        n_edges_G=m,
        n_edges_H=int(u.size),
        target_condition=params.target_condition,
        target_density=target_d,
        n_iter=1,
        converged=bool(converged),
        info={
            "samples": samples,
            "jl_dim": params.jl_dim,
            "resistance_seconds": t_er,
            "connected": bool(math.isfinite(kappa_est)) if params.estimate_condition else None,
        },
    )
