"""Dense textbook versions (``np.kron``), for tests and benchmarks only.

Everything here forms the M × N dictionary and the N × N posterior covariance: use it
on small problems to check the structured solver.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

from .solver import AM_INNER_TOL


def dense_dictionary(H: list[np.ndarray]) -> np.ndarray:  # noqa: N803
    """``kron(H[0], ..., H[K-1])``."""
    return reduce(np.kron, H)


def dense_estep(
    y: np.ndarray,
    H: list[np.ndarray],  # noqa: N803
    gamma: np.ndarray,
    noise_var: float,
) -> dict[str, Any]:
    """The SBL E-step by the book: ``Σ = (AᴴA/σ² + Γ⁻¹)⁻¹``, ``μ = Σ Aᴴ y / σ²``.

    Returns ``mu``, ``Sigma`` (N × N), ``diag``, ``lam`` (``diag Σ + mean |μ|²``) and the
    cost ``log det C + tr(Yᴴ C⁻¹ Y)/T`` with ``C = σ² I + A Γ Aᴴ``.
    """
    A = dense_dictionary(H)  # noqa: N806
    Y = y.reshape(A.shape[0], -1)  # noqa: N806
    T = Y.shape[1]  # noqa: N806
    prec = A.conj().T @ A / noise_var + np.diag(1.0 / gamma)
    Sigma = np.linalg.inv(prec)  # noqa: N806
    Sigma = (Sigma + Sigma.conj().T) / 2  # noqa: N806
    mu = Sigma @ A.conj().T @ Y / noise_var
    C = noise_var * np.eye(A.shape[0]) + (A * gamma) @ A.conj().T  # noqa: N806
    _, logdet = np.linalg.slogdet(C)
    quad = np.trace(Y.conj().T @ np.linalg.solve(C, Y)).real
    diag = np.diag(Sigma).real
    return {
        "mu": mu,
        "Sigma": Sigma,
        "diag": diag,
        "lam": diag + (np.abs(mu) ** 2).mean(axis=1),
        "cost": float(logdet + quad / T),
        "C": C,
    }


def dense_sbl_cost(
    y: np.ndarray,
    H: list[np.ndarray],  # noqa: N803
    gamma: np.ndarray,
    noise_var: float,
) -> float:
    """``log det C + tr(Yᴴ C⁻¹ Y)/T`` with the explicit ``C = σ² I + A Γ Aᴴ``."""
    A = dense_dictionary(H)  # noqa: N806
    Y = y.reshape(A.shape[0], -1)  # noqa: N806
    C = noise_var * np.eye(A.shape[0]) + (A * gamma) @ A.conj().T  # noqa: N806
    _, logdet = np.linalg.slogdet(C)
    return float(logdet + np.trace(Y.conj().T @ np.linalg.solve(C, Y)).real / Y.shape[1])


def dense_best_scale(
    y: np.ndarray,
    H: list[np.ndarray],  # noqa: N803
    gamma: np.ndarray,
    noise_var: float,
) -> float:
    """``argmin_{α>0}`` of the SBL cost at ``α γ`` from the explicit ``A Γ Aᴴ``: its
    eigendecomposition ``V diag(p) Vᴴ`` turns the cost into
    ``Σ log(σ² + α p) + Σ mean_t |Vᴴ y|² / (σ² + α p)``; Newton in ``log α`` to
    convergence (the solver's scale search, AM with ``accelerate``)."""
    A = dense_dictionary(H)  # noqa: N806
    Y = y.reshape(A.shape[0], -1)  # noqa: N806
    G = (A * gamma) @ A.conj().T  # noqa: N806
    p, V = np.linalg.eigh((G + G.conj().T) / 2)  # noqa: N806
    p = np.maximum(p, 0.0)
    a = (np.abs(V.conj().T @ Y) ** 2).mean(axis=1)
    t = 0.0
    for _ in range(100):
        e = np.exp(t)
        c = noise_var + e * p
        q = e * p / c
        aq = a * q / c
        g1 = q.sum() - aq.sum()
        h = (q * (1 - q)).sum() - (aq * (1 - 2 * q)).sum()
        step = float(np.clip(-g1 / h, -2.0, 2.0)) if h > 0 else (-2.0 if g1 > 0 else 2.0)
        t += step
        if abs(step) < 1e-13:
            break
    return float(np.exp(t))


def am_update_dense(lam: np.ndarray, gammas: list[np.ndarray], k: int) -> np.ndarray:
    """The AM closed form for factor k written with explicit Kronecker matrices, as in
    the authors' code: ``γ_k = (Π_{j≠k} N_j)⁻¹ (⊗_{j<k} γ_j⁻¹ ⊗ I ⊗_{j>k} γ_j⁻¹)ᵀ Λ``."""
    mats = [np.eye(g.size) if j == k else (1.0 / g)[:, None] for j, g in enumerate(gammas)]
    W = reduce(np.kron, mats)  # noqa: N806 - (N, N_k)
    den = np.prod([g.size for j, g in enumerate(gammas) if j != k])
    return W.T @ lam / den


def krosbl_dense(
    y: np.ndarray,
    H: list[np.ndarray],  # noqa: N803
    *,
    method: str,
    noise_var: float,
    gammas0: list[np.ndarray],
    iters: int,
    am_sweeps: int = 10,
    scale_search: bool = False,
) -> list[dict[str, Any]]:
    """A few KroSBL iterations with the dense E-step (no pruning, fixed σ²).

    The M-step is the paper's: AM closed forms (``am_update_dense``) swept
    ``am_sweeps`` times (stopping early like the solver), or full SVDs of the reshaped
    Λ (``np.linalg.svd``). ``scale_search``: each E-step is preceded by the exact
    minimisation of the cost along the global scale (:func:`dense_best_scale`, the
    last factor carries it). Returns per iteration ``{"gammas", "mu", "cost"}`` (the
    E-step at the iteration's hyperparameters).
    """
    gammas = [g.astype(float).copy() for g in gammas0]
    out = []
    shape = [g.size for g in gammas]
    for _ in range(iters):
        if scale_search:
            alpha = dense_best_scale(y, H, reduce(np.kron, gammas), noise_var)
            gammas[-1] = gammas[-1] * alpha
        gamma = reduce(np.kron, gammas)
        e = dense_estep(y, H, gamma, noise_var)
        out.append({"gammas": [g.copy() for g in gammas], "mu": e["mu"], "cost": e["cost"]})
        lam = e["lam"]
        if method == "am":
            gs = list(gammas)
            for _ in range(am_sweeps):
                old = list(gs)
                for k in range(len(gs)):
                    gs[k] = am_update_dense(lam, gs, k)
                gs = _normalise(gs)
                change = max(np.linalg.norm(a - b) / np.linalg.norm(b) for a, b in zip(gs, old))
                if change < AM_INNER_TOL:
                    break
            gammas = gs
        else:
            R = lam.reshape(shape)  # noqa: N806
            gs = []
            for k in range(len(shape) - 1):
                U, S, Vt = np.linalg.svd(R.reshape(shape[k], -1), full_matrices=False)  # noqa: N806
                gs.append(np.abs(U[:, 0]))
                R = S[0] * np.abs(Vt[0])  # noqa: N806
            gs.append(R.reshape(-1))
            gammas = _normalise(gs)
    return out


def _normalise(gs: list[np.ndarray]) -> list[np.ndarray]:
    out = list(gs)
    scale = 1.0
    for k in range(len(out) - 1):
        n = np.linalg.norm(out[k])
        out[k] = out[k] / n
        scale *= n
    out[-1] = out[-1] * scale
    return out
