"""The worker side of the Dask executor: the task that runs one job, and worker setup.

Everything here runs inside Dask worker processes. A task receives only a job id and
the service's settings (a few hundred bytes): the worker claims the job in the job store
by id, reads its inputs from the shared store (database + ``SPARSEHPC_DATA_DIR``), runs
it with :func:`service.worker.execute_job` — the very function the local workers use, so
progress, cancellation, time limits and results behave identically — and returns a
one-word outcome. Large arrays never travel through the scheduler.

Each worker process registers itself in the store's ``workers`` table as
``dask:<worker address>`` (kind ``dask``), heartbeats there, and marks itself ``stopped``
when it closes. A worker that closes while running a job stops the solver at its next
progress callback and puts the job back in the queue (the executor resubmits it).

``sparsehpc worker --dask SCHEDULER`` (:func:`run_dask_worker`) starts a Dask worker
with the right resources (``--gpu`` declares ``GPU=1``) and this module preloaded. A
worker started otherwise (``dask worker``, dask-jobqueue, the Dask Kubernetes operator)
works too; pass ``--preload service.executors.dask_worker`` to check at start that the
solvers import, and ``--resources GPU=1`` on GPU machines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger("sparsehpc.dask")

THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: Set in a worker's environment, these say how *this* host reaches the shared store
#: (e.g. another mount point of the same filesystem); by default the API's values apply.
STORE_VARS = {
    "data_dir": "SPARSEHPC_WORKER_DATA_DIR",
    "database_url": "SPARSEHPC_WORKER_DATABASE_URL",
}
#: Settings that never leave the API process.
PRIVATE_SETTINGS = ("api_keys",)

_LOCK = threading.Lock()
_STATES: dict[tuple[str, str, str], _State] = {}  # (worker address, db url, data dir)
_SHUTDOWN: dict[str, threading.Event] = {}  # worker address -> set when it closes


def _shutdown_event(address: str) -> threading.Event:
    with _LOCK:
        return _SHUTDOWN.setdefault(address, threading.Event())


def worker_id_of(address: str) -> str:
    """The store's worker id of the Dask worker at ``address``."""
    return f"dask:{address}"


def address_of(worker_id: str) -> str | None:
    """The Dask worker address in a store worker id, or None for other workers."""
    return worker_id[5:] if worker_id.startswith("dask:") else None


def job_settings(payload: dict[str, Any]) -> Any:
    """The service settings for a task: the API's, with this host's store location.

    ``SPARSEHPC_WORKER_DATA_DIR`` / ``SPARSEHPC_WORKER_DATABASE_URL`` set in the worker's
    environment win (how this host reaches the same store); every other setting
    (heartbeat, progress and cancel timings) is the API's, so its reaper and the
    workers agree.
    """
    from service.settings import Settings

    values = {k: v for k, v in payload.items() if k not in PRIVATE_SETTINGS}
    for key, var in STORE_VARS.items():
        if os.environ.get(var):
            values[key] = os.environ[var]
    return Settings(**values)


def _gpu_bytes() -> int:
    import gpu

    if not gpu.is_available():
        return 0
    return int(gpu.device_info().get("total_bytes", 0))


def _resources(worker: Any) -> dict[str, float]:
    state = getattr(worker, "state", None)  # distributed >= 2022.11
    res = getattr(state, "total_resources", None) or getattr(worker, "total_resources", None)
    return dict(res or {})


@dataclass
class _State:
    """Per worker process and store: the store, the worker row and its heartbeat."""

    store: Any
    settings: Any
    address: str
    worker_id: str
    gpu: bool
    hard_stop: bool
    busy: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def beat_forever(self) -> None:
        while not self.stop.wait(self.settings.heartbeat_interval):
            if self.busy is not None:
                continue  # execute_job's heartbeat thread keeps the row fresh meanwhile
            try:
                self.store.worker_heartbeat(self.worker_id, "idle")
            except Exception:  # noqa: BLE001 - a store hiccup must not kill the worker
                log.warning("worker heartbeat failed for %s", self.worker_id, exc_info=True)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            self.store.worker_heartbeat(self.worker_id, "stopped")
        with contextlib.suppress(Exception):
            self.store.dispose()


@functools.lru_cache(maxsize=16)
def _cached_settings(payload_json: str) -> Any:
    return job_settings(json.loads(payload_json))


def _state(payload: dict[str, Any], worker: Any) -> _State:
    """This process's state for the store named by ``payload`` (created once)."""
    settings = _cached_settings(json.dumps(payload, sort_keys=True))
    key = (worker.address, settings.db_url, str(settings.data_dir))
    with _LOCK:
        st = _STATES.get(key)
        if st is not None:
            return st
        from service.store import get_store

        store = get_store(settings)
        resources = _resources(worker)
        gpu = float(resources.get("GPU", 0)) >= 1
        wid = worker_id_of(worker.address)
        store.register_worker(
            wid,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            kind="dask",
            gpu=gpu,
            gpu_bytes=_gpu_bytes() if gpu else 0,
        )
        # a worker under a nanny may stop a solver that ignores cancellation by exiting
        # (the nanny starts a fresh process); a worker without one must not
        hard = bool(getattr(worker, "nanny", None))
        st = _State(store, settings, worker.address, wid, gpu, hard_stop=hard)
        threading.Thread(target=st.beat_forever, daemon=True, name="sparsehpc-beat").start()
        _STATES[key] = st
        log.info("sparsehpc: Dask worker %s serves store %s", wid, store.safe_url())
        return st


def run_job(job_id: str, payload: dict[str, Any], backend: str) -> str:
    """The Dask task: claim job ``job_id`` in the store and run it to its end.

    Parameters
    ----------
    job_id : str
        The job to run; it must still be ``queued`` (otherwise the task does nothing).
    payload : dict
        The API's settings (store location, heartbeat/progress/cancel timings).
    backend : str
        ``cpu``, ``gpu`` or ``auto``: where the executor placed the job.

    Returns
    -------
    str
        ``succeeded``, ``failed``, ``cancelled``, ``released`` (back in the queue: the
        worker is closing), ``lost`` (taken away) or ``skipped`` (not claimable: already
        claimed, cancelled or finished).
    """
    from distributed import get_worker

    from service.worker import execute_job

    st = _state(payload, get_worker())
    job = st.store.claim_job(st.worker_id, gpu=st.gpu, job_id=job_id)
    if job is None:
        return "skipped"
    st.busy = job.id
    try:
        st.store.worker_heartbeat(st.worker_id, "busy", job.id)
        outcome = execute_job(
            st.store,
            job,
            st.worker_id,
            st.settings,
            shutdown=_shutdown_event(st.address),
            hard_stop=st.hard_stop,
            backend=backend,
        )
    finally:
        st.busy = None
        with contextlib.suppress(Exception):
            st.store.worker_heartbeat(st.worker_id, "idle")
    log.info("job %s (%s): %s", job.id, job.solver, outcome)
    return outcome


class SparsehpcWorkerPlugin(WorkerPlugin):
    """Dask worker plugin: registers the worker in the store at once (so readiness and
    GPU capacity are known before the first job) and, when the worker closes, stops
    running jobs at their next callback and releases them to the queue.

    Registered by the executor under a name unique to its store; ``idempotent`` so a
    reconnecting API does not tear an existing registration down.
    """

    idempotent = True

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload

    def setup(self, worker: Any) -> None:
        def init() -> None:
            try:
                _state(self.payload, worker)
            except Exception:  # noqa: BLE001 - reported; the first task retries
                log.exception("sparsehpc: worker setup failed")

        threading.Thread(target=init, daemon=True, name="sparsehpc-setup").start()

    def teardown(self, worker: Any) -> None:
        status = getattr(getattr(worker, "status", None), "name", "")
        if status not in ("closing", "closing_gracefully", "closed", "failed"):
            return  # plugin replaced or removed, the worker lives on
        _shutdown_event(worker.address).set()
        deadline = time.monotonic() + 30
        with _LOCK:
            states = [s for k, s in _STATES.items() if k[0] == worker.address]
        while any(s.busy for s in states) and time.monotonic() < deadline:
            time.sleep(0.05)  # the job stops at its next callback and is released
        for s in states:
            s.close()


def dask_setup(worker: Any) -> None:
    """Preload hook (``--preload service.executors.dask_worker``): import every solver
    family now, so a worker whose environment cannot run jobs fails at start."""
    import solvers

    names = solvers.list_solvers()
    log.info("sparsehpc: solvers importable on %s: %s", worker.address, ", ".join(names))


# -- sparsehpc worker --dask -----------------------------------------------------------------
def parse_resources(text: str | None) -> dict[str, float]:
    """``"GPU=1,MEM=64e9"`` → ``{"GPU": 1.0, "MEM": 64e9}``."""
    out: dict[str, float] = {}
    for part in (text or "").replace(" ", ",").split(","):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise ValueError(f"resources must look like NAME=NUMBER[,NAME=NUMBER], got {part!r}")
        out[name] = float(value)
    return out


def thread_env(concurrency: int) -> dict[str, str]:
    """Threads per job for Numba/BLAS: ``cores // concurrency`` unless already set."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, concurrency)))
    return {var: os.environ.get(var, threads) for var in THREAD_VARS}


def package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def nanny_options(
    *,
    nthreads: int,
    resources: dict[str, float] | None,
    name: str | None = None,
    memory_limit: Any = "auto",
    env: dict[str, str] | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Options of a :class:`distributed.Nanny` running sparsehpc jobs.

    Each job gets ``cores // concurrency`` Numba/BLAS threads (``concurrency``: jobs
    running at once on this machine, default ``nthreads``) unless the environment
    already sets them.
    """
    wenv = thread_env(concurrency or nthreads)
    root = package_root()
    wenv["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    wenv.update(env or {})
    return {
        "nthreads": nthreads,
        "resources": resources or None,
        "name": name,
        "memory_limit": memory_limit,
        "env": wenv,
        "preload": ["service.executors.dask_worker"],
    }


def pre_spawn_environ(nthreads: int) -> dict[str, Any]:
    """Dask config making the nanny start workers with our BLAS/OpenMP thread counts
    (Dask's default pins them to 1 before the worker process starts)."""
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.update({k: v for k, v in thread_env(nthreads).items() if k != "NUMBA_NUM_THREADS"})
    return {"distributed.nanny.pre-spawn-environ": env}


def run_dask_worker(args: argparse.Namespace) -> int:
    """``sparsehpc worker --dask SCHEDULER``: one Dask worker (under a nanny) for sparsehpc.

    It declares ``GPU=1`` with ``--gpu`` (plus any ``--resources``), runs ``--nthreads``
    jobs at a time (default 1: one job per worker, each with all the cores for Numba),
    preloads this module (the solvers must import), and reconnects when the scheduler
    goes away and comes back. SIGTERM/SIGINT close it gracefully: a running job is
    released to the queue.
    """
    import dask
    from distributed import Nanny

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        resources = parse_resources(getattr(args, "resources", None))
    except ValueError as exc:
        print(f"error: --resources: {exc}")
        return 2
    if getattr(args, "gpu", False):
        resources["GPU"] = max(1.0, resources.get("GPU", 1.0))
    nthreads = max(1, int(getattr(args, "nthreads", 1) or 1))
    target = args.dask
    conn: dict[str, Any] = (
        {"scheduler_file": target} if target.endswith(".json") else {"scheduler_ip": target}
    )
    opts = nanny_options(
        nthreads=nthreads,
        resources=resources,
        name=getattr(args, "name", None),
        memory_limit=getattr(args, "memory_limit", None) or "auto",
    )

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            with dask.config.set(pre_spawn_environ(nthreads)):
                nanny = Nanny(**conn, **opts)
            try:
                await nanny
            except Exception as exc:  # noqa: BLE001 - scheduler not there yet
                log.warning("cannot start a Dask worker for %s (%s); retrying in 5 s", target, exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5)
                continue
            log.info("Dask worker for %s started (resources %s)", target, resources or "none")
            finished = asyncio.ensure_future(nanny.finished())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                await nanny.close(reason="sparsehpc-worker-stopped")
                finished.cancel()
                break
            stopping.cancel()
            log.warning("Dask worker closed (scheduler gone?); reconnecting in 2 s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)

    asyncio.run(serve())
    return 0
