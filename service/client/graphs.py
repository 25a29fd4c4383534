"""Graph sessions in the SDK: dynamic spectral sparsification on the server.

>>> from service.client import Client
>>> c = Client("http://127.0.0.1:8000")
>>> g = c.graph(A, target_condition=50, seed=0)      # uploads G, builds the sparsifier
>>> g.update(insert=new_edges, weights=w)             # a batch → its stats
>>> g.update(delete=old_edges)
>>> H = g.sparsifier()                                # scipy.sparse CSR matrix
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ._arrays import UploadRef, _is_sparse

API = "/api/v1"


def _split_insert(insert: Any, weights: Any) -> tuple[Any, Any]:
    """Accept (m, 2) edges + weights, an (m, 3) array [p, q, w], or (edges, weights)."""
    if insert is None:
        return None, weights
    if isinstance(insert, tuple) and len(insert) == 2:
        return np.asarray(insert[0]), insert[1]
    arr = np.asarray(insert)
    if arr.ndim == 2 and arr.shape[1] == 3:
        return arr[:, :2].astype(np.int64), arr[:, 2].astype(float)
    return arr, weights


class GraphSession:
    """Handle on a graph session of the server (see ``docs/sparsify.md``).

    Attributes
    ----------
    id : str
    n : int
        Number of vertices.
    """

    def __init__(self, client: Any, info: dict[str, Any]) -> None:
        self.client = client
        self.id: str = info["id"]
        self.n: int = int(info["n"])
        self._info = info

    def __repr__(self) -> str:
        i = self._info
        return (
            f"GraphSession({self.id!r}, n={self.n}, version={i.get('version')}, "
            f"density={i.get('density', float('nan')):.3f})"
        )

    def info(self) -> dict[str, Any]:
        """The session's description (sizes, version, parameters, last batch)."""
        self._info = self.client._request("GET", f"{API}/graphs/{self.id}").json()
        return self._info

    @property
    def version(self) -> int:
        return int(self._info["version"])

    def update(self, insert: Any = None, weights: Any = 1.0, delete: Any = None) -> dict[str, Any]:
        """Apply one batch on the server: ``delete`` first, then ``insert``.

        Parameters
        ----------
        insert : (m, 2) array_like, (m, 3) array_like or (edges, weights), optional
            New edges (vertex ids), optionally with their weights in a third column.
        weights : float or (m,) array_like
            Weights of the new edges (default 1).
        delete : (k, 2) array_like, optional
            Edges to delete (each must be in the graph).

        Returns
        -------
        dict
            The batch's stats: ``inserted``, ``kept``, ``deleted``,
            ``deleted_from_h``, ``recovered``, ``seconds``, ``density``, ``version``...

        Raises
        ------
        service.client.ValidationError
            A bad batch (422): nothing was applied.
        service.client.ConflictError
            The graph stayed busy with other batches too long (409).
        """
        ins, w = _split_insert(insert, weights)
        body: dict[str, Any] = {}
        if ins is not None:
            body["insert"] = self.client._prepare(np.asarray(ins))
            body["weights"] = (
                float(w) if np.ndim(w) == 0 else self.client._prepare(np.asarray(w, dtype=float))
            )
        if delete is not None:
            body["delete"] = self.client._prepare(np.asarray(delete))
        r = self.client._request("POST", f"{API}/graphs/{self.id}/updates", json=body).json()
        self._info = r["graph"]
        return r["stats"]

    def insert(self, edges: Any, weights: Any = 1.0) -> dict[str, Any]:
        """Insert a batch of edges (see :meth:`update`)."""
        return self.update(insert=edges, weights=weights)

    def delete(self, edges: Any) -> dict[str, Any]:
        """Delete a batch of edges (see :meth:`update`)."""
        return self.update(delete=edges)

    def _matrix(self, what: str, fmt: str) -> Any:
        r = self.client._request("GET", f"{API}/graphs/{self.id}/{what}", params={"format": fmt})
        if fmt == "mtx":
            return r.text
        import scipy.sparse

        return scipy.sparse.load_npz(io.BytesIO(r.content)).tocsr()

    def sparsifier(self, format: str = "npz") -> Any:  # noqa: A002
        """The current sparsifier H: a scipy.sparse CSR matrix (``format="mtx"``: the
        Matrix Market text)."""
        return self._matrix("sparsifier", format)

    def graph(self, format: str = "npz") -> Any:  # noqa: A002
        """The current graph G (as :meth:`sparsifier`)."""
        return self._matrix("graph", format)

    def history(self) -> list[dict[str, Any]]:
        """Stats of every applied batch, in order."""
        return self.client._request("GET", f"{API}/graphs/{self.id}/updates").json()["items"]

    def close(self) -> None:
        """Delete the session on the server."""
        self.client._request("DELETE", f"{API}/graphs/{self.id}")


def create_graph(client: Any, A: Any, *, H: Any = None, **params: Any) -> GraphSession:  # noqa: N803
    """Open a session on graph ``A`` (a symmetric scipy.sparse adjacency matrix, a dense
    array, or an :class:`UploadRef`); ``params`` are ``DynamicSparsifier`` options
    (``target_condition``, ``distortion_threshold``, ``walkers``, ``max_steps``,
    ``seed``, ``backend``...). The server builds the initial sparsifier (or uses
    ``H``)."""
    body: dict[str, Any] = {"A": _prep(client, A), "params": params}
    if H is not None:
        body["H"] = _prep(client, H)
    info = client._request("POST", f"{API}/graphs", json=body).json()
    return GraphSession(client, info)


def _prep(client: Any, A: Any) -> Any:  # noqa: N803
    if isinstance(A, UploadRef):
        return A.to_json()
    if _is_sparse(A):
        return client._prepare(A.tocsr())
    return client._prepare(np.asarray(A))


def get_graph(client: Any, graph_id: str) -> GraphSession:
    """Handle on an existing session."""
    return GraphSession(client, client._request("GET", f"{API}/graphs/{graph_id}").json())
