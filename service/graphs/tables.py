"""Tables of the graph sessions (on the job store's declarative base)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.tables import Base


class GraphSession(Base):
    """One dynamic sparsification session.

    ``version`` counts the applied batches; the state at ``version`` is the snapshot at
    ``snapshot_version`` plus the logged batches after it, replayed (the walks are
    deterministic, so the replay reproduces the original decisions). ``lock_owner`` /
    ``lock_until`` form a lease that serializes update batches across processes.
    """

    __tablename__ = "graphs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    n_edges_graph: Mapped[int] = mapped_column(Integer)
    n_edges_sparsifier: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_version: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    initial: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_batch: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    lock_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lock_until: Mapped[float | None] = mapped_column(Float, nullable=True)


class GraphBatch(Base):
    """One applied update batch: its inputs (a file) and what it did."""

    __tablename__ = "graph_batches"

    graph_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("graphs.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(255))
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
