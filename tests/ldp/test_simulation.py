"""The streaming simulation: reproducibility, bounded memory, calibration of the
message-level path, the exact-aggregate Gaussian path, accounting, bad input."""

import math
import tracemalloc

import numpy as np
import pytest

from solvers import BackendUnavailableError, InvalidProblemError
from solvers.ldp import (
    Layout,
    LdpParams,
    SyntheticProblem,
    estimate,
    ldp_regression,
    resolve,
)
from solvers.ldp import _kernels_numba as K  # noqa: N812
from solvers.ldp import randomizers as rz
from solvers.ldp.simulate import CHUNK_BYTES, chunk_rows


def test_results_do_not_depend_on_chunking_and_record_the_accounting():
    prob = SyntheticProblem(20_000, 5, 2, seed=1)
    a = ldp_regression(prob, k=2, epsilon=2.0, seed=3, chunk_size=4096)
    b = ldp_regression(prob, k=2, epsilon=2.0, seed=3, chunk_size=65536)
    c = ldp_regression(prob, k=2, epsilon=2.0, seed=4)
    assert np.array_equal(a.theta_unthresholded, b.theta_unthresholded)
    assert not np.array_equal(a.theta_unthresholded, c.theta_unthresholded)
    X, y = prob.materialize()  # noqa: N806
    d = ldp_regression(X, y, k=2, epsilon=2.0, seed=3)
    assert np.array_equal(a.theta_unthresholded, d.theta_unthresholded)
    assert a.epsilon == 2.0 and a.delta == 0.0 and a.reports_per_owner == 1
    assert a.n_owners == 20_000 and a.mechanism == "l2ball"
    assert set(a.noise) == {"cov", "xy"} and a.noise["cov"]["epsilon"] == 1.0
    bounds = rz.default_bounds(20_000, 5)
    assert a.bounds == bounds.to_dict()
    assert a.noise["cov"]["scale"] == pytest.approx(rz.l2ball_magnitude(15, bounds.r**2, 1.0))
    st = a.stats()
    assert st["epsilon"] == 2.0 and st["noise"]["xy"]["radius"] == pytest.approx(
        math.sqrt(5) * bounds.tau_x * bounds.tau_y
    )
    g = ldp_regression(prob, k=2, epsilon=2.0, seed=3, mechanism="gaussian", delta=1e-6)
    assert g.delta == 1e-6 and g.noise["xy"]["delta"] == 5e-7
    assert g.noise["xy"]["scale"] == pytest.approx(
        rz.analytic_gaussian_sigma(1.0, 5e-7, 2 * math.sqrt(5) * bounds.tau_x * bounds.tau_y)
    )


def test_streaming_keeps_memory_bounded():
    assert chunk_rows(2**22, 1325) * 1325 * 8 <= CHUNK_BYTES  # d = 50: 1325 numbers per report
    prob = SyntheticProblem(300_000, 10, 2, seed=2)
    tracemalloc.start()
    ldp_regression(prob, k=2, epsilon=4.0, seed=1, chunk_size=16384)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = 300_000 * 65 * 8  # every report at once: 156 MB
    assert peak < 40 * 2**20 < full, peak


def _aggregate(prob, cfg, seed, mode):  # noqa: ANN001, ANN202
    from solvers._backend import CPU
    from solvers._progress import Progress
    from solvers.ldp.simulate import run_noninteractive

    agg, _, _ = run_noninteractive(
        prob, cfg, be=CPU, entropy=seed, mode=mode, chunk_size=16384, threads=1,
        prog=Progress(None),
    )  # fmt: skip
    return agg


def _z(mean, stats, lay, n):  # noqa: ANN001, ANN202
    """Standardized aggregate noise: E[Z_j²] = B²/D on every coordinate (l2ball), σ² (Gauss)."""
    var = np.empty(lay.width)
    for ch in lay.channels:
        sl = slice(ch.offset, ch.offset + ch.dim)
        if ch.mechanism == "l2ball":
            var[sl] = ch.scale**2 / ch.dim - np.mean(stats[:, sl] ** 2, axis=0)
        else:
            var[sl] = ch.scale**2
    return (mean - stats.mean(axis=0)) / np.sqrt(var / n)


def test_message_level_noise_matches_the_mechanism():
    # aggregate − exact truncated mean, standardized by the mechanism's variance: N(0, 1)
    n, d = 200_000, 4
    prob = SyntheticProblem(n, d, 2, seed=5)
    cfg = resolve(LdpParams(k=2, epsilon=3.0), d=d, n=n)
    lay = Layout.for_config(cfg)
    X, y = prob.materialize()  # noqa: N806
    b = cfg.bounds
    stats = np.concatenate(rz.nldp_statistics(X, y, b), axis=1)
    exact = np.zeros(lay.width)
    K.moment_sums(0, X, y, np.zeros(d), b.r, b.tau_x, b.tau_y, exact)
    np.testing.assert_allclose(exact, stats.sum(axis=0), rtol=1e-9, atol=1e-6)
    z_sim = _z(_aggregate(prob, cfg, 9, "message").mean(), stats, lay, n)
    R = rz.randomize_nldp(X, y, epsilon=3.0, bounds=b, rng=np.random.default_rng(9))  # noqa: N806
    z_np = _z(R.mean(axis=0), stats, lay, n)
    for z in (z_sim, z_np):
        assert abs(np.mean(z**2) - 1) < 4.5 * math.sqrt(2 / z.size), np.mean(z**2)
        assert abs(np.mean(z)) < 4.5 / math.sqrt(z.size)


def test_aggregate_gaussian_mode_has_the_message_level_distribution():
    # the exact sum of the owners' Gaussian noise (drawn once per chunk) and message-level
    # simulation give the same law: standardized errors are N(0, 1) in both modes
    n, d = 30_000, 3
    prob = SyntheticProblem(n, d, 1, seed=6)
    X, y = prob.materialize()  # noqa: N806
    cfg = resolve(LdpParams(k=1, epsilon=2.0, mechanism="gaussian", delta=1e-5), d=d, n=n)
    lay = Layout.for_config(cfg)
    stats = np.concatenate(rz.nldp_statistics(X, y, cfg.bounds), axis=1)
    for mode in ("message", "aggregate"):
        z = np.concatenate([_z(_aggregate(prob, cfg, s, mode).mean(), stats, lay, n)
                            for s in range(25)])  # fmt: skip
        assert abs(np.mean(z**2) - 1) < 4.5 * math.sqrt(2 / z.size), (mode, np.mean(z**2))
        assert abs(np.mean(z)) < 4.5 / math.sqrt(z.size), mode
    # ... and the aggregate mode is what ldp_regression(simulate="auto") uses for gaussian
    r = ldp_regression(prob, k=1, epsilon=2.0, mechanism="gaussian", delta=1e-5, seed=1)
    assert r.info["simulate"] == "aggregate"


def test_cancellation_and_progress():
    prob = SyntheticProblem(50_000, 4, 1, seed=7)
    seen = []

    def cb(info):  # noqa: ANN001, ANN202
        seen.append(info.iteration)
        return info.iteration >= 2

    r = ldp_regression(prob, k=1, epsilon=2.0, seed=1, chunk_size=8192, callback=cb)
    assert r.cancelled and seen == [1, 2] and r.n_owners == 2 * 8192
    ri = ldp_regression(prob, k=1, epsilon=2.0, seed=1, protocol="interactive", callback=cb)
    assert ri.cancelled and ri.n_iter == 2


@pytest.mark.parametrize(
    "kwargs, field, match",
    [
        ({"epsilon": 0.0}, "params.epsilon", "greater than 0"),
        ({"epsilon": -1.0}, "params.epsilon", "greater than 0"),
        ({"k": 7}, "params.k", "exceeds the dimension"),
        ({"mechanism": "gaussian"}, "params", "give delta"),
        ({"delta": 1e-6}, "params", "pure"),
        ({"simulate": "aggregate"}, "params.simulate", "only exists"),
        ({"protocol": "nldp_public"}, "inputs.public_X", "public_X"),
        ({"public_X": np.ones((5, 6))}, "inputs.public_X", "only used"),
        ({"protocol": "carrier-pigeon"}, "params.protocol", "protocol"),
    ],
)
def test_bad_input_is_an_invalid_problem(kwargs, field, match):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.standard_normal(50)  # noqa: N806
    kw = {"k": 2, "epsilon": 1.0, **kwargs}
    with pytest.raises(InvalidProblemError, match=match) as exc:
        ldp_regression(X, y, **kw)
    assert exc.value.field.startswith(field)


def test_bad_data_and_backend():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.standard_normal(50)  # noqa: N806
    with pytest.raises(InvalidProblemError, match="49 entries"):
        ldp_regression(X, y[:49], k=2, epsilon=1.0)
    Xn = X.copy()  # noqa: N806
    Xn[3, 2] = np.nan
    with pytest.raises(InvalidProblemError, match="NaN"):
        ldp_regression(Xn, y, k=2, epsilon=1.0)
    import gpu

    if not gpu.is_available():
        with pytest.raises(BackendUnavailableError):
            ldp_regression(X, y, k=2, epsilon=1.0, backend="gpu")
    R = rz.randomize_nldp(X, y, epsilon=1.0, bounds=rz.default_bounds(50, 6), rng=rng)  # noqa: N806
    P = rz.randomize_public(X, y, epsilon=1.0, bounds=rz.default_bounds(50, 6), rng=rng)  # noqa: N806
    with pytest.raises(InvalidProblemError, match="public_X has 5 columns"):
        estimate(P, k=2, epsilon=1.0, protocol="nldp_public", public_X=X[:, :5])
    with pytest.raises(InvalidProblemError, match="needs the public"):
        estimate(P, k=2, epsilon=1.0, protocol="nldp_public")
    with pytest.raises(InvalidProblemError, match="not d\\(d\\+1\\)/2"):
        estimate(R[:, :21], k=2, epsilon=1.0)
    with pytest.raises(InvalidProblemError, match="norm"):
        estimate(R * 1.01, k=2, epsilon=1.0)
    with pytest.raises(InvalidProblemError, match="interactive"):
        estimate(R, k=2, epsilon=1.0, protocol="interactive")
    ok = estimate([R[:20], R[20:]], k=2, epsilon=1.0)
    assert np.array_equal(ok.theta, estimate(R, k=2, epsilon=1.0).theta)
