"""Parameters of the RPCA solvers (imported by the SDK: keep this module light)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RPCAParams(BaseModel):
    """Parameters of ``solvers.rpca.rpca`` / solver ``"rpca"``.

    ``lam``, ``rho``, ``mu`` and ``svd`` apply to ``method="ialm"``; ``rank``, ``beta``,
    ``gamma``, ``oversample`` and ``seed`` to ``method="altproj"``; ``tol`` and
    ``maxiter`` to both.
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["ialm", "altproj"] = Field(
        "ialm",
        description=(
            "Algorithm: 'ialm' (principal component pursuit by inexact ALM, Lin, Chen, Ma "
            "2010) or 'altproj' (non-convex alternating projections, Netrapalli et al. "
            "2014: rank-k projections by warm-started subspace iteration, no full SVD)."
        ),
    )
    lam: float | None = Field(
        None,
        gt=0,
        description=(
            "ialm: weight of the l1 term; default 1/sqrt(max(m, n)), or "
            "1/sqrt(p max(m, n)) with a mask observing a fraction p of the entries."
        ),
    )
    tol: float = Field(
        1e-7,
        gt=0,
        lt=1,
        description="Stop when ||M - L - S||_F / ||M||_F <= tol (over the observed entries).",
    )
    maxiter: int = Field(1000, ge=1, le=100000, description="Maximum number of iterations.")
    rho: float = Field(1.5, gt=1, le=10, description="ialm: growth factor of the penalty mu.")
    mu: float | None = Field(None, gt=0, description="ialm: initial penalty; default 1.25/||M||_2.")
    svd: Literal["auto", "full", "partial"] = Field(
        "auto",
        description="ialm: SVT route; auto picks full LAPACK or warm-started partial SVD.",
    )
    rank: int | None = Field(
        None,
        ge=1,
        description=(
            "altproj: rank of L; None estimates it (stages of growing rank, each ended when "
            "the rank-k fit stalls; the rank grows by the singular values above the "
            "residual's noise edge)."
        ),
    )
    beta: float | None = Field(
        None,
        gt=0,
        description=(
            "altproj: threshold constant, zeta = beta (sigma_{k+1} + gamma^t sigma_k); "
            "default 1/(2 (m n)^(1/4))."
        ),
    )
    gamma: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="altproj: geometric decay of the threshold's transient term per iteration.",
    )
    oversample: int = Field(
        10, ge=0, le=200, description="altproj: extra columns of the subspace iteration."
    )
    seed: int = Field(0, ge=0, description="altproj: seed of the random start subspace.")


class RPCAVideoParams(BaseModel):
    """Parameters of ``solvers.rpca.background_subtraction`` / solver ``"rpca_video"``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["ialm", "altproj"] = Field(
        "altproj", description="RPCA algorithm (see the 'rpca' solver)."
    )
    rank: int | None = Field(
        None,
        ge=1,
        description=(
            "altproj: rank of the background (1: static camera and lighting; 2-3 with "
            "slow illumination changes); None estimates it."
        ),
    )
    lam: float | None = Field(None, gt=0, description="ialm: l1 weight (see 'rpca').")
    tol: float = Field(1e-7, gt=0, lt=1, description="Relative residual tolerance.")
    maxiter: int = Field(500, ge=1, le=100000, description="Maximum number of iterations.")
    threshold: float | None = Field(
        None,
        ge=0,
        description=(
            "Foreground mask: |foreground| > threshold; default max(3 x the noise level "
            "estimated from the median absolute residual, 0.01 x the data range)."
        ),
    )
    beta: float | None = Field(None, gt=0, description="altproj: threshold constant.")
    gamma: float = Field(0.5, gt=0, lt=1, description="altproj: threshold decay.")
    seed: int = Field(0, ge=0, description="altproj: seed of the random start subspace.")
