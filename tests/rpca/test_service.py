"""The RPCA solvers through the REST service (in-process TestClient + one worker)."""

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from service.api.main import create_app  # noqa: E402
from service.client._arrays import decode, encode  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.worker import Worker  # noqa: E402
from solvers.rpca import (  # noqa: E402
    foreground_scores,
    low_rank_plus_sparse,
    moving_objects_video,
    random_mask,
)

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


def _run(api, body):
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 202, r.text
    job = r.json()
    Worker(api.app.state.store, api.app.state.settings).loop(max_jobs=1)
    info = api.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
    assert info["status"] == "succeeded", info
    res = api.get(f"/api/v1/jobs/{job['id']}/result", headers=H).json()
    return {k: decode(v) for k, v in res["outputs"].items()}, res["stats"]


def test_altproj_job_with_a_mask(api):
    M, L, S = low_rank_plus_sparse(150, 120, rank=4, sparsity=0.05, seed=3)
    mask = random_mask(M.shape, 0.2, seed=1)
    body = {
        "solver": "rpca",
        "inputs": {"M": encode(np.where(mask, M, 0.0)), "mask": encode(mask)},
        "params": {"method": "altproj"},
    }
    out, stats = _run(api, body)
    assert np.linalg.norm(out["L"] - L) / np.linalg.norm(L) < 1e-5
    assert not out["S"][~mask].any()
    assert stats["method"] == "altproj" and stats["rank"] == 4 and stats["stop"] == "tol"
    assert stats["observed_fraction"] == pytest.approx(0.8, abs=0.02)


def test_video_job(api):
    sc = moving_objects_video(30, 24, 32, noise=0.01, seed=2)
    body = {"solver": "rpca_video", "inputs": {"frames": encode(sc.frames)}, "params": {}}
    out, stats = _run(api, body)
    assert out["background"].shape == sc.frames.shape
    assert out["foreground_mask"].dtype == bool and out["foreground_mask"].shape == (30, 24, 32)
    assert foreground_scores(sc.foreground_mask, out["foreground_mask"])["f1"] > 0.95
    assert stats["rank"] == 2 and stats["threshold"] > 0


def test_solver_list_describes_both(api):
    r = api.get("/api/v1/solvers", headers=H).json()
    by = {s["name"]: s for s in r}
    assert [i["name"] for i in by["rpca"]["inputs"]] == ["M", "mask"]
    assert by["rpca"]["params_schema"]["properties"]["method"]["enum"] == ["ialm", "altproj"]
    assert by["rpca_video"]["outputs"] == ["background", "foreground", "foreground_mask"]


@pytest.mark.parametrize(
    "solver, inputs, params, field, match",
    [
        ("rpca", {"M": np.ones((4, 5, 2))}, {}, "inputs.M", "dimension"),
        ("rpca", {"M": [[1.0, None], [0.0, 1.0]]}, {}, "inputs.M", "NaN"),  # null = NaN
        (
            "rpca",
            {"M": np.ones((4, 5)), "mask": np.ones((5, 4), bool)},
            {"method": "altproj"},
            "inputs.mask",
            "shape (5, 4)",
        ),
        (
            "rpca",
            {"M": np.ones((4, 5))},
            {"method": "altproj", "rank": 5},
            "params.rank",
            "exceeds",
        ),
        ("rpca", {"M": np.ones((4, 5))}, {"rank": 2}, "params.rank", "altproj"),
        (
            "rpca",
            {"M": np.ones((4, 5))},
            {"method": "altproj", "beta": -1},
            "params.beta",
            "greater",
        ),
        ("rpca_video", {"frames": np.ones((4, 5))}, {}, "inputs.frames", "dimension"),
        ("rpca_video", {"frames": np.ones((1, 5, 6))}, {}, "inputs.frames", "at least 2"),
        (
            "rpca_video",
            {"frames": np.ones((3, 5, 6)), "mask": np.ones((3, 6, 5), bool)},
            {},
            "inputs.mask",
            "shape",
        ),
        ("rpca_video", {"frames": np.ones((3, 5, 6))}, {"rank": 9}, "params.rank", "exceeds"),
    ],
)
def test_bad_jobs_are_422(api, solver, inputs, params, field, match):
    enc = {k: v if isinstance(v, list) else encode(v) for k, v in inputs.items()}
    body = {"solver": solver, "inputs": enc, "params": params}
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and match in err["message"]
    assert api.get("/api/v1/jobs", headers=H).json()["total"] == 0
