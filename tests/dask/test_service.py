"""The REST service with ``SPARSEHPC_EXECUTOR=dask``: clients see no difference.

In-process (TestClient) on the session's 2-worker cluster: jobs run, 422s are checked
at submission, uploads are read by the workers from the store by id, readiness shows
the cluster, DELETE cancels a running job. A live ``sparsehpc serve --executor dask``
(LocalCluster) survives a restart with a job in flight.
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

import solvers
from service.api.main import create_app
from service.client._arrays import decode, encode
from solvers.rpca import low_rank_plus_sparse

from .conftest import make_settings

KEY = "k"
H = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def api(cluster_executor, tmp_path):
    s = make_settings(tmp_path, api_keys=KEY, dask_scheduler=cluster_executor.address)
    with TestClient(create_app(s)) as tc:
        yield tc


def wait(api, job_id, statuses=("succeeded", "failed", "cancelled"), timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.get(f"/api/v1/jobs/{job_id}", headers=H).json()
        if info["status"] in statuses:
            return info
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {info['status']}")


def test_ready_shows_the_dask_cluster(api):
    deadline = time.monotonic() + 60
    while True:
        body = api.get("/api/v1/health/ready").json()
        if body["workers"]["alive"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["status"] == "ready" and body["workers"]["alive"] >= 2
    ex = body["executor"]
    assert ex["executor"] == "dask" and ex["connected"] is True and ex["workers"] == 2
    assert ex["gpu_workers"] == 0 and ex["scheduler"].startswith("tcp://")


def test_job_through_rest_matches_a_direct_solve(api):
    M, L, _ = low_rank_plus_sparse(60, rank=3, sparsity=0.05, seed=4)
    r = api.post("/api/v1/jobs", json={"solver": "rpca", "inputs": {"M": encode(M)}}, headers=H)
    assert r.status_code == 202, r.text
    info = wait(api, r.json()["id"])
    assert info["status"] == "succeeded" and info["backend_used"] == "cpu"
    res = api.get(f"/api/v1/jobs/{info['id']}/result", headers=H).json()
    direct = solvers.run("rpca", {"M": M}, backend="cpu")
    np.testing.assert_allclose(decode(res["outputs"]["L"]), direct.L, rtol=1e-10, atol=1e-12)
    assert res["stats"]["n_iter"] == direct.n_iter
    assert np.linalg.norm(direct.L - L) / np.linalg.norm(L) < 1e-5


def test_uploaded_input_is_read_by_the_worker_from_the_store(api):
    M, L, _ = low_rank_plus_sparse(80, rank=3, sparsity=0.05, seed=5)
    buf = io.BytesIO()
    np.save(buf, M)
    up = api.post("/api/v1/arrays", files={"file": ("M.npy", buf.getvalue())}, headers=H).json()
    body = {"solver": "rpca", "inputs": {"M": {"upload": up["id"]}}}
    job = api.post("/api/v1/jobs", json=body, headers=H).json()
    store = api.app.state.store
    assert store.get_job(job["id"]).inputs == {"M": {"upload": up["id"]}}  # a reference only
    info = wait(api, job["id"])
    assert info["status"] == "succeeded", info
    out = store.load_result(store.get_job(job["id"]))
    assert np.linalg.norm(out["L"] - L) / np.linalg.norm(L) < 1e-5


@pytest.mark.parametrize(
    "body, status, field, match",
    [
        (
            {"solver": "rpca", "inputs": {"M": [[1.0, 2.0]]}, "backend": "gpu"},
            422,
            "backend",
            "GPU",
        ),
        ({"solver": "rpca", "inputs": {"M": [1, 2, 3]}}, 422, "inputs.M", "2 dimension"),
        (
            {"solver": "rpca", "inputs": {"M": [[1.0]]}, "params": {"tol": 2}},
            422,
            "params.tol",
            None,
        ),
        ({"solver": "unmixing", "inputs": {"Y": [[1.0]]}}, 422, None, None),
        ({"solver": "nope", "inputs": {}}, 404, "solver", "unknown solver"),
    ],
)
def test_bad_submissions_answer_at_once(api, body, status, field, match):
    t0 = time.monotonic()
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == status, r.text
    assert time.monotonic() - t0 < 5
    if field:
        assert r.json()["error"]["field"] == field
    if match:
        assert match in r.json()["detail"]
    assert api.get("/api/v1/jobs", headers=H).json()["total"] == 0


def test_delete_cancels_a_running_job(api):
    M, _, _ = low_rank_plus_sparse(200, rank=5, sparsity=0.05, seed=6)
    body = {
        "solver": "rpca",
        "inputs": {"M": encode(M)},
        "params": {"tol": 1e-300, "maxiter": 100000},
    }
    job = api.post("/api/v1/jobs", json=body, headers=H).json()
    info = wait(api, job["id"], ("running",), timeout=60)
    deadline = time.monotonic() + 30
    while not (info.get("progress") or {}).get("iteration"):
        assert time.monotonic() < deadline
        info = api.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
        time.sleep(0.05)
    assert api.delete(f"/api/v1/jobs/{job['id']}", headers=H).status_code == 202
    info = wait(api, job["id"], timeout=30)
    assert info["status"] == "cancelled" and info["error"]["type"] == "Cancelled"


@pytest.mark.slow
def test_live_serve_executor_dask_survives_a_restart(tmp_path):
    """``sparsehpc serve --executor dask`` (LocalCluster): a job running when the service
    stops goes back to the queue and finishes after the restart; results persist."""
    from service.client import Client
    from tests.service._server import ServerProcess

    srv = ServerProcess(
        tmp_path,
        workers=2,
        env={"SPARSEHPC_EXECUTOR": "dask", "SPARSEHPC_DASK_SCHEDULER": "local"},
    )
    srv.start(timeout=180)
    c = Client(srv.url)
    try:
        health = c._request("GET", "/api/v1/health/ready").json()
        assert health["executor"]["executor"] == "dask" and health["executor"]["workers"] == 2
        M, L, _ = low_rank_plus_sparse(60, rank=3, sparsity=0.05, seed=10)
        res = c.run("rpca", inputs={"M": M}, timeout=120)
        assert np.linalg.norm(res.outputs["L"] - L) / np.linalg.norm(L) < 1e-5
        big, _, _ = low_rank_plus_sparse(150, rank=5, sparsity=0.05, seed=11)
        job = c.submit("rpca", {"M": big}, {"tol": 1e-300, "maxiter": 300})
        deadline = time.monotonic() + 60
        while job.status() != "running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        srv.stop()  # graceful: the cluster closes, the running job is released
    srv.start(timeout=180)
    try:
        info = job.wait(timeout=180)
        assert info["status"] == "succeeded", info
        assert any(h["event"] == "released" for h in info["history"])
        assert c.jobs(status="running") == [] and c.jobs(status="queued") == []
        again = c.job(res.job["id"]).result()  # the result from before the restart
        np.testing.assert_array_equal(again.outputs["L"], res.outputs["L"])
    finally:
        srv.stop()
