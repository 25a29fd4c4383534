"""Parameters of the LDP family (pydantic; light, importable by the service).

:class:`StudyConfig` is the *public* description of a protocol run — everything an owner
needs to randomize and the server needs to check and aggregate reports. The solver's
:class:`LdpParams` adds the server-side estimator options and the simulation options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Protocol = Literal["nldp", "nldp_public", "interactive"]
Mechanism = Literal["l2ball", "gaussian"]


class StudyConfig(BaseModel):
    """Public parameters of one LDP protocol run (a study)."""

    model_config = ConfigDict(extra="forbid")

    d: int | None = Field(
        None, ge=1, le=1000, description="Dimension of x (derived from the inputs in jobs)."
    )
    k: int = Field(..., ge=1, description="Sparsity of θ (1 <= k <= d).")
    epsilon: float = Field(
        ..., gt=0, le=50, description="Privacy budget ε of each owner (one report per owner)."
    )
    delta: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="δ of the (ε, δ)-LDP Gaussian mechanism (only with mechanism='gaussian').",
    )
    protocol: Protocol = Field(
        "nldp",
        description=(
            "nldp: non-interactive (owners privatize x x^T and x y); nldp_public: owners "
            "privatize x y only, the server has public unlabeled x; interactive: "
            "sequentially interactive LDP-IHT (owners privatize one gradient)."
        ),
    )
    mechanism: Mechanism = Field(
        "l2ball",
        description=(
            "l2ball: Duchi et al.'s l2-ball mechanism, pure ε-LDP (default); gaussian: "
            "(ε, δ)-LDP, analytic Gaussian calibration (Balle & Wang 2018)."
        ),
    )
    r: float | None = Field(
        None, gt=0, description="l2 radius of x for the covariance statistic (nldp)."
    )
    tau_x: float | None = Field(None, gt=0, description="Coordinatewise bound on x.")
    tau_y: float | None = Field(None, gt=0, description="Bound on y.")
    split: float = Field(
        0.5, gt=0, lt=1, description="nldp: fraction of ε spent on the covariance statistic."
    )
    rounds: int | None = Field(
        None, ge=1, le=10000, description="interactive: number of rounds T (default ⌈ln n⌉)."
    )
    round_size: int | None = Field(
        None, ge=1, description="interactive: owners per round (default n // T)."
    )
    k_prime: int | None = Field(
        None, ge=1, description="interactive: sparsity of the iterates (default 2k, <= d)."
    )
    eta: float = Field(1.0, gt=0, le=100, description="interactive: step size.")
    theta_bound: float | None = Field(
        1.0,
        gt=0,
        description=(
            "Known bound on ||θ||_2 (the paper assumes 1 for standardized data): estimates "
            "are projected onto this ball; null = no bound."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        if self.mechanism == "gaussian" and self.delta is None:
            raise ValueError("mechanism 'gaussian' is (ε, δ)-LDP: give delta (0 < delta < 1)")
        if self.mechanism == "l2ball" and self.delta is not None:
            raise ValueError(
                "mechanism 'l2ball' is pure ε-LDP (δ = 0): omit delta, or choose "
                "mechanism='gaussian'"
            )
        if self.d is not None:
            if self.k > self.d:
                raise ValueError(f"k = {self.k} exceeds the dimension d = {self.d}")
            if self.k_prime is not None and self.k_prime > self.d:
                raise ValueError(f"k_prime = {self.k_prime} exceeds the dimension d = {self.d}")
        if self.k_prime is not None and self.k_prime < self.k:
            raise ValueError(f"k_prime = {self.k_prime} must be >= k = {self.k}")
        return self


class LdpParams(StudyConfig):
    """Parameters of ``solvers.ldp.ldp_regression`` / solver ``"ldp_regression"``."""

    estimator: Literal["plugin", "iht"] = Field(
        "plugin",
        description=(
            "Non-interactive server estimator. plugin: the paper's closed form Σ̂⁻¹b̂ (PSD "
            "floor) then thresholding; iht: k-sparse least squares on the private "
            "statistics (iterative hard thresholding, ours)."
        ),
    )
    threshold: Literal["topk", "soft"] = Field(
        "topk",
        description="plugin: keep the k largest entries (topk) or soft-threshold at lam (soft).",
    )
    lam: float | None = Field(
        None, ge=0, description="soft threshold level (default: from the public noise scales)."
    )
    min_eig: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="Eigenvalue floor of Σ̂ relative to its mean |eigenvalue| (PSD repair).",
    )
    noise_floor: float = Field(
        0.5,
        ge=0,
        le=100,
        description=(
            "plugin, nldp: Σ̂'s eigenvalues are floored at noise_floor × 2σ_A√d, the known "
            "spectral norm of its privacy noise (σ_A: per-coordinate noise sd / √n); "
            "0 = the paper's plug-in with the relative floor only."
        ),
    )
    seed: int | None = Field(None, ge=0, description="Seed of the simulated owners' randomizers.")
    chunk_size: int = Field(
        65536, ge=4096, le=2**22, description="Owners per streamed chunk (multiple of 4096)."
    )
    simulate: Literal["auto", "message", "aggregate"] = Field(
        "auto",
        description=(
            "message: every owner's report is generated (any mechanism); aggregate: the "
            "exact sum of the owners' Gaussian noise is drawn once per chunk (gaussian "
            "mechanism only; distributionally identical); auto: aggregate for gaussian."
        ),
    )
    x_scale: float = Field(1.0, gt=0, description="Declared scale of x for default bounds.")
    y_scale: float = Field(1.0, gt=0, description="Declared scale of y for default bounds.")
    check_reports: bool = Field(
        True, description="Check that reports match the protocol's schema (norms, bounds)."
    )
