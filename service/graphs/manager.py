"""Graph sessions: creation, serialized update batches, persistence and restore.

State of a session at version v (v batches applied): the snapshot
``graphs/<id>/snap-<s>.npz`` (the :meth:`DynamicSparsifier.to_state` arrays, slot order
included) plus the logged inputs ``graphs/<id>/batch-<j>.npz`` for ``s < j <= v``,
re-applied in order. The walks are a pure function of the state and the seed, so the
replay makes exactly the original decisions. A snapshot is written every
``SNAPSHOT_EVERY`` batches.

Serialization: an update first takes a lease on the session's row with one guarded
``UPDATE ... WHERE lock_owner IS NULL OR lock_until < now`` (atomic on SQLite and
PostgreSQL alike), applies the batch, writes its log file and commits the new version
while releasing the lease (``... WHERE lock_owner = me``). Concurrent batches from any
thread or process wait for the lease; a holder that died loses it after ``LEASE``
seconds. Each process caches the sessions it touched (at a known version) so that a
batch does not reload the graph.
"""

from __future__ import annotations

import collections
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, or_, select, update

from service.store import Store
from service.store.store import NotFound, new_id, now
from solvers import BackendUnavailableError, InvalidParamsError, InvalidProblemError

from .tables import GraphBatch, GraphSession

#: batches between snapshots
SNAPSHOT_EVERY = 16
#: seconds a lease lasts (a crashed holder blocks the session at most this long)
LEASE = 300.0
#: seconds an update waits for the lease before answering 409
WAIT = 120.0
#: sessions kept in memory per process
CACHE_SIZE = 8


class GraphBusy(Exception):
    """The session stayed locked by another update for longer than the wait limit."""


def _owner() -> str:
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _save_npz(path: Path, arrays: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class GraphManager:
    """Graph sessions of one store (one instance per API process)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = Path(store.data_dir) / "graphs"
        self._cache: collections.OrderedDict[str, tuple[int, Any]] = collections.OrderedDict()
        self._locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._meta = threading.Lock()

    # -- helpers -----------------------------------------------------------------------------
    def _lock(self, gid: str) -> threading.Lock:
        with self._meta:
            return self._locks[gid]

    def _remember(self, gid: str, version: int, dyn: Any) -> None:
        with self._meta:
            self._cache[gid] = (version, dyn)
            self._cache.move_to_end(gid)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def _forget(self, gid: str) -> None:
        with self._meta:
            self._cache.pop(gid, None)

    def _cached(self, gid: str, version: int) -> Any:
        with self._meta:
            hit = self._cache.get(gid)
        return hit[1] if hit is not None and hit[0] == version else None

    def get(self, gid: str) -> GraphSession:
        with self.store.session() as s:
            row = s.get(GraphSession, gid)
        if row is None:
            raise NotFound("graph", gid)
        return row

    def list(self, limit: int = 50, offset: int = 0) -> list[GraphSession]:
        q = select(GraphSession).order_by(GraphSession.created_at.desc()).limit(limit)
        with self.store.session() as s:
            return list(s.scalars(q.offset(offset)))

    def batches(self, gid: str) -> list[GraphBatch]:
        self.get(gid)
        q = select(GraphBatch).where(GraphBatch.graph_id == gid).order_by(GraphBatch.version)
        with self.store.session() as s:
            return list(s.scalars(q))

    # -- creation ------------------------------------------------------------------------
    def create(self, A: Any, H: Any, params: dict[str, Any]) -> GraphSession:  # noqa: N803
        """Build the initial sparsifier of ``A`` (or take ``H``) and store the session."""
        from pydantic import ValidationError

        from solvers.sparsify import DynamicSparsifier
        from solvers.sparsify.params import DynamicParams

        try:
            p = DynamicParams.model_validate(dict(params or {}))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err.get("loc", ()))
            msg = err.get("msg", "invalid value")
            if err.get("type") == "extra_forbidden":
                known = ", ".join(sorted(DynamicParams.model_fields))
                msg = f"unknown parameter {loc!r} (known: {known})"
            raise InvalidParamsError(msg, field=f"params.{loc}") from None
        kw = p.model_dump()
        backend = kw.pop("backend")
        t0 = time.perf_counter()
        dyn = DynamicSparsifier(A, H, backend=backend, **kw)
        seconds = time.perf_counter() - t0
        gid = new_id()
        _save_npz(self.root / gid / "snap-0.npz", dyn.to_state())
        t = now()
        row = GraphSession(
            id=gid,
            n=dyn.n,
            n_edges_graph=dyn.n_edges_graph,
            n_edges_sparsifier=dyn.n_edges_sparsifier,
            version=0,
            snapshot_version=0,
            params={**p.model_dump(mode="json"), "seed": dyn.seed},
            initial={
                "condition_estimate": dyn.initial_condition,
                "distortion_threshold": dyn.distortion_threshold,
                "density": dyn.density,
                "seconds": seconds,
                "backend": dyn.backend.name,
            },
            last_batch=None,
            created_at=t,
            updated_at=t,
        )
        with self.store.session() as s:
            s.add(row)
        self._remember(gid, 0, dyn)
        return row

    # -- state ----------------------------------------------------------------------------
    def _restore(self, row: GraphSession) -> Any:
        from solvers.sparsify import DynamicSparsifier

        state = _load_npz(self.root / row.id / f"snap-{row.snapshot_version}.npz")
        backend = row.params.get("backend", "auto")
        try:
            dyn = DynamicSparsifier.from_state(state, backend=backend)
        except BackendUnavailableError:
            # CPU and GPU walks make identical decisions: the CPU can take over
            dyn = DynamicSparsifier.from_state(state, backend="cpu")
        for j in range(row.snapshot_version + 1, row.version + 1):
            b = _load_npz(self.root / row.id / f"batch-{j}.npz")
            dyn.update(insert=b["insert"], weights=b["weights"], delete=b["delete"])
        return dyn

    def load(self, row: GraphSession) -> Any:
        """The session's sparsifier at ``row.version`` (cached, or restored from files)."""
        dyn = self._cached(row.id, row.version)
        if dyn is None:
            dyn = self._restore(row)
            self._remember(row.id, row.version, dyn)
        return dyn

    def matrices(self, gid: str) -> tuple[int, Any, Any]:
        """``(version, G, H)`` of the current state (sparse adjacency matrices)."""
        row = self.get(gid)
        with self._lock(gid):
            dyn = self.load(row)
            return row.version, dyn.graph, dyn.sparsifier

    # -- updates -----------------------------------------------------------------------------
    def _acquire(self, gid: str, owner: str, wait: float) -> None:
        deadline = time.monotonic() + wait
        delay = 0.005
        while True:
            t = now()
            with self.store.session() as s:
                res = s.execute(
                    update(GraphSession)
                    .where(
                        GraphSession.id == gid,
                        or_(GraphSession.lock_owner.is_(None), GraphSession.lock_until < t),
                    )
                    .values(lock_owner=owner, lock_until=t + LEASE)
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount == 1:
                    return
            self.get(gid)  # 404 for an unknown id
            if time.monotonic() > deadline:
                raise GraphBusy(
                    f"graph {gid} is busy: another update batch held it for over {wait:.0f} s"
                )
            time.sleep(delay)
            delay = min(0.2, delay * 1.5)

    def _release(self, gid: str, owner: str) -> None:
        with self.store.session() as s:
            s.execute(
                update(GraphSession)
                .where(GraphSession.id == gid, GraphSession.lock_owner == owner)
                .values(lock_owner=None, lock_until=None)
                .execution_options(synchronize_session=False)
            )

    def apply(
        self,
        gid: str,
        insert: Any = None,
        weights: Any = 1.0,
        delete: Any = None,
        *,
        wait: float | None = None,
    ) -> tuple[GraphSession, dict[str, Any]]:
        """Apply one update batch (deletions, then insertions) under the session's lease.

        Returns the updated row and the batch's stats. Raises ``NotFound``,
        ``InvalidProblemError`` (nothing changed) or :class:`GraphBusy`.
        """
        owner = _owner()
        self._acquire(gid, owner, WAIT if wait is None else wait)
        committed = False
        mutated = False
        try:
            with self._lock(gid):
                row = self.get(gid)
                dyn = self.load(row)
                try:
                    st = dyn.update(insert=insert, weights=weights, delete=delete)
                except InvalidProblemError as exc:
                    if getattr(exc, "rolled_back", False):
                        self._forget(gid)  # a rolled-back batch reordered the slots
                    raise
                mutated = True
                v = row.version + 1
                ins = np.asarray(insert if insert is not None else np.empty((0, 2)))
                w = np.broadcast_to(
                    np.asarray(weights, dtype=float), (ins.reshape(-1, 2).shape[0],)
                )
                dele = np.asarray(delete if delete is not None else np.empty((0, 2)))
                batch_path = self.root / gid / f"batch-{v}.npz"
                _save_npz(
                    batch_path,
                    {
                        "insert": ins.reshape(-1, 2).astype(np.int64),
                        "weights": np.ascontiguousarray(w, dtype=np.float64),
                        "delete": dele.reshape(-1, 2).astype(np.int64),
                    },
                )
                snap = row.snapshot_version
                if v - snap >= SNAPSHOT_EVERY:
                    _save_npz(self.root / gid / f"snap-{v}.npz", dyn.to_state())
                    snap = v
                summary = st.summary()
                summary["version"] = v
                t = now()
                with self.store.session() as s:
                    res = s.execute(
                        update(GraphSession)
                        .where(GraphSession.id == gid, GraphSession.lock_owner == owner)
                        .values(
                            version=v,
                            snapshot_version=snap,
                            n_edges_graph=dyn.n_edges_graph,
                            n_edges_sparsifier=dyn.n_edges_sparsifier,
                            last_batch=summary,
                            updated_at=t,
                            lock_owner=None,
                            lock_until=None,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    if res.rowcount != 1:
                        raise GraphBusy(
                            f"graph {gid}: the update lease expired before the batch was "
                            "committed; the batch was not applied"
                        )
                    s.add(
                        GraphBatch(
                            graph_id=gid,
                            version=v,
                            created_at=t,
                            path=str(batch_path.relative_to(self.store.data_dir)),
                            stats=summary,
                        )
                    )
                committed = True
                if snap == v and snap > 0:
                    self._prune(gid, snap)
                self._remember(gid, v, dyn)
                return self.get(gid), summary
        finally:
            if not committed:
                if mutated:
                    self._forget(gid)  # the cached object is ahead of the stored version
                self._release(gid, owner)

    def _prune(self, gid: str, snap: int) -> None:
        """Drop snapshots older than ``snap`` (the batch logs stay, for the history)."""
        for p in (self.root / gid).glob("snap-*.npz"):
            try:
                if int(p.stem.split("-")[1]) < snap:
                    p.unlink()
            except (ValueError, OSError):
                pass

    def remove(self, gid: str) -> None:
        """Delete a session and its files."""
        self.get(gid)
        with self.store.session() as s:
            s.execute(delete(GraphBatch).where(GraphBatch.graph_id == gid))
            s.execute(delete(GraphSession).where(GraphSession.id == gid))
        self._forget(gid)
        shutil.rmtree(self.root / gid, ignore_errors=True)
