"""Owner-side randomizers: ε-LDP (empirical likelihood ratios), noise scales that follow
the documented sensitivities, the exact analytic Gaussian calibration, the fixed-point
aggregate, and the equality of the NumPy randomizers with the simulation's kernels."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from solvers.ldp import Aggregate, Layout, LdpParams, resolve
from solvers.ldp import _kernels_numba as K  # noqa: N812
from solvers.ldp import randomizers as rz

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- shapes --------------------------------------------------------------------------------
def test_pack_unpack_and_widths():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4))
    p = rz.pack_outer(x)
    assert p.shape == (5, 10)
    np.testing.assert_allclose(rz.unpack_symmetric(p[2], 4), np.outer(x[2], x[2]), rtol=1e-15)
    assert rz.report_width(10, "nldp") == 65 and rz.report_width(10, "nldp_public") == 10
    assert rz.report_width(50, "nldp") == 1325
    for d in (1, 2, 10, 50, 300):
        assert rz.dim_from_width(rz.report_width(d, "nldp"), "nldp") == d
    with pytest.raises(ValueError, match="d\\(d\\+1\\)/2"):
        rz.dim_from_width(64, "nldp")


# -- the l2-ball mechanism --------------------------------------------------------------------
def test_l2ball_norm_unbiasedness_and_variance():
    rng = np.random.default_rng(1)
    D, rho, eps = 6, 2.0, 1.5  # noqa: N806
    v = np.array([0.7, -1.1, 0.2, 0.0, 0.9, 0.3])
    Z = rz.l2ball(np.repeat(v[None], 200_000, 0), rho, eps, rng)  # noqa: N806
    B = rz.l2ball_magnitude(D, rho, eps)  # noqa: N806
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), B, rtol=1e-12)
    se = Z.std(axis=0) / math.sqrt(len(Z))
    assert np.all(np.abs(Z.mean(axis=0) - v) < 5 * se), (Z.mean(0), v, se)
    # E‖Z − v‖² = B² − ‖v‖²  (the noise follows the bound ρ, linearly)
    mse = np.mean(np.sum((Z - v) ** 2, axis=1))
    assert abs(mse / (B**2 - v @ v) - 1) < 0.01
    assert rz.l2ball_magnitude(D, 2 * rho, eps) == pytest.approx(2 * B, rel=1e-14)
    # a statistic outside the ball is projected onto it (the guarantee holds for any input)
    Zout = rz.l2ball(np.full((100_000, D), 10.0), rho, eps, rng)  # noqa: N806
    target = np.full(D, 10.0) * rho / np.linalg.norm(np.full(D, 10.0))
    assert np.all(np.abs(Zout.mean(0) - target) < 5 * Zout.std(0) / math.sqrt(len(Zout)))


def test_l2ball_output_is_its_draw_up_to_sign():
    # the antipodal implementation: z = ±(B/‖g‖)·g for the owner's own normal draw g; the
    # input only chooses the sign, and g and −g give the same output (exactly, in floating
    # point: what the privacy argument of rz.l2ball relies on)
    rng = np.random.default_rng(4)
    m, D, rho, eps = 20_000, 5, 1.0, 1.0  # noqa: N806
    v = rng.standard_normal((m, D)) * 0.3
    v[:100] = 0.0
    g = rng.standard_normal((m, D))
    u = rng.random((m, 2))
    B = rz.l2ball_magnitude(D, rho, eps)  # noqa: N806
    Z = rz.l2ball_from_draws(v, rho, eps, g, u)  # noqa: N806
    f = Z / g
    np.testing.assert_allclose(f, f[:, :1] * np.ones((1, D)), rtol=1e-15)  # one factor a row
    np.testing.assert_allclose(np.abs(f[:, 0]), B / np.linalg.norm(g, axis=1), rtol=1e-15)
    Zm = rz.l2ball_from_draws(v, rho, eps, -g, u)  # noqa: N806
    assert np.array_equal(Zm[100:], Z[100:])  # ⟨g, v⟩ ≠ 0: the side decides, not g's sign
    assert np.array_equal(Zm[:100], -Z[:100])  # v = 0: ±g with the fair wanted side
    # the wanted side: ⟨z, v⟩ > 0 with probability 1/2 + (e^ε−1)/(e^ε+1)·‖v‖/(2ρ)
    nv = np.linalg.norm(v, axis=1)
    p_pos = 0.5 + (math.exp(eps) - 1) / (math.exp(eps) + 1) * nv / (2 * rho)
    pos = np.einsum("ij,ij->i", Z, v) > 0
    assert abs(pos[100:].mean() - p_pos[100:].mean()) < 5 * math.sqrt(0.25 / m)
    # v = 0: a fair sign, so the output is uniform on the sphere
    zero = rz.l2ball(np.zeros((40_000, 3)), 1.0, 2.0, rng)
    assert abs((zero[:, 0] > 0).mean() - 0.5) < 0.01


def test_nldp_reports_are_scaled_draws_and_out_is_reused():
    rng = np.random.default_rng(9)
    m, d = 3000, 4
    X = rng.standard_normal((m, d)) * 2  # noqa: N806
    y = X[:, 0] + rng.standard_normal(m)
    b = rz.Bounds(r=3.0, tau_x=2.0, tau_y=2.0)
    R = rz.randomize_nldp(X, y, epsilon=2.0, bounds=b, rng=np.random.default_rng(5))  # noqa: N806
    gen = np.random.default_rng(5)  # one block: uniforms, then the normals
    gen.random((m, 4))
    G = gen.standard_normal((m, R.shape[1]))  # noqa: N806
    for ch in rz.nldp_channels(d, 2.0, b):
        sl = slice(ch.offset, ch.offset + ch.dim)
        f = R[:, sl] / G[:, sl]
        np.testing.assert_allclose(f, f[:, :1] * np.ones((1, ch.dim)), rtol=1e-14)
        np.testing.assert_allclose(
            np.abs(f[:, 0]), ch.scale / np.linalg.norm(G[:, sl], axis=1), rtol=1e-14
        )
    buf = np.full_like(R, np.nan)
    R2 = rz.randomize_nldp(X, y, epsilon=2.0, bounds=b, rng=np.random.default_rng(5), out=buf)  # noqa: N806
    assert R2 is buf and np.array_equal(R2, R)
    with pytest.raises(ValueError, match="C-contiguous float64"):
        rz.randomize_nldp(X, y, epsilon=2.0, bounds=b, rng=rng, out=np.empty((m, 3)))
    with pytest.raises(ValueError, match="finite"):
        rz.randomize_nldp(np.full((2, d), np.inf), np.ones(2), epsilon=2.0, bounds=b, rng=rng)
    big = np.full((2, d), 1e308)  # finite, but its sum overflows: accepted
    assert np.isfinite(rz.randomize_nldp(big, np.ones(2), epsilon=2.0, bounds=b, rng=rng)).all()


def _bins(Z, B, nbins=16):  # noqa: ANN001, ANN202, N803
    t = np.clip(Z[:, 0] / B, -1, 1 - 1e-12)
    return np.bincount(((t + 1) / 2 * nbins).astype(int), minlength=nbins)


def _max_log_ratio(c1, c2):  # noqa: ANN001, ANN202
    """Largest log(p̂1/p̂2) over cells, and its delta-method standard error."""
    ok = (c1 > 50) & (c2 > 50)
    lr = np.log(c1[ok] / c1.sum()) - np.log(c2[ok] / c2.sum())
    se = np.sqrt(1 / c1[ok] + 1 / c2[ok])
    i = int(np.argmax(lr))
    return lr[i], se[i], lr, se


@pytest.mark.parametrize("eps", [0.5, 2.0])
def test_l2ball_is_eps_ldp_and_tight(eps):
    # the worst pair: opposite statistics on the boundary of the ball
    rng = np.random.default_rng(2)
    D, rho, N = 5, 1.0, 400_000  # noqa: N806
    B = rz.l2ball_magnitude(D, rho, eps)  # noqa: N806
    e1 = np.zeros((N, D))
    e1[:, 0] = rho
    c_plus = _bins(rz.l2ball(e1, rho, eps, rng), B)
    c_minus = _bins(rz.l2ball(-e1, rho, eps, rng), B)
    c_zero = _bins(rz.l2ball(np.zeros((N, D)), rho, eps, rng), B)
    for a, b in ((c_plus, c_minus), (c_minus, c_plus), (c_plus, c_zero), (c_zero, c_minus)):
        _, _, lr, se = _max_log_ratio(a, b)
        assert np.all(lr <= eps + 4.5 * se), (eps, lr.max())
    top, se, _, _ = _max_log_ratio(c_plus, c_minus)
    assert top > eps - 4.5 * se  # tight: the bound e^ε is attained (not a looser mechanism)


def test_nldp_report_is_eps_ldp_by_composition():
    # owners x, x' whose statistics are as far apart as the bounds allow in both releases
    rng = np.random.default_rng(3)
    d, eps, split, N = 3, 2.0, 0.5, 300_000  # noqa: N806
    b = rz.Bounds(r=1.0, tau_x=1.0, tau_y=1.0)
    x1, y1 = np.array([[1.0, 1.0, 1.0]]), np.array([1.0])
    x2, y2 = np.array([[1.0, 1.0, 1.0]]), np.array([-1.0])
    R1 = rz.randomize_nldp(np.repeat(x1, N, 0), np.repeat(y1, N), epsilon=eps, bounds=b, rng=rng)  # noqa: N806
    R2 = rz.randomize_nldp(np.repeat(x2, N, 0), np.repeat(y2, N), epsilon=eps, bounds=b, rng=rng)  # noqa: N806
    D = rz.packed_size(d)  # noqa: N806
    u_xy = np.ones(d) / math.sqrt(d)
    u_cov = rz.pack_outer(rz.shrink_l2(x1, 1.0))[0]
    u_cov /= np.linalg.norm(u_cov)

    def cells(R):  # noqa: ANN001, ANN202, N803
        a = (R[:, :D] @ u_cov > 0).astype(int)
        s = R[:, D:] @ u_xy
        q = np.digitize(s, np.quantile(R1[:, D:] @ u_xy, [0.25, 0.5, 0.75]))
        return np.bincount(a * 4 + q, minlength=8)

    _, _, lr, se = _max_log_ratio(cells(R1), cells(R2))
    assert np.all(np.abs(lr) <= eps + 4.5 * se)
    # the cross term's release alone spends (1 − split)·ε: tight on its hemisphere event
    p1 = np.mean(R1[:, D:] @ u_xy > 0)
    p2 = np.mean(R2[:, D:] @ u_xy > 0)
    assert math.log(p1 / p2) == pytest.approx((1 - split) * eps, abs=0.03)


# -- sensitivities and noise scales ---------------------------------------------------------------
def test_sensitivities_and_channel_scales_follow_the_bounds():
    rng = np.random.default_rng(4)
    d = 6
    b = rz.Bounds(r=2.0, tau_x=1.5, tau_y=3.0)
    # cov: packed x̃x̃ᵀ has norm ≤ r² and differences ≤ √2 r², attained by orthogonal x
    X = rng.standard_normal((2000, d)) * 3  # noqa: N806
    y = rng.standard_normal(2000) * 5
    cov, xy = rz.nldp_statistics(X, y, b)
    assert np.linalg.norm(cov, axis=1).max() <= b.r**2 * (1 + 1e-12)
    diffs = np.linalg.norm(cov[:1000] - cov[1000:], axis=1)
    assert diffs.max() <= math.sqrt(2) * b.r**2 * (1 + 1e-12)
    e = np.eye(d) * 5.0
    c_orth, _ = rz.nldp_statistics(e[:2], np.zeros(2), b)
    assert np.linalg.norm(c_orth[0] - c_orth[1]) == pytest.approx(math.sqrt(2) * b.r**2)
    # xy: ≤ √d τx τy, attained at the corners with y = ±τy
    assert np.linalg.norm(xy, axis=1).max() <= math.sqrt(d) * b.tau_x * b.tau_y * (1 + 1e-12)
    corner = np.full((2, d), 10.0)
    _, xy_c = rz.nldp_statistics(corner, np.array([10.0, -10.0]), b)
    assert np.linalg.norm(xy_c[0] - xy_c[1]) == pytest.approx(2 * math.sqrt(d) * b.tau_x * b.tau_y)
    # channels: radius and sensitivity as documented; the noise scale is linear in them
    for mech, kw in (("l2ball", {}), ("gaussian", {"delta": 1e-6})):
        ch_cov, ch_xy = rz.nldp_channels(d, 3.0, b, mechanism=mech, **kw)
        assert ch_cov.radius == pytest.approx(b.r**2) and ch_xy.radius == pytest.approx(
            math.sqrt(d) * 1.5 * 3.0
        )
        assert ch_cov.sensitivity == pytest.approx(math.sqrt(2) * b.r**2)
        assert ch_xy.sensitivity == pytest.approx(2 * math.sqrt(d) * 1.5 * 3.0)
        assert ch_cov.epsilon == ch_xy.epsilon == 1.5
        b2 = rz.Bounds(r=b.r * math.sqrt(2), tau_x=b.tau_x * 2, tau_y=b.tau_y)
        c2, x2 = rz.nldp_channels(d, 3.0, b2, mechanism=mech, **kw)
        assert c2.scale == pytest.approx(2 * ch_cov.scale, rel=1e-9)
        assert x2.scale == pytest.approx(2 * ch_xy.scale, rel=1e-9)
    # gradient: ‖x̄(⟨x̄,θ⟩ − ȳ)‖ ≤ √d τx (τx‖θ‖₁ + τy), attained at x = τx sign(θ), y = −τy
    theta = np.array([0.5, -0.3, 0.0, 0.2, 0.0, 0.0])
    g = rz.gradient_statistics(X, y, theta, b)
    R = rz.gradient_radius(d, b, theta)  # noqa: N806
    assert np.linalg.norm(g, axis=1).max() <= R * (1 + 1e-12)
    xs = np.where(theta >= 0, 10.0, -10.0)[None]
    assert np.linalg.norm(rz.gradient_statistics(xs, [-10.0], theta, b)) == pytest.approx(R)


def test_gaussian_reports_have_the_calibrated_noise():
    rng = np.random.default_rng(5)
    d, eps, delta = 4, 3.0, 1e-5
    b = rz.Bounds(r=1.0, tau_x=1.0, tau_y=1.0)
    X = rng.standard_normal((100_000, d))  # noqa: N806
    y = rng.standard_normal(100_000)
    R = rz.randomize_nldp(X, y, epsilon=eps, bounds=b, rng=rng, mechanism="gaussian", delta=delta)  # noqa: N806
    cov, xy = rz.nldp_statistics(X, y, b)
    ch_cov, ch_xy = rz.nldp_channels(d, eps, b, mechanism="gaussian", delta=delta)
    assert ch_cov.scale == rz.analytic_gaussian_sigma(eps / 2, delta / 2, math.sqrt(2) * b.r**2)
    noise_cov = (R[:, : rz.packed_size(d)] - cov).std(axis=0)
    noise_xy = (R[:, rz.packed_size(d) :] - xy).std(axis=0)
    np.testing.assert_allclose(noise_cov, ch_cov.scale, rtol=0.02)
    np.testing.assert_allclose(noise_xy, ch_xy.scale, rtol=0.02)


# -- the analytic Gaussian mechanism ---------------------------------------------------------
@pytest.mark.parametrize(
    "eps, delta", [(0.5, 1e-5), (1.0, 1e-6), (2.0, 1e-6), (4.0, 5e-7), (8.0, 1e-9)]
)
def test_analytic_gaussian_calibration(eps, delta):
    from scipy import integrate, stats

    sens = 3.0
    sigma = rz.analytic_gaussian_sigma(eps, delta, sens)

    # exact profile with SciPy's normal CDF
    def prof(s):  # noqa: ANN001, ANN202
        a, b = sens / (2 * s), eps * s / sens
        return stats.norm.cdf(a - b) - math.exp(eps) * stats.norm.cdf(-a - b)

    assert prof(sigma) <= delta * (1 + 1e-9)
    assert prof(sigma * (1 - 1e-6)) > delta  # the smallest such σ
    # independent characterisation: δ(ε) = E[(1 − e^{ε − L})₊], L ~ N(η, 2η), η = Δ²/(2σ²)
    eta = sens**2 / (2 * sigma**2)
    sd = math.sqrt(2 * eta)
    val, _ = integrate.quad(
        lambda t: (1 - math.exp(eps - t)) * stats.norm.pdf(t, eta, sd), eps, eta + 40 * sd
    )
    assert val == pytest.approx(delta, rel=1e-4)
    # linear in the sensitivity
    assert rz.analytic_gaussian_sigma(eps, delta, 2 * sens) == pytest.approx(2 * sigma, rel=1e-9)
    if eps <= 1.0:
        assert sigma <= rz.classic_gaussian_sigma(eps, delta, sens)
    else:
        with pytest.raises(ValueError, match="only valid for epsilon <= 1"):
            rz.classic_gaussian_sigma(eps, delta, sens)


def test_gaussian_mechanism_empirical_privacy_profile():
    # P[M(v) ∈ S] ≤ e^ε P[M(v') ∈ S] + δ on the worst events S = {z₁ > t}
    rng = np.random.default_rng(6)
    eps, delta, sens = 1.0, 1e-3, 1.0
    sigma = rz.analytic_gaussian_sigma(eps, delta, sens)
    N = 2_000_000  # noqa: N806
    a = rng.standard_normal(N) * sigma + sens
    b = rng.standard_normal(N) * sigma
    worst = -1.0
    for t in np.linspace(-2 * sigma, 6 * sigma, 60):
        pa, pb = np.mean(a > t), np.mean(b > t)
        worst = max(worst, pa - math.exp(eps) * pb)
    assert worst <= delta + 4 * math.sqrt(delta / N) + 3e-4
    # and with a σ 20 % too small the violation shows
    small = 0.8 * sigma
    a2 = rng.standard_normal(N) * small + sens
    b2 = rng.standard_normal(N) * small
    viol = max(
        np.mean(a2 > t) - math.exp(eps) * np.mean(b2 > t)
        for t in np.linspace(-2 * small, 6 * small, 60)
    )
    assert viol > 2 * delta


def test_bad_randomizer_inputs():
    b = rz.Bounds(1.0, 1.0, 1.0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="epsilon"):
        rz.randomize_nldp(np.ones((2, 3)), np.ones(2), epsilon=0.0, bounds=b, rng=rng)
    with pytest.raises(ValueError, match="finite"):
        rz.randomize_public(np.array([[np.nan, 1.0]]), [1.0], epsilon=1.0, bounds=b, rng=rng)
    with pytest.raises(ValueError, match="theta"):
        rz.randomize_gradient(
            np.ones((2, 3)), np.ones(2), np.ones(4), epsilon=1.0, bounds=b, rng=rng
        )
    with pytest.raises(ValueError, match="delta"):
        rz.randomize_nldp(
            np.ones((2, 3)), np.ones(2), epsilon=1.0, bounds=b, rng=rng, mechanism="gaussian"
        )
    with pytest.raises(ValueError, match="r must be"):
        rz.Bounds(0.0, 1.0, 1.0)


# -- the kernels reproduce the NumPy randomizers ----------------------------------------------
@pytest.mark.parametrize(
    "protocol, mech", [("nldp", "l2ball"), ("nldp_public", "l2ball"), ("interactive", "l2ball"),
                       ("nldp", "gaussian"), ("interactive", "gaussian")]
)  # fmt: skip
def test_numba_release_equals_numpy_randomizer(protocol, mech):
    rng = np.random.default_rng(7)
    m, d = 5000, 5
    X = rng.standard_normal((m, d)) * 2  # noqa: N806
    X[7] = 0.0
    y = X[:, 0] - X[:, 3] + rng.standard_normal(m)
    theta = np.array([0.4, 0.0, 0.0, -0.3, 0.1])
    kw = {"delta": 1e-6} if mech == "gaussian" else {}
    p = LdpParams(k=2, epsilon=2.5, protocol=protocol, mechanism=mech, r=2.5, tau_x=1.7,
                  tau_y=2.2, rounds=2, round_size=100, **kw)  # fmt: skip
    cfg = resolve(p, d=d, n=m)
    b = cfg.bounds
    common = {"epsilon": 2.5, "bounds": b, "mechanism": mech, **kw}
    if protocol == "nldp":
        ref = rz.randomize_nldp(X, y, rng=np.random.default_rng(11), **common)
    elif protocol == "nldp_public":
        ref = rz.randomize_public(X, y, rng=np.random.default_rng(11), **common)
    else:
        ref = rz.randomize_gradient(X, y, theta, rng=np.random.default_rng(11), **common)
    lay = Layout.for_config(cfg, theta if protocol == "interactive" else None)
    gen = np.random.default_rng(11)
    out = np.empty((m, lay.width))
    for a in range(0, m, rz.BLOCK):
        bb = min(m, a + rz.BLOCK)
        G, U = rz.draw_block(list(lay.channels), bb - a, gen)  # noqa: N806
        U = np.zeros((bb - a, 1)) if U is None else U  # noqa: N806
        K.release_rows(lay.kind, X[a:bb], y[a:bb], theta, b.r, b.tau_x, b.tau_y, G, U,
                       *lay.channel_arrays(), out[a:bb])  # fmt: skip
    np.testing.assert_allclose(out, ref, rtol=1e-11, atol=1e-11 * np.abs(ref).max())
    if mech == "l2ball":
        for ch in lay.channels:
            seg = out[:, ch.offset : ch.offset + ch.dim]
            np.testing.assert_allclose(np.linalg.norm(seg, axis=1), ch.scale, rtol=1e-12)
    lay.check(ref)  # genuine reports pass the schema check


# -- exact aggregation ---------------------------------------------------------------------------
def test_fixed_point_aggregate_is_exact_and_order_free():
    rng = np.random.default_rng(8)
    cfg = resolve(LdpParams(k=1, epsilon=1.0, r=3.0, tau_x=2.0, tau_y=2.0), d=4, n=10)
    lay = Layout.for_config(cfg)
    for ch in lay.channels:
        q = rz.quantum(ch.bound)
        assert math.frexp(q)[0] == 0.5  # a power of two
        assert ch.bound / q <= 2**31
    X = rng.standard_normal((20_000, 4))  # noqa: N806
    R = rz.randomize_nldp(X, X[:, 0], epsilon=1.0, bounds=cfg.bounds, rng=rng)  # noqa: N806
    whole = Aggregate(lay)
    whole.add(R)
    parts = Aggregate(lay)
    perm = rng.permutation(len(R))
    for chunk in np.array_split(R[perm], 7):
        parts.add(chunk)
    assert np.array_equal(whole.sums, parts.sums) and whole.count == parts.count == 20_000
    # against an independent exact integer sum (Python ints)
    ints = np.floor(R / lay.quanta + 0.5).astype(np.int64)
    assert np.array_equal(whole.sums, np.array([sum(int(v) for v in col) for col in ints.T]))
    # the mean is the float mean up to the quantum
    np.testing.assert_allclose(whole.mean(), R.mean(axis=0), atol=float(lay.quanta.max()))


def test_sdk_loads_the_randomizers_without_scipy_numba_or_solvers():
    code = (
        "import sys, json, numpy as np\n"
        "from service.client import Client\n"
        "from service.client.ldp import randomizers\n"
        "rz = randomizers()\n"
        "b = rz.Bounds(1.0, 1.0, 1.0)\n"
        "R = rz.randomize_nldp(np.ones((3, 4)), np.ones(3), epsilon=1.0, bounds=b,\n"
        "                      rng=np.random.default_rng(0))\n"
        "s = rz.analytic_gaussian_sigma(2.0, 1e-6, 1.0)\n"
        "mods = sorted({m.split('.')[0] for m in sys.modules})\n"
        "print(json.dumps({'shape': list(R.shape), 'sigma': s, 'mods': mods}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        check=True,
        cwd=ROOT,
    ).stdout
    info = json.loads(out.strip().splitlines()[-1])
    assert info["shape"] == [3, 14]
    assert info["sigma"] == pytest.approx(rz.analytic_gaussian_sigma(2.0, 1e-6, 1.0), rel=1e-15)
    assert not {"scipy", "numba", "solvers", "fastapi", "sqlalchemy", "pydantic"} & set(
        info["mods"]
    )


@pytest.mark.parametrize("protocol", ["nldp", "nldp_public", "interactive"])
def test_threaded_randomizers_are_worker_count_free_and_chunkwise_correct(protocol, monkeypatch):
    monkeypatch.setattr(rz, "PARALLEL_CHUNK", 700)  # several chunks on a small batch
    rng = np.random.default_rng(3)
    m, d = 2500, 4
    X = rng.standard_normal((m, d))  # noqa: N806
    y = X[:, 1] + 0.1 * rng.standard_normal(m)
    b = rz.Bounds(r=2.0, tau_x=1.5, tau_y=1.5)
    theta = np.array([0.5, -0.2, 0.0, 0.1])

    def run(rng, workers, a=0, e=m):  # noqa: ANN001, ANN202
        kw = {"epsilon": 2.0, "bounds": b, "rng": rng, "workers": workers}
        if protocol == "nldp":
            return rz.randomize_nldp(X[a:e], y[a:e], **kw)
        if protocol == "nldp_public":
            return rz.randomize_public(X[a:e], y[a:e], **kw)
        return rz.randomize_gradient(X[a:e], y[a:e], theta, **kw)

    ref = run(np.random.default_rng(11), 1)
    for w in (2, 3, 8):
        np.testing.assert_array_equal(run(np.random.default_rng(11), w), ref)
    # chunk c is the single-stream release of its rows with the c-th spawned child
    children = np.random.default_rng(11).spawn(4)
    for c, (a, e) in enumerate([(0, 700), (700, 1400), (1400, 2100), (2100, 2500)]):
        np.testing.assert_array_equal(ref[a:e], run(children[c], None, a, e))
    with pytest.raises(ValueError, match="workers"):
        run(np.random.default_rng(1), 0)
