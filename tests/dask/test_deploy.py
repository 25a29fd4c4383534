"""Deployment files of the Dask executor: docker/compose.dask.yaml and the Kubernetes
(Dask operator) manifest. Every command must parse with the real CLIs, every path and
name they refer to must exist and agree."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest

from service.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
yaml = pytest.importorskip("yaml")


def check_command(argv: list[str]) -> None:
    """Parse ``argv`` with the program it runs: ``sparsehpc`` or ``dask scheduler``."""
    if argv[0] == "sparsehpc":
        build_parser().parse_args(argv[1:])  # SystemExit on an unknown command/option
    elif argv[:2] == ["dask", "scheduler"]:
        from distributed.cli.dask_scheduler import main

        main.make_context("dask scheduler", list(argv[2:]))  # click raises on bad options
    else:
        raise AssertionError(f"unexpected command {argv}")


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_check_command_rejects_bad_options():
    import click

    with pytest.raises(SystemExit):
        check_command(["sparsehpc", "worker", "--dask", "x", "--bogus"])
    with pytest.raises(click.UsageError):
        check_command(["dask", "scheduler", "--bogus"])


def test_compose_dask():
    doc = yaml.safe_load((ROOT / "docker" / "compose.dask.yaml").read_text())
    svc = doc["services"]
    assert {"db", "scheduler", "api", "worker", "gpu-worker"} <= set(svc)
    for name, s in svc.items():
        if "command" in s:
            check_command(s["command"])
        if "build" in s:
            assert (ROOT / "docker" / s["build"]["context"] / s["build"]["dockerfile"]).exists()
        if name != "scheduler" and s.get("image", "").startswith("sparsehpc"):
            assert "sparsehpc-data:/data" in s["volumes"], name
    # the scheduler: the image of the API and workers (same dask/distributed versions)
    sched = svc["scheduler"]
    assert sched["image"] == svc["api"]["image"] == svc["worker"]["image"] == "sparsehpc:cpu"
    port = option(sched["command"], "--port")
    address = f"tcp://scheduler:{port}"
    api = svc["api"]["command"]
    assert option(api, "--executor") == "dask" and option(api, "--dask-scheduler") == address
    assert "scheduler" in svc["api"]["depends_on"] and "db" in svc["api"]["depends_on"]
    for name in ("worker", "gpu-worker"):
        cmd = svc[name]["command"]
        assert cmd[:2] == ["sparsehpc", "worker"] and option(cmd, "--dask") == address
        for key in ("SPARSEHPC_DATA_DIR", "SPARSEHPC_DATABASE_URL"):  # the same store
            assert svc[name]["environment"][key] == svc["api"]["environment"][key]
    assert "--gpu" in svc["gpu-worker"]["command"] and "--gpu" not in svc["worker"]["command"]
    assert svc["gpu-worker"]["profiles"] == ["gpu"]
    dev = svc["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["capabilities"] == ["gpu"] and svc["gpu-worker"]["image"] == "sparsehpc:cuda"
    # one store for all: PostgreSQL in the db service, array files on the shared volume
    url = urlparse(svc["api"]["environment"]["SPARSEHPC_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg" and url.hostname == "db"
    assert url.username == svc["db"]["environment"]["POSTGRES_USER"]
    assert url.path.lstrip("/") == svc["db"]["environment"]["POSTGRES_DB"]
    assert svc["api"]["environment"]["SPARSEHPC_DATA_DIR"] == "/data"


def test_images_install_distributed():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    assert any(d.startswith("dask[distributed]") for d in extras["dask"])
    assert "dask" in extras["all"][0]
    for name in ("Dockerfile.cpu", "Dockerfile.cuda"):
        text = (ROOT / "docker" / name).read_text()
        assert '".[all' in text  # the all extra: dask[distributed] included


def test_kubernetes_dask_operator_manifest():
    docs = list(yaml.safe_load_all((ROOT / "docker" / "k8s" / "sparsehpc-dask.yaml").read_text()))
    by_kind = {d["kind"]: d for d in docs}
    assert {"DaskCluster", "DaskWorkerGroup", "Deployment", "Service"} <= set(by_kind)
    cluster, group = by_kind["DaskCluster"], by_kind["DaskWorkerGroup"]
    assert cluster["apiVersion"] == group["apiVersion"] == "kubernetes.dask.org/v1"
    name = cluster["metadata"]["name"]
    assert group["spec"]["cluster"] == name
    sched = cluster["spec"]["scheduler"]["spec"]["containers"][0]
    check_command(sched["args"])
    port = int(option(sched["args"], "--port"))
    svc_ports = {p["name"]: p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert svc_ports["tcp-comm"] == port
    # the operator names the scheduler Service "<cluster>-scheduler"
    api = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    check_command(api["args"])
    assert option(api["args"], "--executor") == "dask"
    assert option(api["args"], "--dask-scheduler") == f"tcp://{name}-scheduler:{port}"
    env = {e["name"]: e for e in api["env"]}
    assert env["SPARSEHPC_DATA_DIR"]["value"] == "/data"
    assert "secretKeyRef" in env["SPARSEHPC_DATABASE_URL"]["valueFrom"]
    pvc = by_kind["PersistentVolumeClaim"]
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]
    pods = [
        by_kind["Deployment"]["spec"]["template"]["spec"],
        cluster["spec"]["worker"]["spec"],
        group["spec"]["worker"]["spec"],
    ]
    for pod in pods:  # every process that touches the store mounts the same volume at /data
        vols = {v["name"]: v for v in pod["volumes"]}
        mount = pod["containers"][0]["volumeMounts"][0]
        assert mount["mountPath"] == "/data"
        assert vols[mount["name"]]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    for worker, gpu in ((cluster["spec"]["worker"], False), (group["spec"]["worker"], True)):
        c = worker["spec"]["containers"][0]
        argv = [
            a.replace("$(DASK_SCHEDULER_ADDRESS)", "tcp://x:8786").replace(
                "$(DASK_WORKER_NAME)", "w"
            )
            for a in c["args"]
        ]
        check_command(argv)
        assert option(c["args"], "--dask") == "$(DASK_SCHEDULER_ADDRESS)"  # set by the operator
        assert ("--gpu" in argv) is gpu
        if gpu:
            assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
            assert c["image"] == "sparsehpc:cuda"
