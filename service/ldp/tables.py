"""Tables of the LDP study extension (on the job store's declarative base).

A study keeps only the *exact aggregate* of the reports it accepted (int64 fixed-point
sums and counts; for the interactive protocol, one row of sums per completed round and
the broadcast iterates), never the reports themselves. ``version`` makes every update an
optimistic compare-and-set, safe with several API processes on one database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.tables import Base

STUDY_STATUSES = ("open", "closed")


class LdpStudy(Base):
    __tablename__ = "ldp_studies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")
    protocol: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_reports: Mapped[int] = mapped_column(BigInteger, default=0)
    n_batches: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class LdpBatch(Base):
    """One accepted batch (audit trail and idempotent retries; no report data)."""

    __tablename__ = "ldp_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), index=True)
    batch_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    round: Mapped[int | None] = mapped_column(Integer, nullable=True)
    n: Mapped[int] = mapped_column(Integer)
    n_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("study_id", "batch_key", name="uq_ldp_batch_key"),)
