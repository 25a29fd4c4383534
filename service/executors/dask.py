"""Dask executor: the service's jobs run as tasks on a Dask distributed cluster.

The job store stays the source of truth; Dask only carries *which* job to run where.

* **Dispatch.** A dispatcher thread in the API process hands every queued job (oldest
  first, by priority) to the scheduler as one task, :func:`dask_worker.run_job`, whose
  arguments are the job id and the service settings — never the arrays: the worker
  claims the job in the store by id and reads its inputs from the shared store. It
  wakes on each submission and otherwise every ``dask_dispatch_interval`` seconds.
* **Placement.** ``backend="gpu"`` jobs carry the Dask resource ``GPU=1``, so only
  workers started with that resource run them; ``backend="auto"`` jobs go to a GPU
  worker when the cluster has one whose GPU memory holds the job's ``estimate_bytes``
  (and the solver has a GPU backend), else they run on the CPU (:func:`place`).
  Submitting a GPU job to a cluster that has workers but no GPU worker fails at once
  (422); a queued GPU job that finds no GPU worker fails after ``dask_gpu_wait`` s.
* **Progress and cancellation** go through the job store, exactly as with local
  workers: the task runs :func:`service.worker.execute_job`, whose progress callback
  writes progress and reads the cancel flag. (Dask pub/sub is not used: the store must
  stay the truth and survive a scheduler restart, and it is what the API already reads.)
* **Durability.** A worker that leaves the cluster while running a job (killed,
  crashed, out of memory) is noticed at the next dispatcher pass; its job is requeued
  (and resubmitted) or failed with ``WorkerLost`` after ``max_attempts`` attempts, as
  the reaper does for silent local workers (the API's reaper still covers any worker
  whose heartbeat stops). After a scheduler restart the client reconnects (or a new one
  is made) and every queued job is resubmitted from the store; a service restart does
  the same at start. Exactly-once is the store's atomic claim: a duplicate task finds
  the job taken and does nothing.

``SPARSEHPC_DASK_SCHEDULER``: ``local`` (default; an in-process cluster of
``dask_workers`` worker processes, ``dask_gpu_workers`` of them with ``GPU=1``),
``tcp://host:8786`` (any scheduler address), ``/path/scheduler.json`` (a scheduler
file), or ``python:module:function`` (a callable returning a Dask cluster object —
e.g. a dask-jobqueue ``SLURMCluster`` with ``adapt()`` — that the service then owns).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.settings import Settings

from .dask_worker import (
    PRIVATE_SETTINGS,
    SparsehpcWorkerPlugin,
    address_of,
    nanny_options,
    pre_spawn_environ,
    run_dask_worker,
    run_job,
    worker_id_of,
)

log = logging.getLogger("sparsehpc.executor")

#: Dispatch attempts of one job before it is failed (a task that errors before it can
#: claim the job, e.g. the solvers do not import on the workers).
MAX_DISPATCH_ERRORS = 3


@dataclass(frozen=True)
class Placement:
    """Where a job runs: Dask resources and the backend the worker runs it with."""

    resources: dict[str, float] | None
    backend: str
    gpu: bool


def place(
    backend: str, solver_backends: tuple[str, ...] | list[str], estimate: int, gpus: dict[str, int]
) -> Placement:
    """Placement of a job.

    Parameters
    ----------
    backend : str
        What the job asked for: ``cpu``, ``gpu`` or ``auto``.
    solver_backends : sequence of str
        The solver's backends.
    estimate : int
        The job's ``estimate_bytes``.
    gpus : dict
        GPU workers now in the cluster: address → GPU memory in bytes (0 = unknown).

    Returns
    -------
    Placement
        ``gpu`` jobs need ``GPU=1``; ``auto`` jobs get ``GPU=1`` (and run with ``auto``,
        which falls back to the CPU if that GPU turns out unusable) when some GPU worker
        has room for the estimate (or unknown memory), else they run on the CPU;
        ``cpu`` jobs run on any worker with the CPU backend.
    """
    if backend == "gpu":
        return Placement({"GPU": 1}, "gpu", True)
    fits = any(mem <= 0 or estimate <= mem for mem in gpus.values())
    if backend == "auto" and "gpu" in solver_backends and fits:
        return Placement({"GPU": 1}, "auto", True)
    return Placement(None, "cpu", False)


@dataclass
class _Inflight:
    future: Any
    placement: Placement
    requested: str
    submitted_at: float


def _visible_gpus() -> list[str]:
    """Device ids CUDA would show this process (none without a usable GPU)."""
    import gpu

    if not gpu.is_available():
        return []
    n = int(gpu.device_info().get("count", 1))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    return ids[:n] if ids else [str(i) for i in range(n)]


def local_cluster(settings: Settings) -> Any:
    """The in-process cluster of ``SPARSEHPC_DASK_SCHEDULER=local``.

    ``dask_workers`` worker processes (each under a nanny, one job at a time, with
    ``cores // dask_workers`` Numba/BLAS threads and an equal share of the memory);
    the first ``dask_gpu_workers`` declare ``GPU=1`` and, with several GPUs, each sees
    its own device through ``CUDA_VISIBLE_DEVICES``.
    """
    import dask
    from distributed import Nanny, Scheduler, SpecCluster
    from distributed.system import MEMORY_LIMIT

    n = settings.dask_workers
    devices = _visible_gpus() if settings.dask_gpu_workers != 0 else []
    n_gpu = min(n, len(devices) if settings.dask_gpu_workers is None else settings.dask_gpu_workers)
    workers: dict[str, Any] = {}
    for i in range(n):
        is_gpu = i < n_gpu
        env = {}
        if is_gpu and len(devices) > 1:
            env["CUDA_VISIBLE_DEVICES"] = devices[i % len(devices)]
        opts = nanny_options(
            nthreads=1,
            resources={"GPU": 1} if is_gpu else None,
            name=f"{'gpu' if is_gpu else 'cpu'}-{i}",
            memory_limit=MEMORY_LIMIT // n,
            env=env,
            concurrency=n,  # jobs on this machine at once: cores // n threads each
        )
        opts.update(host="127.0.0.1", dashboard=False)
        workers[opts["name"]] = {"cls": Nanny, "options": opts}
    dash = settings.dask_dashboard
    scheduler = {
        "cls": Scheduler,
        "options": {
            "host": "127.0.0.1",
            "port": 0,
            "dashboard": dash is not None,
            # the scheduler's HTTP server (/health, /metrics) runs anyway: a free port
            "dashboard_address": dash or "127.0.0.1:0",
        },
    }
    with dask.config.set(pre_spawn_environ(n)):
        return SpecCluster(
            workers=workers, scheduler=scheduler, silence_logs=logging.WARNING, name="sparsehpc"
        )


def _load_factory(spec: str) -> Any:
    """``python:package.module:function`` → the callable."""
    target = spec.split(":", 1)[1]
    mod, _, fn = target.partition(":")
    if not mod or not fn:
        raise ValueError(
            f"SPARSEHPC_DASK_SCHEDULER={spec!r}: expected 'python:package.module:function'"
        )
    return getattr(importlib.import_module(mod), fn)


class DaskExecutor:
    """The executor protocol on a Dask cluster (see the module docstring).

    Parameters
    ----------
    settings : Settings
        ``dask_scheduler`` and the other ``dask_*`` settings choose the cluster.
    store : Store
        The job store of the API process.
    """

    name = "dask"

    def __init__(self, settings: Settings, store: Any) -> None:
        self.settings = settings
        self.store = store
        target = (settings.dask_scheduler or "local").strip()
        self.target = target
        self.cluster: Any = None
        self.client: Any = None
        self._owns_cluster = False
        payload = settings.model_dump(mode="json")
        for k in PRIVATE_SETTINGS:
            payload.pop(k, None)
        payload["data_dir"] = str(Path(settings.data_dir).resolve())
        self._payload = payload
        ident = hashlib.sha1(f"{store.url}|{payload['data_dir']}".encode()).hexdigest()[:12]
        self._plugin_name = f"sparsehpc-{ident}"
        self._inflight: dict[str, _Inflight] = {}
        self._errors: dict[str, int] = {}
        self._backends: dict[str, tuple[str, ...]] = {}
        self._scheduler_id: str | None = None
        self._gpu_missing_since: float | None = None
        self._last_look = self._last_scan = 0.0
        self._rescan = threading.Event()
        self._snapshot: dict[str, Any] = {"connected": False, "workers": {}, "gpus": {}}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.RLock()  # the in-flight map: dispatcher and request threads
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""
        self.counts = {"submitted": 0, "requeued_lost": 0, "failed_no_gpu": 0}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start (``local`` / ``python:``) or reach the cluster, then dispatch."""
        if self.target == "local":
            self.cluster = local_cluster(self.settings)
            self._owns_cluster = True
        elif self.target.startswith("python:"):
            made = _load_factory(self.target)()
            if isinstance(made, str):
                self.target = made
            else:
                self.cluster = made
                self._owns_cluster = True
        self._thread = threading.Thread(target=self._run, daemon=True, name="dask-dispatcher")
        self._thread.start()
        if not self._ready.wait(self.settings.dask_connect_timeout):
            log.error(
                "dask executor: no scheduler at %s after %.0f s (%s); jobs stay queued "
                "until it answers",
                self.address,
                self.settings.dask_connect_timeout,
                self._last_error or "no answer",
            )

    @property
    def address(self) -> str:
        if self.cluster is not None:
            return self.cluster.scheduler_address
        return self.target

    def stop(self) -> None:
        """Stop dispatching and disconnect. With a cluster the service owns, its workers
        close: running jobs stop at their next callback and go back to the queue. On an
        external cluster running jobs go on (their results still land in the store)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close(timeout=10)
        if self.cluster is not None and self._owns_cluster:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=60)
        self._snapshot = {"connected": False, "workers": {}, "gpus": {}}

    # -- protocol hooks ---------------------------------------------------------------
    def submitted(self, job_id: str) -> None:
        """Hand a new job to the scheduler at once (else the dispatcher's next pass does)."""
        if self.client is not None and self._snapshot["connected"]:
            try:
                job = self.store.get_job(job_id)
                with self._lock:
                    if (
                        job.status == "queued"
                        and job.id not in self._inflight
                        and len(self._inflight) < self.settings.dask_max_pending
                    ):
                        self._submit(job, self._snapshot["gpus"])
                        return
            except Exception:  # noqa: BLE001 - the dispatcher will do it
                log.debug("direct dispatch of %s failed", job_id, exc_info=True)
        self._rescan.set()
        self._wake.set()

    def cancelled(self, job_id: str) -> None:
        # a running job stops at its next progress callback (the flag is in the store)
        self._wake.set()

    def gpu_capacity(self) -> int | None:
        """Largest GPU memory among GPU workers (1 = a GPU of unknown size), 0 when the
        cluster has workers but none with ``GPU=1``; None when not known (no workers)."""
        snap = self._snapshot
        if not snap["connected"] or not snap["workers"]:
            return None
        gpus = snap["gpus"]
        if not gpus:
            return 0
        return max(mem if mem > 0 else 1 for mem in gpus.values())

    def health(self) -> dict[str, Any]:
        snap = self._snapshot
        dash = None
        if self.client is not None and (not self._owns_cluster or self.settings.dask_dashboard):
            with contextlib.suppress(Exception):
                dash = self.client.dashboard_link
        return {
            "executor": self.name,
            "scheduler": self.address if self.cluster is not None or self.target else None,
            "connected": snap["connected"],
            "workers": len(snap["workers"]),
            "gpu_workers": len(snap["gpus"]),
            "in_flight": len(self._inflight),
            "dashboard": dash,
            "error": self._last_error or None,
        }

    # -- the dispatcher ---------------------------------------------------------------
    def _run(self) -> None:
        interval = self.settings.dask_dispatch_interval
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self._connect():
                    self._tick()
                    self._ready.set()
                    self._last_error = ""
            except Exception as exc:  # noqa: BLE001 - keep dispatching
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._snapshot = {**self._snapshot, "connected": False}
                log.warning("dask dispatcher: %s", self._last_error, exc_info=True)
            self._wake.wait(interval)

    def _connect(self) -> bool:
        from distributed import Client

        c = self.client
        if c is not None and c.status == "running":
            return True
        if c is not None and c.status in ("connecting", "newly-created"):
            return False  # the client is reconnecting by itself
        if c is not None:
            with contextlib.suppress(Exception):
                c.close(timeout=5)
            self.client = None
            with self._lock:
                self._inflight.clear()  # its futures are gone with it
        kw: dict[str, Any] = {
            "timeout": self.settings.dask_connect_timeout,
            "set_as_default": False,
        }
        if self.cluster is not None:
            self.client = Client(self.cluster, **kw)
        elif self.target.endswith(".json"):
            self.client = Client(scheduler_file=self.target, **kw)
        else:
            self.client = Client(self.target, **kw)
        self._scheduler_id = None
        log.info("dask executor: connected to %s", self.address)
        return True

    def _tick(self) -> None:
        """Look at the cluster (at most every ``dask_dispatch_interval``), then hand the
        queued jobs that have no task yet to the scheduler (at every wake-up)."""
        s = self.settings
        now = time.monotonic()
        if now - self._last_look >= s.dask_dispatch_interval or self._scheduler_id is None:
            self._look()
            self._last_look = now
        with self._lock:
            rescan = self._reap_futures(now, bool(self._snapshot["gpus"]))
            if len(self._inflight) >= s.dask_max_pending:
                return
        # the store is scanned every dispatch interval, and at once when a task ended
        # without running its job (error, lost scheduler) or someone asked; a task that
        # finished normally needs no scan (new jobs are handed over by submitted())
        if not (
            rescan or self._rescan.is_set() or now - self._last_scan >= s.dask_dispatch_interval
        ):
            return
        self._rescan.clear()
        self._last_scan = now
        for job in self.store.queued_jobs(limit=s.dask_max_pending):
            with self._lock:
                if job.id in self._inflight:
                    continue
                if len(self._inflight) >= s.dask_max_pending:
                    break
                self._submit(job, self._snapshot["gpus"])

    def _look(self) -> None:
        """Workers and GPUs of the cluster; the jobs of workers that left it."""
        s, store, client = self.settings, self.store, self.client
        running = store.running_jobs("dask:")  # before the worker list: see _lost
        try:
            info = client.scheduler_info(n_workers=-1)
        except TypeError:  # distributed < 2025: every worker by default
            info = client.scheduler_info()
        if info.get("id") != self._scheduler_id:
            client.register_plugin(SparsehpcWorkerPlugin(self._payload), name=self._plugin_name)
            self._scheduler_id = info.get("id")
        workers = dict(info.get("workers") or {})
        gpu_addrs = {
            a for a, w in workers.items() if float((w.get("resources") or {}).get("GPU", 0)) >= 1
        }
        gpus: dict[str, int] = {}
        if gpu_addrs:
            rows = {w.id: int(w.gpu_bytes or 0) for w in store.alive_workers(s.heartbeat_timeout)}
            gpus = {a: rows.get(worker_id_of(a), 0) for a in gpu_addrs}
        self._snapshot = {"connected": True, "workers": workers, "gpus": gpus}
        if gpus:
            self._gpu_missing_since = None
        elif self._gpu_missing_since is None:
            self._gpu_missing_since = time.monotonic()
        self._lost(running, workers)

    def _lost(self, running: list[tuple[str, str, float]], workers: dict[str, Any]) -> None:
        """Requeue or fail the jobs of workers that left the cluster.

        ``running`` was read before ``workers``: a worker that claimed a job was in the
        cluster before the claim, so it is in ``workers`` unless it left since. The
        heartbeat guard spares a worker that is only cut off from the scheduler.
        """
        stale = 2 * self.settings.heartbeat_interval
        for job_id, wid, beat in running:
            addr = address_of(wid)
            if addr is None or addr in workers or time.time() - beat < stale:
                continue
            action = self.store.worker_lost(
                job_id,
                wid,
                f"Dask worker {addr} left the cluster while running the job "
                "(killed, crashed, out of memory or shut down)",
            )
            if action:
                self._rescan.set()
                self.counts["requeued_lost"] += action == "requeued"
                log.warning("job %s: Dask worker %s lost, %s", job_id, addr, action)
                with contextlib.suppress(Exception):
                    self.store.worker_heartbeat(wid, "stopped")

    def _reap_futures(self, now: float, have_gpu: bool) -> bool:
        """Forget ended tasks; True when some job may need a new task."""
        wait = self.settings.dask_gpu_wait
        rescan = False
        for job_id, inf in list(self._inflight.items()):
            st = inf.future.status
            if st == "pending":
                if inf.placement.gpu and not have_gpu:
                    since = max(self._gpu_missing_since or now, inf.submitted_at)
                    if now - since >= wait:
                        self._no_gpu(job_id, inf)
                        rescan = True
                continue
            del self._inflight[job_id]
            if st == "finished":
                self._errors.pop(job_id, None)
                continue
            rescan = True
            if st == "error":
                self._task_error(job_id, inf)
        return rescan

    def _no_gpu(self, job_id: str, inf: _Inflight) -> None:
        inf.future.cancel()
        del self._inflight[job_id]
        if inf.requested != "gpu":
            return  # an auto job: resubmitted to the CPU at this pass
        err = {
            "type": "NoGpuWorker",
            "message": (
                f"backend 'gpu' was requested but the Dask cluster at {self.address} has no "
                f"worker with the GPU resource (waited {self.settings.dask_gpu_wait:g} s); "
                "start one with 'sparsehpc worker --dask <scheduler> --gpu' (or "
                "'dask worker --resources GPU=1'), or submit with backend 'auto' or 'cpu'"
            ),
        }
        if self.store.fail_queued(job_id, err):
            self.counts["failed_no_gpu"] += 1
            log.warning("job %s: no GPU worker, failed", job_id)

    def _task_error(self, job_id: str, inf: _Inflight) -> None:
        try:
            exc = inf.future.exception(timeout=5)
        except Exception as e:  # noqa: BLE001
            exc = e
        name = type(exc).__name__
        if name == "KilledWorker":
            # workers died under it; the store side is handled by _lost / the reaper
            log.warning("job %s: %s", job_id, exc)
            return
        n = self._errors[job_id] = self._errors.get(job_id, 0) + 1
        log.warning("job %s: Dask task failed (%d/%d): %s", job_id, n, MAX_DISPATCH_ERRORS, exc)
        if n >= MAX_DISPATCH_ERRORS:
            self._errors.pop(job_id, None)
            self.store.fail_queued(
                job_id,
                {
                    "type": "DaskTaskError",
                    "message": (
                        f"the Dask workers could not run the job ({name}: {exc}); check that "
                        "they run the same sparsehpc version with its solvers importable "
                        "and reach the job store"
                    ),
                },
            )

    def _solver_backends(self, solver: str) -> tuple[str, ...]:
        if solver not in self._backends:
            import solvers

            try:
                self._backends[solver] = tuple(solvers.get_spec(solver).backends)
            except Exception:  # noqa: BLE001 - the worker reports an unknown solver
                self._backends[solver] = ("cpu",)
        return self._backends[solver]

    def _submit(self, job: Any, gpus: dict[str, int]) -> None:
        pl = place(job.backend, self._solver_backends(job.solver), job.estimate_bytes or 0, gpus)
        fut = self.client.submit(
            run_job,
            job.id,
            self._payload,
            pl.backend,
            key=f"sparsehpc-job-{job.id}-{uuid.uuid4().hex[:8]}",
            resources=pl.resources,
            priority=int(job.priority or 0),
            pure=False,
            retries=0,
        )
        self._inflight[job.id] = _Inflight(fut, pl, job.backend, time.monotonic())
        fut.add_done_callback(lambda _f: self._wake.set())
        self.counts["submitted"] += 1


__all__ = ["DaskExecutor", "Placement", "local_cluster", "place", "run_dask_worker"]
