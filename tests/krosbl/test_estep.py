"""The structured E-step and the Kronecker algebra against dense textbook versions."""

import numpy as np
import pytest

import solvers.krosbl._kernels_numba as kern
from solvers.krosbl import estep, kron_dense, kron_matvec, kron_vec
from solvers.krosbl._kron import mode_contract
from solvers.krosbl.reference import am_update_dense, dense_dictionary, dense_estep

SHAPES = [
    [(4, 6), (5, 7)],  # K = 2, wide factors
    [(3, 5), (4, 6), (2, 3)],  # K = 3
    [(6, 4), (5, 3)],  # tall factors: H_k Γ_k H_kᴴ is singular (null space path)
    [(2, 3), (3, 2), (2, 2), (3, 4)],  # K = 4
]


def _rand(rng, shape, cplx, dtype=np.float64):
    a = rng.standard_normal(shape)
    if cplx:
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(np.result_type(dtype, np.complex64) if cplx else dtype)


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("T", [1, 3])
def test_kron_matvec_equals_np_kron(shapes, cplx, T):
    rng = np.random.default_rng(1)
    H = [_rand(rng, s, cplx) for s in shapes]
    N = int(np.prod([s[1] for s in shapes]))
    X = _rand(rng, (N, T), cplx)
    A = dense_dictionary(H)
    assert A.shape == (np.prod([s[0] for s in shapes]), N)
    np.testing.assert_allclose(kron_matvec(H, X), A @ X, atol=1e-12)
    np.testing.assert_allclose(kron_matvec(H, X[:, 0]), A @ X[:, 0], atol=1e-12)
    np.testing.assert_allclose(kron_dense(H), A)
    v = [rng.random(s[1]) for s in shapes]
    np.testing.assert_allclose(kron_vec(v), kron_dense([x[:, None] for x in v])[:, 0])


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("T", [1, 3])
def test_structured_estep_equals_dense_estep(shapes, cplx, T):
    rng = np.random.default_rng(2)
    H = [_rand(rng, s, cplx) for s in shapes]
    M = int(np.prod([s[0] for s in shapes]))
    y = _rand(rng, (M, T), cplx)
    gammas = [rng.uniform(0.05, 2.0, s[1]) for s in shapes]
    s2 = 0.2
    E = estep(H, gammas, s2, np.ascontiguousarray(y), np, kern, np.dtype(np.float64))
    D = dense_estep(y, H, kron_vec(gammas), s2)
    scale = max(1.0, np.abs(D["mu"]).max())
    assert np.abs(E.mu - D["mu"]).max() < 1e-10 * scale
    assert np.abs(E.lam - D["lam"]).max() < 1e-10 * max(1.0, D["lam"].max())
    gamma = kron_vec(gammas)
    assert np.abs((gamma - gamma**2 * E.s) - D["diag"]).max() < 1e-10
    assert abs(E.cost(T) - D["cost"]) < 1e-10 * max(1.0, abs(D["cost"]))
    # the free noise-update sums: Σ(1 − Σ_ii/γ_i) and ‖y − Aμ‖² = σ⁴ ‖C⁻¹y‖²
    assert abs(E.dof - np.sum(1 - D["diag"] / gamma)) < 1e-9
    A = dense_dictionary(H)
    r2 = np.linalg.norm(y - A @ D["mu"]) ** 2
    assert abs(s2**2 * E.quad2 - r2) < 1e-9 * max(1.0, r2)


@pytest.mark.parametrize("cplx", [False, True])
def test_estep_single_precision_is_close(cplx):
    rng = np.random.default_rng(3)
    shapes = [(5, 8), (6, 9)]
    H = [_rand(rng, s, cplx, np.float32) for s in shapes]
    y = _rand(rng, (30, 1), cplx, np.float32)
    gammas = [rng.uniform(0.1, 1.0, s[1]).astype(np.float32) for s in shapes]
    E = estep(H, gammas, 0.5, np.ascontiguousarray(y), np, kern, np.dtype(np.float32))
    assert E.mu.dtype == y.dtype and E.lam.dtype == np.float32
    D = dense_estep(y.astype(complex), [h.astype(complex) for h in H], kron_vec(gammas), 0.5)
    assert np.abs(E.mu - D["mu"]).max() < 2e-4 * np.abs(D["mu"]).max()
    assert np.abs(E.lam - D["lam"]).max() < 2e-4 * D["lam"].max()


def test_mode_contract_equals_the_authors_kronecker_form():
    rng = np.random.default_rng(4)
    gammas = [rng.uniform(0.1, 1, n) for n in (4, 5, 3)]
    lam = rng.random(60)
    T = lam.reshape(4, 5, 3)
    for k in range(3):
        inv = [None if j == k else 1 / g for j, g in enumerate(gammas)]
        den = np.prod([g.size for j, g in enumerate(gammas) if j != k])
        np.testing.assert_allclose(
            mode_contract(T, inv, k) / den, am_update_dense(lam, gammas, k), rtol=1e-12
        )


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32, np.complex64])
def test_numba_kernels_match_numpy_and_serial_equals_parallel(dtype, monkeypatch):
    rng = np.random.default_rng(5)
    rdt = np.float32 if dtype in (np.float32, np.complex64) else np.float64
    tol = 1e-5 if rdt == np.float32 else 1e-12
    m, t = 9000, 2  # more than one chunk
    p = rng.random(m).astype(rdt)
    p[:7] = 0
    Y = _rand(rng, (m, t), np.dtype(dtype).kind == "c", rdt)
    Yr, dr, sums_r = kern.whiten_stats_reference(p.astype(float), 0.3, Y.astype(complex))
    results = []
    for par_min in (1 << 30, 0):  # serial, then parallel drivers
        monkeypatch.setattr(kern, "PARALLEL_MIN", par_min)
        Y1 = Y.copy()
        d = np.empty(m, rdt)
        sums = kern.whiten_stats(p, 0.3, Y1, d)
        np.testing.assert_allclose(sums, sums_r, rtol=tol)
        assert np.abs(Y1 - Yr).max() < tol and np.abs(d - dr).max() < tol
        g = rng.random(m).astype(rdt) if not results else results[0][3]
        s = rng.random(m).astype(rdt) if not results else results[0][4]
        V = Y.copy()
        lam = np.empty(m, rdt)
        kern.posterior_moments(g, s, V, lam)
        mu_r, lam_r = kern.posterior_moments_reference(g.astype(float), s.astype(float), Y)
        assert np.abs(V - mu_r).max() < tol and np.abs(lam - lam_r).max() < tol * 10
        B = np.ascontiguousarray(Y[:300].T)
        o = np.empty(300, rdt)
        kern.col_sqnorms(B, o)
        np.testing.assert_allclose(o, (np.abs(B) ** 2).sum(axis=0), rtol=tol)
        results.append((sums, Y1, lam, g, s, o))
    # same chunked summation order: bit-identical whatever the driver
    assert results[0][0] == results[1][0]
    assert np.array_equal(results[0][2], results[1][2])
