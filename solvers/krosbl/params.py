"""Parameters of the KroSBL solvers (imported by the SDK: keep this module light)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

METHODS = ("svd", "am", "sbl")
#: default relative pruning threshold per method (the authors' code: r = 1e-3 for
#: SVD-KroSBL and classic SBL, 1e-2 for AM-KroSBL; 1e-2 prunes true-support entries of
#: AM-KroSBL in its first iterations at M = 400, N = 1600, so AM uses 1e-3 too)
PRUNE_DEFAULT = {"svd": 1e-3, "am": 1e-3, "sbl": 1e-3}
#: default initial prior variance, as a multiple of the data-matched level c
#: (c ‖kron(H)‖_F² = ‖y‖²/T − M σ²); measured on the paper's synthetic and IRS problems
#: (docs/krosbl.md): SVD-KroSBL recovers more often started above c (the first E-step is
#: then close to the minimum-norm solution), AM-KroSBL started below it
INIT_DEFAULT = {"svd": 100.0, "am": 0.01, "sbl": 1.0}


class KroSBLParams(BaseModel):
    """Parameters of ``solvers.krosbl.krosbl`` / solver ``"krosbl"``."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["svd", "am", "sbl"] = Field(
        "svd",
        description=(
            "svd: SVD-KroSBL (rank-one Kronecker fit of the EM second moments); "
            "am: AM-KroSBL (alternating minimisation, provably convergent; with "
            "block_sizes: the pattern-coupled block-sparse variant); sbl: classic "
            "unstructured EM-SBL on the explicit dictionary kron(H) (baseline)."
        ),
    )
    noise_var: float | None = Field(
        None,
        ge=0,
        description=(
            "Noise variance sigma^2 (per complex/real entry of y). None: learned by EM. "
            "0 means noiseless (floored at a tiny fraction of the signal power)."
        ),
    )
    block_sizes: list[int] | None = Field(
        None,
        description=(
            "Block-sparse extension (method 'am' only): one block length per factor; "
            "entries of factor k are coupled to their neighbours within block_sizes[k]//2 "
            "(1 = no coupling)."
        ),
    )
    coupling: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Coupling weight beta of the block-sparse (pattern-coupled) prior.",
    )
    maxiter: int = Field(500, ge=1, le=100000, description="Maximum number of EM iterations.")
    tol: float = Field(
        1e-6,
        gt=0,
        lt=1,
        description="Stop when ||gamma_new - gamma|| / ||gamma|| < tol.",
    )
    prune: (
        Annotated[float, Field(ge=0, lt=1)] | list[Annotated[float, Field(ge=0, lt=1)]] | None
    ) = Field(
        None,
        description=(
            "Drop hyperparameters below prune x max (per factor for KroSBL, over gamma "
            "for classic SBL) with their columns; 0 disables pruning; a list gives one "
            "threshold per factor. Default (None): 1e-3 (the authors' setting for svd "
            "and sbl; they use 1e-2 for am)."
        ),
    )
    support_tol: float = Field(
        1e-3,
        gt=0,
        lt=1,
        description=(
            "Estimated support: per factor, entries with gamma_k >= support_tol x "
            "max(gamma_k) (classic SBL: gamma_i >= support_tol x max(gamma))."
        ),
    )
    init_scale: float | None = Field(
        None,
        gt=0,
        description=(
            "Initial prior variance of every entry, as a multiple of the data-matched "
            "level c with c ||kron(H)||_F^2 = ||y||^2/T - M sigma^2 (scale-free). "
            "Default: 100 for svd, 0.01 for am, 1 for sbl."
        ),
    )
    accelerate: bool = Field(
        True,
        description=(
            "AM: before each E-step, the exact minimisation of the SBL cost along the "
            "global scale of gamma (free given the factor eigendecompositions; the cost "
            "still decreases monotonically, ~5x fewer iterations). False: plain EM."
        ),
    )
    am_sweeps: int = Field(
        10, ge=1, le=1000, description="AM: maximum inner alternating sweeps per EM iteration."
    )
