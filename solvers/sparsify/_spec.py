"""Registration of the sparsification solver."""

from __future__ import annotations

from typing import Any

import scipy.sparse

from solvers._registry import InputSpec, SolverSpec, register

from .params import SparsifyParams


def _solve(inputs: dict[str, Any], params: SparsifyParams, backend, callback):  # noqa: ANN001
    from .solver import solve

    return solve(inputs, params, backend, callback)


def _validate(inputs: dict[str, Any], params: SparsifyParams) -> None:
    from .solver import validate

    validate(inputs, params)


def _estimate_bytes(inputs: dict[str, Any], params: SparsifyParams) -> int:
    A = inputs["A"]  # noqa: N806
    nnz = A.nnz if scipy.sparse.issparse(A) else int(A.size)
    n = A.shape[0]
    # edge arrays and CSR copies (~12 arrays of nnz), embeddings (n x embed_dim), LU fill
    return int(8 * (12 * nnz + n * (params.embed_dim + 40)))


SPARSIFY_SPEC = register(
    SolverSpec(
        name="sparsify",
        version="1.0.0",
        family="sparsify",
        summary=(
            "Spectral graph sparsification: GRASS (spanning-tree backbone + spectrally "
            "critical off-tree edges, until a target κ or density) or Spielman-Srivastava "
            "effective-resistance sampling."
        ),
        params_model=SparsifyParams,
        inputs=(
            InputSpec(
                "A",
                "dense_or_sparse",
                ndim=(2,),
                dtype="real",
                description=(
                    "symmetric adjacency matrix of a connected graph (n, n): positive "
                    "weights, zero diagonal"
                ),
            ),
        ),
        outputs=("H",),
        solve=_solve,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_bytes,
        validate=_validate,
        references=(
            "Z. Feng (2020) GRASS: Graph Spectral Sparsification Leveraging Scalable "
            "Spectral Perturbation Analysis, IEEE TCAD 39(12)",
            "Z. Liu, W. Yu, Z. Feng (2022) feGRASS: Fast and Effective Graph Spectral "
            "Sparsification for Scalable Power Grid Analysis, IEEE TCAD 41(3)",
            "D. A. Spielman, N. Srivastava (2011) Graph sparsification by effective "
            "resistances, SIAM J. Comput. 40(6)",
            "Y. Yuan, A. Aghdaei, Z. Feng (2025) dyGRASS: Dynamic Spectral Graph "
            "Sparsification via Localized Random Walks on GPUs, arXiv:2505.02741",
        ),
    )
)
