"""AltProj (non-convex alternating projections), missing data, and IALM with a mask."""

import numpy as np
import pytest

import solvers
from solvers import InvalidProblemError
from solvers.rpca import low_rank_plus_sparse, random_mask, rpca
from solvers.rpca._kernels_numba import (
    hard_threshold_update,
    hard_threshold_update_masked,
    hard_threshold_update_reference,
    qr_tall,
    shrink_shift_masked,
    soft_threshold_reference,
)
from solvers.rpca._svd import subspace_svd
from solvers.rpca.altproj import default_beta
from solvers.rpca.reference import altproj_reference, ialm_reference


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def big():
    """The issue's acceptance problem: 2000×2000, rank 10, 5 % gross corruptions."""
    return low_rank_plus_sparse(2000, rank=10, sparsity=0.05, seed=11)


# -- acceptance (issue #5): 2000×2000 rank 10 -----------------------------------------------
def test_altproj_2000_rank10_5pct_recovers_to_1e6(big):
    M, L, S = big
    res = rpca(M, method="altproj", rank=10, backend="cpu")
    assert res.converged and res.info["stop"] == "tol" and res.method == "altproj"
    assert res.rank == 10 and res.n_iter < 60
    assert rel(res.L, L) < 1e-6
    assert rel(res.S, S) < 1e-6
    # S lives on the corrupted support; only corruptions tinier than the final
    # threshold (U(-10, 10) values next to 0) are left in L + S's residual
    assert not res.S[S == 0].any()
    assert np.abs(S[res.S == 0]).max() < 1e-3
    assert res.info["nnz_S"] == np.count_nonzero(res.S) > 0.9999 * np.count_nonzero(S)


def test_altproj_2000_rank10_30pct_missing_recovers_L_to_1e4(big):
    M, L, S = big
    mask = random_mask(M.shape, 0.3, seed=3)
    Mh = np.where(mask, M, 1e6)  # values in the holes must not matter
    res = rpca(Mh, method="altproj", rank=10, mask=mask, backend="cpu")
    assert res.converged and res.info["observed_fraction"] == pytest.approx(0.7, abs=2e-3)
    assert rel(res.L, L) < 1e-4  # the whole L, holes included
    assert not res.S[~mask].any()  # S lives on the observed entries
    assert rel(res.S[mask], S[mask]) < 1e-4


def test_altproj_estimates_the_rank(big):
    M, L, _ = big
    res = rpca(M, method="altproj", backend="cpu")  # rank=None
    assert res.rank == 10 and res.info["rank_estimated"]
    assert res.info["stages"] and res.info["stages"][0]["rank"] == 1
    assert rel(res.L, L) < 1e-6


@pytest.mark.parametrize(
    "m, n, r, missing, sparsity",
    [(400, 300, 20, 0.0, 0.1), (300, 500, 8, 0.3, 0.05), (500, 500, 5, 0.5, 0.05)],
)
def test_altproj_recovers_other_regimes(m, n, r, missing, sparsity):
    M, L, S = low_rank_plus_sparse(m, n, rank=r, sparsity=sparsity, seed=r)
    mask = random_mask(M.shape, missing, seed=1) if missing else None
    for rank in (r, None):
        res = rpca(M, method="altproj", rank=rank, mask=mask, backend="cpu")
        assert res.rank == r
        assert rel(res.L, L) < 1e-5, (rank, rel(res.L, L))


def test_altproj_matches_the_textbook_full_svd_version():
    M, L, S = low_rank_plus_sparse(300, 250, rank=8, sparsity=0.05, seed=4)
    mask = random_mask(M.shape, 0.3, seed=1)
    for msk in (None, mask):
        Lr, Sr, it_ref, _ = altproj_reference(M, 8, mask=msk)
        res = rpca(M, method="altproj", rank=8, mask=msk, backend="cpu")
        assert rel(Lr, L) < 1e-6 and rel(res.L, L) < 1e-6
        assert rel(res.L, Lr) < 1e-6
        # the same support of S (the corrupted, observed entries) up to tiny corruptions
        differ = (res.S != 0) != (Sr != 0)
        assert differ.sum() <= 2 and np.abs(S[differ]).max(initial=0) < 1e-4
        # warm-started subspace iteration: no more iterations than the textbook version
        assert res.n_iter <= it_ref


def test_altproj_float32():
    M, L, _ = low_rank_plus_sparse(400, rank=10, sparsity=0.05, seed=2, dtype=np.float32)
    res = rpca(M, method="altproj", rank=10, tol=1e-5, backend="cpu")
    assert res.L.dtype == np.float32 and res.S.dtype == np.float32
    assert rel(res.L.astype(float), L.astype(float)) < 1e-4


def test_altproj_noisy_data_stops_near_the_noise_level():
    M, L, _ = low_rank_plus_sparse(600, 500, rank=10, sparsity=0.05, seed=5)
    sigma = 0.01
    Mn = M + sigma * np.random.default_rng(0).standard_normal(M.shape)
    res = rpca(Mn, method="altproj", backend="cpu", maxiter=300)
    assert res.converged and res.rank == 10 and res.n_iter < 300
    # the best a rank-10 fit can do is about sigma sqrt(r (m + n)) / ||L||_F
    floor = sigma * np.sqrt(10 * (600 + 500)) / np.linalg.norm(L)
    assert rel(res.L, L) < 3 * floor


def test_altproj_full_rank_and_tiny_and_zero():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((12, 9))
    res = rpca(M, method="altproj", rank=9, backend="cpu")
    assert np.allclose(res.L + res.S, M, atol=1e-10)
    res = rpca(np.zeros((6, 5)), method="altproj", backend="cpu")
    assert res.converged and not res.L.any() and not res.S.any()
    res = rpca(np.ones((1, 7)), method="altproj", rank=1, backend="cpu")
    assert np.allclose(res.L, 1.0)


def test_altproj_callback_reports_and_cancels():
    M, _, _ = low_rank_plus_sparse(300, rank=5, sparsity=0.05, seed=1)
    seen = []

    def cb(info):
        seen.append(info)
        return info.iteration == 3

    res = rpca(M, method="altproj", rank=5, backend="cpu", callback=cb)
    assert res.cancelled and not res.converged and res.n_iter == 3
    assert res.info["stop"] == "cancelled"
    assert [i.iteration for i in seen] == [1, 2, 3]
    assert seen[-1].residual == pytest.approx(res.residuals[-1])
    assert {"rank", "zeta", "nnz_S"} <= set(seen[-1].extra)


def test_altproj_user_threshold_constant_is_used():
    M, L, _ = low_rank_plus_sparse(300, rank=5, sparsity=0.05, seed=1)
    beta = default_beta(M.shape)
    res = rpca(M, method="altproj", rank=5, beta=beta, backend="cpu")
    assert res.info["beta"] == beta and rel(res.L, L) < 1e-6
    # the data-driven constant never exceeds the AccAltProj constant
    assert rpca(M, method="altproj", rank=5, backend="cpu").info["beta"] <= beta


def test_generic_run_and_stats_for_altproj_with_mask():
    M, L, _ = low_rank_plus_sparse(200, rank=4, sparsity=0.05, seed=9)
    mask = random_mask(M.shape, 0.2, seed=2)
    a = solvers.run("rpca", {"M": M, "mask": mask}, {"method": "altproj"}, backend="cpu")
    b = rpca(M, method="altproj", mask=mask, backend="cpu")
    np.testing.assert_array_equal(a.L, b.L)
    st = a.stats()
    assert st["method"] == "altproj" and st["stop"] == "tol" and st["rank"] == 4
    assert st["lam"] is None  # not an altproj quantity
    assert st["observed_fraction"] == pytest.approx(0.8, abs=0.01)


# -- IALM with a mask ---------------------------------------------------------------------
def test_ialm_with_missing_entries():
    M, L, S = low_rank_plus_sparse(300, rank=10, sparsity=0.05, seed=1)
    mask = random_mask(M.shape, 0.3, seed=5)
    res = rpca(np.where(mask, M, -7.0), mask=mask, backend="cpu")
    assert res.converged and res.method == "ialm"
    assert res.lam == pytest.approx(1 / np.sqrt(0.7 * 300), rel=0.01)
    assert rel(res.L, L) < 1e-5
    assert not res.S[~mask].any()
    assert rel(res.S[mask], S[mask]) < 1e-5


def test_ialm_full_mask_gives_the_unmasked_numbers():
    M, _, _ = low_rank_plus_sparse(200, rank=5, sparsity=0.05, seed=3)
    a = rpca(M, backend="cpu")
    b = rpca(M, mask=np.ones(M.shape, bool), backend="cpu")
    np.testing.assert_array_equal(a.L, b.L)
    ref_L, _, ref_it, _ = ialm_reference(M)
    assert abs(a.n_iter - ref_it) <= 1 and rel(a.L, ref_L) < 1e-6


def test_mask_accepts_zero_one_numbers():
    M, L, _ = low_rank_plus_sparse(150, rank=3, sparsity=0.05, seed=2)
    mask = random_mask(M.shape, 0.2, seed=1)
    a = rpca(M, method="altproj", mask=mask, backend="cpu")
    b = rpca(M, method="altproj", mask=mask.astype(np.uint8), backend="cpu")
    c = rpca(M, method="altproj", mask=mask.astype(float), backend="cpu")
    np.testing.assert_array_equal(a.L, b.L)
    np.testing.assert_array_equal(a.L, c.L)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "M, kw, field, match",
    [
        (np.ones((4, 4, 4)), {}, "inputs.M", r"2 dimension\(s\)"),
        (np.full((5, 5), np.nan), {}, "inputs.M", "NaN"),
        (
            np.ones((5, 6)),
            {"mask": np.ones((6, 5), bool)},
            "inputs.mask",
            r"shape \(6, 5\).*\(5, 6\)",
        ),
        (np.ones((5, 6)), {"mask": np.full((5, 6), 2)}, "inputs.mask", "boolean or 0/1"),
        (np.ones((5, 6)), {"mask": np.zeros((5, 6), bool)}, "inputs.mask", "no entry"),
        (np.ones((5, 6)), {"mask": np.full((5, 6), "a")}, "inputs.mask", "boolean"),
        (
            np.ones((5, 6)),
            {"method": "altproj", "rank": 6},
            "params.rank",
            r"exceeds min\(m, n\) = 5",
        ),
        (np.ones((5, 6)), {"rank": 2}, "params.rank", "method='altproj' only"),
        (np.ones((5, 6)), {"method": "altproj", "rank": 0}, "params.rank", "greater than or equal"),
        (np.ones((5, 6)), {"method": "svt"}, "params.method", "ialm"),
        (np.ones((5, 6)), {"method": "altproj", "lam": 0.1}, "params.lam", "method='ialm' only"),
        (np.ones((5, 6)), {"gamma": 0.7}, "params.gamma", "method='altproj' only"),
        (np.ones((5, 6)), {"method": "altproj", "gamma": 1.5}, "params.gamma", "less than 1"),
    ],
)
def test_bad_input_is_a_clear_error(M, kw, field, match):
    with pytest.raises(InvalidProblemError, match=match) as exc:
        rpca(M, backend="cpu", **kw)
    assert exc.value.field == field


def test_missing_gpu_is_backend_unavailable():
    import gpu

    if gpu.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(solvers.BackendUnavailableError):
        rpca(np.ones((4, 4)), method="altproj", backend="gpu")


# -- kernels and the subspace SVD against plain NumPy -----------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hard_threshold_kernels_match_numpy(dtype):
    rng = np.random.default_rng(0)
    D, L_new, L_old = (rng.standard_normal((53, 41)).astype(dtype) for _ in range(3))
    W = rng.random(D.shape) < 0.7
    for mask in (None, W):
        S, X, L = np.empty_like(D), L_new.copy(), L_old.copy()
        if mask is None:
            r2, nnz, dl = hard_threshold_update(D, X, L, dtype(0.8), S)
        else:
            r2, nnz, dl = hard_threshold_update_masked(
                D, X, L, mask.astype(np.uint8), dtype(0.8), S
            )
        S_ref, X_ref, r2_ref, nnz_ref, dl_ref = hard_threshold_update_reference(
            D, L_new, L_old, 0.8, mask
        )
        np.testing.assert_array_equal(S, S_ref.astype(dtype))
        np.testing.assert_array_equal(L, L_new)
        np.testing.assert_allclose(X, X_ref, rtol=1e-6 if dtype == np.float32 else 1e-15)
        assert nnz == nnz_ref and r2 == pytest.approx(r2_ref, rel=1e-5)
        assert dl == pytest.approx(dl_ref, rel=1e-6)


def test_shrink_shift_masked_matches_numpy():
    rng = np.random.default_rng(1)
    D, A, Y = (rng.standard_normal((30, 20)) for _ in range(3))
    W = (rng.random(D.shape) < 0.6).astype(np.uint8)
    E, X = np.empty_like(D), np.empty_like(D)
    shrink_shift_masked(D, A, Y, W, 0.5, 0.3, E, X)
    T = D - A + 0.5 * Y
    E_ref = np.where(W == 1, soft_threshold_reference(T, 0.3), T)
    np.testing.assert_allclose(E, E_ref, atol=1e-15)
    np.testing.assert_allclose(X, D - E_ref + 0.5 * Y, atol=1e-14)


@pytest.mark.parametrize("m, l", [(500, 20), (40, 40), (1000, 1)])
@pytest.mark.parametrize("deficient", [False, True])
def test_qr_tall_matches_lapack(m, l, deficient):
    rng = np.random.default_rng(m)
    A = rng.standard_normal((m, l))
    if deficient:
        A[:, 0] = 0.0
        if l > 3:
            A[:, 3] = A[:, 1]
    Q, R = qr_tall(A)
    np.testing.assert_allclose(Q @ R, A, atol=1e-12)
    np.testing.assert_allclose(Q.T @ Q, np.eye(l), atol=1e-12)
    assert np.allclose(np.triu(R), R)
    if not deficient:  # R is unique up to the signs of its rows
        R_ref = np.linalg.qr(A)[1]
        np.testing.assert_allclose(np.abs(R), np.abs(R_ref), atol=1e-10)


def test_subspace_svd_is_exact_on_low_rank_matrices():
    rng = np.random.default_rng(2)
    U0, _ = np.linalg.qr(rng.standard_normal((300, 8)))
    V0, _ = np.linalg.qr(rng.standard_normal((200, 8)))
    s0 = np.linspace(10, 1, 8)
    X = (U0 * s0) @ V0.T
    U, s, V = subspace_svd(X, rng.standard_normal((200, 12)), xp=np, steps=1, qr=qr_tall)
    np.testing.assert_allclose(s[:8], s0, rtol=1e-12)
    assert np.all(s[8:] < 1e-12 * s0[0])
    np.testing.assert_allclose((U[:, :8] * s[:8]) @ V[:, :8].T, X, atol=1e-12)
    # a general matrix: two steps give the leading triplets of a clear gap
    Y = X + 1e-6 * rng.standard_normal(X.shape)
    _, s, _ = subspace_svd(Y, rng.standard_normal((200, 12)), xp=np, steps=2, qr=qr_tall)
    np.testing.assert_allclose(s[:8], np.linalg.svd(Y, compute_uv=False)[:8], rtol=1e-10)
