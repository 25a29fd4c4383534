"""Server-side estimators on the aggregated private statistics (written against ``xp``).

Given ``Σ̂`` (the mean privatized covariance statistic, or the public data's covariance)
and ``b̂`` (the mean privatized cross term):

* :func:`plugin` — the paper's closed form: ``θ₀ = Σ̂₊⁻¹ b̂`` with the eigenvalues of
  ``Σ̂`` floored (PSD repair: with few owners the noisy ``Σ̂`` is indefinite), then
  thresholding (top-k, or soft at λ as in the paper) and projection onto the known
  ℓ2 ball (projection onto a convex set that contains θ* never increases the error);
* :func:`iht_quadratic` — our alternative: the k-sparse minimiser of
  ``½ θᵀΣ̂₊θ − b̂ᵀθ`` over the ball, by iterative hard thresholding; it degrades
  gracefully where ``Σ̂⁻¹`` is dominated by noise (n below the d⁴ regime).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _host(a: Any) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def top_k_indices(v: Any, k: int) -> np.ndarray:
    """Indices of the ``k`` largest |v_i| (ties broken by the lower index), sorted."""
    h = np.abs(_host(v))
    idx = np.argsort(-h, kind="stable")[:k]
    return np.sort(idx)


def hard_threshold(v: Any, k: int, xp: Any = np) -> Any:
    """Keep the ``k`` largest-magnitude entries of ``v``, zero the rest."""
    idx = top_k_indices(v, k)
    out = xp.zeros_like(v)
    sel = xp.asarray(idx)
    out[sel] = v[sel]
    return out


def soft_threshold(v: Any, lam: float, xp: Any = np) -> Any:
    """``sign(v) · max(|v| − λ, 0)``."""
    return xp.sign(v) * xp.maximum(xp.abs(v) - lam, 0.0)


def project_ball(v: Any, radius: float | None, xp: Any = np) -> Any:
    """Projection onto ``{‖θ‖₂ ≤ radius}`` (identity for ``radius=None``)."""
    if radius is None:
        return v
    nrm = float(xp.linalg.norm(v))
    return v * (radius / nrm) if nrm > radius else v


def psd_repair(S: Any, min_eig: float, xp: Any = np) -> tuple[Any, Any, float, dict[str, Any]]:
    """Eigen-decomposition of the symmetric ``S`` with eigenvalues floored at
    ``min_eig × mean|eigenvalue|`` (= ``min_eig × mean(diag S)`` when ``S`` is PSD; a
    noisy indefinite ``S`` keeps a positive floor). Returns ``(w_floored, V, floor, info)``."""
    S = 0.5 * (S + S.T)  # noqa: N806
    w, V = xp.linalg.eigh(S)  # noqa: N806
    scale = float(xp.mean(xp.abs(w)))
    if not scale > 1e-300:
        scale = 1.0  # an all-zero statistic: any positive floor gives θ₀ = 0
    floor = min_eig * scale
    wf = xp.maximum(w, floor)
    wh = _host(w)
    info = {
        "eig_min": float(wh.min()),
        "eig_max": float(wh.max()),
        "eig_floor": float(floor),
        "eig_floored": int((wh < floor).sum()),
    }
    return wf, V, floor, info


def plugin(
    S: Any,  # noqa: N803
    b: Any,
    *,
    k: int,
    threshold: str = "topk",
    lam: float | None = None,
    min_eig: float = 0.05,
    theta_bound: float | None = 1.0,
    xp: Any = np,
) -> tuple[Any, Any, dict[str, Any]]:
    """The closed-form estimator ``S_λ(Σ̂₊⁻¹ b̂)`` (or top-k), projected on the ball.

    Returns
    -------
    theta, theta0, info
        The estimate, the unthresholded ``Σ̂₊⁻¹ b̂`` and diagnostics.
    """
    wf, V, _, info = psd_repair(S, min_eig, xp)  # noqa: N806
    theta0 = V @ ((V.T @ b) / wf)
    if threshold == "soft":
        if lam is None:
            raise ValueError("soft thresholding needs lam")
        theta = soft_threshold(theta0, lam, xp)
        info["lam"] = float(lam)
    else:
        theta = hard_threshold(theta0, k, xp)
    theta = project_ball(theta, theta_bound, xp)
    return theta, theta0, info


def iht_quadratic(
    S: Any,  # noqa: N803
    b: Any,
    *,
    k: int,
    min_eig: float = 0.05,
    theta_bound: float | None = 1.0,
    max_iter: int = 2000,
    tol: float = 1e-12,
    xp: Any = np,
) -> tuple[Any, Any, dict[str, Any]]:
    """k-sparse least squares on the private statistics, by projected gradient (IHT).

    Minimises ``½ θᵀΣ̂₊θ − b̂ᵀθ`` over ``{‖θ‖₀ ≤ k, ‖θ‖₂ ≤ theta_bound}`` from θ = 0 with
    step ``1/λ_max(Σ̂₊)``; stops when the iterate moves by less than ``tol`` (relative).

    Returns
    -------
    theta, theta0, info
        ``theta0`` is the unconstrained ``Σ̂₊⁻¹ b̂`` for reference.
    """
    wf, V, _, info = psd_repair(S, min_eig, xp)  # noqa: N806
    A = (V * wf) @ V.T  # noqa: N806
    step = 1.0 / float(xp.max(wf))
    theta = xp.zeros_like(b)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        new = project_ball(hard_threshold(theta - step * (A @ theta - b), k, xp), theta_bound, xp)
        move = float(xp.linalg.norm(new - theta))
        theta = new
        if move <= tol * max(float(xp.linalg.norm(theta)), np.finfo(float).tiny):
            break
    info["iht_iterations"] = it
    theta0 = V @ ((V.T @ b) / wf)
    return theta, theta0, info


def default_lambda(n: int, d: int, coord_sd_xy: float, coord_sd_cov: float, bound: float) -> float:
    """Soft-threshold level ``√(2 ln(2d)/n) (σ_xy + σ_cov·‖θ‖)`` — the ℓ∞ size of the
    statistics' noise for near-isotropic designs (the paper's λ ≍ noise·√(log d)/√n)."""
    return math.sqrt(2.0 * math.log(2.0 * d) / n) * (coord_sd_xy + coord_sd_cov * bound)


def iht_update(
    theta: np.ndarray,
    gbar: np.ndarray,
    *,
    eta: float,
    k_prime: int,
    theta_bound: float | None,
) -> np.ndarray:
    """One LDP-IHT server step (host NumPy, so that broadcast iterates are reproducible):
    ``θ ← Π_ball(H_{k'}(θ − η ḡ))``."""
    return project_ball(hard_threshold(theta - eta * gbar, k_prime, np), theta_bound, np)
