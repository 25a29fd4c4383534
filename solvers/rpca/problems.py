"""Synthetic RPCA problems with a known answer: matrices (Candès et al. 2011, Sec. 4)
and videos of moving objects over a low-rank background."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def low_rank_plus_sparse(
    m: int,
    n: int | None = None,
    *,
    rank: int,
    sparsity: float = 0.05,
    magnitude: float | None = None,
    seed: int | None = 0,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(M, L, S)`` with ``M = L + S``.

    ``L = X Yᵀ / sqrt(rank)`` with X (m×r) and Y (n×r) i.i.d. standard normal, so the
    entries of ``L`` are N(0, 1). ``S`` has a uniformly random support of
    ``round(sparsity·m·n)`` entries with values uniform in ``[-magnitude, magnitude]``
    (default 10: gross corruptions, the regime of Candès et al. and of the IALM paper).

    Parameters
    ----------
    m, n : int
        Shape (``n`` defaults to ``m``).
    rank : int
    sparsity : float
        Fraction of corrupted entries, in [0, 1).
    magnitude : float, optional
        Corruption amplitude (default 10).
    seed : int, optional
    dtype : numpy dtype
    """
    n = m if n is None else n
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, rank))  # noqa: N806
    Y = rng.standard_normal((n, rank))  # noqa: N806
    L = X @ Y.T / np.sqrt(rank)  # noqa: N806 - entries ~ N(0, 1)
    S = np.zeros((m, n))  # noqa: N806
    nnz = int(round(sparsity * m * n))
    idx = rng.choice(m * n, size=nnz, replace=False)
    amp = 10.0 if magnitude is None else magnitude
    S.flat[idx] = rng.uniform(-amp, amp, size=nnz)
    M = L + S  # noqa: N806
    return M.astype(dtype), L.astype(dtype), S.astype(dtype)


def random_mask(shape: tuple[int, ...], missing: float, *, seed: int | None = 0) -> np.ndarray:
    """Boolean mask of observed entries with a uniformly random ``missing`` fraction
    absent (each entry independently), True = observed."""
    rng = np.random.default_rng(seed)
    return rng.random(shape) >= missing


@dataclass
class VideoScene:
    """A synthetic video with its ground truth (see :func:`moving_objects_video`).

    Attributes
    ----------
    frames : (T, H, W) ndarray
        What the camera records: background, objects on top, noise.
    background : (T, H, W) ndarray
        The true background of every frame (noise-free, including the illumination
        change): rank ``background_rank`` as a (T, H·W) matrix.
    foreground_mask : (T, H, W) bool ndarray
        Pixels covered by a moving object.
    noise : float
        Standard deviation of the additive Gaussian noise.
    background_rank : int
    """

    frames: np.ndarray
    background: np.ndarray
    foreground_mask: np.ndarray
    noise: float
    background_rank: int


def _smooth_field(rng: np.random.Generator, h: int, w: int, n_waves: int = 6) -> np.ndarray:
    """A smooth random texture in [0, 1]: a sum of random low-frequency plane waves."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    f = np.zeros((h, w))
    for _ in range(n_waves):
        ky, kx = rng.uniform(-3, 3, size=2) * 2 * np.pi / np.array([h, w])
        f += rng.uniform(0.5, 1.0) * np.cos(ky * yy + kx * xx + rng.uniform(0, 2 * np.pi))
    f -= f.min()
    return f / max(f.max(), 1e-12)


def moving_objects_video(
    n_frames: int = 60,
    height: int = 48,
    width: int = 64,
    *,
    n_objects: int = 3,
    size: tuple[float, float] | None = None,
    speed: tuple[float, float] = (0.7, 2.0),
    illumination: float = 0.15,
    noise: float = 0.01,
    seed: int | None = 0,
    dtype: type = np.float64,
) -> VideoScene:
    """A static-camera video: textured background, moving objects, slow lighting change.

    * Background ``B(x) (1 + a sin(2πt/T)) + a g(x) sin(πt/T)``: a smooth texture in
      [0.2, 0.8] whose brightness oscillates, plus a left-to-right lighting gradient
      ``g`` that comes and goes (``a = illumination``): rank 2 as a (T, H·W) matrix
      (rank 1 when ``illumination = 0``).
    * ``n_objects`` ellipses (axes drawn from ``size`` pixels), each of one intensity
      at least 0.35 away from the background's mean, moving in straight lines at
      ``speed`` pixels per frame and bouncing off the borders; they occlude the
      background.
    * Additive Gaussian noise of standard deviation ``noise``.

    Parameters
    ----------
    n_frames, height, width : int
    n_objects : int
    size : (float, float), optional
        Range of the ellipses' full axes in pixels; default
        ``(min(H, W)/8, min(H, W)/4)`` (at least 3 pixels), i.e. (6, 12) for 48×64.
    speed : (float, float)
        Range of speeds in pixels per frame.
    illumination : float
        Amplitude of the lighting change (0: static background, rank 1).
    noise : float
    seed : int, optional
    dtype : numpy dtype

    Returns
    -------
    VideoScene
    """
    if n_frames < 2 or height < 4 or width < 4:
        raise ValueError("need at least 2 frames of at least 4×4 pixels")
    rng = np.random.default_rng(seed)
    T, H, W = n_frames, height, width  # noqa: N806
    if size is None:
        size = (max(3.0, min(H, W) / 8), max(3.0, min(H, W) / 4))
    base = 0.2 + 0.6 * _smooth_field(rng, H, W)
    grad = np.linspace(-1.0, 1.0, W)[None, :] * np.ones((H, 1))
    t = np.arange(T)
    a = illumination
    bright = 1.0 + a * np.sin(2 * np.pi * t / T)
    light = a * np.sin(np.pi * t / T)
    background = bright[:, None, None] * base[None] + light[:, None, None] * grad[None]
    frames = background.copy()
    fg = np.zeros((T, H, W), dtype=bool)
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    mean_bg = float(base.mean())
    for _ in range(n_objects):
        ay, ax = rng.uniform(size[0], size[1], size=2) / 2.0
        y, x = rng.uniform(ay, H - ay), rng.uniform(ax, W - ax)
        ang = rng.uniform(0, 2 * np.pi)
        v = rng.uniform(*speed)
        vy, vx = v * np.sin(ang), v * np.cos(ang)
        # an intensity clearly off the background: dark or bright
        level = (
            rng.uniform(0.0, max(mean_bg - 0.35, 0.0))
            if rng.random() < 0.5
            else rng.uniform(min(mean_bg + 0.35, 1.0), 1.0)
        )
        for k in range(T):
            inside = ((yy - y) / ay) ** 2 + ((xx - x) / ax) ** 2 <= 1.0
            frames[k][inside] = level
            fg[k] |= inside
            y, x = y + vy, x + vx
            if not ay <= y <= H - ay:
                vy = -vy
                y = min(max(y, ay), H - ay)
            if not ax <= x <= W - ax:
                vx = -vx
                x = min(max(x, ax), W - ax)
    frames = frames + noise * rng.standard_normal(frames.shape)
    rank = 1 if illumination == 0 else 2
    return VideoScene(
        frames=frames.astype(dtype),
        background=background.astype(dtype),
        foreground_mask=fg,
        noise=float(noise),
        background_rank=rank,
    )
