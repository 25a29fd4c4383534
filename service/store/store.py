"""The job store: jobs, uploaded arrays and workers in SQL; array files beside it.

Every state change is a guarded, single-statement ``UPDATE`` (``... WHERE status = ...
AND worker_id = ...``) so that concurrent workers, reapers and API processes can never
move a job twice. Claiming uses ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL (many
workers claim different jobs without blocking each other) and SQLite's database-level
write lock otherwise; either way the claim is one atomic ``UPDATE ... RETURNING``.

Files (under ``data_dir``): ``arrays/<id>.<ext>`` uploads, ``jobs/<id>/inputs.npz``
inline inputs, ``jobs/<id>/result-<attempt>.npz`` results. Files are written to a
temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, event, func, or_, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.client._arrays import OutputRef, UploadRef, pack, unpack

from .tables import TERMINAL, ArrayFile, Base, Job, Worker


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError, LookupError):
    """An id that the store does not know."""

    def __init__(self, what: str, ident: str) -> None:
        super().__init__(f"{what} {ident!r} not found")
        self.what = what
        self.ident = ident


class ReferenceError_(StoreError, ValueError):
    """A job input refers to something unusable (an unfinished job, a missing output)."""


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> float:
    return time.time()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    """Durable store of jobs, arrays and workers.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``).
    data_dir : path
        Folder for array files (must be shared by every worker of a deployment).
    create : bool
        Create missing tables (and import the extensions' tables first).
    """

    def __init__(self, url: str, data_dir: str | Path, *, create: bool = True) -> None:
        self.url = url
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine: Engine = create_engine(url, **kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, future=True)
        if create:
            self.create_tables()

    # -- plumbing ------------------------------------------------------------------
    def create_tables(self) -> None:
        from service import extensions

        extensions.modules("tables")
        Base.metadata.create_all(self.engine)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("select 1"))
            return True
        except Exception:  # noqa: BLE001
            return False

    def dispose(self) -> None:
        self.engine.dispose()

    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def path(self, rel: str | Path) -> Path:
        return self.data_dir / rel

    def write_atomic(self, rel: str, data: bytes) -> Path:
        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        return dest

    def save_npz(self, rel: str, arrays: dict[str, Any]) -> Path:
        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp.npz")
        np.savez(tmp, **pack(arrays))
        os.replace(tmp, dest)
        return dest

    def load_npz(self, rel: str) -> dict[str, Any]:
        with np.load(self.path(rel), allow_pickle=False) as npz:
            return unpack(npz)

    # -- uploaded arrays --------------------------------------------------------------
    def add_array(self, src: Path, filename: str, meta: dict[str, Any]) -> ArrayFile:
        """Move the validated temporary file ``src`` into the store."""
        ident = new_id()
        ext = "".join(Path(filename).suffixes[-1:]).lower() or ".npy"
        rel = f"arrays/{ident}{ext}"
        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), dest)
        rec = ArrayFile(
            id=ident,
            filename=filename[:255],
            path=rel,
            kind=meta["kind"],
            shape=list(meta["shape"]),
            dtype=meta["dtype"],
            nbytes=int(meta["nbytes"]),
            created_at=now(),
        )
        with self.session() as s:
            s.add(rec)
        return rec

    def get_array(self, ident: str) -> ArrayFile:
        with self.session() as s:
            rec = s.get(ArrayFile, ident)
        if rec is None:
            raise NotFound("array", ident)
        return rec

    def load_array(self, ident: str, *, mmap: bool = False) -> Any:
        from service.arrays import read_array_file

        rec = self.get_array(ident)
        return read_array_file(self.path(rec.path), mmap=mmap)

    def delete_array(self, ident: str) -> None:
        rec = self.get_array(ident)
        with self.session() as s:
            s.execute(ArrayFile.__table__.delete().where(ArrayFile.id == ident))
        with contextlib.suppress(FileNotFoundError):
            self.path(rec.path).unlink()

    # -- references -----------------------------------------------------------------
    def resolve(self, value: Any, *, mmap: bool = False) -> Any:
        """Replace upload / job-output references (possibly inside lists) by arrays."""
        if isinstance(value, UploadRef):
            return self.load_array(value.id, mmap=mmap)
        if isinstance(value, OutputRef):
            job = self.get_job(value.job_id)
            if job.status != "succeeded" or not job.result_path:
                raise ReferenceError_(
                    f"job {value.job_id!r} has status {job.status!r}; only the outputs of "
                    "a succeeded job can be used as inputs"
                )
            outputs = self.load_npz(job.result_path)
            if value.output not in outputs:
                raise ReferenceError_(
                    f"job {value.job_id!r} has no output {value.output!r} "
                    f"(outputs: {', '.join(sorted(outputs))})"
                )
            return outputs[value.output]
        if isinstance(value, list):
            return [self.resolve(v, mmap=mmap) for v in value]
        return value

    # -- jobs ---------------------------------------------------------------------------
    def create_job(
        self,
        *,
        solver: str,
        solver_version: str,
        params: dict[str, Any],
        inputs: dict[str, Any],
        input_summary: dict[str, Any],
        backend: str,
        time_limit: float,
        max_attempts: int,
        estimate_bytes: int = 0,
        idempotency_key: str | None = None,
        priority: int = 0,
    ) -> tuple[Job, bool]:
        """Queue a job. ``inputs`` holds arrays and references (UploadRef / OutputRef).

        Returns ``(job, created)``; with an ``idempotency_key`` already used, the
        existing job and ``False``.
        """
        if idempotency_key:
            existing = self.find_idempotent(idempotency_key)
            if existing is not None:
                return existing, False
        ident = new_id()
        manifest, inline = _manifest(inputs)
        if inline:
            self.save_npz(f"jobs/{ident}/inputs.npz", inline)
        job = Job(
            id=ident,
            solver=solver,
            solver_version=solver_version,
            status="queued",
            backend=backend,
            needs_gpu=backend == "gpu",
            params=params,
            inputs=manifest,
            input_summary=input_summary,
            idempotency_key=idempotency_key or None,
            priority=priority,
            created_at=now(),
            attempts=0,
            max_attempts=max_attempts,
            time_limit=time_limit,
            cancel_requested=False,
            estimate_bytes=int(estimate_bytes),
            history=[],
        )
        try:
            with self.session() as s:
                s.add(job)
        except IntegrityError:
            shutil.rmtree(self.path(f"jobs/{ident}"), ignore_errors=True)
            existing = self.find_idempotent(idempotency_key or "")
            if existing is None:
                raise
            return existing, False
        return job, True

    def find_idempotent(self, key: str) -> Job | None:
        with self.session() as s:
            return s.scalars(select(Job).where(Job.idempotency_key == key)).first()

    def get_job(self, ident: str) -> Job:
        with self.session() as s:
            job = s.get(Job, ident)
        if job is None:
            raise NotFound("job", ident)
        return job

    def list_jobs(
        self,
        *,
        status: str | None = None,
        solver: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        q = select(Job)
        cq = select(func.count()).select_from(Job)
        if status:
            q = q.where(Job.status == status)
            cq = cq.where(Job.status == status)
        if solver:
            q = q.where(Job.solver == solver)
            cq = cq.where(Job.solver == solver)
        q = q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
        with self.session() as s:
            return list(s.scalars(q)), int(s.scalar(cq) or 0)

    def count_by_status(self) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        return {st: int(n) for st, n in rows}

    def claim_job(
        self,
        worker_id: str,
        *,
        gpu: bool,
        solvers: list[str] | None = None,
        job_id: str | None = None,
    ) -> Job | None:
        """Atomically move the oldest claimable queued job to ``running`` for ``worker_id``.

        With ``job_id``, only that job (the Dask executor hands each task one job id);
        ``None`` when it is no longer queued (already claimed, cancelled or finished).
        """
        t = now()
        cand = select(Job.id).where(Job.status == "queued", Job.cancel_requested.is_(False))
        if not gpu:
            cand = cand.where(Job.needs_gpu.is_(False))
        if solvers is not None:
            cand = cand.where(Job.solver.in_(solvers))
        if job_id is not None:
            cand = cand.where(Job.id == job_id)
        cand = (
            cand.order_by(Job.priority.desc(), Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(Job)
            .where(Job.id == cand, Job.status == "queued")
            .values(
                status="running",
                worker_id=worker_id,
                started_at=t,
                heartbeat_at=t,
                attempts=Job.attempts + 1,
                progress=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        with self.session() as s:
            ident = s.execute(stmt).scalar_one_or_none()
        return self.get_job(ident) if ident else None

    def has_queued(self) -> bool:
        with self.session() as s:
            return (
                s.execute(select(Job.id).where(Job.status == "queued").limit(1)).first() is not None
            )

    def _owned(self, job_id: str, worker_id: str) -> Any:
        return (Job.id == job_id) & (Job.worker_id == worker_id) & (Job.status == "running")

    def heartbeat(self, job_id: str, worker_id: str) -> bool | None:
        """Touch the job; returns its cancel flag, or None when the worker lost it."""
        with self.session() as s:
            row = s.execute(
                update(Job)
                .where(self._owned(job_id, worker_id))
                .values(heartbeat_at=now())
                .returning(Job.cancel_requested)
                .execution_options(synchronize_session=False)
            ).first()
        return None if row is None else bool(row[0])

    def set_progress(self, job_id: str, worker_id: str, progress: dict[str, Any]) -> bool | None:
        """Store progress (and heartbeat); returns the cancel flag, None if lost."""
        with self.session() as s:
            row = s.execute(
                update(Job)
                .where(self._owned(job_id, worker_id))
                .values(progress=progress, heartbeat_at=now())
                .returning(Job.cancel_requested)
                .execution_options(synchronize_session=False)
            ).first()
        return None if row is None else bool(row[0])

    def finish_job(
        self,
        job_id: str,
        worker_id: str,
        *,
        status: str,
        stats: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        backend_used: str | None = None,
        solver_version: str | None = None,
        progress: dict[str, Any] | None = None,
    ) -> bool:
        """Record the end of an attempt; False when the worker no longer owns the job."""
        assert status in TERMINAL
        job = self.get_job(job_id)
        values: dict[str, Any] = {
            "status": status,
            "finished_at": now(),
            "stats": stats,
            "error": error,
            "backend_used": backend_used,
        }
        if solver_version:
            values["solver_version"] = solver_version
        if progress is not None:
            values["progress"] = progress
        if outputs is not None:
            rel = f"jobs/{job_id}/result-{job.attempts}.npz"
            self.save_npz(rel, outputs)
            values["result_path"] = rel
            values["output_names"] = sorted(outputs)
        with self.session() as s:
            res = s.execute(
                update(Job)
                .where(self._owned(job_id, worker_id))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1

    def release_job(self, job_id: str, worker_id: str, reason: str) -> bool:
        """Put a running job back in the queue (graceful worker shutdown)."""
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.worker_id != worker_id or job.status != "running":
                return False
            hist = list(job.history or []) + [{"at": now(), "event": "released", "reason": reason}]
            res = s.execute(
                update(Job)
                .where(self._owned(job_id, worker_id))
                .values(status="queued", worker_id=None, attempts=Job.attempts - 1, history=hist)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1

    def request_cancel(self, job_id: str) -> Job:
        """Cancel: a queued job never runs; a running one stops at its next callback."""
        self.get_job(job_id)  # 404 for an unknown id
        t = now()
        with self.session() as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(
                    status="cancelled",
                    finished_at=t,
                    cancel_requested=True,
                    error={"type": "Cancelled", "message": "cancelled before it started"},
                )
                .execution_options(synchronize_session=False)
            )
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(cancel_requested=True)
                .execution_options(synchronize_session=False)
            )
        return self.get_job(job_id)

    def reap_stale(self, timeout: float) -> list[tuple[str, str]]:
        """Retry or fail running jobs whose worker has been silent for ``timeout`` s."""
        cutoff = now() - timeout
        actions: list[tuple[str, str]] = []
        with self.session() as s:
            stale = list(
                s.scalars(
                    select(Job).where(
                        Job.status == "running",
                        or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff),
                    )
                )
            )
        for job in stale:
            silent = now() - (job.heartbeat_at or job.started_at or now())
            guard = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff)
            action = self._worker_lost(
                job, f"worker {job.worker_id} stopped responding for {silent:.0f} s", guard
            )
            if action:
                actions.append((job.id, action))
        return actions

    def worker_lost(self, job_id: str, worker_id: str, message: str) -> str | None:
        """The worker ``worker_id`` running ``job_id`` is known to be gone (e.g. the Dask
        scheduler removed it): retry or fail the job now, as :meth:`reap_stale` would.

        Returns ``requeued``, ``failed`` or ``cancelled``; ``None`` when the job is no
        longer running on that worker.
        """
        job = self.get_job(job_id)
        if job.status != "running" or job.worker_id != worker_id:
            return None
        return self._worker_lost(job, message, None)

    def _worker_lost(self, job: Job, message: str, extra_guard: Any) -> str | None:
        note = {
            "at": now(),
            "event": "worker_lost",
            "worker": job.worker_id,
            "attempt": job.attempts,
            "message": message,
        }
        hist = list(job.history or []) + [note]
        guard = (Job.id == job.id) & (Job.status == "running") & (Job.worker_id == job.worker_id)
        if extra_guard is not None:
            guard = guard & extra_guard
        if job.cancel_requested:
            values = {
                "status": "cancelled",
                "finished_at": now(),
                "history": hist,
                "error": {"type": "Cancelled", "message": "cancelled (its worker was lost)"},
            }
            action = "cancelled"
        elif job.attempts < job.max_attempts:
            values = {"status": "queued", "worker_id": None, "history": hist, "progress": None}
            action = "requeued"
        else:
            values = {
                "status": "failed",
                "finished_at": now(),
                "history": hist,
                "error": {
                    "type": "WorkerLost",
                    "message": (
                        f"the worker running this job stopped responding (killed or "
                        f"crashed) on attempt {job.attempts} of {job.max_attempts}; "
                        "the job was not retried again. If it keeps happening the job "
                        "may exhaust the worker's memory: try a smaller problem or a "
                        "bigger machine."
                    ),
                },
            }
            action = "failed"
        with self.session() as s:
            res = s.execute(
                update(Job)
                .where(guard)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return action if res.rowcount == 1 else None

    def fail_queued(self, job_id: str, error: dict[str, Any]) -> bool:
        """Fail a job that is still queued (it can never run, e.g. no GPU worker)."""
        with self.session() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="failed", finished_at=now(), error=error)
                .execution_options(synchronize_session=False)
            )
            return res.rowcount == 1

    def queued_jobs(self, limit: int = 1000) -> list[Any]:
        """Queued jobs in the order workers claim them (priority, then age), as light rows
        (``id``, ``solver``, ``backend``, ``estimate_bytes``, ``priority``)."""
        q = (
            select(Job.id, Job.solver, Job.backend, Job.estimate_bytes, Job.priority)
            .where(Job.status == "queued", Job.cancel_requested.is_(False))
            .order_by(Job.priority.desc(), Job.created_at, Job.id)
            .limit(limit)
        )
        with self.session() as s:
            return list(s.execute(q).all())

    def running_jobs(self, worker_prefix: str = "") -> list[tuple[str, str, float]]:
        """``(job id, worker id, last heartbeat)`` of running jobs whose worker id starts
        with ``worker_prefix``."""
        q = select(Job.id, Job.worker_id, Job.heartbeat_at).where(Job.status == "running")
        if worker_prefix:
            q = q.where(Job.worker_id.startswith(worker_prefix, autoescape=True))
        with self.session() as s:
            return [(i, w or "", float(h or 0.0)) for i, w, h in s.execute(q).all()]

    def load_inputs(self, job: Job) -> dict[str, Any]:
        """The job's inputs as arrays (inline file + resolved references)."""
        inline: dict[str, Any] = {}
        if _uses_inline(job.inputs):
            inline = self.load_npz(f"jobs/{job.id}/inputs.npz")
        return {name: self._from_manifest(entry, inline) for name, entry in job.inputs.items()}

    def _from_manifest(self, entry: dict[str, Any], inline: dict[str, Any]) -> Any:
        if "inline" in entry:
            return inline[entry["inline"]]
        if "upload" in entry:
            return self.load_array(entry["upload"])
        if "result" in entry:
            return self.resolve(OutputRef(entry["result"], entry["output"]))
        if "list" in entry:
            return [self._from_manifest(e, inline) for e in entry["list"]]
        raise StoreError(f"bad input manifest entry {entry!r}")

    def load_result(self, job: Job) -> dict[str, Any]:
        if not job.result_path:
            raise NotFound("result of job", job.id)
        return self.load_npz(job.result_path)

    # -- workers ------------------------------------------------------------------------
    def register_worker(
        self, worker_id: str, *, hostname: str, pid: int, kind: str, gpu: bool, gpu_bytes: int = 0
    ) -> None:
        t = now()
        with self.session() as s:
            w = s.get(Worker, worker_id)
            if w is None:
                s.add(
                    Worker(
                        id=worker_id,
                        hostname=hostname,
                        pid=pid,
                        kind=kind,
                        gpu=gpu,
                        gpu_bytes=gpu_bytes,
                        started_at=t,
                        heartbeat_at=t,
                        state="idle",
                    )
                )
            else:
                w.heartbeat_at, w.state = t, "idle"

    def worker_heartbeat(self, worker_id: str, state: str, current_job: str | None = None) -> None:
        with self.session() as s:
            s.execute(
                update(Worker)
                .where(Worker.id == worker_id)
                .values(heartbeat_at=now(), state=state, current_job=current_job)
                .execution_options(synchronize_session=False)
            )

    def alive_workers(self, timeout: float) -> list[Worker]:
        cutoff = now() - timeout
        with self.session() as s:
            return list(
                s.scalars(
                    select(Worker).where(Worker.heartbeat_at >= cutoff, Worker.state != "stopped")
                )
            )


def _uses_inline(manifest: dict[str, Any]) -> bool:
    def walk(e: dict[str, Any]) -> bool:
        if "inline" in e:
            return True
        return any(walk(x) for x in e.get("list", []))

    return any(walk(e) for e in manifest.values())


def _manifest(inputs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split inputs into a JSON manifest and the arrays stored inline in inputs.npz."""
    inline: dict[str, Any] = {}

    def entry(key: str, v: Any) -> dict[str, Any]:
        if isinstance(v, UploadRef):
            return {"upload": v.id}
        if isinstance(v, OutputRef):
            return {"result": v.job_id, "output": v.output}
        if isinstance(v, list):
            return {"list": [entry(f"{key}__{i}", x) for i, x in enumerate(v)]}
        inline[key] = v
        return {"inline": key}

    return {name: entry(name, v) for name, v in inputs.items()}, inline


@functools.lru_cache(maxsize=8)
def _cached_store(url: str, data_dir: str) -> Store:
    return Store(url, data_dir)


def get_store(settings: Any = None) -> Store:
    """The process-wide store for ``settings`` (default: ``get_settings()``)."""
    if settings is None:
        from service.settings import get_settings

        settings = get_settings()
    return _cached_store(settings.db_url, str(settings.data_dir))
