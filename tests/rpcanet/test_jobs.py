"""rpca_segment / rpcanet_train through solvers.run and through the service."""

import numpy as np
import pytest

pytest.importorskip("torch")

import solvers  # noqa: E402
from solvers.rpca.deep.scenes import make_scenes  # noqa: E402

TRAIN = {
    "steps": 6,
    "batch_size": 2,
    "crop": 32,
    "pool": 4,
    "scene_size": 64,
    "val_every": 3,
    "val_scenes": 1,
    "stages": 2,
    "channels": 8,
}


def test_train_job_model_runs_in_segment_job(tmp_path):
    res = solvers.run("rpcanet_train", {}, TRAIN, backend="cpu")
    assert res.model.dtype == np.uint8 and res.n_iter == 6 and len(res.residuals) == 6
    imgs = make_scenes(2, (64, 64), seed=9).images
    seg = solvers.run("rpca_segment", {"images": imgs, "model": res.model}, {}, backend="cpu")
    assert seg.probabilities.shape == (2, 64, 64) and seg.masks.dtype == bool
    assert seg.stats()["model"] == "<bytes>"
    path = tmp_path / "m.pt"
    path.write_bytes(res.model.tobytes())
    seg2 = solvers.run("rpca_segment", {"images": imgs}, {"model": str(path)}, backend="cpu")
    assert np.allclose(seg2.probabilities, seg.probabilities)


def test_train_job_on_user_images_and_bad_masks():
    s = make_scenes(3, (40, 40), seed=2)
    res = solvers.run(
        "rpcanet_train",
        {"images": s.images, "masks": s.masks},
        {**TRAIN, "steps": 3},
        backend="cpu",
    )
    assert res.n_iter == 3
    with pytest.raises(solvers.InvalidProblemError, match="does not match"):
        solvers.run(
            "rpcanet_train", {"images": s.images, "masks": s.masks[:, :10]}, TRAIN, backend="cpu"
        )
    with pytest.raises(solvers.InvalidProblemError, match="both"):
        solvers.run("rpcanet_train", {"images": s.images}, TRAIN, backend="cpu")


def test_importing_solvers_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, solvers; solvers.list_solvers(); import solvers.rpca.deep; "
        "assert 'rpca_segment' in solvers.list_solvers(); "
        "assert 'rpcanet_train' in solvers.list_solvers(); "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


fastapi = pytest.importorskip("fastapi")


@pytest.fixture
def api(tmp_path):
    from fastapi.testclient import TestClient

    from service.api.main import create_app
    from service.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        api_keys="k",
        workers=0,
        worker_gpu=False,
        heartbeat_interval=0.2,
        poll_interval=0.01,
        progress_interval=0.0,
    )
    with TestClient(create_app(settings, start_executor=False)) as tc:
        yield tc


H = {"Authorization": "Bearer k"}


def _run(api, body):
    from service.client._arrays import decode
    from service.worker import Worker

    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 202, r.text
    job = r.json()
    Worker(api.app.state.store, api.app.state.settings).loop(max_jobs=1)
    info = api.get(f"/api/v1/jobs/{job['id']}", headers=H).json()
    assert info["status"] == "succeeded", info
    res = api.get(f"/api/v1/jobs/{job['id']}/result", headers=H).json()
    return {k: decode(v) for k, v in res["outputs"].items()}, res["stats"]


def test_service_train_then_segment(api):
    from service.client._arrays import encode

    out, stats = _run(
        api, {"solver": "rpcanet_train", "inputs": {}, "params": TRAIN, "backend": "cpu"}
    )
    model = out["model"]
    assert model.dtype == np.uint8 and stats["n_iter"] == 6
    imgs = make_scenes(1, (64, 64), seed=3).images
    out2, stats2 = _run(
        api,
        {
            "solver": "rpca_segment",
            "inputs": {"images": encode(imgs), "model": encode(model.tobytes())},
            "params": {"threshold": 0.5},
            "backend": "cpu",
        },
    )
    assert out2["masks"].shape == (1, 64, 64) and stats2["model"] == "<bytes>"


@pytest.mark.parametrize(
    "inputs, params, field",
    [
        ({"images": np.zeros((1, 1, 16, 16))}, {}, "inputs.images"),
        ({"images": np.full((16, 16), np.nan)}, {}, "inputs.images"),
        ({"images": np.zeros((16, 16))}, {"model": "nope"}, "params.model"),
        ({"images": np.zeros((16, 16)), "model": b"garbage"}, {}, "inputs.model"),
        ({"images": np.zeros((16, 16))}, {"threshold": 2}, "params.threshold"),
    ],
)
def test_bad_segment_jobs_are_422(api, inputs, params, field):
    from service.client._arrays import encode

    enc = {k: encode(v, b64=True) for k, v in inputs.items()}
    body = {"solver": "rpca_segment", "inputs": enc, "params": params, "backend": "cpu"}
    r = api.post("/api/v1/jobs", json=body, headers=H)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field, r.json()


def test_cli_train_rpcanet_writes_a_usable_model(tmp_path, capsys):
    from service.cli import main

    out = tmp_path / "model.pt"
    args = ["train", "rpcanet", "-o", str(out), "--backend", "cpu"]
    for k, v in {**TRAIN, "steps": 2, "val_every": 0}.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    assert main(args) == 0
    assert out.stat().st_size > 1000
    img = make_scenes(1, (32, 32), seed=1).images[0]
    from solvers.rpca import segment

    assert segment(img, model=str(out)).masks.shape == (32, 32)
