"""Greedy baselines on a Kronecker dictionary: OMP and Kronecker-OMP.

Both find correlations ``Aᴴ r`` by mode products (:func:`~solvers.krosbl.kron_matvec`),
so the M × N dictionary is never formed; only the selected columns are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._errors import InvalidProblemError
from solvers._result import SolverResult

from ._kron import kron_matvec, kron_vec


@dataclass(kw_only=True)
class OMPResult(SolverResult):
    """Result of :func:`omp`.

    Attributes
    ----------
    x : ndarray, shape (N,) or (N, T)
    support : ndarray of int
        Selected atoms (flat indices, sorted).
    factor_support : list of ndarrays or None
        Kronecker-OMP only: the per-mode atom sets.
    residuals : ndarray
        ``‖r‖_F / ‖y‖_F`` after each step.
    """

    x: np.ndarray
    support: np.ndarray
    factor_support: list[np.ndarray] | None = None


def omp(
    y: Any,
    H: Any,  # noqa: N803
    *,
    kronecker: bool = False,
    noise_var: float | None = None,
    tol: float = 1e-6,
    max_atoms: int | None = None,
) -> OMPResult:
    """Orthogonal matching pursuit on ``kron(H[0], ..., H[K-1])`` (CPU, NumPy).

    Parameters
    ----------
    y : (M,) or (M, T) array_like
        Measurements (simultaneous OMP when T > 1: atoms scored by ``Σ_t |a_iᴴ r_t|²``).
    H : sequence of (M_k, N_k) arrays
        Kronecker factors.
    kronecker : bool
        False: plain OMP, one atom per step, least squares on the selected columns.
        True: Kronecker-OMP (Caiafa & Cichocki 2013): the best atom's index in every
        mode joins that mode's set ``S_k`` and the least-squares fit is over the whole
        Kronecker support ``S_1 × ... × S_K`` (solved as ``⊗ pinv(H_k[:, S_k]) y``).
    noise_var : float, optional
        Stop when ``‖r‖² ≤ M T σ²`` (the noise level); otherwise when
        ``‖r‖/‖y‖ ≤ tol``.
    tol : float
    max_atoms : int, optional
        Plain OMP: at most this many atoms (default ``M // 2``); Kronecker-OMP: at most
        this many per mode (default ``min(10, M_k)``).

    References
    ----------
    .. [1] Y. C. Pati, R. Rezaiifar, P. S. Krishnaprasad, "Orthogonal matching pursuit",
       Asilomar 1993.
    .. [2] C. F. Caiafa, A. Cichocki, "Computing sparse representations of
       multidimensional signals using Kronecker bases", Neural Computation 25(1), 2013.
    """
    from solvers._validation import as_array

    t0 = time.perf_counter()
    if not isinstance(H, (list, tuple)):
        H = [H]  # noqa: N806
    Hs = [as_array(h, f"H[{k}]", ndim=2, dtype="numeric") for k, h in enumerate(H)]  # noqa: N806
    y_arr = as_array(y, "y", ndim=(1, 2), dtype="numeric")
    M = int(np.prod([h.shape[0] for h in Hs]))  # noqa: N806
    if y_arr.shape[0] != M:
        raise InvalidProblemError(
            f"input 'y' has shape {y_arr.shape}, the factors give M = {M}", field="inputs.y"
        )
    vector = y_arr.ndim == 1
    Y = y_arr.reshape(M, -1)  # noqa: N806
    dt = np.result_type(Y, *Hs, np.float64)
    Y = Y.astype(dt)  # noqa: N806
    Hs = [h.astype(dt) for h in Hs]  # noqa: N806
    Ns = [h.shape[1] for h in Hs]  # noqa: N806
    N = int(np.prod(Ns))  # noqa: N806
    T = Y.shape[1]  # noqa: N806
    HhT = [np.ascontiguousarray(h.conj().T) for h in Hs]  # noqa: N806
    colnorm2 = kron_vec([(np.abs(h) ** 2).sum(axis=0) for h in Hs])
    colnorm2 = np.maximum(colnorm2, 1e-300)
    ynorm = float(np.linalg.norm(Y))
    stop2 = M * T * noise_var if noise_var is not None else (tol * ynorm) ** 2
    R = Y.copy()  # noqa: N806
    residuals: list[float] = []
    if kronecker:
        cap = [min(max_atoms or 10, m) for m in (h.shape[0] for h in Hs)]
        sets: list[list[int]] = [[] for _ in Hs]
        xs = None
        it = 0
        while True:
            it += 1
            score = (np.abs(kron_matvec(HhT, R)) ** 2).sum(axis=1) / colnorm2
            multi = np.unravel_index(int(np.argmax(score)), Ns)
            grew = False
            for k, i in enumerate(multi):
                if int(i) not in sets[k] and len(sets[k]) < cap[k]:
                    sets[k].append(int(i))
                    grew = True
            if not grew:
                break
            sub = [h[:, sorted(s)] for h, s in zip(Hs, sets)]
            xs = kron_matvec([np.linalg.pinv(a) for a in sub], Y)
            R = Y - kron_matvec(sub, xs)  # noqa: N806
            r2 = float(np.vdot(R, R).real)
            residuals.append(np.sqrt(r2) / ynorm)
            if r2 <= stop2:
                break
        fsupp = [np.array(sorted(s), dtype=np.int64) for s in sets]
        flat = fsupp[0]
        for s, n in zip(fsupp[1:], Ns[1:]):
            flat = (flat[:, None] * n + s[None, :]).ravel()
        X = np.zeros((N, T), dtype=dt)  # noqa: N806
        if xs is not None:
            X[flat] = xs
        support = np.sort(flat)
    else:
        cap_atoms = min(max_atoms or max(1, M // 2), N, M)
        chosen: list[int] = []
        cols: list[np.ndarray] = []
        coef = np.zeros((0, T), dtype=dt)
        it = 0
        while len(chosen) < cap_atoms:
            it += 1
            score = (np.abs(kron_matvec(HhT, R)) ** 2).sum(axis=1) / colnorm2
            score[chosen] = -1.0
            i = int(np.argmax(score))
            chosen.append(i)
            multi = np.unravel_index(i, Ns)
            cols.append(kron_vec([h[:, j] for h, j in zip(Hs, multi)]))
            A = np.stack(cols, axis=1)  # noqa: N806
            coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
            R = Y - A @ coef  # noqa: N806
            r2 = float(np.vdot(R, R).real)
            residuals.append(np.sqrt(r2) / ynorm)
            if r2 <= stop2:
                break
        X = np.zeros((N, T), dtype=dt)  # noqa: N806
        X[chosen] = coef
        support = np.sort(np.asarray(chosen, dtype=np.int64))
        fsupp = None
    return OMPResult(
        x=X[:, 0] if vector else X,
        support=support,
        factor_support=fsupp,
        n_iter=it,
        converged=True,
        residuals=np.asarray(residuals),
        elapsed=time.perf_counter() - t0,
        backend="cpu",
    )
