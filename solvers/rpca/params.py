"""Parameters of the RPCA solvers (imported by the SDK: keep this module light)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RPCAParams(BaseModel):
    """Parameters of ``solvers.rpca.rpca`` / solver ``"rpca"``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["ialm"] = Field("ialm", description="Algorithm: inexact ALM (Lin, Chen, Ma 2010).")
    lam: float | None = Field(
        None, gt=0, description="Weight of the l1 term; default 1/sqrt(max(m, n))."
    )
    tol: float = Field(1e-7, gt=0, lt=1, description="Stop when ||M - L - S||_F / ||M||_F <= tol.")
    maxiter: int = Field(1000, ge=1, le=100000, description="Maximum number of iterations.")
    rho: float = Field(1.5, gt=1, le=10, description="Growth factor of the penalty mu.")
    mu: float | None = Field(None, gt=0, description="Initial penalty; default 1.25/||M||_2.")
    svd: Literal["auto", "full", "partial"] = Field(
        "auto", description="SVT route: auto picks full LAPACK or warm-started partial SVD."
    )
