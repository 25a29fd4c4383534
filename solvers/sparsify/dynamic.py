"""dyGRASS: dynamic spectral sparsification by localized random walks.

A :class:`DynamicSparsifier` keeps a graph G and its sparsifier H ⊆ G (original weights)
current under batches of edge insertions and deletions, without recomputing it (the
walk rules are local; the spectral refresh below adds one global scoring round):

* **insertion** of ``(p, q, w)``: the edge joins G; ``walkers`` non-backtracking walks
  of at most ``max_steps`` steps run from p in the *current sparsifier H*, each stopped
  once its path distortion ``w R_path`` reaches K (the distortion threshold). A walk
  that reaches q proves ``w R_H(p, q) ≤ w R_path < K`` (Rayleigh monotonicity: any
  path's resistance bounds the effective resistance), so the edge is spectrally
  unimportant and H is left alone. If no walk arrives, the edge's distortion is taken
  to be ``≥ K`` and it joins H. That is the paper's rule (``congestion=False``).

  **Congestion** (default, ``congestion=True``; an extension, see docs/sparsify.md):
  dropped edges add up. Routing every dropped edge e along its walk path P_e in H gives
  the support-graph bound ``L_G_new ⪯ κ_old L_H + (max_f c_f) L_H`` with
  ``c_f = Σ_{e: f ∈ P_e} w_e R(P_e)`` (Cauchy–Schwarz along each path), so
  ``κ_new ≤ κ_old + max_f c_f``. Each H edge therefore carries a congestion ``c_f``; the
  walks score ``w R_path + max_{f∈P} c_f`` and an edge is dropped only when that stays
  below K, after which ``w R(P)`` is added to the congestion of its path. Without it,
  dense insertion streams drift far above K (measured: κ 10.9 → 34 on a circuit grid
  after +25% edges, even with exact distortions).
  **Cycle exchanges** (default, ``exchange=True``; an extension, see docs/sparsify.md):
  a sequential pass decides the batch in order; a new edge whose H path (its walk's,
  or a local Dijkstra path for a kept edge) has a much weaker edge f that, rerouted
  over the rest of the cycle, stays below ``exchange_threshold * K`` joins H in f's
  place (a dynamic maximum-spanning-tree step), so H's density tracks G's structure.
  Congestion increments are scaled by ``congestion_weight`` (0.25; 1 gives the
  bound), and K defaults to ``distortion_factor`` (0.5) times the initial κ.
* **deletion** of ``(p, q)``: the edge leaves G and, if it was in H, leaves H; walks (no
  distortion bound) then run from p to q in the *updated G*, and the edges of the
  lowest-resistance path found (loop-erased; exact ties broken towards paths reusing
  more H edges) that are not yet in H are recovered into H. With ``exact_detours``
  (default; an extension) the walks' best path resistance only bounds a local Dijkstra
  search that returns the lowest-resistance detour itself: on weighted graphs the best
  of 512 uniform walks can be far from it (measured on a 10⁵-node circuit grid after a
  5 % deletion stream: κ 25.3 with walk paths, 13.2 with exact detours, and fewer
  recovered edges). The congestion the deleted
  edge carried moves to the recovered path, scaled by the resistance ratio (an upper
  bound of the rerouted distortions).
  When no walk arrives, the lowest-resistance path is found exactly (Dijkstra on
  resistances) instead, so H always stays connected; if G itself has become
  disconnected the whole batch is rolled back and rejected.

* **spectral refresh** (default ``refresh=0.003``; an extension): after every batch,
  one GRASS scoring round on the current (G, H) (sparse LU of L_H after eliminating
  its degree-1/degree-2 vertices, random projections with a generalized power step)
  adds ``refresh * n`` of the best-scored off-H edges of G. The local rules cannot see
  the weak regions of H that several dropped edges and G's old off-H edges cross; a
  global score finds them. ``refresh=0``: the local rules only (faster, but 2-3x above
  a fresh GRASS sparsifier on circuit grids).

All updates of a batch are walked in parallel against the same graph (a Numba
``prange`` over updates on the CPU; one CUDA block per update and one thread per walker
on the GPU), and the walks draw from a counter-based generator, so both backends make
the same decisions from the same seed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from solvers._backend import Backend, get_backend
from solvers._errors import InvalidProblemError

from . import _kernels_numba as K
from .adjacency import DynamicGraph
from .graph import as_graph, canonical_edges, edges_array, weights_array
from .params import DynamicParams

#: decision rounds per insertion batch (edges whose walk path lost an edge to an
#: exchange are walked again)
_ROUNDS = 3
#: exchanges of kept edges search H within this many times the resistance K / w
_EXCHANGE_RADIUS = 4.0
#: G's weights are "strongly spread" when the 90th percentile exceeds the 10th by this
_SPREAD = 10.0
#: deletions: a detour this many times more resistive than the deleted H edge gets a
#: second detour, found with the first one's edges ``_DETOUR_PENALTY`` times as resistive
_DETOUR_RATIO = 8.0
_DETOUR_PENALTY = 4.0


@dataclass
class BatchStats:
    """What one update batch did.

    Attributes
    ----------
    batch : int
        1-based index of the batch.
    kind : {"insert", "delete", "update"}
    inserted : int
        Edges inserted into G.
    kept : int
        Inserted edges that joined H (spectrally critical: no walk found a short path,
        or exchanged for a weaker H edge).
    exchanged : int
        H edges swapped out by cycle exchanges (listed in ``h_removed``).
    deleted : int
        Edges deleted from G.
    deleted_from_h : int
        Deleted edges that were in H.
    recovered : int
        Edges of G added to H to reconnect the endpoints of deleted H edges.
    fallbacks : int
        Deleted H edges whose detour came from Dijkstra because no walk arrived.
    refreshed : int
        Edges added by the spectral refresh (option ``refresh``).
    refresh_seconds : float
        Time of the spectral refresh (included in ``seconds``).
    seconds : float
        Wall time of the batch (validation, walks, updates).
    walk_seconds : float
        Time in the walk kernels.
    n_edges_g, n_edges_h : int
        Sizes after the batch.
    density : float
        Edges of H per vertex after the batch.
    h_added : ndarray, shape (k, 2)
        Edges added to H (kept and recovered), ``u < v``.
    h_added_weights : ndarray, shape (k,)
    h_removed : ndarray, shape (j, 2)
        Edges removed from H.
    """

    batch: int
    kind: str
    inserted: int = 0
    kept: int = 0
    exchanged: int = 0
    deleted: int = 0
    deleted_from_h: int = 0
    recovered: int = 0
    fallbacks: int = 0
    refreshed: int = 0
    refresh_seconds: float = 0.0
    seconds: float = 0.0
    walk_seconds: float = 0.0
    n_edges_g: int = 0
    n_edges_h: int = 0
    density: float = 0.0
    h_added: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))
    h_added_weights: np.ndarray = field(default_factory=lambda: np.empty(0))
    h_removed: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))

    def summary(self) -> dict[str, Any]:
        """The scalars (JSON-friendly)."""
        d = asdict(self)
        for key in ("h_added", "h_added_weights", "h_removed"):
            d.pop(key)
        return d


class DynamicSparsifier:
    """Spectral sparsifier maintained under streaming edge insertions and deletions.

    Parameters
    ----------
    A : sparse matrix, array_like or edge-list tuple
        The initial graph G (connected; see :func:`solvers.sparsify.as_graph`).
    H : sparse matrix or edge-list tuple, optional
        An initial sparsifier: a connected spanning subgraph of G (its weights are
        kept as given). Default: ``sparsify(A, target_condition=...)`` (GRASS).
    target_condition : float
        κ target of the initial GRASS sparsifier (default 100).
    seed : int, optional
        Seed of the walks (and of the initial GRASS run).
    backend : {"auto", "cpu", "gpu"}
        Where the walks run.
    **options
        ``distortion_threshold`` (K; default: the initial sparsifier's condition
        estimate times ``distortion_factor`` = 0.5), ``walkers`` (512), ``max_steps``
        (100), ``congestion`` (True), ``congestion_weight`` (0.25), ``exchange`` (True),
        ``exchange_threshold`` (0.6), ``exchange_ratio`` (0.5), ``exact_detours``
        (True), ``refresh`` (0.003: edges added per batch by one GRASS scoring round,
        times n; 0 = purely local updates), ``refresh_dim`` (8), ``refresh_power`` (1),
        ``refresh_reduce`` (True: leaf/series reduction before the LU),
        ``target_density`` (budget of the initial GRASS run); see
        :class:`solvers.sparsify.params.DynamicParams`.

    Attributes
    ----------
    graph : scipy.sparse.csr_matrix
        The current G.
    sparsifier : scipy.sparse.csr_matrix
        The current H.
    stats : list of BatchStats
        One entry per batch, in order.
    distortion_threshold : float
        The K in use.
    initial_condition : float
        Condition estimate of the initial sparsifier (NaN when H and K were both given:
        it is then not computed).

    Raises
    ------
    InvalidProblemError
        Bad graphs, H not a connected spanning subgraph of G, bad options.
    BackendUnavailableError
        ``backend="gpu"`` without a usable GPU.

    References
    ----------
    .. [1] Y. Yuan, A. Aghdaei, Z. Feng, "dyGRASS: Dynamic Spectral Graph Sparsification
       via Localized Random Walks on GPUs", arXiv:2505.02741, 2025.
    .. [2] A. Aghdaei, Z. Feng, "inGRASS: Incremental Graph Spectral Sparsification via
       Low-Resistance-Diameter Decomposition", DAC 2024 (arXiv:2402.16990).

    Examples
    --------
    >>> from solvers.sparsify import DynamicSparsifier, mesh_2d, insertion_stream
    >>> A = mesh_2d(100, 100, seed=0)
    >>> dyn = DynamicSparsifier(A, target_condition=50, seed=0)
    >>> edges, weights = insertion_stream(A, 2500, seed=1)
    >>> st = dyn.insert(edges, weights)
    >>> st.kept, dyn.sparsifier.nnz // 2
    """

    def __init__(
        self,
        A: Any,  # noqa: N803
        H: Any = None,  # noqa: N803
        *,
        target_condition: float = 100.0,
        seed: int | None = None,
        backend: str | Backend = "auto",
        **options: Any,
    ) -> None:
        from pydantic import ValidationError

        try:
            self.params = DynamicParams(
                target_condition=target_condition,
                seed=seed,
                backend=backend if isinstance(backend, str) else backend.name,
                **options,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ()))
            raise InvalidProblemError(
                f"DynamicSparsifier option {loc!r}: {err.get('msg')} (got {err.get('input')!r})",
                field=f"params.{loc}",
            ) from None
        self.backend = get_backend(backend)
        self.seed = int(seed) if seed is not None else secrets.randbits(63)
        g = as_graph(A, "A", require_connected=True)
        self.n = g.n
        t0 = time.perf_counter()
        if H is None:
            from .solver import sparsify

            res = sparsify(
                g,
                target_condition=self.params.target_condition,
                target_density=self.params.target_density,
                seed=self.seed,
                backend="cpu",
            )
            hu, hv, hw = g.u[res.kept], g.v[res.kept], g.w[res.kept]
            kappa0 = float(res.condition_estimate)
        else:
            h = as_graph(H, "H")
            hu, hv, hw = self._check_subgraph(g, h)
            if self.params.distortion_threshold is None:
                from .condition import relative_condition_number

                kappa0 = float(relative_condition_number(g, h, tol=1e-3))
            else:
                kappa0 = float("nan")  # not needed: K is given
        self.initial_seconds = time.perf_counter() - t0
        self.initial_condition = kappa0
        # strongly weighted graphs (circuits): smaller K and scaled congestion, where the
        # exchanges keep the density down; graphs of one weight scale: the paper's K and
        # the full congestion bound (measured best on each, docs/sparsify.md)
        factor, weight = default_factors(g.w)
        if self.params.congestion_weight is None:
            self.params.congestion_weight = weight
        if self.params.distortion_factor is None:
            self.params.distortion_factor = factor
        k = self.params.distortion_threshold
        if k is None:
            k = max(self.params.distortion_factor * kappa0, 2.0)
        self.distortion_threshold = float(k)
        self._g = DynamicGraph(g.n, g.u, g.v, g.w)
        self._g.set_flag(hu, hv, 1)  # G's slots know which edges are also in H
        self._h = DynamicGraph(g.n, hu, hv, hw, flag=1, congestion=self.params.congestion)
        self._phase = 0  # walk phases so far (the random streams' batch coordinate)
        self._scratch: dict[str, np.ndarray] | None = None
        self.stats: list[BatchStats] = []

    # -- construction helpers ------------------------------------------------------------
    @staticmethod
    def _check_subgraph(g: Any, h: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if h.n != g.n:
            raise InvalidProblemError(
                f"H has {h.n} vertices but A has {g.n}; a sparsifier has the same vertices",
                field="inputs.H",
            )
        kg = g.u * g.n + g.v
        kh = h.u * h.n + h.v
        pos = np.minimum(np.searchsorted(kg, kh), kg.size - 1)
        missing = kg[pos] != kh
        if missing.any():
            k = int(np.flatnonzero(missing)[0])
            raise InvalidProblemError(
                f"H must be a subgraph of G: its edge ({int(h.u[k])}, {int(h.v[k])}) is not "
                f"an edge of G ({int(missing.sum())} such edges)",
                field="inputs.H",
            )
        from .graph import check_connected

        check_connected(h, "H")
        return h.u, h.v, h.w

    # -- state ----------------------------------------------------------------------------
    @property
    def graph(self) -> scipy.sparse.csr_matrix:
        """The current graph G (symmetric CSR adjacency)."""
        return self._g.adjacency()

    @property
    def sparsifier(self) -> scipy.sparse.csr_matrix:
        """The current sparsifier H (symmetric CSR adjacency)."""
        return self._h.adjacency()

    @property
    def n_edges_graph(self) -> int:
        return self._g.m

    @property
    def n_edges_sparsifier(self) -> int:
        return self._h.m

    @property
    def density(self) -> float:
        """Edges of H per vertex."""
        return self._h.m / self.n

    def condition_number(self, **kwargs: Any) -> float:
        """κ(L_G, L_H) of the current pair (see :func:`relative_condition_number`)."""
        from .condition import relative_condition_number

        return relative_condition_number(self.graph, self.sparsifier, **kwargs)

    def to_state(self) -> dict[str, Any]:
        """Everything :meth:`from_state` needs, as NumPy arrays (for ``np.savez``).

        The adjacency arrays are saved as they are, slot order included, so a restored
        sparsifier makes exactly the same walks, hence the same decisions, as this one
        would: re-applying logged batches to a restored state reproduces the original.
        """
        out: dict[str, Any] = {}
        out.update(self._g.to_arrays("g_"))
        out.update(self._h.to_arrays("h_"))
        out["scalars"] = np.array(
            [
                self.n,
                self.seed,
                self._phase,
                self.n_batches,
                self.params.walkers,
                self.params.max_steps,
                int(self.params.congestion),
                int(self.params.exact_detours),
                int(self.params.exchange),
            ],
            dtype=np.int64,
        )
        out["floats"] = np.array(
            [
                self.distortion_threshold,
                self.initial_condition,
                self.params.congestion_weight,
                self.params.exchange_threshold,
            ]
        )
        return out

    @classmethod
    def from_state(
        cls, state: dict[str, Any], *, backend: str | Backend = "auto"
    ) -> DynamicSparsifier:
        """Restore a sparsifier saved with :meth:`to_state` (no walks, no GRASS)."""
        self = cls.__new__(cls)
        ints = [int(x) for x in state["scalars"]]
        floats = [float(x) for x in state["floats"]]
        n, seed, phase, nb, walkers, steps, cong, exact = ints[:8]
        k, kappa0 = floats[:2]
        # states saved before exchanges existed: the rules they were made with
        exchange = bool(ints[8]) if len(ints) > 8 else False
        weight, ex_thr = floats[2:4] if len(floats) > 3 else (1.0, 0.6)
        self.params = DynamicParams(
            distortion_threshold=k,
            walkers=walkers,
            max_steps=steps,
            seed=seed,
            congestion=bool(cong),
            exact_detours=bool(exact),
            exchange=exchange,
            congestion_weight=weight,
            exchange_threshold=ex_thr,
            backend=backend if isinstance(backend, str) else backend.name,
        )
        self.backend = get_backend(backend)
        self.seed = seed
        self.n = n
        self.initial_seconds = 0.0
        self.initial_condition = kappa0
        self.distortion_threshold = k
        self._g = DynamicGraph.from_arrays(state, "g_")
        self._h = DynamicGraph.from_arrays(state, "h_")
        self._phase = phase
        self._scratch = None
        self._restored_batches = nb
        self.stats = []
        return self

    @property
    def n_batches(self) -> int:
        """Batches applied since the start (including those before a restore)."""
        return getattr(self, "_restored_batches", 0) + len(self.stats)

    # -- validation ------------------------------------------------------------------------
    def _edges(self, edges: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        try:
            e = edges_array(edges, name, self.n)
            if e.shape[0] == 0:
                z = np.empty(0, dtype=np.int64)
                return z, z, z
            return canonical_edges(e, name)
        except InvalidProblemError as exc:
            exc.field = name  # the batch's argument, not a solver input
            raise

    # -- walks -----------------------------------------------------------------------------
    def _walk(
        self,
        graph: DynamicGraph,
        src: np.ndarray,
        dst: np.ndarray,
        wq: np.ndarray,
        bound: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Best score and walker per update (see ``nbrw_walks``), and the seconds spent."""
        p = self.params
        self._phase += 1
        t0 = time.perf_counter()
        kern = self.backend.kernels("sparsify")
        if self.backend.is_gpu:
            xp = self.backend.xp
            arrays = graph.device_arrays(xp)
            best_s = xp.empty(src.size)
            best_n = xp.empty(src.size, dtype=xp.int64)
            best_w = xp.empty(src.size, dtype=xp.int64)
            kern.nbrw_walks(
                *arrays, xp.asarray(src), xp.asarray(dst), xp.asarray(wq), xp.asarray(bound),
                p.walkers, p.max_steps, self.seed, self._phase, best_s, best_n, best_w,
            )  # fmt: skip
            self.backend.synchronize()
            out_s = self.backend.to_host(best_s)
            out_w = self.backend.to_host(best_w)
        else:
            out_s = np.empty(src.size)
            out_n = np.empty(src.size, dtype=np.int64)
            out_w = np.empty(src.size, dtype=np.int64)
            kern.nbrw_walks(
                graph.start, graph.deg, graph.nbr, graph.wt, graph.flag, graph.cong, src, dst,
                wq, bound, p.walkers, p.max_steps, self.seed, self._phase, out_s, out_n, out_w,
            )  # fmt: skip
        return out_s, out_w, time.perf_counter() - t0

    def _paths(
        self, graph: DynamicGraph, src: np.ndarray, dst: np.ndarray, walker: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Slots of the winning walks (replayed on the host: short and cheap)."""
        steps = self.params.max_steps
        slots = np.zeros((src.size, steps), dtype=np.int64)
        length = np.zeros(src.size, dtype=np.int64)
        K.nbrw_paths(
            graph.start, graph.deg, graph.nbr, src, dst, walker, steps, self.seed, self._phase,
            slots, length,
        )  # fmt: skip
        return slots, length

    def _dijkstra_scratch(self, graph: DynamicGraph) -> dict[str, np.ndarray]:
        """Scratch arrays of ``dijkstra_path`` large enough for ``graph``."""
        sc = self._scratch
        if sc is None or sc["hk"].size < graph.used + 1:
            size = max(graph.used, self._g.used) + 1
            sc = {
                "dist": np.full(self.n, np.inf),
                "prev_slot": np.full(self.n, -1, dtype=np.int64),
                "prev_v": np.full(self.n, -1, dtype=np.int64),
                "touched": np.empty(self.n, dtype=np.int64),
                "hk": np.empty(size),
                "hv": np.empty(size, dtype=np.int64),
                "path": np.empty(self.n, dtype=np.int64),
            }
            self._scratch = sc
        return sc

    def _dijkstra(
        self, p: int, q: int, limit: float = np.inf, graph: DynamicGraph | None = None
    ) -> np.ndarray | None:
        """Slots of the lowest-resistance path p → q in G (or ``graph``), searching only
        within resistance ``limit`` of p, or None if there is none."""
        g = self._g if graph is None else graph
        sc = self._dijkstra_scratch(g)
        length = K.dijkstra_path(
            g.start, g.deg, g.nbr, g.wt, g.flag, p, q, limit * (1 + 1e-7), sc["dist"],
            sc["prev_slot"], sc["prev_v"], sc["touched"], sc["hk"], sc["hv"], sc["path"],
        )  # fmt: skip
        return None if length < 0 else sc["path"][:length].copy()

    def _second_detour(self, p: int, q: int, slots: np.ndarray, r_path: float) -> np.ndarray | None:
        """Lowest-resistance p → q path in G once the edges of ``slots`` (a first detour,
        of resistance ``r_path``) count ``_DETOUR_PENALTY`` times their resistance."""
        g = self._g
        mirrors = np.empty(slots.size, dtype=np.int64)
        K.path_mirrors(g.start, g.deg, g.nbr, p, slots, mirrors)
        idx = np.concatenate([slots, mirrors[mirrors >= 0]])
        saved = g.wt[idx].copy()
        g.wt[idx] = saved / _DETOUR_PENALTY
        try:
            s2 = self._dijkstra(p, q, _DETOUR_PENALTY * r_path)
        finally:
            g.wt[idx] = saved
        return s2

    # -- updates ---------------------------------------------------------------------------
    def insert(self, edges: Any, weights: Any = 1.0) -> BatchStats:
        """Insert a batch of edges into G; keep the spectrally critical ones in H.

        Parameters
        ----------
        edges : (m, 2) array_like of int
            New edges (vertex ids in ``[0, n)``), each once, none already in G.
        weights : float or (m,) array_like
            Positive weights.

        Returns
        -------
        BatchStats

        Raises
        ------
        InvalidProblemError
            Ids out of range, self loops, an edge listed twice or already in G, bad
            weights. Nothing is changed then.
        """
        return self.update(insert=edges, weights=weights)

    def delete(self, edges: Any) -> BatchStats:
        """Delete a batch of edges from G (and from H), recovering detours into H.

        Raises
        ------
        InvalidProblemError
            An edge that is not in G, listed twice, ids out of range; or deleting the
            batch would disconnect G. Nothing is changed then.
        """
        return self.update(delete=edges)

    def update(self, insert: Any = None, weights: Any = 1.0, delete: Any = None) -> BatchStats:
        """One batch: the deletions first, then the insertions (so an edge may be
        deleted and re-inserted with a new weight in the same batch).

        Returns
        -------
        BatchStats

        Raises
        ------
        InvalidProblemError
            See :meth:`insert` and :meth:`delete`; a rejected batch changes nothing.
        """
        t0 = time.perf_counter()
        du, dv, _ = self._edges(delete if delete is not None else [], "delete")
        iu, iv, order = self._edges(insert if insert is not None else [], "insert")
        iw = np.empty(0)
        if iu.size:
            try:
                iw = weights_array(weights, order.size, "weights")[order]
            except InvalidProblemError as exc:
                exc.field = "weights"
                raise
            iu, iv = iu[order], iv[order]
        if du.size:
            du_o = np.lexsort((dv, du))
            du, dv = du[du_o], dv[du_o]
            present = ~np.isnan(self._g.lookup(du, dv))
            if not present.all():
                k = int(np.flatnonzero(~present)[0])
                raise InvalidProblemError(
                    f"cannot delete the edge ({int(du[k])}, {int(dv[k])}): it is not an edge "
                    f"of G ({int((~present).sum())} of the {du.size} edges to delete are not)",
                    field="delete",
                )
        if iu.size:
            old = ~np.isnan(self._g.lookup(iu, iv))
            if du.size and old.any():
                # an edge deleted in this batch may come back
                kd = du * self.n + dv
                ki = iu * self.n + iv
                old &= ~np.isin(ki, kd)
            if old.any():
                k = int(np.flatnonzero(old)[0])
                raise InvalidProblemError(
                    f"cannot insert the edge ({int(iu[k])}, {int(iv[k])}): it is already an "
                    f"edge of G ({int(old.sum())} of the {iu.size} edges are); delete it first "
                    "to change its weight",
                    field="insert",
                )
        kind = "update" if (du.size and iu.size) else ("delete" if du.size else "insert")
        st = BatchStats(batch=self.n_batches + 1, kind=kind)
        added_u: list[np.ndarray] = []
        added_v: list[np.ndarray] = []
        added_w: list[np.ndarray] = []
        removed = np.empty((0, 2), dtype=np.int64)
        if du.size:
            ru, rv, rw, removed, walk_s, fb = self._delete(du, dv)
            added_u.append(ru)
            added_v.append(rv)
            added_w.append(rw)
            st.deleted = int(du.size)
            st.deleted_from_h = int(removed.shape[0])
            st.recovered = int(ru.size)
            st.fallbacks = fb
            st.walk_seconds += walk_s
        if iu.size:
            ku, kv, kw, ex_removed, walk_s = self._insert(iu, iv, iw)
            added_u.append(ku)
            added_v.append(kv)
            added_w.append(kw)
            st.inserted = int(iu.size)
            st.kept = int(ku.size)
            st.exchanged = int(ex_removed.shape[0])
            st.walk_seconds += walk_s
            if ex_removed.shape[0]:
                removed = np.concatenate([removed, ex_removed])
        if self.params.refresh > 0 and (du.size or iu.size):
            t_r = time.perf_counter()
            ru, rv, rw = self._refresh(st.batch)
            added_u.append(ru)
            added_v.append(rv)
            added_w.append(rw)
            st.refreshed = int(ru.size)
            st.refresh_seconds = time.perf_counter() - t_r
        if added_u:
            st.h_added = np.stack([np.concatenate(added_u), np.concatenate(added_v)], 1)
            st.h_added_weights = np.concatenate(added_w)
        st.h_removed = removed
        st.n_edges_g = self._g.m
        st.n_edges_h = self._h.m
        st.density = self._h.m / self.n
        st.seconds = time.perf_counter() - t0
        self.stats.append(st)
        return st

    def _refresh(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One GRASS densification round on the current (G, H): ``refresh * n`` edges.

        Scores every off-H edge of G with ``refresh_dim`` random projections and
        ``refresh_power`` generalized power steps against a sparse LU
        of the grounded L_H (with ``refresh_reduce``: of its core after leaf/series
        reduction, :mod:`solvers.sparsify.reduce`) and adds the best ones
        through the similarity filter, exactly as a static GRASS round does. Runs on the
        CPU with a generator seeded by (seed, batch), so CPU and GPU sparsifiers stay
        identical and a restored state replays the same choices.
        """
        from .graph import EdgeList
        from .solver import _Grounded, edge_scores, select_edges

        count = round(self.params.refresh * self.n)
        if count == 0:  # small graphs (n < 500 at the default)
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
        gu, gv, gw = self._g.edges()
        hu, hv, hw = self._h.edges()
        g = EdgeList(self.n, gu, gv, gw)
        # both edge lists are sorted by (u, v) and H is a subgraph of G
        kg, kh = gu * self.n + gv, hu * self.n + hv
        pos = np.minimum(np.searchsorted(kg, kh), kg.size - 1)
        if not np.array_equal(kg[pos], kh):  # pragma: no cover - H is a subgraph of G
            raise RuntimeError("internal error: the sparsifier has an edge not in G")
        mask = np.zeros(gu.size, dtype=bool)
        mask[pos] = True
        if mask.all():
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
        lap = _Grounded(g, int(hu[0]) if hu.size else 0)
        if self.params.refresh_reduce:
            # leaf/series reduction first: only the core (~2x the off-tree edges) is
            # factored; the same L_H⁺ to rounding (solvers/sparsify/reduce.py)
            lap.set_h(mask, "MMD_AT_PLUS_A", reduce=True)
        else:
            lap.set_h(mask, "COLAMD")  # the ordering dominates the time of MMD here
        rng = np.random.default_rng([self.seed & ((1 << 63) - 1), batch, 7])
        p = self.params
        scores = edge_scores(g, mask, lap, p.refresh_dim, p.refresh_power, rng, get_backend("cpu"))
        chosen = select_edges(g, mask, scores, count, 0.25)
        ru, rv, rw = gu[chosen], gv[chosen], gw[chosen]
        self._h.insert(ru, rv, rw, flag=1)
        self._g.set_flag(ru, rv, 1)
        return ru, rv, rw

    def _insert(
        self, iu: np.ndarray, iv: np.ndarray, iw: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Walks, then the sequential decisions (drop, keep, exchange); edges whose walk
        path crossed an edge exchanged out earlier in the batch are walked again (at
        most ``_ROUNDS`` rounds, the last one keeps them)."""
        self._g.insert(iu, iv, iw)
        p = self.params
        k = self.distortion_threshold
        h = self._h
        exchange = p.exchange
        if not (h.has_congestion or exchange):
            # the paper's rule: no sequential pass needed
            best_s, _, walk_s = self._walk(h, iu, iv, iw, np.full(iu.size, k))
            keep = ~np.isfinite(best_s)
            ku, kv, kw = iu[keep], iv[keep], iw[keep]
            h.insert(ku, kv, kw, flag=1)
            self._g.set_flag(ku, kv, 1)
            return ku, kv, kw, np.empty((0, 2), dtype=np.int64), walk_s
        walk_total = 0.0
        pending = np.arange(iu.size)
        added: list[np.ndarray] = []
        removed: list[np.ndarray] = []
        for rnd in range(_ROUNDS):
            if pending.size == 0:
                break
            pu, pv, pw = iu[pending], iv[pending], iw[pending]
            _, best_w, walk_s = self._walk(h, pu, pv, pw, np.full(pu.size, k))
            walk_total += walk_s
            slots, length = self._paths(h, pu, pv, best_w)
            sc = self._dijkstra_scratch(h)
            wt_work = h.wt.copy()
            action = np.empty(pu.size, dtype=np.int64)
            fu = np.full(pu.size, -1, dtype=np.int64)
            fv = np.full(pu.size, -1, dtype=np.int64)
            load = np.zeros(pu.size)
            K.decide_insertions(
                h.start, h.deg, h.nbr, h.wt, h.flag, h.cong, pu, pv, pw, slots, length,
                k, p.congestion_weight if h.has_congestion else 0.0, p.exchange_threshold * k,
                p.exchange_ratio, exchange, _EXCHANGE_RADIUS, rnd + 1 < _ROUNDS,
                wt_work, sc["dist"], sc["prev_slot"], sc["prev_v"], sc["touched"], sc["hk"],
                sc["hv"], sc["path"], action, fu, fv, load,
            )  # fmt: skip
            h.touch()
            ex = action == K.EXCHANGE
            if ex.any():
                a, b = np.minimum(fu[ex], fv[ex]), np.maximum(fu[ex], fv[ex])
                h.remove(a, b)
                self._g.set_flag(a, b, 0)
                removed.append(np.stack([a, b], 1))
            join = (action == K.KEEP) | ex
            if join.any():
                ju, jv, jw = pu[join], pv[join], pw[join]
                h.insert(ju, jv, jw, flag=1)
                self._g.set_flag(ju, jv, 1)
                if ex.any():
                    h.add_congestion(pu[ex], pv[ex], load[ex])
                added.append(pending[join])
            pending = pending[action == K.DEFER]
        idx = np.sort(np.concatenate(added)) if added else np.empty(0, dtype=np.int64)
        out_removed = np.concatenate(removed) if removed else np.empty((0, 2), dtype=np.int64)
        return iu[idx], iv[idx], iw[idx], out_removed, walk_total

    def _delete(
        self, du: np.ndarray, dv: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int]:
        in_h = ~np.isnan(self._h.lookup(du, dv))
        hw_removed = self._h.lookup(du[in_h], dv[in_h])
        hc_removed = self._h.congestion(du[in_h], dv[in_h])
        gw_removed = self._g.lookup(du, dv)
        self._g.remove(du, dv)
        hu, hv = du[in_h], dv[in_h]
        self._h.remove(hu, hv)
        removed = np.stack([hu, hv], 1)
        empty = np.empty(0, dtype=np.int64)
        if hu.size == 0:
            return empty, empty, np.empty(0), removed, 0.0, 0
        ones, inf = np.ones(hu.size), np.full(hu.size, np.inf)
        best_r, best_w, walk_s = self._walk(self._g, hu, hv, ones, inf)
        exact = self.params.exact_detours
        if not exact:
            slots, length = self._paths(self._g, hu, hv, best_w)
        g = self._g
        pa: list[np.ndarray] = []
        pb: list[np.ndarray] = []
        pw: list[np.ndarray] = []
        pc: list[np.ndarray] = []
        fallbacks = 0
        for i in range(hu.size):
            c = float(hc_removed[i]) if np.isfinite(hc_removed[i]) else 0.0
            s = None
            if best_w[i] >= 0 and not exact:
                s = slots[i, : int(length[i])].copy()
            elif best_w[i] >= 0:
                # the walk's path bounds the search: an exact but local detour
                s = self._dijkstra(int(hu[i]), int(hv[i]), float(best_r[i]))
            if s is None:
                fallbacks += int(best_w[i] < 0)
                s = self._dijkstra(int(hu[i]), int(hv[i]))
                if s is None:
                    # G lost its connectivity: undo the whole batch and reject it
                    self._h.insert(hu, hv, hw_removed, flag=1)
                    self._h.add_congestion(hu, hv, np.nan_to_num(hc_removed))
                    self._g.insert(du, dv, gw_removed)
                    self._g.set_flag(hu, hv, 1)
                    self._phase -= 1
                    err = InvalidProblemError(
                        f"deleting this batch would disconnect the graph: vertices "
                        f"{int(hu[i])} and {int(hv[i])} are no longer connected once the "
                        f"{du.size} edges are removed (the batch was not applied)",
                        field="delete",
                    )
                    err.rolled_back = True  # same graphs, but the slots were reordered
                    raise err
            steps = s.size
            verts = np.empty(steps + 1, dtype=np.int64)
            verts[0] = hu[i]
            verts[1:] = g.nbr[s]
            steps = K.loop_erase(verts, s, steps)
            pa.append(verts[:steps])
            pb.append(verts[1 : steps + 1])
            pw.append(g.wt[s[:steps]])
            # the congestion the deleted edge carried, scaled by the detour's resistance
            ratio = float(np.sum(1.0 / pw[-1])) * hw_removed[i]
            pc.append(np.full(steps, c * max(1.0, ratio)))
            if ratio > _DETOUR_RATIO:
                # a weak detour: add a second, mostly disjoint one (its edges penalized)
                s2 = self._second_detour(int(hu[i]), int(hv[i]), s[:steps], ratio / hw_removed[i])
                if s2 is not None:
                    st2 = s2.size
                    verts = np.empty(st2 + 1, dtype=np.int64)
                    verts[0] = hu[i]
                    verts[1:] = g.nbr[s2]
                    st2 = K.loop_erase(verts, s2, st2)
                    pa.append(verts[:st2])
                    pb.append(verts[1 : st2 + 1])
                    pw.append(g.wt[s2[:st2]])
                    pc.append(np.zeros(st2))
        a0, b0 = np.concatenate(pa), np.concatenate(pb)
        a, b, w = np.minimum(a0, b0), np.maximum(a0, b0), np.concatenate(pw)
        cadd = np.concatenate(pc)
        keys = a * self.n + b
        uk, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        csum = np.bincount(inv, weights=cadd, minlength=uk.size)
        a, b, w = a[first], b[first], w[first]
        new = np.isnan(self._h.lookup(a, b))
        self._h.insert(a[new], b[new], w[new], flag=1)
        self._g.set_flag(a[new], b[new], 1)
        self._h.add_congestion(a, b, csum)
        return a[new], b[new], w[new], removed, walk_s, fallbacks


def default_factors(weights: np.ndarray) -> tuple[float, float]:
    """Default ``(distortion_factor, congestion_weight)`` for a graph's edge weights:
    ``(0.5, 0.25)`` when they are strongly spread (90th percentile more than 10 times
    the 10th, as in circuits), ``(1.0, 1.0)`` otherwise (the paper's K ≈ κ(H0) and the
    full congestion bound)."""
    q10, q90 = np.quantile(np.asarray(weights, dtype=float), [0.1, 0.9])
    return (0.5, 0.25) if q90 > _SPREAD * q10 else (1.0, 1.0)


def insertion_stream(
    A: Any,  # noqa: N803
    n_edges: int,
    *,
    hops: tuple[int, int] = (2, 3),
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Random *local* new edges for a graph: pairs of vertices ``hops`` apart.

    Each new edge joins a random vertex to a vertex reached by a short random walk of
    ``hops[0]..hops[1]`` steps that is not already its neighbour, with a weight drawn
    from the graph's own weights: the kind of stream dyGRASS evaluates (new couplings
    between nearby nodes, as in incremental circuit or mesh edits).

    Returns
    -------
    edges : ndarray of int64, shape (n_edges, 2)
    weights : ndarray of float64, shape (n_edges,)
    """
    g = as_graph(A, "A")
    rng = np.random.default_rng(seed)
    Adj = g.adjacency()  # noqa: N806
    indptr, indices = Adj.indptr, Adj.indices
    deg = np.diff(indptr)
    existing = set((g.u * g.n + g.v).tolist())
    out: set[int] = set()
    tries = 0
    while len(out) < n_edges and tries < 50 * n_edges + 1000:
        batch = max(1024, 2 * (n_edges - len(out)))
        tries += batch
        x0 = rng.integers(0, g.n, batch)
        x = x0.copy()
        steps = rng.integers(hops[0], hops[1] + 1, batch)
        for s in range(hops[1]):
            move = (steps > s) & (deg[x] > 0)
            r = rng.random(batch)
            j = indptr[x] + (r * deg[x]).astype(np.int64)
            x = np.where(move, indices[np.minimum(j, indices.size - 1)], x)
        a, b = np.minimum(x0, x), np.maximum(x0, x)
        for p, q in zip(a.tolist(), b.tolist()):
            if p == q:
                continue
            key = p * g.n + q
            if key in existing or key in out:
                continue
            out.add(key)
            if len(out) >= n_edges:
                break
    if len(out) < n_edges:
        raise InvalidProblemError(
            f"insertion_stream: found only {len(out)} new local edges of {n_edges} wanted",
            field="n_edges",
        )
    keys = np.fromiter(out, dtype=np.int64)
    rng.shuffle(keys)
    edges = np.stack(np.divmod(keys, g.n), 1)
    weights = rng.choice(g.w, size=n_edges)
    return edges, weights


def deletion_stream(
    A: Any,
    n_edges: int,
    *,
    seed: int | None = None,
    keep_connected: bool = True,  # noqa: N803
) -> np.ndarray:
    """Random existing edges to delete (by default none whose removal, together with
    the others, disconnects the graph: the edges of a random spanning tree are kept).

    Returns
    -------
    edges : ndarray of int64, shape (n_edges, 2)
    """
    g = as_graph(A, "A")
    rng = np.random.default_rng(seed)
    allowed = np.ones(g.m, dtype=bool)
    if keep_connected:
        order = rng.permutation(g.m).astype(np.int64)
        in_tree = np.zeros(g.m, dtype=np.bool_)
        K.kruskal_forest(order, g.u, g.v, g.n, in_tree)
        allowed = ~in_tree
    cand = np.flatnonzero(allowed)
    if cand.size < n_edges:
        raise InvalidProblemError(
            f"deletion_stream: only {cand.size} edges can be deleted, {n_edges} wanted",
            field="n_edges",
        )
    pick = rng.choice(cand, size=n_edges, replace=False)
    return np.stack([g.u[pick], g.v[pick]], 1)


def batches(edges: np.ndarray, n_batches: int) -> list[np.ndarray]:
    """Split an edge stream into ``n_batches`` nearly equal consecutive batches."""
    return [b for b in np.array_split(np.asarray(edges), n_batches) if len(b)]


__all__ = [
    "BatchStats",
    "DynamicSparsifier",
    "batches",
    "default_factors",
    "deletion_stream",
    "insertion_stream",
]
