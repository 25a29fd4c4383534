"""REST routes of the graph sessions (mounted under ``/api/v1`` with the API-key check)."""

from __future__ import annotations

import io
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import scipy.sparse
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import SettingsDep, StoreDep
from service.api.errors import ApiError
from service.api.views import iso
from service.arrays import ArrayDecodeError, decode, encode, nbytes
from service.store.store import NotFound, ReferenceError_
from solvers import InvalidProblemError

from .manager import GraphBusy, GraphManager
from .tables import GraphSession

router = APIRouter(tags=["graphs"])
_INIT = threading.Lock()


def manager(request: Request) -> GraphManager:
    """The app's :class:`GraphManager` (one per API process)."""
    state = request.app.state
    mgr = getattr(state, "graphs", None)
    if mgr is None or mgr.store is not state.store:
        with _INIT:
            mgr = getattr(state, "graphs", None)
            if mgr is None or mgr.store is not state.store:
                mgr = GraphManager(state.store)
                state.graphs = mgr
    return mgr


class GraphCreate(BaseModel):
    """Body of ``POST /api/v1/graphs``."""

    model_config = ConfigDict(extra="forbid")

    A: Any = Field(..., description="The graph: symmetric sparse adjacency (or an upload).")
    H: Any = Field(None, description="Optional initial sparsifier (a connected subgraph of A).")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "DynamicSparsifier options: target_condition, target_density, "
            "distortion_threshold, walkers, max_steps, congestion, seed, backend."
        ),
    )


class GraphUpdate(BaseModel):
    """Body of ``POST /api/v1/graphs/{id}/updates``: deletions first, then insertions."""

    model_config = ConfigDict(extra="forbid")

    insert: Any = Field(None, description="(m, 2) vertex ids of new edges.")
    weights: Any = Field(1.0, description="Their weights: a number or (m,) array.")
    delete: Any = Field(None, description="(k, 2) vertex ids of edges to delete.")


def _array(store: Any, value: Any, name: str, limit: int) -> Any:
    if value is None:
        return None
    try:
        arr = store.resolve(decode(value), mmap=False)
    except ArrayDecodeError as exc:
        raise InvalidProblemError(f"input {name!r}: {exc}", field=f"inputs.{name}") from None
    except (NotFound, ReferenceError_) as exc:
        raise InvalidProblemError(f"input {name!r}: {exc}", field=f"inputs.{name}") from None
    if nbytes(arr) > limit:
        raise ApiError(
            413,
            f"input {name!r} has {nbytes(arr) / 2**20:.1f} MiB, over the limit of "
            f"{limit / 2**20:.1f} MiB (SPARSEHPC_MAX_INPUT_BYTES)",
            type="PayloadTooLarge",
            field=f"inputs.{name}",
        )
    return arr


def _edges(value: Any, name: str) -> Any:
    if value is None:
        return None
    arr = np.asarray(value)
    if scipy.sparse.issparse(value) or arr.dtype == object:
        raise InvalidProblemError(f"{name!r} must be an (m, 2) array of vertex ids", field=name)
    return arr


def view(row: GraphSession) -> dict[str, Any]:
    return {
        "id": row.id,
        "n": row.n,
        "n_edges_graph": row.n_edges_graph,
        "n_edges_sparsifier": row.n_edges_sparsifier,
        "density": row.n_edges_sparsifier / max(row.n, 1),
        "version": row.version,
        "params": row.params,
        "initial": row.initial,
        "last_batch": row.last_batch,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "links": {
            "updates": f"/api/v1/graphs/{row.id}/updates",
            "sparsifier": f"/api/v1/graphs/{row.id}/sparsifier",
        },
    }


@router.post("/graphs", status_code=201)
def create_graph(body: GraphCreate, request: Request, store: StoreDep, settings: SettingsDep):
    """Upload a graph and build its initial sparsifier (GRASS, or the given ``H``) →
    201 with the session. Bad graphs or options answer 422 naming the field."""
    limit = settings.max_input_bytes
    A = _array(store, body.A, "A", limit)  # noqa: N806
    H = _array(store, body.H, "H", limit)  # noqa: N806
    row = manager(request).create(A, H, body.params)
    return JSONResponse(
        view(row), status_code=201, headers={"Location": f"/api/v1/graphs/{row.id}"}
    )


@router.get("/graphs")
def list_graphs(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Sessions, newest first."""
    return {"items": [view(r) for r in manager(request).list(limit, offset)]}


@router.get("/graphs/{graph_id}")
def get_graph(graph_id: str, request: Request) -> dict[str, Any]:
    """One session: sizes, version, parameters, the last batch's stats."""
    return view(manager(request).get(graph_id))


@router.get("/graphs/{graph_id}/updates")
def list_updates(graph_id: str, request: Request) -> dict[str, Any]:
    """The applied batches, in order, with their stats."""
    return {"items": [b.stats for b in manager(request).batches(graph_id)]}


@router.post("/graphs/{graph_id}/updates")
def post_update(
    graph_id: str, body: GraphUpdate, request: Request, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    """Apply one batch (deletions, then insertions) → the batch's stats and the new
    version. Concurrent batches to one graph are applied one after the other; a batch
    with a bad edge (not in G, already in G, out of range...) answers 422 and changes
    nothing; 409 when the graph stayed busy longer than the wait limit."""
    limit = settings.max_input_bytes
    ins = _edges(_array(store, body.insert, "insert", limit), "insert")
    dele = _edges(_array(store, body.delete, "delete", limit), "delete")
    w = body.weights
    if isinstance(w, (list, dict)):
        w = _array(store, w, "weights", limit)
    try:
        row, stats = manager(request).apply(graph_id, ins, w, dele)
    except GraphBusy as exc:
        raise ApiError(409, str(exc), type="GraphBusy") from None
    return {"graph": view(row), "stats": stats}


def _matrix_response(A: Any, fmt: str, name: str, version: int) -> Response:  # noqa: N803
    headers = {"X-Graph-Version": str(version)}
    if fmt == "json":
        return JSONResponse({name: encode(A), "version": version}, headers=headers)
    if fmt == "mtx":
        from solvers.sparsify import write_mtx

        with tempfile.TemporaryDirectory() as d:
            p = write_mtx(Path(d) / f"{name}.mtx", A, comment=f"sparsehpc {name} v{version}")
            data = p.read_bytes()
        headers["Content-Disposition"] = f'attachment; filename="{name}-v{version}.mtx"'
        return Response(data, media_type="text/plain", headers=headers)
    buf = io.BytesIO()
    scipy.sparse.save_npz(buf, scipy.sparse.csr_matrix(A))
    headers["Content-Disposition"] = f'attachment; filename="{name}-v{version}.npz"'
    return Response(buf.getvalue(), media_type="application/octet-stream", headers=headers)


@router.get("/graphs/{graph_id}/sparsifier")
def get_sparsifier(
    graph_id: str,
    request: Request,
    format: Annotated[str, Query(pattern="^(npz|mtx|json)$")] = "npz",  # noqa: A002
) -> Response:
    """The current sparsifier H: ``.npz`` (scipy.sparse.save_npz), ``.mtx`` (Matrix
    Market, symmetric) or JSON; the version is in the ``X-Graph-Version`` header."""
    version, _, H = manager(request).matrices(graph_id)  # noqa: N806
    return _matrix_response(H, format, "H", version)


@router.get("/graphs/{graph_id}/graph")
def get_current_graph(
    graph_id: str,
    request: Request,
    format: Annotated[str, Query(pattern="^(npz|mtx|json)$")] = "npz",  # noqa: A002
) -> Response:
    """The current graph G (same formats as the sparsifier)."""
    version, G, _ = manager(request).matrices(graph_id)  # noqa: N806
    return _matrix_response(G, format, "G", version)


@router.delete("/graphs/{graph_id}", status_code=204)
def delete_graph(graph_id: str, request: Request) -> Response:
    """Delete a session and its files."""
    manager(request).remove(graph_id)
    return Response(status_code=204)
