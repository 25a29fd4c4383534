"""The DCDM solvers through the REST service (in-process TestClient + one worker)."""

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("fastapi")
pytest.importorskip("torch")

from fastapi.testclient import TestClient  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.client._arrays import decode, encode  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.worker import Worker  # noqa: E402
from solvers.dcdm import smoke_problem  # noqa: E402

KEY = "k"
H = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def api(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        api_keys=KEY,
        workers=0,
        worker_gpu=False,
        heartbeat_interval=0.2,
        poll_interval=0.01,
        progress_interval=0.0,
    )
    with TestClient(create_app(settings, start_executor=False)) as tc:
        yield tc


def run_job(api, body):
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 202, r.text
    job = r.json()
    Worker(api.app.state.store, api.app.state.settings).loop(max_jobs=1)
    info = api.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
    assert info["status"] == "succeeded", info
    res = api.get(f"/api/v1/jobs/{job['id']}/result", headers=H).json()
    return {k: decode(v) for k, v in res["outputs"].items()}, res["stats"]


@pytest.mark.parametrize("method", ["dcdm", "amg"])
def test_solve_job(api, method):
    s, b = smoke_problem(14, layout="bunny", seed=4)
    out, stats = run_job(
        api,
        {
            "solver": "dcdm",
            "inputs": {"A": encode(s.A), "b": encode(b.reshape(s.grid_shape))},
            "params": {"grid_shape": list(s.grid_shape), "method": method, "rtol": 1e-7},
            "backend": "cpu",
        },
    )
    x = out["x"]
    assert x.shape == s.grid_shape
    assert np.linalg.norm(b - s.A @ x.ravel()) <= 1e-7 * np.linalg.norm(b)
    assert stats["method"] == method and stats["converged"] and stats["n_iter"] >= 1


def test_model_trained_by_a_job_solves_in_a_later_job(api):
    out, stats = run_job(
        api,
        {
            "solver": "dcdm_train",
            "inputs": {},
            "params": {"grid": 8, "geometries": 2, "lanczos": 40, "steps": 8, "batch_size": 4},
            "backend": "cpu",
        },
    )
    model = out["model"]
    assert model.dtype == np.uint8 and stats["n_iter"] == 8
    s, b = smoke_problem(10, layout="sphere", seed=1)
    out2, stats2 = run_job(
        api,
        {
            "solver": "dcdm",
            "inputs": {"A": encode(s.A), "b": encode(b), "model": encode(model.tobytes())},
            "params": {"grid_shape": list(s.grid_shape), "rtol": 1e-6},
            "backend": "cpu",
        },
    )
    assert stats2["converged"] and stats2["model"] == "<bytes>"
    assert np.linalg.norm(b - s.A @ out2["x"]) <= 1e-6 * np.linalg.norm(b)


S3 = smoke_problem(6, layout="none", seed=0)[0]
S2 = smoke_problem((8, 8), layout="none", seed=0)[0]


@pytest.mark.parametrize(
    "inputs, params, field, match",
    [
        (
            {"A": sp.random(6, 8, density=0.5), "b": np.ones(6)},
            {"grid_shape": [2, 3]},
            "inputs.A",
            "square",
        ),
        (
            {"A": S3.A, "b": np.ones(216)},
            {"grid_shape": [6, 6, 5]},
            "params.grid_shape",
            "grid_shape",
        ),
        ({"A": S3.A, "b": np.ones(215)}, {"grid_shape": [6, 6, 6]}, "inputs.b", "b has"),
        (
            {"A": S3.A, "b": np.r_[np.inf, np.ones(215)]},
            {"grid_shape": [6, 6, 6]},
            "inputs.b",
            "NaN or infinite",
        ),
        (
            {"A": S2.A, "b": np.ones(64)},
            {"grid_shape": [8, 8], "model": "poisson3d"},
            "params.model",
            "3-D grids but the problem's grid is 2-D",
        ),
        (
            {"A": S3.A, "b": np.ones(216)},
            {"grid_shape": [6, 6, 6], "model": "nope"},
            "params.model",
            "unknown DCDM model",
        ),
        (
            {"A": S3.A, "b": np.ones(216), "model": b"garbage"},
            {"grid_shape": [6, 6, 6]},
            "inputs.model",
            "not a DCDM model",
        ),
        (
            {"A": S3.A, "b": np.ones(216)},
            {"grid_shape": [6, 6, 6], "rtol": 2},
            "params.rtol",
            "less than 1",
        ),
        ({"A": S3.A, "b": np.ones(216)}, {"grid_shape": [216]}, "params.grid_shape", "2 or 3"),
    ],
)
def test_bad_dcdm_jobs_are_422(api, inputs, params, field, match):
    enc = {k: encode(v, b64=not sp.issparse(v)) for k, v in inputs.items()}  # b64: NaN/Inf
    body = {"solver": "dcdm", "inputs": enc, "params": params, "backend": "cpu"}
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    assert match in err["message"] + r.json().get("detail", ""), err
