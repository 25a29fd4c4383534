"""The conjugate-direction loop and the baselines against independent references.

Invariants of the deep conjugate direction method (Kaneda et al. 2023): with f = identity
it is CG, with f = M⁻¹ it is PCG, with f = c·A⁻¹ it converges in one step, and the
iterates do not depend on the scale of f.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import InvalidProblemError
from solvers.dcdm import cg, dcdm, pcg, poisson_system, smoke_problem
from solvers.dcdm._kernels_numba import ic0_factor, ic0_solve
from solvers.dcdm.baselines import direct_solve
from solvers.dcdm.system import analyze


@pytest.fixture(scope="module")
def prob():
    return smoke_problem((14, 12, 10), layout="spheres", seed=5)


def scipy_cg_history(A, b, rtol, M=None):
    hist = []
    nb = np.linalg.norm(b)
    spla.cg(
        A,
        b,
        rtol=rtol,
        atol=0.0,
        maxiter=2000,
        M=M,
        callback=lambda xk: hist.append(np.linalg.norm(b - A @ xk) / nb),
    )
    return np.array(hist)


def test_identity_direction_is_cg(prob):
    s, b = prob
    ref = scipy_cg_history(s.A, b, 1e-8)
    for n_orth in (1, 2, 5):
        res = dcdm(s, b, model=lambda r: r, rtol=1e-8, n_orth=n_orth, backend="cpu")
        assert res.converged and abs(res.n_iter - ref.size) <= 1
        k = min(40, ref.size)
        np.testing.assert_allclose(res.residuals[:k], ref[:k], rtol=1e-6)
    ours = cg(s.A, b, grid_shape=s.grid_shape, rtol=1e-8, backend="cpu")
    assert abs(ours.n_iter - ref.size) <= 1
    np.testing.assert_allclose(ours.residuals[:40], ref[:40], rtol=1e-6)


def test_jacobi_direction_is_jacobi_pcg(prob):
    s, b = prob
    d = s.A.diagonal()
    ref = scipy_cg_history(s.A, b, 1e-8, M=sp.diags(1 / d))
    res = dcdm(s, b, model=lambda r: r / d, rtol=1e-8, backend="cpu")
    pj = pcg(s.A, b, grid_shape=s.grid_shape, precond="jacobi", rtol=1e-8, backend="cpu")
    for r in (res, pj):
        assert abs(r.n_iter - ref.size) <= 1
        np.testing.assert_allclose(r.residuals[:30], ref[:30], rtol=1e-6)


def test_exact_inverse_direction_converges_in_one_step_at_any_scale(prob):
    s, b = prob
    lu = spla.splu(s.A.tocsc())
    for c in (1.0, 1e-7, 3e5):
        res = dcdm(s, b, model=lambda r, c=c: c * lu.solve(r), rtol=1e-10, backend="cpu")
        assert res.n_iter == 1 and res.converged


def test_iterates_do_not_depend_on_the_scale_of_f(prob):
    s, b = prob
    d = s.A.diagonal()
    f = lambda r: r / d + 0.02 * np.tanh(r / np.abs(r).max())  # noqa: E731 - nonlinear
    r1 = dcdm(s, b, model=f, rtol=1e-6, maxiter=25, backend="cpu")
    r2 = dcdm(s, b, model=lambda r: -7.5 * f(r), rtol=1e-6, maxiter=25, backend="cpu")
    r3 = dcdm(s, b, model=lambda r: 1e-9 * f(r), rtol=1e-6, maxiter=25, backend="cpu")
    for r in (r2, r3):
        assert r1.n_iter == r.n_iter
        np.testing.assert_allclose(r1.residuals, r.residuals, rtol=1e-8)
        np.testing.assert_allclose(r1.x, r.x, rtol=1e-7, atol=1e-9 * np.abs(r1.x).max())


def test_a_orthogonalization_matters():
    # a noisy direction: with A-orthogonalization it beats the plain line search
    s, b = smoke_problem((12, 12, 12), layout="none", seed=1)
    d = s.A.diagonal()
    f = lambda r: r / d  # noqa: E731
    r0 = dcdm(s, b, model=f, n_orth=0, rtol=1e-4, maxiter=3000, backend="cpu")
    r2 = dcdm(s, b, model=f, n_orth=2, rtol=1e-4, maxiter=3000, backend="cpu")
    assert r2.converged and r0.n_iter > 3 * r2.n_iter


@pytest.mark.parametrize("precond", ["none", "jacobi", "ic", "amg"])
def test_baselines_match_the_direct_solution(prob, precond):
    s, b = prob
    ref = direct_solve(analyze(s), b)
    res = pcg(s.A, b, grid_shape=s.grid_shape, precond=precond, rtol=1e-10, backend="cpu")
    assert res.converged
    assert np.linalg.norm(res.x - ref) / np.linalg.norm(ref) < 1e-8
    rr = np.linalg.norm(b - s.A @ res.x) / np.linalg.norm(b)
    assert rr <= 1e-10 and abs(rr - res.residuals[-1]) < 1e-12


def test_preconditioners_cut_iterations(prob):
    s, b = prob
    n = {
        p: pcg(s.A, b, precond=p, grid_shape=s.grid_shape, rtol=1e-8).n_iter
        for p in ("none", "ic", "amg")
    }
    assert n["amg"] < n["ic"] < n["none"]


def test_ic0_is_exact_cholesky_without_fill():
    # IC(0) of a tridiagonal matrix has no dropped fill: it is the Cholesky factor
    n = 50
    A = sp.diags([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()
    F = ic0_factor(A)
    L = sp.csr_matrix((F.L.data, F.L.indices, F.L.indptr), shape=(n, n)).toarray()
    np.testing.assert_allclose(L, np.linalg.cholesky(A.toarray()), atol=1e-13)
    r = np.random.default_rng(0).standard_normal(n)
    np.testing.assert_allclose(ic0_solve(F, r), np.linalg.solve(A.toarray(), r), atol=1e-12)


def test_ic0_matches_a_dense_textbook_ic0():
    s = poisson_system((5, 4, 3), boundary="neumann", solid=None)
    A = (s.A + 0.1 * sp.identity(s.n)).tocsr()
    F = ic0_factor(A)
    L = sp.csr_matrix((F.L.data, F.L.indices, F.L.indptr), shape=A.shape).toarray()
    D = A.toarray()
    pattern = np.tril(D != 0)
    Lr = np.zeros_like(D)
    for i in range(D.shape[0]):  # IC(0), row by row, dense
        for j in range(i + 1):
            if not pattern[i, j]:
                continue
            v = D[i, j] - Lr[i, :j] @ Lr[j, :j]
            Lr[i, j] = np.sqrt(v) if i == j else v / Lr[j, j]
    np.testing.assert_allclose(L, Lr, atol=1e-12)


def test_singular_neumann_system_gives_the_zero_mean_solution():
    s, b = smoke_problem((10, 9, 8), layout="spheres", seed=3, boundary=("neumann",) * 6)
    assert s.singular
    bad = b + 0.3 * s.fluid.ravel()  # incompatible: the constant part is removed, reported
    ref = direct_solve(analyze(s), b)
    for res in (
        dcdm(s, bad, model=lambda r: r, rtol=1e-10, backend="cpu"),
        pcg(s.A, bad, grid_shape=s.grid_shape, precond="amg", rtol=1e-10),
    ):
        assert res.converged
        assert res.info["b_incompatible"] > 0.01
        fl = s.fluid.ravel()
        assert abs(res.x[fl].mean()) < 1e-10
        assert np.linalg.norm(res.x - ref) / np.linalg.norm(ref) < 1e-8


def test_paper_convention_zero_rows_and_x0(prob):
    # the reference code leaves solid rows empty: they are null space (x = 0 there)
    s, b = prob
    A = s.A.tolil()
    solid = np.flatnonzero(~s.fluid.ravel())
    for i in solid:
        A[i, i] = 0.0
    A = A.tocsr()
    A.eliminate_zeros()
    an = analyze(A, s.grid_shape)
    assert an.empty_rows.sum() == solid.size
    x0 = np.random.default_rng(1).standard_normal(s.n)
    res = dcdm(A, b, grid_shape=s.grid_shape, model=lambda r: r, rtol=1e-9, x0=x0)
    ref = direct_solve(analyze(s), b)
    assert res.converged and np.abs(res.x[solid]).max() == 0
    assert np.linalg.norm(res.x - ref) / np.linalg.norm(ref) < 1e-7


def test_grid_shaped_rhs_gives_grid_shaped_x(prob):
    s, b = prob
    res = cg(s.A, b.reshape(s.grid_shape), rtol=1e-6)
    assert res.x.shape == s.grid_shape


def test_callback_progress_and_cancel(prob):
    s, b = prob
    seen = []

    def cb(info):
        seen.append(info.residual)
        return info.iteration >= 5

    res = dcdm(s, b, model=lambda r: r, rtol=1e-12, callback=cb)
    assert res.cancelled and not res.converged and res.n_iter == 5 and len(seen) == 5
    np.testing.assert_allclose(seen, res.residuals)


def test_zero_rhs():
    s = poisson_system((4, 4, 4))
    res = dcdm(s, np.zeros(s.n), model=lambda r: r)
    assert res.converged and res.n_iter == 0 and not res.x.any()


@pytest.mark.parametrize(
    "A, b, kw, match",
    [
        (
            sp.random(10, 12, density=0.3, format="csr"),
            np.ones(10),
            {"grid_shape": (2, 5)},
            "square",
        ),
        (sp.identity(27, format="csr"), np.ones(27), {"grid_shape": (3, 3, 4)}, "grid_shape"),
        (sp.identity(27, format="csr"), np.ones(26), {"grid_shape": (3, 3, 3)}, "b has"),
        (
            sp.identity(27, format="csr"),
            np.r_[np.nan, np.ones(26)],
            {"grid_shape": (3, 3, 3)},
            "NaN",
        ),
        (
            sp.random(27, 27, density=0.2, format="csr", random_state=1) + sp.identity(27),
            np.ones(27),
            {"grid_shape": (3, 3, 3)},
            "symmetric",
        ),
        (-sp.identity(27, format="csr"), np.ones(27), {"grid_shape": (3, 3, 3)}, "semi-definite"),
        (sp.identity(27, format="csr"), np.ones(27), {"grid_shape": (3, 3, 3), "rtol": 0}, "rtol"),
        (sp.identity(27, format="csr"), np.ones(27), {}, "grid_shape is required"),
    ],
)
def test_bad_input(A, b, kw, match):
    with pytest.raises(InvalidProblemError, match=match):
        dcdm(A, b, model=lambda r: r, **kw)
