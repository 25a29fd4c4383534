"""The numba.cuda twins of the DCDM kernels, and the GPU code path, on the CPU simulator."""

import pytest

from tests.conftest import run_cudasim

pytestmark = pytest.mark.cudasim


def test_gpu_kernels_match_cpu_kernels_under_cudasim():
    out = run_cudasim(
        """
        import numpy as np
        import gpu.dcdm_kernels as g
        from solvers.dcdm import _kernels_numba as c, smoke_problem
        s, _ = smoke_problem((7, 6, 5), layout="spheres", seed=1)
        rng = np.random.default_rng(0)
        x = rng.standard_normal(s.n)
        Mg, Mc = g.prepare_matrix(s.A), c.prepare_matrix(s.A)
        y1 = g.matvec(Mg, x); y2 = c.matvec(Mc, x)
        assert np.abs(y1 - y2).max() < 1e-13 and np.abs(y1 - s.A @ x).max() < 1e-13
        out = np.empty(s.n); g.csr_matvec(Mg, x, out)
        assert np.abs(out - y2).max() < 1e-13
        v = [rng.standard_normal(s.n) for _ in range(4)]
        a = [w.copy() for w in v]; b = [w.copy() for w in v]
        rr1 = g.step_update(a[0], a[1], a[2], a[3], 0.37)
        rr2 = c.step_update(b[0], b[1], b[2], b[3], 0.37)
        assert abs(rr1 - rr2) < 1e-12 * rr2
        assert all(np.abs(p - q).max() < 1e-14 for p, q in zip(a, b))
        g.orth_update(a[0], a[1], a[2], a[3], -1.3); c.orth_update(b[0], b[1], b[2], b[3], -1.3)
        assert all(np.abs(p - q).max() < 1e-14 for p, q in zip(a, b))
        try:
            g.ic0_factor(s.A)
        except Exception as e:
            assert type(e).__name__ == "BackendUnavailableError"
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_solver_on_the_gpu_code_path_under_cudasim():
    # the GPU branch (device kernels, the network fed from the backend's arrays) driven
    # with NumPy arrays through a simulator "GPU" backend
    out = run_cudasim(
        """
        import dataclasses
        import numpy as np, scipy.sparse
        from solvers._backend import Backend
        from solvers.dcdm import cg, dcdm, pcg, smoke_problem
        from solvers.dcdm.network import DCDMModel, DCDMNet, NetConfig
        import torch

        @dataclasses.dataclass(frozen=True)
        class SimGPU(Backend):
            def synchronize(self):
                pass

        be = SimGPU("gpu", np, scipy.sparse)
        s, b = smoke_problem((8, 6, 6), layout="bunny", seed=1)
        torch.manual_seed(0)
        model = DCDMModel(net=DCDMNet(NetConfig(channels=4)), config=NetConfig(channels=4))
        r_cpu = dcdm(s, b, model=model, rtol=1e-8, backend="cpu")
        r_gpu = dcdm(s, b, model=model, rtol=1e-8, backend=be)
        assert r_gpu.backend == "gpu" and r_gpu.converged and r_gpu.n_iter == r_cpu.n_iter
        assert np.abs(r_gpu.x - r_cpu.x).max() < 1e-9 * np.abs(r_cpu.x).max()
        c1 = cg(s.A, b, rtol=1e-8, backend=be); c2 = cg(s.A, b, rtol=1e-8, backend="cpu")
        assert c1.n_iter == c2.n_iter and np.abs(c1.x - c2.x).max() < 1e-9
        j1 = pcg(s.A, b, precond="jacobi", rtol=1e-8, backend=be)
        assert j1.converged
        try:
            pcg(s.A, b, precond="amg", backend=be)
        except Exception as e:
            assert type(e).__name__ == "BackendUnavailableError"
        print("ok")
        """,
        timeout=600,
    )
    assert out.strip().endswith("ok")
