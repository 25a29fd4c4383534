"""Finding and loading RPCANet++ models: the shipped one, files, bytes (torch lazily).

The shipped weights live in ``solvers/rpca/deep/weights/<name>.pt`` (package data, read
with :mod:`importlib.resources`); ``model="default"`` is ``weights/default.pt``.
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


def torch_module() -> Any:
    """``import torch`` or raise :class:`BackendUnavailableError` naming the extra."""
    try:
        return importlib.import_module("torch")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"RPCANet++ needs PyTorch ({exc}); install sparsehpc[torch]"
        ) from None


def list_models() -> list[str]:
    """Names of the models shipped with the package."""
    root = importlib.resources.files("solvers.rpca.deep") / "weights"
    try:
        return sorted(p.name[:-3] for p in root.iterdir() if p.name.endswith(".pt"))
    except (FileNotFoundError, NotADirectoryError):  # pragma: no cover - broken install
        return []


@functools.lru_cache(maxsize=8)
def _load_cached(key: str, kind: str, payload: Any) -> Any:
    from .network import RPCANetModel

    if kind == "name":
        res = importlib.resources.files("solvers.rpca.deep") / "weights" / f"{payload}.pt"
        data, label = res.read_bytes(), payload
    elif kind == "path":
        data, label = Path(payload).read_bytes(), str(payload)
    else:
        data, label = payload, "<bytes>"
    try:
        return RPCANetModel.from_bytes(data, name=label)
    except ValueError as exc:
        raise InvalidProblemError(f"model {label!r}: {exc}", field="inputs.model") from None


def load_model(model: Any = "default") -> Any:
    """Resolve ``model`` to an :class:`~solvers.rpca.deep.network.RPCANetModel`.

    Parameters
    ----------
    model : str, path, bytes, uint8 array or RPCANetModel
        ``"default"`` (the shipped model) or another shipped name, a file path, the bytes
        of a saved model (``RPCANetModel.to_bytes`` / the ``rpcanet_train`` job), or a
        model object.

    Raises
    ------
    InvalidProblemError
        Unknown name, unreadable file or not a model.
    BackendUnavailableError
        PyTorch is not installed.
    """
    torch_module()
    from .network import RPCANetModel

    if isinstance(model, RPCANetModel):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)) or (
        isinstance(model, np.ndarray) and model.dtype == np.uint8
    ):
        data = (
            np.ascontiguousarray(model, dtype=np.uint8).tobytes()
            if isinstance(model, np.ndarray)
            else bytes(model)
        )
        return _load_cached(hashlib.sha256(data).hexdigest(), "bytes", data)
    if isinstance(model, (str, os.PathLike)):
        text = str(model)
        if text in list_models():
            return _load_cached(f"name:{text}", "name", text)
        p = Path(text)
        if p.is_file():
            p = p.resolve()
            return _load_cached(f"path:{p}:{p.stat().st_mtime_ns}", "path", str(p))
        raise InvalidProblemError(
            f"unknown RPCANet model {text!r}: not a shipped model "
            f"({', '.join(list_models()) or 'none'}) and not a file",
            field="params.model",
        )
    raise InvalidProblemError(
        f"model must be a name, a path, bytes or an RPCANetModel, got {type(model).__name__}",
        field="params.model",
    )
