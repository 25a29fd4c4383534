"""Synthetic Kronecker-supported sparse recovery problems and their metrics.

The generator follows the paper's synthetic setup (He & Joseph 2024, Sec. VI; the
authors' ``KroSBL_f/Configuration.m``): i.i.d. N(0, 1) factors ``H_k``, a sparse vector
``x = x_1 ⊗ ... ⊗ x_K`` with ``s_k`` nonzeros in each ``x_k``, and white noise at
``SNR = (‖H x‖² / M) / σ²``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._kron import kron_matvec, kron_vec


@dataclass
class KroneckerProblem:
    """A synthetic problem with its ground truth.

    Attributes
    ----------
    y : (M,) or (M, T) ndarray
    H : list of (M_k, N_k) ndarrays
    x : (N,) or (N, T) ndarray
        The true sparse vector(s).
    factor_support : list of ndarrays
        True support of each factor (sorted indices).
    support : ndarray
        True support of x (flat indices, sorted).
    noise_var : float
        σ² used (0 when noiseless).
    snr : float or None
    """

    y: np.ndarray
    H: list[np.ndarray]
    x: np.ndarray
    factor_support: list[np.ndarray]
    support: np.ndarray
    noise_var: float
    snr: float | None


def kronecker_problem(
    shapes: Sequence[tuple[int, int]],
    sparsity: Sequence[int],
    *,
    snr: float | None = 30.0,
    snapshots: int | None = None,
    complex: bool = False,  # noqa: A002 - the natural name
    amplitudes: str = "gaussian",
    dtype: type = np.float64,
    seed: int | None = None,
) -> KroneckerProblem:
    """Draw ``y = kron(H) x + n`` with a Kronecker-supported ``x``.

    Parameters
    ----------
    shapes : sequence of (M_k, N_k)
        Factor shapes.
    sparsity : sequence of int
        Nonzeros per factor ``s_k`` (``|supp x| = Π s_k``).
    snr : float or None
        dB, ``(‖H x‖²/M) / σ²``; None for noiseless.
    snapshots : int, optional
        ``T`` columns sharing the support (each column ``x_1 ⊗ ... ⊗ x_K`` with fresh
        amplitudes on the same per-factor supports); None gives 1-D ``y`` and ``x``.
    complex : bool
        Complex Gaussian factors, amplitudes and noise (circular).
    amplitudes : {"gaussian", "bounded"}
        Nonzeros of each ``x_k``: N(0, 1) (the paper's choice) or random sign/phase
        times a magnitude uniform in [0.5, 1.5] (bounded away from zero, so that exact
        support recovery is a fair test).
    dtype : float64 or float32
        Real precision of the returned arrays (complex64/128 when ``complex``).
    seed : int, optional
    """
    rng = np.random.default_rng(seed)
    K = len(shapes)  # noqa: N806
    if len(sparsity) != K:
        raise ValueError("sparsity needs one entry per factor")
    T = 1 if snapshots is None else int(snapshots)  # noqa: N806

    def randn(*shape: int) -> np.ndarray:
        if complex:
            return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
        return rng.standard_normal(shape)

    def amp(n: int) -> np.ndarray:
        if amplitudes == "gaussian":
            return randn(n)
        mag = rng.uniform(0.5, 1.5, n)
        if complex:
            return mag * np.exp(2j * np.pi * rng.random(n))
        return mag * rng.choice([-1.0, 1.0], n)

    H = [randn(m, n) for m, n in shapes]  # noqa: N806
    supports = [np.sort(rng.choice(n, s, replace=False)) for (_, n), s in zip(shapes, sparsity)]
    N = int(np.prod([n for _, n in shapes]))  # noqa: N806
    X = np.zeros((N, T), dtype=np.complex128 if complex else np.float64)  # noqa: N806
    for t in range(T):
        parts = []
        for (_, n), S in zip(shapes, supports):  # noqa: N806
            v = np.zeros(n, dtype=X.dtype)
            v[S] = amp(S.size)
            parts.append(v)
        X[:, t] = kron_vec(parts)
    Y0 = kron_matvec(H, X)  # noqa: N806
    M = Y0.shape[0]  # noqa: N806
    if snr is None:
        sigma2 = 0.0
        Y = Y0  # noqa: N806
    else:
        sigma2 = float(np.vdot(Y0, Y0).real / (M * T) / 10 ** (snr / 10))
        Y = Y0 + np.sqrt(sigma2) * randn(M, T)  # noqa: N806
    flat = supports[0]
    for S, (_, n) in zip(supports[1:], shapes[1:]):  # noqa: N806
        flat = (flat[:, None] * n + S[None, :]).ravel()
    cdt = np.result_type(dtype, np.complex64) if complex else np.dtype(dtype)
    H = [h.astype(cdt) for h in H]  # noqa: N806
    Y = Y.astype(cdt)  # noqa: N806
    X = X.astype(cdt)  # noqa: N806
    if snapshots is None:
        Y, X = Y[:, 0], X[:, 0]  # noqa: N806
    return KroneckerProblem(
        y=Y,
        H=H,
        x=X,
        factor_support=supports,
        support=np.sort(flat),
        noise_var=sigma2,
        snr=snr,
    )


def nmse(x_hat: np.ndarray, x: np.ndarray) -> float:
    """Normalised squared error ``‖x̂ − x‖² / ‖x‖²`` (linear; ``10 log10`` for dB)."""
    x_hat = np.asarray(x_hat)
    x = np.asarray(x)
    return float(np.vdot(x_hat - x, x_hat - x).real / np.vdot(x, x).real)


def nmse_db(x_hat: np.ndarray, x: np.ndarray) -> float:
    """:func:`nmse` in dB."""
    return 10.0 * np.log10(max(nmse(x_hat, x), 1e-300))


def support_of(x_hat: np.ndarray, rel: float = 1e-3) -> np.ndarray:
    """``{i : |x̂_i| > rel · max |x̂|}`` (rows of a multi-snapshot x̂ by their norm)."""
    a = np.abs(np.asarray(x_hat))
    if a.ndim == 2:
        a = np.sqrt((a**2).sum(axis=1))
    return np.flatnonzero(a > rel * a.max()) if a.max() > 0 else np.zeros(0, dtype=np.int64)


def support_recovery_rate(est: np.ndarray, true: np.ndarray) -> float:
    """The paper's support recovery rate ``|Ŝ ∩ S| / |Ŝ ∪ S|`` of two index sets."""
    a, b = set(np.asarray(est).tolist()), set(np.asarray(true).tolist())
    union = a | b
    return len(a & b) / len(union) if union else 1.0
