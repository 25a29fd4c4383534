"""Pieces of the Dask executor on their own: placement, resources, settings on the
workers, GPU capacity, and the ``python:module:function`` cluster factories."""

from __future__ import annotations

import json

import pytest

from service.executors.dask import DaskExecutor, Placement, place
from service.executors.dask_worker import job_settings, parse_resources
from service.store import Store
from solvers.rpca import low_rank_plus_sparse

from . import _factory
from .conftest import make_settings, submit, wait_for, wait_workers

GiB = 2**30


@pytest.mark.parametrize(
    "backend, solver_backends, estimate, gpus, expected",
    [
        ("gpu", ("cpu", "gpu"), 10 * GiB, {}, Placement({"GPU": 1}, "gpu", True)),
        ("gpu", ("cpu", "gpu"), 1, {"a": 80 * GiB}, Placement({"GPU": 1}, "gpu", True)),
        ("cpu", ("cpu", "gpu"), 1, {"a": 80 * GiB}, Placement(None, "cpu", False)),
        ("auto", ("cpu", "gpu"), 1 * GiB, {"a": 80 * GiB}, Placement({"GPU": 1}, "auto", True)),
        # the job does not fit the largest GPU: CPU
        ("auto", ("cpu", "gpu"), 90 * GiB, {"a": 80 * GiB}, Placement(None, "cpu", False)),
        # fits one of two GPUs
        (
            "auto",
            ("cpu", "gpu"),
            30 * GiB,
            {"a": 16 * GiB, "b": 40 * GiB},
            Placement({"GPU": 1}, "auto", True),
        ),
        # GPU memory unknown (0): assume it fits
        ("auto", ("cpu", "gpu"), 90 * GiB, {"a": 0}, Placement({"GPU": 1}, "auto", True)),
        # no GPU worker, or a solver without a GPU backend: CPU
        ("auto", ("cpu", "gpu"), 1, {}, Placement(None, "cpu", False)),
        ("auto", ("cpu",), 1, {"a": 80 * GiB}, Placement(None, "cpu", False)),
    ],
)
def test_placement(backend, solver_backends, estimate, gpus, expected):
    assert place(backend, solver_backends, estimate, gpus) == expected


def test_parse_resources():
    assert parse_resources("GPU=1,MEM=64e9") == {"GPU": 1.0, "MEM": 64e9}
    assert parse_resources("GPU=1 SCRATCH=2") == {"GPU": 1.0, "SCRATCH": 2.0}
    assert parse_resources(None) == {} and parse_resources("") == {}
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_resources("GPU")
    with pytest.raises(ValueError):
        parse_resources("GPU=x")


def test_workers_get_the_api_settings_but_their_own_store_path(tmp_path, monkeypatch):
    s = make_settings(tmp_path, api_keys="secret", heartbeat_interval=0.7)
    ex = DaskExecutor(s, Store(s.db_url, s.data_dir))
    payload = ex._payload
    assert "api_keys" not in payload and payload["data_dir"] == str(tmp_path.resolve())
    monkeypatch.delenv("SPARSEHPC_WORKER_DATA_DIR", raising=False)
    monkeypatch.delenv("SPARSEHPC_WORKER_DATABASE_URL", raising=False)
    monkeypatch.setenv("SPARSEHPC_DATA_DIR", "/elsewhere")  # the worker's own: ignored
    w = job_settings(payload)
    assert w.data_dir == tmp_path.resolve() and w.db_url == s.db_url
    assert w.heartbeat_interval == 0.7 and w.api_keys == ""
    monkeypatch.setenv("SPARSEHPC_WORKER_DATA_DIR", "/mnt/shared/sparsehpc")
    w = job_settings(payload)
    assert str(w.data_dir) == "/mnt/shared/sparsehpc"
    assert w.db_url == "sqlite:////mnt/shared/sparsehpc/sparsehpc.db"
    monkeypatch.setenv("SPARSEHPC_WORKER_DATABASE_URL", "postgresql://u@db/x")
    assert job_settings(payload).db_url == "postgresql+psycopg://u@db/x"


def test_gpu_capacity_follows_the_cluster(tmp_path):
    from service.executors import Executor, make_executor

    s = make_settings(tmp_path)
    ex = make_executor(s, Store(s.db_url, s.data_dir))
    assert isinstance(ex, DaskExecutor) and isinstance(ex, Executor)
    assert ex.gpu_capacity() is None  # not connected: unknown (the store decides)
    ex._snapshot = {"connected": True, "workers": {}, "gpus": {}}
    assert ex.gpu_capacity() is None  # no workers yet: queue, one may join
    ex._snapshot = {"connected": True, "workers": {"a": {}}, "gpus": {}}
    assert ex.gpu_capacity() == 0
    ex._snapshot = {"connected": True, "workers": {"a": {}, "b": {}}, "gpus": {"b": 0}}
    assert ex.gpu_capacity() == 1
    ex._snapshot["gpus"] = {"b": 80 * GiB, "c": 40 * GiB}
    assert ex.gpu_capacity() == 80 * GiB


def test_factory_returning_an_address(cluster_executor, tmp_path):
    _factory.ADDRESS = cluster_executor.address
    s = make_settings(tmp_path, dask_scheduler="python:tests.dask._factory:address")
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    try:
        assert ex.address == cluster_executor.address and not ex._owns_cluster
        wait_workers(ex, 2)
    finally:
        ex.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # distributed's
def test_factory_returning_a_cluster_that_the_service_owns(tmp_path):
    s = make_settings(tmp_path, dask_scheduler="python:tests.dask._factory:threads_cluster")
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    try:
        wait_workers(ex, 1)
        M, L, _ = low_rank_plus_sparse(40, rank=2, sparsity=0.05, seed=0)
        job = wait_for(store, submit(ex, "rpca", {"M": M}))
        assert job.status == "succeeded", job.error
    finally:
        ex.stop()
    assert _factory.MADE[-1].status.name == "closed"


def test_bad_factory_spec(tmp_path):
    s = make_settings(tmp_path, dask_scheduler="python:nomodule")
    ex = DaskExecutor(s, Store(s.db_url, s.data_dir))
    with pytest.raises(ValueError, match="python:package.module:function"):
        ex.start()


def test_scheduler_file(cluster_executor, tmp_path):
    path = tmp_path / "scheduler.json"
    # a scheduler file as `dask scheduler --scheduler-file` writes it (Client.write_scheduler_file
    # dumps the whole scheduler_info, which can hold non-string keys once tasks have run)
    address = cluster_executor.client.scheduler.address
    path.write_text(json.dumps({"type": "Scheduler", "address": address}))
    s = make_settings(tmp_path / "store", dask_scheduler=str(path))
    ex = DaskExecutor(s, Store(s.db_url, s.data_dir))
    ex.start()
    try:
        wait_workers(ex, 2)
        assert ex.health()["connected"] and ex.health()["scheduler"] == str(path)
    finally:
        ex.stop()
