"""The IRS-MIMO simulator against the physical model; the estimators; OMP baselines."""

import numpy as np
import pytest

from solvers.krosbl import irs_mimo as irs
from solvers.krosbl import kronecker_problem, nmse_db, omp


@pytest.fixture(scope="module")
def noiseless():
    return irs.simulate(snr=300.0, seed=0)


def test_sparse_model_reproduces_the_physical_measurements(noiseless):
    p = noiseless
    assert p.y.shape == (288,) and p.x.shape == (18**3,)
    assert [h.shape for h in p.H] == [(6, 18), (3, 18), (16, 18)]
    # y_clean = stack_i vec(G_i X) (BS antenna fastest) from the channels H2 diag(ψ) H1
    phys = np.concatenate([(p.channels[i] @ p.pilots).T.ravel() for i in range(6)])
    kron = irs.clean_measurements(p)
    assert np.abs(kron - phys).max() < 1e-10 * np.abs(phys).max()
    assert np.abs(p.y - phys).max() < 1e-12 * np.abs(phys).max()  # 300 dB
    for i in range(6):
        np.testing.assert_allclose(
            p.channels[i], (p.H2 * p.patterns[:, i]) @ p.H1, atol=1e-10 * np.abs(p.H1).max()
        )


def test_channels_from_the_true_x_are_exact_for_any_pattern(noiseless):
    p = noiseless
    assert irs.channel_nmse(irs.channels_from_x(p, p.x), p.channels) < 1e-24
    rng = np.random.default_rng(1)
    new = rng.choice([-1.0, 1.0], (256, 2)) / 16
    want = np.stack([(p.H2 * new[:, i]) @ p.H1 for i in range(2)])
    got = irs.channels_from_x(p, p.x, patterns=new)
    assert np.abs(got - want).max() < 1e-10 * np.abs(want).max()


def test_kronecker_and_block_structure_of_the_channel(noiseless):
    p = noiseless
    fs = p.factor_support
    assert len(fs[1]) == 1 and len(fs[0]) == len(fs[2]) == 3
    for s in (fs[0], fs[2]):  # clusters of 3 adjacent grid points (mod G)
        assert any(set(s) == {(a + j) % 18 for j in range(3)} for a in range(18))
    np.testing.assert_array_equal(np.flatnonzero(p.x), p.support)


def test_noise_level_matches_the_snr():
    p = irs.simulate(snr=10.0, seed=3)
    clean = irs.clean_measurements(p)
    assert abs(10 * np.log10(np.mean(np.abs(clean) ** 2) / p.noise_var) - 10.0) < 1e-9
    e = p.y - clean
    assert 0.7 < np.mean(np.abs(e) ** 2) / p.noise_var < 1.3


def test_svd_krosbl_estimates_the_channel_better_than_omp():
    errs = {"svd": [], "omp": []}
    for seed in range(3):
        p = irs.simulate(snr=20.0, seed=seed)
        for m in errs:
            errs[m].append(irs.estimate(p, m).nmse)
    assert 10 * np.log10(np.mean(errs["svd"])) < -25
    assert np.mean(errs["svd"]) < np.mean(errs["omp"])


@pytest.mark.parametrize("method", ["am", "pc", "komp"])
def test_other_estimators_run(method):
    p = irs.simulate(snr=20.0, seed=2)
    e = irs.estimate(p, method)
    assert e.channels.shape == (6, 16, 6) and np.isfinite(e.nmse) and e.nmse < 1.0
    assert e.method == method and e.seconds > 0


def test_estimate_rejects_unknown_method(noiseless):
    with pytest.raises(ValueError):
        irs.estimate(noiseless, "lasso")


def test_omp_recovers_noiseless_sparse_vectors():
    prob = kronecker_problem([(12, 20), (12, 20)], [2, 2], snr=None, seed=0, amplitudes="bounded")
    r = omp(prob.y, prob.H, tol=1e-10)
    np.testing.assert_array_equal(r.support, prob.support)
    assert nmse_db(r.x, prob.x) < -150
    k = omp(prob.y, prob.H, kronecker=True, tol=1e-10)
    for a, b in zip(k.factor_support, prob.factor_support):
        np.testing.assert_array_equal(a, b)
    assert nmse_db(k.x, prob.x) < -150


def test_omp_stops_at_the_noise_level():
    prob = kronecker_problem([(12, 20), (12, 20)], [2, 2], snr=20, seed=1, amplitudes="bounded")
    r = omp(prob.y, prob.H, noise_var=prob.noise_var)
    assert r.support.size <= 8 and r.residuals[-1] ** 2 * np.sum(prob.y**2) <= 144 * prob.noise_var
    assert nmse_db(r.x, prob.x) < -15
