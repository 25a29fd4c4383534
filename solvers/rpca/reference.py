"""A straightforward NumPy inexact ALM: the textbook baseline.

Full ``numpy.linalg.svd`` every iteration, NumPy elementwise passes, no kernels, no
warm starts: exactly Algorithm 5 of Lin, Chen & Ma (2010). Used by the tests as an
independent reference and by ``benchmarks/rpca_bench.py`` as the baseline.
"""

from __future__ import annotations

import numpy as np


def ialm_reference(
    D: np.ndarray,  # noqa: N803
    lam: float | None = None,
    tol: float = 1e-7,
    maxiter: int = 1000,
    rho: float = 1.5,
) -> tuple[np.ndarray, np.ndarray, int, list[float]]:
    """Return ``(L, S, n_iter, residuals)``.

    References
    ----------
    .. [1] Z. Lin, M. Chen, Y. Ma, arXiv:1009.5055 (2010), Algorithm 5.
    """
    m, n = D.shape
    lam = 1.0 / np.sqrt(max(m, n)) if lam is None else lam
    norm_two = np.linalg.norm(D, 2)
    norm_inf = np.abs(D).max() / lam
    Y = D / max(norm_two, norm_inf)  # noqa: N806
    A = np.zeros_like(D)  # noqa: N806
    E = np.zeros_like(D)  # noqa: N806
    mu = 1.25 / norm_two
    mu_bar = mu * 1e7
    d_norm = np.linalg.norm(D)
    residuals: list[float] = []
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007
        T = D - A + Y / mu  # noqa: N806
        E = np.sign(T) * np.maximum(np.abs(T) - lam / mu, 0.0)  # noqa: N806
        U, s, Vt = np.linalg.svd(D - E + Y / mu, full_matrices=False)  # noqa: N806
        svp = int((s > 1.0 / mu).sum())
        A = (U[:, :svp] * (s[:svp] - 1.0 / mu)) @ Vt[:svp]  # noqa: N806
        Z = D - A - E  # noqa: N806
        Y = Y + mu * Z  # noqa: N806
        mu = min(mu * rho, mu_bar)
        res = np.linalg.norm(Z) / d_norm
        residuals.append(float(res))
        if res < tol:
            break
    return A, E, it, residuals


def altproj_reference(
    D: np.ndarray,  # noqa: N803
    rank: int,
    *,
    mask: np.ndarray | None = None,
    tol: float = 1e-7,
    maxiter: int = 500,
    beta: float | None = None,
    gamma: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, int, list[float]]:
    """Textbook alternating projections with a full SVD every iteration.

    Algorithm 1 of Netrapalli et al. (2014) as written: stages ``k = 1 … rank``
    (one rank at a time), in each stage ``L = P_k(M − S)`` by a full
    ``numpy.linalg.svd`` and ``S = H_ζ(M − L)`` with
    ``ζ = β (σ_{k+1}(M − S) + (1/2)^t σ_k(M − S))``, ``β = 1/(2 (mn)^{1/4})``; a stage
    ends when its residual stops falling (by less than 30 % over two iterations) with
    the threshold at its floor. With a mask, ``S`` lives on the observed entries, the
    SVD input takes ``L`` on the others and ``γ = max(γ, (1 − p)^{1/3})``. Plain
    NumPy, no kernels, no warm starts: the independent reference of the tests.
    Returns ``(L, S, n_iter, residuals)``.

    References
    ----------
    .. [1] P. Netrapalli, U. N. Niranjan, S. Sanghavi, A. Anandkumar, P. Jain,
       "Non-convex Robust PCA", NeurIPS 2014, Algorithm 1.
    """
    m, n = D.shape
    obs = np.ones(D.shape, bool) if mask is None else np.asarray(mask, bool)
    D = np.where(obs, D, 0.0)  # noqa: N806
    p = obs.mean()
    beta = 1.0 / (2.0 * (m * n) ** 0.25) if beta is None else beta
    gamma = max(gamma, (1.0 - p) ** (1.0 / 3.0))
    d_norm = np.linalg.norm(D)
    s1 = np.linalg.svd(D, compute_uv=False)[0]
    S = np.where(np.abs(D) > 4 * beta * s1, D, 0.0)  # noqa: N806
    L = np.zeros_like(D)  # noqa: N806
    residuals: list[float] = []
    it = 0
    dl = 0.0
    for k in range(1, rank + 1):
        t = 0
        while it < maxiter:
            it += 1
            t += 1
            X = np.where(obs, D - S, L)  # noqa: N806
            U, s, Vt = np.linalg.svd(X, full_matrices=False)  # noqa: N806
            L_new = (U[:, :k] * s[:k]) @ Vt[:k]  # noqa: N806
            sk1 = s[k] if k < s.size else 0.0
            geo = gamma**t * s[k - 1]
            zeta = beta * (sk1 + geo)
            if t >= 3:
                zeta = max(zeta, dl)  # not below the last change of L
            dl = float(np.abs(L_new - L).max())
            L = L_new  # noqa: N806
            R = np.where(obs, D - L, 0.0)  # noqa: N806
            S = np.where(np.abs(R) > zeta, R, 0.0)  # noqa: N806
            res = float(np.linalg.norm(R - S) / d_norm)
            residuals.append(res)
            if res <= tol:
                return L, S, it, residuals
            stalled = t >= 3 and res > 0.7 * residuals[-3] and geo <= sk1
            if stalled and k < rank:
                break
            if stalled and t > 5 and res > 0.99 * min(residuals[-6:-1]):
                return L, S, it, residuals
    return L, S, it, residuals
