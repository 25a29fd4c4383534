"""Owner sources for the simulation: arrays, and seeded synthetic problems generated on
demand (any block of owners, in any order, with bounded memory).

A source has ``n``, ``d`` and ``rows(a, b) -> (X, y)`` returning owners ``a..b-1`` as
C-contiguous float64 arrays.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from solvers._errors import InvalidProblemError
from solvers._validation import as_array

#: synthetic owners are generated in blocks of this many rows, each from its own seeded
#: generator, so that any range of owners is reproducible on its own
GEN_BLOCK = 4096


class OwnerSource(Protocol):
    n: int
    d: int

    def rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]: ...


class ArraySource:
    """Owners given as arrays ``X`` (n, d) and ``y`` (n,) (a NumPy memmap works)."""

    def __init__(self, X: Any, y: Any) -> None:  # noqa: N803
        X = as_array(X, "X", ndim=2, finite=not isinstance(X, np.memmap))  # noqa: N806
        y = as_array(y, "y", ndim=1, finite=not isinstance(y, np.memmap))
        if X.shape[0] != y.shape[0]:
            raise InvalidProblemError(
                f"X has {X.shape[0]} rows (owners) but y has {y.shape[0]} entries; shapes "
                f"X {X.shape}, y {y.shape}",
                field="inputs.y",
            )
        self.X, self.y = X, y
        self.n, self.d = int(X.shape[0]), int(X.shape[1])

    def rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.ascontiguousarray(self.X[a:b], dtype=np.float64),
            np.ascontiguousarray(self.y[a:b], dtype=np.float64),
        )


def sparse_theta(d: int, k: int, *, seed: int = 0, norm: float = 1.0) -> np.ndarray:
    """A k-sparse θ with entries ``±norm/√k`` on a random support (``‖θ‖₂ = norm``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    theta = np.zeros(d)
    support = rng.choice(d, size=k, replace=False)
    theta[support] = rng.choice([-1.0, 1.0], size=k) * norm / math.sqrt(k)
    return theta


class SyntheticProblem:
    """Sparse linear model ``y = ⟨x, θ*⟩ + ζ`` with ``n`` owners, generated on demand.

    Parameters
    ----------
    n, d, k : int
    noise : float
        Standard deviation of ζ (Gaussian).
    design : {"isotropic", "toeplitz"}
        ``x ~ N(0, I)`` or ``x ~ N(0, Σ)`` with ``Σ_ij = rho^|i−j|`` (unit variances).
    rho : float
    seed : int
        Seeds θ* and every block of owners.
    theta : array_like, optional
        θ* (default :func:`sparse_theta` ``(d, k, seed=seed)``, ``‖θ*‖₂ = 1``).
    """

    def __init__(
        self,
        n: int,
        d: int,
        k: int,
        *,
        noise: float = 0.1,
        design: str = "isotropic",
        rho: float = 0.5,
        seed: int = 0,
        theta: Any = None,
    ) -> None:
        if n < 1 or d < 1 or not 1 <= k <= d:
            raise InvalidProblemError(f"need n >= 1 and 1 <= k <= d, got n={n}, d={d}, k={k}")
        if design not in ("isotropic", "toeplitz"):
            raise InvalidProblemError(f"design must be 'isotropic' or 'toeplitz', got {design!r}")
        self.n, self.d, self.k = int(n), int(d), int(k)
        self.noise = float(noise)
        self.design = design
        self.rho = float(rho)
        self.seed = int(seed)
        self.theta = (
            sparse_theta(d, k, seed=seed) if theta is None else np.asarray(theta, dtype=float)
        )
        self._chol = None
        if design == "toeplitz":
            idx = np.arange(d)
            self._chol = np.linalg.cholesky(self.rho ** np.abs(idx[:, None] - idx[None, :]))

    @property
    def support(self) -> np.ndarray:
        return np.flatnonzero(self.theta)

    @property
    def covariance(self) -> np.ndarray:
        if self._chol is None:
            return np.eye(self.d)
        return self._chol @ self._chol.T

    def _block(self, stream: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(stream, j)))
        X = rng.standard_normal((GEN_BLOCK, self.d))  # noqa: N806
        if self._chol is not None:
            X = X @ self._chol.T  # noqa: N806
        y = X @ self.theta + self.noise * rng.standard_normal(GEN_BLOCK)
        return X, y

    def _rows(self, stream: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        X = np.empty((b - a, self.d))  # noqa: N806
        y = np.empty(b - a)
        pos = a
        while pos < b:
            j, off = divmod(pos, GEN_BLOCK)
            take = min(GEN_BLOCK - off, b - pos)
            Xb, yb = self._block(stream, j)  # noqa: N806
            X[pos - a : pos - a + take] = Xb[off : off + take]
            y[pos - a : pos - a + take] = yb[off : off + take]
            pos += take
        return X, y

    def rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Owners ``a..b-1`` (the same values whatever the range asked)."""
        a, b = max(0, int(a)), min(self.n, int(b))
        return self._rows(1, a, b)

    def materialize(self) -> tuple[np.ndarray, np.ndarray]:
        """All owners as arrays ``(X, y)`` (for small n)."""
        return self.rows(0, self.n)

    def public_X(self, m: int) -> np.ndarray:  # noqa: N802
        """``m`` public unlabeled covariates from the same distribution (another stream)."""
        return self._rows(2, 0, int(m))[0]

    def error(self, theta: Any) -> float:
        """``‖θ − θ*‖₂``."""
        return float(np.linalg.norm(np.asarray(theta) - self.theta))

    def support_recovered(self, theta: Any) -> bool:
        """Whether the nonzeros of ``theta`` are exactly the support of θ*."""
        return set(np.flatnonzero(np.asarray(theta)).tolist()) == set(self.support.tolist())
