"""``segment``: small-object segmentation of images with a trained RPCANet++ model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend, get_backend
from solvers._errors import BackendUnavailableError, InvalidProblemError
from solvers._progress import Callback, Progress
from solvers._result import SolverResult


@dataclass(kw_only=True)
class SegmentationResult(SolverResult):
    """Result of :func:`segment` / the ``rpca_segment`` job.

    Attributes
    ----------
    probabilities : ndarray of float32
        Per-pixel object probability ``sigmoid(O_K − s)``, shape of the input (``s``:
        the model's calibrated logit shift, 0 for an uncalibrated model).
    masks : ndarray of bool
        ``probabilities > threshold``.
    info : dict
        ``model`` (name), ``threshold``, ``images``, ``objects`` (8-connected components
        per image), ``seconds_per_image``.
    """

    probabilities: np.ndarray
    masks: np.ndarray
    info: dict[str, Any] | None = None


def check_images(images: Any, field: str = "inputs.images") -> np.ndarray:
    """Validate and convert to a float32 (N, H, W) array (the caller reshapes back)."""
    try:
        a = np.asarray(images)
    except (TypeError, ValueError) as exc:
        raise InvalidProblemError(f"images: not an array ({exc})", field=field) from None
    if a.dtype == bool or not (
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    ):
        raise InvalidProblemError(f"images must be real numbers, got dtype {a.dtype}", field=field)
    if a.ndim not in (2, 3):
        raise InvalidProblemError(
            f"images must be (H, W) or (N, H, W), got shape {a.shape}", field=field
        )
    if a.size == 0 or min(a.shape[-2:]) < 8:
        raise InvalidProblemError(
            f"images must be at least 8×8 pixels, got shape {a.shape}", field=field
        )
    a = a.astype(np.float32, copy=False)
    if not np.all(np.isfinite(a)):
        raise InvalidProblemError("images contain NaN or infinite values", field=field)
    return a if a.ndim == 3 else a[None]


def torch_device(be: Backend) -> str:
    """The torch device for a backend (``"cuda"`` for the GPU backend)."""
    if not be.is_gpu:
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailableError("backend 'gpu' needs a CUDA build of PyTorch")
    return "cuda"


def segment(
    images: Any,
    *,
    model: Any = "default",
    threshold: float = 0.5,
    backend: str | Backend = "auto",
    batch_size: int = 8,
    callback: Callback | None = None,
) -> SegmentationResult:
    """Segment small sparse objects (e.g. infrared small targets) with RPCANet++.

    Each image is standardised (zero mean, unit std), decomposed by the unfolded
    network into background ``B`` and object ``O`` and the object probability is
    ``sigmoid(O_K − s)``, ``s = model.meta["logit_shift"]`` for a model whose operating
    point was calibrated on its validation set (0 otherwise).

    Parameters
    ----------
    images : (H, W) or (N, H, W) array_like
        Real, finite grey images (any scale: each is standardised); any size >= 8×8.
    model : str, path, bytes or RPCANetModel
        ``"default"`` (shipped weights trained on synthetic infrared scenes), a file, or
        the bytes of a model from :func:`solvers.rpca.deep.train` / ``rpcanet_train``.
    threshold : float
        Mask = probability > threshold (0 < threshold < 1).
    backend : {"auto", "cpu", "gpu"}
        ``"gpu"`` runs the network with CUDA torch.
    batch_size : int
        Images per network call.
    callback : callable, optional
        Progress per batch; returning True cancels (the rest stays zero).

    Returns
    -------
    SegmentationResult
        ``probabilities`` and ``masks`` with the input's shape.

    Raises
    ------
    InvalidProblemError
        Wrong ndim, non-finite values, a bad threshold or model.
    BackendUnavailableError
        PyTorch is not installed (or no CUDA for ``backend="gpu"``).

    References
    ----------
    .. [1] Wu, Zhang, Wang, Xiao, Chen, Zhang, Yang (2025) RPCANet++: Deep interpretable
       robust PCA for sparse object segmentation, arXiv:2508.04190.
    """
    t0 = time.perf_counter()
    arr = np.asarray(images) if not isinstance(images, np.ndarray) else images
    single = getattr(arr, "ndim", 0) == 2
    x = check_images(images)
    if not (0.0 < float(threshold) < 1.0):
        raise InvalidProblemError(
            f"threshold must be in (0, 1), got {threshold}", field="params.threshold"
        )
    if int(batch_size) < 1:
        raise InvalidProblemError("batch_size must be >= 1", field="params.batch_size")
    from .models import load_model, torch_module

    torch_module()
    be = get_backend(backend)
    device = torch_device(be)
    m = load_model(model)
    prog = Progress(callback, max_iter=x.shape[0])
    prob = np.zeros(x.shape, dtype=np.float32)
    cancelled = False
    done = 0
    for s in range(0, x.shape[0], int(batch_size)):
        prob[s : s + batch_size] = m.predict(
            x[s : s + batch_size], device=device, batch_size=int(batch_size)
        )
        done = min(s + int(batch_size), x.shape[0])
        if prog.report(done, message="segmenting"):
            cancelled = done < x.shape[0]
            break
    masks = prob > float(threshold)
    from scipy import ndimage

    objects = [int(ndimage.label(mk, structure=np.ones((3, 3)))[1]) for mk in masks]
    elapsed = time.perf_counter() - t0
    if single:
        prob, masks = prob[0], masks[0]
    return SegmentationResult(
        probabilities=prob,
        masks=masks,
        n_iter=done,
        converged=not cancelled,
        cancelled=cancelled,
        elapsed=elapsed,
        backend=be.name,
        info={
            "model": m.name,
            "threshold": float(threshold),
            "images": int(x.shape[0]),
            "objects": objects,
            "seconds_per_image": elapsed / max(done, 1),
        },
    )
