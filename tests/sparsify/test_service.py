"""The sparsify solver and the graph sessions through the REST service (in-process)."""

import threading

import numpy as np
import pytest
import scipy.io
import scipy.sparse

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.client import Client, ConflictError, NotFoundError, ValidationError  # noqa: E402
from service.client._arrays import decode, encode  # noqa: E402
from service.graphs import manager as graph_manager  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.worker import Worker  # noqa: E402
from solvers.sparsify import (  # noqa: E402
    DynamicSparsifier,
    as_graph,
    deletion_stream,
    from_edges,
    insertion_stream,
    mesh_2d,
    relative_condition_number,
)

KEY = "k"
HDR = {"Authorization": f"Bearer {KEY}"}


def _settings(path, db=None):
    return Settings(
        data_dir=path,
        database_url=db,
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


def _client(tc):
    return Client("http://testserver", api_key=KEY, transport=tc._transport)


# -- solver "sparsify" ------------------------------------------------------------------------
def test_sparsify_job_returns_a_good_sparsifier(api):
    A = mesh_2d(40, 40, seed=0)
    body = {"solver": "sparsify", "inputs": {"A": encode(A)}, "params": {"target_density": 1.15}}
    r = api.post("/api/v1/jobs", json=body, headers=HDR)
    assert r.status_code == 202, r.text
    job = r.json()
    Worker(api.app.state.store, api.app.state.settings).loop(max_jobs=1)
    info = api.get(f"/api/v1/jobs/{job['id']}", headers=HDR).json()
    assert info["status"] == "succeeded", info
    res = api.get(f"/api/v1/jobs/{job['id']}/result", headers=HDR).json()
    H = decode(res["outputs"]["H"])
    assert scipy.sparse.issparse(H) and H.shape == A.shape
    st = res["stats"]
    assert st["density"] <= 1.15 and st["method"] == "grass"
    kappa = relative_condition_number(A, H)
    assert np.isclose(st["condition_estimate"], kappa, rtol=2e-2) and kappa < 100


@pytest.mark.parametrize(
    "A, params, field, match",
    [
        (scipy.sparse.triu(mesh_2d(5, 5)).tocsr(), {}, "inputs.A", "not symmetric"),
        (-mesh_2d(5, 5), {}, "inputs.A", "negative"),
        (mesh_2d(5, 5) + scipy.sparse.eye(25), {}, "inputs.A", "self loops"),
        (
            scipy.sparse.block_diag([mesh_2d(3, 3), mesh_2d(3, 3)]).tocsr(),
            {},
            "inputs.A",
            "not connected",
        ),
        (mesh_2d(5, 5), {"target_condition": 0.5}, "params.target_condition", "greater than 1"),
        (mesh_2d(5, 5), {"target_density": 0.5}, "params.target_density", "spanning tree"),
        (mesh_2d(5, 5), {"method": "magic"}, "params.method", "grass"),
    ],
)
def test_bad_sparsify_jobs_are_422_at_submission(api, A, params, field, match):
    body = {"solver": "sparsify", "inputs": {"A": encode(A)}, "params": params}
    r = api.post("/api/v1/jobs", json=body, headers=HDR)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and match in err["message"], err
    assert api.get("/api/v1/jobs", headers=HDR).json()["total"] == 0


# -- graph sessions ---------------------------------------------------------------------------
def test_graph_session_over_rest_matches_a_local_dynamic_sparsifier(api):
    A = mesh_2d(30, 30, seed=0)
    r = api.post(
        "/api/v1/graphs",
        json={"A": encode(A), "params": {"target_condition": 30, "seed": 4}},
        headers=HDR,
    )
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    assert r.headers["location"].endswith(gid) and r.json()["version"] == 0
    local = DynamicSparsifier(A, target_condition=30, seed=4, backend="cpu")
    E, W = insertion_stream(A, 300, seed=1)
    for k in range(3):
        e, w = E[100 * k : 100 * (k + 1)], W[100 * k : 100 * (k + 1)]
        r = api.post(
            f"/api/v1/graphs/{gid}/updates",
            json={"insert": e.tolist(), "weights": w.tolist()},
            headers=HDR,
        )
        assert r.status_code == 200, r.text
        st = local.insert(e, w)
        assert r.json()["stats"]["kept"] == st.kept and r.json()["stats"]["version"] == k + 1
    D = deletion_stream(local.graph, 30, seed=2)
    r = api.post(f"/api/v1/graphs/{gid}/updates", json={"delete": D.tolist()}, headers=HDR)
    assert r.status_code == 200 and r.json()["graph"]["version"] == 4
    local.delete(D)
    r = api.get(f"/api/v1/graphs/{gid}/sparsifier", headers=HDR)
    assert r.headers["x-graph-version"] == "4"
    H = scipy.sparse.load_npz(__import__("io").BytesIO(r.content))
    assert abs(H - local.sparsifier).max() == 0
    mtx = api.get(f"/api/v1/graphs/{gid}/sparsifier?format=mtx", headers=HDR)
    Hm = scipy.io.mmread(__import__("io").BytesIO(mtx.content))
    assert abs(scipy.sparse.csr_matrix(Hm) - local.sparsifier).max() < 1e-12
    G = decode(api.get(f"/api/v1/graphs/{gid}/graph?format=json", headers=HDR).json()["G"])
    assert abs(G - local.graph).max() == 0
    hist = api.get(f"/api/v1/graphs/{gid}/updates", headers=HDR).json()["items"]
    assert [h["version"] for h in hist] == [1, 2, 3, 4]


def test_bad_graph_requests(api):
    A = mesh_2d(10, 10, seed=0)
    post = lambda url, body: api.post(url, json=body, headers=HDR)  # noqa: E731
    r = post("/api/v1/graphs", {"A": encode(-A)})
    assert r.status_code == 422 and r.json()["error"]["field"] == "inputs.A"
    r = post("/api/v1/graphs", {"A": encode(A), "params": {"walkers": 0}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "params.walkers"
    r = post("/api/v1/graphs", {"A": encode(A), "params": {"colour": 1}})
    assert r.status_code == 422 and "unknown parameter" in r.json()["error"]["message"]
    r = post("/api/v1/graphs", {"A": encode(A), "H": encode(from_edges(100, [[0, 99]]))})
    assert r.status_code == 422 and r.json()["error"]["field"] == "inputs.H"
    gid = post("/api/v1/graphs", {"A": encode(A), "params": {"seed": 0}}).json()["id"]
    for body, field, match in [
        ({"delete": [[0, 99]]}, "delete", "not an edge of G"),
        ({"insert": [[0, 1]]}, "insert", "already an edge"),
        ({"insert": [[0, 100]]}, "insert", "out of range"),
        ({"insert": [[0, 22]], "weights": [-1]}, "weights", "positive"),
        ({"insert": [[0, 1, 2]]}, "insert", "(m, 2)"),
    ]:
        r = post(f"/api/v1/graphs/{gid}/updates", body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field and match in r.json()["error"]["message"]
    assert api.get(f"/api/v1/graphs/{gid}", headers=HDR).json()["version"] == 0
    assert post("/api/v1/graphs/nope/updates", {"delete": [[0, 1]]}).status_code == 404
    assert api.get("/api/v1/graphs/nope/sparsifier", headers=HDR).status_code == 404
    assert api.get(f"/api/v1/graphs/{gid}/sparsifier?format=png", headers=HDR).status_code == 422
    assert api.get(f"/api/v1/graphs/{gid}").status_code == 401  # the API key applies
    assert api.delete(f"/api/v1/graphs/{gid}", headers=HDR).status_code == 204
    assert api.get(f"/api/v1/graphs/{gid}", headers=HDR).status_code == 404


def test_sessions_survive_a_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_manager, "SNAPSHOT_EVERY", 2)  # snapshot + journal replay
    A = mesh_2d(25, 25, weights="lognormal", seed=3)
    E, W = insertion_stream(A, 250, seed=1)
    local = DynamicSparsifier(A, target_condition=25, seed=7, backend="cpu")
    with TestClient(create_app(_settings(tmp_path), start_executor=False)) as tc:
        g = _client(tc).graph(A, target_condition=25, seed=7, backend="cpu")
        for k in range(3):
            g.update(insert=E[50 * k : 50 * (k + 1)], weights=W[50 * k : 50 * (k + 1)])
            local.insert(E[50 * k : 50 * (k + 1)], W[50 * k : 50 * (k + 1)])
        gid = g.id
    files = sorted(p.name for p in (tmp_path / "graphs" / gid).iterdir())
    assert "snap-2.npz" in files and "snap-0.npz" not in files and "batch-3.npz" in files
    with TestClient(create_app(_settings(tmp_path), start_executor=False)) as tc:
        from service.client.graphs import get_graph

        g2 = get_graph(_client(tc), gid)
        assert g2.version == 3
        assert abs(g2.sparsifier() - local.sparsifier).max() == 0  # restored by replay
        st = g2.update(insert=E[150:], weights=W[150:])
        assert st["kept"] == local.insert(E[150:], W[150:]).kept
        assert abs(g2.sparsifier() - local.sparsifier).max() == 0


def test_concurrent_batches_are_serialized_across_processes(tmp_path):
    """Two app instances (separate caches, one database) = two API processes."""
    _serialized(tmp_path, None)


@pytest.mark.postgres
def test_concurrent_batches_are_serialized_on_postgresql(tmp_path, postgres_url):
    _serialized(tmp_path, postgres_url)


def _serialized(tmp_path, db):
    A = mesh_2d(25, 25, seed=0)
    E, W = insertion_stream(A, 400, seed=2)
    chunks = [(E[i::8], W[i::8]) for i in range(8)]
    with (
        TestClient(create_app(_settings(tmp_path, db), start_executor=False)) as t1,
        TestClient(create_app(_settings(tmp_path, db), start_executor=False)) as t2,
    ):
        c1, c2 = _client(t1), _client(t2)
        g = c1.graph(A, target_condition=25, seed=1, backend="cpu")
        from service.client.graphs import get_graph

        handles = [g, get_graph(c2, g.id)]
        results: dict[int, dict] = {}
        errors: list[BaseException] = []

        def send(i):
            try:
                e, w = chunks[i]
                results[i] = handles[i % 2].update(insert=e, weights=w)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        versions = sorted(r["version"] for r in results.values())
        assert versions == list(range(1, 9))  # every batch applied exactly once
        final = handles[1].sparsifier()
        # replaying the batches locally in the order the server applied them gives the same H
        local = DynamicSparsifier(A, target_condition=25, seed=1, backend="cpu")
        for i in sorted(results, key=lambda i: results[i]["version"]):
            st = local.insert(*chunks[i])
            assert st.kept == results[i]["kept"]
        assert abs(final - local.sparsifier).max() == 0
        assert abs(handles[0].sparsifier() - final).max() == 0
        assert handles[0].info()["n_edges_graph"] == as_graph(A).m + 400


def test_a_held_lease_makes_updates_wait_then_conflict_and_expires(api, monkeypatch):
    import time

    from sqlalchemy import update

    from service.client.graphs import get_graph
    from service.graphs.tables import GraphSession

    A = mesh_2d(10, 10, seed=0)
    c = _client(api)
    g = c.graph(A, seed=0)
    store = api.app.state.store
    other = graph_manager.GraphManager(store)  # "another process"
    other._acquire(g.id, "someone-else", 1.0)
    monkeypatch.setattr(graph_manager, "WAIT", 0.4)
    E, W = insertion_stream(A, 5, seed=0)
    t0 = time.monotonic()
    with pytest.raises(ConflictError, match="busy"):
        g.update(insert=E, weights=W)
    assert time.monotonic() - t0 >= 0.4 and g.info()["version"] == 0
    with store.session() as s:  # the holder died: its lease runs out
        s.execute(update(GraphSession).values(lock_until=time.time() - 1))
    assert g.update(insert=E, weights=W)["version"] == 1
    with pytest.raises(NotFoundError):
        get_graph(c, "missing")
    with pytest.raises(ValidationError, match="not an edge"):
        g.update(delete=[[0, 99]])


def test_a_batch_that_fails_to_persist_is_not_half_applied(api, monkeypatch):
    A = mesh_2d(12, 12, seed=0)
    c = _client(api)
    g = c.graph(A, seed=0, target_condition=20)
    H0 = g.sparsifier()
    E, W = insertion_stream(A, 20, seed=3)
    real = graph_manager._save_npz

    def broken(path, arrays):
        raise OSError("disk full")

    monkeypatch.setattr(graph_manager, "_save_npz", broken)
    with pytest.raises(Exception, match="disk full"):
        api.app.state.graphs.apply(g.id, E, W, None)
    monkeypatch.setattr(graph_manager, "_save_npz", real)
    assert g.info()["version"] == 0 and abs(g.sparsifier() - H0).max() == 0
    assert g.update(insert=E, weights=W)["version"] == 1  # the lease was released
