"""Training data (Lanczos / Ritz vectors), the scale-invariant loss, training, the job."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

torch = pytest.importorskip("torch")

import solvers  # noqa: E402
from solvers.dcdm import dcdm, load_model, poisson_system, smoke_problem  # noqa: E402
from solvers.dcdm.network import DCDMNet, NetConfig  # noqa: E402
from solvers.dcdm.training import (  # noqa: E402
    TrainConfig,
    dcdm_loss,
    lanczos_ritz,
    make_training_system,
    sample_rhs,
    train,
    training_systems,
)


def test_lanczos_ritz_pairs_match_eigsh():
    s = poisson_system((9, 8, 7), boundary="dirichlet")
    vals, vecs = lanczos_ritz(s.A, 150, seed=0)
    assert np.all(np.diff(vals) >= 0)
    V = vecs.astype(np.float64)
    np.testing.assert_allclose(V.T @ V, np.eye(V.shape[1]), atol=1e-5)
    ref_lo = spla.eigsh(s.A, 4, sigma=0, which="LM")[0]
    ref_hi = spla.eigsh(s.A, 4, which="LA")[0]
    np.testing.assert_allclose(vals[:4], np.sort(ref_lo), rtol=1e-8)
    np.testing.assert_allclose(vals[-4:], np.sort(ref_hi), rtol=1e-8)
    # converged Ritz vectors are eigenvectors
    for i in (0, 1, -1):
        r = s.A @ V[:, i] - vals[i] * V[:, i]
        assert np.linalg.norm(r) < 1e-4 * vals[i] + 1e-5
    # a full run finds every distinct eigenvalue (one Krylov vector per eigenspace), then
    # stops on the invariant subspace
    small = poisson_system((4, 3, 3), boundary="dirichlet")
    v_all, _ = lanczos_ritz(small.A, 36, seed=1)
    distinct = np.unique(np.round(np.linalg.eigvalsh(small.A.toarray()), 9))
    np.testing.assert_allclose(v_all, distinct, atol=1e-9)


def test_neumann_null_space_is_dropped():
    s = poisson_system((6, 6, 5), boundary="neumann")
    vals, vecs = lanczos_ritz(s.A, 180, seed=0)
    assert vals.min() > 1e-3
    assert np.abs(vecs.astype(np.float64).sum(axis=0)).max() < 1e-3


def test_training_rhs_are_unit_norm_smooth_and_zero_in_solids():
    s, _ = smoke_problem(10, layout="spheres", seed=4)
    ts = make_training_system(s, m=200, seed=0)
    b = sample_rhs(ts, 16, torch.Generator().manual_seed(0)).reshape(16, -1).double().numpy()
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-5)
    assert np.abs(b[:, ~s.fluid.ravel()]).max() == 0
    V = ts.vectors.double().numpy()
    k = V.shape[1]
    coef = b[:, ts.fluid_index.numpy()] @ V
    n_low = int(round(0.55 * k))  # m/2 + θ with θ = m/20
    low = (coef[:, :n_low] ** 2).sum(1)
    assert np.all(low > 0.95)  # the boosted modes carry ~99 % of the energy
    assert np.all(low < 0.9999)


def test_loss_is_zero_for_the_inverse_and_scale_invariant():
    s, _ = smoke_problem(8, layout="sphere", seed=0)
    ts = make_training_system(s, m=100, seed=0)
    b = sample_rhs(ts, 4, torch.Generator().manual_seed(1))
    lu = spla.splu(s.A.tocsc())

    class Inverse(torch.nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def gates(self, geometry):
            return None

        def forward(self, r, gates):
            x = lu.solve(r.reshape(r.shape[0], -1).double().numpy().T).T
            return self.c * torch.from_numpy(x).float().reshape(r.shape)

    assert float(dcdm_loss(Inverse(1.0), ts, b)) < 1e-10
    net = DCDMNet(NetConfig(channels=3))
    with torch.no_grad():
        base = float(dcdm_loss(net, ts, b))
        net.lift.weight.mul_(-3.0)  # f → -3 f
        assert abs(float(dcdm_loss(net, ts, b)) - base) < 1e-5 * base


def test_loss_decreases_when_training_a_few_steps_on_a_tiny_grid():
    systems = training_systems([(8, 8, 8), (8, 8, 8)], m=60, seed=3)
    torch.manual_seed(0)
    model, hist = train(
        systems,
        NetConfig(channels=4),
        TrainConfig(steps=30, batch_size=4, lr=3e-3, log_every=10, seed=0),
        threads=1,
    )
    ev = [v for _, v in hist["eval_loss"]]
    assert len(ev) == 4 and ev[-1] < 0.9 * ev[0], ev
    assert len(hist["loss"]) == 30 and np.isfinite(hist["loss"]).all()


def test_train_job_model_loads_and_solves_in_a_later_job(tmp_path):
    res = solvers.run(
        "dcdm_train",
        {},
        {"grid": 8, "geometries": 2, "lanczos": 60, "steps": 15, "batch_size": 4, "seed": 1},
        backend="cpu",
    )
    assert res.model.dtype == np.uint8 and res.n_iter == 15 and res.residuals.size == 15
    assert res.info["eval_loss"][-1][1] < res.info["eval_loss"][0][1]
    path = tmp_path / "m.pt"
    path.write_bytes(res.model.tobytes())
    assert load_model(str(path), 3).meta["trained_with"] == "dcdm_train"
    s, b = smoke_problem(12, layout="bunny", seed=5)
    for model in (res.model, str(path)):
        as_input = not isinstance(model, str)
        out = solvers.run(
            "dcdm",
            {"A": s.A, "b": b, **({"model": model} if as_input else {})},
            {"grid_shape": s.grid_shape, "rtol": 1e-6, **({} if as_input else {"model": model})},
            backend="cpu",
        )
        assert out.converged and np.linalg.norm(b - s.A @ out.x) <= 1e-6 * np.linalg.norm(b)


def test_train_job_on_a_given_matrix_and_continued():
    s, _ = smoke_problem(8, layout="sphere", seed=2)
    first = solvers.run("dcdm_train", {"A": s.A}, {"grid": 8, "lanczos": 50, "steps": 5})
    second = solvers.run(
        "dcdm_train", {"A": s.A, "model": first.model}, {"grid": 8, "lanczos": 50, "steps": 5}
    )
    assert second.info["systems"] == ["input A"]
    assert second.info["eval_loss"][0][1] == pytest.approx(first.info["eval_loss"][-1][1], rel=0.3)


def test_cli_train_writes_a_model_file(tmp_path, capsys):
    from service.cli import main

    out = tmp_path / "cli.pt"
    rc = main(
        [
            "train",
            "dcdm",
            "--grid",
            "8",
            "--steps",
            "4",
            "--geometries",
            "1",
            "--lanczos",
            "40",
            "--batch-size",
            "2",
            "-o",
            str(out),
            "--backend",
            "cpu",
        ]
    )
    assert rc == 0 and out.stat().st_size > 1000
    m = load_model(str(out), 3)
    s, b = smoke_problem(8, layout="none", seed=0)
    assert dcdm(s, b, model=m).converged


@pytest.mark.parametrize(
    "params, field",
    [
        ({"grid": 2}, "params.grid"),
        ({"grid": [8, 8], "ndim": 3}, "params.grid"),
        ({"steps": 0}, "params.steps"),
        ({"nope": 1}, "params.nope"),
    ],
)
def test_bad_train_params(params, field):
    with pytest.raises(solvers.InvalidProblemError) as exc:
        solvers.prepare("dcdm_train", {}, params)
    assert exc.value.field == field
