"""The DCDM network (PyTorch): a symmetric multilevel convolutional net, shared weights.

This module imports torch at module level; it is imported lazily (only when a network is
built, loaded or trained), so ``import solvers`` never imports torch.

Architecture (:class:`DCDMNet`)
-------------------------------
The net maps a residual ``r`` on the grid to a search direction ``q ≈ c·A⁻¹ r``. It is a
multilevel (U-Net-like) convolutional net whose levels all share the same weights, built
as ``f(r) = Σ_l s^l E_lᵀ WᵀW E_l r`` with the encoder

    E_0 = G_1 K G_0 L            lift L (1×1 conv, 1 → C channels), conv K (C → C, 3^d),
    E_l = G_1 K G_0 P_lᵀ E_l−1   P_lᵀ: restriction to the next coarser grid

(``G``: positive per-cell, per-channel **geometry gates**, a small conv net of the two
geometry channels — fluid mask and Dirichlet share of the diagonal — computed once per
grid; ``W``: 1×1 channel mix; ``s = (4/2^d)·exp(σ)``, learned σ: the h² scaling of the
Laplacian between levels). The decoder is the exact adjoint of the encoder (transposed
convolutions with the same weights), so the net is **linear in r, symmetric and positive
semi-definite**: DCDM with it never stagnates (``qᵀr > 0``) and, with ``n_orth ≥ 1``, is
conjugate gradients preconditioned by the net.

Transfers: cell-centred linear interpolation ``P x = U(ω_c x) / U(ω_c)`` normalized by
the coarse fluid fraction ``ω_c`` (constants are kept up to walls and obstacles: the
Neumann condition), except on cells next to a Dirichlet face (the interpolant decays to
the boundary value there), and its exact adjoint as restriction. Levels go down to
``coarsest`` cells per axis, so the receptive field always covers the domain, and a net
trained on small grids applies unchanged to large ones.

Initialization (:meth:`DCDMNet.reset_parameters`): a smoothing stencil in ``K``, unit
gates and a little noise — the untrained net is an additive multilevel (BPX-type)
preconditioner; training with the DCDM loss learns the kernels, the gates (boundary and
obstacle handling) and the level scale.

Deviations from the paper's network (Kaneda et al. 2023, a Keras U-Net with ReLU, one
pooling level, no geometry input), and why: see ``docs/dcdm.md``.

References
----------
.. [1] A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, "A Deep Conjugate
   Direction Method for Iteratively Solving Linear Systems", ICML 2023, arXiv:2205.10763.
.. [2] J. H. Bramble, J. E. Pasciak, J. Xu, "Parallel multilevel preconditioners",
   Math. Comp. 55 (1990) — the additive multilevel form of the untrained net.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

FORMAT = "sparsehpc-dcdm"
FORMAT_VERSION = 2  # 2: NetConfig.arch / nu (version-1 files are BPX nets)
ARCHS = ("vcycle", "bpx")


@dataclass
class NetConfig:
    """Hyper-parameters of the network (stored with every saved model).

    ``arch``: ``"vcycle"`` (:class:`VCycleNet`, the shipped models) or ``"bpx"``
    (:class:`DCDMNet`, the additive multilevel net of the first version). ``nu``:
    smoothing steps before and after the coarse correction (V-cycle). ``channels``,
    ``n_conv``, ``kernel``, ``lift_kernel``, ``learn_scale``: BPX net only.
    """

    ndim: int = 3
    arch: str = "vcycle"
    nu: int = 1
    channels: int = 8
    n_conv: int = 1
    coarsest: int = 2
    kernel: int = 3
    geometry: bool = True
    geo_channels: int = 8
    lift_kernel: int = 1
    learn_scale: bool = True

    def validate(self) -> None:
        if self.ndim not in (2, 3):
            raise ValueError("ndim must be 2 or 3")
        if self.channels < 1 or self.n_conv < 1 or self.coarsest < 1 or self.kernel % 2 != 1:
            raise ValueError("bad channels / n_conv / coarsest / kernel")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.nu < 1:
            raise ValueError("nu must be >= 1")


def geometry_channels(active: Any, dirichlet: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """The two geometry channels the net reads, shape (1, 2, *shape), float32.

    ``active``: 1 on active (fluid) cells; ``dirichlet``: the share of a cell's diagonal
    that comes from Dirichlet faces (``rowsum(A)_i / A_ii``, 0 inside the fluid and at
    Neumann walls, > 0 next to a Dirichlet face or an air cell).
    """
    a = torch.as_tensor(active, dtype=torch.float32).reshape(1, 1, *shape)
    d = torch.as_tensor(dirichlet, dtype=torch.float32).reshape(1, 1, *shape)
    return torch.cat([a, d], dim=1)


class DCDMNet(nn.Module):
    """Symmetric multilevel convolutional net (see the module doc).

    ``forward(r, gates)`` with ``gates = net.gates(geometry)`` computed once per grid.
    """

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        from dataclasses import replace

        cfg = replace(config or NetConfig(), arch="bpx")
        cfg.validate()
        self.config = cfg
        conv = nn.Conv3d if cfg.ndim == 3 else nn.Conv2d
        k, c, pad = cfg.kernel, cfg.channels, cfg.kernel // 2
        self.lift = conv(1, c, cfg.lift_kernel, padding=cfg.lift_kernel // 2, bias=False)
        self.convs = nn.ModuleList(
            conv(c, c, k, padding=pad, bias=False) for _ in range(cfg.n_conv)
        )
        self.mix = conv(c, c, 1, bias=False)
        # level weight s = (4 / 2^d) exp(log_scale): the h² scaling of A between levels
        # (the 2^-d undoes the 2^d gain of Uᵀ on constants)
        self.log_scale = nn.Parameter(torch.zeros(()), requires_grad=cfg.learn_scale)
        self.coarse_base = 4.0 / 2**cfg.ndim
        if cfg.geometry:
            g = cfg.geo_channels
            self.geo1 = conv(2, g, k, padding=pad)
            self.geo2 = conv(g, c * (cfg.n_conv + 1), 1)
        self._conv = F.conv3d if cfg.ndim == 3 else F.conv2d
        self._pad = pad
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(
        self, noise: float = 0.1, generator: torch.Generator | None = None
    ) -> None:
        """Start as an additive multilevel (BPX-type) preconditioner, plus noise.

        The lift starts at 1 on every channel, the convolutions as a smoothing stencil on
        each channel (centre 3/4, the rest spread over the neighbours, sum 1; its symbol
        stays ≥ 1/2), the channel mix as ``I/√C`` and the
        geometry gates at 1; ``noise`` (relative, Gaussian) breaks the symmetry between
        channels. The untrained net is then ``Σ_l 4^l P_l S R_l``: a weak but sane
        preconditioner that training improves.
        """
        cfg = self.config
        c, k, nd = cfg.channels, cfg.kernel, cfg.ndim

        def smoother() -> torch.Tensor:
            st = torch.zeros((k,) * nd)
            mid = k // 2
            for d in range(nd):
                for off in (-1, 1):
                    idx = [mid] * nd
                    idx[d] += off
                    st[tuple(idx)] = 0.25 / (2 * nd)
            st[(mid,) * nd] = 0.75
            return st

        def rnd(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randn(shape, generator=generator)

        st = smoother()
        lk = cfg.lift_kernel
        lift = torch.zeros((lk,) * nd)
        lift[(lk // 2,) * nd] = 1.0
        if lk == k:
            lift = st
        jitter = 1 + noise * rnd((c, 1) + (1,) * nd)
        self.lift.weight.copy_(lift.expand(c, 1, *lift.shape) * jitter)
        for conv in self.convs:
            w = torch.zeros(c, c, *st.shape)
            for i in range(c):
                w[i, i] = st
            w += noise * st.abs().max() * rnd(tuple(w.shape)) / c
            conv.weight.copy_(w)
        eye = torch.eye(c).reshape(c, c, *(1,) * nd) / c**0.5
        self.mix.weight.copy_(eye + noise * rnd(tuple(eye.shape)) / c)
        self.log_scale.zero_()
        if cfg.geometry:
            self.geo1.weight.copy_(noise * rnd(tuple(self.geo1.weight.shape)))
            self.geo1.bias.zero_()
            self.geo2.weight.copy_(noise * rnd(tuple(self.geo2.weight.shape)))
            self.geo2.bias.fill_(float(torch.log(torch.expm1(torch.tensor(1.0)))))

    # -- geometry -----------------------------------------------------------------------
    def _plan(self, shape: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """(shape, pooling kernel) of every level, finest first."""
        plan = []
        while True:
            if max(shape) <= self.config.coarsest:
                plan.append((shape, ()))
                return plan
            kernel = tuple(2 if s > 1 else 1 for s in shape)
            plan.append((shape, kernel))
            shape = tuple((s + 1) // 2 if kk == 2 else s for s, kk in zip(shape, kernel))

    @staticmethod
    def _interp_axis(x: torch.Tensor, dim: int, n_fine: int) -> torch.Tensor:
        """Cell-centred linear interpolation ×2 along ``dim`` (zero outside), cropped.

        ``f[2j] = ¾ c[j] + ¼ c[j−1]``, ``f[2j+1] = ¾ c[j] + ¼ c[j+1]``.
        """
        lo = F.pad(x.narrow(dim, 0, x.shape[dim] - 1), _pad_spec(x.ndim, dim, 1, 0))
        hi = F.pad(x.narrow(dim, 1, x.shape[dim] - 1), _pad_spec(x.ndim, dim, 0, 1))
        even = 0.75 * x + 0.25 * lo
        odd = 0.75 * x + 0.25 * hi
        out = torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)
        return out.narrow(dim, 0, n_fine)

    @staticmethod
    def _interp_axis_t(y: torch.Tensor, dim: int) -> torch.Tensor:
        """Adjoint of :meth:`_interp_axis`: ``c[j] = ¾(f[2j] + f[2j+1]) + ¼(f[2j−1] + f[2j+2])``."""
        if y.shape[dim] % 2:
            y = F.pad(y, _pad_spec(y.ndim, dim, 0, 1))
        pairs = y.unflatten(dim, (y.shape[dim] // 2, 2))
        even = pairs.select(dim + 1, 0)
        odd = pairs.select(dim + 1, 1)
        m = even.shape[dim]
        prev_odd = F.pad(odd.narrow(dim, 0, m - 1), _pad_spec(y.ndim, dim, 1, 0))
        next_even = F.pad(even.narrow(dim, 1, m - 1), _pad_spec(y.ndim, dim, 0, 1))
        return 0.75 * (even + odd) + 0.25 * (prev_odd + next_even)

    def _interp(
        self, x: torch.Tensor, kernel: tuple[int, ...], shape: tuple[int, ...]
    ) -> torch.Tensor:
        """``U x``: linear interpolation from the coarse grid to ``shape`` (zero outside)."""
        for d, kk in enumerate(kernel):
            if kk == 2:
                x = self._interp_axis(x, 2 + d, shape[d])
        return x

    def _interp_t(self, y: torch.Tensor, kernel: tuple[int, ...]) -> torch.Tensor:
        """``Uᵀ y``: the exact adjoint of :meth:`_interp`."""
        for d in range(len(kernel) - 1, -1, -1):
            if kernel[d] == 2:
                y = self._interp_axis_t(y, 2 + d)
        return y

    def _conv_t(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Adjoint of the 'same' convolution with ``weight`` (as a flipped convolution)."""
        flipped = weight.transpose(0, 1).flip(tuple(range(2, weight.ndim))).contiguous()
        return self._conv(x, flipped, padding=weight.shape[-1] // 2)

    def gates(self, geometry: torch.Tensor) -> list[dict[str, Any]]:
        """Everything the net needs about the grid, per level (computed once per grid).

        ``geometry``: (1, 2, *grid) from :func:`geometry_channels`. Per level: ``shape``,
        ``kernel`` (pooling to the next level), ``omega`` (fluid fraction), ``norm``
        (``U ω_coarse`` on this level, the Shepard normalization of the interpolation,
        except next to Dirichlet faces), ``dirichlet`` (the Dirichlet share),
        and the positive ``gates`` of the lift/convolutions:
        ``[ω > 0] × softplus(small conv net of the geometry)``.
        """
        shape = tuple(geometry.shape[2:])
        plan = self._plan(shape)
        levels: list[dict[str, Any]] = []
        geo = geometry
        n = self.config.n_conv + 1
        c = self.config.channels
        for lvl_shape, kernel in plan:
            omega = geo[:, :1]
            inside = (omega > 0).to(geo.dtype)
            if self.config.geometry:
                g = F.softplus(self.geo2(F.relu(self.geo1(geo))))
                gs = [inside * g[:, i * c : (i + 1) * c] for i in range(n)]
            else:
                gs = [inside] * n
            levels.append(
                {
                    "shape": lvl_shape,
                    "kernel": kernel,
                    "omega": omega,
                    "dirichlet": geo[:, 1:2],
                    "gates": gs,
                }
            )
            if kernel:
                # coarse geometry: fluid fraction, and the Dirichlet share averaged
                # over the fluid part
                wsum = self._interp_t(omega, kernel)
                dsum = self._interp_t(geo[:, 1:2] * omega, kernel)
                total = self._interp_t(torch.ones_like(omega), kernel)
                om_c = wsum / total
                d_c = torch.where(wsum > 0, dsum / wsum.clamp_min(1e-12), torch.zeros_like(dsum))
                geo = torch.cat([om_c, d_c], dim=1)
        for lvl in range(len(levels) - 1):
            kernel = levels[lvl]["kernel"]
            om_c = levels[lvl + 1]["omega"]
            nrm = self._interp(om_c, kernel, levels[lvl]["shape"])
            # next to a Dirichlet face the missing weight is a zero pressure, not a wall:
            # no normalization there (the interpolant decays to the boundary value)
            nrm = torch.where(levels[lvl]["dirichlet"] > 0, torch.ones_like(nrm), nrm)
            levels[lvl]["inv_norm"] = torch.where(
                nrm > 1e-6, 1.0 / nrm.clamp_min(1e-6), torch.zeros_like(nrm)
            ) * (levels[lvl]["omega"] > 0).to(nrm.dtype)
        return levels

    # -- the operator ----------------------------------------------------------------------
    def _down(self, h: torch.Tensor, lvl: dict, coarse: dict) -> torch.Tensor:
        """``Pᵀ h`` with ``P x = [ω_f > 0] U(ω_c x) / U(ω_c)`` (constant-preserving)."""
        return coarse["omega"] * self._interp_t(h * lvl["inv_norm"], lvl["kernel"])

    def _up(self, x: torch.Tensor, lvl: dict, coarse: dict) -> torch.Tensor:
        """``P x``: Shepard-normalized linear interpolation (Neumann walls keep constants)."""
        return lvl["inv_norm"] * self._interp(coarse["omega"] * x, lvl["kernel"], lvl["shape"])

    def forward(self, r: torch.Tensor, levels: list[dict[str, Any]]) -> torch.Tensor:
        """``f(r) = Σ_l s^l E_lᵀ W E_l r`` for ``r`` of shape (batch, 1, *grid)."""
        nl = len(levels)
        hs = []
        h = self.lift(r) * levels[0]["gates"][0]
        for lvl in range(nl):
            g = levels[lvl]["gates"]
            if lvl > 0:
                h = self._down(h, levels[lvl - 1], levels[lvl]) * g[0]
            for j, conv in enumerate(self.convs):
                h = conv(h) * g[j + 1]
            hs.append(h)
        s = self.coarse_base * torch.exp(self.log_scale)
        wt = self.mix.weight
        wt_t = wt.transpose(0, 1)
        acc = None
        for lvl in range(nl - 1, -1, -1):
            g = levels[lvl]["gates"]
            z = self._conv(self._conv(hs[lvl], wt), wt_t)
            if acc is not None:
                z = z + s * self._up(acc, levels[lvl], levels[lvl + 1])
            for j in range(len(self.convs) - 1, -1, -1):
                z = self._conv_t(z * g[j + 1], self.convs[j].weight)
            acc = z * g[0] if lvl > 0 else z
        return self._conv_t(acc * levels[0]["gates"][0], self.lift.weight)


# -- the V-cycle network -----------------------------------------------------------------------
class VCycleNet(nn.Module):
    """Linear V-cycle network: a multigrid cycle whose smoothers are a learned conv net.

    ``f(r)`` is one symmetric V-cycle on the hierarchy of
    :func:`solvers.dcdm.multigrid.build_hierarchy` (Galerkin coarse operators, Shepard-
    normalized linear transfers, a pseudo-inverse on the coarsest grid). On every level,
    ``nu`` Jacobi-type steps ``x ← x + w_k ⊙ (r − A x)`` before the coarse correction
    and the same steps in reverse order after it, with per-cell weights

        ``w_k = sigmoid(conv₁ₓ₁(relu(conv₃ᵈ(geometry_l))))_k · 2 / Σ_j |A_ij|``

    from a small convolutional net of the level's geometry (fluid fraction and Dirichlet
    share), one set of weights shared by all levels (a net trained on small grids applies
    to any grid). The factor ``2/Σ_j|A_ij|`` (ℓ1-Jacobi) keeps every smoother convergent
    whatever the learned gates in (0, 1), so the network is **linear, symmetric and
    positive definite** on the active cells for any parameters: DCDM with it never
    stagnates, and with ``n_orth ≥ 1`` it is CG preconditioned by the network. A
    multiplicative cycle (not the additive BPX sum of :class:`DCDMNet`) keeps κ(f·A)
    bounded as the grid grows: iteration counts stay flat.

    Init (:meth:`reset_parameters`): gates 0.8 everywhere plus noise, i.e. the classical
    ω = 0.8 Jacobi V(nu, nu)-cycle in the fluid interior. Training learns the weights
    near walls, obstacles, open faces and free surfaces and on the coarse levels.
    """

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        from dataclasses import replace

        cfg = replace(config or NetConfig(), arch="vcycle")
        cfg.validate()
        self.config = cfg
        conv = nn.Conv3d if cfg.ndim == 3 else nn.Conv2d
        k, g = cfg.kernel, cfg.geo_channels
        self.geo1 = conv(2, g, k, padding=k // 2)
        self.geo2 = conv(g, cfg.nu, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(
        self, noise: float = 0.1, generator: torch.Generator | None = None
    ) -> None:
        """The classical smoother: gates 0.8 on every cell (plus ``noise``)."""

        def rnd(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randn(shape, generator=generator)

        self.geo1.weight.copy_(noise * rnd(tuple(self.geo1.weight.shape)))
        self.geo1.bias.zero_()
        self.geo2.weight.copy_(noise * rnd(tuple(self.geo2.weight.shape)))
        self.geo2.bias.fill_(float(np.log(0.8 / 0.2)))

    # -- per grid ---------------------------------------------------------------------------
    def prepare(
        self, levels: list[Any], device: str = "cpu", *, matrices: bool = True
    ) -> dict[str, Any]:
        """Torch tensors of a host hierarchy (float32 on ``device``); static, no gradients.

        ``matrices=False``: only what :meth:`smoother_weights` needs (the CPU path applies
        the cycle with :class:`~solvers.dcdm.multigrid.CPUVCycle`).
        """

        def sparse(m: Any) -> torch.Tensor:
            import warnings

            m = m.tocsr().astype(np.float32)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                return torch.sparse_csr_tensor(
                    torch.from_numpy(m.indptr.astype(np.int64)),
                    torch.from_numpy(m.indices.astype(np.int64)),
                    torch.from_numpy(m.data),
                    size=m.shape,
                    check_invariants=False,
                ).to(device)

        out = []
        for lv in levels:
            d: dict[str, Any] = {
                "n": lv.n,
                "geometry": torch.from_numpy(lv.geometry).unsqueeze(0).to(device),
                "index": torch.from_numpy(lv.index).to(device),
                "wmax": torch.from_numpy(lv.wmax.astype(np.float32)).to(device),
            }
            if not matrices:
                pass
            elif lv.coarse_inv is not None:
                d["coarse_inv"] = torch.from_numpy(lv.coarse_inv.astype(np.float32)).to(device)
            else:
                d["A"] = sparse(lv.A)
                d["P"] = sparse(lv.P)
                d["R"] = sparse(lv.R if lv.R is not None else lv.P.T)
            out.append(d)
        return {"levels": out, "fine_index": out[0]["index"]}

    def smoother_weights(self, prep: dict[str, Any]) -> list[torch.Tensor]:
        """Per level (all but the coarsest) the Jacobi weights ``s_k ⊙ 2/Σ_j|A_ij|``, (nu, n_l)."""
        out = []
        for d in prep["levels"][:-1]:
            z = self.geo2(F.relu(self.geo1(d["geometry"])))  # (1, nu, *shape)
            s = torch.sigmoid(z.reshape(self.config.nu, -1)[:, d["index"]])
            out.append(s * d["wmax"])
        return out

    def cycle(
        self, prep: dict[str, Any], r: torch.Tensor, wd: list[torch.Tensor], lvl: int = 0
    ) -> torch.Tensor:
        """The V-cycle on compressed vectors ``r`` of shape (n_l, batch)."""
        d = prep["levels"][lvl]
        if "coarse_inv" in d:
            return d["coarse_inv"] @ r
        A, w = d["A"], wd[lvl]  # noqa: N806
        x = w[0].unsqueeze(1) * r
        for k in range(1, self.config.nu):
            x = x + w[k].unsqueeze(1) * (r - A @ x)
        xc = self.cycle(prep, d["R"] @ (r - A @ x), wd, lvl + 1)
        x = x + d["P"] @ xc
        for k in range(self.config.nu - 1, -1, -1):
            x = x + w[k].unsqueeze(1) * (r - A @ x)
        return x

    def forward(
        self, r: torch.Tensor, prep: dict[str, Any], wd: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """``f(r)`` for ``r`` of shape (batch, 1, *grid); zero off the active cells."""
        if wd is None:
            wd = self.smoother_weights(prep)
        shape = r.shape
        batch = shape[0]
        flat = r.reshape(batch, -1)
        idx = prep["fine_index"]
        x = self.cycle(prep, flat[:, idx].T.contiguous(), wd)
        out = torch.zeros_like(flat)
        out[:, idx] = x.T.to(out.dtype)
        return out.reshape(shape)


def build_net(config: NetConfig) -> nn.Module:
    """The network of ``config.arch``."""
    return VCycleNet(config) if config.arch == "vcycle" else DCDMNet(config)


# -- models: a net plus its metadata -----------------------------------------------------------
@dataclass
class DCDMModel:
    """A trained DCDM network with its configuration and training record.

    Attributes
    ----------
    net : DCDMNet
    config : NetConfig
    meta : dict
        Training record (grid, data, steps, losses, seed, time...).
    name : str
        Shipped name, file path or ``"<bytes>"``.
    """

    net: DCDMNet
    config: NetConfig
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "<memory>"
    device_nets: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the net's own configuration is authoritative (it fixes ``arch``)
        cfg = getattr(self.net, "config", None)
        if isinstance(cfg, NetConfig):
            self.config = cfg

    @property
    def ndim(self) -> int:
        return self.config.ndim

    def to_bytes(self) -> bytes:
        """Serialize (torch.save of a plain dict: loads with ``weights_only=True``)."""
        buf = io.BytesIO()
        state = {k: v.detach().cpu().float().contiguous() for k, v in self.net.state_dict().items()}
        torch.save(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "config": json.dumps(asdict(self.config)),
                "meta": json.dumps(self.meta),
                "state_dict": state,
            },
            buf,
        )
        return buf.getvalue()

    def save(self, path: Any) -> None:
        from pathlib import Path

        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> DCDMModel:
        """Load a model written by :meth:`to_bytes`.

        Raises
        ------
        ValueError
            Not a DCDM model file (the caller turns this into InvalidProblemError).
        """
        try:
            obj = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling error means "not a model"
            raise ValueError(f"not a DCDM model file ({type(exc).__name__}: {exc})") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError("not a DCDM model file (missing the sparsehpc-dcdm header)")
        if int(obj.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"DCDM model format {obj.get('format_version')} is newer than this "
                f"sparsehpc ({FORMAT_VERSION})"
            )
        cfg_dict = json.loads(obj["config"])
        cfg_dict.setdefault("arch", "bpx")  # version-1 files
        try:
            cfg = NetConfig(**cfg_dict)
            cfg.validate()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad network configuration ({exc})") from None
        net = build_net(cfg)
        net.load_state_dict(obj["state_dict"])
        net.eval()
        return cls(net=net, config=cfg, meta=json.loads(obj.get("meta", "{}")), name=name)


def _pad_spec(ndim: int, dim: int, before: int, after: int) -> list[int]:
    """``F.pad`` spec padding only tensor dimension ``dim`` of an ``ndim``-D tensor."""
    spec = [0] * (2 * (ndim - dim))
    spec[-2] = before
    spec[-1] = after
    return spec


def n_parameters(net: nn.Module) -> int:
    return int(sum(p.numel() for p in net.parameters()))


def net_on(model: DCDMModel, device: str) -> DCDMNet:
    """A copy of ``model.net`` on ``device`` (cached on the model; the CPU net is shared)."""
    if device == "cpu":
        return model.net
    cache = model.device_nets
    net = cache.get(device)
    if net is None:
        import copy

        net = copy.deepcopy(model.net).to(device).eval()
        cache[device] = net
    return net


#: V-cycle setups kept by ``dcdm(..., reuse_setup=True)`` (most recent last)
_SETUP_CACHE: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
SETUP_CACHE_SIZE = 1


def _fingerprint(A: Any, shape: tuple[int, ...]) -> str:  # noqa: N803
    """Hash of a CSR matrix's arrays and the grid (blake2b)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((A.shape, A.nnz, A.dtype.str, shape)).encode())
    for arr in (A.indptr, A.indices, A.data):
        h.update(np.ascontiguousarray(arr).view(np.uint8))
    return h.hexdigest()


def _net_digest(net: nn.Module) -> str:
    h = hashlib.blake2b(digest_size=16)
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().view(np.uint8))
    return h.hexdigest()


class NetworkDirection:
    """``r ↦ q``: the network's search direction for a prepared system.

    Works on the operator's backend: NumPy arrays go to torch on the CPU without a copy
    (``torch.from_numpy``), CuPy arrays to torch on CUDA through DLPack (no copy), and
    the direction comes back the same way. The geometry gates are computed once.

    The V-cycle net runs on the host through :class:`~solvers.dcdm.multigrid.CPUVCycle`
    (float32 SciPy / Numba kernels) and on CUDA through the torch module itself.

    Parameters
    ----------
    model : DCDMModel
    op : solvers.dcdm.system.Operator
    torch_path : bool
        Use the torch module on the CPU too (the GPU code path; for tests).
    reuse_setup : bool
        V-cycle net: keep the hierarchy of the last ``SETUP_CACHE_SIZE`` matrices (keyed
        by a hash of ``A``'s CSR arrays, the grid and the net's weights) and reuse it when
        the same matrix comes again (time stepping with a fixed geometry).
    """

    def __init__(
        self,
        model: DCDMModel,
        op: Any,
        *,
        torch_path: bool = False,
        reuse_setup: bool = False,
    ) -> None:
        self.op = op
        self.shape = tuple(op.grid_shape)
        # CuPy arrays go to CUDA torch; NumPy arrays (CPU, or the CUDA simulator) stay on
        # the CPU
        self.gpu = op.be.xp.__name__ == "cupy"
        if self.gpu and not torch.cuda.is_available():
            from solvers._errors import BackendUnavailableError

            raise BackendUnavailableError(
                "DCDM on the GPU needs a CUDA build of PyTorch (torch.cuda.is_available() "
                "is False); use backend='cpu' or install torch with CUDA"
            )
        self.device = "cuda" if self.gpu else "cpu"
        self.net = net_on(model, self.device)
        active, share = op.an.geometry()
        self.vcycle = isinstance(self.net, VCycleNet)
        self.cpu_cycle = None
        self.reused = False
        if self.vcycle:
            on_torch = self.gpu or torch_path
            key = None
            if reuse_setup:
                key = (
                    _fingerprint(op.an.A, self.shape),
                    _net_digest(self.net),
                    self.device,
                    on_torch,
                )
                hit = _SETUP_CACHE.get(key)
                if hit is not None:
                    _SETUP_CACHE.move_to_end(key)
                    self.reused = True
            if not self.reused:
                hit = self._vcycle_setup(op, active, share, on_torch)
                if key is not None:
                    _SETUP_CACHE[key] = hit
                    while len(_SETUP_CACHE) > SETUP_CACHE_SIZE:
                        _SETUP_CACHE.popitem(last=False)
            self.n_levels = hit["n_levels"]
            if on_torch:
                self.prep, self.wd = hit["prep"], hit["wd"]
            else:  # fused float32 kernels on the host (own work buffers per solve)
                self.cpu_cycle = hit["cpu_cycle"].clone()
                self.fine_index = hit["fine_index"]
        else:
            geo = geometry_channels(active, share, self.shape).to(self.device)
            with torch.inference_mode():
                self.gates = self.net.gates(geo)
        self.n_active = max(1.0, float(active.sum()))
        self.calls = 0

    def _vcycle_setup(self, op: Any, active: Any, share: Any, on_torch: bool) -> dict[str, Any]:
        from .multigrid import CPUVCycle, build_hierarchy

        levels = build_hierarchy(
            op.an.A, self.shape, active, share, coarsest=self.net.config.coarsest
        )
        prep = self.net.prepare(levels, self.device, matrices=on_torch)
        with torch.inference_mode():
            wd = self.net.smoother_weights(prep)
        out: dict[str, Any] = {"n_levels": len(levels)}
        if on_torch:
            out.update(prep=prep, wd=wd)
        else:
            out.update(
                cpu_cycle=CPUVCycle(levels, [w.numpy() for w in wd]),
                fine_index=levels[0].index,
            )
        return out

    def __call__(self, r: Any) -> Any:
        op = self.op
        xp = op.be.xp
        rin = r * op.active
        nrm = float(xp.sqrt(xp.dot(rin, rin) / self.n_active))
        if nrm == 0.0 or not np.isfinite(nrm):
            return xp.zeros_like(r)
        if self.cpu_cycle is not None:
            idx = self.fine_index
            q = np.zeros(op.n)
            q[idx] = self.cpu_cycle(r[idx] * (1.0 / nrm))
            if op.singular:
                op.project(q)
            self.calls += 1
            return q
        r32 = xp.ascontiguousarray((rin * (1.0 / nrm)).astype(xp.float32))
        t = torch.from_dlpack(r32) if self.gpu else torch.from_numpy(r32)
        with torch.inference_mode():
            t = t.view(1, 1, *self.shape)
            if self.vcycle:
                out = self.net(t, self.prep, self.wd).reshape(-1)
            else:
                out = self.net(t, self.gates).reshape(-1)
        q32 = xp.from_dlpack(out) if self.gpu else out.numpy()
        q = q32.astype(xp.float64) * op.active
        if op.singular:
            op.project(q)
        self.calls += 1
        return q
