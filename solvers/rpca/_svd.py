"""Singular value thresholding for IALM: the fastest exact route for the shape.

Routes (``svd="auto"`` picks one per iteration):

``full``
    LAPACK ``gesdd`` through ``xp.linalg.svd(full_matrices=False)``: O(m n min(m, n)).
    Used for small matrices (min(m, n) ≤ 256) and whenever the predicted rank exceeds a
    quarter of min(m, n), where a partial SVD stops paying off.
``partial``
    Warm-started block subspace iteration with Rayleigh–Ritz extraction: each inner
    step costs two m×n×l products (l = predicted rank + oversampling) instead of a full
    SVD. The start subspace is the previous IALM iteration's right singular vectors,
    so near convergence one or two inner steps suffice. The route is *exact to a
    tolerance*: it iterates until every kept triplet satisfies
    ``‖Xᵀu_i − σ_i v_i‖ ≤ tol·σ_1`` (``X v_i = σ_i u_i`` holds by construction), with
    ``tol`` tied to the current IALM constraint residual, and it grows the block until
    the smallest computed singular value falls below the threshold, so no singular
    value above the threshold is ever missed.

A Gram-matrix route (eigendecomposition of XᵀX) is not used: it squares the condition
number, so singular values below ~1e-8·σ_1 come out as noise, while late IALM
iterations threshold at 1/μ ≈ 1e-7·σ_1 (μ grows by up to 1e7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FULL_MIN_DIM = 256
FULL_RANK_FRACTION = 0.25


@dataclass
class SVTState:
    """What SVT carries between IALM iterations."""

    sv: int = 10  # predicted number of singular values above the threshold
    V: Any = None  # right subspace of the last partial SVD (warm start)
    inner_iters: int = 0
    full_svds: int = 0
    partial_svds: int = 0


def _orth(xp: Any, A: Any) -> Any:  # noqa: N803
    q, _ = xp.linalg.qr(A)
    return q


def partial_svd(
    X: Any,  # noqa: N803
    k: int,
    *,
    xp: Any,
    W0: Any = None,  # noqa: N803
    oversample: int = 10,
    tol: float = 1e-10,
    max_iter: int = 50,
    seed: int = 0,
    tau: float | None = None,
) -> tuple[Any, Any, Any, Any, int]:
    """Leading ``k`` singular triplets of ``X`` by block subspace iteration.

    Parameters
    ----------
    X : (m, n) array
    k : int
        Number of triplets wanted.
    xp : module
        ``numpy`` or ``cupy``.
    W0 : (n, l0) array, optional
        Start subspace (warm start), padded with random columns up to ``l``.
    oversample : int
        Extra columns beyond ``k`` (speeds up convergence of the k-th triplet).
    tol : float
        Stop when ``max_i ‖Xᵀu_i − σ_i v_i‖ ≤ tol·σ_1`` over the first ``k`` triplets.
    max_iter : int
    seed : int
    tau : float, optional
        Only the triplets with ``σ_i > tau`` must converge (SVT discards the others);
        the block still holds ``k`` of them so that the count above ``tau`` is seen.

    Returns
    -------
    U : (m, k), s : (k,), V : (n, k), W : (n, l) subspace for the next warm start,
    iters : int
    """
    m, n = X.shape
    lmax = min(m, n)
    k = min(k, lmax)
    l = min(k + oversample, lmax)
    rs = xp.random.RandomState(seed)
    if W0 is None:
        W = rs.standard_normal((n, l)).astype(X.dtype)
    else:
        W = W0[:, :l]
        if W.shape[1] < l:
            pad = rs.standard_normal((n, l - W.shape[1])).astype(X.dtype)
            W = xp.concatenate([W, pad], axis=1)
    W = _orth(xp, W)
    U = s = V = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        Y = X @ W
        Uy, s, Zt = xp.linalg.svd(Y, full_matrices=False)
        V = W @ Zt.T
        U = Uy
        G = X.T @ U
        kk = k if tau is None else min(k, int((s[:k] > tau).sum()))
        R = G[:, : max(kk, 1)] - V[:, : max(kk, 1)] * s[: max(kk, 1)]
        res = float(xp.sqrt((R * R).sum(axis=0)).max())
        if tau is not None and kk == k and k < lmax:
            # Ritz values bound the singular values from below: sigma_k > tau for sure,
            # so the block is too small; the caller grows it (warm-started from W)
            W = G
            break
        # with nothing to keep, done once the top Ritz value is certainly below tau
        done = float(s[0]) + res <= tau if kk == 0 else res <= tol * float(s[0])
        if done or it == max_iter:
            break
        W = _orth(xp, G)
    return U[:, :k], s[:k], V[:, :k], V, it


def svt(
    X: Any,  # noqa: N803
    tau: float,
    state: SVTState,
    *,
    xp: Any,
    route: str = "auto",
    tol: float = 1e-10,
) -> tuple[Any, int]:
    """Singular value thresholding ``U diag(max(σ − τ, 0)) Vᵀ``.

    Returns the thresholded matrix and the number of singular values above ``tau``.
    Updates ``state`` (predicted rank and warm-start subspace).
    """
    m, n = X.shape
    dmin = min(m, n)
    use_full = route == "full" or (
        route == "auto" and (dmin <= FULL_MIN_DIM or state.sv > FULL_RANK_FRACTION * dmin)
    )
    if not use_full:
        k = max(1, min(state.sv, dmin))
        step = max(5, int(round(0.05 * dmin)))
        while True:
            U, s, V, W, iters = partial_svd(X, k, xp=xp, W0=state.V, tol=tol, tau=tau)
            state.inner_iters += iters
            state.partial_svds += 1
            state.V = W
            if float(s[-1]) <= tau or k >= dmin:
                break
            k = min(k + step, dmin)
            if route == "auto" and k > FULL_RANK_FRACTION * dmin:
                use_full = True
                break
        if not use_full:
            svp = int((s > tau).sum())
            Vt = V.T
    if use_full:
        U, s, Vt = xp.linalg.svd(X, full_matrices=False)
        state.full_svds += 1
        state.V = None
        svp = int((s > tau).sum())
    # rank prediction of the reference code (Lin, Chen & Ma 2010)
    if svp < state.sv:
        state.sv = min(svp + 1, dmin)
    else:
        state.sv = min(svp + max(1, int(round(0.05 * dmin))), dmin)
    if svp == 0:
        return xp.zeros_like(X), 0
    A = (U[:, :svp] * (s[:svp] - tau)) @ Vt[:svp]
    return xp.ascontiguousarray(A), svp


def spectral_norm(X: Any, *, xp: Any, tol: float = 1e-3) -> float:  # noqa: N803
    """Largest singular value of ``X`` (partial SVD for large matrices)."""
    m, n = X.shape
    if min(m, n) <= FULL_MIN_DIM:
        return float(xp.linalg.norm(X, 2))
    _, s, _, _, _ = partial_svd(X, 1, xp=xp, oversample=10, tol=tol, max_iter=100)
    return float(s[0])


def default_lambda(shape: tuple[int, int], observed: float = 1.0) -> float:
    """The universal PCP weight ``1/sqrt(max(m, n))`` (Candès et al. 2011).

    With a fraction ``observed`` of the entries seen, ``1/sqrt(observed · max(m, n))``:
    the spectral norm of a random sign pattern restricted to the observed entries
    scales as ``sqrt(observed · n)``, and the weight follows it (our choice; it keeps
    exact recovery at 30 % missing entries where the unscaled weight stalls at 1e-3).
    """
    return 1.0 / math.sqrt(observed * max(shape))


def subspace_svd(
    X: Any,  # noqa: N803
    V: Any,  # noqa: N803
    *,
    xp: Any,
    steps: int = 1,
    qr: Any = None,
) -> tuple[Any, Any, Any]:
    """Rank-``l`` truncated SVD of ``X`` by block subspace iteration from the start ``V``.

    ``steps`` power steps (each two m×n×l products), the last one with Rayleigh–Ritz
    extraction: ``Q = orth(X V)``, ``Xᵀ Q = Q_b R_b``, ``R_b = U_b Σ W_bᵀ``, so that
    ``Q Qᵀ X = (Q W_b) Σ (Q_b U_b)ᵀ`` exactly. With ``V`` the previous iteration's right
    vectors (a warm start), one step per outer iteration tracks a slowly changing
    ``X``: the error of the subspace shrinks by ``σ_{l+1}/σ_k`` per step (Halko,
    Martinsson & Tropp 2011, Alg. 4.4 with the start matrix replaced by the warm start).

    Parameters
    ----------
    X : (m, n) array
    V : (n, l) array
        Start subspace (need not be orthonormal); ``l ≤ min(m, n)``.
    xp : module
    steps : int
        Power steps (≥ 1).
    qr : callable, optional
        Thin QR of a tall matrix, ``qr(A) -> (Q, R)`` (default ``xp.linalg.qr``); the
        backends' kernel modules provide ``qr_tall``.

    Returns
    -------
    U : (m, l), s : (l,) descending, V : (n, l), all orthonormal columns.
    """
    qr = xp.linalg.qr if qr is None else qr
    for _ in range(max(0, steps - 1)):
        Q, _ = qr(X @ V)
        V, _ = qr(X.T @ Q)
    Q, _ = qr(X @ V)
    Qb, Rb = qr(X.T @ Q)
    Ub, s, Wbt = xp.linalg.svd(Rb)
    return Q @ Wbt.T, s, Qb @ Ub
