"""The sequentially interactive protocol's server state machine."""

import json

import numpy as np
import pytest

from solvers import InvalidProblemError
from solvers.ldp import (
    InteractiveServer,
    LdpParams,
    ProtocolFinishedError,
    StaleRoundError,
    SyntheticProblem,
    resolve,
)
from solvers.ldp import (
    randomizers as rz,
)
from solvers.ldp.estimators import hard_threshold


def _cfg(**kw):  # noqa: ANN003, ANN202
    p = LdpParams(k=2, epsilon=4.0, protocol="interactive", rounds=4, round_size=3000,
                  tau_x=2.0, tau_y=2.0, **kw)  # fmt: skip
    return resolve(p, d=6)


def test_rounds_stale_reports_finish_and_replay():
    cfg = _cfg()
    prob = SyntheticProblem(12_000, 6, 2, seed=0)
    X, y = prob.materialize()  # noqa: N806
    srv = InteractiveServer(cfg)
    rng = np.random.default_rng(1)
    thetas = [srv.theta.copy()]
    pos = 0
    while not srv.done:
        it = srv.iterate()
        assert it["round"] == srv.round and it["layout"]["channels"][0]["radius"] == pytest.approx(
            rz.gradient_radius(6, cfg.bounds, np.asarray(it["theta"]))
        )
        for _ in range(2):  # two batches of 1500 fill a round of 3000
            R = rz.randomize_gradient(  # noqa: N806
                X[pos : pos + 1500], y[pos : pos + 1500], np.asarray(it["theta"]),
                epsilon=4.0, bounds=cfg.bounds, rng=rng,
            )  # fmt: skip
            pos += 1500
            srv.submit(R, round=it["round"])
        thetas.append(srv.theta.copy())
        if srv.round == 1:
            with pytest.raises(StaleRoundError, match="round 0 arrived while round 1"):
                srv.submit(R, round=0)
    assert srv.round == 4 and len(srv.history) == 4
    assert all(
        np.count_nonzero(t) <= cfg.k_prime and np.linalg.norm(t) <= 1 + 1e-12 for t in thetas
    )
    with pytest.raises(ProtocolFinishedError):
        srv.submit(R)
    # replay from the per-round exact sums gives the same iterates, bit for bit
    sums = np.array([h["sums"] for h in srv.history])
    counts = np.array([h["count"] for h in srv.history])
    rep = InteractiveServer.replay(cfg, sums, counts)
    assert np.array_equal(rep.iterates(), srv.iterates())
    assert np.array_equal(rep.estimate(), srv.estimate()) and np.count_nonzero(rep.estimate()) <= 2
    # the JSON state round-trips exactly
    st = json.loads(json.dumps(srv.state()))
    again = InteractiveServer.from_state(cfg, st)
    assert np.array_equal(again.theta, srv.theta) and again.round == srv.round


def test_the_update_is_the_textbook_iht_step():
    cfg = _cfg(eta=0.7, k_prime=3)
    srv = InteractiveServer(cfg)
    srv.theta = np.array([0.2, 0.0, -0.1, 0.0, 0.0, 0.3])
    g = np.array([0.5, -1.0, 0.2, 0.05, -0.3, 0.1])
    srv.agg = srv.agg.__class__(srv.layout)
    srv.add_sum(g * 10, 10)
    srv.close_round()
    step = np.array([0.2, 0.0, -0.1, 0.0, 0.0, 0.3]) - 0.7 * g
    keep = np.argsort(-np.abs(step))[:3]
    ref = np.zeros(6)
    ref[keep] = step[keep]
    ref = ref / max(1.0, np.linalg.norm(ref))
    np.testing.assert_allclose(srv.theta, ref, atol=1e-9)


def test_noise_free_rounds_reach_theta():
    # with exact (noise-free, unclipped) gradient sums the server's IHT recovers θ*
    prob = SyntheticProblem(40_000, 6, 2, seed=3, noise=0.0)
    cfg = resolve(LdpParams(k=2, epsilon=4.0, protocol="interactive", rounds=4, round_size=10_000,
                            tau_x=50.0, tau_y=50.0), d=6)  # fmt: skip
    srv = InteractiveServer(cfg)
    for t in range(4):
        X, y = prob.rows(t * 10_000, (t + 1) * 10_000)  # noqa: N806
        g = rz.gradient_statistics(X, y, srv.theta, cfg.bounds).sum(axis=0)
        srv.add_sum(g, len(X))
        srv.close_round()
    assert prob.error(srv.estimate()) < 0.05 and prob.support_recovered(srv.estimate())


def test_replay_rejects_inconsistent_sums():
    cfg = _cfg()
    with pytest.raises(InvalidProblemError, match="per-round sums"):
        InteractiveServer.replay(cfg, np.zeros((2, 5), np.int64), np.ones(2, np.int64))
    with pytest.raises(InvalidProblemError, match="rounds of sums"):
        InteractiveServer.replay(cfg, np.zeros((5, 6), np.int64), np.ones(5, np.int64))
    assert np.array_equal(hard_threshold(np.array([0.1, -0.3, 0.2]), 1), [0.0, -0.3, 0.0])
