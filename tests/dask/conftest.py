"""Fixtures of the Dask executor tests: one in-process cluster (2 worker processes) for
the session, executors on fresh stores, and helpers to submit and wait."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")

from service.api.jobs_service import JobSubmission, submit_job  # noqa: E402
from service.client._arrays import encode  # noqa: E402
from service.executors.dask import DaskExecutor  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.store import Store  # noqa: E402
from service.store.tables import TERMINAL  # noqa: E402

FAST = {
    "heartbeat_interval": 0.25,
    "heartbeat_timeout": 10.0,
    "poll_interval": 0.05,
    "progress_interval": 0.05,
    "cancel_grace": 10.0,
    "dask_dispatch_interval": 0.1,
    "dask_gpu_wait": 1.0,
    "dask_connect_timeout": 120.0,
    "worker_gpu": False,
    "log_level": "warning",
}


def make_settings(data_dir: Path, **kw: Any) -> Settings:
    return Settings(data_dir=data_dir, **{"executor": "dask", **FAST, **kw})


@pytest.fixture(scope="session")
def cluster_executor(tmp_path_factory) -> Iterator[DaskExecutor]:
    """``SPARSEHPC_DASK_SCHEDULER=local``: an executor that owns a 2-worker cluster."""
    d = tmp_path_factory.mktemp("dask-local")
    s = make_settings(d, dask_scheduler="local", dask_workers=2, dask_gpu_workers=0)
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    wait_workers(ex, 2)
    yield ex
    ex.stop()
    store.dispose()


@pytest.fixture
def remote(cluster_executor, tmp_path) -> Iterator[tuple[DaskExecutor, Store, Settings]]:
    """An executor on a fresh store that reaches the session cluster by address."""
    s = make_settings(tmp_path, dask_scheduler=cluster_executor.address)
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    wait_workers(ex, 2)
    yield ex, store, s
    ex.stop()
    store.dispose()


def wait_workers(ex: DaskExecutor, n: int, timeout: float = 120.0) -> None:
    """Until ``n`` workers are in the cluster and registered in the executor's store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [w for w in ex.store.alive_workers(30) if w.kind == "dask"]
        if ex.health()["workers"] >= n and len(rows) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{n} Dask workers not ready: {ex.health()}")


def submit(
    ex: DaskExecutor,
    solver: str,
    inputs: dict[str, Any],
    params: dict[str, Any] | None = None,
    backend: str = "auto",
    **kw: Any,
) -> str:
    sub = JobSubmission(
        solver=solver,
        inputs={k: encode(v) for k, v in inputs.items()},
        params=params or {},
        backend=backend,
        **kw,
    )
    job, _ = submit_job(ex.store, ex.settings, sub, executor=ex)
    return job.id


def wait_for(store: Store, job_id: str, statuses=TERMINAL, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.get_job(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not in {set(statuses)} after {timeout} s: {job.status}")


def wait_all(store: Store, ids: list[str], timeout: float = 180.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    for i in ids:
        wait_for(store, i, timeout=max(1.0, deadline - time.monotonic()))
    return [store.get_job(i) for i in ids]
