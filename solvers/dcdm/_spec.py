"""Registration of the DCDM solvers: ``"dcdm"`` (solve) and ``"dcdm_train"`` (train)."""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._errors import InvalidProblemError
from solvers._registry import InputSpec, SolverSpec, register

from .params import DCDMParams, DCDMTrainParams

REFERENCES = (
    "Kaneda, Akar, Chen, Kala, Hyde, Teran (2023) A Deep Conjugate Direction Method for "
    "Iteratively Solving Linear Systems, ICML 2023 (PMLR 202:15720-15736), arXiv:2205.10763",
)


# -- dcdm -------------------------------------------------------------------------------------
def _validate(inputs: dict[str, Any], params: DCDMParams) -> None:
    from .system import analyze, check_rhs

    an = analyze(inputs["A"], params.grid_shape)
    check_rhs(inputs["b"], an.n, "b")
    if inputs.get("x0") is not None:
        check_rhs(inputs["x0"], an.n, "x0")
    if params.method == "dcdm":
        from .models import load_model

        source = inputs.get("model")
        load_model(source if source is not None else params.model, len(an.grid_shape))
    elif inputs.get("model") is not None:
        raise InvalidProblemError(
            f"input 'model' is only used by method 'dcdm', not {params.method!r}",
            field="inputs.model",
        )


def _solve(inputs: dict[str, Any], params: DCDMParams, backend, callback):  # noqa: ANN001
    from .solver import dcdm, pcg

    common = dict(
        grid_shape=params.grid_shape,
        rtol=params.rtol,
        maxiter=params.maxiter,
        x0=inputs.get("x0"),
        backend=backend,
        callback=callback,
    )
    if params.method == "dcdm":
        model = inputs.get("model")
        return dcdm(
            inputs["A"],
            inputs["b"],
            model=model if model is not None else params.model,
            n_orth=params.n_orth,
            **common,
        )
    precond = "none" if params.method == "cg" else params.method
    return pcg(inputs["A"], inputs["b"], precond=precond, **common)


def _estimate_bytes(inputs: dict[str, Any], params: DCDMParams) -> int:
    A = inputs["A"]  # noqa: N806
    n = int(A.shape[0])
    nnz = int(getattr(A, "nnz", n * 7))
    # CSR, ~12 float64 work vectors, the V-cycle net's float32 hierarchy (fluid block,
    # transfers both ways, Galerkin levels ≈ 60 bytes per cell) and its build temporaries
    return int(12 * nnz + 8 * 12 * n + 4 * 100 * n)


DCDM_SPEC = register(
    SolverSpec(
        name="dcdm",
        version="1.1.0",
        family="dcdm",
        summary=(
            "Deep conjugate direction method: a trained CNN proposes search directions for "
            "SPD grid systems (Poisson pressure); baselines CG, Jacobi/IC(0)/AMG-PCG."
        ),
        params_model=DCDMParams,
        inputs=(
            InputSpec(
                "A",
                "sparse",
                dtype="real",
                description="SPD (n, n) grid matrix, n = prod(grid_shape), cells in C order",
            ),
            InputSpec(
                "b",
                "dense",
                ndim=(1, 2, 3),
                dtype="real",
                description="right-hand side: n entries, flat or grid-shaped",
            ),
            InputSpec(
                "x0",
                "dense",
                ndim=(1, 2, 3),
                dtype="real",
                required=False,
                description="initial guess",
            ),
            InputSpec(
                "model",
                "bytes",
                dtype="any",
                required=False,
                description="a trained model (bytes from dcdm_train); overrides params.model",
            ),
        ),
        outputs=("x",),
        solve=_solve,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_bytes,
        validate=_validate,
        requires=("torch",),
        references=REFERENCES,
    )
)


# -- dcdm_train -----------------------------------------------------------------------------
def _validate_train(inputs: dict[str, Any], params: DCDMTrainParams) -> None:
    from .training_job import resolve_grid

    shape = resolve_grid(params)
    if inputs.get("A") is not None:
        from .system import analyze

        analyze(inputs["A"], shape)
    if inputs.get("model") is not None:
        from .models import load_model

        load_model(inputs["model"], len(shape))


def _solve_train(inputs: dict[str, Any], params: DCDMTrainParams, backend, callback):  # noqa: ANN001
    from .training_job import train_job

    return train_job(inputs, params, backend, callback)


def _estimate_train(inputs: dict[str, Any], params: DCDMTrainParams) -> int:
    from .training_job import resolve_grid

    n = int(np.prod(resolve_grid(params)))
    return int(8 * n * params.lanczos * 2 + 4 * n * params.batch_size * params.channels * 30)


DCDM_TRAIN_SPEC = register(
    SolverSpec(
        name="dcdm_train",
        version="1.1.0",
        family="dcdm",
        summary=(
            "Train a DCDM network: Ritz-vector right-hand sides (Lanczos) and the paper's "
            "scale-invariant loss; output 'model' is the saved model (bytes)."
        ),
        params_model=DCDMTrainParams,
        inputs=(
            InputSpec(
                "A",
                "sparse",
                dtype="real",
                required=False,
                description="train on this grid matrix (grid = its shape), not generated ones",
            ),
            InputSpec(
                "model",
                "bytes",
                dtype="any",
                required=False,
                description="continue training this model (bytes from a previous job)",
            ),
        ),
        outputs=("model",),
        solve=_solve_train,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_train,
        validate=_validate_train,
        requires=("torch",),
        references=REFERENCES,
    )
)
