"""Video background subtraction by robust PCA.

A static camera's frames, stacked as the rows of a (T, H·W) matrix, are a low-rank
background (rank 1 for a static scene, a few more for slow lighting changes) plus
sparse moving objects (Candès, Li, Ma & Wright 2011, Sec. 4.2). :func:`background_subtraction`
runs :func:`solvers.rpca.rpca` on that matrix and reshapes the parts back into stacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers._backend import Backend, get_backend
from solvers._errors import InvalidProblemError
from solvers._progress import Callback
from solvers._result import SolverResult

from .params import RPCAParams, RPCAVideoParams

#: noise multiple of the default foreground threshold
NOISE_FACTOR = 3.0
#: floor of the default foreground threshold, as a fraction of the data range
RANGE_FLOOR = 0.01


@dataclass(kw_only=True)
class BackgroundSubtractionResult(SolverResult):
    """Result of :func:`background_subtraction`.

    Attributes
    ----------
    background : ndarray, shape of ``frames``
        Low-rank part: the background of every frame (completed on missing pixels).
    foreground : ndarray, shape of ``frames``
        Sparse part: ``frames − background`` where something moves, 0 elsewhere (and on
        missing pixels).
    foreground_mask : (T, H, W) bool ndarray
        ``|foreground| > threshold`` (in any colour channel).
    threshold : float
        The foreground threshold used (colour: the largest of the per-channel
        thresholds, which are in ``info["threshold_per_channel"]``).
    noise : float
        Noise level estimated from the median absolute residual ``frames − background``
        over the observed pixels (``1.4826 · median``; colour: the median of the
        per-channel levels in ``info["noise_per_channel"]``).
    rank : int
        Rank of the background matrix.
    method : str
    info : dict
        The RPCA solver's statistics.
    """

    background: np.ndarray
    foreground: np.ndarray
    foreground_mask: np.ndarray
    threshold: float = 0.0
    noise: float = 0.0
    rank: int = 0
    method: str = "altproj"
    info: dict[str, Any] | None = None


def background_subtraction(
    frames: Any,
    *,
    method: str = "altproj",
    rank: int | None = None,
    mask: Any = None,
    lam: float | None = None,
    tol: float = 1e-7,
    maxiter: int = 500,
    threshold: float | None = None,
    backend: str | Backend = "auto",
    callback: Callback | None = None,
    **options: Any,
) -> BackgroundSubtractionResult:
    """Split a static-camera video into background and foreground stacks.

    Parameters
    ----------
    frames : (T, H, W) or (T, H, W, C) array_like
        Grey or colour frames (any real dtype; integers such as uint8 are promoted to
        float64, float32 is kept).
    method : {"altproj", "ialm"}
        ``"altproj"`` (default): alternating projections with a background of rank
        ``rank`` — fast, the right choice for long or large videos. ``"ialm"``:
        principal component pursuit (no rank to choose; ``lam`` sets the sparsity).
    rank : int or None
        ``altproj`` only: background rank (1: static scene and lighting; 2–3 with slow
        lighting changes). None (default) estimates it; on video the estimate may also
        take in a large object that stays put for most of the sequence — fix the rank
        then.
    mask : array_like of bool, optional
        Observed pixels (True = observed), shape ``(T, H, W)`` or the frames' shape:
        e.g. dead pixels or dropped blocks. The background is completed there.
    lam : float, optional
        ``ialm`` only: l1 weight (default ``1/sqrt(max(T, H·W·C))``, scaled for a mask
        as in :func:`solvers.rpca.rpca`).
    tol, maxiter
        Stopping rule of the RPCA solver (relative residual).
    threshold : float, optional
        Foreground mask threshold on ``|foreground|``; default, per colour channel,
        ``max(3 σ̂, 0.01 · (max − min of the frames))`` with σ̂ the noise level
        estimated from the median absolute residual.
    backend : {"auto", "cpu", "gpu"}
    callback : callable, optional
        Progress of the RPCA iterations; returning True stops.
    **options
        Passed to :func:`solvers.rpca.rpca` for ``altproj``: ``beta``, ``gamma``,
        ``seed``.

    Returns
    -------
    BackgroundSubtractionResult

    Raises
    ------
    InvalidProblemError
        ``frames`` is not a finite real 3-D/4-D array, has fewer than 2 frames, the
        mask does not match, or ``rank`` exceeds ``min(T, H·W·C)``.

    References
    ----------
    .. [1] E. J. Candès, X. Li, Y. Ma, J. Wright, "Robust Principal Component
       Analysis?", J. ACM 58(3), 2011, Sec. 4.2.
    .. [2] P. Netrapalli et al., "Non-convex Robust PCA", NeurIPS 2014.

    Examples
    --------
    >>> from solvers.rpca import moving_objects_video, background_subtraction
    >>> scene = moving_objects_video(60, 48, 64, seed=0)
    >>> res = background_subtraction(scene.frames)
    >>> res.background.shape, res.foreground_mask.mean()
    """
    from solvers._registry import get_spec

    spec = get_spec("rpca_video")
    params = spec.parse_params(
        {
            "method": method,
            "rank": rank,
            "lam": lam,
            "tol": tol,
            "maxiter": maxiter,
            "threshold": threshold,
            **options,
        }
    )
    inputs = spec.check_inputs({"frames": frames, "mask": mask})
    validate(inputs, params)
    be = get_backend(backend)
    return solve(inputs, params, be, callback)


def validate(inputs: dict[str, Any], params: RPCAVideoParams) -> None:
    """Cross-input checks of solver ``"rpca_video"``; expands ``inputs["mask"]`` in place
    to a boolean array of the frames' shape."""
    from .solver import check_mask, check_method_params

    check_method_params(params)
    F = inputs["frames"]  # noqa: N806
    if F.shape[0] < 2:
        raise InvalidProblemError(
            f"input 'frames' of shape {F.shape} has {F.shape[0]} frame(s); background "
            "subtraction needs at least 2 (frames are the first axis: (T, H, W[, C]))",
            field="inputs.frames",
        )
    T = F.shape[0]  # noqa: N806
    P = int(np.prod(F.shape[1:]))  # noqa: N806
    if params.method == "altproj" and params.rank is not None and params.rank > min(T, P):
        raise InvalidProblemError(
            f"parameter 'rank' = {params.rank} exceeds min(T, pixels) = {min(T, P)} for "
            f"frames of shape {F.shape}",
            field="params.rank",
        )
    mask = inputs.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        if F.ndim == 4 and mask.shape == F.shape[:3]:
            mask = np.broadcast_to(mask[..., None], F.shape)
        inputs["mask"] = check_mask(mask, F.shape, of="frames")


def solve(
    inputs: dict[str, Any],
    params: RPCAVideoParams,
    be: Backend,
    callback: Callback | None,
) -> BackgroundSubtractionResult:
    """Run background subtraction on validated inputs (the registry's entry point)."""
    from .solver import solve as rpca_solve

    F = inputs["frames"]  # noqa: N806
    mask = inputs.get("mask")
    T = F.shape[0]  # noqa: N806
    M = np.ascontiguousarray(F.reshape(T, -1))  # noqa: N806 - one frame per row
    W = None if mask is None else np.ascontiguousarray(mask.reshape(T, -1))  # noqa: N806
    common = {"method": params.method, "tol": params.tol, "maxiter": params.maxiter}
    if params.method == "ialm":
        rp = RPCAParams(lam=params.lam, **common)
    else:
        rp = RPCAParams(
            rank=params.rank, beta=params.beta, gamma=params.gamma, seed=params.seed, **common
        )
    res = rpca_solve(M, rp, be, callback, mask=W)
    background = res.L.reshape(F.shape)
    foreground = res.S.reshape(F.shape)
    # noise level and threshold per colour channel (channels may differ in gain)
    C = F.shape[3] if F.ndim == 4 else 1  # noqa: N806
    resid = (M - res.L).reshape(T, -1, C)
    obs = None if W is None else W.reshape(T, -1, C)
    noise_c = np.zeros(C)
    thr_c = np.zeros(C)
    for c in range(C):
        r = resid[:, :, c] if obs is None else resid[:, :, c][obs[:, :, c]]
        v = (
            M.reshape(T, -1, C)[:, :, c]
            if obs is None
            else M.reshape(T, -1, C)[:, :, c][obs[:, :, c]]
        )
        noise_c[c] = 1.4826 * float(np.median(np.abs(r))) if r.size else 0.0
        span = float(np.ptp(v)) if v.size else 0.0
        thr_c[c] = (
            float(params.threshold)
            if params.threshold is not None
            else max(NOISE_FACTOR * noise_c[c], RANGE_FLOOR * span)
        )
    fmask = np.abs(foreground.reshape(T, -1, C)) > thr_c
    fmask = fmask.any(axis=2).reshape(F.shape[:3])
    info = dict(res.info or {})
    if C > 1:
        info["noise_per_channel"] = noise_c.tolist()
        info["threshold_per_channel"] = thr_c.tolist()
    thr = float(thr_c.max())
    noise = float(np.median(noise_c))
    return BackgroundSubtractionResult(
        background=background,
        foreground=foreground,
        foreground_mask=fmask,
        threshold=thr,
        noise=noise,
        n_iter=res.n_iter,
        converged=res.converged,
        residuals=res.residuals,
        cancelled=res.cancelled,
        elapsed=res.elapsed,
        backend=res.backend,
        rank=res.rank,
        method=res.method,
        info=info,
    )


def foreground_scores(truth: Any, estimate: Any, *, where: Any = None) -> dict[str, float]:
    """Pixel-level scores of a foreground mask against the truth (CDnet conventions).

    Parameters
    ----------
    truth, estimate : bool arrays of one shape
    where : bool array, optional
        Score only these pixels (e.g. the observed ones when pixels are missing: the
        foreground cannot be seen in a hole).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (the F-measure), ``iou`` and the
        false-positive rate ``fpr`` (false positives over true background pixels).
    """
    t = np.asarray(truth, dtype=bool)
    e = np.asarray(estimate, dtype=bool)
    if t.shape != e.shape:
        raise InvalidProblemError(
            f"foreground masks differ in shape: truth {t.shape}, estimate {e.shape}",
            field="estimate",
        )
    if where is not None:
        w = np.broadcast_to(np.asarray(where, dtype=bool), t.shape)
        t, e = t[w], e[w]
    tp = float(np.count_nonzero(t & e))
    fp = float(np.count_nonzero(~t & e))
    fn = float(np.count_nonzero(t & ~e))
    tn = float(t.size) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "iou": iou, "fpr": fpr}
