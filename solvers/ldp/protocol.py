"""Server side of the protocols: resolved configuration, report layout and schema checks,
and the exact (fixed-point) aggregate of reports.

The server never needs raw data: it checks that each report has the study's shape and
the mechanism's signature (every ℓ2-ball release has norm exactly ``B``; a Gaussian
release cannot be as small as a raw statistic), then adds ``round(v/q)`` to int64 running
sums. The integer sums are exact, so the aggregate does not depend on how the reports
were batched or in which order they arrived, and equals an in-process aggregate (CPU or
GPU) bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solvers._backend import CPU, Backend
from solvers._errors import InvalidProblemError

from . import randomizers as rz
from .params import StudyConfig

KIND = {"nldp": 0, "nldp_public": 1, "interactive": 2}
#: a Gaussian-mechanism report segment is rejected as raw-looking when its norm is below
#: the statistic's bound, if a genuine report is that small with probability below this
RAW_CHECK_FALSE_REJECTION = 1e-9


@dataclass(frozen=True)
class Resolved:
    """A :class:`StudyConfig` with every default filled in (for ``n`` owners)."""

    d: int
    k: int
    epsilon: float
    delta: float | None
    protocol: str
    mechanism: str
    bounds: rz.Bounds
    split: float
    rounds: int
    round_size: int
    k_prime: int
    eta: float
    theta_bound: float | None

    def to_config(self) -> dict[str, Any]:
        """JSON form (a complete :class:`StudyConfig`)."""
        return {
            "d": self.d,
            "k": self.k,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "protocol": self.protocol,
            "mechanism": self.mechanism,
            "r": self.bounds.r,
            "tau_x": self.bounds.tau_x,
            "tau_y": self.bounds.tau_y,
            "split": self.split,
            "rounds": self.rounds if self.protocol == "interactive" else None,
            "round_size": self.round_size if self.protocol == "interactive" else None,
            "k_prime": self.k_prime,
            "eta": self.eta,
            "theta_bound": self.theta_bound,
        }


def resolve(
    cfg: StudyConfig,
    *,
    d: int | None = None,
    n: int | None = None,
    x_scale: float = 1.0,
    y_scale: float = 1.0,
) -> Resolved:
    """Fill in the defaults of ``cfg`` for dimension ``d`` and ``n`` owners.

    Missing bounds come from :func:`randomizers.default_bounds` ``(n, d)``; missing
    interactive settings from ``T = ⌈ln n⌉``, ``round_size = n // T``, ``k' = 2k``.

    Raises
    ------
    InvalidProblemError
        Inconsistent dimensions, ``k > d``, or defaults needed without ``n``.
    """
    dd = cfg.d if cfg.d is not None else d
    if dd is None:
        raise InvalidProblemError("the dimension d is unknown", field="params.d")
    if cfg.d is not None and d is not None and cfg.d != d:
        raise InvalidProblemError(
            f"params.d = {cfg.d} does not match the data's dimension {d}", field="params.d"
        )
    if cfg.k > dd:
        raise InvalidProblemError(f"k = {cfg.k} exceeds the dimension d = {dd}", field="params.k")
    missing = [b for b in ("r", "tau_x", "tau_y") if getattr(cfg, b) is None]
    if cfg.protocol != "nldp" and "r" in missing:
        missing.remove("r")
    if missing and n is None:
        raise InvalidProblemError(
            f"bounds {', '.join(missing)} are not given and the number of owners is unknown "
            "(give the bounds, or the expected number of owners)",
            field=f"params.{missing[0]}",
        )
    if missing:
        dflt = rz.default_bounds(n, dd, protocol=cfg.protocol, x_scale=x_scale, y_scale=y_scale)
    else:
        dflt = rz.Bounds(1.0, 1.0, 1.0)
    bounds = rz.Bounds(
        r=float(cfg.r if cfg.r is not None else dflt.r),
        tau_x=float(cfg.tau_x if cfg.tau_x is not None else dflt.tau_x),
        tau_y=float(cfg.tau_y if cfg.tau_y is not None else dflt.tau_y),
    )
    k_prime = cfg.k_prime if cfg.k_prime is not None else min(dd, 2 * cfg.k)
    if k_prime > dd:
        raise InvalidProblemError(
            f"k_prime = {k_prime} exceeds the dimension d = {dd}", field="params.k_prime"
        )
    rounds = cfg.rounds
    round_size = cfg.round_size
    if cfg.protocol == "interactive":
        if rounds is None:
            if n is None:
                raise InvalidProblemError(
                    "interactive: give rounds (or the expected number of owners)",
                    field="params.rounds",
                )
            rounds = max(1, math.ceil(math.log(max(n, 2))))
        if round_size is None:
            if n is None:
                raise InvalidProblemError(
                    "interactive: give round_size (or the expected number of owners)",
                    field="params.round_size",
                )
            round_size = max(1, n // rounds)
        if n is not None and n < rounds:
            raise InvalidProblemError(
                f"interactive: {n} owners cannot fill {rounds} rounds (each owner speaks once)",
                field="params.rounds",
            )
    return Resolved(
        d=int(dd),
        k=int(cfg.k),
        epsilon=float(cfg.epsilon),
        delta=cfg.delta,
        protocol=cfg.protocol,
        mechanism=cfg.mechanism,
        bounds=bounds,
        split=float(cfg.split),
        rounds=int(rounds or 1),
        round_size=int(round_size or 0),
        k_prime=int(k_prime),
        eta=float(cfg.eta),
        theta_bound=cfg.theta_bound,
    )


# -- layout ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """What one report looks like: its channels, width, fixed-point quanta and bounds."""

    d: int
    protocol: str
    channels: tuple[rz.Channel, ...]
    quanta: np.ndarray = field(repr=False)
    col_bound: np.ndarray = field(repr=False)

    @property
    def width(self) -> int:
        return int(self.quanta.shape[0])

    @property
    def kind(self) -> int:
        return KIND[self.protocol]

    @classmethod
    def build(cls, d: int, protocol: str, channels: list[rz.Channel]) -> Layout:
        width = sum(ch.dim for ch in channels)
        quanta = np.empty(width)
        bound = np.empty(width)
        for ch in channels:
            quanta[ch.offset : ch.offset + ch.dim] = rz.quantum(ch.bound)
            bound[ch.offset : ch.offset + ch.dim] = ch.bound
        return cls(d, protocol, tuple(channels), quanta, bound)

    @classmethod
    def for_config(cls, cfg: Resolved, theta: np.ndarray | None = None) -> Layout:
        """The layout of ``cfg``'s reports (interactive: at the public iterate θ)."""
        kw = {"mechanism": cfg.mechanism, "delta": cfg.delta}
        if cfg.protocol == "nldp":
            chans = rz.nldp_channels(cfg.d, cfg.epsilon, cfg.bounds, split=cfg.split, **kw)
        elif cfg.protocol == "nldp_public":
            chans = rz.public_channels(cfg.d, cfg.epsilon, cfg.bounds, **kw)
        else:
            th = np.zeros(cfg.d) if theta is None else np.asarray(theta, dtype=np.float64)
            chans = [rz.gradient_channel(cfg.d, cfg.epsilon, cfg.bounds, th, **kw)]
        return cls.build(cfg.d, cfg.protocol, chans)

    def channel_arrays(self) -> tuple[np.ndarray, ...]:
        """``(off, dim, mech, radius, scale, pkeep)`` arrays for the kernels."""
        chs = self.channels
        return (
            np.array([c.offset for c in chs], dtype=np.int64),
            np.array([c.dim for c in chs], dtype=np.int64),
            np.array([0 if c.mechanism == "l2ball" else 1 for c in chs], dtype=np.int64),
            np.array([c.radius for c in chs]),
            np.array([c.scale for c in chs]),
            np.array([1.0 / (1.0 + math.exp(-c.epsilon)) for c in chs]),
        )

    def describe(self) -> dict[str, Any]:
        """JSON description (what an owner needs to randomize, and the noise scales)."""
        return {
            "width": self.width,
            "protocol": self.protocol,
            "channels": [
                {**c.to_dict(), "raw_check": bool(self._raw_check(c))} for c in self.channels
            ],
        }

    # -- schema checks --------------------------------------------------------------------
    @staticmethod
    def _raw_check(ch: rz.Channel) -> bool:
        """Whether a Gaussian segment of norm ≤ the statistic's bound can be rejected."""
        if ch.mechanism == "l2ball":
            return True
        from scipy.stats import chi2

        # a genuine segment s + N has ‖s + N‖ ≤ ρ only if ‖N‖ ≤ 2ρ
        return bool(chi2.cdf((2.0 * ch.radius / ch.scale) ** 2, ch.dim) < RAW_CHECK_FALSE_REJECTION)

    def check(self, reports: Any, *, name: str = "reports", rtol: float = 1e-8) -> np.ndarray:
        """Validate a batch of reports; returns them as a C-contiguous float64 array.

        Raises
        ------
        InvalidProblemError
            Wrong shape or dtype, NaN/Inf, a coordinate above the mechanism's bound, an
            ℓ2-ball segment whose norm is not the mechanism's ``B``, or (Gaussian) a
            segment as small as a raw statistic: such a report was not produced by this
            study's randomizer (raw data must never be sent).
        """
        field = f"inputs.{name}" if "." not in name else name
        try:
            R = np.asarray(reports)  # noqa: N806
        except (TypeError, ValueError) as exc:
            raise InvalidProblemError(f"{name} is not an array: {exc}", field=field) from None
        if R.dtype == object or R.dtype.kind not in "fiu":
            raise InvalidProblemError(
                f"{name} must be real numbers, got dtype {R.dtype}", field=field
            )
        if R.ndim == 1:
            R = R[None, :]  # noqa: N806
        if R.ndim != 2 or R.shape[1] != self.width or R.shape[0] < 1:
            raise InvalidProblemError(
                f"{name} must have shape (m, {self.width}) for a {self.protocol} study with "
                f"d = {self.d} ({self._width_text()}), got {tuple(np.shape(reports))}",
                field=field,
            )
        R = np.ascontiguousarray(R, dtype=np.float64)  # noqa: N806
        # cheap passes first (no n × width temporaries); locate the culprit only on failure
        if not np.isfinite(R.sum()):
            bad = int(np.argmax(~np.isfinite(R).all(axis=1)))
            raise InvalidProblemError(
                f"{name}: report {bad} has NaN or infinite values", field=field
            )
        limit = self.col_bound * (1.0 + rtol)
        if (R.max(axis=0) > limit).any() or (R.min(axis=0) < -limit).any():
            over = np.abs(R) > limit
            i, j = np.argwhere(over)[0]
            raise InvalidProblemError(
                f"{name}: report {i} has |value| {abs(R[i, j]):.6g} at position {j}, above "
                f"the bound {self.col_bound[j]:.6g} of this study's mechanism",
                field=field,
            )
        for ch in self.channels:
            seg = R[:, ch.offset : ch.offset + ch.dim]
            nrm = np.sqrt(np.einsum("ij,ij->i", seg, seg))
            if ch.mechanism == "l2ball":
                bad = np.abs(nrm - ch.scale) > rtol * ch.scale + 1e-12
                if bad.any():
                    i = int(np.argmax(bad))
                    raise InvalidProblemError(
                        f"{name}: report {i}, part {ch.name!r}, has l2 norm {nrm[i]:.6g}, but "
                        f"every l2ball release of this study has norm {ch.scale:.6g}: it was "
                        "not produced by the study's randomizer (raw statistics must never be "
                        "sent; use solvers.ldp.randomizers or the SDK's contribute())",
                        field=field,
                    )
            elif self._raw_check(ch):
                bad = nrm <= ch.radius
                if bad.any():
                    i = int(np.argmax(bad))
                    raise InvalidProblemError(
                        f"{name}: report {i}, part {ch.name!r}, has l2 norm {nrm[i]:.6g}, no "
                        f"more than the bound {ch.radius:.6g} of the raw statistic, while its "
                        f"Gaussian noise alone has norm about {ch.scale * math.sqrt(ch.dim):.6g}"
                        ": it looks like an unrandomized statistic and is rejected",
                        field=field,
                    )
        return R

    def check_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per channel: the exact norm of an l2-ball release (else 0) and the raw-looking
        threshold of a Gaussian release (else 0) — the fused check's parameters."""
        norm = np.array([c.scale if c.mechanism == "l2ball" else 0.0 for c in self.channels])
        raw = np.array(
            [c.radius if c.mechanism == "gaussian" and self._raw_check(c) else 0.0
             for c in self.channels]
        )  # fmt: skip
        return norm, raw

    def _width_text(self) -> str:
        return " + ".join(f"{c.dim} {c.name}" for c in self.channels)


# -- exact aggregate -----------------------------------------------------------------------
class Aggregate:
    """Exact running sums of reports in fixed point (int64), plus their count.

    Parameters
    ----------
    layout : Layout
    sums : array of int64, optional
    count : int
    """

    def __init__(self, layout: Layout, sums: Any = None, count: int = 0) -> None:
        self.layout = layout
        self.sums = (
            np.zeros(layout.width, dtype=np.int64)
            if sums is None
            else np.array(sums, dtype=np.int64).reshape(layout.width)
        )
        self.count = int(count)

    def add(self, reports: Any, backend: Backend = CPU) -> int:
        """Add a batch of (already checked) reports; returns how many."""
        xp = backend.xp
        R = xp.ascontiguousarray(backend.asarray(reports, dtype=xp.float64))  # noqa: N806
        if R.ndim == 1:
            R = R[None, :]  # noqa: N806
        acc = xp.zeros(self.layout.width, dtype=xp.int64)
        inv_q = backend.asarray(1.0 / self.layout.quanta)
        backend.kernels("ldp").fixed_point_sum(R, inv_q, acc)
        self.sums += np.asarray(backend.to_host(acc), dtype=np.int64)
        self.count += int(R.shape[0])
        return int(R.shape[0])

    def add_checked(self, reports: Any, *, name: str = "reports", rtol: float = 1e-8) -> int:
        """Check a batch against the schema and add it, in one fused pass (CPU).

        Same acceptance rule and messages as :meth:`Layout.check` followed by
        :meth:`add`; on a bad report nothing is added and InvalidProblemError is raised.
        """
        from . import _kernels_numba as K  # noqa: N812

        lay = self.layout
        R = np.asarray(reports)  # noqa: N806
        if R.ndim != 2 or R.dtype != np.float64 or not R.flags.c_contiguous:
            R = lay.check(R, name=name, rtol=rtol)  # noqa: N806 - shapes, dtype, messages
        elif R.shape[1] != lay.width or R.shape[0] < 1:
            lay.check(R, name=name, rtol=rtol)  # raises with the shape message
        norm, raw = lay.check_arrays()
        off, dim = lay.channel_arrays()[:2]
        acc = np.zeros(lay.width, dtype=np.int64)
        bad = np.zeros(3, dtype=np.int64)
        K.check_sum(R, 1.0 / lay.quanta, lay.col_bound, off, dim, norm, raw, rtol, acc, bad)
        if bad[0] >= 0:
            i = int(bad[0])
            try:
                lay.check(R[i : i + 1], name=name, rtol=rtol)
            except InvalidProblemError as exc:
                raise InvalidProblemError(
                    exc.message.replace("report 0", f"report {i}", 1), field=exc.field
                ) from None
            raise InvalidProblemError(f"{name}: report {i} does not match the schema", field=name)
        self.sums += acc
        self.count += int(R.shape[0])
        return int(R.shape[0])

    def add_sum(self, total: np.ndarray, count: int) -> None:
        """Add an already summed block of ``count`` reports (simulation shortcut)."""
        total = np.asarray(total, dtype=np.float64)
        self.sums += np.floor(total / self.layout.quanta + 0.5).astype(np.int64)
        self.count += int(count)

    def merge(self, other: Aggregate) -> None:
        if other.layout.width != self.layout.width:
            raise ValueError("aggregates of different layouts")
        self.sums += other.sums
        self.count += other.count

    def total(self) -> np.ndarray:
        """The sum of the reports (float64)."""
        return self.sums.astype(np.float64) * self.layout.quanta

    def mean(self) -> np.ndarray:
        """The mean report (float64); raises when empty."""
        if self.count < 1:
            raise InvalidProblemError("no reports have been aggregated", field="reports")
        return self.total() / self.count
