"""LDP studies and the ``ldp_regression`` solver through the REST service and the SDK."""

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.client import Client, ValidationError  # noqa: E402
from service.client._arrays import encode  # noqa: E402
from service.client.ldp import StaleRoundError  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.worker import Worker  # noqa: E402
from solvers.ldp import (  # noqa: E402
    InteractiveServer,
    LdpParams,
    SyntheticProblem,
    estimate,
    resolve,
)
from solvers.ldp import (
    randomizers as rz,
)

KEY = "k"
H = {"Authorization": f"Bearer {KEY}"}


def _settings(path):  # noqa: ANN001, ANN202
    return Settings(
        data_dir=path,
        api_keys=KEY,
        workers=0,
        worker_gpu=False,
        heartbeat_interval=0.2,
        poll_interval=0.01,
        progress_interval=0.0,
    )


@pytest.fixture
def api(tmp_path):
    with TestClient(create_app(_settings(tmp_path), start_executor=False)) as tc:
        yield tc


def _sdk(tc):  # noqa: ANN001, ANN202
    return Client("http://testserver", api_key=KEY, transport=tc._transport)


def _run_jobs(tc, n=1):  # noqa: ANN001, ANN202
    Worker(tc.app.state.store, tc.app.state.settings).loop(max_jobs=n)


def _n_studies(tc):  # noqa: ANN001, ANN202
    return len(tc.get("/api/v1/ldp/studies", headers=H).json()["items"])


@pytest.mark.parametrize(
    "body, field, match",
    [
        ({"d": 10, "k": 2, "epsilon": 0}, "epsilon", "greater than 0"),
        ({"d": 10, "k": 2, "epsilon": -3}, "epsilon", "greater than 0"),
        ({"d": 10, "k": 11, "epsilon": 1}, None, "k = 11 exceeds the dimension d = 10"),
        ({"d": 10, "k": 2, "epsilon": 1, "mechanism": "gaussian"}, None, "give delta"),
        ({"k": 2, "epsilon": 1}, None, "d (the dimension of x) is required"),
        ({"d": 10, "k": 2, "epsilon": 1}, "params.r", "number of owners is unknown"),
        ({"d": 10, "k": 2, "epsilon": 1, "r": 3, "tau_x": 1, "tau_y": 1,
          "protocol": "interactive"}, "params.rounds", "give rounds"),
        ({"d": 10, "k": 2, "epsilon": 1, "expected_owners": 10, "oops": 1}, "oops", "Extra"),
    ],
)  # fmt: skip
def test_bad_studies_are_422_and_nothing_is_stored(api, body, field, match):
    r = api.post("/api/v1/ldp/studies", json=body, headers=H)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert match in err["message"], err
    if field is not None:
        assert err["field"] == field
    assert _n_studies(api) == 0


def test_nldp_study_end_to_end_in_process(api):
    c = _sdk(api)
    st = c.ldp_study(d=6, k=2, epsilon=3.0, expected_owners=30_000, name="demo")
    cfg = st.config
    assert cfg["r"] == pytest.approx(rz.default_bounds(30_000, 6).r) and st.protocol == "nldp"
    info = st.info()
    assert info["privacy"] == {"mechanism": "l2ball", "epsilon": 3.0, "delta": 0.0,
                               "reports_per_owner": 1}  # fmt: skip
    assert info["layout"]["width"] == 27
    prob = SyntheticProblem(30_000, 6, 2, seed=1)
    X, y = prob.materialize()  # noqa: N806
    batches = []
    for j, a in enumerate(range(0, 30_000, 7_500)):
        rng = np.random.default_rng(j)
        w = 2 if j == 3 else None  # the last batch randomized on two threads
        out = st.contribute(X[a : a + 7500], y[a : a + 7500], rng=rng, batch_id=f"b{j}",
                            workers=w)  # fmt: skip
        assert out["accepted"] == 7500 and out["replay"] is False
        b = rz.Bounds(cfg["r"], cfg["tau_x"], cfg["tau_y"])
        batches.append(rz.randomize_nldp(X[a : a + 7500], y[a : a + 7500], epsilon=3.0,
                                         bounds=b, rng=np.random.default_rng(j),
                                         workers=w))  # fmt: skip
    # a retried batch is counted once
    again = st.post_reports(batches[0], batch_id="b0")
    assert again["replay"] is True and again["n_reports"] == 30_000
    # bad batches: nothing stored
    n_before = st.info()["n_reports"]
    with pytest.raises(ValidationError, match=r"shape \(m, 27\)"):
        st.post_reports(X[:5])
    with pytest.raises(ValidationError, match="norm"):
        st.post_reports(np.hstack([rz.pack_outer(X[:5]), X[:5] * y[:5, None]]))
    bad = batches[1][:10].copy()
    bad[4, 3] = np.nan
    r = api.post(f"/api/v1/ldp/studies/{st.id}/reports",
                 json={"reports": encode(bad, b64=True)}, headers=H)  # fmt: skip
    assert r.status_code == 422 and "NaN" in r.json()["detail"]
    assert st.info()["n_reports"] == n_before == 30_000
    job = st.estimate(backend="cpu")
    _run_jobs(api)
    res = job.result(timeout=60)
    ref = estimate(batches, k=2, epsilon=3.0, r=cfg["r"], tau_x=cfg["tau_x"],
                   tau_y=cfg["tau_y"], backend="cpu")  # fmt: skip
    assert np.array_equal(res.outputs["theta"], ref.theta)
    assert np.array_equal(res.outputs["theta_unthresholded"], ref.theta_unthresholded)
    assert res.stats["epsilon"] == 3.0 and res.stats["n_owners"] == 30_000
    assert res.stats["noise"]["cov"]["scale"] == pytest.approx(ref.noise["cov"]["scale"])
    # close: later reports are rejected, nothing stored
    assert st.close()["status"] == "closed"
    with pytest.raises(ValidationError, match="closed"):
        st.post_reports(batches[2][:3])
    assert st.info()["n_reports"] == 30_000 and st.info()["last_job_id"] == job.id


def test_interactive_study_rounds_stale_reports_and_replay(api):
    c = _sdk(api)
    st = c.ldp_study(d=5, k=1, epsilon=4.0, protocol="interactive", rounds=3, round_size=2000,
                     tau_x=1.5, tau_y=1.5)  # fmt: skip
    prob = SyntheticProblem(6000, 5, 1, seed=2)
    X, y = prob.materialize()  # noqa: N806
    it = st.iterate()
    assert it["round"] == 0 and np.all(it["theta"] == 0) and it["rounds"] == 3
    stale = st.randomize(X[:10], y[:10], theta=it["theta"])
    for a in range(0, 6000, 1000):
        st.contribute(X[a : a + 1000], y[a : a + 1000])
        if a == 2000:
            with pytest.raises(StaleRoundError) as exc:
                st.post_reports(stale, round=0)
            assert exc.value.status_code == 409
    info = st.info()
    assert info["done"] and info["round"] == 3 and info["n_reports"] == 6000
    with pytest.raises(ValidationError, match="rounds are complete"):
        st.post_reports(stale, round=3)
    # non-interactive studies have no iterate
    other = c.ldp_study(d=5, k=1, epsilon=1.0, r=2.0, tau_x=1.0, tau_y=1.0)
    r = api.get(f"/api/v1/ldp/studies/{other.id}/iterate", headers=H)
    assert r.status_code == 409
    job = st.estimate(backend="cpu")
    _run_jobs(api)
    res = job.result(timeout=60)
    state = api.app.state.store
    from service.ldp.studies import get_study

    hist = get_study(state, st.id).state["history"]
    cfg = resolve(LdpParams(**{k: v for k, v in st.config.items()}))
    rep = InteractiveServer.replay(cfg, [h["sums"] for h in hist], [h["count"] for h in hist])
    assert np.array_equal(res.outputs["iterates"], rep.iterates())
    assert np.array_equal(res.outputs["iterates"][1:], np.array([h["theta"] for h in hist]))
    assert np.array_equal(res.outputs["theta"], rep.estimate())
    assert res.stats["rounds_completed"] == 3 and res.stats["epsilon"] == 4.0


def test_public_study_needs_public_data_and_survives_a_restart(tmp_path):
    prob = SyntheticProblem(20_000, 4, 1, seed=3)
    X, y = prob.materialize()  # noqa: N806
    with TestClient(create_app(_settings(tmp_path), start_executor=False)) as tc:
        st = _sdk(tc).ldp_study(d=4, k=1, epsilon=2.0, protocol="nldp_public",
                                expected_owners=20_000)  # fmt: skip
        st.contribute(X[:10_000], y[:10_000], rng=np.random.default_rng(0))
        sid = st.id
    with TestClient(create_app(_settings(tmp_path), start_executor=False)) as tc:  # restart
        st = _sdk(tc).ldp_study(study_id=sid)
        assert st.info()["n_reports"] == 10_000
        st.contribute(X[10_000:], y[10_000:], rng=np.random.default_rng(1))
        with pytest.raises(ValidationError, match="public_X"):
            st.estimate(backend="cpu")
        job = st.estimate(public_X=prob.public_X(5000), backend="cpu")
        _run_jobs(tc)
        res = job.result(timeout=60)
        assert res.stats["n_owners"] == 20_000 and res.stats["public_samples"] == 5000
        assert prob.support_recovered(res.outputs["theta"])


def test_solver_jobs_simulate_and_reject_bad_input(api):
    prob = SyntheticProblem(5000, 4, 1, seed=4)
    X, y = prob.materialize()  # noqa: N806
    body = {
        "solver": "ldp_regression",
        "inputs": {"X": encode(X), "y": encode(y)},
        "params": {"k": 1, "epsilon": 2.0, "seed": 3, "protocol": "interactive", "rounds": 3},
    }
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 202, r.text
    _run_jobs(api)
    res = api.get(f"/api/v1/jobs/{r.json()['id']}/result", headers=H).json()
    assert res["stats"]["epsilon"] == 2.0 and res["stats"]["n_owners"] == 5000
    assert len(res["stats"]["rounds"]) == 3

    def bad(params, inputs=None):  # noqa: ANN001, ANN202
        inp = body["inputs"] if inputs is None else inputs
        b = {"solver": "ldp_regression", "inputs": inp, "params": params}
        return api.post("/api/v1/jobs", json=b, headers=H)

    cases = [
        (bad({"k": 1, "epsilon": 0}), "params.epsilon"),
        (bad({"k": 5, "epsilon": 1}), "params.k"),
        (bad({"k": 1, "epsilon": 1, "protocol": "nldp_public"}), "inputs.public_X"),
        (bad({"k": 1, "epsilon": 1}, {"X": encode(X), "y": encode(y[:10])}), "inputs.y"),
        (bad({"k": 1, "epsilon": 1}, {"reports": encode(X)}), "inputs.reports"),
        (bad({"k": 1, "epsilon": 1}, {}), "inputs"),
    ]
    for resp, field in cases:
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["field"] == field, resp.json()
    jobs = api.get("/api/v1/jobs", headers=H).json()
    assert jobs["total"] == 1  # none of the bad submissions was queued


# -- real HTTP: a live server, the SDK, 10⁵ owners ----------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from tests.service._server import ServerProcess

    srv = ServerProcess(
        tmp_path_factory.mktemp("ldp-live"),
        workers=1,
        env={"SPARSEHPC_API_KEYS": KEY, "SPARSEHPC_WORKER_GPU": "0"},
    )
    srv.start()
    yield srv
    srv.stop()


def test_study_over_http_with_the_sdk_equals_the_in_process_estimate(live):
    n, d, batch = 100_000, 10, 10_000
    prob = SyntheticProblem(n, d, 2, seed=5)
    with Client(live.url, api_key=KEY) as c:
        st = c.ldp_study(d=d, k=2, epsilon=4.0, protocol="nldp", expected_owners=n)
        cfg = st.config
        b = rz.Bounds(cfg["r"], cfg["tau_x"], cfg["tau_y"])
        reports = []
        for j, a in enumerate(range(0, n, batch)):
            Xb, yb = prob.rows(a, a + batch)  # noqa: N806
            out = st.contribute(Xb, yb, rng=np.random.default_rng(100 + j))
            assert out["accepted"] == batch
            reports.append(rz.randomize_nldp(Xb, yb, epsilon=4.0, bounds=b,
                                             rng=np.random.default_rng(100 + j)))  # fmt: skip
        assert st.info()["n_reports"] == n and st.info()["n_batches"] == n // batch
        res = st.estimate(backend="cpu").result(timeout=120)
    ref = estimate(np.vstack(reports), k=2, epsilon=4.0, r=cfg["r"], tau_x=cfg["tau_x"],
                   tau_y=cfg["tau_y"], backend="cpu")  # fmt: skip
    assert np.array_equal(res.outputs["theta"], ref.theta)
    assert np.array_equal(res.outputs["theta_unthresholded"], ref.theta_unthresholded)
    assert res.stats["n_owners"] == n and res.stats["epsilon"] == 4.0
    assert res.stats["noise"]["xy"]["mechanism"] == "l2ball"
