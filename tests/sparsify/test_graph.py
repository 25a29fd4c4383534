"""Graph validation, conversions, generators and Matrix Market files."""

import gzip

import numpy as np
import pytest
import scipy.io
import scipy.sparse
import scipy.sparse.csgraph as csg

from solvers import InvalidProblemError
from solvers.sparsify import (
    as_graph,
    circuit_grid,
    delaunay_2d,
    describe,
    edges_of,
    from_edges,
    laplacian,
    largest_component,
    mesh_2d,
    mesh_3d,
    preferential_attachment,
    random_geometric,
    read_mtx,
    write_mtx,
)


def _path(n=5):
    return from_edges(n, np.stack([np.arange(n - 1), np.arange(1, n)], 1), np.arange(1.0, n))


def test_adjacency_and_edge_list_forms_agree():
    A = mesh_2d(6, 7, weights="lognormal", seed=1)
    g = as_graph(A)
    assert g.n == 42 and np.all(g.u < g.v) and np.all(g.w > 0)
    e, w = edges_of(A)
    B = from_edges(42, e[::-1], w[::-1])  # order does not matter
    assert abs(A - B).max() == 0
    g2 = as_graph((e, w, 42))
    assert np.array_equal(g2.u, g.u) and np.array_equal(g2.w, g.w)
    dense = as_graph(A.toarray())
    assert np.array_equal(dense.v, g.v)
    L = laplacian(A)
    assert abs(L.sum(axis=1)).max() < 1e-12
    assert np.allclose(L.diagonal(), np.asarray(A.sum(axis=1)).ravel())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda A: A[:, :-1], "square"),
        (lambda A: A + scipy.sparse.diags(np.ones(A.shape[0])), "self loops"),
        (lambda A: -A, "negative"),
        (lambda A: scipy.sparse.triu(A), "not symmetric"),
        (lambda A: A + 0.5 * scipy.sparse.triu(A), "not symmetric: A\\["),
        (lambda A: A.multiply(np.nan), "NaN"),
        (lambda A: A.astype(complex), "real"),
    ],
)
def test_bad_adjacency_matrices_name_the_problem(make, match):
    A = _path(6)
    with pytest.raises(InvalidProblemError, match=match) as exc:
        as_graph(make(A.tocsr()))
    assert exc.value.field == "inputs.A"
    assert "(6, 6)" in str(exc.value) or "(6, 5)" in str(exc.value)


@pytest.mark.parametrize(
    "edges, weights, n, match",
    [
        ([[0, 1], [1, 7]], 1.0, 5, "out of range"),
        ([[0, 1], [1, 1]], 1.0, 5, "self loops"),
        ([[0, 1], [1, 0]], 1.0, 5, "more than once"),
        ([[0, 1], [1, 2]], [1.0, -2.0], 5, "positive"),
        ([[0, 1], [1, 2]], [1.0], 5, "one weight per edge"),
        ([[0, 1, 2]], 1.0, 5, r"\(m, 2\)"),
        ([[0.5, 1]], 1.0, 5, "integer"),
    ],
)
def test_bad_edge_lists(edges, weights, n, match):
    with pytest.raises(InvalidProblemError, match=match):
        as_graph((np.array(edges), weights, n))


def test_disconnected_graph_is_refused_where_connectivity_is_needed():
    A = scipy.sparse.block_diag([_path(4), _path(3)]).tocsr()
    as_graph(A)  # fine as a graph
    with pytest.raises(InvalidProblemError, match="2 connected components .sizes 4, 3"):
        as_graph(A, require_connected=True)
    B, nodes = largest_component(A)
    assert B.shape == (4, 4) and list(nodes) == [0, 1, 2, 3]


def test_duplicate_coo_entries_are_summed_like_scipy():
    A = scipy.sparse.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
    g = as_graph(A)
    assert g.m == 1 and g.w[0] == 3.0


@pytest.mark.parametrize(
    "make, density, n",
    [
        (lambda: mesh_2d(30, 40, seed=0), (2.8, 3.0), 1200),
        (lambda: delaunay_2d(1500, seed=0), (2.9, 3.0), 1500),
        (lambda: mesh_3d(8, 9, 10, seed=0), (5.5, 7.0), 720),
        (lambda: mesh_3d(8, 9, 10, elements="hex", seed=0), (2.5, 3.0), 720),
        (lambda: circuit_grid(20, 25, layers=3, seed=0), (1.9, 2.1), 1500),
        (lambda: preferential_attachment(2000, 3, seed=0), (2.99, 3.0), 2000),
    ],
)
def test_generators_make_connected_graphs_of_the_expected_shape(make, density, n):
    A = make()
    d = describe(A)
    assert d["n"] == n and density[0] <= d["density"] <= density[1], d
    assert csg.connected_components(A, directed=False)[0] == 1
    assert abs(A - make()).max() == 0  # deterministic for a seed


def test_circuit_weights_span_decades_and_rgg_is_connected():
    d = describe(circuit_grid(30, 30, seed=3))
    assert d["max_weight"] / d["min_weight"] > 1e3
    A = random_geometric(3000, avg_degree=8, seed=1)
    assert A.shape[0] > 2800 and csg.connected_components(A, directed=False)[0] == 1
    deg = np.diff(preferential_attachment(3000, 2, seed=0).indptr)
    assert deg.max() > 20 * np.median(deg)  # heavy tail


def test_mtx_round_trip_and_suitesparse_forms(tmp_path):
    A = circuit_grid(6, 7, seed=0)
    p = write_mtx(tmp_path / "g.mtx", A)
    assert abs(read_mtx(p) - A).max() == 0
    # the Laplacian's lower triangle (what GRASS reads), general header
    scipy.io.mmwrite(tmp_path / "lap.mtx", scipy.sparse.tril(laplacian(A)), symmetry="general")
    assert abs(read_mtx(tmp_path / "lap.mtx") - A).max() < 1e-12
    # a pattern matrix (unit weights), gzipped
    pat = (A > 0).astype(float)
    scipy.io.mmwrite(
        tmp_path / "pat.mtx", scipy.sparse.tril(pat), field="pattern", symmetry="symmetric"
    )
    with open(tmp_path / "pat.mtx", "rb") as f, gzip.open(tmp_path / "pat.mtx.gz", "wb") as z:
        z.write(f.read())
    assert abs(read_mtx(tmp_path / "pat.mtx.gz") - pat).max() == 0
    # a matrix with both signs off the diagonal and a diagonal: absolute values
    S = laplacian(A).tolil()
    S[0, 1] = S[1, 0] = 0.25
    scipy.io.mmwrite(tmp_path / "s.mtx", S.tocsr())
    B = read_mtx(tmp_path / "s.mtx")
    assert B[0, 1] == 0.25 and B.diagonal().max() == 0
    with pytest.raises(InvalidProblemError, match="off-diagonal entries <= 0"):
        read_mtx(tmp_path / "s.mtx", as_="laplacian")
    scipy.io.mmwrite(tmp_path / "rect.mtx", scipy.sparse.random(3, 4, density=0.5))
    with pytest.raises(InvalidProblemError, match="square"):
        read_mtx(tmp_path / "rect.mtx")
