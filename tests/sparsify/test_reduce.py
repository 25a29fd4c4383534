"""Leaf/series reduction solver of the spectral refresh (solvers/sparsify/reduce.py)."""

import numpy as np
import pytest
import scipy.sparse

from solvers.sparsify.generators import circuit_grid, mesh_2d
from solvers.sparsify.reduce import ReducedLaplacianSolver


def _reference(H, ground, B):  # noqa: N803
    n = H.shape[0]
    L = scipy.sparse.diags(np.asarray(H.sum(1)).ravel()) - H  # noqa: N806
    keep = np.arange(n) != ground
    X = np.zeros_like(B)  # noqa: N806
    X[keep] = scipy.sparse.linalg.spsolve(L.tocsc()[keep][:, keep], B[keep]).reshape(X[keep].shape)
    return X


def _random_sparse_subgraph(A, extra, seed):  # noqa: N803
    """A random spanning tree of A plus ``extra`` random other edges (weights kept)."""
    rng = np.random.default_rng(seed)
    A = scipy.sparse.triu(A, 1).tocoo()  # noqa: N806
    w = rng.random(A.nnz)
    T = scipy.sparse.csgraph.minimum_spanning_tree(  # noqa: N806
        scipy.sparse.csr_matrix((w + 1, (A.row, A.col)), shape=A.shape)
    ).tocoo()
    tree = set(zip(T.row.tolist(), T.col.tolist())) | set(zip(T.col.tolist(), T.row.tolist()))
    keep = np.array([(u, v) in tree for u, v in zip(A.row.tolist(), A.col.tolist())])
    keep[rng.choice(np.flatnonzero(~keep), extra, replace=False)] = True
    H = scipy.sparse.csr_matrix((A.data[keep], (A.row[keep], A.col[keep])), shape=A.shape)  # noqa: N806
    return (H + H.T).tocsr()


@pytest.mark.parametrize("extra", [0, 1, 40, 300])
@pytest.mark.parametrize("ground", [0, 57])
def test_reduced_solver_matches_direct_solve(extra, ground):
    A = circuit_grid(15, 15, layers=2, seed=1)  # noqa: N806
    H = _random_sparse_subgraph(A, extra, seed=extra)  # noqa: N806
    B = np.random.default_rng(3).standard_normal((H.shape[0], 5))  # noqa: N806
    S = ReducedLaplacianSolver(H, ground)  # noqa: N806
    X = S.solve(B)  # noqa: N806
    ref = _reference(H, ground, B)
    assert X[ground].max() == 0 and X[ground].min() == 0
    np.testing.assert_allclose(X, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    # a tree reduces completely; extra edges leave a core of at most ~2x their number
    assert S.core.size <= 2 * extra
    x1 = S.solve(B[:, 1])
    np.testing.assert_allclose(x1, X[:, 1], rtol=1e-12, atol=1e-12)


def test_reduced_solver_parallel_merge_on_mesh():
    A = mesh_2d(12, 12, seed=0)  # noqa: N806
    H = _random_sparse_subgraph(A, 30, seed=5)  # noqa: N806
    B = np.random.default_rng(0).standard_normal(H.shape[0])  # noqa: N806
    B -= B.mean()
    X = ReducedLaplacianSolver(H, 3).solve(B)  # noqa: N806
    np.testing.assert_allclose(X, _reference(H, 3, B[:, None])[:, 0], atol=1e-9 * np.abs(X).max())


def test_refresh_makes_the_same_choices_with_and_without_the_reduction():
    """The reduced solver is exact: the refresh picks the same edges as with one LU."""
    from solvers.sparsify import DynamicSparsifier, sparsify
    from solvers.sparsify.dynamic import batches, deletion_stream, insertion_stream

    A = circuit_grid(40, 40, layers=2, seed=2)  # noqa: N806
    H0 = sparsify(A, target_density=1.12, seed=0).H  # noqa: N806
    E, W = insertion_stream(A, 600, seed=1)  # noqa: N806
    dyns = [DynamicSparsifier(A, H0, seed=0, refresh_reduce=r) for r in (True, False)]
    for e, w in zip(batches(E, 3), batches(W, 3)):
        st = [d.insert(e, w) for d in dyns]
        assert st[0].refreshed == st[1].refreshed > 0
    D = deletion_stream(dyns[0].graph, 100, seed=3)  # noqa: N806
    for d in dyns:
        d.delete(D)
    assert abs(dyns[0].sparsifier - dyns[1].sparsifier).max() == 0
