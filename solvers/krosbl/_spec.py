"""Registration of the KroSBL solver."""

from __future__ import annotations

import math
from typing import Any

from solvers._registry import InputSpec, SolverSpec, register

from .params import KroSBLParams


def _solve(inputs: dict[str, Any], params: KroSBLParams, backend, callback):  # noqa: ANN001
    from .solver import solve

    return solve(inputs, params, backend, callback)


def _validate(inputs: dict[str, Any], params: KroSBLParams) -> None:
    from .solver import validate

    validate(inputs, params)


def _estimate_bytes(inputs: dict[str, Any], params: KroSBLParams) -> int:
    H = inputs["H"]  # noqa: N806
    y = inputs["y"]
    M = math.prod(int(h.shape[0]) for h in H)  # noqa: N806
    N = math.prod(int(h.shape[1]) for h in H)  # noqa: N806
    T = 1 if y.ndim == 1 else int(y.shape[1])  # noqa: N806
    item = 16 if any(a.dtype.kind == "c" for a in [y, *H]) else 8
    if params.method == "sbl":
        # explicit dictionary, a pruned copy, B = L⁻¹A, and M x M work
        return int(3 * M * N * item + 4 * M * M * item + 8 * N * item)
    # μ (N x T), s, Λ, two γ vectors, the M-space tensors and the mode-product temporaries
    return int(3 * N * T * item + 6 * N * 8 + 4 * M * T * item)


KROSBL_SPEC = register(
    SolverSpec(
        name="krosbl",
        version="1.0.0",
        family="krosbl",
        summary=(
            "Kronecker-structured sparse Bayesian learning: y = kron(H_1..H_K) x + n with a "
            "Kronecker-supported x; SVD-KroSBL, AM-KroSBL (+ block-sparse), classic SBL."
        ),
        params_model=KroSBLParams,
        inputs=(
            InputSpec(
                "y",
                "dense",
                ndim=(1, 2),
                dtype="numeric",
                description="measurements (M,) or (M, T) snapshots sharing one support; "
                "real or complex",
            ),
            InputSpec(
                "H",
                "list",
                ndim=(2,),
                dtype="numeric",
                description="Kronecker factors H_k (M_k, N_k), np.kron order; M = prod M_k",
            ),
        ),
        outputs=("x", "gamma"),
        solve=_solve,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_bytes,
        validate=_validate,
        references=(
            "Y. He, G. Joseph (2024) Bayesian algorithms for Kronecker-structured sparse "
            "vector recovery with application to IRS-MIMO channel estimation, IEEE TSP, "
            "arXiv:2307.14719",
            "M. E. Tipping (2001) Sparse Bayesian learning and the relevance vector "
            "machine, JMLR 1",
            "J. Fang, Y. Shen, H. Li, P. Wang (2015) Pattern-coupled sparse Bayesian "
            "learning for recovery of block-sparse signals, IEEE TSP 63(2)",
        ),
    )
)
