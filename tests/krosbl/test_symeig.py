"""The compiled small Hermitian eigensolver against LAPACK (``np.linalg.eigh``)."""

from __future__ import annotations

import numpy as np
import pytest

from solvers.krosbl._symeig import SMALL_MAX, SMALL_MAX_COMPLEX, eigh_pair, eigh_small


def _matrix(n: int, kind: str, cplx: bool, rng: np.random.Generator) -> np.ndarray:
    H = rng.standard_normal((n, 2 * n))  # noqa: N806
    if cplx:
        H = H + 1j * rng.standard_normal((n, 2 * n))  # noqa: N806
    if kind == "diag":  # already diagonal, with a repeated eigenvalue
        d = rng.random(n)
        d[1] = d[0]
        return np.diag(d).astype(H.dtype)
    g = {
        "random": lambda: rng.random(2 * n),
        # hyperparameters spread over 12 decades (EM near convergence)
        "graded": lambda: 10.0 ** (-12 * rng.random(2 * n)),
        # three large entries and a cluster of tiny ones (a sparse support)
        "cluster": lambda: np.r_[1e3 * np.ones(3), 1e-9 * np.ones(2 * n - 3)],
        "rank1": lambda: np.r_[1.0, np.zeros(2 * n - 1)],
        "zero": lambda: np.zeros(2 * n),
    }[kind]()
    C = (H * g) @ H.conj().T  # noqa: N806
    return (C + C.conj().T) / 2


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("kind", ["random", "graded", "cluster", "rank1", "zero", "diag"])
@pytest.mark.parametrize(
    "n", [2, 3, 5, 12, 20, SMALL_MAX_COMPLEX, SMALL_MAX_COMPLEX + 1, SMALL_MAX, SMALL_MAX + 3]
)
def test_matches_lapack(n: int, kind: str, cplx: bool) -> None:
    rng = np.random.default_rng(1000 * n + len(kind) + cplx)
    C = _matrix(n, kind, cplx, rng)  # noqa: N806
    w, U = eigh_small(C)  # noqa: N806
    w_ref, _ = np.linalg.eigh(C)
    scale = max(np.abs(C).max(), 1e-300)
    assert w.dtype == np.float64 and U.dtype == C.dtype and U.flags.c_contiguous
    assert np.all(np.diff(w) >= 0)  # ascending, as LAPACK
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(U.conj().T @ U, np.eye(n), rtol=0, atol=1e-13)
    np.testing.assert_allclose(U @ np.diag(w) @ U.conj().T, C, rtol=0, atol=1e-13 * scale)


def test_eigenvectors_match_lapack_up_to_phase() -> None:
    rng = np.random.default_rng(7)
    C = _matrix(20, "random", True, rng)  # noqa: N806 - well separated eigenvalues
    _, U = eigh_small(C)  # noqa: N806
    _, U_ref = np.linalg.eigh(C)  # noqa: N806
    overlap = np.abs(np.sum(U.conj() * U_ref, axis=0))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-10)


def test_tiny_and_huge_scales() -> None:
    rng = np.random.default_rng(3)
    C = _matrix(16, "random", False, rng)  # noqa: N806
    for s in (1e-200, 1e-30, 1e30, 1e200):
        w, U = eigh_small(C * s)  # noqa: N806
        w_ref = np.linalg.eigh(C)[0]
        np.testing.assert_allclose(w / s, w_ref, rtol=0, atol=1e-13 * np.abs(C).max())
        np.testing.assert_allclose(U.T @ U, np.eye(16), rtol=0, atol=1e-13)


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize(
    ("n1", "kind1", "n2", "kind2"),
    [
        (20, "random", 20, "random"),  # the M = 400 case: two 20 x 20 factors
        (8, "graded", 15, "cluster"),  # different orders: one QL finishes first
        (12, "rank1", 5, "diag"),  # early deflations on one side
        (3, "zero", 12, "random"),  # zero matrix: LAPACK fallback for both
        (20, "random", SMALL_MAX + 3, "graded"),  # one above the compiled range
        (2, "random", 2, "graded"),
    ],
)
def test_pair_equals_two_single_calls(n1: int, kind1: str, n2: int, kind2: str, cplx: bool):
    # the interleaved QL iterations of eigh_pair do, matrix by matrix, exactly what
    # eigh_small does: the same eigenpairs bit for bit (or the same fallback)
    rng = np.random.default_rng(n1 * 100 + n2 + cplx)
    C1, C2 = _matrix(n1, kind1, cplx, rng), _matrix(n2, kind2, cplx, rng)  # noqa: N806
    w1, U1, w2, U2 = eigh_pair(C1, C2)  # noqa: N806
    for w, U, C in ((w1, U1, C1), (w2, U2, C2)):  # noqa: N806
        w_ref, U_ref = eigh_small(C)  # noqa: N806
        np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(U, U_ref)
        scale = max(np.abs(C).max(), 1e-300)
        np.testing.assert_allclose(w, np.linalg.eigh(C)[0], rtol=0, atol=1e-13 * scale)
