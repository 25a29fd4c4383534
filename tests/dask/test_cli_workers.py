"""A cluster made of separate processes, as deployed: a ``dask scheduler`` and two
``sparsehpc worker --dask`` processes, one declaring ``--gpu``.

GPU jobs go only to the GPU worker (here a fake one: it declares the resource on a
machine without CUDA, so a ``gpu`` job fails there with a clear error and an ``auto``
job placed there falls back to the CPU); a scheduler restart loses no job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from service.cli import free_port
from service.executors.dask import DaskExecutor
from service.store import Store
from service.store.tables import Worker as WorkerRow
from solvers.rpca import low_rank_plus_sparse

from .conftest import make_settings, submit, wait_all, wait_for, wait_workers

ROOT = Path(__file__).resolve().parents[2]


class Procs:
    """The scheduler and worker subprocesses, with their logs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.sched_file = tmp / "scheduler.json"
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _popen(self, args: list[str], log: str) -> subprocess.Popen:
        out = open(self.tmp / log, "ab")  # noqa: SIM115
        return subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def start_scheduler(self) -> None:
        self.scheduler = self._popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
                "--scheduler-file",
                str(self.sched_file),
            ],
            "scheduler.log",
        )

    def start_worker(self, *extra: str) -> None:
        args = [sys.executable, "-m", "service.cli", "worker", "--dask", str(self.sched_file)]
        self.workers.append(self._popen(args + list(extra), f"worker-{len(self.workers)}.log"))

    def stop(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.scheduler]:
            if p is None:
                continue
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {f.name}\n{f.read_text()[-3000:]}" for f in sorted(self.tmp.glob("*.log"))
        )


@pytest.fixture(scope="module")
def procs(tmp_path_factory):
    p = Procs(tmp_path_factory.mktemp("dask-procs"))
    p.start_scheduler()
    deadline = time.monotonic() + 60
    while not p.sched_file.exists():
        assert time.monotonic() < deadline and p.scheduler.poll() is None, p.logs()
        time.sleep(0.1)
    p.start_worker("--gpu", "--name", "fake-gpu")
    p.start_worker("--name", "cpu-w", "--resources", "SCRATCH=1")
    yield p
    p.stop()


@pytest.fixture
def executor(procs, tmp_path):
    s = make_settings(tmp_path, dask_scheduler=procs.address)
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    try:
        wait_workers(ex, 2, timeout=120)
    except AssertionError:
        print(procs.logs())
        raise
    yield ex
    ex.stop()
    store.dispose()


def _address_of(ex: DaskExecutor, name: str) -> str:
    info = ex.client.scheduler_info(n_workers=-1)
    return next(a for a, w in info["workers"].items() if w.get("name") == name)


def test_gpu_jobs_go_only_to_the_gpu_worker(executor):
    ex, store = executor, executor.store
    gpu_addr = _address_of(ex, "fake-gpu")
    cpu_addr = _address_of(ex, "cpu-w")
    info = ex.client.scheduler_info(n_workers=-1)["workers"]
    assert info[gpu_addr]["resources"] == {"GPU": 1}
    assert info[cpu_addr]["resources"] == {"SCRATCH": 1}
    with store.session() as sess:
        row = sess.get(WorkerRow, f"dask:{gpu_addr}")
        assert row.kind == "dask" and row.gpu is True and row.pid != os.getpid()
        assert sess.get(WorkerRow, f"dask:{cpu_addr}").gpu is False
    assert ex.gpu_capacity() == 1  # a GPU worker whose memory is unknown (no CUDA here)

    M, L, _ = low_rank_plus_sparse(50, rank=2, sparsity=0.05, seed=7)
    gpu_ids = [submit(ex, "rpca", {"M": M}, backend="gpu") for _ in range(2)]
    auto_ids = [submit(ex, "rpca", {"M": M}, backend="auto") for _ in range(3)]
    cpu_ids = [submit(ex, "rpca", {"M": M}, backend="cpu") for _ in range(6)]
    for j in wait_all(store, gpu_ids):
        # it reached the GPU worker, whose GPU is not usable: a clear error, not a hang
        assert j.worker_id == f"dask:{gpu_addr}"
        assert j.status == "failed" and j.error["type"] == "BackendUnavailableError", j.error
    for j in wait_all(store, auto_ids):
        assert j.worker_id == f"dask:{gpu_addr}"  # placed on the GPU worker ...
        assert j.status == "succeeded" and j.backend_used == "cpu"  # ... fell back to the CPU
    cpu_jobs = wait_all(store, cpu_ids)
    assert all(j.status == "succeeded" and j.backend_used == "cpu" for j in cpu_jobs)
    assert {j.worker_id for j in cpu_jobs} <= {f"dask:{gpu_addr}", f"dask:{cpu_addr}"}


@pytest.mark.slow
def test_scheduler_restart_loses_no_job(procs, executor):
    ex, store = executor, executor.store
    M, _, _ = low_rank_plus_sparse(150, rank=5, sparsity=0.05, seed=8)
    long_id = submit(ex, "rpca", {"M": M}, {"tol": 1e-300, "maxiter": 250}, backend="cpu")
    wait_for(store, long_id, {"running"}, timeout=60)
    small, _, _ = low_rank_plus_sparse(40, rank=2, sparsity=0.05, seed=9)
    ids = [long_id] + [submit(ex, "rpca", {"M": small}, backend="cpu") for _ in range(6)]
    procs.scheduler.send_signal(signal.SIGKILL)
    procs.scheduler.wait(timeout=10)
    with contextlib.suppress(FileNotFoundError):
        procs.sched_file.unlink()
    time.sleep(2)
    queued_meanwhile = submit(ex, "rpca", {"M": small}, backend="cpu")  # the API still takes jobs
    procs.start_scheduler()
    try:
        jobs = wait_all(store, [*ids, queued_meanwhile], timeout=240)
    except AssertionError:
        print(procs.logs())
        raise
    assert all(j.status == "succeeded" for j in jobs), [(j.status, j.error) for j in jobs]
    assert store.list_jobs(status="running")[1] == 0
    lj = store.get_job(long_id)
    assert lj.stats["n_iter"] == 250
    # the long job was released (worker closing) or requeued (worker lost), then rerun
    assert lj.attempts <= 2
    t0 = min(j.created_at for j in jobs)
    print("timeline:", [(round(j.started_at - t0, 1), round(j.finished_at - t0, 1)) for j in jobs])
    print("long job:", lj.attempts, lj.history)
    wait_workers(ex, 2, timeout=120)


@pytest.mark.slow
def test_sigterm_on_a_worker_releases_its_job(tmp_path):
    p = Procs(tmp_path)
    p.start_scheduler()
    deadline = time.monotonic() + 60
    while not p.sched_file.exists():
        assert time.monotonic() < deadline, p.logs()
        time.sleep(0.1)
    p.start_worker("--name", "only")
    s = make_settings(tmp_path / "store", dask_scheduler=p.address)
    store = Store(s.db_url, s.data_dir)
    ex = DaskExecutor(s, store)
    ex.start()
    try:
        wait_workers(ex, 1, timeout=120)
        M, _, _ = low_rank_plus_sparse(150, rank=5, sparsity=0.05, seed=12)
        jid = submit(ex, "rpca", {"M": M}, {"tol": 1e-300, "maxiter": 200}, backend="cpu")
        wait_for(store, jid, {"running"}, timeout=60)
        p.workers[0].send_signal(signal.SIGTERM)
        assert p.workers[0].wait(timeout=60) == 0
        job = wait_for(store, jid, {"queued"}, timeout=30)
        assert job.history[-1]["event"] == "released" and job.attempts == 0
        p.start_worker("--name", "next")
        job = wait_for(store, jid, timeout=120)
        assert job.status == "succeeded" and job.attempts == 1 and job.stats["n_iter"] == 200
    except AssertionError:
        print(p.logs())
        raise
    finally:
        ex.stop()
        store.dispose()
        p.stop()
