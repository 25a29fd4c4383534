"""The numba.cuda twins of the LDP kernels, run on the CPU simulator."""

import pytest

from tests.conftest import run_cudasim

pytestmark = pytest.mark.cudasim


def test_gpu_kernels_match_cpu_kernels_under_cudasim():
    out = run_cudasim(
        """
        import math
        import numpy as np
        import gpu.ldp_kernels as g
        from solvers.ldp import _kernels_numba as c
        from solvers.ldp import LdpParams, Layout, resolve
        from solvers.ldp.simulate import draws

        rng = np.random.default_rng(0)
        m, d = 37, 4
        X = rng.standard_normal((m, d)) * 1.5
        X[3] = 0.0                                   # a zero statistic (random pole)
        y = X @ np.array([1.0, -0.5, 0.0, 0.0]) + 0.1 * rng.standard_normal(m)
        theta = np.array([0.3, -0.2, 0.0, 0.1])
        for proto, mech, kw in (
            ("nldp", "l2ball", {}),
            ("nldp_public", "l2ball", {}),
            ("interactive", "l2ball", {}),
            ("nldp", "gaussian", {"delta": 1e-6}),
            ("interactive", "gaussian", {"delta": 1e-6}),
        ):
            p = LdpParams(k=2, epsilon=2.0, protocol=proto, mechanism=mech, r=2.0, tau_x=1.5,
                          tau_y=2.0, rounds=2, round_size=10, **kw)
            cfg = resolve(p, d=d, n=m)
            lay = Layout.for_config(cfg, theta if proto == "interactive" else None)
            G, U = draws(lay, m, 5, 0, 0)
            ch = lay.channel_arrays()
            b = cfg.bounds
            o1 = np.empty((m, lay.width)); o2 = np.empty((m, lay.width))
            g.release_rows(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, G, U, *ch, o1)
            c.release_rows(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, G, U, *ch, o2)
            assert np.abs(o1 - o2).max() < 1e-10 * np.abs(o2).max(), (proto, mech)
            a1 = np.zeros(lay.width, np.int64); a2 = np.zeros(lay.width, np.int64)
            g.fixed_point_sum(o1, 1.0 / lay.quanta, a1)
            c.fixed_point_sum(o1, 1.0 / lay.quanta, a2)
            assert np.array_equal(a1, a2), (proto, mech)
            s1 = np.zeros(lay.width); s2 = np.zeros(lay.width)
            g.moment_sums(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, s1)
            c.moment_sums(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, s2)
            assert np.abs(s1 - s2).max() < 1e-12 * max(1.0, np.abs(s2).max()), (proto, mech)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_simulation_on_the_gpu_code_path_under_cudasim():
    # the solver's GPU branch (device kernels, transfers, exact aggregation) with NumPy
    # arrays through a simulator "GPU" backend: identical to the CPU run, seed for seed
    out = run_cudasim(
        """
        import dataclasses
        import numpy as np, scipy.sparse
        from solvers._backend import Backend
        from solvers.ldp import ldp_regression, SyntheticProblem, estimate, randomizers as rz

        @dataclasses.dataclass(frozen=True)
        class SimGPU(Backend):
            def synchronize(self):
                pass

        be = SimGPU("gpu", np, scipy.sparse)
        prob = SyntheticProblem(150, 3, 1, seed=2)
        for kw in ({"protocol": "nldp"}, {"protocol": "interactive", "rounds": 3},
                   {"protocol": "nldp", "mechanism": "gaussian", "delta": 1e-5,
                    "simulate": "message"}):
            cpu = ldp_regression(prob, k=1, epsilon=3.0, seed=4, backend="cpu", **kw)
            gpu = ldp_regression(prob, k=1, epsilon=3.0, seed=4, backend=be, **kw)
            assert np.abs(cpu.theta - gpu.theta).max() < 1e-9, kw
        X, y = prob.materialize()
        b = rz.default_bounds(150, 3)
        R = rz.randomize_nldp(X, y, epsilon=3.0, bounds=b, rng=np.random.default_rng(0))
        e1 = estimate(R, k=1, epsilon=3.0, backend="cpu")
        e2 = estimate(R, k=1, epsilon=3.0, backend=be)
        assert np.abs(e1.theta - e2.theta).max() < 1e-12
        print("ok")
        """,
        timeout=900,
    )
    assert out.strip().endswith("ok")
