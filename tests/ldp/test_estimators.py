"""Server-side estimators and baselines against independent references."""

import itertools
import math

import numpy as np
import pytest

from solvers.ldp import SyntheticProblem, baselines
from solvers.ldp import estimators as est


def _problem(d=8, k=2, seed=0):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d))  # noqa: N806
    S = A @ A.T / d + 0.5 * np.eye(d)  # noqa: N806
    theta = np.zeros(d)
    theta[rng.choice(d, k, replace=False)] = rng.choice([-1.0, 1.0], k) / math.sqrt(k)
    return S, S @ theta, theta


def test_plugin_recovers_theta_from_exact_statistics():
    S, b, theta = _problem()  # noqa: N806
    t, t0, info = est.plugin(S, b, k=2, theta_bound=None)
    np.testing.assert_allclose(t0, theta, atol=1e-12)
    np.testing.assert_allclose(t, theta, atol=1e-12)
    assert info["eig_floored"] == 0
    # soft thresholding is the paper's S_λ: shrinks every kept entry by λ
    ts, _, _ = est.plugin(S, b, k=2, threshold="soft", lam=0.1, theta_bound=None)
    np.testing.assert_allclose(ts, np.sign(theta) * np.maximum(np.abs(theta) - 0.1, 0), atol=1e-12)


def test_psd_repair_floors_negative_eigenvalues():
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((5, 5)))  # noqa: N806
    w = np.array([-2.0, -0.1, 0.5, 1.0, 3.0])
    S = (Q * w) @ Q.T  # noqa: N806
    wf, V, floor, info = est.psd_repair(S, 0.1)  # noqa: N806
    assert floor == pytest.approx(0.1 * np.mean(np.abs(w)))
    np.testing.assert_allclose(np.sort(wf), np.sort(np.maximum(w, floor)), atol=1e-12)
    assert info["eig_floored"] == 2 and info["eig_min"] == pytest.approx(-2.0)
    P = (Q * np.abs(w)) @ Q.T  # noqa: N806 - PSD: the floor is relative to the mean diagonal
    assert est.psd_repair(P, 0.1)[2] == pytest.approx(0.1 * np.trace(P) / 5)
    wz, _, fz, _ = est.psd_repair(np.zeros((3, 3)), 0.1)
    assert fz == 0.1 and np.all(wz == 0.1)


def test_iht_quadratic_matches_best_subset():
    # independent reference: enumerate every support of size k, least squares on each
    for seed in range(3):
        S, b, theta = _problem(d=7, k=2, seed=seed)  # noqa: N806
        b = b + 0.05 * np.random.default_rng(seed).standard_normal(7)
        best, best_obj = None, np.inf
        for supp in itertools.combinations(range(7), 2):
            idx = list(supp)
            t = np.zeros(7)
            t[idx] = np.linalg.solve(S[np.ix_(idx, idx)], b[idx])
            obj = 0.5 * t @ S @ t - b @ t
            if obj < best_obj:
                best, best_obj = t, obj
        t, _, info = est.iht_quadratic(S, b, k=2, theta_bound=None, min_eig=1e-9)
        assert 0.5 * t @ S @ t - b @ t <= best_obj + 1e-9
        np.testing.assert_allclose(t, best, atol=1e-7)
        assert info["iht_iterations"] < 2000


def test_projection_never_increases_the_error():
    rng = np.random.default_rng(2)
    theta = np.array([0.6, -0.8, 0.0])
    for _ in range(100):
        v = rng.standard_normal(3) * 3
        p = est.project_ball(v, 1.0)
        assert np.linalg.norm(p) <= 1 + 1e-12
        assert np.linalg.norm(p - theta) <= np.linalg.norm(v - theta) + 1e-12


def test_lasso_cd_satisfies_kkt_and_matches_scipy():
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    n, d = 400, 12
    X = rng.standard_normal((n, d))  # noqa: N806
    theta = np.zeros(d)
    theta[[1, 5, 9]] = [1.0, -0.5, 0.25]
    y = X @ theta + 0.3 * rng.standard_normal(n)
    G, c, _, _ = baselines.gram(X, y)  # noqa: N806
    lam = 0.05
    t, sweeps = baselines.lasso_from_gram(G, c, lam)
    grad = G @ t - c
    on = t != 0
    np.testing.assert_allclose(grad[on], -lam * np.sign(t[on]), atol=1e-8)
    assert np.all(np.abs(grad[~on]) <= lam + 1e-8)

    def f(z):  # noqa: ANN001, ANN202 - θ = u − v, u, v ≥ 0
        u, v = z[:d], z[d:]
        th = u - v
        val = 0.5 * th @ G @ th - c @ th + lam * (u.sum() + v.sum())
        g = G @ th - c
        return val, np.concatenate([g + lam, -g + lam])

    ref = minimize(f, np.zeros(2 * d), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * d),
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})  # fmt: skip
    np.testing.assert_allclose(t, ref.x[:d] - ref.x[d:], atol=1e-6)


def test_baselines_on_a_synthetic_problem():
    prob = SyntheticProblem(100_000, 10, 2, seed=4, noise=0.5)
    la = baselines.lasso(prob)
    ih = baselines.iht(prob, k=2)
    assert prob.error(la.theta) < 0.02 and prob.support_recovered(ih.theta)
    assert prob.error(ih.theta) < 0.01 and math.isinf(la.epsilon)
    # the naive LDP approach is biased towards zero: its error stays near ‖θ*‖ = 1
    nv = baselines.naive_ldp(prob, k=2, epsilon=4.0, seed=1)
    assert nv.epsilon == 4.0 and nv.noise["xy"]["scale"] > 1
    assert prob.error(nv.theta) > 0.8
