import numpy as np
import pytest

import solvers
from solvers import InvalidProblemError
from solvers.rpca import low_rank_plus_sparse, rpca
from solvers.rpca._kernels_numba import (
    dual_update,
    shrink_shift,
    soft_threshold,
    soft_threshold_reference,
)
from solvers.rpca._svd import SVTState, partial_svd, svt
from solvers.rpca.reference import ialm_reference


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def problem300():
    return low_rank_plus_sparse(300, rank=15, sparsity=0.05, seed=7)


def test_recovers_candes_regime_cpu(problem300):
    M, L, S = problem300
    res = rpca(M, backend="cpu")
    assert res.converged and res.n_iter < 100
    assert rel(res.L, L) < 1e-5
    assert rel(res.S, S) < 1e-5
    assert res.rank == 15
    assert res.residuals[-1] <= 1e-7


def test_stopping_rule_is_relative_constraint_violation(problem300):
    M, _, _ = problem300
    res = rpca(M, backend="cpu", tol=1e-4)
    viol = np.linalg.norm(M - res.L - res.S) / np.linalg.norm(M)
    assert viol <= 1e-4
    assert viol == pytest.approx(res.residuals[-1], rel=1e-6)
    assert res.converged


@pytest.mark.parametrize("route", ["full", "partial"])
def test_svt_routes_match_textbook_ialm(route):
    M, L, S = low_rank_plus_sparse(320, 280, rank=10, sparsity=0.05, seed=3)
    ref_L, ref_S, ref_it, _ = ialm_reference(M)
    res = rpca(M, backend="cpu", svd=route)
    assert abs(res.n_iter - ref_it) <= 1
    assert rel(res.L, ref_L) < 1e-6
    assert rel(res.S, ref_S) < 1e-6
    assert rel(res.L, L) < 1e-5


def test_wide_and_tall_and_lambda_default():
    M, L, _ = low_rank_plus_sparse(120, 400, rank=5, sparsity=0.03, seed=1)
    res = rpca(M, backend="cpu")
    assert res.lam == pytest.approx(1 / np.sqrt(400))
    assert rel(res.L, L) < 1e-5
    resT = rpca(M.T, backend="cpu")
    assert rel(resT.L, L.T) < 1e-5


def test_float32_is_kept_and_accurate():
    M, L, _ = low_rank_plus_sparse(300, rank=10, sparsity=0.05, seed=2, dtype=np.float32)
    res = rpca(M, backend="cpu", tol=1e-5)
    assert res.L.dtype == np.float32
    assert rel(res.L.astype(float), L.astype(float)) < 1e-4


def test_callback_reports_and_cancels(problem300):
    M, _, _ = problem300
    seen = []

    def cb(info):
        seen.append(info)
        return info.iteration == 4

    res = rpca(M, backend="cpu", callback=cb)
    assert res.cancelled and not res.converged and res.n_iter == 4
    assert [i.iteration for i in seen] == [1, 2, 3, 4]
    assert seen[-1].residual == pytest.approx(res.residuals[-1])
    assert seen[-1].max_iter == 1000 and "rank" in seen[-1].extra


def test_zero_matrix():
    res = rpca(np.zeros((5, 4)), backend="cpu")
    assert res.converged and not res.L.any() and not res.S.any()


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.ones(5), r"2 dimension\(s\)"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.ones((3, 3)) + 1j, "real dtype"),
        (np.ones((0, 3)), "at least 1 element"),
    ],
)
def test_bad_input(bad, match):
    with pytest.raises(InvalidProblemError, match=match):
        rpca(bad, backend="cpu")


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"tol": -1.0}, "tol"),
        ({"lam": 0}, "lam"),
        ({"maxiter": 0}, "maxiter"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_params(kw, match):
    with pytest.raises(InvalidProblemError, match=match):
        rpca(np.eye(4), backend="cpu", **kw)


def test_generic_run_equals_plain_function(problem300):
    M, _, _ = problem300
    a = solvers.run("rpca", {"M": M}, {"tol": 1e-6}, backend="cpu")
    b = rpca(M, tol=1e-6, backend="cpu")
    np.testing.assert_array_equal(a.L, b.L)
    stats = a.stats()
    assert stats["n_iter"] == a.n_iter and stats["converged"] is True
    assert len(stats["residuals"]) == a.n_iter


# -- kernels against naive references -------------------------------------------------
def test_kernels_match_numpy():
    rng = np.random.default_rng(0)
    D, A, Y = (rng.standard_normal((61, 47)) for _ in range(3))
    E = np.empty_like(D)
    X = np.empty_like(D)
    shrink_shift(D, A, Y, 0.7, 0.4, E, X)
    T = D - A + 0.7 * Y
    np.testing.assert_allclose(E, soft_threshold_reference(T, 0.4), atol=1e-14)
    np.testing.assert_allclose(X, D - E + 0.7 * Y, atol=1e-14)
    Y2 = Y.copy()
    z2 = dual_update(D, A, E, Y2, 3.0)
    Z = D - A - E
    np.testing.assert_allclose(Y2, Y + 3.0 * Z, atol=1e-13)
    assert z2 == pytest.approx((Z * Z).sum(), rel=1e-12)
    out = np.empty_like(D)
    soft_threshold(T, 0.4, out)
    np.testing.assert_allclose(out, soft_threshold_reference(T, 0.4), atol=1e-14)


def test_partial_svd_is_exact_to_tolerance():
    rng = np.random.default_rng(1)
    U0, _ = np.linalg.qr(rng.standard_normal((400, 30)))
    V0, _ = np.linalg.qr(rng.standard_normal((300, 30)))
    s0 = np.linspace(10, 1, 30)
    X = (U0 * s0) @ V0.T + 1e-3 * rng.standard_normal((400, 300))
    U, s, V, _, _ = partial_svd(X, 10, xp=np, tol=1e-12)
    s_ref = np.linalg.svd(X, compute_uv=False)[:10]
    np.testing.assert_allclose(s, s_ref, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(U * (X @ V), axis=0)), s, rtol=1e-10)


def test_svt_never_misses_values_above_threshold():
    rng = np.random.default_rng(2)
    U0, _ = np.linalg.qr(rng.standard_normal((500, 400)))
    V0, _ = np.linalg.qr(rng.standard_normal((400, 400)))
    s0 = 100.0 * 0.93 ** np.arange(400)  # decaying spectrum, no big gap anywhere
    X = (U0 * s0) @ V0.T
    tau = s0[60] * 0.999  # exactly 61 values above the threshold
    state = SVTState(sv=5)
    A, svp = svt(X, tau, state, xp=np, route="partial", tol=1e-10)
    assert svp == 61
    A_ref = (U0[:, :61] * (s0[:61] - tau)) @ V0[:, :61].T
    assert rel(A, A_ref) < 1e-7
    # flat spectrum (the hardest case): the count is still exact
    Xf = rng.standard_normal((500, 400))
    sf = np.linalg.svd(Xf, compute_uv=False)
    _, svp = svt(Xf, sf[60] * 0.999, SVTState(sv=5), xp=np, route="partial", tol=1e-10)
    assert svp == 61


@pytest.mark.gpu
def test_cpu_and_gpu_agree(problem300):
    M, L, S = problem300
    cpu = rpca(M, backend="cpu")
    gpu = rpca(M, backend="gpu")
    assert gpu.backend == "gpu" and isinstance(gpu.L, np.ndarray)
    assert rel(gpu.L, L) < 1e-5 and rel(gpu.S, S) < 1e-5
    assert rel(gpu.L, cpu.L) < 1e-6
