"""Baselines for the LDP protocols (CPU): what one could do without privacy, and the
naive LDP approach.

* :func:`lasso` — non-private Lasso on the raw data (coordinate descent on the Gram
  matrix, streamed over the owners);
* :func:`iht` — non-private iterative hard thresholding (k-sparse least squares);
* :func:`naive_ldp` — every owner adds Laplace noise to its clipped ``x`` and ``y``
  (pure ε-LDP), the server runs the Lasso on the noisy data. The noise in ``x`` inflates
  the Gram matrix's diagonal by ``2b²`` and biases the Lasso towards zero (an
  errors-in-variables problem the naive approach ignores), which is why the protocols
  privatize sufficient statistics instead.

All three return :class:`~solvers.ldp.solver.LdpResult` (``epsilon = inf`` for the
non-private ones).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from solvers._config import njit
from solvers._errors import InvalidProblemError

from .estimators import iht_quadratic
from .problems import ArraySource
from .randomizers import default_bounds
from .simulate import block_generator

CHUNK = 65536


@njit
def lasso_cd(G, c, lam, theta, max_sweeps, tol):  # noqa: ANN001, ANN201, N803
    """Coordinate descent for ``½ θᵀGθ − cᵀθ + λ‖θ‖₁`` (G symmetric PSD); in place.

    Returns the number of sweeps. Stops when the largest coordinate change of a sweep is
    below ``tol × max(1, max|θ|)``.
    """
    d = c.shape[0]
    grad = G @ theta - c
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):  # noqa: B007
        biggest = 0.0
        for j in range(d):
            gjj = G[j, j]
            if gjj <= 0.0:
                continue
            old = theta[j]
            z = old - grad[j] / gjj
            thr = lam / gjj
            new = z - thr if z > thr else (z + thr if z < -thr else 0.0)
            delta = new - old
            if delta != 0.0:
                theta[j] = new
                for i in range(d):
                    grad[i] += G[i, j] * delta
                biggest = max(biggest, abs(delta))
        scale = 1.0
        for j in range(d):
            scale = max(scale, abs(theta[j]))
        if biggest <= tol * scale:
            break
    return sweeps


def _source(X: Any, y: Any) -> Any:  # noqa: N803
    return X if y is None and hasattr(X, "rows") else ArraySource(X, y)


def gram(X: Any, y: Any = None, *, chunk: int = CHUNK) -> tuple[np.ndarray, np.ndarray, float, int]:  # noqa: N803
    """``(XᵀX/n, Xᵀy/n, yᵀy/n, n)`` streamed over the owners."""
    src = _source(X, y)
    G = np.zeros((src.d, src.d))  # noqa: N806
    c = np.zeros(src.d)
    yy = 0.0
    for a in range(0, src.n, chunk):
        Xc, yc = src.rows(a, min(src.n, a + chunk))  # noqa: N806
        G += Xc.T @ Xc
        c += Xc.T @ yc
        yy += float(yc @ yc)
    return G / src.n, c / src.n, yy / src.n, src.n


def _lasso_lambda(G: np.ndarray, c: np.ndarray, yy: float, n: int) -> float:  # noqa: N803
    """``σ̂ √(2 ln(2d)/n)`` with σ̂ from the least-squares residual (ridge 1e-8)."""
    d = c.shape[0]
    th = np.linalg.solve(G + 1e-8 * np.trace(G) / d * np.eye(d), c)
    sigma2 = max(yy - 2.0 * th @ c + th @ G @ th, 0.0) * n / max(n - d, 1)
    return math.sqrt(sigma2) * math.sqrt(2.0 * math.log(2.0 * d) / n)


def _result(theta: np.ndarray, name: str, n: int, t0: float, **info: Any) -> Any:
    from .solver import LdpResult

    eps = info.pop("epsilon", math.inf)
    return LdpResult(
        theta=theta,
        support=np.flatnonzero(theta).astype(np.int64),
        epsilon=eps,
        delta=0.0,
        protocol=name,
        mechanism=info.pop("mechanism", "none"),
        estimator=info.pop("estimator", name),
        n_owners=n,
        noise=info.pop("noise", {}),
        bounds=info.pop("bounds", {}),
        info={"baseline": name, **info},
        elapsed=time.perf_counter() - t0,
        converged=True,
    )


def lasso_from_gram(
    G: np.ndarray,  # noqa: N803
    c: np.ndarray,
    lam: float,
    *,
    max_sweeps: int = 10000,
    tol: float = 1e-10,
) -> tuple[np.ndarray, int]:
    """Lasso solution on the Gram matrix; returns ``(theta, sweeps)``."""
    theta = np.zeros(c.shape[0])
    sweeps = lasso_cd(
        np.ascontiguousarray(G), np.ascontiguousarray(c), float(lam), theta, max_sweeps, tol
    )
    return theta, int(sweeps)


def lasso(X: Any, y: Any = None, *, lam: float | None = None, k: int | None = None) -> Any:  # noqa: N803
    """Non-private Lasso on the raw data (the best one could do without privacy).

    Parameters
    ----------
    X, y : arrays (n, d), (n,), or an owner source (``y=None``)
    lam : float, optional
        ℓ1 weight of ``(1/2n)‖y − Xθ‖² + λ‖θ‖₁`` (default ``σ̂√(2 ln(2d)/n)``).
    k : int, optional
        Keep only the k largest entries of the solution.

    References
    ----------
    .. [1] R. Tibshirani, "Regression shrinkage and selection via the lasso", JRSS-B 58(1),
       1996.
    """
    t0 = time.perf_counter()
    G, c, yy, n = gram(X, y)  # noqa: N806
    lam = _lasso_lambda(G, c, yy, n) if lam is None else float(lam)
    theta, sweeps = lasso_from_gram(G, c, lam)
    if k is not None:
        from .estimators import hard_threshold

        theta = hard_threshold(theta, k)
    return _result(theta, "lasso", n, t0, lam=lam, sweeps=sweeps)


def iht(X: Any, y: Any = None, *, k: int) -> Any:  # noqa: N803
    """Non-private iterative hard thresholding (k-sparse least squares).

    References
    ----------
    .. [1] T. Blumensath, M. E. Davies, "Iterative hard thresholding for compressed
       sensing", ACHA 27(3), 2009.
    """
    t0 = time.perf_counter()
    G, c, _, n = gram(X, y)  # noqa: N806
    if not 1 <= k <= c.shape[0]:
        raise InvalidProblemError(f"k = {k} must be in [1, d = {c.shape[0]}]", field="params.k")
    theta, _, info = iht_quadratic(G, c, k=k, min_eig=1e-12, theta_bound=None)
    return _result(np.asarray(theta), "iht", n, t0, iterations=info["iht_iterations"])


def naive_ldp(
    X: Any,  # noqa: N803
    y: Any = None,
    *,
    k: int | None = None,
    epsilon: float,
    tau_x: float | None = None,
    tau_y: float | None = None,
    lam: float | None = None,
    seed: int | None = None,
) -> Any:
    """The naive LDP approach: Laplace noise on each owner's clipped ``x`` and ``y``,
    then the Lasso on the noisy data.

    **Privacy.** Each owner releases ``(clip(x, τx), clip(y, τy)) + Laplace(b)`` per
    coordinate with ``b = 2(d τx + τy)/ε``: the ℓ1 sensitivity of the clipped record is
    ``2(d τx + τy)``, so the release is ε-LDP.

    Parameters
    ----------
    k : int, optional
        Keep the k largest entries of the Lasso solution.
    tau_x, tau_y : float, optional
        Default :func:`randomizers.default_bounds` ``(n, d)``.

    References
    ----------
    .. [1] J. C. Duchi, M. I. Jordan, M. J. Wainwright, "Local privacy and statistical
       minimax rates", FOCS 2013 (the Laplace mechanism in the local model).
    """
    t0 = time.perf_counter()
    src = _source(X, y)
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidProblemError(f"epsilon must be > 0, got {epsilon}", field="params.epsilon")
    dflt = default_bounds(src.n, src.d)
    tx = dflt.tau_x if tau_x is None else float(tau_x)
    ty = dflt.tau_y if tau_y is None else float(tau_y)
    b = 2.0 * (src.d * tx + ty) / epsilon
    entropy = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
    G = np.zeros((src.d, src.d))  # noqa: N806
    c = np.zeros(src.d)
    yy = 0.0
    for j, a in enumerate(range(0, src.n, CHUNK)):
        Xc, yc = src.rows(a, min(src.n, a + CHUNK))  # noqa: N806
        gen = block_generator(entropy, 7, j)
        Xn = np.clip(Xc, -tx, tx) + gen.laplace(0.0, b, Xc.shape)  # noqa: N806
        yn = np.clip(yc, -ty, ty) + gen.laplace(0.0, b, yc.shape)
        G += Xn.T @ Xn
        c += Xn.T @ yn
        yy += float(yn @ yn)
    G /= src.n  # noqa: N806
    c /= src.n
    yy /= src.n
    lam = _lasso_lambda(G, c, yy, src.n) if lam is None else float(lam)
    theta, sweeps = lasso_from_gram(G, c, lam)
    if k is not None:
        from .estimators import hard_threshold

        theta = hard_threshold(theta, k)
    return _result(
        theta,
        "naive_ldp",
        src.n,
        t0,
        epsilon=float(epsilon),
        mechanism="laplace",
        estimator="lasso",
        lam=lam,
        sweeps=sweeps,
        laplace_scale=b,
        bounds={"tau_x": tx, "tau_y": ty},
        noise={"xy": {"mechanism": "laplace", "epsilon": float(epsilon), "scale": b}},
    )
