"""Spanning trees, tree stretch, effective resistances and the condition number."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph as csg

from solvers import InvalidProblemError
from solvers.sparsify import _kernels_numba as K
from solvers.sparsify import (
    as_graph,
    circuit_grid,
    effective_resistances,
    from_edges,
    laplacian,
    mesh_2d,
    mesh_3d,
    preferential_attachment,
    relative_condition_number,
    spanning_tree,
)
from solvers.sparsify.graph import to_adjacency


def _dense_pencil(A, H):
    """Extreme nontrivial eigenvalues of (L_G, L_H) the textbook way: restrict both to
    the complement of the constant vector with an orthonormal basis."""
    n = A.shape[0]
    Q = scipy.linalg.null_space(np.ones((1, n)))
    LG = Q.T @ laplacian(A).toarray() @ Q
    LH = Q.T @ laplacian(H).toarray() @ Q
    ev = scipy.linalg.eigh(LG, LH, eigvals_only=True)
    return ev[0], ev[-1]


@pytest.mark.parametrize("kind", ["mewst", "mst", "lsst", "auto"])
def test_spanning_tree_and_exact_tree_stretch(kind):
    A = circuit_grid(12, 13, seed=4)
    g = as_graph(A)
    bb = spanning_tree(g, kind)
    assert bb.in_tree.sum() == g.n - 1
    T = to_adjacency(g.n, g.u[bb.in_tree], g.v[bb.in_tree], g.w[bb.in_tree])
    assert csg.connected_components(T, directed=False)[0] == 1
    # tree resistance of every off-tree edge = shortest path with lengths 1/w in the tree
    R = csg.shortest_path(T.multiply(T.power(-2)).tocsr(), directed=False)  # weights 1/w
    off = ~bb.in_tree
    exact = g.w[off] * R[g.u[off], g.v[off]]
    assert np.allclose(bb.stretch[off], exact, rtol=1e-10)
    assert np.all(bb.stretch[bb.in_tree] == 0)
    if kind == "mst":  # a maximum-weight tree: compare with SciPy's minimum tree of -w
        mst = csg.minimum_spanning_tree(-A)
        assert np.isclose(-mst.sum(), g.w[bb.in_tree].sum(), rtol=1e-12)


def test_low_stretch_tree_beats_a_single_centre_tree_on_3d_meshes():
    # a tree grown from one centre (feGRASS's effective weights: BFS layers) has paths
    # of length ~ n^(1/3) between neighbouring branches; hierarchical balls ~ log n
    g = as_graph(mesh_3d(20, 20, 20, elements="tet", seed=0))
    mewst = spanning_tree(g, "mewst")
    lsst = spanning_tree(g, "lsst", seed=0)
    assert lsst.in_tree.sum() == g.n - 1
    assert lsst.total_stretch < 0.85 * mewst.total_stretch
    auto = spanning_tree(g, "auto", seed=0)
    assert np.array_equal(auto.in_tree, lsst.in_tree)
    # on a circuit grid (weights over decades) the weight-blind balls lose: auto keeps
    # the effective-weight tree
    c = as_graph(circuit_grid(40, 40, seed=0))
    assert np.array_equal(spanning_tree(c, "auto").in_tree, spanning_tree(c, "mewst").in_tree)
    # deterministic per seed
    assert np.array_equal(spanning_tree(g, "lsst", seed=0).in_tree, lsst.in_tree)


def test_tree_kernels_on_a_tree_and_a_disconnected_graph():
    A = from_edges(4, [[0, 1], [2, 3]])
    for kind in ("mewst", "lsst", "auto"):
        with pytest.raises(InvalidProblemError, match="not connected"):
            spanning_tree(as_graph(A), kind)
    # LCA of a path's off-tree chord
    B = from_edges(5, [[0, 1], [1, 2], [2, 3], [3, 4], [0, 4]], [1, 1, 1, 1, 0.5])
    bb = spanning_tree(as_graph(B), "mst")
    g = as_graph(B)
    e = int(np.flatnonzero(~bb.in_tree)[0])
    assert g.w[e] == 0.5 and np.isclose(bb.stretch[e], 0.5 * 4.0)


def test_effective_resistances_match_the_pseudoinverse():
    A = mesh_2d(15, 15, weights="lognormal", seed=2)
    g = as_graph(A)
    Lp = np.linalg.pinv(laplacian(A).toarray())
    exact = Lp[g.u, g.u] + Lp[g.v, g.v] - 2 * Lp[g.u, g.v]
    est = effective_resistances(g, jl_dim=400, seed=0)
    rel = est / exact - 1
    assert abs(np.mean(rel)) < 0.02 and np.std(rel) < 0.1  # JL: sd ≈ sqrt(2/400) = 0.07
    # Foster's theorem: Σ w_e R_e = n - 1
    assert abs(np.sum(g.w * exact) - (g.n - 1)) < 1e-8


@pytest.mark.parametrize("n_side", [12, 26])  # dense path (n <= 400) and sparse path
def test_condition_number_matches_dense_eigenvalues_for_subgraphs(n_side):
    A = mesh_2d(n_side, n_side, weights="lognormal", seed=1)
    g = as_graph(A)
    bb = spanning_tree(g)
    rng = np.random.default_rng(0)
    mask = bb.in_tree | (rng.random(g.m) < 0.1)
    H = to_adjacency(g.n, g.u[mask], g.v[mask], g.w[mask])
    lo, hi = _dense_pencil(A, H)
    c = relative_condition_number(A, H, details=True, tol=1e-8)
    assert np.isclose(c.lambda_max, hi, rtol=1e-6) and np.isclose(c.lambda_min, lo, rtol=1e-6)
    assert np.isclose(c.kappa, hi / lo, rtol=1e-6) and lo >= 1 - 1e-9


def test_condition_number_of_a_reweighted_sparsifier_uses_lobpcg():
    A = mesh_2d(24, 24, weights="lognormal", seed=3)
    g = as_graph(A)
    rng = np.random.default_rng(1)
    w = g.w * rng.uniform(0.5, 2.0, g.m)  # same edges, other weights: λ_min < 1
    H = to_adjacency(g.n, g.u, g.v, w)
    lo, hi = _dense_pencil(A, H)
    c = relative_condition_number(A, H, details=True, tol=1e-9)
    assert c.min_method == "lobpcg"
    assert np.isclose(c.lambda_min, lo, rtol=1e-5) and np.isclose(c.lambda_max, hi, rtol=1e-6)


def test_condition_number_edge_cases():
    A = mesh_2d(22, 22, seed=0)
    assert np.isclose(relative_condition_number(A, A), 1.0, rtol=1e-8)
    assert np.isclose(relative_condition_number(A, 3 * A), 1.0, rtol=1e-8)  # scale-free
    g = as_graph(A)
    half = to_adjacency(g.n, g.u[: g.m // 3], g.v[: g.m // 3], g.w[: g.m // 3])
    assert relative_condition_number(A, half) == np.inf  # disconnected H
    with pytest.raises(InvalidProblemError, match="vertices"):
        relative_condition_number(A, mesh_2d(5, 5))
    P = preferential_attachment(300, 2, seed=0)
    with pytest.raises(InvalidProblemError, match="connected components"):
        relative_condition_number(
            scipy.sparse.block_diag([P, P]).tocsr(), scipy.sparse.block_diag([P, P]).tocsr()
        )


def test_edge_heat_kernel_matches_numpy():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 50, 300)
    v = rng.integers(0, 50, 300)
    w = rng.random(300)
    U = rng.standard_normal((50, 7))
    th = rng.random(7)
    out = np.empty(300)
    K.edge_heat(u, v, w, U, th, out)
    assert np.allclose(out, w * ((U[u] - U[v]) ** 2 @ th), rtol=1e-13)
