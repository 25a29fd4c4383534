"""LDP studies in the store: create, accept batches of reports, close, build the estimate job.

Every change of a study is an optimistic compare-and-set on its ``version`` (retried on
conflict), so concurrent batches from many owners — through one or several API
processes — are each counted exactly once. A batch is checked completely before anything
is written: a bad report rejects the whole batch and nothing is stored.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from service.store import Store
from service.store.store import NotFound
from solvers import InvalidProblemError
from solvers.ldp.interactive import InteractiveServer
from solvers.ldp.params import StudyConfig
from solvers.ldp.protocol import Aggregate, Layout, Resolved, resolve

from .tables import LdpBatch, LdpStudy

MAX_RETRIES = 50


class StudyClosedError(InvalidProblemError):
    """The study no longer accepts reports."""


def now() -> float:
    return time.time()


def resolved_config(study: LdpStudy) -> Resolved:
    """The study's complete configuration (stored resolved at creation)."""
    return resolve(StudyConfig(**study.config))


def initial_state(cfg: Resolved) -> dict[str, Any]:
    if cfg.protocol == "interactive":
        return InteractiveServer(cfg).state()
    return {"sums": [0] * Layout.for_config(cfg).width, "count": 0}


def create_study(
    store: Store, cfg: StudyConfig, *, name: str | None, n_expected: int | None, scales: tuple
) -> LdpStudy:
    """Resolve ``cfg`` (defaults need ``n_expected``) and store a new open study."""
    res = resolve(cfg, n=n_expected, x_scale=scales[0], y_scale=scales[1])
    Layout.for_config(res)  # the channels can be built (raises on bad numbers)
    t = now()
    study = LdpStudy(
        id=uuid.uuid4().hex,
        name=name,
        status="open",
        protocol=res.protocol,
        config=res.to_config(),
        state=initial_state(res),
        n_reports=0,
        n_batches=0,
        version=0,
        created_at=t,
        updated_at=t,
    )
    with store.session() as s:
        s.add(study)
    return study


def get_study(store: Store, study_id: str) -> LdpStudy:
    with store.session() as s:
        st = s.get(LdpStudy, study_id)
    if st is None:
        raise NotFound("ldp study", study_id)
    return st


def list_studies(store: Store, *, limit: int, offset: int) -> list[LdpStudy]:
    q = select(LdpStudy).order_by(LdpStudy.created_at.desc()).limit(limit).offset(offset)
    with store.session() as s:
        return list(s.scalars(q))


def layout_of(study: LdpStudy) -> Layout:
    """The layout of the reports the study accepts now (interactive: the open round's)."""
    cfg = resolved_config(study)
    if cfg.protocol == "interactive":
        return InteractiveServer.from_state(cfg, study.state).layout
    return Layout.for_config(cfg)


def is_done(study: LdpStudy) -> bool:
    cfg = resolved_config(study)
    return cfg.protocol == "interactive" and int(study.state["round"]) >= cfg.rounds


def _apply(study: LdpStudy, reports: np.ndarray, round_: int | None) -> tuple[dict, int]:
    """New state after adding ``reports`` (validated here); ``(state, accepted)``."""
    cfg = resolved_config(study)
    if cfg.protocol == "interactive":
        srv = InteractiveServer.from_state(cfg, study.state)
        n = srv.submit(reports, round=round_)
        return srv.state(), n
    if round_ is not None:
        raise InvalidProblemError(
            f"'round' is only used by interactive studies, not {cfg.protocol!r}", field="round"
        )
    layout = Layout.for_config(cfg)
    agg = Aggregate(layout, study.state["sums"], study.state["count"])
    n = agg.add_checked(reports, name="reports")
    return {"sums": agg.sums.tolist(), "count": agg.count}, n


def add_batch(
    store: Store,
    study_id: str,
    reports: np.ndarray,
    *,
    round_: int | None = None,
    batch_key: str | None = None,
) -> dict[str, Any]:
    """Check and add one batch of reports; returns the acceptance record.

    A retried batch (same ``batch_key``) is not counted twice: the first acceptance is
    returned with ``"replay": True``.

    Raises
    ------
    NotFound, StudyClosedError, InvalidProblemError, StaleRoundError
    """
    for _ in range(MAX_RETRIES):
        study = get_study(store, study_id)
        if batch_key is not None:
            prior = _find_batch(store, study_id, batch_key)
            if prior is not None:
                return _acceptance(get_study(store, study_id), prior, replay=True)
        if study.status != "open":
            raise StudyClosedError(
                f"study {study_id} is {study.status}: it accepts no more reports",
                field="study",
            )
        state, n = _apply(study, reports, round_)
        t = now()
        batch = LdpBatch(
            id=uuid.uuid4().hex,
            study_id=study_id,
            batch_key=batch_key,
            round=round_,
            n=n,
            n_after=study.n_reports + n,
            created_at=t,
        )
        try:
            with store.session() as s:
                res = s.execute(
                    update(LdpStudy)
                    .where(
                        LdpStudy.id == study_id,
                        LdpStudy.version == study.version,
                        LdpStudy.status == "open",
                    )
                    .values(
                        state=state,
                        n_reports=LdpStudy.n_reports + n,
                        n_batches=LdpStudy.n_batches + 1,
                        version=LdpStudy.version + 1,
                        updated_at=t,
                    )
                    .execution_options(synchronize_session=False)
                )
                if res.rowcount != 1:
                    raise _Conflict
                s.add(batch)
        except _Conflict:
            continue
        except IntegrityError:
            continue  # the same batch_key won a race: the next pass returns its record
        return _acceptance(get_study(store, study_id), batch, replay=False)
    raise InvalidProblemError(
        f"study {study_id} is under heavy concurrent updates; retry the batch", field="study"
    )


class _Conflict(Exception):
    pass


def _find_batch(store: Store, study_id: str, key: str) -> LdpBatch | None:
    q = select(LdpBatch).where(LdpBatch.study_id == study_id, LdpBatch.batch_key == key)
    with store.session() as s:
        return s.scalars(q).first()


def _acceptance(study: LdpStudy, batch: LdpBatch, *, replay: bool) -> dict[str, Any]:
    out = {
        "study_id": study.id,
        "batch_id": batch.id,
        "batch_key": batch.batch_key,
        "accepted": batch.n,
        "n_reports": study.n_reports,
        "status": study.status,
        "replay": replay,
    }
    if study.protocol == "interactive":
        out["round"] = int(study.state["round"])
        out["done"] = is_done(study)
    return out


def close_study(store: Store, study_id: str) -> LdpStudy:
    """Close the study (idempotent): no report is accepted afterwards."""
    get_study(store, study_id)
    t = now()
    with store.session() as s:
        s.execute(
            update(LdpStudy)
            .where(LdpStudy.id == study_id, LdpStudy.status == "open")
            .values(status="closed", closed_at=t, updated_at=t, version=LdpStudy.version + 1)
            .execution_options(synchronize_session=False)
        )
    return get_study(store, study_id)


def set_last_job(store: Store, study_id: str, job_id: str) -> None:
    with store.session() as s:
        s.execute(
            update(LdpStudy)
            .where(LdpStudy.id == study_id)
            .values(last_job_id=job_id)
            .execution_options(synchronize_session=False)
        )


def aggregate_inputs(study: LdpStudy) -> dict[str, np.ndarray]:
    """The estimate job's inputs: the exact sums and counts of the accepted reports."""
    if study.protocol == "interactive":
        hist = study.state.get("history", [])
        if not hist:
            raise InvalidProblemError(
                "no round of this interactive study is complete yet: nothing to estimate",
                field="study",
            )
        return {
            "sums": np.array([h["sums"] for h in hist], dtype=np.int64),
            "counts": np.array([h["count"] for h in hist], dtype=np.int64),
        }
    if int(study.state["count"]) < 1:
        raise InvalidProblemError(
            "the study has no reports yet: nothing to estimate", field="study"
        )
    return {
        "sums": np.array(study.state["sums"], dtype=np.int64),
        "counts": np.array([study.state["count"]], dtype=np.int64),
    }


def study_view(study: LdpStudy) -> dict[str, Any]:
    cfg = resolved_config(study)
    out: dict[str, Any] = {
        "id": study.id,
        "name": study.name,
        "status": study.status,
        "protocol": study.protocol,
        "config": study.config,
        "privacy": {
            "mechanism": cfg.mechanism,
            "epsilon": cfg.epsilon,
            "delta": 0.0 if cfg.mechanism == "l2ball" else cfg.delta,
            "reports_per_owner": 1,
        },
        "layout": layout_of(study).describe(),
        "n_reports": study.n_reports,
        "n_batches": study.n_batches,
        "created_at": study.created_at,
        "updated_at": study.updated_at,
        "closed_at": study.closed_at,
        "last_job_id": study.last_job_id,
    }
    if cfg.protocol == "interactive":
        out["round"] = int(study.state["round"])
        out["rounds"] = cfg.rounds
        out["round_size"] = cfg.round_size
        out["received_in_round"] = int(study.state["count"])
        out["done"] = is_done(study)
    return out
