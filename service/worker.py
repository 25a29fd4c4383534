"""The worker: claims queued jobs from the store and runs them.

One worker process runs one job at a time. While a job runs, a heartbeat thread touches
the job every ``heartbeat_interval`` seconds and picks up cancellation; the solver's
progress callback writes progress (at most every ``progress_interval`` seconds), stops
the solver when the job is cancelled or over its time limit, and notices when the job
was taken away (the reaper gave it to another worker). A solver that ignores its
callback for ``cancel_grace`` seconds after a cancel or the time limit gets its process
stopped (``hard_stop``); the supervisor of the local executor starts a new one.

Run one with ``python -m service.worker`` or ``sparsehpc worker``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from typing import Any

import solvers
from solvers import BackendUnavailableError, InvalidProblemError, ProgressInfo

from .settings import Settings, get_settings
from .store import Store, get_store
from .store.store import ReferenceError_
from .store.tables import Job

log = logging.getLogger("sparsehpc.worker")

HARD_STOP_EXIT_CODE = 75


def detect_gpu(settings: Settings) -> tuple[bool, int]:
    if settings.worker_gpu is not None:
        return bool(settings.worker_gpu), 0
    import gpu

    if not gpu.is_available():
        return False, 0
    info = gpu.device_info()
    return True, int(info.get("total_bytes", 0))


class _Heartbeat(threading.Thread):
    """Touches the running job; flags cancellation; hard-stops a wedged solver."""

    def __init__(
        self,
        store: Store,
        job: Job,
        worker_id: str,
        settings: Settings,
        state: dict[str, Any],
        t0: float,
        hard_stop: bool,
    ) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{job.id[:8]}")
        self.store, self.job, self.worker_id, self.settings = store, job, worker_id, settings
        self.state, self.t0, self.hard_stop = state, t0, hard_stop
        self.done = threading.Event()

    def run(self) -> None:
        interval = self.settings.heartbeat_interval
        grace = self.settings.cancel_grace
        while not self.done.wait(interval):
            try:
                flag = self.store.heartbeat(self.job.id, self.worker_id)
                self.store.worker_heartbeat(self.worker_id, "busy", self.job.id)
            except Exception:  # noqa: BLE001 - a store hiccup must not kill the job
                log.exception("heartbeat failed for job %s", self.job.id)
                continue
            if flag is None:
                self.state["lost"] = True
                continue
            if flag and not self.state["cancel"]:
                self.state["cancel"] = True
                self.state["cancel_at"] = time.monotonic()
            elapsed = time.monotonic() - self.t0
            wedged_cancel = (
                self.state["cancel"] and time.monotonic() - self.state["cancel_at"] > grace
            )
            wedged_limit = elapsed > self.job.time_limit + grace
            if self.hard_stop and (wedged_cancel or wedged_limit):
                if wedged_cancel:
                    status, err = (
                        "cancelled",
                        {
                            "type": "Cancelled",
                            "message": f"cancelled; the solver did not stop within {grace:.0f} s, "
                            "so its worker process was stopped",
                        },
                    )
                else:
                    status, err = "failed", _time_limit_error(self.job, elapsed, wedged=True)
                self.store.finish_job(self.job.id, self.worker_id, status=status, error=err)
                log.error(
                    "job %s: solver unresponsive, stopping worker %s", self.job.id, self.worker_id
                )
                os._exit(HARD_STOP_EXIT_CODE)

    def stop(self) -> None:
        self.done.set()


def _time_limit_error(job: Job, elapsed: float, wedged: bool = False) -> dict[str, Any]:
    msg = (
        f"the job exceeded its time limit of {job.time_limit:g} s (ran {elapsed:.1f} s); "
        "raise time_limit at submission, or loosen tol / lower maxiter"
    )
    if wedged:
        msg += "; the solver did not stop at its limit, so its worker process was stopped"
    return {"type": "TimeLimitExceeded", "message": msg}


def execute_job(
    store: Store,
    job: Job,
    worker_id: str,
    settings: Settings,
    *,
    shutdown: threading.Event | None = None,
    hard_stop: bool = True,
    backend: str | None = None,
) -> str:
    """Run one claimed job to its end; return what happened.

    ``backend`` overrides the job's requested backend (the Dask executor resolves
    ``auto`` to the kind of worker it placed the job on).

    Returns one of ``succeeded``, ``failed``, ``cancelled``, ``released`` (put back in the
    queue because the worker is shutting down) or ``lost`` (the job was taken away).
    """
    t0 = time.monotonic()
    state: dict[str, Any] = {
        "cancel": False,
        "cancel_at": 0.0,
        "lost": False,
        "timed_out": False,
        "shutdown": False,
        "last": 0.0,
    }
    hb = _Heartbeat(store, job, worker_id, settings, state, t0, hard_stop)
    hb.start()

    def callback(info: ProgressInfo) -> bool:
        t = time.monotonic()
        if t - t0 > job.time_limit:
            state["timed_out"] = True
            return True
        if shutdown is not None and shutdown.is_set():
            state["shutdown"] = True
            return True
        if t - state["last"] >= settings.progress_interval:
            state["last"] = t
            try:
                flag = store.set_progress(job.id, worker_id, info.to_dict())
            except Exception:  # noqa: BLE001
                log.exception("progress write failed for job %s", job.id)
                flag = False
            if flag is None:
                state["lost"] = True
            elif flag and not state["cancel"]:
                state["cancel"], state["cancel_at"] = True, t
        return bool(state["cancel"] or state["lost"])

    def finish(status: str, **kw: Any) -> str:
        if not store.finish_job(job.id, worker_id, status=status, **kw):
            return "lost"
        return status

    try:
        spec = solvers.get_spec(job.solver)
        inputs = store.load_inputs(job)
        result = solvers.run(
            job.solver, inputs, job.params, backend=backend or job.backend, callback=callback
        )
    except InvalidProblemError as exc:
        return finish("failed", error=exc.to_dict())
    except BackendUnavailableError as exc:
        return finish("failed", error={"type": "BackendUnavailableError", "message": str(exc)})
    except ReferenceError_ as exc:
        return finish("failed", error={"type": "InputReferenceError", "message": str(exc)})
    except MemoryError:
        return finish(
            "failed",
            error={
                "type": "MemoryError",
                "message": f"the job ran out of memory on worker {worker_id} (estimated need "
                f"{job.estimate_bytes / 2**30:.2f} GiB); try a smaller problem or a bigger worker",
            },
        )
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, never lost
        tb = traceback.format_exc(limit=8)
        log.exception("job %s failed", job.id)
        return finish(
            "failed",
            error={
                "type": type(exc).__name__,
                "message": str(exc) or repr(exc),
                "traceback": tb[-4000:],
            },
        )
    finally:
        hb.stop()
    elapsed = time.monotonic() - t0
    if state["lost"]:
        return "lost"
    converged = bool(getattr(result, "converged", False))
    stats = result.stats()
    stats["wall_seconds"] = elapsed
    if state["shutdown"] and (result.cancelled or not converged):
        store.release_job(job.id, worker_id, "worker shutting down")
        return "released"
    if state["timed_out"]:
        return finish(
            "failed",
            error=_time_limit_error(job, elapsed),
            stats=stats,
            backend_used=result.backend,
        )
    if result.cancelled or (state["cancel"] and not converged):
        return finish(
            "cancelled",
            stats=stats,
            backend_used=result.backend,
            error={"type": "Cancelled", "message": "cancelled while running"},
        )
    return finish(
        "succeeded",
        stats=stats,
        outputs=spec.outputs_of(result),
        backend_used=result.backend,
        solver_version=spec.version,
    )


def _final_progress(result: Any, elapsed: float) -> dict[str, Any]:
    hist = getattr(result, "residuals", None)
    last = float(hist[-1]) if hist is not None and len(hist) else None
    if last is not None and not math.isfinite(last):
        last = None
    return {
        "iteration": int(getattr(result, "n_iter", 0)),
        "residual": last,
        "objective": None,
        "elapsed": elapsed,
        "max_iter": None,
        "message": "done",
        "extra": {},
        "fraction": 1.0,
    }


class Worker:
    """A polling worker bound to one store."""

    def __init__(
        self, store: Store, settings: Settings, *, worker_id: str | None = None, kind: str = "local"
    ) -> None:
        self.store, self.settings, self.kind = store, settings, kind
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.gpu, self.gpu_bytes = detect_gpu(settings)
        self.shutdown = threading.Event()

    def loop(self, *, max_jobs: int | None = None) -> int:
        """Claim and run jobs until shut down; returns the number of jobs run."""
        s = self.settings
        self.store.register_worker(
            self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            kind=self.kind,
            gpu=self.gpu,
            gpu_bytes=self.gpu_bytes,
        )
        log.info("worker %s started (gpu=%s)", self.id, self.gpu)
        done = 0
        last_beat = last_reap = 0.0
        try:
            while not self.shutdown.is_set():
                t = time.monotonic()
                if t - last_beat >= s.heartbeat_interval:
                    self.store.worker_heartbeat(self.id, "idle")
                    last_beat = t
                if t - last_reap >= max(5.0, s.heartbeat_interval):
                    self.store.reap_stale(s.heartbeat_timeout)
                    last_reap = t
                job = (
                    self.store.claim_job(self.id, gpu=self.gpu) if self.store.has_queued() else None
                )
                if job is None:
                    self.shutdown.wait(s.poll_interval)
                    continue
                self.store.worker_heartbeat(self.id, "busy", job.id)
                outcome = execute_job(self.store, job, self.id, s, shutdown=self.shutdown)
                log.info("job %s (%s): %s", job.id, job.solver, outcome)
                self.store.worker_heartbeat(self.id, "idle")
                last_beat = time.monotonic()
                done += 1
                if max_jobs is not None and done >= max_jobs:
                    break
        finally:
            with contextlib.suppress(Exception):
                self.store.worker_heartbeat(self.id, "stopped")
        return done


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m service.worker``."""
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker = Worker(get_store(settings), settings)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("worker %s: signal %s, finishing", worker.id, signum)
        worker.shutdown.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.loop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
