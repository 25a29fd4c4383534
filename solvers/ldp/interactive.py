"""The sequentially interactive protocol (corrected LDP-IHT) as a server state machine.

Round ``t = 0, …, T−1``: the server broadcasts the iterate ``θ_t`` (k'-sparse,
``‖θ_t‖₂ ≤ theta_bound``); each owner of round t (every owner answers exactly one round)
sends its gradient ``x̄(⟨x̄, θ_t⟩ − ȳ)`` through the ℓ2-ball (or Gaussian) mechanism of
the round's public radius; when the round has ``round_size`` reports the server sets
``θ_{t+1} = Π_ball(H_{k'}(θ_t − η ḡ_t))`` with ``ḡ_t`` the mean report. The output is
``H_k(θ_T)`` (k-sparse).

The state (round, iterate, exact running sums, per-round history) is plain JSON
(:meth:`InteractiveServer.state`), so the service keeps it in its store and survives
restarts; :meth:`InteractiveServer.replay` recomputes every iterate from the per-round
sums (used by the estimate job, bit for bit equal to the broadcast iterates: the update
is host NumPy arithmetic on exact integer sums).

References
----------
.. [1] L. Zhu, M. Ding, V. Aggarwal, J. Xu, D. Wang, "Improved Analysis of Sparse Linear
   Regression in Local Differential Privacy Model", ICLR 2024 (Algorithm 2, Theorem 7).
.. [2] D. Wang, J. Xu, "On Sparse Linear Regression in the Local Differential Privacy
   Model", ICML 2019 / IEEE TIT 2021 (LDP-IHT).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._backend import CPU, Backend
from solvers._errors import InvalidProblemError, SparseHPCError

from .estimators import hard_threshold, iht_update
from .protocol import Aggregate, Layout, Resolved


class StaleRoundError(SparseHPCError):
    """Reports computed at an earlier round's iterate (the round is already closed).

    The server discards them; the owners must not answer again (each owner speaks once).
    """

    def __init__(self, sent: int, current: int) -> None:
        super().__init__(
            f"reports for round {sent} arrived while round {current} is open: round {sent} "
            "is closed and these reports were discarded (GET the current iterate before "
            "randomizing)"
        )
        self.sent = sent
        self.current = current


class ProtocolFinishedError(InvalidProblemError):
    """Every round of the interactive protocol is complete; no report is accepted."""


class InteractiveServer:
    """Server state machine of the sequentially interactive LDP-IHT protocol.

    Parameters
    ----------
    cfg : Resolved
        A resolved interactive configuration (``rounds``, ``round_size``, ``k_prime``,
        ``eta``, bounds, budget and mechanism).
    backend : Backend
        Where reports are aggregated (the iterate update itself is host NumPy).

    Examples
    --------
    >>> srv = InteractiveServer(cfg)
    >>> while not srv.done:
    ...     it = srv.iterate()                       # broadcast to this round's owners
    ...     R = randomize_gradient(X_t, y_t, it["theta"], ...)
    ...     srv.submit(R, round=it["round"])         # closes the round when full
    >>> srv.estimate()                               # k-sparse θ
    """

    def __init__(self, cfg: Resolved, *, backend: Backend = CPU) -> None:
        if cfg.protocol != "interactive":
            raise ValueError("InteractiveServer needs an interactive configuration")
        self.cfg = cfg
        self.backend = backend
        self.round = 0
        self.theta = np.zeros(cfg.d)
        self.history: list[dict[str, Any]] = []
        self.agg = Aggregate(Layout.for_config(cfg, self.theta))

    # -- protocol -------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.round >= self.cfg.rounds

    @property
    def layout(self) -> Layout:
        """The layout (channel, radius, bound) of the open round's reports."""
        return self.agg.layout

    def iterate(self) -> dict[str, Any]:
        """What the owners of the open round receive: round, iterate, release parameters."""
        return {
            "round": self.round,
            "rounds": self.cfg.rounds,
            "done": self.done,
            "theta": self.theta.tolist(),
            "round_size": self.cfg.round_size,
            "received": self.agg.count,
            "layout": self.layout.describe(),
        }

    def submit(
        self,
        reports: Any,
        *,
        round: int | None = None,  # noqa: A002 - the protocol's word
        check: bool = True,
        auto_close: bool = True,
    ) -> int:
        """Add a batch of reports to the open round; returns how many were accepted.

        The round closes (and the iterate is updated) as soon as it holds at least
        ``round_size`` reports, at the end of the batch that fills it.

        Raises
        ------
        StaleRoundError
            ``round`` is not the open round.
        ProtocolFinishedError
            Every round is complete.
        InvalidProblemError
            Reports that do not match the round's schema.
        """
        if self.done:
            raise ProtocolFinishedError(
                f"all {self.cfg.rounds} rounds are complete; no more reports are accepted",
                field="reports",
            )
        if round is not None and int(round) != self.round:
            raise StaleRoundError(int(round), self.round)
        # reports arrive on the host: check and sum them there, in one pass
        n = self.agg.add_checked(reports) if check else self.agg.add(reports, self.backend)
        if auto_close and self.agg.count >= self.cfg.round_size:
            self.close_round()
        return n

    def add_sum(self, total: np.ndarray, count: int) -> None:
        """Add the sum of ``count`` reports of the open round (simulation shortcut)."""
        self.agg.add_sum(total, count)

    def close_round(self) -> None:
        """Update the iterate from the open round's reports and open the next round."""
        if self.agg.count < 1:
            raise InvalidProblemError(f"round {self.round} has no reports", field="reports")
        gbar = self.agg.mean()
        new = iht_update(
            self.theta,
            gbar,
            eta=self.cfg.eta,
            k_prime=self.cfg.k_prime,
            theta_bound=self.cfg.theta_bound,
        )
        self.history.append(
            {
                "round": self.round,
                "count": self.agg.count,
                "sums": self.agg.sums.tolist(),
                "radius": self.layout.channels[0].radius,
                "scale": self.layout.channels[0].scale,
                "theta": new.tolist(),
            }
        )
        self.round += 1
        self.theta = new
        self.agg = Aggregate(Layout.for_config(self.cfg, self.theta))

    # -- output ---------------------------------------------------------------------------
    def iterates(self) -> np.ndarray:
        """``(completed rounds + 1, d)``: θ_0 = 0 and every iterate after it."""
        rows = [np.zeros(self.cfg.d)] + [np.asarray(h["theta"]) for h in self.history]
        return np.vstack(rows)

    def estimate(self) -> np.ndarray:
        """The k-sparse output ``H_k(θ)`` of the current iterate."""
        return hard_threshold(self.theta, self.cfg.k, np)

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-serializable state (exact: integer sums, floats written with repr)."""
        return {
            "round": self.round,
            "theta": self.theta.tolist(),
            "sums": self.agg.sums.tolist(),
            "count": self.agg.count,
            "history": self.history,
        }

    @classmethod
    def from_state(
        cls, cfg: Resolved, state: dict[str, Any], *, backend: Backend = CPU
    ) -> InteractiveServer:
        srv = cls(cfg, backend=backend)
        srv.round = int(state["round"])
        srv.theta = np.asarray(state["theta"], dtype=np.float64)
        srv.history = list(state.get("history", []))
        srv.agg = Aggregate(Layout.for_config(cfg, srv.theta), state["sums"], state["count"])
        return srv

    @classmethod
    def replay(
        cls, cfg: Resolved, round_sums: Any, round_counts: Any, *, backend: Backend = CPU
    ) -> InteractiveServer:
        """Recompute the protocol from the exact per-round sums of completed rounds."""
        sums = np.asarray(round_sums, dtype=np.int64)
        counts = np.asarray(round_counts, dtype=np.int64).ravel()
        if sums.ndim == 1:
            sums = sums[None, :]
        if sums.ndim != 2 or sums.shape[1] != cfg.d or sums.shape[0] != counts.shape[0]:
            raise InvalidProblemError(
                f"per-round sums must have shape (rounds, {cfg.d}) with one count per round, "
                f"got sums {sums.shape} and counts {counts.shape}",
                field="inputs.sums",
            )
        if sums.shape[0] > cfg.rounds:
            raise InvalidProblemError(
                f"{sums.shape[0]} rounds of sums for a protocol of {cfg.rounds} rounds",
                field="inputs.sums",
            )
        if (counts < 1).any():
            raise InvalidProblemError(
                "every round needs at least one report", field="inputs.counts"
            )
        srv = cls(cfg, backend=backend)
        for s, c in zip(sums, counts):
            srv.agg = Aggregate(srv.layout, s, int(c))
            srv.close_round()
        return srv
