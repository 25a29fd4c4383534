"""Registration of the RPCA solvers ("rpca", "rpca_video")."""

from __future__ import annotations

from typing import Any

from solvers._registry import InputSpec, SolverSpec, register

from .params import RPCAParams, RPCAVideoParams

_REFERENCES = (
    "Lin, Chen, Ma (2010) The augmented Lagrange multiplier method for exact recovery "
    "of corrupted low-rank matrices, arXiv:1009.5055",
    "Candès, Li, Ma, Wright (2011) Robust principal component analysis?, J. ACM 58(3)",
    "Netrapalli, Niranjan, Sanghavi, Anandkumar, Jain (2014) Non-convex robust PCA, "
    "NeurIPS 2014, arXiv:1410.7660",
    "Cai, Cai, Wei (2019) Accelerated alternating projections for robust principal "
    "component analysis, JMLR 20",
)


def _solve(inputs: dict[str, Any], params: RPCAParams, backend, callback):  # noqa: ANN001
    from .solver import solve

    return solve(inputs["M"], params, backend, callback, mask=inputs.get("mask"))


def _validate(inputs: dict[str, Any], params: RPCAParams) -> None:
    from .solver import validate

    validate(inputs, params)


def _estimate_bytes(inputs: dict[str, Any], params: RPCAParams) -> int:
    M = inputs["M"]  # noqa: N806
    # ialm: D, Y, A, E, X plus the SVD workspace; altproj: D, L, S, X (+ mask)
    arrays = 7 if params.method == "ialm" else 5
    return int(arrays * M.size * M.dtype.itemsize)


RPCA_SPEC = register(
    SolverSpec(
        name="rpca",
        version="1.0.0",
        family="rpca",
        summary=(
            "Robust PCA M = L + S: principal component pursuit (inexact ALM) or non-convex "
            "alternating projections (large matrices); optional mask of observed entries."
        ),
        params_model=RPCAParams,
        inputs=(
            InputSpec("M", "dense", ndim=(2,), dtype="real", description="data matrix"),
            InputSpec(
                "mask",
                "dense",
                ndim=(2,),
                dtype="any",
                required=False,
                description="observed entries of M (bool or 0/1, True = observed)",
            ),
        ),
        outputs=("L", "S"),
        solve=_solve,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_bytes,
        validate=_validate,
        references=_REFERENCES,
    )
)


def _solve_video(inputs: dict[str, Any], params: RPCAVideoParams, backend, callback):  # noqa: ANN001
    from .video import solve

    return solve(inputs, params, backend, callback)


def _validate_video(inputs: dict[str, Any], params: RPCAVideoParams) -> None:
    from .video import validate

    validate(inputs, params)


def _estimate_video(inputs: dict[str, Any], params: RPCAVideoParams) -> int:
    F = inputs["frames"]  # noqa: N806
    arrays = 7 if params.method == "ialm" else 6
    return int(arrays * F.size * max(F.dtype.itemsize, 4))


RPCA_VIDEO_SPEC = register(
    SolverSpec(
        name="rpca_video",
        version="1.0.0",
        family="rpca",
        summary=(
            "Video background subtraction by robust PCA: frames (T, H, W[, C]) → low-rank "
            "background, sparse foreground and a foreground mask."
        ),
        params_model=RPCAVideoParams,
        inputs=(
            InputSpec(
                "frames",
                "dense",
                ndim=(3, 4),
                dtype="real",
                description="video: (T, H, W) grey or (T, H, W, C) colour frames",
            ),
            InputSpec(
                "mask",
                "dense",
                ndim=(3, 4),
                dtype="any",
                required=False,
                description="observed pixels (bool or 0/1, shape of frames or (T, H, W))",
            ),
        ),
        outputs=("background", "foreground", "foreground_mask"),
        solve=_solve_video,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_video,
        validate=_validate_video,
        references=_REFERENCES[:2]
        + _REFERENCES[2:3]
        + (
            "Candès, Li, Ma, Wright (2011), Sec. 4.2: background modelling from surveillance video",
        ),
    )
)
