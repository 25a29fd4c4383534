"""Robust PCA by non-convex alternating projections (AltProj), with missing data.

Alternates a rank-k projection of ``M − S`` and a hard-thresholding projection of
``M − L`` (Netrapalli, Niranjan, Sanghavi, Anandkumar & Jain 2014), written once
against ``backend.xp``:

* **Projections.** The rank-k projection is a warm-started block subspace iteration
  (:func:`solvers.rpca._svd.subspace_svd`): one power step (two m×n×l products,
  l = k + ``oversample``) per iteration, never a full SVD. The sparse projection
  ``S = H_ζ(M − L)`` and the next SVD input ``X = M − S`` are one fused pass (kernel
  ``hard_threshold_update``) that also returns the residual.
* **Threshold.** The paper's schedule ``ζ_t = β (σ_{k+1}(X) + γ^t σ_k(X))`` with
  ``γ = 1/2``; initial ``ζ = 4β σ_1(M)`` (Cai, Cai & Wei's AccAltProj start). ``β``
  is ``min(2 ‖U_k‖_max ‖V_k‖_max, 1/(2 (mn)^{1/4}))``: the paper's β is
  ``μ r/√(mn)``-like (an entrywise bound of the next low-rank component per unit of
  σ_{k+1}); we bound it from the current singular vectors and cap it by the constant
  of the AccAltProj code. The cap is what random incoherent test matrices get; the
  coherence bound takes over for flat, very incoherent parts such as video
  backgrounds, where the constant puts the floor ``β σ_{k+1}`` above the contrast of
  the moving objects (background error 7 % instead of 1e-4 on our synthetic video).
* **Stages.** As in the paper, the rank grows in stages, also when it is known. A
  stage ends when its threshold has reached the floor (``γ^t σ_k ≤ σ_{k+1}``) and the
  residual fell by less than ``STAGE_STALL`` over two iterations; the rank then grows
  to the number of singular values of ``X`` above ``max(1.5 σ̂ √p (√m + √n),
  0.01 σ_1)`` — the noise edge of a matrix of i.i.d. entries of size σ̂ (σ̂ = 1.4826 ×
  the median absolute residual, robust to the outliers) — by one at least when the
  rank is known (the paper grows by exactly one: r stages). With ``rank=None`` the
  rank is final when nothing new is above the edge.
* **Missing data** (mask Ω): ``S`` lives on Ω and the SVD input takes the current
  low-rank estimate in the holes, ``X = P_Ω(M − S) + P_Ω^c(L)`` (the EM / hard-impute
  fill-in, a unit step; kernel ``hard_threshold_update_masked``). The fill-in
  converges more slowly than the fully observed iteration, so the threshold's
  transient decays more slowly: ``γ = max(γ, (1 − p)^{1/3})`` (p = observed
  fraction). With γ = 1/2 the threshold outran L at 30–60 % missing and S absorbed
  part of L for good (rel. error of L 2e-2 to 4e-1 with ``tol`` met); with
  ``√(1 − p)`` a 300×250 rank-8 problem at 30 % missing still failed.
* **Guard.** From the third iteration of a stage on, ``ζ ≥ max|L_t − L_{t−1}|`` (the
  previous iteration's largest change of L, returned by the fused kernel): a
  threshold below the error L still has lets S absorb that error for good, and the
  residual test is then met with a wrong L (rel. error 5e-3 on a fully observed
  200×200 rank-10 problem, 2e-2 to 5e-2 on 150×120 rank-4 with 20 % missing).
* **Stopping.** ``‖P_Ω(M − L − S)‖_F / ‖P_Ω M‖_F ≤ tol``, or, at the final rank and
  with the threshold at its floor, less than 1 % progress over 5 iterations (noisy
  data: ``info["stop"] = "stagnation"``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from solvers._backend import Backend
from solvers._progress import Callback, Progress

from ._svd import subspace_svd
from .params import RPCAParams

#: a stage is over when its residual fell by less than this factor over two iterations
STAGE_STALL = 0.7
#: with the rank fixed, stop when 5 iterations gained less than this fraction
FINAL_STALL = 0.01
#: noise-edge multiple above which a singular value counts as signal (rank estimation)
EDGE_FACTOR = 1.5
#: ... and above this fraction of σ_1 (smaller components are not counted)
RANK_TOL = 1e-2
#: the data-driven threshold constant is this multiple of ‖U_k‖_max ‖V_k‖_max
BETA_COHERENCE = 2.0
#: entries sampled for the median absolute residual (noise level)
MAD_SAMPLE = 1 << 20


def default_beta(shape: tuple[int, int]) -> float:
    """``1/(2 (m n)^{1/4})``: the threshold constant of Cai, Cai & Wei's AccAltProj code."""
    m, n = shape
    return 1.0 / (2.0 * (float(m) * float(n)) ** 0.25)


def altproj(
    M: np.ndarray,  # noqa: N803
    mask: np.ndarray | None,
    params: RPCAParams,
    be: Backend,
    callback: Callback | None,
) -> Any:
    """Run AltProj on validated inputs (see :func:`solvers.rpca.rpca`)."""
    from .solver import RPCAResult

    t0 = time.perf_counter()
    xp = be.xp
    kern = be.kernels("rpca")
    dtype = M.dtype if M.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    m, n = M.shape
    dmin = min(m, n)
    D = xp.ascontiguousarray(be.asarray(M, dtype=dtype))
    W = None
    n_obs = m * n
    if mask is not None:
        W = xp.ascontiguousarray(be.asarray(mask, dtype=np.uint8))
        D = xp.where(W != 0, D, dtype.type(0))
        n_obs = int(np.count_nonzero(mask))
    p_obs = n_obs / (m * n)
    beta = params.beta if params.beta is not None else default_beta((m, n))
    # with missing entries the fill-in converges more slowly; a threshold that decays
    # faster than L converges lets S absorb the not-yet-converged part of L for good
    gamma = max(params.gamma, (1.0 - p_obs) ** (1.0 / 3.0))
    tol = params.tol
    prog = Progress(callback, max_iter=params.maxiter)
    d_norm = float(xp.linalg.norm(D))
    if d_norm == 0.0:
        zeros = np.zeros((m, n), dtype=dtype)
        return RPCAResult(
            L=zeros, S=zeros.copy(), n_iter=0, converged=True, residuals=np.zeros(0),
            elapsed=time.perf_counter() - t0, backend=be.name, rank=0, lam=math.nan,
            method="altproj", info={"stop": "zero input"},
        )  # fmt: skip

    def threshold(zeta: float) -> tuple[float, int, float]:
        """``X`` holds the new L on entry: S = H_ζ(D − L), X = D − S, L updated."""
        z = dtype.type(zeta)
        if W is None:
            r2, nnz, dl = kern.hard_threshold_update(D, X, L, z, S)
        else:
            r2, nnz, dl = kern.hard_threshold_update_masked(D, X, L, W, z, S)
        return float(r2), int(nnz), float(dl)

    rng = np.random.default_rng(params.seed)
    estimate = params.rank is None
    target = dmin if estimate else min(params.rank, dmin)
    k = 1  # stages of growing rank, as in the paper, also when the rank is known
    final = k >= target and not estimate

    adaptive = params.beta is None
    beta_max = beta

    def coherence(Q: Any) -> float:  # noqa: N803
        return float(xp.max(xp.abs(Q)))

    def robust_sigma() -> float:
        """1.4826 × median |M − L| over (a sample of ≤ 2^20) observed entries."""
        size = m * n
        if size > MAD_SAMPLE:
            idx = be.asarray(rng.integers(0, size, size=MAD_SAMPLE))
            r = D.ravel()[idx] - L.ravel()[idx]
            if W is not None:
                r = r[W.ravel()[idx] != 0]
        else:
            r = (D - L).ravel() if W is None else (D - L)[W != 0]
        return 1.4826 * float(xp.median(xp.abs(r))) if r.size else 0.0

    def block(k: int) -> int:
        return min(k + params.oversample, dmin)

    def start(n_cols: int) -> Any:
        return be.asarray(rng.standard_normal((n, n_cols)), dtype=dtype)

    # initialisation: S = H_{4β σ1(M)}(M), X = M − S (Cai, Cai & Wei's start)
    V = start(block(k))
    U, s, V = subspace_svd(D, V, xp=xp, steps=2, qr=kern.qr_tall)
    if adaptive:
        beta = min(BETA_COHERENCE * coherence(U[:, :1]) * coherence(V[:, :1]), beta_max)
    L = xp.zeros_like(D)
    S = xp.empty_like(D)
    X = xp.zeros_like(D)
    zeta = 4.0 * beta * float(s[0])
    threshold(zeta)

    residuals: list[float] = []
    stages: list[dict[str, Any]] = []
    converged = False
    stop = "maxiter"
    t_stage = 0  # iterations in the current stage (the exponent of gamma)
    steps = 2  # power steps of the next subspace iteration (2 at a stage's start)
    nnz = 0
    it = 0
    dl = 0.0  # max |L_t − L_{t−1}| of the last iteration
    for it in range(1, params.maxiter + 1):  # noqa: B007
        t_stage += 1
        U, s, V = subspace_svd(X, V, xp=xp, steps=steps, qr=kern.qr_tall)
        steps = 1
        s_host = be.to_host(s)
        sk = float(s_host[k - 1])
        sk1 = float(s_host[k]) if k < s_host.size else 0.0
        xp.matmul(U[:, :k] * s[:k], V[:, :k].T, out=X)  # X := the new L
        if adaptive:
            beta = min(BETA_COHERENCE * coherence(U[:, :k]) * coherence(V[:, :k]), beta_max)
        geo = gamma**t_stage * sk
        zeta = beta * (sk1 + geo)
        if t_stage >= 3:
            # never threshold below the last change of L: while L still moves by δ,
            # an entry of D − L within δ may be L's own error, not a corruption
            zeta = max(zeta, dl)
        r2, nnz, dl = threshold(zeta)
        res = math.sqrt(max(r2, 0.0)) / d_norm
        residuals.append(res)
        cancel = prog.report(it, residual=res, rank=k, zeta=zeta, nnz_S=nnz)
        if res <= tol:
            converged, stop = True, "tol"
            break
        if cancel:
            stop = "cancelled"
            break
        floor_reached = geo <= sk1
        if not final:
            if floor_reached and t_stage >= 3 and res > STAGE_STALL * residuals[-3]:
                # the rank-k fit has stalled: grow the rank by the singular values of X
                # above the noise edge of the residual (by one at least when the rank
                # is known; the rank is final when nothing is above the edge)
                sigma = robust_sigma()
                edge = EDGE_FACTOR * sigma * math.sqrt(p_obs) * (math.sqrt(m) + math.sqrt(n))
                edge = max(edge, RANK_TOL * float(s_host[0]))
                above = int((s_host > edge).sum())
                stages.append({"iteration": it, "rank": k, "edge": edge, "above": above})
                if estimate:
                    k_new = min(above, target) if above > k else k
                else:
                    k_new = min(max(above, k + 1), target)
                if k_new > k:
                    l_new = block(k_new)
                    if l_new > V.shape[1]:
                        V = xp.concatenate([V, start(l_new - V.shape[1])], axis=1)
                    k, t_stage, steps = k_new, 0, 2
                    final = k >= target
                else:
                    final = True
            continue
        if floor_reached and t_stage > 5 and res > (1.0 - FINAL_STALL) * min(residuals[-6:-1]):
            converged, stop = True, "stagnation"
            break
    be.synchronize()
    return RPCAResult(
        L=be.to_host(L),
        S=be.to_host(S),
        n_iter=it,
        converged=converged,
        residuals=np.asarray(residuals),
        cancelled=prog.cancelled and not converged,
        elapsed=time.perf_counter() - t0,
        backend=be.name,
        rank=k,
        lam=math.nan,
        method="altproj",
        info={
            "stop": stop,
            "beta": beta,
            "gamma": gamma,
            "zeta": zeta,
            "nnz_S": nnz,
            "last_change_L": dl,
            "observed_fraction": p_obs,
            "rank_estimated": params.rank is None,
            "stages": stages,
        },
    )
