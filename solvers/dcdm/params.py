"""Parameters of the DCDM solvers (imported by the SDK: keep this module light)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

METHODS = ("dcdm", "cg", "jacobi", "ic", "amg")


class DCDMParams(BaseModel):
    """Parameters of ``solvers.dcdm.dcdm`` / solver ``"dcdm"``."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    grid_shape: tuple[int, ...] = Field(
        ...,
        description="Cells per axis (2 or 3 ints); A is prod(grid_shape) square, C order.",
    )
    model: str = Field(
        "default",
        description=(
            "Shipped model name ('default' picks the one for the grid's dimension); the "
            "optional input 'model' (bytes of a trained model) takes precedence."
        ),
    )
    method: Literal["dcdm", "cg", "jacobi", "ic", "amg"] = Field(
        "dcdm",
        description=(
            "dcdm: learned conjugate directions; cg, jacobi (Jacobi-PCG), ic (IC(0)-PCG, "
            "CPU only), amg (pyamg smoothed-aggregation PCG, CPU only): the baselines."
        ),
    )
    rtol: float = Field(1e-6, gt=0, lt=1, description="Stop when ||b - A x|| <= rtol ||b||.")
    maxiter: int = Field(1000, ge=1, le=1_000_000, description="Maximum number of iterations.")
    n_orth: int = Field(
        2, ge=0, le=50, description="DCDM: A-orthogonalize against this many previous directions."
    )

    @field_validator("grid_shape")
    @classmethod
    def _shape(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if len(v) not in (2, 3) or any(s < 1 for s in v):
            raise ValueError("grid_shape must be 2 or 3 positive integers")
        return v


class DCDMTrainParams(BaseModel):
    """Parameters of solver ``"dcdm_train"`` (``sparsehpc train dcdm --grid N ...``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    grid: int | tuple[int, ...] = Field(
        16,
        description=(
            "Training grid: N (an N^ndim grid) or a shape. Ignored for the geometry when "
            "the input A is given (then it must be A's grid shape)."
        ),
    )
    ndim: Literal[2, 3] = Field(3, description="Dimension of the generated training grids.")
    geometries: int = Field(
        4,
        ge=1,
        le=256,
        description=(
            "Number of generated training systems: random obstacle layouts and box "
            "conditions (ignored when the input A is given)."
        ),
    )
    lanczos: int = Field(
        300, ge=10, le=20000, description="Lanczos steps (Ritz vectors) per training system."
    )
    steps: int = Field(200, ge=1, le=1_000_000, description="Adam steps.")
    batch_size: int = Field(8, ge=1, le=1024, description="Right-hand sides per step.")
    lr: float = Field(3e-3, gt=0, lt=1, description="Initial learning rate (cosine decay).")
    lr_final: float | None = Field(None, gt=0, lt=1, description="Final rate (default lr/10).")
    arch: Literal["vcycle", "bpx"] = Field(
        "vcycle",
        description=(
            "Network: 'vcycle' (multiplicative V-cycle with learned smoother gates, the "
            "shipped models) or 'bpx' (additive multilevel conv net, the first version)."
        ),
    )
    nu: int = Field(1, ge=1, le=4, description="Smoothing steps per level (vcycle).")
    unroll: int = Field(
        1,
        ge=1,
        le=16,
        description=(
            "DCDM steps in the loss: 1 is the paper's one-step loss; k > 1 differentiates "
            "through k steps of the method (the shipped 'vcycle' models use 4)."
        ),
    )
    channels: int = Field(8, ge=1, le=128, description="Feature channels of the net (bpx).")
    n_conv: int = Field(1, ge=1, le=8, description="Convolutions per level (bpx).")
    theta: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="Fraction of extra low Ritz modes boosted ×9 (paper: m/2 + θ with θ = m/20).",
    )
    seed: int = Field(0, description="Seed of geometries, Lanczos starts, init and batches.")
    threads: int | None = Field(
        None, ge=1, le=1024, description="torch threads (default: torch's)."
    )

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: int | tuple[int, ...]) -> int | tuple[int, ...]:
        if isinstance(v, int):
            if v < 4 or v > 512:
                raise ValueError("grid must be between 4 and 512")
        elif len(v) not in (2, 3) or any(s < 4 for s in v):
            raise ValueError("grid must be an int >= 4 or 2-3 ints >= 4")
        return v
