"""The DCDM network (PyTorch): a fully convolutional multilevel net with shared weights.

This module imports torch at module level; it is imported lazily (only when a network is
built, loaded or trained), so ``import solvers`` never imports torch.

Architecture (:class:`DCDMNet`)
-------------------------------
The net maps a residual ``r`` on the grid to a search direction ``q ≈ c·A⁻¹ r``. It is a
U-Net whose levels all share the same weights (a learned, nonlinear multigrid cycle)::

    lift  : 1 → C channels, 3×3(×3) conv
    level(h):                                   h has C channels
        h  = h + act(pre(h))                    ``n_pre`` residual convs, C → C
        if the grid is larger than ``coarsest`` cells per axis:
            ec = 4 · level(avgpool₂(h))         restrict, recurse (×4: the h² scaling of A)
            h  = h + upsample₂(ec)              prolong (nearest) and add
        h  = h + act(post(h))                   ``n_post`` residual convs, C → C
    proj  : C → 1 channel, 3×3(×3) conv

The depth grows with the grid (down to ``coarsest`` cells), so the receptive field always
covers the whole domain, and because every level uses the same weights, a net trained on
small grids applies unchanged to large ones (the Poisson operator looks the same at every
scale once the coarse residual is scaled by 4). Convolutions have **no bias** and the
activation is ReLU (or none), so the net is positively homogeneous: ``f(c r) = c f(r)``
for ``c > 0``: the direction does not depend on the size of the residual.

References
----------
.. [1] A. Kaneda, O. Akar, J. Chen, V. Kala, D. Hyde, J. Teran, "A Deep Conjugate
   Direction Method for Iteratively Solving Linear Systems", ICML 2023, arXiv:2205.10763.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

FORMAT = "sparsehpc-dcdm"
FORMAT_VERSION = 1


@dataclass
class NetConfig:
    """Hyper-parameters of :class:`DCDMNet` (stored with every saved model)."""

    ndim: int = 3
    channels: int = 8
    n_conv: int = 1
    coarsest: int = 2
    kernel: int = 3
    geometry: bool = True
    geo_channels: int = 8

    def validate(self) -> None:
        if self.ndim not in (2, 3):
            raise ValueError("ndim must be 2 or 3")
        if self.channels < 1 or self.n_conv < 1 or self.coarsest < 1 or self.kernel % 2 != 1:
            raise ValueError("bad channels / n_conv / coarsest / kernel")


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
        cfg = config or NetConfig()
        cfg.validate()
        self.config = cfg
        conv = nn.Conv3d if cfg.ndim == 3 else nn.Conv2d
        k, c, pad = cfg.kernel, cfg.channels, cfg.kernel // 2
        self.lift = conv(1, c, k, padding=pad, bias=False)
        self.convs = nn.ModuleList(
            conv(c, c, k, padding=pad, bias=False) for _ in range(cfg.n_conv)
        )
        self.mix = conv(c, c, 1, bias=False)
        # level weight s = 4 exp(log_scale): the h² scaling of A between levels
        self.log_scale = nn.Parameter(torch.zeros(()))
        if cfg.geometry:
            g = cfg.geo_channels
            self.geo1 = conv(2, g, k, padding=pad)
            self.geo2 = conv(g, c * (cfg.n_conv + 1), 1)
        self._conv = F.conv3d if cfg.ndim == 3 else F.conv2d
        self._convT = F.conv_transpose3d if cfg.ndim == 3 else F.conv_transpose2d
        self._pool = F.avg_pool3d if cfg.ndim == 3 else F.avg_pool2d
        self._pad = pad
        self._wcache: dict = {}

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

    def _transfer_weight(self, kernel: tuple[int, ...], channels: int, x: torch.Tensor):
        """Depthwise weight of the linear-interpolation transfer along the pooled axes."""
        key = (kernel, channels, x.dtype, x.device)
        w = self._wcache.get(key)
        if w is None:
            taps = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype, device=x.device) / 8.0
            one = torch.ones(1, dtype=x.dtype, device=x.device)
            w = None
            for kk in kernel:
                t = taps if kk == 2 else one
                w = t if w is None else torch.tensordot(w, t, dims=0)
            w = w.expand(channels, 1, *w.shape).contiguous()
            self._wcache[key] = w
        return w

    def _down(self, x: torch.Tensor, kernel: tuple[int, ...]) -> torch.Tensor:
        """Full-weighting restriction (cell-centred, stencil [1 3 3 1]/8 per axis)."""
        shape = x.shape[2:]
        pad: list[int] = []
        for s, kk in zip(reversed(shape), reversed(kernel)):
            pad += [0, (s % 2) if kk == 2 else 0]
        if any(pad):
            x = F.pad(x, pad)
        w = self._transfer_weight(kernel, x.shape[1], x)
        stride = tuple(kernel)
        padding = tuple(1 if kk == 2 else 0 for kk in kernel)
        return self._conv(x, w, stride=stride, padding=padding, groups=x.shape[1])

    def _up(self, x: torch.Tensor, kernel: tuple[int, ...], shape: tuple[int, ...]) -> torch.Tensor:
        """``2^d ×`` the adjoint of :meth:`_down`: linear interpolation, cropped."""
        w = self._transfer_weight(kernel, x.shape[1], x)
        scale = float(2 ** sum(1 for kk in kernel if kk == 2))
        stride = tuple(kernel)
        padding = tuple(1 if kk == 2 else 0 for kk in kernel)
        y = self._convT(x, w * scale, stride=stride, padding=padding, groups=x.shape[1])
        sl = (slice(None), slice(None)) + tuple(slice(0, s) for s in shape)
        return y[sl]

    def gates(self, geometry: torch.Tensor) -> list[list[torch.Tensor]]:
        """Per level, the positive gates of the lift and of each conv, from the geometry.

        ``geometry``: (1, 2, *grid) from :func:`geometry_channels`. Gates are
        ``fluid fraction × softplus(small conv net of the geometry)`` (or the fluid
        fraction alone when ``config.geometry`` is False).
        """
        shape = tuple(geometry.shape[2:])
        out = []
        geo = geometry
        n = self.config.n_conv + 1
        for _, kernel in self._plan(shape):
            frac = geo[:, :1]
            if self.config.geometry:
                g = F.softplus(self.geo2(F.relu(self.geo1(geo))))
                gs = [
                    frac * g[:, i * self.config.channels : (i + 1) * self.config.channels]
                    for i in range(n)
                ]
            else:
                gs = [frac] * n
            out.append(gs)
            if kernel:
                geo = self._down(geo, kernel)
        return out

    # -- the operator ----------------------------------------------------------------------
    def forward(self, r: torch.Tensor, gates: list[list[torch.Tensor]]) -> torch.Tensor:
        """``f(r) = Σ_l s^l E_lᵀ W E_l r`` for ``r`` of shape (batch, 1, *grid)."""
        shape = tuple(r.shape[2:])
        plan = self._plan(shape)
        pad = self._pad
        # encoder: h_l, keeping what the adjoint needs
        hs = []
        h = self.lift(r) * gates[0][0]
        for lvl, (_, kernel) in enumerate(plan):
            g = gates[lvl]
            if lvl > 0:
                h = h * g[0]
            for j, conv in enumerate(self.convs):
                h = conv(h) * g[j + 1]
            hs.append(h)
            if kernel:
                h = self._down(h, kernel)
        # decoder (exact adjoint, Horner form from the coarsest level up)
        s = 4.0 * torch.exp(self.log_scale)
        wt = self.mix.weight
        acc = None
        for lvl in range(len(plan) - 1, -1, -1):
            lvl_shape, kernel = plan[lvl]
            g = gates[lvl]
            z = self._conv(
                self._conv(hs[lvl], wt),
                wt.transpose(0, 1).flip(tuple(range(2, 2 + self.config.ndim))),
            )
            if acc is not None:
                z = z + s * self._up(acc, kernel, lvl_shape)
            for j in range(len(self.convs) - 1, -1, -1):
                z = self._convT(z * g[j + 1], self.convs[j].weight, padding=pad)
            if lvl > 0:
                z = z * g[0]
            acc = z
        return self._convT(acc * gates[0][0], self.lift.weight, padding=pad)


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
        cfg = NetConfig(**json.loads(obj["config"]))
        net = DCDMNet(cfg)
        net.load_state_dict(obj["state_dict"])
        net.eval()
        return cls(net=net, config=cfg, meta=json.loads(obj.get("meta", "{}")), name=name)


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


class NetworkDirection:
    """``r ↦ q``: the network's search direction for a prepared system.

    Works on the operator's backend: NumPy arrays go to torch on the CPU without a copy
    (``torch.from_numpy``), CuPy arrays to torch on CUDA through DLPack (no copy), and
    the direction comes back the same way. The geometry gates are computed once.

    Parameters
    ----------
    model : DCDMModel
    op : solvers.dcdm.system.Operator
    """

    def __init__(self, model: DCDMModel, op: Any) -> None:
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
        geo = geometry_channels(active, share, self.shape).to(self.device)
        with torch.inference_mode():
            self.gates = self.net.gates(geo)
        self.n_active = max(1.0, float(active.sum()))
        self.calls = 0

    def __call__(self, r: Any) -> Any:
        op = self.op
        xp = op.be.xp
        rin = r * op.active
        nrm = float(xp.sqrt(xp.dot(rin, rin) / self.n_active))
        if nrm == 0.0 or not np.isfinite(nrm):
            return xp.zeros_like(r)
        r32 = xp.ascontiguousarray((rin * (1.0 / nrm)).astype(xp.float32))
        t = torch.from_dlpack(r32) if self.gpu else torch.from_numpy(r32)
        with torch.inference_mode():
            out = self.net(t.view(1, 1, *self.shape), self.gates).reshape(-1)
        q32 = xp.from_dlpack(out) if self.gpu else out.numpy()
        q = q32.astype(xp.float64) * op.active
        if op.singular:
            op.project(q)
        self.calls += 1
        return q
