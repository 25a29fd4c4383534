"""IPI baseline: the infrared patch-image model solved with our own robust PCA.

Image → patch image (sliding ``patch``×``patch`` windows with stride ``step``, each
vectorised as a column) → ``solvers.rpca.rpca`` (principal component pursuit by inexact
ALM, ``lam = L / sqrt(max(m, n))``) → the sparse part is put back into the image (median
of the overlapping patch values) → negative values clipped (targets are brighter than the
background) → adaptive threshold ``mean + k std`` of the target map.

References
----------
.. [1] Gao, Meng, Yang, Wang, Zhou, Hauptmann (2013) Infrared patch-image model for small
   target detection in a single image, IEEE Transactions on Image Processing 22(12),
   4996–5009.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class IPIResult:
    """Target maps (clipped sparse part), masks and seconds per image."""

    target_map: np.ndarray
    masks: np.ndarray
    seconds_per_image: float


def _positions(n: int, patch: int, step: int) -> list[int]:
    pos = list(range(0, max(n - patch, 0) + 1, step))
    if pos[-1] != max(n - patch, 0):
        pos.append(max(n - patch, 0))
    return pos


def patch_image(img: np.ndarray, patch: int = 50, step: int = 10) -> np.ndarray:
    """(patch², n_patches) matrix of the vectorised sliding windows of ``img``."""
    h, w = img.shape
    p = min(patch, h, w)
    cols = [
        img[y : y + p, x : x + p].ravel()
        for y in _positions(h, p, step)
        for x in _positions(w, p, step)
    ]
    return np.stack(cols, axis=1)


def unpatch_median(
    mat: np.ndarray, shape: tuple[int, int], patch: int = 50, step: int = 10
) -> np.ndarray:
    """Image from a patch matrix: the median of the overlapping values of each pixel."""
    h, w = shape
    p = min(patch, h, w)
    ys, xs = _positions(h, p, step), _positions(w, p, step)
    stack = np.full((len(ys) * len(xs), h, w), np.nan, dtype=np.float64)
    j = 0
    for y in ys:
        for x in xs:
            stack[j, y : y + p, x : x + p] = mat[:, j].reshape(p, p)
            j += 1
    return np.nanmedian(stack, axis=0)


def ipi_target_map(
    img: np.ndarray,
    *,
    patch: int = 50,
    step: int = 10,
    lam_scale: float = 1.0,
    tol: float = 1e-5,
    maxiter: int = 300,
) -> np.ndarray:
    """Non-negative target map of one image (the IPI sparse component)."""
    from ..solver import rpca

    x = np.asarray(img, dtype=np.float64)
    lo, hi = float(x.min()), float(x.max())
    x = (x - lo) / (hi - lo + 1e-12)
    d = patch_image(x, patch, step)
    lam = lam_scale / np.sqrt(max(d.shape))
    res = rpca(d, method="ialm", lam=lam, tol=tol, maxiter=maxiter, backend="cpu")
    t = unpatch_median(np.asarray(res.S), x.shape, patch, step)
    return np.clip(t, 0.0, None)


def ipi_segment(
    images: np.ndarray, *, k: float = 4.0, patch: int = 50, step: int = 10, lam_scale: float = 1.0
) -> IPIResult:
    """IPI detection on (N, H, W) or (H, W) images: threshold ``mean + k std`` per map."""
    import time

    a = np.asarray(images, dtype=np.float64)
    single = a.ndim == 2
    if single:
        a = a[None]
    t0 = time.perf_counter()
    maps = np.stack([ipi_target_map(im, patch=patch, step=step, lam_scale=lam_scale) for im in a])
    sec = (time.perf_counter() - t0) / len(a)
    masks = threshold_maps(maps, k)
    if single:
        maps, masks = maps[0], masks[0]
    return IPIResult(target_map=maps, masks=masks, seconds_per_image=sec)


def threshold_maps(maps: np.ndarray, k: float) -> np.ndarray:
    """Adaptive threshold ``mean + k std`` of each map (and > 0)."""
    mu = maps.mean(axis=(-2, -1), keepdims=True)
    sd = maps.std(axis=(-2, -1), keepdims=True)
    return (maps > mu + k * sd) & (maps > 0)
