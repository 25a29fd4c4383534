"""CPU and GPU agree for altproj, IALM with a mask and background subtraction (needs CuPy
and a CUDA device; skipped otherwise)."""

import numpy as np
import pytest

from solvers.rpca import (
    background_subtraction,
    foreground_scores,
    low_rank_plus_sparse,
    moving_objects_video,
    random_mask,
    rpca,
)

pytestmark = pytest.mark.gpu


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("missing", [0.0, 0.3])
@pytest.mark.parametrize("rank", [10, None])
def test_altproj_cpu_and_gpu_agree(missing, rank):
    M, L, S = low_rank_plus_sparse(600, 500, rank=10, sparsity=0.05, seed=21)
    mask = random_mask(M.shape, missing, seed=2) if missing else None
    cpu = rpca(M, method="altproj", rank=rank, mask=mask, backend="cpu")
    gpu = rpca(M, method="altproj", rank=rank, mask=mask, backend="gpu")
    assert gpu.backend == "gpu" and isinstance(gpu.L, np.ndarray) and isinstance(gpu.S, np.ndarray)
    assert gpu.converged and gpu.rank == cpu.rank == 10
    assert abs(gpu.n_iter - cpu.n_iter) <= 2
    assert rel(gpu.L, L) < 1e-6 and rel(cpu.L, L) < 1e-6
    assert rel(gpu.L, cpu.L) < 1e-7
    if mask is not None:
        assert not gpu.S[~mask].any()


def test_altproj_gpu_acceptance_size_and_float32():
    M, L, _ = low_rank_plus_sparse(2000, rank=10, sparsity=0.05, seed=11)
    res = rpca(M, method="altproj", rank=10, backend="gpu")
    assert res.converged and rel(res.L, L) < 1e-6
    res32 = rpca(M.astype(np.float32), method="altproj", rank=10, tol=1e-5, backend="gpu")
    assert res32.L.dtype == np.float32 and rel(res32.L.astype(float), L) < 1e-4


def test_ialm_with_mask_cpu_and_gpu_agree():
    M, L, _ = low_rank_plus_sparse(300, rank=10, sparsity=0.05, seed=1)
    mask = random_mask(M.shape, 0.3, seed=5)
    cpu = rpca(M, mask=mask, backend="cpu")
    gpu = rpca(M, mask=mask, backend="gpu")
    assert gpu.converged and abs(gpu.n_iter - cpu.n_iter) <= 1
    assert rel(gpu.L, L) < 1e-5 and rel(gpu.L, cpu.L) < 1e-6


def test_background_subtraction_cpu_and_gpu_agree():
    sc = moving_objects_video(60, 40, 56, noise=0.01, seed=3)
    cpu = background_subtraction(sc.frames, backend="cpu")
    gpu = background_subtraction(sc.frames, backend="gpu")
    assert gpu.backend == "gpu" and gpu.rank == cpu.rank == 2
    assert rel(gpu.background, cpu.background) < 1e-6
    assert np.mean(gpu.foreground_mask != cpu.foreground_mask) < 1e-3
    assert foreground_scores(sc.foreground_mask, gpu.foreground_mask)["f1"] > 0.97


def test_gpu_kernels_match_cpu_kernels():
    import cupy as cp

    import gpu.rpca_kernels as g
    from solvers.rpca import _kernels_numba as c

    rng = np.random.default_rng(0)
    D, Ln, Lo = (rng.standard_normal((301, 257)) for _ in range(3))
    W = (rng.random(D.shape) < 0.6).astype(np.uint8)
    for masked in (False, True):
        X, L, S = Ln.copy(), Lo.copy(), np.empty_like(D)
        Xg, Lg, Sg = cp.asarray(Ln), cp.asarray(Lo), cp.empty(D.shape)
        Dg = cp.asarray(D)
        if masked:
            r = c.hard_threshold_update_masked(D, X, L, W, 0.7, S)
            rg = g.hard_threshold_update_masked(Dg, Xg, Lg, cp.asarray(W), 0.7, Sg)
        else:
            r = c.hard_threshold_update(D, X, L, 0.7, S)
            rg = g.hard_threshold_update(Dg, Xg, Lg, 0.7, Sg)
        assert rg[1] == r[1] and rg[0] == pytest.approx(r[0], rel=1e-12) and rg[2] == r[2]
        np.testing.assert_array_equal(cp.asnumpy(Sg), S)
        np.testing.assert_array_equal(cp.asnumpy(Xg), X)
        np.testing.assert_array_equal(cp.asnumpy(Lg), L)
    A = cp.asarray(rng.standard_normal((1000, 30)))
    Q, R = g.qr_tall(A)
    assert float(cp.abs(Q @ R - A).max()) < 1e-12
