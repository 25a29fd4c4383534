"""CPU and GPU agree (needs CuPy and a CUDA device; skipped otherwise)."""

import numpy as np
import pytest

from solvers.krosbl import irs_mimo, kronecker_problem, krosbl, nmse_db, sbl

pytestmark = pytest.mark.gpu

K3 = ([(8, 15), (12, 15), (15, 15)], [3, 3, 3])


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("method", ["svd", "am"])
def test_fixed_iterations_agree(method, cplx):
    prob = kronecker_problem(*K3, snr=25, seed=0, complex=cplx, snapshots=2)
    kw = dict(method=method, maxiter=15, tol=1e-300, prune=0)
    a = krosbl(prob.y, prob.H, backend="cpu", **kw)
    b = krosbl(prob.y, prob.H, backend="gpu", **kw)
    assert b.backend == "gpu" and isinstance(b.x, np.ndarray) and b.n_iter == a.n_iter == 15
    assert np.abs(a.x - b.x).max() < 1e-8 * np.abs(a.x).max()
    np.testing.assert_allclose(b.objective, a.objective, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.gamma, a.gamma, rtol=1e-7, atol=1e-12 * a.gamma.max())
    assert abs(b.noise_var / a.noise_var - 1) < 1e-8


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("method", ["svd", "am"])
def test_converged_results_agree(method, cplx):
    prob = kronecker_problem(*K3, snr=30, seed=1, complex=cplx, amplitudes="bounded")
    a = krosbl(prob.y, prob.H, method=method, noise_var=prob.noise_var, backend="cpu")
    b = krosbl(prob.y, prob.H, method=method, noise_var=prob.noise_var, backend="gpu")
    np.testing.assert_array_equal(b.support, a.support)
    np.testing.assert_array_equal(b.support, prob.support)
    assert abs(b.n_iter - a.n_iter) <= 1
    assert nmse_db(b.x, prob.x) < -25
    assert np.abs(a.x - b.x).max() < 1e-6 * np.abs(a.x).max()


@pytest.mark.parametrize("cplx", [False, True])
def test_single_precision_on_gpu(cplx):
    prob = kronecker_problem(
        [(20, 40), (20, 40)],
        [4, 4],
        snr=30,
        seed=0,
        complex=cplx,
        amplitudes="bounded",
        dtype=np.float32,
    )
    a = krosbl(prob.y, prob.H, noise_var=prob.noise_var, backend="cpu")
    b = krosbl(prob.y, prob.H, noise_var=prob.noise_var, backend="gpu")
    assert b.x.dtype == a.x.dtype == (np.complex64 if cplx else np.float32)
    np.testing.assert_array_equal(b.support, prob.support)
    assert nmse_db(b.x, prob.x) < -25
    assert np.abs(a.x - b.x).max() < 1e-3 * np.abs(a.x).max()


def test_block_sparse_and_classic_sbl_agree():
    p = irs_mimo.simulate(snr=20, seed=2)
    a = irs_mimo.estimate(p, "pc", backend="cpu", maxiter=20, tol=1e-300)
    b = irs_mimo.estimate(p, "pc", backend="gpu", maxiter=20, tol=1e-300)
    assert np.abs(a.x - b.x).max() < 1e-6 * np.abs(a.x).max()
    prob = kronecker_problem([(10, 20), (10, 20)], [3, 3], snr=30, seed=0, complex=True)
    a = sbl(prob.y, prob.H, maxiter=10, tol=1e-300, backend="cpu")
    b = sbl(prob.y, prob.H, maxiter=10, tol=1e-300, backend="gpu")
    assert np.abs(a.x - b.x).max() < 1e-8 * np.abs(a.x).max()
    np.testing.assert_allclose(b.objective, a.objective, rtol=1e-9)


def test_large_problem_on_gpu():
    # three 32 x 64 factors: M = 32768, N = 262144
    prob = kronecker_problem([(32, 64)] * 3, [3, 3, 3], snr=30, seed=0, amplitudes="bounded")
    b = krosbl(prob.y, prob.H, noise_var=prob.noise_var, backend="gpu")
    assert b.converged and nmse_db(b.x, prob.x) < -25
    np.testing.assert_array_equal(b.support, prob.support)
