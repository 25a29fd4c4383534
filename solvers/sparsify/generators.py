"""Test graphs: finite-element meshes, circuit grids, geometric and social graphs.

Public collections (SuiteSparse) cannot be downloaded here, so these generators make
graphs with the same structure as the ones the sparsification papers use: triangle and
tetrahedral FE meshes (``fe_*``, ``delaunay_n*``), power-grid-like circuits with random
conductances (``G2_circuit``, ``G3_circuit``), random geometric graphs and
preferential-attachment "social" graphs. Every generator returns a symmetric CSR
adjacency matrix (float64, zero diagonal) of a connected graph, and is deterministic
for a given ``seed``. Users bring their own graphs with :func:`solvers.sparsify.read_mtx`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from solvers._config import njit
from solvers._errors import InvalidProblemError

from .graph import as_graph, largest_component, to_adjacency

WEIGHTS = ("unit", "lognormal", "length")


def _check_size(name: str, value: int, low: int = 2) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < low:
        raise InvalidProblemError(f"{name} must be an integer >= {low}, got {value!r}", field=name)
    return int(value)


def _weights(
    kind: str, m: int, rng: np.random.Generator, lengths: np.ndarray | None, sigma: float
) -> np.ndarray:
    if kind == "unit":
        return np.ones(m)
    if kind == "lognormal":
        return np.exp(sigma * rng.standard_normal(m))
    if kind == "length":
        if lengths is None:
            raise InvalidProblemError("weights='length' needs a geometric graph", field="weights")
        return 1.0 / np.maximum(lengths, 1e-12 * lengths.max())
    raise InvalidProblemError(f"weights must be one of {WEIGHTS}, got {kind!r}", field="weights")


def _build(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> scipy.sparse.csr_matrix:
    a = np.minimum(u, v).astype(np.int64)
    b = np.maximum(u, v).astype(np.int64)
    key = a * n + b
    key, first = np.unique(key, return_index=True)
    return to_adjacency(n, a[first], b[first], w[first])


def mesh_2d(
    nx: int,
    ny: int,
    *,
    weights: str = "unit",
    sigma: float = 1.0,
    jitter: float = 0.3,
    seed: int | None = None,
) -> scipy.sparse.csr_matrix:
    """Triangular finite-element mesh of a rectangle (``nx * ny`` vertices).

    A jittered ``nx × ny`` grid of points whose cells are split into two triangles
    along a random diagonal; edges are the triangle sides (about 3 edges per vertex,
    like ``delaunay_n*`` and ``fe_4elt2``).

    Parameters
    ----------
    nx, ny : int
        Grid points along x and y (>= 2).
    weights : {"unit", "lognormal", "length"}
        Edge weights: 1, ``exp(sigma N(0,1))``, or 1 / edge length.
    sigma : float
        Spread of the lognormal weights.
    jitter : float
        Random displacement of the points, in units of the grid spacing.
    seed : int, optional

    Returns
    -------
    csr_matrix, shape (nx*ny, nx*ny)
    """
    nx, ny = _check_size("nx", nx), _check_size("ny", ny)
    rng = np.random.default_rng(seed)
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    pts = np.stack([ix.ravel(), iy.ravel()], 1).astype(float)
    pts += jitter * (rng.random(pts.shape) - 0.5)
    idx = (ix * ny + iy).astype(np.int64)
    us, vs = [idx[:-1, :].ravel(), idx[:, :-1].ravel()], [idx[1:, :].ravel(), idx[:, 1:].ravel()]
    flip = rng.random((nx - 1, ny - 1)) < 0.5
    a = np.where(flip, idx[:-1, :-1], idx[1:, :-1])
    b = np.where(flip, idx[1:, 1:], idx[:-1, 1:])
    us.append(a.ravel())
    vs.append(b.ravel())
    u, v = np.concatenate(us), np.concatenate(vs)
    lengths = np.linalg.norm(pts[u] - pts[v], axis=1)
    return _build(nx * ny, u, v, _weights(weights, u.size, rng, lengths, sigma))


def delaunay_2d(
    n: int, *, weights: str = "unit", sigma: float = 1.0, seed: int | None = None
) -> scipy.sparse.csr_matrix:
    """Delaunay triangulation of ``n`` uniform random points in the unit square
    (the ``delaunay_n*`` family; about 3 edges per vertex). Needs scipy.spatial."""
    n = _check_size("n", n, 3)
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    pts = rng.random((n, 2))
    tri = Delaunay(pts).simplices.astype(np.int64)
    u = np.concatenate([tri[:, 0], tri[:, 1], tri[:, 2]])
    v = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0]])
    lengths = np.linalg.norm(pts[u] - pts[v], axis=1)
    return _build(n, u, v, _weights(weights, u.size, rng, lengths, sigma))


def mesh_3d(
    nx: int,
    ny: int,
    nz: int,
    *,
    elements: str = "tet",
    weights: str = "unit",
    sigma: float = 1.0,
    seed: int | None = None,
) -> scipy.sparse.csr_matrix:
    """3-D finite-element mesh of a box (``nx * ny * nz`` vertices).

    Parameters
    ----------
    nx, ny, nz : int
    elements : {"tet", "hex"}
        ``"tet"``: every cube cut into six tetrahedra around its main diagonal (Kuhn
        triangulation; the edges are the grid edges, one diagonal per face and one
        per cube: 7 edges per vertex). ``"hex"``: the 7-point stencil (grid edges only,
        3 edges per vertex).
    weights : {"unit", "lognormal", "length"}
    sigma : float
    seed : int, optional
    """
    nx, ny, nz = _check_size("nx", nx), _check_size("ny", ny), _check_size("nz", nz)
    if elements not in ("tet", "hex"):
        raise InvalidProblemError(
            f"elements must be 'tet' or 'hex', got {elements!r}", field="elements"
        )
    rng = np.random.default_rng(seed)
    idx = np.arange(nx * ny * nz, dtype=np.int64).reshape(nx, ny, nz)
    shifts = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    if elements == "tet":
        shifts += [(1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)]
    us, vs, ls = [], [], []
    for dx, dy, dz in shifts:
        a = idx[: nx - dx, : ny - dy, : nz - dz].ravel()
        b = idx[dx:, dy:, dz:].ravel()
        us.append(a)
        vs.append(b)
        ls.append(np.full(a.size, np.sqrt(dx * dx + dy * dy + dz * dz)))
    u, v, lengths = np.concatenate(us), np.concatenate(vs), np.concatenate(ls)
    return _build(nx * ny * nz, u, v, _weights(weights, u.size, rng, lengths, sigma))


def circuit_grid(
    nx: int,
    ny: int,
    *,
    layers: int = 2,
    via_pitch: int = 4,
    sigma: float = 1.0,
    seed: int | None = None,
) -> scipy.sparse.csr_matrix:
    """Power-grid-like circuit: stacked resistor grids with random conductances.

    Each of ``layers`` metal layers is an ``nx × ny`` resistor grid whose wires run
    along x on even layers and along y on odd layers (conductance about 10× higher
    along the wires than across them); consecutive layers are joined by vias every
    ``via_pitch`` grid points (conductance about 100). Every conductance is multiplied
    by ``exp(sigma N(0, 1))``, so weights spread over several decades, as in circuit
    simulation matrices (``G2_circuit``, ``G3_circuit``, ``ibmpg*``).

    Returns
    -------
    csr_matrix, shape (layers*nx*ny, layers*nx*ny)
    """
    nx, ny = _check_size("nx", nx), _check_size("ny", ny)
    layers = _check_size("layers", layers, 1)
    via_pitch = _check_size("via_pitch", via_pitch, 1)
    rng = np.random.default_rng(seed)
    npl = nx * ny
    idx = np.arange(npl, dtype=np.int64).reshape(nx, ny)
    us, vs, gs = [], [], []
    for layer in range(layers):
        off = layer * npl
        ax, bx = idx[:-1, :].ravel() + off, idx[1:, :].ravel() + off
        ay, by = idx[:, :-1].ravel() + off, idx[:, 1:].ravel() + off
        along_x = layer % 2 == 0
        us += [ax, ay]
        vs += [bx, by]
        gs += [
            np.full(ax.size, 10.0 if along_x else 1.0),
            np.full(ay.size, 1.0 if along_x else 10.0),
        ]
        if layer + 1 < layers:
            vi = idx[::via_pitch, ::via_pitch].ravel()
            us.append(vi + off)
            vs.append(vi + off + npl)
            gs.append(np.full(vi.size, 100.0))
    u, v, g = np.concatenate(us), np.concatenate(vs), np.concatenate(gs)
    g = g * np.exp(sigma * rng.standard_normal(g.size))
    return _build(layers * npl, u, v, g)


def random_geometric(
    n: int,
    *,
    avg_degree: float = 8.0,
    dim: int = 2,
    weights: str = "length",
    sigma: float = 1.0,
    seed: int | None = None,
) -> scipy.sparse.csr_matrix:
    """Random geometric graph: ``n`` uniform points in the unit cube of dimension
    ``dim``, joined when closer than the radius giving ``avg_degree`` on average.

    The result is the largest connected component (a few vertices may be dropped at
    low degrees; the number of vertices is ``A.shape[0]``).
    """
    n = _check_size("n", n, 3)
    dim = _check_size("dim", dim, 1)
    if not avg_degree > 0:
        raise InvalidProblemError(f"avg_degree must be > 0, got {avg_degree}", field="avg_degree")
    from math import gamma, pi

    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pts = rng.random((n, dim))
    unit_ball = pi ** (dim / 2) / gamma(dim / 2 + 1)
    radius = (avg_degree / (n * unit_ball)) ** (1.0 / dim)
    pairs = cKDTree(pts).query_pairs(radius, output_type="ndarray").astype(np.int64)
    if pairs.size == 0:
        raise InvalidProblemError(
            f"random_geometric: no edges for n={n}, avg_degree={avg_degree}", field="avg_degree"
        )
    lengths = np.linalg.norm(pts[pairs[:, 0]] - pts[pairs[:, 1]], axis=1)
    A = _build(n, pairs[:, 0], pairs[:, 1], _weights(weights, len(pairs), rng, lengths, sigma))  # noqa: N806
    return largest_component(A)[0]


@njit
def _ba_edges(n, m, seed_u, seed_v, draws):
    targets = np.empty(2 * n * m + 2 * seed_u.size, dtype=np.int64)
    t = 0
    for k in range(seed_u.size):
        targets[t] = seed_u[k]
        targets[t + 1] = seed_v[k]
        t += 2
    eu = np.empty(n * m, dtype=np.int64)
    ev = np.empty(n * m, dtype=np.int64)
    ne = 0
    chosen = np.empty(m, dtype=np.int64)
    d = 0
    for x in range(m + 1, n):
        c = 0
        while c < m:
            y = targets[int(draws[d % draws.size] * t)]
            d += 1
            dup = False
            for j in range(c):
                if chosen[j] == y:
                    dup = True
                    break
            if not dup:
                chosen[c] = y
                c += 1
        for j in range(m):
            eu[ne] = chosen[j]
            ev[ne] = x
            ne += 1
            targets[t] = chosen[j]
            targets[t + 1] = x
            t += 2
    return eu[:ne], ev[:ne]


def preferential_attachment(
    n: int, m: int = 3, *, weights: str = "unit", sigma: float = 1.0, seed: int | None = None
) -> scipy.sparse.csr_matrix:
    """Barabási–Albert preferential-attachment graph ("social" graph).

    Starts from a clique of ``m + 1`` vertices; every new vertex joins ``m``
    distinct existing vertices chosen with probability proportional to their degree.
    Connected, about ``m`` edges per vertex, heavy-tailed degrees.
    """
    n = _check_size("n", n, 3)
    m = _check_size("m", m, 1)
    if m + 1 >= n:
        raise InvalidProblemError(f"preferential_attachment needs n > m + 1, got n={n}, m={m}")
    rng = np.random.default_rng(seed)
    cu, cv = np.triu_indices(m + 1, 1)
    draws = rng.random(4 * n * m + 1024)
    eu, ev = _ba_edges(n, m, cu.astype(np.int64), cv.astype(np.int64), draws)
    u = np.concatenate([cu, eu])
    v = np.concatenate([cv, ev])
    return _build(n, u, v, _weights(weights, u.size, rng, None, sigma))


def describe(A: scipy.sparse.spmatrix) -> dict[str, float]:
    """Vertices, edges, edges per vertex, degree and weight ranges of a graph."""
    g = as_graph(A)
    deg = np.bincount(g.u, minlength=g.n) + np.bincount(g.v, minlength=g.n)
    return {
        "n": g.n,
        "m": g.m,
        "density": g.density,
        "max_degree": int(deg.max()),
        "min_weight": float(g.w.min()),
        "max_weight": float(g.w.max()),
    }
