"""Finding and loading DCDM models: shipped names, files, bytes (torch imported lazily).

Shipped models live in ``solvers/dcdm/models/<name>.pt`` (package data, read with
:mod:`importlib.resources`); :func:`list_models` names them. ``model="default"`` picks
``DEFAULT_MODELS[ndim]``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.resources
import os
from pathlib import Path
from typing import Any

import numpy as np

from solvers._errors import BackendUnavailableError, InvalidProblemError

DEFAULT_MODELS = {3: "poisson3d", 2: "poisson2d"}


def torch_module() -> Any:
    """``import torch`` or raise :class:`BackendUnavailableError` naming the extra."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"DCDM needs PyTorch for its network ({exc}); install sparsehpc[torch]"
        ) from None


def list_models() -> list[str]:
    """Names of the models shipped with the package."""
    root = importlib.resources.files("solvers.dcdm") / "models"
    try:
        return sorted(p.name[:-3] for p in root.iterdir() if p.name.endswith(".pt"))
    except (FileNotFoundError, NotADirectoryError):  # pragma: no cover - broken install
        return []


def _shipped_bytes(name: str) -> bytes:
    res = importlib.resources.files("solvers.dcdm") / "models" / f"{name}.pt"
    return res.read_bytes()


@functools.lru_cache(maxsize=16)
def _load_cached(key: str, kind: str, payload: Any) -> Any:
    from .network import DCDMModel

    if kind == "name":
        data = _shipped_bytes(payload)
        label = payload
    elif kind == "path":
        data = Path(payload).read_bytes()
        label = str(payload)
    else:
        data, label = payload, "<bytes>"
    try:
        return DCDMModel.from_bytes(data, name=label)
    except ValueError as exc:
        raise InvalidProblemError(f"model {label!r}: {exc}", field="inputs.model") from None


def load_model(model: Any, ndim: int | None = None) -> Any:
    """Resolve ``model`` to a :class:`~solvers.dcdm.network.DCDMModel`.

    Parameters
    ----------
    model : str, path, bytes, uint8 array or DCDMModel
        ``"default"`` (the shipped model for ``ndim``), a shipped name (see
        :func:`list_models`), a file path, the bytes of a saved model (as written by
        :meth:`DCDMModel.to_bytes` or the ``dcdm_train`` job), or a model object.
    ndim : int, optional
        Dimension of the problem: required for ``"default"``; checked otherwise.

    Raises
    ------
    InvalidProblemError
        Unknown name, unreadable file, not a model, or a model for another dimension.
    BackendUnavailableError
        PyTorch is not installed.
    """
    torch_module()
    from .network import DCDMModel

    if isinstance(model, DCDMModel):
        m = model
    elif isinstance(model, (bytes, bytearray, memoryview)) or (
        isinstance(model, np.ndarray) and model.dtype == np.uint8
    ):
        data = (
            bytes(np.asarray(model, dtype=np.uint8).tobytes())
            if isinstance(model, np.ndarray)
            else bytes(model)
        )
        m = _load_cached(hashlib.sha256(data).hexdigest(), "bytes", data)
    elif isinstance(model, (str, os.PathLike)):
        text = str(model)
        if text == "default":
            if ndim not in DEFAULT_MODELS:
                raise InvalidProblemError(
                    f"no default DCDM model for a {ndim}-D grid", field="params.model"
                )
            text = DEFAULT_MODELS[ndim]
        if text in list_models():
            m = _load_cached(f"name:{text}", "name", text)
        elif Path(text).is_file():
            p = Path(text).resolve()
            m = _load_cached(f"path:{p}:{p.stat().st_mtime_ns}", "path", str(p))
        else:
            raise InvalidProblemError(
                f"unknown DCDM model {text!r}: not a shipped model "
                f"({', '.join(list_models()) or 'none'}) and not a file",
                field="params.model",
            )
    else:
        raise InvalidProblemError(
            f"model must be a name, a path, bytes or a DCDMModel, got {type(model).__name__}",
            field="params.model",
        )
    if ndim is not None and m.ndim != ndim:
        raise InvalidProblemError(
            f"model {m.name!r} is for {m.ndim}-D grids but the problem's grid is {ndim}-D",
            field="params.model",
        )
    return m
