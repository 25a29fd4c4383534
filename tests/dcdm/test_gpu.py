"""CPU and GPU agree (needs CuPy, a CUDA device and a CUDA build of PyTorch)."""

import numpy as np
import pytest

import solvers
from solvers.dcdm import cg, dcdm, pcg, smoke_problem

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def prob():
    return smoke_problem(32, layout="bunny", seed=11)


@pytest.fixture(scope="module")
def cuda_torch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA")
    return torch


def test_dlpack_exchange_is_zero_copy(cuda_torch):
    import cupy

    a = cupy.arange(10, dtype=cupy.float32)
    t = cuda_torch.from_dlpack(a)
    assert t.is_cuda and t.data_ptr() == a.data.ptr
    t2 = cuda_torch.ones(5, device="cuda")
    b = cupy.from_dlpack(t2)
    assert b.data.ptr == t2.data_ptr()


def test_dcdm_cpu_and_gpu_agree(prob, cuda_torch):
    s, b = prob
    cpu = dcdm(s, b, rtol=1e-10, backend="cpu")
    gpu = dcdm(s, b, rtol=1e-10, backend="gpu")
    assert gpu.backend == "gpu" and isinstance(gpu.x, np.ndarray)
    assert cpu.converged and gpu.converged
    assert abs(gpu.n_iter - cpu.n_iter) <= 3, (cpu.n_iter, gpu.n_iter)
    np.testing.assert_allclose(gpu.x, cpu.x, atol=1e-7 * np.abs(cpu.x).max())
    # the first iterations follow the same path (float32 network on both)
    np.testing.assert_allclose(gpu.residuals[:4], cpu.residuals[:4], rtol=1e-3)
    assert np.linalg.norm(b - s.A @ gpu.x) <= 1e-10 * np.linalg.norm(b)


def test_dcdm_gpu_reaches_1e6_at_64_cubed(cuda_torch):
    s, b = smoke_problem(64, layout="bunny", seed=11)
    res = dcdm(s, b, rtol=1e-6, backend="gpu")
    assert res.converged and res.n_iter <= 40
    assert np.linalg.norm(b - s.A @ res.x) <= 1.0001e-6 * np.linalg.norm(b)


@pytest.mark.parametrize("precond", ["none", "jacobi"])
def test_cg_cpu_and_gpu_agree(prob, precond):
    s, b = prob
    cpu = pcg(s.A, b, precond=precond, rtol=1e-9, backend="cpu")
    gpu = pcg(s.A, b, precond=precond, rtol=1e-9, backend="gpu")
    assert abs(cpu.n_iter - gpu.n_iter) <= 1
    np.testing.assert_allclose(gpu.x, cpu.x, atol=1e-8 * np.abs(cpu.x).max())
    np.testing.assert_allclose(gpu.residuals[:20], cpu.residuals[:20], rtol=1e-8)


def test_gpu_rejects_cpu_only_preconditioners(prob):
    s, b = prob
    with pytest.raises(solvers.BackendUnavailableError):
        pcg(s.A, b, precond="ic", backend="gpu")


def test_singular_neumann_on_gpu(cuda_torch):
    s, b = smoke_problem(24, layout="spheres", seed=3, boundary="neumann")
    g = dcdm(s, b, rtol=1e-9, backend="gpu")
    c = cg(s.A, b, rtol=1e-9, backend="cpu")
    assert g.converged and abs(g.x[s.fluid.ravel()].mean()) < 1e-10
    np.testing.assert_allclose(g.x, c.x, atol=1e-6 * np.abs(c.x).max())


def test_training_on_the_gpu_then_solving_on_the_cpu(cuda_torch):
    res = solvers.run(
        "dcdm_train",
        {},
        {"grid": 12, "geometries": 2, "lanczos": 80, "steps": 20, "seed": 0},
        backend="gpu",
    )
    assert res.backend == "gpu" and res.info["eval_loss"][-1][1] < res.info["eval_loss"][0][1]
    s, b = smoke_problem(16, layout="sphere", seed=0)
    out = dcdm(s, b, model=res.model, rtol=1e-6, backend="cpu")
    assert out.converged
