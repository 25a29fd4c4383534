"""Training data and training loop of the DCDM network (PyTorch; imported lazily).

Training data (Kaneda et al. 2023, Sec. "training"): right-hand sides built from the
**Ritz vectors** of the training matrix. Lanczos with full reorthogonalization runs ``m``
steps on the matrix restricted to the fluid cells (start vector ``A·randn``); the
eigenvectors of the tridiagonal matrix give Ritz values ``λ_1 ≤ … ≤ λ_m`` and Ritz
vectors ``v_i``; those with ``λ < 1e-8·λ_max`` (the Neumann null space) are dropped. A
sample is ``b = Σ c_i v_i / ‖·‖`` with ``c_i ~ N(0, 1)``, where the coefficients of the
lowest ``m/2 + θ`` Ritz vectors are multiplied by 9 — the smooth modes that Krylov
methods converge on last. We draw fresh coefficients for every batch (the paper stores
20,000 samples; on-the-fly draws are the same distribution without the disk).

Loss (scale-invariant, unsupervised): for ``f = net(b)``,
``L(b) = ‖b − (fᵀb / fᵀAf) A f‖²``, the residual after the A-norm-optimal step along
``f``; averaged over the batch. No solutions are needed and the unknown scale of
``f ≈ c·A⁻¹`` drops out.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
import torch

from .network import (
    DCDMModel,
    DCDMNet,
    NetConfig,
    VCycleNet,
    build_net,
    geometry_channels,
    n_parameters,
)
from .poisson import PoissonSystem
from .system import analyze


# -- Lanczos / Ritz vectors ----------------------------------------------------------------
def lanczos_ritz(
    A: Any,  # noqa: N803
    m: int,
    *,
    seed: int = 0,
    null_tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray]:
    """Ritz pairs of the symmetric matrix ``A`` from ``m`` Lanczos steps.

    Full reorthogonalization (classical Gram–Schmidt against all previous vectors,
    repeated once when it cancels); start vector ``A·randn`` as in the reference data.

    Parameters
    ----------
    A : (n, n) sparse symmetric matrix
    m : int
        Lanczos steps (capped at ``n``).
    seed : int
    null_tol : float
        Ritz values below ``null_tol · λ_max`` are treated as null space and dropped.

    Returns
    -------
    values : (k,) ndarray
        Ritz values in ascending order.
    vectors : (n, k) ndarray of float32
        The corresponding Ritz vectors (orthonormal columns).
    """
    n = A.shape[0]
    m = int(min(m, n))
    rng = np.random.default_rng(seed)
    Q = np.empty((m, n), dtype=np.float64)  # noqa: N806 - Lanczos vectors as rows
    alpha = np.zeros(m)
    beta = np.zeros(m)
    v = A @ rng.standard_normal(n)
    Q[0] = v / np.linalg.norm(v)
    k_used = m
    for j in range(m):
        w = A @ Q[j]
        alpha[j] = Q[j] @ w
        w -= alpha[j] * Q[j]
        if j > 0:
            w -= beta[j - 1] * Q[j - 1]
        # full reorthogonalization; a second pass only when the first lost digits
        # (Kahan–Parlett "twice is enough")
        before = float(np.linalg.norm(w))
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        bnorm = float(np.linalg.norm(w))
        if bnorm < 0.7 * before:
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
            bnorm = float(np.linalg.norm(w))
        if j + 1 == m:
            break
        if bnorm < 1e-10 * max(1.0, abs(alpha[j])):
            k_used = j + 1  # invariant subspace found
            break
        beta[j] = bnorm
        Q[j + 1] = w / bnorm
    alpha, beta = alpha[:k_used], beta[: k_used - 1]
    vals, W = scipy.linalg.eigh_tridiagonal(alpha, beta)  # noqa: N806
    keep = vals > null_tol * max(float(vals.max()), 1e-300)
    vals, W = vals[keep], W[:, keep]  # noqa: N806
    vecs = (Q[:k_used].T @ W).astype(np.float32)
    return vals, vecs


@dataclass(eq=False)
class TrainingSystem:
    """One training matrix with its Ritz basis (what :func:`train` draws from)."""

    grid_shape: tuple[int, ...]
    A: torch.Tensor  # sparse CSR float32 (n × n)
    fluid_index: torch.Tensor  # (n_f,) long, fluid cells in the flat grid
    values: np.ndarray
    vectors: torch.Tensor  # (n_f, k) float32
    name: str = ""
    mask: torch.Tensor | None = None  # (1, 1, *grid) float32
    geometry: torch.Tensor | None = None  # (1, 2, *grid) float32
    analysis: Any = None  # host Analysis (the V-cycle net builds its hierarchy from it)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(np.prod(self.grid_shape))


def make_training_system(
    system: PoissonSystem | tuple[Any, tuple[int, ...]],
    *,
    m: int,
    seed: int = 0,
    name: str = "",
) -> TrainingSystem:
    """Lanczos on the fluid block of ``system`` and pack everything as torch tensors."""
    an = analyze(system) if isinstance(system, PoissonSystem) else analyze(*system)
    A, shape, fluid = an.A, an.grid_shape, an.active  # noqa: N806
    active, share = an.geometry()
    idx = np.flatnonzero(fluid)
    A_ff = A[idx][:, idx].tocsr()  # noqa: N806
    vals, vecs = lanczos_ritz(A_ff, m, seed=seed)
    A32 = A.astype(np.float32)  # noqa: N806
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        A_t = torch.sparse_csr_tensor(  # noqa: N806
            torch.from_numpy(A32.indptr.astype(np.int64)),
            torch.from_numpy(A32.indices.astype(np.int64)),
            torch.from_numpy(A32.data),
            size=A32.shape,
            check_invariants=False,
        )
    mask = torch.zeros(int(np.prod(shape)), dtype=torch.float32)
    mask[torch.from_numpy(idx)] = 1.0
    return TrainingSystem(
        grid_shape=tuple(shape),
        A=A_t,
        fluid_index=torch.from_numpy(idx.astype(np.int64)),
        values=vals,
        vectors=torch.from_numpy(np.ascontiguousarray(vecs)),
        name=name,
        mask=mask.reshape(1, 1, *shape),
        geometry=geometry_channels(active, share, tuple(shape)),
        analysis=an,
    )


def _to_device(ts: TrainingSystem, device: str) -> TrainingSystem:
    if device == "cpu":
        return ts
    return TrainingSystem(
        grid_shape=ts.grid_shape,
        A=ts.A.to(device),
        fluid_index=ts.fluid_index.to(device),
        values=ts.values,
        vectors=ts.vectors.to(device),
        name=ts.name,
        mask=ts.mask.to(device),
        geometry=ts.geometry.to(device),
        analysis=ts.analysis,
        cache=ts.cache,
    )


def sample_rhs(
    ts: TrainingSystem,
    batch: int,
    generator: torch.Generator,
    theta_frac: float = 0.05,
    low_boost: float = 9.0,
) -> torch.Tensor:
    """``batch`` unit-norm right-hand sides on the grid, shape (batch, 1, *grid).

    The coefficients are drawn on the CPU (``generator``), so the data do not depend on
    the device.
    """
    k = ts.vectors.shape[1]
    c = torch.randn(k, batch, generator=generator)
    n_low = min(k, int(round(k / 2 + theta_frac * k)))
    c[:n_low] *= low_boost
    bf = ts.vectors @ c.to(ts.vectors.device)  # (n_f, batch)
    bf /= bf.norm(dim=0, keepdim=True)
    b = torch.zeros(ts.n, batch, device=bf.device)
    b[ts.fluid_index] = bf
    return b.T.reshape(batch, 1, *ts.grid_shape).contiguous()


def vcycle_prep(net: VCycleNet, ts: TrainingSystem, device: Any) -> dict[str, Any]:
    """The V-cycle hierarchy of a training system as torch tensors (cached per device)."""
    key = f"vcycle:{device}:{net.config.coarsest}"
    prep = ts.cache.get(key)
    if prep is None:
        from .multigrid import build_hierarchy

        an = ts.analysis
        active, share = an.geometry()
        levels = build_hierarchy(an.A, an.grid_shape, active, share, coarsest=net.config.coarsest)
        prep = net.prepare(levels, str(device))
        ts.cache[key] = prep
    return prep


def dcdm_loss(
    net: DCDMNet | VCycleNet,
    ts: TrainingSystem,
    b: torch.Tensor,
    unroll: int = 1,
    n_orth: int = 2,
) -> torch.Tensor:
    """Mean over the batch of ``‖r_k‖²`` after ``k = unroll`` DCDM steps from ``x = 0``.

    ``unroll = 1`` is the paper's loss ``‖b − (fᵀb/fᵀAf) A f‖²`` with ``f = mask·net(b)``.
    For ``k > 1`` the steps are those of :func:`~solvers.dcdm.krylov.conjugate_directions`
    (the net on the current residual, A-orthogonalized against the last ``n_orth``
    directions, exact line search), differentiated through: the loss then measures the
    convergence of the method itself, not only its first step. Scale-invariant for every
    ``k``.
    """
    if isinstance(net, VCycleNet):
        prep = vcycle_prep(net, ts, b.device)
        wd = net.smoother_weights(prep)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return net(v, prep, wd) * ts.mask

    else:
        gates = net.gates(ts.geometry)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return net(v, gates) * ts.mask

    B = b.shape[0]  # noqa: N806
    r = b.reshape(B, -1).T  # (n, B)
    dirs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for _ in range(max(1, int(unroll))):
        ff = apply(r.T.reshape(b.shape)).reshape(B, -1).T
        af = ts.A @ ff
        for p, ap, pap in dirs:
            beta = (ff * ap).sum(0) / pap
            ff = ff - beta * p
            af = af - beta * ap
        den = (ff * af).sum(0).clamp_min(1e-30)
        alpha = (ff * r).sum(0) / den
        r = r - alpha * af
        if n_orth > 0:
            dirs.append((ff, af, den))
            if len(dirs) > n_orth:
                dirs.pop(0)
    return (r * r).sum(0).mean()


@dataclass
class TrainConfig:
    """Optimizer settings of :func:`train` (Adam, as in the reference code)."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    lr_final: float = 1e-4
    theta_frac: float = 0.05
    low_boost: float = 9.0
    unroll: int = 1
    seed: int = 0
    grad_clip: float = 1.0
    log_every: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


def train(
    systems: Sequence[TrainingSystem],
    net_config: NetConfig | None = None,
    cfg: TrainConfig | None = None,
    *,
    init: DCDMModel | None = None,
    callback: Callable[[int, float, float], bool | None] | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> tuple[DCDMModel, dict[str, Any]]:
    """Train a :class:`DCDMNet` with the scale-invariant loss on the given systems.

    Each step draws one system (round robin) and a batch of Ritz right-hand sides from
    it; Adam with a cosine learning-rate schedule from ``lr`` to ``lr_final``.

    Parameters
    ----------
    systems : sequence of TrainingSystem
    net_config : NetConfig, optional
        Ignored when ``init`` is given.
    cfg : TrainConfig, optional
    init : DCDMModel, optional
        Continue training this model.
    callback : callable, optional
        ``callback(step, loss, elapsed) -> stop?`` after every step.
    threads : int, optional
        ``torch.set_num_threads`` for the run (restored afterwards).
    device : str
        torch device of the net and the training matrices (``"cpu"``, ``"cuda"``).

    Returns
    -------
    model : DCDMModel
    history : dict
        ``loss`` (per step), ``eval_loss`` (fixed evaluation batches, per ``log_every``
        steps), ``seconds``, ``steps``, ``stopped``.
    """
    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        if init is not None:
            net = init.net
            ncfg = init.config
        else:
            ncfg = net_config or NetConfig()
            net = build_net(ncfg)
        if any(ts.grid_shape and len(ts.grid_shape) != ncfg.ndim for ts in systems):
            raise ValueError(f"the net is {ncfg.ndim}-D but a training grid is not")
        net = net.to(device)
        systems = [_to_device(ts, device) for ts in systems]
        net.train()
        gen = torch.Generator().manual_seed(cfg.seed)
        eval_gen = torch.Generator().manual_seed(cfg.seed + 7919)
        eval_batches = [
            (ts, sample_rhs(ts, cfg.batch_size, eval_gen, cfg.theta_frac, cfg.low_boost))
            for ts in systems
        ]
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        losses: list[float] = []
        eval_losses: list[tuple[int, float]] = []
        t0 = time.perf_counter()
        stopped = False

        def evaluate() -> float:
            with torch.no_grad():
                return float(
                    np.mean([float(dcdm_loss(net, ts, b, cfg.unroll)) for ts, b in eval_batches])
                )

        eval_losses.append((0, evaluate()))
        step = 0
        for step in range(1, cfg.steps + 1):
            frac = (step - 1) / max(1, cfg.steps - 1)
            lr = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * frac))
            for g in opt.param_groups:
                g["lr"] = lr
            ts = systems[(step - 1) % len(systems)]
            b = sample_rhs(ts, cfg.batch_size, gen, cfg.theta_frac, cfg.low_boost)
            loss = dcdm_loss(net, ts, b, cfg.unroll)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(float(loss.detach()))
            if step % cfg.log_every == 0 or step == cfg.steps:
                eval_losses.append((step, evaluate()))
            if callback is not None and callback(step, losses[-1], time.perf_counter() - t0):
                stopped = True
                break
        net = net.to("cpu").eval()
        history = {
            "loss": losses,
            "eval_loss": eval_losses,
            "seconds": time.perf_counter() - t0,
            "steps": step,
            "stopped": stopped,
            "parameters": n_parameters(net),
        }
        return DCDMModel(net=net, config=ncfg), history
    finally:
        torch.set_num_threads(old_threads)


# -- generated training geometries -----------------------------------------------------------
def random_geometry(
    grid_shape: Sequence[int], rng: np.random.Generator, kind: str | None = None
) -> PoissonSystem:
    """A random training system: box conditions and obstacles drawn from ``rng``.

    Kinds: ``"smoke"`` (closed box with one open face, the most common), ``"dirichlet"``
    (open box), ``"neumann"`` (closed box: singular), ``"mixed"`` (each face at random,
    at least one open), each with random obstacles (none, balls or boxes).
    """
    from .poisson import poisson_system
    from .problems import obstacles

    shape = tuple(int(s) for s in grid_shape)
    nd = len(shape)
    if kind is None:
        kind = rng.choice(["smoke", "smoke", "smoke", "dirichlet", "neumann", "mixed"])
    if kind == "smoke":
        faces = ["neumann"] * (2 * nd)
        faces[int(rng.integers(2 * nd))] = "dirichlet"
    elif kind == "dirichlet":
        faces = ["dirichlet"] * (2 * nd)
    elif kind == "neumann":
        faces = ["neumann"] * (2 * nd)
    else:
        faces = list(rng.choice(["neumann", "dirichlet"], 2 * nd))
        if "dirichlet" not in faces:
            faces[int(rng.integers(2 * nd))] = "dirichlet"
    layout = rng.choice(["none", "spheres", "spheres", "boxes", "boxes"])
    solid = obstacles(shape, str(layout), seed=int(rng.integers(1 << 31)))
    sys = poisson_system(shape, solid=solid, boundary=tuple(faces))
    sys.info["kind"] = f"{kind}/{layout}"
    return sys


def training_systems(
    grids: Sequence[Sequence[int]],
    *,
    m: int,
    seed: int = 0,
    callback: Callable[[int, int], Any] | None = None,
) -> list[TrainingSystem]:
    """One random geometry (:func:`random_geometry`) per entry of ``grids``, with Ritz data.

    The first system of each grid size is the plain smoke box without obstacles (the
    reference code's training domain).
    """
    # one independent generator per system (consecutive draws from a single generator
    # with this draw pattern gave correlated kinds)
    children = np.random.SeedSequence(seed).spawn(len(grids))
    out = []
    seen: set[tuple[int, ...]] = set()
    for i, shape in enumerate(grids):
        rng = np.random.default_rng(children[i])
        shape = tuple(int(s) for s in shape)
        if shape not in seen:
            from .poisson import poisson_system
            from .problems import SMOKE_BOUNDARY_2D, SMOKE_BOUNDARY_3D

            bc = SMOKE_BOUNDARY_3D if len(shape) == 3 else SMOKE_BOUNDARY_2D
            sys = poisson_system(shape, boundary=bc)
            sys.info["kind"] = "smoke/none"
            seen.add(shape)
        else:
            sys = random_geometry(shape, rng)
        mm = min(m, int(sys.fluid.sum()) // 2)
        ts = make_training_system(sys, m=mm, seed=seed + i, name=sys.info["kind"])
        out.append(ts)
        if callback is not None:
            callback(i + 1, len(grids))
    return out
