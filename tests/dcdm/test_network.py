"""The DCDM network: symmetric, positive, linear; transfers; saving and loading models."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from solvers import BackendUnavailableError, InvalidProblemError  # noqa: E402
from solvers.dcdm import dcdm, load_model, poisson_system, smoke_problem  # noqa: E402
from solvers.dcdm.network import (  # noqa: E402
    DCDMModel,
    DCDMNet,
    NetConfig,
    geometry_channels,
)
from solvers.dcdm.system import analyze  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def levels_for(net, system):
    a, d = analyze(system).geometry()
    with torch.no_grad():
        return net.gates(geometry_channels(a, d, system.grid_shape))


def apply(net, lv, x, shape):
    with torch.no_grad():
        t = torch.from_numpy(x.astype(np.float32)).reshape(1, 1, *shape)
        return net(t, lv).reshape(-1).double().numpy()


@pytest.mark.parametrize(
    "shape, layout, bc",
    [((10, 9, 7), "bunny", None), ((9, 9, 9), "boxes", "neumann"), ((13, 11), "spheres", None)],
)
def test_net_is_linear_symmetric_and_positive(shape, layout, bc):
    torch.manual_seed(0)
    net = DCDMNet(NetConfig(ndim=len(shape), channels=4))
    with torch.no_grad():  # a trained-looking net: perturb every weight
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    s, _ = smoke_problem(shape, layout=layout, seed=2, boundary=bc)
    lv = levels_for(net, s)
    rng = np.random.default_rng(0)
    fluid = s.fluid.ravel()
    x, y = rng.standard_normal((2, s.n)) * fluid
    fx, fy = apply(net, lv, x, shape), apply(net, lv, y, shape)
    scale = np.linalg.norm(fx) * np.linalg.norm(y)
    assert abs(fx @ y - x @ fy) < 1e-5 * scale
    assert fx @ x > 0 and fy @ y > 0
    np.testing.assert_allclose(
        apply(net, lv, 2 * x - 3 * y, shape), 2 * fx - 3 * fy, atol=1e-5 * np.abs(fx).max()
    )


@pytest.mark.parametrize("shape", [(7, 6, 5), (8, 8, 8), (9, 1, 4), (5, 6)])
def test_transfers_are_adjoint_and_interpolate_constants(shape):
    net = DCDMNet(NetConfig(ndim=len(shape), channels=2))
    kernel = tuple(2 if s > 1 else 1 for s in shape)
    coarse = tuple((s + 1) // 2 if k == 2 else s for s, k in zip(shape, kernel))
    x = torch.randn(1, 2, *coarse, dtype=torch.float64)
    y = torch.randn(1, 2, *shape, dtype=torch.float64)
    lhs = float((net._interp(x, kernel, shape) * y).sum())
    rhs = float((x * net._interp_t(y, kernel)).sum())
    assert abs(lhs - rhs) < 1e-12 * abs(lhs)
    ones = net._interp(torch.ones(1, 1, *coarse, dtype=torch.float64), kernel, shape)
    inner = tuple(slice(1, -1) if k == 2 else slice(None) for k in kernel)
    assert torch.allclose(ones[(0, 0) + inner], torch.tensor(1.0, dtype=torch.float64))


def test_untrained_net_is_a_multilevel_preconditioner():
    # the initialization is an additive multilevel (BPX-type) preconditioner: the
    # condition number of M A stays small and grows slowly with the grid
    net = DCDMNet(NetConfig(channels=2))
    net.reset_parameters(noise=0.0)
    kappas = []
    for n in (4, 8):
        s = poisson_system((n, n, n))
        lv = levels_for(net, s)
        with torch.no_grad():  # all unit vectors in one batch: the columns of M
            eye = torch.eye(s.n).reshape(s.n, 1, n, n, n)
            M = net(eye, lv).reshape(s.n, s.n).double().numpy().T
        ev = np.linalg.eigvals(M @ s.A.toarray()).real
        kappas.append(ev.max() / ev.min())
    cond_a = np.linalg.cond(poisson_system((8, 8, 8)).A.toarray())
    assert kappas[1] < 6 and kappas[1] < cond_a / 5 and kappas[1] < 1.6 * kappas[0], (
        kappas,
        cond_a,
    )


def test_model_bytes_roundtrip(tmp_path):
    torch.manual_seed(1)
    model = DCDMModel(net=DCDMNet(NetConfig(channels=3)), config=NetConfig(channels=3))
    model.meta["note"] = "x"
    data = model.to_bytes()
    s, b = smoke_problem(8, layout="sphere", seed=0)
    ref = dcdm(s, b, model=model, rtol=1e-8)
    path = tmp_path / "m.pt"
    model.save(path)
    for source in (data, np.frombuffer(data, np.uint8), str(path), path):
        m = load_model(source, 3)
        assert m.meta["note"] == "x" and m.config == model.config
        res = dcdm(s, b, model=source, rtol=1e-8)
        assert res.n_iter == ref.n_iter
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-10, atol=1e-14)


def test_bad_models_are_clear_errors(tmp_path):
    s, b = smoke_problem((12, 12), layout="none", seed=0)
    with pytest.raises(InvalidProblemError, match="not a DCDM model"):
        dcdm(s, b, model=b"not a model")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(InvalidProblemError, match="not a DCDM model"):
        dcdm(s, b, model=str(junk))
    with pytest.raises(InvalidProblemError, match="unknown DCDM model"):
        dcdm(s, b, model="no-such-model")
    model3 = DCDMModel(net=DCDMNet(NetConfig(ndim=3)), config=NetConfig(ndim=3))
    with pytest.raises(InvalidProblemError, match="3-D grids but the problem's grid is 2-D"):
        dcdm(s, b, model=model3)


def test_direction_is_masked_and_projected():
    s, b = smoke_problem((9, 8, 8), layout="spheres", seed=1, boundary="neumann")
    seen = []

    def cb(info):
        seen.append(info.iteration)

    res = dcdm(s, b, model=DCDMModel(net=DCDMNet(), config=NetConfig()), rtol=1e-8, callback=cb)
    assert res.converged and seen[-1] == res.n_iter
    assert np.all(res.x[~s.fluid.ravel()] == 0)
    assert abs(res.x[s.fluid.ravel()].mean()) < 1e-10


def test_import_solvers_does_not_import_torch():
    code = (
        "import sys, solvers, solvers.dcdm; solvers.list_solvers(); "
        "solvers.get_spec('dcdm'); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        check=True,
    ).stdout.strip()
    assert out == "False"


def test_without_torch_the_network_is_unavailable_but_callables_work():
    code = """
import sys
sys.modules['torch'] = None  # as if torch were not installed
import numpy as np
from solvers import BackendUnavailableError
from solvers.dcdm import dcdm, smoke_problem
s, b = smoke_problem(8, layout='none', seed=0)
try:
    dcdm(s, b)
except BackendUnavailableError as e:
    print('unavailable:', 'sparsehpc[torch]' in str(e))
print('cg:', dcdm(s, b, model=lambda r: r).converged)
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        check=True,
    ).stdout
    assert "unavailable: True" in out and "cg: True" in out


def test_gpu_backend_without_gpu_is_unavailable():
    from solvers import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    s, b = smoke_problem(6, layout="none", seed=0)
    with pytest.raises(BackendUnavailableError):
        dcdm(s, b, backend="gpu")
