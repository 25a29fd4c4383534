"""CPU and GPU agree (needs CuPy and a CUDA device; skipped otherwise)."""

import numpy as np
import pytest

from solvers.ldp import (
    Aggregate,
    Layout,
    LdpParams,
    SyntheticProblem,
    estimate,
    ldp_regression,
    resolve,
)
from solvers.ldp import randomizers as rz

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu_backend():
    from solvers import get_backend

    return get_backend("gpu")


def test_exact_aggregate_is_identical_on_cpu_and_gpu(gpu_backend):
    rng = np.random.default_rng(0)
    n, d = 300_000, 10
    prob = SyntheticProblem(n, d, 2, seed=1)
    X, y = prob.materialize()  # noqa: N806
    cfg = resolve(LdpParams(k=2, epsilon=4.0), d=d, n=n)
    R = rz.randomize_nldp(X, y, epsilon=4.0, bounds=cfg.bounds, rng=rng)  # noqa: N806
    lay = Layout.for_config(cfg)
    a_cpu, a_gpu = Aggregate(lay), Aggregate(lay)
    a_cpu.add(R)
    a_gpu.add(gpu_backend.asarray(R), gpu_backend)
    assert np.array_equal(a_cpu.sums, a_gpu.sums)
    e_cpu = estimate(R, k=2, epsilon=4.0, backend="cpu")
    e_gpu = estimate(R, k=2, epsilon=4.0, backend="gpu")
    assert e_gpu.backend == "gpu" and isinstance(e_gpu.theta, np.ndarray)
    np.testing.assert_allclose(e_gpu.theta_unthresholded, e_cpu.theta_unthresholded, atol=1e-9)
    assert np.array_equal(e_gpu.support, e_cpu.support)


@pytest.mark.parametrize(
    "kw",
    [
        {"protocol": "nldp"},
        {"protocol": "nldp", "estimator": "iht"},
        {"protocol": "interactive"},
        {"protocol": "nldp_public"},
        {"protocol": "nldp", "mechanism": "gaussian", "delta": 1e-6},
        {"protocol": "interactive", "mechanism": "gaussian", "delta": 1e-6, "simulate": "message"},
    ],
)
def test_simulation_agrees_on_cpu_and_gpu(kw):
    prob = SyntheticProblem(200_000, 10, 2, seed=2)
    pub = prob.public_X(20_000) if kw["protocol"] == "nldp_public" else None
    cpu = ldp_regression(prob, k=2, epsilon=4.0, seed=7, backend="cpu", public_X=pub, **kw)
    gpu = ldp_regression(prob, k=2, epsilon=4.0, seed=7, backend="gpu", public_X=pub, **kw)
    assert gpu.backend == "gpu" and gpu.n_owners == cpu.n_owners == 200_000
    np.testing.assert_allclose(gpu.theta_unthresholded, cpu.theta_unthresholded, atol=1e-8)
    np.testing.assert_allclose(gpu.theta, cpu.theta, atol=1e-8)
    assert np.array_equal(gpu.support, cpu.support)


def test_gpu_kernels_match_cpu_kernels(gpu_backend):
    import cupy

    import gpu.ldp_kernels as g
    from solvers.ldp import _kernels_numba as c
    from solvers.ldp.simulate import draws

    rng = np.random.default_rng(3)
    m, d = 50_000, 12
    X = rng.standard_normal((m, d)) * 1.3  # noqa: N806
    y = X[:, 0] - 0.5 * X[:, 4] + 0.1 * rng.standard_normal(m)
    theta = np.zeros(d)
    theta[[0, 4]] = [0.6, -0.3]
    for proto in ("nldp", "nldp_public", "interactive"):
        p = LdpParams(k=2, epsilon=2.0, protocol=proto, rounds=2, round_size=10)
        cfg = resolve(p, d=d, n=m)
        lay = Layout.for_config(cfg, theta if proto == "interactive" else None)
        G, U = draws(lay, m, 1, 0, 0)  # noqa: N806
        b = cfg.bounds
        ch = lay.channel_arrays()
        out_c = np.empty((m, lay.width))
        c.release_rows(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, G, U, *ch, out_c)
        out_g = cupy.empty((m, lay.width))
        g.release_rows(lay.kind, cupy.asarray(X), cupy.asarray(y), cupy.asarray(theta), b.r,
                       b.tau_x, b.tau_y, cupy.asarray(G), cupy.asarray(U),
                       *[cupy.asarray(a) for a in ch], out_g)  # fmt: skip
        np.testing.assert_allclose(out_g.get(), out_c, rtol=1e-10, atol=1e-10 * np.abs(out_c).max())
        s_c = np.zeros(lay.width)
        s_g = cupy.zeros(lay.width)
        c.moment_sums(lay.kind, X, y, theta, b.r, b.tau_x, b.tau_y, s_c)
        g.moment_sums(lay.kind, cupy.asarray(X), cupy.asarray(y), cupy.asarray(theta), b.r,
                      b.tau_x, b.tau_y, s_g)  # fmt: skip
        np.testing.assert_allclose(s_g.get(), s_c, rtol=1e-9, atol=1e-9 * np.abs(s_c).max())
