"""Static spectral sparsification: GRASS-style densification and ER sampling.

GRASS family (Feng 2016/2020; feGRASS, Liu–Yu–Feng 2022), as built here:

1. **Backbone**: a maximum effective-weight spanning tree (feGRASS: Kruskal on
   ``w log(max degree) / (BFS layer sum)``) or a low-stretch tree (hierarchical ball
   growing, GRASS's choice), whichever has the smaller total stretch; or the
   maximum-weight tree.
2. **Densification rounds**. Each round factors the grounded Laplacian of the current
   sparsifier H (sparse LU; H is nearly a tree, so the fill is small) and scores every
   edge of G outside H with a random-projection embedding:

   * ``X = L_H⁺ B_Hᵀ W_H^½ Ω`` (Ω Gaussian, ``embed_dim`` columns), so
     ``w_e ‖X_p − X_q‖² / k`` is an unbiased estimate of the edge's distortion
     ``w_e R_H(p, q)`` (Johnson–Lindenstrauss, Spielman–Srivastava);
   * then ``power`` (default 2) generalized power steps ``X ← L_H⁺ L_G X``, so the
     score weighs the dominant generalized eigenvectors of (L_G, L_H) by ``λ^(2t)``
     and targets the top of the spectrum (GRASS's spectral perturbation analysis:
     adding e to H lowers λ_j by about ``λ_j w_e (u_j(p) − u_j(q))²``).
     ``power=None`` gives the previous schedule (t = 0, then t = 1 in the last third).

   The best-scored edges join H, filtered for similarity (feGRASS): a chosen edge marks
   the nearest vertices of H around its endpoints, and edges between marked vertices
   wait for a later pass, so the new edges spread over the graph instead of piling
   into one region.
3. **Stopping**: a density target splits its edge budget over ``rounds`` rounds; a
   condition target adds ``step * n`` edges per round and stops once the Lanczos
   estimate of λ_max(L_G, L_H) is below the target.

H is a subset of G's edges with their original weights, so ``L_H ⪯ L_G``, λ_min ≥ 1 and
the reported ``condition_estimate`` (λ_max) is an upper bound of κ (equal to it in
practice: λ_min = 1 whenever the dropped edges leave a vertex without dropped edges,
which :func:`relative_condition_number` checks).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from solvers._backend import Backend, get_backend
from solvers._errors import InvalidProblemError, SolverCancelled
from solvers._progress import Callback, Progress
from solvers._result import SolverResult

from . import _kernels_numba as K
from .condition import factorize_laplacian
from .graph import EdgeList, as_graph, csr_with_edge_ids, laplacian_from_edges, to_adjacency
from .params import SparsifyParams
from .tree import spanning_tree


@dataclass(kw_only=True)
class SparsifyResult(SolverResult):
    """Result of :func:`sparsify`.

    Attributes
    ----------
    H : scipy.sparse.csr_matrix
        The sparsifier's symmetric adjacency matrix (same vertices as G).
    density : float
        Edges of H per vertex.
    condition_estimate : float
        Estimate of κ(L_G, L_H) (grass: λ_max by Lanczos, an upper bound of κ; er_sampling:
        :func:`relative_condition_number`); NaN when ``estimate_condition=False``,
        inf when H is disconnected.
    method : str
    kept : ndarray of int64 or None
        grass: indices of H's edges in G's edge list (``edges_of(A)`` order).
    n_nodes, n_edges_G, n_edges_H, n_tree_edges : int
    history : list of dict
        Per round: edges added, density, κ estimate (when computed), seconds.
    info : dict
        Timings and parameters.
    """

    H: scipy.sparse.csr_matrix
    density: float
    condition_estimate: float = math.nan
    method: str = "grass"
    kept: np.ndarray | None = None
    n_nodes: int = 0
    n_edges_G: int = 0
    n_edges_H: int = 0
    n_tree_edges: int = 0
    target_condition: float | None = None
    target_density: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] | None = None


# -- public entry point ----------------------------------------------------------------
def sparsify(
    A: Any,  # noqa: N803
    *,
    target_condition: float | None = None,
    target_density: float | None = None,
    method: str = "grass",
    seed: int | None = None,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    **options: Any,
) -> SparsifyResult:
    """Spectral sparsifier H of a weighted undirected graph G.

    Parameters
    ----------
    A : scipy.sparse matrix, 2-D array_like or edge-list tuple
        Symmetric adjacency matrix of a connected graph (positive weights, zero
        diagonal), or ``(edges, weights[, n])``; see :func:`solvers.sparsify.as_graph`.
    target_condition : float, optional
        Wanted κ(L_G, L_H) > 1. Default 100 when ``target_density`` is not given.
    target_density : float, optional
        Edges of H per vertex (the papers' density; a spanning tree is ~1.0).
    method : {"grass", "er_sampling"}
        ``"grass"``: spanning-tree backbone + spectrally critical off-tree edges, a
        subset of G's edges with their weights. ``"er_sampling"``: Spielman–Srivastava
        sampling with probabilities ∝ w_e R_e (effective resistances by random
        projections and pyamg-preconditioned CG), edges reweighted by
        ``w_e · count / (q p_e)``; a baseline (not guaranteed connected).
    seed : int, optional
    backend : {"auto", "cpu", "gpu"}
        The edge scores run on the backend; the tree algorithms and the sparse LU
        solves run on the host (see ``docs/sparsify.md``).
    callback : callable, optional
        Receives a :class:`solvers.ProgressInfo` per round (``residual`` = κ estimate
        when computed); returning True stops and returns the current H
        (``cancelled=True``).
    **options
        ``tree`` ("auto" | "mewst" | "mst" | "lsst"), ``rounds`` (12), ``step`` (0.0125),
        ``embed_dim`` (16), ``power`` (2), ``similarity`` (0.25), ``max_density`` (2.0),
        ``jl_dim`` (32), ``estimate_condition`` (True); see :class:`SparsifyParams`.

    Returns
    -------
    SparsifyResult
        ``.H``, ``.density``, ``.condition_estimate``, ``.history``...

    Raises
    ------
    InvalidProblemError
        Asymmetric, negative or non-finite weights, self loops, a disconnected graph,
        or a target density below a spanning tree's.
    BackendUnavailableError
        ``backend="gpu"`` without a usable GPU.

    References
    ----------
    .. [1] Z. Feng, "GRASS: Graph Spectral Sparsification Leveraging Scalable Spectral
       Perturbation Analysis", IEEE TCAD 39(12), 2020 (and "Spectral graph
       sparsification in nearly-linear time leveraging efficient spectral perturbation
       analysis", DAC 2016).
    .. [2] Z. Liu, W. Yu, Z. Feng, "feGRASS: Fast and Effective Graph Spectral
       Sparsification for Scalable Power Grid Analysis", IEEE TCAD 41(3), 2022.
    .. [3] D. A. Spielman, N. Srivastava, "Graph sparsification by effective
       resistances", SIAM J. Comput. 40(6), 2011.
    .. [4] Y. Yuan, A. Aghdaei, Z. Feng, "dyGRASS: Dynamic Spectral Graph Sparsification
       via Localized Random Walks on GPUs", arXiv:2505.02741, 2025 (the initial
       sparsifier and the quality measures).

    Examples
    --------
    >>> from solvers.sparsify import sparsify, mesh_2d, relative_condition_number
    >>> A = mesh_2d(100, 100, seed=0)
    >>> res = sparsify(A, target_density=1.15, seed=0)
    >>> res.density, res.condition_estimate       # about 1.15 and 30
    """
    from solvers._registry import get_spec

    spec = get_spec("sparsify")
    params = spec.parse_params(
        {
            "method": method,
            "target_condition": target_condition,
            "target_density": target_density,
            "seed": seed,
            **options,
        }
    )
    be = get_backend(backend, allowed=spec.backends)
    return solve({"A": A}, params, be, callback)


def validate(inputs: dict[str, Any], params: SparsifyParams) -> None:
    """Cross checks done at submission: a valid, connected graph; a feasible density."""
    g = as_graph(inputs["A"], "A", require_connected=True)
    _check_density(g, params)


def _check_density(g: EdgeList, params: SparsifyParams) -> None:
    d = params.target_density
    if d is not None and params.method == "grass" and d * g.n < g.n - 1:
        raise InvalidProblemError(
            f"target_density {d} is below a spanning tree's ({(g.n - 1) / g.n:.4f} edges per "
            f"vertex for n = {g.n}); grass keeps a spanning tree",
            field="params.target_density",
        )


def solve(
    inputs: dict[str, Any],
    params: SparsifyParams,
    backend: Backend,
    callback: Callback | None = None,
) -> SparsifyResult:
    """The registered solver: validate, then run ``params.method``."""
    t0 = time.perf_counter()
    g = as_graph(inputs["A"], "A", require_connected=True)
    _check_density(g, params)
    prog = Progress(callback)
    rng = np.random.default_rng(params.seed)
    if params.method == "er_sampling":
        from .sampling import er_sparsify

        res = er_sparsify(g, params, backend, prog, rng)
    else:
        res = grass(g, params, backend, prog, rng)
    res.elapsed = time.perf_counter() - t0
    res.backend = backend.name
    return res


# -- GRASS -----------------------------------------------------------------------------------
class _Grounded:
    """Grounded Laplacians (one vertex removed) and the sparse LU of L_H's."""

    def __init__(self, g: EdgeList, ground: int) -> None:
        self.g = g
        self.ground = ground
        keep = np.ones(g.n, dtype=bool)
        keep[ground] = False
        self.keep = keep
        LG = g.laplacian()  # noqa: N806
        self.LGg = LG[keep][:, keep].tocsr()
        self.LHg: scipy.sparse.csr_matrix | None = None
        self.lu: Any = None
        self.reduced: Any = None
        self.n_edges = -1

    def set_h(
        self, mask: np.ndarray, ordering: str = "MMD_AT_PLUS_A", *, reduce: bool = False
    ) -> None:
        """Factor the grounded L_H of the edges ``mask``; ``reduce``: eliminate H's
        degree-1/degree-2 vertices first and factor only the core
        (:class:`solvers.sparsify.reduce.ReducedLaplacianSolver`; the same solves to
        rounding, no ``LHg`` for :meth:`lambda_max`)."""
        g = self.g
        self.n_edges = int(mask.sum())
        if reduce:
            from .reduce import ReducedLaplacianSolver

            H = to_adjacency(g.n, g.u[mask], g.v[mask], g.w[mask])  # noqa: N806
            self.LHg, self.lu = None, None
            self.reduced = ReducedLaplacianSolver(H, self.ground, ordering)
            return
        LH = laplacian_from_edges(g.n, g.u[mask], g.v[mask], g.w[mask])  # noqa: N806
        self.LHg = LH[self.keep][:, self.keep].tocsc()
        self.lu = factorize_laplacian(self.LHg, ordering)
        self.reduced = None

    def solve(self, Y: np.ndarray) -> np.ndarray:  # noqa: N803
        """``L_H⁺ Y`` for full-length right-hand sides (zero at the grounded vertex)."""
        if self.reduced is not None:
            return self.reduced.solve(Y)
        out = np.zeros_like(Y)
        out[self.keep] = self.lu.solve(np.ascontiguousarray(Y[self.keep]))
        return out

    def lambda_max(self, tol: float, rng: np.random.Generator) -> tuple[float, int]:
        """λ_max of (L_G, L_H) by Lanczos; returns (value, solves)."""
        count = [0]

        def minv(x: np.ndarray) -> np.ndarray:
            count[0] += 1
            return self.lu.solve(np.asarray(x, dtype=np.float64))

        op = scipy.sparse.linalg.LinearOperator(self.LHg.shape, matvec=minv, dtype=np.float64)
        v0 = rng.standard_normal(self.LHg.shape[0])
        try:
            val = scipy.sparse.linalg.eigsh(
                self.LGg, k=1, M=self.LHg, Minv=op, which="LA", tol=tol, v0=v0,
                return_eigenvectors=False,
            )[0]  # fmt: skip
        except scipy.sparse.linalg.ArpackNoConvergence as exc:  # pragma: no cover
            val = float(np.max(exc.eigenvalues)) if exc.eigenvalues.size else math.nan
        return float(val), count[0]


def _incidence_t(g: EdgeList, mask: np.ndarray) -> scipy.sparse.csr_matrix:
    """``B_Hᵀ W_H^½`` as an (n, m_H) sparse matrix."""
    u, v, w = g.u[mask], g.v[mask], g.w[mask]
    m = u.size
    s = np.sqrt(w)
    rows = np.concatenate([u, v])
    cols = np.concatenate([np.arange(m), np.arange(m)])
    vals = np.concatenate([s, -s])
    return scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(g.n, m))


def edge_scores(
    g: EdgeList,
    mask: np.ndarray,
    lap: _Grounded,
    k: int,
    power: int,
    rng: np.random.Generator,
    backend: Backend,
) -> np.ndarray:
    """Random-projection scores of every edge against the current sparsifier.

    ``power = 0``: ``w_e ‖X_p − X_q‖²/k`` with ``X = L_H⁺ B_Hᵀ W_H^½ Ω``, an unbiased
    estimate of the distortion ``w_e R_H(p, q)``. ``power = t > 0``: t generalized power
    steps ``X ← L_H⁺ L_G X`` first (weights the generalized eigenvectors by λ^{2t}).
    """
    omega = rng.standard_normal((int(mask.sum()), k))
    X = lap.solve(np.asarray(_incidence_t(g, mask) @ omega))  # noqa: N806
    for _ in range(power):
        Y = np.zeros_like(X)  # noqa: N806
        Y[lap.keep] = lap.LGg @ X[lap.keep]
        X = lap.solve(Y)  # noqa: N806
    theta = np.full(k, 1.0 / k)
    kern = backend.kernels("sparsify")
    if backend.is_gpu:
        xp = backend.xp
        out = xp.empty(g.m)
        kern.edge_heat(
            xp.asarray(g.u), xp.asarray(g.v), xp.asarray(g.w), xp.asarray(X),
            xp.asarray(theta), out,
        )  # fmt: skip
        return backend.to_host(out)
    out = np.empty(g.m)
    kern.edge_heat(g.u, g.v, g.w, np.ascontiguousarray(X), theta, out)
    return out


def _h_csr(g: EdgeList, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    H = to_adjacency(g.n, g.u[mask], g.v[mask], np.ones(int(mask.sum())))  # noqa: N806
    return H.indptr.astype(np.int64), H.indices.astype(np.int64)


def select_edges(
    g: EdgeList,
    mask: np.ndarray,
    scores: np.ndarray,
    count: int,
    similarity: float,
) -> np.ndarray:
    """Add up to ``count`` best-scored edges outside H, spread by the similarity filter.

    Returns the indices of the edges added (``mask`` is updated in place).
    """
    off = np.flatnonzero(~mask)
    if off.size == 0 or count <= 0:
        return np.empty(0, dtype=np.int64)
    count = min(count, off.size)
    indptr, indices = _h_csr(g, mask)
    ball = max(1, int(similarity * g.n / count))
    top = off.size
    if off.size > 40 * count:
        top = 40 * count
        part = np.argpartition(-scores[off], top - 1)[:top]
        cand = off[part]
    else:
        cand = off
    while True:
        order = cand[np.argsort(-scores[cand], kind="stable")].astype(np.int64)
        mark = np.zeros(g.n, dtype=np.int64)
        picked = np.zeros(order.size, dtype=np.bool_)
        taken = K.select_dissimilar(
            order, g.u, g.v, indptr, indices, count, g.n, ball, mark, picked
        )
        if taken >= count or cand.size == off.size:
            break
        cand = off  # the top candidates were too similar: look at all of them
    chosen = order[picked]
    mask[chosen] = True
    return chosen


def degree_scaling(g: EdgeList, kept: np.ndarray, cap: float) -> np.ndarray:
    """Weights of H's edges after GRASS's optional edge scaling (``reweight=True``).

    With ``r_v = d_G(v) / d_H(v)`` (weighted degrees), every kept edge ``(u, v)`` is
    scaled by ``sqrt(min(1, r_u / cap) · min(1, r_v / cap))``. A subgraph H ⊆ G has
    λ_min(L_G, L_H) = 1 as soon as one vertex keeps all its edges (the indicator of
    that vertex), while the smooth, global modes sit well above 1; scaling down the
    edges around vertices that keep more than ``1/cap`` of their weighted degree lifts
    those local modes (the hubs of a low-stretch tree's balls, for instance) and
    leaves the rest of H alone. The weights never grow (``L_H ⪯ L_G`` still holds, so
    λ_min ≥ 1), at the price of a somewhat larger λ_max: κ = λ_max / λ_min drops on
    graphs whose subgraph sparsifiers are limited by such vertices (3-D tetrahedral
    meshes: −16 %) and rises on the others (2-D meshes, circuits), hence an option.
    GRASS's own tool offers an iterative edge-scaling step for the same purpose.

    Parameters
    ----------
    g : EdgeList
    kept : ndarray of int64
        Indices of H's edges in ``g``.
    cap : float
        Degree ratio ``d_G / d_H`` below which a vertex's edges are scaled down.

    Returns
    -------
    ndarray of float64
        The weights of the kept edges.
    """
    u, v, w = g.u[kept], g.v[kept], g.w[kept]
    d_g = np.bincount(g.u, g.w, g.n) + np.bincount(g.v, g.w, g.n)
    d_h = np.bincount(u, w, g.n) + np.bincount(v, w, g.n)
    s = np.sqrt(np.minimum(1.0, d_g / (cap * d_h)))
    return w * s[u] * s[v]


def grass(
    g: EdgeList,
    params: SparsifyParams,
    backend: Backend,
    prog: Progress,
    rng: np.random.Generator,
) -> SparsifyResult:
    """GRASS densification (see the module docstring)."""
    n = g.n
    t_start = time.perf_counter()
    csr = csr_with_edge_ids(g)
    tree = spanning_tree(g, params.tree, csr, seed=params.seed)
    mask = tree.in_tree.copy()
    t_tree = time.perf_counter() - t_start
    n_tree = int(mask.sum())
    target_k = params.target_condition
    target_d = params.target_density
    history: list[dict[str, Any]] = []
    kappas: list[float] = []
    if target_d is not None:
        budget = min(int(math.floor(target_d * n)), g.m) - n_tree
        rounds = params.rounds
        per_round = math.ceil(budget / rounds) if budget > 0 else 0
    else:
        budget = min(int(math.floor(params.max_density * n)), g.m) - n_tree
        per_round = max(1, math.ceil(params.step * n))
        rounds = math.ceil(budget / per_round) if budget > 0 else 0
    lap = _Grounded(g, tree.root)
    added = 0
    kappa = math.nan
    converged = False
    cancelled = False
    it = 0
    t_solve = 0.0
    while True:
        t_round = time.perf_counter()
        if target_k is not None:
            lap.set_h(mask)
            kappa, _ = lap.lambda_max(1e-2, rng)
            kappas.append(kappa)
            if kappa <= target_k:
                converged = True
                break
        if added >= budget or it >= rounds:
            converged = target_k is None
            break
        if target_k is None:
            lap.set_h(mask)
        it += 1
        if params.power is not None:
            power = params.power
        elif target_k is None:
            power = 0 if it <= (2 * rounds) // 3 else 1
        else:
            power = 1 if kappa <= 2.0 * target_k else 0
            if target_d is not None and it > (2 * rounds) // 3:
                power = 1
        scores = edge_scores(g, mask, lap, params.embed_dim, power, rng, backend)
        want = min(per_round, budget - added)
        chosen = select_edges(g, mask, scores, want, params.similarity)
        added += chosen.size
        t_solve += time.perf_counter() - t_round
        entry = {
            "round": it,
            "added": int(chosen.size),
            "density": float(mask.sum()) / n,
            "power": power,
            "kappa_before": kappa if target_k is not None else None,
            "seconds": time.perf_counter() - t_round,
        }
        history.append(entry)
        try:
            prog.check(
                it,
                residual=kappa if target_k is not None else None,
                message="grass round",
                max_iter=rounds,
                density=entry["density"],
            )
        except SolverCancelled:
            cancelled = True
            break
        if chosen.size == 0:
            break
    final = math.nan
    kept = np.flatnonzero(mask).astype(np.int64)
    w_h = g.w[kept]
    if params.reweight:
        w_h = degree_scaling(g, kept, params.reweight_cap)
    H = to_adjacency(n, g.u[kept], g.v[kept], w_h)  # noqa: N806
    t_est = time.perf_counter()
    if params.estimate_condition and not cancelled:
        if params.reweight:
            from .condition import relative_condition_number

            final = float(relative_condition_number(g, H, tol=1e-3))
        else:
            if lap.n_edges != int(mask.sum()):
                lap.set_h(mask)
            final = max(lap.lambda_max(1e-3, rng)[0], 1.0)
    t_est = time.perf_counter() - t_est
    if target_k is not None and math.isfinite(final) and (params.reweight or not converged):
        converged = final <= target_k
    return SparsifyResult(
        H=H,
        density=kept.size / n,
        condition_estimate=float(final),
        method="grass",
        kept=kept,
        n_nodes=n,
        n_edges_G=g.m,
        n_edges_H=int(kept.size),
        n_tree_edges=n_tree,
        target_condition=target_k,
        target_density=target_d,
        history=history,
        n_iter=it,
        converged=bool(converged),
        cancelled=cancelled,
        residuals=np.asarray(kappas, dtype=float),
        info={
            "tree": params.tree,
            "tree_chosen": tree.kind,
            "tree_seconds": t_tree,
            "rounds_seconds": t_solve,
            "estimate_seconds": t_est,
            "total_tree_stretch": tree.total_stretch,
            "budget": int(budget),
        },
    )
