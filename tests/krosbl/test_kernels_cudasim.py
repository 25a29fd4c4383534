"""The numba.cuda twins of the KroSBL kernels, run on the CPU simulator."""

import pytest

from tests.conftest import run_cudasim

pytestmark = pytest.mark.cudasim


def test_gpu_kernels_match_cpu_kernels_under_cudasim():
    out = run_cudasim(
        """
        import numpy as np
        import gpu.krosbl_kernels as g
        from solvers.krosbl import _kernels_numba as c
        rng = np.random.default_rng(0)
        for dt in (np.float64, np.float32, np.complex128, np.complex64):
            cplx = np.dtype(dt).kind == "c"
            rdt = np.float32 if dt in (np.float32, np.complex64) else np.float64
            tol = 2e-5 if rdt == np.float32 else 1e-12
            def rand(*s):
                a = rng.standard_normal(s) + (1j * rng.standard_normal(s) if cplx else 0)
                return a.astype(dt)
            m, t = 300, 2
            p = rng.random(m).astype(rdt); p[:5] = 0
            Y = rand(m, t)
            Y1, Y2 = Y.copy(), Y.copy(); d1 = np.empty(m, rdt); d2 = np.empty(m, rdt)
            s1 = g.whiten_stats(p, 0.3, Y1, d1); s2 = c.whiten_stats(p, 0.3, Y2, d2)
            assert np.allclose(s1, s2, rtol=tol), (dt, s1, s2)
            assert np.abs(Y1 - Y2).max() < tol and np.abs(d1 - d2).max() < tol
            n = 257
            gam = rng.random(n).astype(rdt); s = rng.random(n).astype(rdt); V = rand(n, t)
            V1, V2 = V.copy(), V.copy(); l1 = np.empty(n, rdt); l2 = np.empty(n, rdt)
            g.posterior_moments(gam, s, V1, l1); c.posterior_moments(gam, s, V2, l2)
            assert np.abs(V1 - V2).max() < tol and np.abs(l1 - l2).max() < tol
            B = np.ascontiguousarray(V.T); o1 = np.empty(n, rdt); o2 = np.empty(n, rdt)
            g.col_sqnorms(B, o1); c.col_sqnorms(B, o2)
            assert np.abs(o1 - o2).max() < 10 * tol
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_whole_solver_on_the_gpu_code_path_under_cudasim():
    # the GPU branch of the solvers (device kernels, backend.xp, host transfers) driven
    # with NumPy arrays through a simulator "GPU" backend
    out = run_cudasim(
        """
        import dataclasses
        import numpy as np, scipy.sparse
        from solvers._backend import Backend
        from solvers.krosbl import krosbl, sbl, kronecker_problem

        @dataclasses.dataclass(frozen=True)
        class SimGPU(Backend):
            def synchronize(self):
                pass

        be = SimGPU("gpu", np, scipy.sparse)
        for cplx in (False, True):
            prob = kronecker_problem([(3, 5), (4, 6)], [2, 2], snr=30, seed=1, complex=cplx)
            for method in ("svd", "am"):
                kw = dict(method=method, maxiter=4, tol=1e-300)
                a = krosbl(prob.y, prob.H, backend="cpu", **kw)
                b = krosbl(prob.y, prob.H, backend=be, **kw)
                assert b.backend == "gpu" and b.n_iter == a.n_iter == 4
                assert np.abs(a.x - b.x).max() < 1e-10 * np.abs(a.x).max()
                assert np.abs(a.objective - b.objective).max() < 1e-9 * np.abs(a.objective).max()
                assert abs(a.noise_var - b.noise_var) < 1e-10 * a.noise_var
            a = sbl(prob.y, prob.H, maxiter=3, tol=1e-300, backend="cpu")
            b = sbl(prob.y, prob.H, maxiter=3, tol=1e-300, backend=be)
            assert np.abs(a.x - b.x).max() < 1e-10 * np.abs(a.x).max()
        print("ok")
        """,
        timeout=600,
    )
    assert out.strip().endswith("ok")
