"""The ``rpcanet_train`` job: train on generated scenes or on uploaded images + masks.

``sparsehpc train rpcanet --steps 300 -o model.pt`` runs this (in-process or as a job on
a server); the file it writes loads with ``segment(..., model="model.pt")``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend
from solvers._errors import InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult

from .params import RPCANetTrainParams


@dataclass(kw_only=True)
class RPCANetTrainResult(SolverResult):
    """Result of the ``rpcanet_train`` job.

    Attributes
    ----------
    model : ndarray of uint8
        The saved model (``RPCANetModel.to_bytes``): write it to a file, or pass it as
        the ``model`` input of an ``rpca_segment`` job.
    residuals : ndarray
        Training loss per step.
    info : dict
        ``val`` ([step, IoU, Pd] on generated validation scenes), ``best_step``,
        ``parameters``, ``train_seconds``, ``model_bytes``.
    """

    model: np.ndarray
    info: dict[str, Any] | None = None


def check_training_data(inputs: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate the optional ``images`` + ``masks`` inputs (both or neither)."""
    from .segment import check_images

    imgs, msks = inputs.get("images"), inputs.get("masks")
    if imgs is None and msks is None:
        return None, None
    if imgs is None or msks is None:
        raise InvalidProblemError(
            "give both 'images' and 'masks' (or neither: train on generated scenes)",
            field="inputs.masks" if imgs is not None else "inputs.images",
        )
    x = check_images(imgs)
    m = np.asarray(msks)
    if m.ndim == 2:
        m = m[None]
    if m.shape != x.shape:
        raise InvalidProblemError(
            f"masks shape {np.asarray(msks).shape} does not match images {np.asarray(imgs).shape}",
            field="inputs.masks",
        )
    if m.dtype != bool:
        if not np.all(np.isin(m, (0, 1))):
            raise InvalidProblemError("masks must be boolean or 0/1", field="inputs.masks")
        m = m.astype(bool)
    return x, m


def train_job(
    inputs: dict[str, Any],
    params: RPCANetTrainParams,
    backend: Backend,
    callback: Callback | None,
) -> RPCANetTrainResult:
    """Run one training job (see :func:`solvers.rpca.deep.training.train`)."""
    from .models import load_model, torch_module

    torch_module()
    from .network import NetConfig
    from .segment import torch_device
    from .training import TrainConfig, train

    t0 = time.perf_counter()
    images, masks = check_training_data(inputs)
    init = None
    if inputs.get("model") is not None:
        init = copy.deepcopy(load_model(np.asarray(inputs["model"], dtype=np.uint8)))
    prog = Progress(callback, max_iter=params.steps)
    cfg = TrainConfig(
        steps=params.steps,
        batch_size=params.batch_size,
        crop=params.crop,
        lr=params.lr,
        lr_final=min(params.lr_final, params.lr),
        seed=params.seed,
        pool=params.pool,
        scene_size=params.scene_size,
        val_every=params.val_every,
        val_scenes=params.val_scenes,
        val_size=min(params.scene_size, 256),
    )
    net_cfg = NetConfig(stages=params.stages, channels=params.channels)

    def cb(step: int, loss: float, info: dict) -> bool:
        extra = {}
        if "val" in info:
            extra = {"val_iou": info["val"]["iou"], "val_pd": info["val"]["pd"]}
        return prog.report(step, objective=loss, message="training", **extra)

    model, hist = train(
        net_cfg,
        cfg,
        images=images,
        masks=masks,
        init=init,
        callback=cb,
        device=torch_device(backend),
        threads=params.threads,
    )
    model.meta = {
        "trained_with": "rpcanet_train",
        "data": "generated" if images is None else f"{images.shape[0]} user images",
        "steps": hist["steps"],
        "best_step": hist["best_step"],
        "seed": params.seed,
        "lr": params.lr,
        "seconds": hist["seconds"],
    }
    data = np.frombuffer(model.to_bytes(), dtype=np.uint8).copy()
    return RPCANetTrainResult(
        model=data,
        n_iter=int(hist["steps"]),
        converged=not hist["stopped"],
        residuals=np.asarray(hist["loss"], dtype=np.float64),
        cancelled=bool(hist["stopped"]),
        elapsed=time.perf_counter() - t0,
        backend=backend.name,
        info={
            "val": [[int(s), float(v["iou"]), float(v["pd"])] for s, v in hist["val"]],
            "best_step": hist["best_step"],
            "parameters": hist["parameters"],
            "train_seconds": hist["seconds"],
            "model_bytes": int(data.size),
        },
    )
