"""The issue's "what must hold" regimes of local privacy.

The full-scale versions (n = 10⁷ owners, pure ε-LDP ℓ2-ball mechanism simulated message
by message, several seeds) are ``slow`` (minutes on 2 cores); the default run checks the
same mechanisms on faster versions: the n^{-1/2} noise law of the aggregate, the
noise-aware eigenvalue floor of the nldp plug-in (its scale, and the pre-asymptotic hole
at n = 10⁶ that it removes), the interactive protocol at 10⁷ owners with the exact
aggregate of Gaussian noise, the public-data gap at 5·10⁵ owners, and the ε ordering.
"""

import math

import numpy as np
import pytest

from solvers._backend import CPU
from solvers._progress import Progress
from solvers.ldp import Layout, LdpParams, SyntheticProblem, estimate, ldp_regression, resolve
from solvers.ldp import _kernels_numba as K  # noqa: N812
from solvers.ldp import estimators as est
from solvers.ldp import randomizers as rz
from solvers.ldp.simulate import run_noninteractive


def _median_errors(protocol, ns, seeds, d=10, k=2, eps=4.0, **kw):  # noqa: ANN001, ANN003, ANN202
    med, sup = [], []
    for n in ns:
        errs, ok = [], []
        for s in seeds:
            prob = SyntheticProblem(int(n), d, k, seed=s)
            pub = prob.public_X(20_000) if protocol == "nldp_public" else None
            r = ldp_regression(prob, k=k, epsilon=eps, protocol=protocol, public_X=pub,
                               seed=1000 + s, **kw)  # fmt: skip
            errs.append(prob.error(r.theta))
            ok.append(prob.support_recovered(r.theta))
        med.append(float(np.median(errs)))
        sup.append(ok)
    return np.array(med), sup


def _slope(ns, errs):  # noqa: ANN001, ANN202
    return float(np.polyfit(np.log10(np.asarray(ns, float)), np.log10(errs), 1)[0])


def _nldp_floors(n, seeds, d=10, eps=4.0, floors=(0.5, 0.0)):  # noqa: ANN001, ANN202
    """nldp simulated once per seed (the draws of ``ldp_regression(seed=1000 + s)``),
    estimated with each noise floor; ``{floor: (median error, supports)}``."""
    errs = {c: [] for c in floors}
    sup = {c: [] for c in floors}
    for s in seeds:
        prob = SyntheticProblem(int(n), d, 2, seed=s)
        cfg = resolve(LdpParams(k=2, epsilon=eps), d=d, n=int(n))
        agg, _, _ = run_noninteractive(
            prob, cfg, be=CPU, entropy=1000 + s, mode="message", chunk_size=65536, threads=1,
            prog=Progress(None),
        )  # fmt: skip
        for c in floors:
            r = estimate(agg, k=2, epsilon=eps, noise_floor=c, **cfg.bounds.to_dict())
            errs[c].append(prob.error(r.theta))
            sup[c].append(prob.support_recovered(r.theta))
    return {c: (float(np.median(errs[c])), sup[c]) for c in floors}


# -- default (fast) versions ---------------------------------------------------------------------
def test_aggregate_noise_falls_like_one_over_sqrt_n():
    # NLDP, d = 10, ε = 4, l2-ball messages, bounds fixed for a study of up to 10⁷ owners:
    # the error of the aggregated statistics has slope −1/2 in n
    d = 10
    cfg = resolve(LdpParams(k=2, epsilon=4.0, **rz.default_bounds(10**7, d).to_dict()), d=d)
    lay = Layout.for_config(cfg)
    b = cfg.bounds
    ns, errs = [10**4, 10**5, 10**6], []
    for n in ns:
        e = []
        for s in range(3 if n < 10**6 else 1):
            prob = SyntheticProblem(n, d, 2, seed=s)
            agg, _, _ = run_noninteractive(
                prob, cfg, be=CPU, entropy=s, mode="message", chunk_size=65536, threads=1,
                prog=Progress(None),
            )  # fmt: skip
            X, y = prob.materialize()  # noqa: N806
            exact = np.zeros(lay.width)
            K.moment_sums(0, X, y, np.zeros(d), b.r, b.tau_x, b.tau_y, exact)
            e.append(np.linalg.norm(agg.mean() - exact / n))
        errs.append(np.median(e))
    slope = _slope(ns, errs)
    assert -0.6 < slope < -0.4, (errs, slope)
    # the level is the mechanism's: √(Σ_j Var Z_j / n) with Var Z_j ≈ B²/D per release
    pred = math.sqrt(sum(c.scale**2 for c in lay.channels) / 10**6)
    assert 0.85 < errs[-1] / pred < 1.05, (errs[-1], pred)


def test_noise_floor_follows_the_noise_spectral_norm():
    # the mechanism of the fix: the privacy noise of Σ̂ (mean of n l2-ball releases) has
    # spectral norm ≈ 2σ_A√d with σ_A = coordinate_sd/√n, a public scale; the plug-in floors
    # Σ̂'s eigenvalues at noise_floor × that
    d, n = 10, 20_000
    rng = np.random.default_rng(3)
    b = rz.Bounds(r=3.0, tau_x=2.0, tau_y=2.0)
    X = rng.standard_normal((n, d))  # noqa: N806
    y = X[:, 0] + 0.1 * rng.standard_normal(n)
    truth = rz.nldp_statistics(X, y, b)[0].mean(axis=0)
    sd = rz.nldp_channels(d, 4.0, b)[0].coordinate_sd
    s = est.noise_spectral_norm(sd, n, d)
    assert s == pytest.approx(2 * sd / math.sqrt(n) * math.sqrt(d))
    ratios = []
    for _ in range(8):
        R = rz.randomize_nldp(X, y, epsilon=4.0, bounds=b, rng=rng)  # noqa: N806
        E = rz.unpack_symmetric(R[:, : d * (d + 1) // 2].mean(axis=0) - truth, d)  # noqa: N806
        ratios.append(np.linalg.norm(E, 2) / s)
    # (a finite-d Wigner matrix's norm is a little below the edge: ≈ 0.88 × 2σ√d at d = 10)
    assert 0.7 < np.median(ratios) < 1.1, ratios
    # what the estimate records: the floor is max(relative floor, 0.5·s)
    res = estimate(R, k=2, epsilon=4.0, r=b.r, tau_x=b.tau_x, tau_y=b.tau_y)
    assert res.info["noise_norm"] == pytest.approx(s, rel=1e-12)
    assert res.info["eig_floor_noise"] == pytest.approx(0.5 * s, rel=1e-12)
    assert res.info["eig_floor"] == max(res.info["eig_floor_noise"], res.info["eig_floor_relative"])
    # the public covariance carries no privacy noise: no noise floor for nldp_public
    P = rz.randomize_public(X, y, epsilon=4.0, bounds=b, rng=rng)  # noqa: N806
    pub = estimate(P, k=2, epsilon=4.0, protocol="nldp_public", public_X=X[:2000], r=b.r,
                   tau_x=b.tau_x, tau_y=b.tau_y)  # fmt: skip
    assert pub.info["eig_floor_noise"] == 0.0
    # where λ_min(Σ) ≥ (1 + c)·s nothing is floored: the paper's estimator exactly
    S = np.eye(d) + 0.5 * s * np.diag(rng.uniform(-1, 1, d))  # noqa: N806
    t1, t01, i1 = est.plugin(S, S @ np.eye(d)[0], k=2, noise_norm=s, noise_floor=0.5)
    t0, t00, _ = est.plugin(S, S @ np.eye(d)[0], k=2, noise_norm=s, noise_floor=0.0)
    assert i1["eig_floored"] == 0 and np.array_equal(t1, t0) and np.array_equal(t01, t00)


def test_noise_floor_removes_the_plugin_hole_at_one_million_owners():
    # d = 10, k = 2, ε = 4, l2-ball messages: at n = 10⁶ an eigenvalue of the noisy Σ̂ sits
    # near zero and the paper's plug-in (noise_floor=0) inverts noise; the noise-aware
    # floor recovers the support in every seed (docs/ldp.md, "Regimes measured")
    res = _nldp_floors(10**6, [0, 1, 2])
    print(f"nldp n=1e6: floor 0.5 {res[0.5]}, no floor {res[0.0]}")
    assert all(res[0.5][1]) and res[0.5][0] < 0.3, res
    assert res[0.0][0] > 0.6 and sum(res[0.0][1]) <= 1, res


def test_interactive_recovers_the_support_at_ten_million_owners():
    # d = 10, k = 2, ε = 4; Gaussian mechanism, exact aggregate noise (fast)
    kw = {"mechanism": "gaussian", "delta": 1e-6}
    errs, sup = _median_errors("interactive", [10**5, 10**7], [0], **kw)
    assert sup[-1] == [True] and errs[-1] < 0.35, errs
    assert errs[0] > 3 * errs[-1], errs


def _public_gap(n, eps, seeds):  # noqa: ANN001, ANN202
    e_pub, s_pub = _median_errors("nldp_public", [n], seeds, d=20, eps=eps)
    res = _nldp_floors(n, seeds, d=20, eps=eps)
    print(f"d=20 eps={eps} n={n:.0e}: public {e_pub} {s_pub}, nldp floor 0.5 {res[0.5]}, "
          f"paper's plug-in {res[0.0]}")  # fmt: skip
    # public data: the support every time, and a small error
    assert all(s_pub[0]), s_pub
    # nldp cannot estimate θ: its noisy covariance leaves a much larger error; the paper's
    # plug-in also misses the support on most seeds (when it does not, it is luck). Our
    # noise-floored plug-in degrades to ranking b̂ here, which finds the support of this
    # isotropic design, but not θ (error ≥ 3× public's, > 0.5; docs/ldp.md)
    assert res[0.5][0] > 3 * e_pub[0] and res[0.5][0] > 0.5, (res, e_pub)
    assert res[0.0][0] > 3 * e_pub[0], (res, e_pub)
    assert sum(res[0.0][1]) < len(seeds) / 2, res


def test_public_data_recovers_the_support_where_nldp_cannot():
    # d = 20, k = 2, ε = 2, n = 5·10⁵ (the slow test: ε = 1 at n = 10⁷); l2-ball messages
    _public_gap(5 * 10**5, 2.0, [0, 1, 2])


def test_error_grows_as_epsilon_falls():
    eps = [8.0, 1.0, 0.25]
    scales = [rz.public_channels(10, e, rz.Bounds(1, 1, 1))[0].coordinate_sd for e in eps]
    assert scales[0] < scales[1] < scales[2]
    med = []
    for e in eps:
        errs = []
        for s in range(2):
            prob = SyntheticProblem(10**6, 10, 2, seed=s)
            r = ldp_regression(prob, k=2, epsilon=e, protocol="nldp_public", seed=50 + s,
                               public_X=prob.public_X(20_000), theta_bound=None)  # fmt: skip
            errs.append(prob.error(r.theta_unthresholded))
        med.append(np.median(errs))
    assert med[0] < med[1] < med[2], med


# -- full scale (slow) -----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("protocol", ["nldp", "interactive"])
def test_error_slope_and_support_at_ten_million(protocol):
    # d = 10, k = 2, ε = 4, pure ε-LDP l2-ball mechanism, every report simulated
    ns = [10**5, 10**6, 10**7]
    med, sup = _median_errors(protocol, ns, [0, 1, 2])
    slope = _slope(ns, med)
    print(f"{protocol}: median errors {med}, slope {slope:.3f}, support at 1e7 {sup[-1]}")
    assert all(sup[-1]), sup
    assert med[2] < 0.15 and med[2] < med[1] / 1.5 and med[2] < med[0] / 3, med
    assert med[0] > med[1] > med[2], med
    if protocol == "interactive":
        assert -0.75 < slope < -0.35, (med, slope)
    else:
        # the plug-in with the noise-aware eigenvalue floor (the paper's plug-in alone is
        # not monotone before its n ≳ d⁴ regime: docs/ldp.md)
        assert -0.65 < slope < -0.4, (med, slope)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_public_data_gap_at_epsilon_one():
    # d = 20, k = 2, ε = 1: nldp_public recovers the support, nldp cannot. With the pure
    # l2-ball mechanism (less noisy than the Gaussian calibration the n = 10⁷ was
    # estimated with) the paper's plug-in starts recovering it at n = 10⁷ (docs/ldp.md), so
    # the gap is checked at n = 3·10⁶
    _public_gap(3 * 10**6, 1.0, [0, 1, 2])


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_error_grows_as_epsilon_falls_at_ten_million():
    med = [_median_errors("interactive", [10**7], [0, 1], eps=e)[0][0] for e in (8.0, 4.0, 1.0)]
    print(f"interactive n=1e7, eps 8/4/1: {med}")
    assert med[0] < med[2] and med[1] < med[2]
