"""Server-side estimators on the aggregated private statistics (written against ``xp``).

Given ``Σ̂`` (the mean privatized covariance statistic, or the public data's covariance)
and ``b̂`` (the mean privatized cross term):

* :func:`plugin` — the paper's closed form: ``θ₀ = Σ̂₊⁻¹ b̂`` with the eigenvalues of
  ``Σ̂`` floored (PSD repair: with few owners the noisy ``Σ̂`` is indefinite; for the
  NLDP protocol the floor is noise-aware, ``c·2σ_A√d`` with σ_A the public
  per-coordinate noise sd of ``Σ̂``, see :func:`noise_spectral_norm`), then
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


def noise_spectral_norm(coordinate_sd: float, n: int, d: int) -> float:
    """Expected spectral norm ``2 σ_A √d`` of the privacy noise of ``Σ̂`` (NLDP).

    ``Σ̂`` is the mean of ``n`` reports whose packed covariance parts carry independent
    noise of per-coordinate sd at most ``coordinate_sd`` (the ℓ2-ball output has
    covariance ``(B² I − v vᵀ)/D``; Gaussian: σ² I), so each entry of the symmetric
    noise matrix ``E = Σ̂ − E[Σ̂]`` has sd ``σ_A = coordinate_sd/√n`` and, for ``n`` in
    the hundreds or more, is Gaussian to a very good approximation. A symmetric d × d
    matrix with independent centred entries of sd σ_A has ``‖E‖₂ ≈ 2 σ_A √d`` (the
    edge of Wigner's semicircle; ``E‖E‖ ≤ 2σ_A√d + O(σ_A)``, Bandeira & van Handel
    2016; for small d the mean is a little below the edge, ≈ 0.88 × at d = 10 and
    0.93 × at d = 20). The scale is public: it depends on the study's parameters and
    ``n`` only.

    References
    ----------
    .. [1] A. S. Bandeira, R. van Handel, "Sharp nonasymptotic bounds on the norm of
       random matrices with independent entries", Ann. Probab. 44(4), 2016.
    """
    return 2.0 * float(coordinate_sd) / math.sqrt(max(int(n), 1)) * math.sqrt(d)


def psd_repair(
    S: Any,  # noqa: N803
    min_eig: float,
    xp: Any = np,
    abs_floor: float = 0.0,
) -> tuple[Any, Any, float, dict[str, Any]]:
    """Eigen-decomposition of the symmetric ``S`` with eigenvalues floored at
    ``max(min_eig × mean|eigenvalue|, abs_floor)`` (``min_eig × mean(diag S)`` when
    ``S`` is PSD; a noisy indefinite ``S`` keeps a positive floor; ``abs_floor`` is the
    noise-aware floor of :func:`plugin`). Returns ``(w_floored, V, floor, info)``."""
    S = 0.5 * (S + S.T)  # noqa: N806
    w, V = xp.linalg.eigh(S)  # noqa: N806
    scale = float(xp.mean(xp.abs(w)))
    if not scale > 1e-300:
        scale = 1.0  # an all-zero statistic: any positive floor gives θ₀ = 0
    rel_floor = min_eig * scale
    floor = max(rel_floor, float(abs_floor))
    wf = xp.maximum(w, floor)
    wh = _host(w)
    info = {
        "eig_min": float(wh.min()),
        "eig_max": float(wh.max()),
        "eig_floor": float(floor),
        "eig_floor_relative": float(rel_floor),
        "eig_floor_noise": float(abs_floor),
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
    noise_norm: float = 0.0,
    noise_floor: float = 0.5,
    xp: Any = np,
) -> tuple[Any, Any, dict[str, Any]]:
    """The closed-form estimator ``S_λ(Σ̂₊⁻¹ b̂)`` (or top-k), projected on the ball.

    ``Σ̂₊`` is ``Σ̂`` with its eigenvalues floored at ``max(min_eig × mean|λ|, c·s)``,
    ``s = noise_norm`` the known spectral norm of ``Σ̂``'s privacy noise
    (:func:`noise_spectral_norm`; 0 for an exact/public ``Σ̂``) and ``c = noise_floor``.
    By Weyl's inequality every eigenvalue of ``Σ̂`` is within ``s`` of ``Σ``'s, so an
    eigenvalue below ``c·s`` carries no usable information about ``Σ`` and inverting it
    amplifies noise without bound; the floor caps ``‖Σ̂₊⁻¹‖ ≤ 1/(c s)``. When
    ``λ_min(Σ) ≥ (1 + c) s`` — the paper's large-n regime — nothing is floored and this
    is the paper's estimator exactly; since ``s ∝ n^{-1/2}`` the floor never changes the
    rate. ``noise_floor=0`` gives the paper's plug-in with the relative PSD floor only.

    Returns
    -------
    theta, theta0, info
        The estimate, the unthresholded ``Σ̂₊⁻¹ b̂`` and diagnostics (``eig_floor``,
        ``eig_floor_noise``, ``noise_norm``, ...).

    References
    ----------
    .. [1] L. Zhu, M. Ding, V. Aggarwal, J. Xu, D. Wang, "Improved Analysis of Sparse
       Linear Regression in Local Differential Privacy Model", ICLR 2024 (the plug-in).
    """
    wf, V, _, info = psd_repair(S, min_eig, xp, abs_floor=noise_floor * noise_norm)  # noqa: N806
    info["noise_norm"] = float(noise_norm)
    info["noise_floor"] = float(noise_floor)
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
