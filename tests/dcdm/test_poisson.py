"""poisson_system against a textbook Kronecker-sum construction, obstacles, null space."""

import numpy as np
import pytest
import scipy.sparse as sp

from solvers import InvalidProblemError
from solvers.dcdm import obstacles, poisson_system, smoke_problem
from solvers.dcdm.problems import SMOKE_BOUNDARY_3D


def lap1d(n, lo, hi):
    """1-D cell-centred Laplacian: Dirichlet face adds 1 to the end's diagonal."""
    main = np.full(n, 2.0)
    main[0] = 2.0 if lo == "dirichlet" else 1.0
    main[-1] = 2.0 if hi == "dirichlet" else 1.0
    if n == 1:
        main[0] = (lo == "dirichlet") + (hi == "dirichlet")
    off = -np.ones(n - 1)
    return sp.diags([off, main, off], [-1, 0, 1]).tocsr()


def kron_sum(shape, faces):
    """A = Σ_d I ⊗ … ⊗ T_d ⊗ … ⊗ I in C order (axis 0 slowest)."""
    mats = [lap1d(n, faces[2 * d], faces[2 * d + 1]) for d, n in enumerate(shape)]
    A = sp.csr_matrix((int(np.prod(shape)),) * 2)
    for d in range(len(shape)):
        term = sp.identity(1)
        for e, n in enumerate(shape):
            term = sp.kron(term, mats[d] if e == d else sp.identity(n))
        A = A + term
    return A.tocsr()


@pytest.mark.parametrize(
    "shape, faces",
    [
        ((5, 4, 3), ("dirichlet",) * 6),
        ((5, 4, 3), ("neumann",) * 6),
        ((6, 5, 4), SMOKE_BOUNDARY_3D),
        ((7, 5), ("dirichlet", "neumann", "neumann", "dirichlet")),
        ((4, 1, 3), ("dirichlet",) * 6),
    ],
)
def test_box_matches_kronecker_sum(shape, faces):
    s = poisson_system(shape, boundary=faces)
    ref = kron_sum(shape, faces)
    assert s.A.shape == ref.shape and abs(s.A - ref).max() < 1e-14
    assert s.singular == all(f == "neumann" for f in faces)


def test_spacing_scales_the_matrix():
    a = poisson_system((4, 5, 6)).A
    b = poisson_system((4, 5, 6), h=0.5).A
    assert abs(b - 4 * a).max() < 1e-13


def test_obstacles_are_decoupled_identity_rows_and_fluid_rows_are_poisson():
    shape = (9, 8, 7)
    solid = obstacles(shape, "spheres", seed=3)
    assert solid.any()
    s = poisson_system(shape, solid=solid, boundary=SMOKE_BOUNDARY_3D)
    A = s.A
    assert abs(A - A.T).max() == 0
    idx = np.flatnonzero(solid.ravel())
    rows = A[idx]
    assert np.allclose(rows.toarray()[np.arange(idx.size), idx], 1.0) and rows.nnz == idx.size
    # a fluid row equals the full-box row with the solid neighbours' couplings removed
    full = kron_sum(shape, SMOKE_BOUNDARY_3D).tolil()
    fl = s.fluid.ravel()
    for i in np.flatnonzero(fl)[::37]:
        ref = full.getrow(i).toarray().ravel()
        for j in np.flatnonzero(ref):
            if j != i and not fl[j]:
                ref[i] += ref[j]  # neighbour was counted on the diagonal: remove it
                ref[j] = 0.0
        assert np.allclose(A.getrow(i).toarray().ravel(), ref)
    # positive definite (the box has an open face and the fluid stays connected to it)
    assert not s.singular
    w = np.linalg.eigvalsh(A.toarray())
    assert w.min() > 1e-6


def test_air_cells_are_dirichlet():
    shape = (6, 6)
    air = np.zeros(shape, bool)
    air[4:] = True
    s = poisson_system(shape, air=air, boundary="neumann")
    assert not s.singular  # the free surface grounds the pressure
    i = np.ravel_multi_index((3, 2), shape)
    assert s.A[i, i] == 4.0 and s.A[i].nnz == 4  # 3 fluid neighbours + the air face
    assert s.A[np.ravel_multi_index((5, 2), shape)].nnz == 1


def test_neumann_null_space_and_projection():
    shape = (6, 5, 4)
    # a sealed pocket: a solid shell around a fluid cavity inside an open box
    solid = np.zeros(shape, bool)
    solid[1:5, 1:4, 0:3] = True
    solid[2:4, 2, 1] = False
    s = poisson_system(shape, solid=solid, boundary="dirichlet")
    assert len(s.floating) == 1 and s.singular
    N = s.null_space()
    assert N.shape == (s.n, 1) and abs(np.linalg.norm(N) - 1) < 1e-14
    assert np.abs(s.A @ N).max() < 1e-14
    b = np.random.default_rng(0).standard_normal(s.n)
    pb = s.project(b)
    assert abs(N[:, 0] @ pb) < 1e-12
    assert np.allclose(pb[N[:, 0] == 0], b[N[:, 0] == 0])


def test_divergence_rhs_is_compatible_and_zero_in_solids():
    s, b = smoke_problem((12, 10, 10), layout="bunny", seed=2, boundary=("neumann",) * 6)
    assert s.singular and len(s.floating) == 1
    assert np.all(b[~s.fluid.ravel()] == 0)
    assert abs(b.sum()) < 1e-10 * np.abs(b).sum()
    # a divergence-free field gives b = 0: a constant field through an open box
    s2 = poisson_system((5, 5, 5), boundary="dirichlet")
    u = [np.ones((6, 5, 5)), np.zeros((5, 6, 5)), np.zeros((5, 5, 6))]
    assert np.abs(s2.divergence(u)).max() < 1e-14


def test_obstacle_layouts_are_resolution_independent():
    a = obstacles((32, 32, 32), "bunny", seed=4)
    b = obstacles((64, 64, 64), "bunny", seed=4)
    assert 0.9 < b.mean() / a.mean() < 1.1
    assert (b[::2, ::2, ::2] == a).mean() > 0.97


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(grid_shape=(4,)), "2 or 3"),
        (dict(grid_shape=(4, 0, 2)), "2 or 3 positive"),
        (dict(grid_shape=(3, 3), boundary="robin"), "dirichlet"),
        (dict(grid_shape=(3, 3), boundary=("neumann",) * 3), "4 strings"),
        (dict(grid_shape=(3, 3), solid=np.ones((3, 4), bool)), "shape"),
        (dict(grid_shape=(3, 3), solid=np.ones((3, 3), bool)), "no fluid"),
        (dict(grid_shape=(3, 3), h=0.0), "h must"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(InvalidProblemError, match=match):
        poisson_system(**kwargs)
