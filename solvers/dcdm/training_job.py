"""The ``dcdm_train`` job: generate training systems, train, return the model as bytes.

``sparsehpc train dcdm --grid 16 --steps 300 -o model.pt`` runs this (in-process or as
a job on a server); the file it writes loads with ``dcdm(..., model="model.pt")``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend
from solvers._errors import InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult

from .params import DCDMTrainParams


@dataclass(kw_only=True)
class DCDMTrainResult(SolverResult):
    """Result of the ``dcdm_train`` job.

    Attributes
    ----------
    model : ndarray of uint8
        The saved model (``DCDMModel.to_bytes``): write it to a file, or pass it as the
        ``model`` input of a ``dcdm`` job.
    residuals : ndarray
        Training loss per step.
    info : dict
        ``eval_loss`` (fixed evaluation batches: [step, loss] pairs), ``systems``,
        ``parameters``, ``train_seconds``, ``data_seconds``.
    """

    model: np.ndarray
    info: dict[str, Any] | None = None


def resolve_grid(params: DCDMTrainParams) -> tuple[int, ...]:
    """The training grid shape from ``params.grid`` and ``params.ndim``."""
    if isinstance(params.grid, int):
        return (params.grid,) * params.ndim
    shape = tuple(int(s) for s in params.grid)
    if len(shape) != params.ndim:
        raise InvalidProblemError(
            f"grid {shape} has {len(shape)} axes but ndim is {params.ndim}",
            field="params.grid",
        )
    return shape


def train_job(
    inputs: dict[str, Any],
    params: DCDMTrainParams,
    backend: Backend,
    callback: Callback | None,
) -> DCDMTrainResult:
    """Run one training job (see :mod:`solvers.dcdm.training`)."""
    from .models import load_model, torch_module

    torch_module()
    from . import training as tr
    from .network import NetConfig

    t0 = time.perf_counter()
    shape = resolve_grid(params)
    total = params.steps + 1
    prog = Progress(callback, max_iter=total)
    init = None
    if inputs.get("model") is not None:
        init = load_model(np.asarray(inputs["model"], dtype=np.uint8), len(shape))
        import copy

        init = copy.deepcopy(init)
    if inputs.get("A") is not None:
        systems = [
            tr.make_training_system(
                (inputs["A"], shape), m=params.lanczos, seed=params.seed, name="input A"
            )
        ]
    else:
        systems = tr.training_systems(
            [shape] * params.geometries,
            m=params.lanczos,
            seed=params.seed,
            callback=lambda i, n: prog.report(0, message=f"Lanczos data {i}/{n}"),
        )
    t_data = time.perf_counter() - t0
    cfg = tr.TrainConfig(
        steps=params.steps,
        batch_size=params.batch_size,
        lr=params.lr,
        lr_final=params.lr_final if params.lr_final is not None else params.lr / 10,
        theta_frac=params.theta,
        seed=params.seed,
        log_every=max(1, min(50, params.steps // 10 or 1)),
        unroll=params.unroll,
    )
    net_cfg = NetConfig(
        ndim=len(shape),
        arch=params.arch,
        nu=params.nu,
        channels=params.channels,
        n_conv=params.n_conv,
    )

    def cb(step: int, loss: float, elapsed: float) -> bool:
        return prog.report(step, objective=loss, message="training")

    device = "cuda" if backend.is_gpu else "cpu"
    model, hist = tr.train(
        systems, net_cfg, cfg, init=init, callback=cb, threads=params.threads, device=device
    )
    model.meta.update(
        {
            "trained_with": "dcdm_train",
            "grid": list(shape),
            "systems": [s.name for s in systems],
            "lanczos": params.lanczos,
            "steps": hist["steps"],
            "batch_size": params.batch_size,
            "lr": params.lr,
            "arch": net_cfg.arch,
            "unroll": params.unroll,
            "seed": params.seed,
            "final_eval_loss": hist["eval_loss"][-1][1],
            "seconds": hist["seconds"] + t_data,
        }
    )
    data = np.frombuffer(model.to_bytes(), dtype=np.uint8).copy()
    losses = np.asarray(hist["loss"], dtype=np.float64)
    return DCDMTrainResult(
        model=data,
        n_iter=int(hist["steps"]),
        converged=not hist["stopped"],
        residuals=losses,
        cancelled=bool(hist["stopped"]),
        elapsed=time.perf_counter() - t0,
        backend=backend.name,
        info={
            "eval_loss": [[int(s), float(v)] for s, v in hist["eval_loss"]],
            "systems": [s.name for s in systems],
            "parameters": hist["parameters"],
            "train_seconds": hist["seconds"],
            "data_seconds": t_data,
            "model_bytes": int(data.size),
        },
    )
