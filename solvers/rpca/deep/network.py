"""The RPCANet++ network (deep-unfolded robust PCA), in PyTorch.

Imported lazily (it imports torch at module level): ``import solvers`` never loads it.

An image ``D = B + O`` (low-rank background ``B`` plus sparse object ``O``) is
decomposed by ``K`` unfolded stages of a proximal-gradient scheme whose proximal
operators are CNNs. Stage ``k`` (tensors ``(N, 1, H, W)``):

1. BAM with MAM: ``x = D - O``; ``B = x + conv(ResBlock(ConvLSTM(ResBlock(f(x)))))``,
   the ConvLSTM state carrying memory from stage to stage.
2. OEM with DCPM: ``x = O + D - B``; ``w = DCPM(x)`` (learned local-contrast prior);
   ``O = x - eps * CNN_O(x + w)`` with a learned step ``eps`` (init 0.01).
3. IRM: ``D = CNN_D(B + O)``.

The object probability is ``sigmoid(O_K)``.

References
----------
.. [1] Wu, Zhang, Wang, Xiao, Chen, Zhang, Yang (2025) RPCANet++: Deep interpretable
   robust PCA for sparse object segmentation, arXiv:2508.04190.
.. [2] Wu, Zhang, Zhang, Chen, Yang (2024) RPCANet: Deep unfolding RPCA based infrared
   small target detection, WACV 2024.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

FORMAT = "sparsehpc-rpcanet"
FORMAT_VERSION = 1


@dataclass
class NetConfig:
    """Architecture of an RPCANet++ network.

    Attributes
    ----------
    stages : int
        Unfolded stages K (paper: 6; 3 and 9 variants).
    channels : int
        Feature channels C (paper: 32).
    oem_depth : int
        Hidden C→C convolutions of the object-extraction CNN (paper: 6).
    irm_depth : int
        Hidden C→C conv-BN-ReLU blocks of the restoration CNN (paper: 3).
    contrast_kernel : int
        Size of the DCPM local-contrast kernel (paper: 17).
    contrast : {"separable", "full"}
        The DCPM's k×k C→C contrast kernel: ``"separable"`` (our default: a k×1 then a
        1×k C→C convolution, ~k/3 times cheaper on CPU) or ``"full"`` (the authors').
    memory : bool
        Use the memory-augmented module (ConvLSTM across stages); False = plain RPCANet
        background module.
    dcpm : bool
        Use the deep contrast prior module in the object extraction.
    """

    stages: int = 3
    channels: int = 16
    oem_depth: int = 3
    irm_depth: int = 1
    contrast_kernel: int = 17
    contrast: str = "separable"
    memory: bool = True
    dcpm: bool = True

    def __post_init__(self) -> None:
        if self.stages < 1 or self.channels < 4 or self.contrast_kernel % 2 != 1:
            raise ValueError(f"invalid RPCANet config {self}")
        if self.contrast not in ("separable", "full"):
            raise ValueError(f"contrast must be 'separable' or 'full', not {self.contrast!r}")


def _conv(cin: int, cout: int, k: int = 3, groups: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=bias)


class ResBlock(nn.Module):
    """conv3×3 → ReLU → conv3×3, plus identity (no BN)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = _conv(c, c)
        self.c2 = _conv(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.c1(x)))


class ConvLSTM(nn.Module):
    """Convolutional LSTM cell; without a state (first stage) it has no forget gate."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.cx = _conv(c, 4 * c)
        self.ch = _conv(c, 4 * c, bias=False)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        g = self.cx(x)
        if state is not None:
            g = g + self.ch(state[0])
        f, i, o, j = torch.chunk(g, 4, dim=1)
        c = torch.sigmoid(i) * torch.tanh(j)
        if state is not None:
            c = c + torch.sigmoid(f) * state[1]
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class BAM(nn.Module):
    """Background approximation module (with the memory-augmented ConvLSTM)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.head = nn.Sequential(_conv(1, c), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.r1 = ResBlock(c)
        self.lstm = ConvLSTM(c) if cfg.memory else None
        self.r2 = ResBlock(c)
        self.tail = _conv(c, 1)

    def forward(self, d: torch.Tensor, o: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        x = d - o
        f = self.r1(self.head(x))
        if self.lstm is not None:
            f, state = self.lstm(f, state)
        f = self.r2(f)
        return x + self.tail(f), state


class ContrastLayer(nn.Module):
    """Learned local contrast: ``theta * (S x) - K * x`` (centre − surround).

    ``K`` is a k×k C→C kernel (``"full"``) or a k×1 and a 1×k kernel in sequence
    (``"separable"``); ``S`` is the 1×1 kernel of the spatial sums of ``K`` (so a flat
    image gives zero before the attention), and ``theta`` is channel attention (global
    pooling → 1×1 conv → BN → ReLU → 1×1 conv → BN → sigmoid).
    """

    def __init__(self, c: int, k: int, mode: str) -> None:
        super().__init__()
        self.mode = mode
        if mode == "full":
            self.convs = nn.ModuleList([nn.Conv2d(c, c, k, padding=k // 2, bias=False)])
        else:
            self.convs = nn.ModuleList(
                [
                    nn.Conv2d(c, c, (k, 1), padding=(k // 2, 0), bias=False),
                    nn.Conv2d(c, c, (1, k), padding=(0, k // 2), bias=False),
                ]
            )
        r = max(c // 4, 1)
        self.att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c, r, 1, bias=False),
            nn.BatchNorm2d(r),
            nn.ReLU(inplace=True),
            nn.Conv2d(r, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = None
        y = x
        for conv in self.convs:
            y = conv(y)
            w = conv.weight.sum(dim=(2, 3))  # (C_out, C_in)
            s = w if s is None else w @ s
        centre = F.conv2d(x, s[:, :, None, None])
        return self.att(x) * centre - y


class DCPM(nn.Module):
    """Deep contrast prior module: conv → ReLU → contrast → BN → LeakyReLU → conv."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.body = nn.Sequential(
            _conv(1, c),
            nn.ReLU(inplace=True),
            ContrastLayer(c, cfg.contrast_kernel, cfg.contrast),
            nn.BatchNorm2d(c),
            nn.LeakyReLU(0.1, inplace=True),
            _conv(c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class OEM(nn.Module):
    """Object extraction module: ``O = x - eps * CNN_O(x + DCPM(x))``, ``x = O + D - B``."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c = cfg.channels
        layers: list[nn.Module] = [_conv(1, c), nn.ReLU(inplace=True)]
        for _ in range(cfg.oem_depth):
            layers += [_conv(c, c), nn.ReLU(inplace=True)]
        layers.append(_conv(c, 1))
        self.cnn = nn.Sequential(*layers)
        self.dcpm = DCPM(cfg) if cfg.dcpm else None
        self.eps = nn.Parameter(torch.tensor([0.01]))

    def forward(self, d: torch.Tensor, o: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        x = o + d - b
        z = x + self.dcpm(x) if self.dcpm is not None else x
        return x - self.eps * self.cnn(z)


class IRM(nn.Module):
    """Image restoration module: ``D = CNN_D(B + O)`` (conv-BN-ReLU blocks, conv)."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        c = cfg.channels
        layers: list[nn.Module] = [_conv(1, c), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        for _ in range(cfg.irm_depth):
            layers += [_conv(c, c), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        layers.append(_conv(c, 1))
        self.cnn = nn.Sequential(*layers)

    def forward(self, b: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        return self.cnn(b + o)


class Stage(nn.Module):
    def __init__(self, cfg: NetConfig, last: bool) -> None:
        super().__init__()
        self.bam = BAM(cfg)
        self.oem = OEM(cfg)
        self.irm = IRM(cfg)

    def forward(self, d: torch.Tensor, o: torch.Tensor, state: Any) -> tuple:
        b, state = self.bam(d, o, state)
        o = self.oem(d, o, b)
        d = self.irm(b, o)
        return d, o, b, state


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation ``(x - mean) / std`` of an ``(N, 1, H, W)`` batch."""
    mu = x.mean(dim=(2, 3), keepdim=True)
    sd = x.std(dim=(2, 3), keepdim=True)
    return (x - mu) / (sd + 1e-6)


class RPCANet(nn.Module):
    """K unfolded stages; ``forward`` returns ``(logits O_K, restored D_K)``."""

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.stages = nn.ModuleList(
            [Stage(cfg, last=k == cfg.stages - 1) for k in range(cfg.stages)]
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``img``: (N, 1, H, W) normalized image; returns (object logits, restored image)."""
        d = img
        o = torch.zeros_like(img)
        state = None
        for st in self.stages:
            d, o, _, state = st(d, o, state)
        return o, d


@dataclass
class RPCANetModel:
    """A trained network with its configuration and metadata (what a model file holds)."""

    net: RPCANet
    config: NetConfig
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "<model>"

    @classmethod
    def new(cls, config: NetConfig | None = None, seed: int = 0) -> RPCANetModel:
        torch.manual_seed(seed)
        cfg = config or NetConfig()
        return cls(net=RPCANet(cfg), config=cfg)

    def grown(self, stages: int) -> RPCANetModel:
        """A copy with ``stages`` unfolded stages, the new ones initialised as copies of
        the last trained stage (one more iteration of the same proximal step): a deeper
        network warm-started from a shallower one, to be fine-tuned."""
        import copy
        from dataclasses import replace

        if stages < self.config.stages:
            raise ValueError(f"cannot shrink {self.config.stages} stages to {stages}")
        cfg = replace(self.config, stages=stages)
        net = RPCANet(cfg)
        state = self.net.state_dict()
        k0 = self.config.stages
        for key, v in net.state_dict().items():
            k = int(key.split(".")[1])
            src = f"stages.{min(k, k0 - 1)}." + key.split(".", 2)[2]
            v.copy_(state[src])
        return RPCANetModel(net=net, config=cfg, meta=copy.deepcopy(self.meta), name=self.name)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def to_bytes(self) -> bytes:
        """Serialize (``torch.save`` of a plain dict; loads with ``weights_only=True``)."""
        buf = io.BytesIO()
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
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
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> RPCANetModel:
        """Load a model written by :meth:`to_bytes` (ValueError if it is not one)."""
        try:
            obj = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling error means "not a model"
            raise ValueError(f"not an RPCANet model file ({type(exc).__name__}: {exc})") from None
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            raise ValueError("not an RPCANet model file (missing the sparsehpc-rpcanet header)")
        if int(obj.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(
                f"RPCANet model format {obj.get('format_version')} is newer than this "
                f"sparsehpc ({FORMAT_VERSION})"
            )
        try:
            cfg = NetConfig(**json.loads(obj["config"]))
            net = RPCANet(cfg)
            net.load_state_dict(obj["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"corrupt RPCANet model file ({exc})") from None
        net.eval()
        return cls(net=net, config=cfg, meta=json.loads(obj.get("meta", "{}")), name=name)

    @torch.no_grad()
    def predict(self, images: Any, device: str = "cpu", batch_size: int = 8) -> Any:
        """Object probabilities for a float (N, H, W) numpy array (returns float32 numpy).

        A calibrated model (``meta["logit_shift"]``, written by training with
        ``calibrate=True``) has its output logits shifted so that probability 0.5 is the
        operating point chosen on its validation set.
        """
        import numpy as np

        shift = float(self.meta.get("logit_shift", 0.0) or 0.0)

        net = self.net.to(device).eval()
        out = np.empty(images.shape, dtype=np.float32)
        for s in range(0, images.shape[0], batch_size):
            x = torch.as_tensor(
                np.ascontiguousarray(images[s : s + batch_size]), dtype=torch.float32, device=device
            )[:, None]
            logits, _ = net(normalize(x))
            if shift:
                logits = logits - shift
            out[s : s + batch_size] = torch.sigmoid(logits)[:, 0].cpu().numpy()
        return out
