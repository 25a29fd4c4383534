"""The KroSBL solver through the REST service (in-process TestClient + one worker)."""

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.client._arrays import decode, encode  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.worker import Worker  # noqa: E402
from solvers.krosbl import kronecker_problem, nmse_db  # noqa: E402

KEY = "k"
HDR = {"Authorization": f"Bearer {KEY}"}


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


def test_complex_job_over_json(api):
    prob = kronecker_problem(
        [(6, 12), (8, 12), (5, 10)], [2, 2, 2], snr=30, seed=0, complex=True, amplitudes="bounded"
    )
    body = {
        "solver": "krosbl",
        "inputs": {"y": encode(prob.y), "H": encode(prob.H)},
        "params": {"method": "svd", "noise_var": prob.noise_var},
        "backend": "cpu",
    }
    r = api.post("/api/v1/jobs", json=body, headers=HDR)
    assert r.status_code == 202, r.text
    job = r.json()
    Worker(api.app.state.store, api.app.state.settings).loop(max_jobs=1)
    info = api.get(f"/api/v1/jobs/{job['id']}", headers=HDR).json()
    assert info["status"] == "succeeded", info
    res = api.get(f"/api/v1/jobs/{job['id']}/result", headers=HDR).json()
    out = {k: decode(v) for k, v in res["outputs"].items()}
    assert set(out) == {"x", "gamma"}
    assert out["x"].dtype == np.complex128 and out["x"].shape == (1440,)
    assert nmse_db(out["x"], prob.x) < -25
    np.testing.assert_array_equal(
        np.flatnonzero(out["gamma"] > 1e-3 * out["gamma"].max()), prob.support
    )
    stats = res["stats"]
    assert stats["method"] == "svd" and stats["converged"] is True
    assert stats["active_sizes"] == [2, 2, 2] and stats["n_iter"] >= 1
    assert len(stats["objective"]) == stats["n_iter"] + 1


H2 = [np.ones((4, 6)), np.ones((5, 7))]


@pytest.mark.parametrize(
    "inputs, params, field, match",
    [
        ({"y": np.ones(20), "H": [np.ones((4, 6))]}, {}, "inputs.H", "K >= 2"),
        ({"y": np.ones(21), "H": H2}, {}, "inputs.y", "(21,)"),
        ({"y": np.ones(20)}, {}, "inputs.H", "missing required input"),
        (
            {"y": {"dtype": "float64", "shape": [20], "data": [1.0, None] * 10}, "H": H2},
            {},
            "inputs.y",
            "NaN",
        ),
        ({"y": np.ones(20) * 1j, "H": H2}, {"noise_var": -1}, "params.noise_var", "greater"),
        (
            {"y": np.ones(20), "H": H2},
            {"method": "am", "block_sizes": [2]},
            "params.block_sizes",
            "one entry per factor",
        ),
    ],
)
def test_bad_krosbl_jobs_are_422(api, inputs, params, field, match):
    body = {
        "solver": "krosbl",
        "inputs": {k: v if isinstance(v, dict) else encode(v) for k, v in inputs.items()},
        "params": params,
    }
    r = api.post("/api/v1/jobs", json=body, headers=HDR)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field, err
    assert match in err["message"]


def test_solver_is_listed(api):
    r = api.get("/api/v1/solvers", headers=HDR).json()
    items = r["solvers"] if isinstance(r, dict) else r
    spec = next(s for s in items if s["name"] == "krosbl")
    assert [i["name"] for i in spec["inputs"]] == ["y", "H"]
    assert spec["inputs"][1]["kind"] == "list" and spec["outputs"] == ["x", "gamma"]
    assert "noise_var" in spec["params_schema"]["properties"]
