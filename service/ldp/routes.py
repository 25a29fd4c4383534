"""REST routes of LDP studies (mounted under ``/api/v1``; the app applies the API-key auth).

| method, path | what it does |
|---|---|
| POST /ldp/studies | create a study (d, k, ε, protocol, mechanism, bounds) → 201 |
| GET /ldp/studies | list studies, newest first |
| GET /ldp/studies/{id} | one study: config, privacy, report layout, counts, round |
| GET /ldp/studies/{id}/iterate | interactive: the open round and its iterate θ_t |
| POST /ldp/studies/{id}/reports | a batch of ε-LDP reports (checked, aggregated exactly) |
| POST /ldp/studies/{id}/close | close: no more reports |
| POST /ldp/studies/{id}/estimate | run the estimate as a job (solver ``ldp_regression``) → 202 |
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.deps import ExecutorDep, SettingsDep, StoreDep
from service.api.errors import ApiError
from service.api.jobs_service import JobSubmission, submit_job
from service.api.views import job_view
from service.arrays import ArrayDecodeError, decode, encode
from service.store.store import NotFound, ReferenceError_
from solvers import InvalidProblemError
from solvers.ldp.interactive import StaleRoundError
from solvers.ldp.params import StudyConfig

from . import studies

router = APIRouter(prefix="/ldp", tags=["ldp"])


class StudyCreate(StudyConfig):
    """Body of ``POST /api/v1/ldp/studies``: the public protocol parameters.

    Bounds (``r``, ``tau_x``, ``tau_y``) and the interactive ``rounds``/``round_size``
    default from ``expected_owners`` (standardized data, ``x_scale``/``y_scale``).
    """

    name: str | None = Field(None, max_length=200)
    expected_owners: int | None = Field(
        None, ge=1, description="Expected number of owners (for default bounds and rounds)."
    )
    x_scale: float = Field(1.0, gt=0)
    y_scale: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _needs_d(self) -> StudyCreate:
        if self.d is None:
            raise ValueError("d (the dimension of x) is required")
        return self


class ReportBatch(BaseModel):
    """Body of ``POST .../reports``: reports as an array (rows = owners)."""

    model_config = ConfigDict(extra="forbid")

    reports: Any = Field(..., description="(m, width) array: JSON, typed, or {'upload': id}.")
    round: int | None = Field(None, ge=0, description="interactive: the round answered.")
    batch_id: str | None = Field(
        None, max_length=200, description="Client key making retries idempotent."
    )


class EstimateRequest(BaseModel):
    """Body of ``POST .../estimate`` (server-side estimator options)."""

    model_config = ConfigDict(extra="forbid")

    public_X: Any = Field(None, description="nldp_public: public unlabeled covariates (m, d).")  # noqa: N815
    estimator: str = Field("plugin", pattern="^(plugin|iht)$")
    threshold: str = Field("topk", pattern="^(topk|soft)$")
    lam: float | None = Field(None, ge=0)
    min_eig: float = Field(0.05, gt=0, lt=1)
    noise_floor: float = Field(0.5, ge=0, le=100)
    backend: str = Field("auto", pattern="^(auto|cpu|gpu)$")
    time_limit: float | None = Field(None, gt=0)


def _decode_reports(store: Any, value: Any) -> Any:
    try:
        arr = store.resolve(decode(value), mmap=False)
    except (ArrayDecodeError, NotFound, ReferenceError_) as exc:
        raise InvalidProblemError(f"reports: {exc}", field="reports") from None
    return arr


@router.post("/studies", status_code=201)
def create_study(body: StudyCreate, store: StoreDep) -> JSONResponse:
    """Create an open study; the answer holds the complete config and the report layout
    (what each owner's randomizer needs)."""
    cfg = StudyConfig(**body.model_dump(exclude={"name", "expected_owners", "x_scale", "y_scale"}))
    try:
        st = studies.create_study(
            store,
            cfg,
            name=body.name,
            n_expected=body.expected_owners,
            scales=(body.x_scale, body.y_scale),
        )
    except ValueError as exc:  # numbers the mechanisms cannot calibrate
        if isinstance(exc, InvalidProblemError):
            raise
        raise InvalidProblemError(str(exc), field="config") from None
    return JSONResponse(
        studies.study_view(st),
        status_code=201,
        headers={"Location": f"/api/v1/ldp/studies/{st.id}"},
    )


@router.get("/studies")
def list_studies(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    items = studies.list_studies(store, limit=limit, offset=offset)
    return {"items": [studies.study_view(s) for s in items], "limit": limit, "offset": offset}


@router.get("/studies/{study_id}")
def get_study(study_id: str, store: StoreDep) -> dict[str, Any]:
    return studies.study_view(studies.get_study(store, study_id))


@router.get("/studies/{study_id}/iterate")
def get_iterate(study_id: str, store: StoreDep) -> dict[str, Any]:
    """Interactive studies: the open round, its iterate θ_t and the release parameters
    (radius, ``B`` or σ) every owner of the round uses."""
    st = studies.get_study(store, study_id)
    if st.protocol != "interactive":
        raise ApiError(
            409,
            f"study {study_id} runs the non-interactive protocol {st.protocol!r}: it has no "
            "iterate (owners randomize once with the study's layout)",
            type="NotInteractive",
        )
    from solvers.ldp.interactive import InteractiveServer

    srv = InteractiveServer.from_state(studies.resolved_config(st), st.state)
    return {"study_id": st.id, "status": st.status, **srv.iterate()}


@router.post("/studies/{study_id}/reports")
def post_reports(study_id: str, body: ReportBatch, store: StoreDep) -> dict[str, Any]:
    """Add a batch of ε-LDP reports. Each report is checked against the study's schema
    (shape, bounds, the mechanism's norm); one bad report rejects the batch (422) and
    nothing is stored. Interactive studies: ``round`` must be the open round (409
    otherwise: the round closed while the owners were randomizing)."""
    studies.get_study(store, study_id)  # 404 before decoding a large body
    reports = _decode_reports(store, body.reports)
    try:
        return studies.add_batch(
            store, study_id, reports, round_=body.round, batch_key=body.batch_id
        )
    except StaleRoundError as exc:
        raise ApiError(
            409,
            str(exc),
            type="StaleRoundError",
            field="round",
            extra={"sent": exc.sent, "current": exc.current},
        ) from None


@router.post("/studies/{study_id}/close")
def close_study(study_id: str, store: StoreDep) -> dict[str, Any]:
    """Close the study: later reports are rejected (422). Estimates stay possible."""
    return studies.study_view(studies.close_study(store, study_id))


@router.post("/studies/{study_id}/estimate", status_code=202)
def estimate(
    study_id: str,
    store: StoreDep,
    settings: SettingsDep,
    executor: ExecutorDep,
    body: EstimateRequest | None = None,
) -> JSONResponse:
    """Queue the estimate job (solver ``ldp_regression`` on the study's exact aggregate)
    → 202 with the job. The job's result equals an in-process estimate on the same
    reports."""
    body = body or EstimateRequest()
    st = studies.get_study(store, study_id)
    inputs = {k: encode(v) for k, v in studies.aggregate_inputs(st).items()}
    if body.public_X is not None:
        inputs["public_X"] = body.public_X
    params = dict(st.config)
    params.update(
        estimator=body.estimator,
        threshold=body.threshold,
        lam=body.lam,
        min_eig=body.min_eig,
        noise_floor=body.noise_floor,
    )
    sub = JobSubmission(
        solver="ldp_regression",
        inputs=inputs,
        params=params,
        backend=body.backend,
        time_limit=body.time_limit,
    )
    job, _ = submit_job(store, settings, sub, executor=executor)
    studies.set_last_job(store, study_id, job.id)
    return JSONResponse(
        {"study_id": study_id, "job": job_view(job)},
        status_code=202,
        headers={"Location": f"/api/v1/jobs/{job.id}"},
    )
