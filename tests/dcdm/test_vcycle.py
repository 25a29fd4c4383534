"""The V-cycle network: hierarchy, symmetry / positivity, CPU kernels vs torch, loss."""

import numpy as np
import pytest
import scipy.sparse

torch = pytest.importorskip("torch")

from solvers.dcdm import dcdm, load_model, smoke_problem  # noqa: E402
from solvers.dcdm.multigrid import CPUVCycle, _interp, build_hierarchy  # noqa: E402
from solvers.dcdm.network import (  # noqa: E402
    DCDMModel,
    DCDMNet,
    NetConfig,
    VCycleNet,
)
from solvers.dcdm.system import analyze  # noqa: E402


def hierarchy(system, **kw):
    an = analyze(system)
    a, d = an.geometry()
    return build_hierarchy(an.A, an.grid_shape, a, d, **kw)


def perturbed(ndim, nu=1, seed=0, scale=0.5):
    torch.manual_seed(seed)
    net = VCycleNet(NetConfig(ndim=ndim, nu=nu))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(scale * torch.randn_like(p))
    return net


def apply(net, prep, x, shape):
    with torch.no_grad():
        t = torch.from_numpy(x.astype(np.float32)).reshape(1, 1, *shape)
        return net(t, prep).reshape(-1).double().numpy()


@pytest.mark.parametrize(
    "shape, layout, bc",
    [
        ((12, 10, 9), "bunny", None),
        ((13, 11), "spheres", "dirichlet"),
        ((9, 9, 9), "boxes", "neumann"),
    ],
)
def test_hierarchy_is_galerkin_with_constant_preserving_transfers(shape, layout, bc):
    s, _ = smoke_problem(shape, layout=layout, seed=2, boundary=bc)
    lv = hierarchy(s, max_coarse=10)
    assert len(lv) >= 3 and lv[-1].coarse_inv is not None
    for fine, coarse in zip(lv[:-1], lv[1:]):
        # reference: the tensor-product interpolation, Shepard-normalized
        U, cshape = _interp(fine.shape)  # noqa: N806
        assert cshape == coarse.shape
        om = coarse.geometry[0].reshape(-1).astype(np.float64)
        Uc = U[fine.index][:, coarse.index] @ scipy.sparse.diags(om[coarse.index])  # noqa: N806
        P = scipy.sparse.diags(1 / np.asarray(Uc.sum(axis=1)).ravel()) @ Uc  # noqa: N806
        assert abs(P - fine.P).max() < 1e-6
        np.testing.assert_allclose(np.asarray(fine.P.sum(axis=1)).ravel(), 1.0, atol=1e-6)
        G = (P.T @ fine.A.astype(np.float64) @ P).tocsr()  # noqa: N806
        assert abs(G - coarse.A).max() < 1e-5 * abs(coarse.A).max()
        assert abs(coarse.A - coarse.A.T).max() < 1e-6 * abs(coarse.A).max()  # float32
        assert (coarse.wmax > 0).all()


@pytest.mark.parametrize(
    "shape, layout, bc, nu",
    [
        ((10, 9, 7), "bunny", None, 1),
        ((9, 9, 9), "boxes", "neumann", 2),
        ((13, 11), "spheres", None, 1),
    ],
)
def test_vcycle_net_is_linear_symmetric_positive_and_cpu_matches_torch(shape, layout, bc, nu):
    net = perturbed(len(shape), nu=nu)
    s, _ = smoke_problem(shape, layout=layout, seed=2, boundary=bc)
    lv = hierarchy(s, max_coarse=10)
    prep = net.prepare(lv)
    an = analyze(s)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, s.n)) * an.active
    if bc == "neumann":  # singular: positive on the range (zero mean)
        x, y = an.project(x), an.project(y)
    fx, fy = apply(net, prep, x, shape), apply(net, prep, y, shape)
    scale = np.linalg.norm(fx) * np.linalg.norm(y)
    assert abs(fx @ y - x @ fy) < 1e-5 * scale
    assert fx @ x > 0 and fy @ y > 0
    assert np.all(fx[~an.active] == 0)
    np.testing.assert_allclose(
        apply(net, prep, 2 * x - 3 * y, shape), 2 * fx - 3 * fy, atol=1e-5 * np.abs(fx).max()
    )
    with torch.no_grad():
        wd = net.smoother_weights(prep)
    cpu = CPUVCycle(lv, [w.numpy() for w in wd])
    cx = np.zeros(s.n)
    cx[lv[0].index] = cpu(x[lv[0].index])
    assert np.abs(cx - fx).max() <= 1e-5 * np.abs(fx).max()


@pytest.mark.parametrize("gate_bias", [-6.0, 8.0])
def test_any_gates_keep_the_method_convergent(gate_bias):
    # gates near 0 (weak smoothing) or near 1 (the l1 bound): still SPD, DCDM converges
    net = VCycleNet(NetConfig())
    with torch.no_grad():
        net.geo2.bias.fill_(gate_bias)
    model = DCDMModel(net=net, config=net.config)
    s, b = smoke_problem(16, layout="bunny", seed=4)
    res = dcdm(s, b, model=model, rtol=1e-8, maxiter=400)
    assert res.converged and "breakdown" not in res.info


def test_untrained_vcycle_counts_are_flat():
    model = DCDMModel(net=VCycleNet(NetConfig()), config=NetConfig())
    its = []
    for n in (12, 24, 48):
        s, b = smoke_problem(n, layout="bunny", seed=11)
        its.append(dcdm(s, b, model=model, rtol=1e-6).n_iter)
    assert max(its) <= min(its) + 2 and max(its) <= 14, its


def test_vcycle_model_roundtrip_and_bpx_files_still_load(tmp_path):
    net = perturbed(3)
    model = DCDMModel(net=net, config=net.config, meta={"k": 1})
    path = tmp_path / "v.pt"
    model.save(path)
    back = load_model(str(path), 3)
    assert isinstance(back.net, VCycleNet) and back.config.arch == "vcycle"
    for a, b in zip(net.state_dict().values(), back.net.state_dict().values()):
        assert torch.equal(a, b)
    old = load_model("poisson3d_bpx", 3)  # a version-1 file (no "arch")
    assert isinstance(old.net, DCDMNet) and old.config.arch == "bpx"
    assert isinstance(load_model("default", 3).net, VCycleNet)
    s, b = smoke_problem(12, layout="sphere", seed=1)
    r1 = dcdm(s, b, model=model, rtol=1e-6)
    r2 = dcdm(s, b, model=str(path), rtol=1e-6)
    assert r1.n_iter == r2.n_iter and np.allclose(r1.x, r2.x, rtol=1e-6, atol=1e-9)


def test_unrolled_loss_is_the_paper_loss_for_one_step_and_scale_invariant():
    from solvers.dcdm.training import dcdm_loss, sample_rhs, training_systems, vcycle_prep

    ts = training_systems([(8, 8, 8)], m=40, seed=1)[0]
    net = perturbed(3, scale=0.2)
    b = sample_rhs(ts, 3, torch.Generator().manual_seed(0))
    with torch.no_grad():
        one = float(dcdm_loss(net, ts, b, unroll=1))
        f = net(b, vcycle_prep(net, ts, "cpu"))
        f = (f * ts.mask).reshape(3, -1).T
        bb = b.reshape(3, -1).T
        af = ts.A @ f
        res = bb - ((f * bb).sum(0) / (f * af).sum(0)) * af
        assert one == pytest.approx(float((res * res).sum(0).mean()), rel=1e-5)
        three = float(dcdm_loss(net, ts, b, unroll=3))
        assert three < one
        # the loss does not depend on the scale of the net
        three_scaled = float(dcdm_loss(_Scaled(net, 7.0), ts, b, unroll=3))
        assert three_scaled == pytest.approx(three, rel=1e-3)


class _Scaled(VCycleNet):
    def __init__(self, inner, c):
        torch.nn.Module.__init__(self)
        self.inner, self.c, self.config = inner, c, inner.config

    def smoother_weights(self, prep):
        return self.inner.smoother_weights(prep)

    def forward(self, r, prep, wd=None):
        return self.c * self.inner(r, prep, wd)


def test_torch_code_path_gives_the_same_iterates_as_the_cpu_kernels():
    # the GPU runs the torch module; here the same module on the CPU
    from solvers._backend import get_backend
    from solvers.dcdm.krylov import conjugate_directions
    from solvers.dcdm.network import NetworkDirection
    from solvers.dcdm.system import Operator

    s, b = smoke_problem((20, 18, 16), layout="boxes", seed=6, boundary="neumann")
    model = load_model("poisson3d", 3)
    out = []
    for torch_path in (False, True):
        op = Operator(analyze(s), get_backend("cpu"))
        direction = NetworkDirection(model, op, torch_path=torch_path)
        assert (direction.cpu_cycle is None) == torch_path
        out.append(conjugate_directions(op, b.copy(), direction, rtol=1e-8, maxiter=100))
    assert out[0].converged and out[1].converged
    assert abs(out[0].n_iter - out[1].n_iter) <= 1
    assert np.linalg.norm(out[0].x - out[1].x) <= 1e-6 * np.linalg.norm(out[0].x)


@pytest.mark.parametrize("params", [{"arch": "bpx", "channels": 2}, {"unroll": 2, "nu": 2}])
def test_train_job_architectures_and_unrolled_loss(params):
    import solvers

    res = solvers.run(
        "dcdm_train",
        {},
        {"grid": 8, "geometries": 1, "lanczos": 40, "steps": 3, "batch_size": 2, **params},
        backend="cpu",
    )
    m = load_model(res.model, 3)
    assert m.config.arch == params.get("arch", "vcycle")
    assert isinstance(m.net, DCDMNet if m.config.arch == "bpx" else VCycleNet)
    if "nu" in params:
        assert m.config.nu == 2 and m.meta["unroll"] == 2
    s, b = smoke_problem(10, layout="sphere", seed=1)
    assert dcdm(s, b, model=m, rtol=1e-6).converged


def test_reuse_setup_for_the_same_matrix():
    from solvers.dcdm import network

    network._SETUP_CACHE.clear()
    s, b = smoke_problem(20, layout="bunny", seed=3)
    first = dcdm(s, b, rtol=1e-8, reuse_setup=True)
    again = dcdm(s, 2 * b, rtol=1e-8, reuse_setup=True)
    assert not first.info["setup_reused"] and again.info["setup_reused"]
    assert again.n_iter == first.n_iter and np.allclose(again.x, 2 * first.x, rtol=1e-6, atol=1e-9)
    s2, b2 = smoke_problem(20, layout="boxes", seed=3)  # another matrix: rebuilt
    other = dcdm(s2, b2, rtol=1e-8, reuse_setup=True)
    assert not other.info["setup_reused"] and other.converged
    plain = dcdm(s, b, rtol=1e-8)  # default: no reuse
    assert not plain.info["setup_reused"] and plain.n_iter == first.n_iter
    network._SETUP_CACHE.clear()
