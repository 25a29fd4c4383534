"""The numba.cuda twins of the RPCA kernels, run on the CPU simulator."""

import pytest

from tests.conftest import run_cudasim

pytestmark = pytest.mark.cudasim


def test_gpu_kernels_match_cpu_kernels_under_cudasim():
    out = run_cudasim(
        """
        import numpy as np
        import gpu.rpca_kernels as g
        from solvers.rpca import _kernels_numba as c
        rng = np.random.default_rng(0)
        D, A, Y = (rng.standard_normal((37, 29)) for _ in range(3))
        E1, X1, E2, X2 = (np.empty_like(D) for _ in range(4))
        g.shrink_shift(D, A, Y, 0.5, 0.3, E1, X1)
        c.shrink_shift(D, A, Y, 0.5, 0.3, E2, X2)
        assert np.abs(E1 - E2).max() < 1e-14 and np.abs(X1 - X2).max() < 1e-14
        Y1, Y2 = Y.copy(), Y.copy()
        z1 = g.dual_update(D, A, E1, Y1, 2.0)
        z2 = c.dual_update(D, A, E2, Y2, 2.0)
        assert abs(z1 - z2) < 1e-10 * z2 and np.abs(Y1 - Y2).max() < 1e-14
        o1, o2 = np.empty_like(D), np.empty_like(D)
        g.soft_threshold(D, 0.2, o1)
        c.soft_threshold(D, 0.2, o2)
        assert np.abs(o1 - o2).max() < 1e-14
        rng = np.random.default_rng(1)
        D, Ln, Lo, A, Y = (rng.standard_normal((23, 19)) for _ in range(5))
        W = (rng.random(D.shape) < 0.7).astype(np.uint8)
        for masked in (False, True):
            outs = []
            for k in (g, c):
                X, L, S = Ln.copy(), Lo.copy(), np.empty_like(D)
                if masked:
                    r = k.hard_threshold_update_masked(D, X, L, W, 0.6, S)
                else:
                    r = k.hard_threshold_update(D, X, L, 0.6, S)
                outs.append((r, X, L, S))
            (r1, X1, L1, S1), (r2, X2, L2, S2) = outs
            assert r1[1] == r2[1] and abs(r1[0] - r2[0]) < 1e-12 * r2[0]
            assert r1[2] == r2[2]
            assert np.array_equal(X1, X2) and np.array_equal(L1, L2) and np.array_equal(S1, S2)
        E1, X1, E2, X2 = (np.empty_like(D) for _ in range(4))
        g.shrink_shift_masked(D, A, Y, W, 0.5, 0.3, E1, X1)
        c.shrink_shift_masked(D, A, Y, W, 0.5, 0.3, E2, X2)
        assert np.abs(E1 - E2).max() < 1e-14 and np.abs(X1 - X2).max() < 1e-14
        Q, R = g.qr_tall(rng.standard_normal((30, 6)))
        assert np.allclose(Q.T @ Q, np.eye(6))
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


_E2E = """
import numpy as np
import scipy.sparse
from solvers._backend import Backend
from solvers.rpca import low_rank_plus_sparse, random_mask, rpca

class SimGPU(Backend):
    def synchronize(self):
        pass

be = SimGPU("gpu", np, scipy.sparse)
assert be.kernels("rpca").__name__ == "gpu.rpca_kernels"
M, L, S = low_rank_plus_sparse(24, 20, rank=2, sparsity=0.05, seed=3)
mask = random_mask(M.shape, 0.15, seed=1)
for msk in (None, mask):
    g = rpca(M, method="altproj", rank=2, mask=msk, maxiter=MAXITER, backend=be)
    c = rpca(M, method="altproj", rank=2, mask=msk, maxiter=MAXITER, backend="cpu")
    assert g.n_iter == c.n_iter, (g.n_iter, c.n_iter)
    assert np.linalg.norm(g.L - c.L) <= 1e-9 * np.linalg.norm(c.L)
g = rpca(M, mask=mask, maxiter=MAXITER, backend=be)  # IALM with a mask
c = rpca(M, mask=mask, maxiter=MAXITER, backend="cpu")
assert g.n_iter == c.n_iter and np.allclose(g.L, c.L, atol=1e-9)
print("ok")
"""


def test_the_gpu_code_path_runs_under_cudasim():
    # the solver driving gpu.rpca_kernels, NumPy standing in for CuPy (a few iterations)
    out = run_cudasim(_E2E.replace("MAXITER", "3"))
    assert out.strip().endswith("ok")


@pytest.mark.slow
def test_the_gpu_code_path_converges_like_the_cpu_one_under_cudasim():
    out = run_cudasim(_E2E.replace("MAXITER", "1000"), timeout=600)
    assert out.strip().endswith("ok")
