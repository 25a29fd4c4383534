"""Registration of the RPCA solvers ("rpca", "rpca_video", "rpca_segment", "rpcanet_train")."""

from __future__ import annotations

from typing import Any

from solvers._registry import InputSpec, SolverSpec, register

from .deep.params import RPCANetTrainParams, SegmentParams
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


# -- RPCANet++ (solvers.rpca.deep; torch imported lazily) -------------------------------------
_DEEP_REFERENCES = (
    "Wu, Zhang, Wang, Xiao, Chen, Zhang, Yang (2025) RPCANet++: Deep interpretable robust "
    "PCA for sparse object segmentation, arXiv:2508.04190",
    "Wu, Zhang, Zhang, Chen, Yang (2024) RPCANet: Deep unfolding RPCA based infrared small "
    "target detection, WACV 2024",
)


def _solve_segment(inputs: dict[str, Any], params: Any, backend, callback):  # noqa: ANN001
    from .deep.segment import segment

    model = inputs.get("model")
    return segment(
        inputs["images"],
        model=model if model is not None else params.model,
        threshold=params.threshold,
        backend=backend,
        batch_size=params.batch_size,
        callback=callback,
    )


def _validate_segment(inputs: dict[str, Any], params: Any) -> None:
    from .deep.models import load_model
    from .deep.segment import check_images

    check_images(inputs["images"])
    model = inputs.get("model")
    load_model(model if model is not None else params.model)


def _estimate_segment(inputs: dict[str, Any], params: Any) -> int:
    x = inputs["images"]
    per_image = int(x.size // max(x.shape[0], 1)) if x.ndim == 3 else int(x.size)
    # float32 activations: ~10 maps of 16 channels live at once per image in a batch
    return int(12 * x.size + 4 * 16 * 10 * per_image * params.batch_size)


def _solve_train(inputs: dict[str, Any], params: Any, backend, callback):  # noqa: ANN001
    from .deep.training_job import train_job

    return train_job(inputs, params, backend, callback)


def _validate_train(inputs: dict[str, Any], params: Any) -> None:
    from .deep.training_job import check_training_data

    check_training_data(inputs)
    if inputs.get("model") is not None:
        from .deep.models import load_model

        load_model(inputs["model"])


def _estimate_train(inputs: dict[str, Any], params: Any) -> int:
    pool = 4 * params.pool * params.scene_size**2 * 2
    acts = 4 * params.batch_size * params.crop**2 * params.channels * 60 * params.stages
    return int(pool + acts)


RPCA_SEGMENT_SPEC = register(
    SolverSpec(
        name="rpca_segment",
        version="1.0.0",
        family="rpca",
        summary=(
            "RPCANet++ (deep-unfolded robust PCA) small-object segmentation: per-pixel "
            "object probabilities and masks of grey images (e.g. infrared small targets)."
        ),
        params_model=SegmentParams,
        inputs=(
            InputSpec(
                "images",
                "dense",
                ndim=(2, 3),
                dtype="real",
                description="(H, W) or (N, H, W) grey images, any scale",
            ),
            InputSpec(
                "model",
                "bytes",
                dtype="any",
                required=False,
                description="a trained model (bytes from rpcanet_train); overrides params.model",
            ),
        ),
        outputs=("probabilities", "masks"),
        solve=_solve_segment,
        backends=("cpu", "gpu"),
        estimate_bytes=_estimate_segment,
        validate=_validate_segment,
        requires=("torch",),
        references=_DEEP_REFERENCES,
    )
)

RPCANET_TRAIN_SPEC = register(
    SolverSpec(
        name="rpcanet_train",
        version="1.0.0",
        family="rpca",
        summary=(
            "Train an RPCANet++ network on generated infrared scenes or on uploaded images "
            "+ masks (SoftIoU + BCE loss, Adam); output 'model' is the saved model (bytes)."
        ),
        params_model=RPCANetTrainParams,
        inputs=(
            InputSpec(
                "images",
                "dense",
                ndim=(2, 3),
                dtype="real",
                required=False,
                description="training images (N, H, W); with 'masks'",
            ),
            InputSpec(
                "masks",
                "dense",
                ndim=(2, 3),
                dtype="any",
                required=False,
                description="object masks (bool or 0/1), shape of 'images'",
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
        references=_DEEP_REFERENCES,
    )
)
