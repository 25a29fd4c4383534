"""A picture of a background subtraction: a strip of frames / background / foreground.

Library use::

    from solvers.rpca.plots import save_strip
    save_strip(frames, result, "out/strip.png", truth_mask=scene.foreground_mask)

Command line (needs matplotlib, the ``plots`` extra)::

    python -m solvers.rpca.plots --out out/                    # synthetic video
    python -m solvers.rpca.plots --out out/ --frames video.npy --rank 2
    python -m solvers.rpca.plots --out out/ --missing 0.2      # 20 % of pixels dropped

Writes ``background_subtraction.png``: one column per shown frame, rows *frame*,
*background*, *|foreground|* and *foreground mask* (true-positive pixels white,
false positives red, misses blue when the true mask is known; missing pixels magenta
in the frame row), and prints the scores (on the observed pixels).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grey(a: np.ndarray) -> np.ndarray:
    """A frame for display: grey (H, W) or colour (H, W, C) clipped to [0, 1]."""
    return np.clip(a, 0.0, 1.0) if a.ndim == 2 else np.clip(a[..., :3], 0.0, 1.0)


def save_strip(
    frames: Any,
    result: Any,
    path: str | os.PathLike[str],
    *,
    n_show: int = 6,
    truth_mask: Any = None,
    missing: Any = None,
    title: str | None = None,
) -> Path:
    """Write a PNG strip: frame / background / |foreground| / foreground mask.

    Parameters
    ----------
    frames : (T, H, W) or (T, H, W, C) array
        The input video (values are shown clipped to [0, 1]: scale 8-bit video first).
    result : BackgroundSubtractionResult
        Or any object with ``background``, ``foreground`` and ``foreground_mask``.
    path : path-like
        The PNG to write (folders are created).
    n_show : int
        Number of frames shown, evenly spaced over the sequence.
    truth_mask : (T, H, W) bool array, optional
        True foreground: the mask row then colours true positives white, false
        positives red and misses blue.
    missing : (T, H, W) bool array, optional
        Observed pixels; missing ones are drawn magenta in the frame row.
    title : str, optional

    Returns
    -------
    pathlib.Path
    """
    plt = _pyplot()
    frames = np.asarray(frames)
    T = frames.shape[0]  # noqa: N806
    idx = np.unique(np.linspace(0, T - 1, min(n_show, T)).round().astype(int))
    rows = ["frame", "background", "|foreground|", "foreground mask"]
    fig, axes = plt.subplots(
        len(rows), len(idx), figsize=(1.9 * len(idx), 1.6 * len(rows)), squeeze=False
    )
    fg = np.abs(np.asarray(result.foreground))
    if fg.ndim == 4:
        fg = fg.max(axis=3)
    fg_max = float(fg.max()) or 1.0
    est = np.asarray(result.foreground_mask, dtype=bool)
    for j, t in enumerate(idx):
        frame = _grey(frames[t])
        if missing is not None:
            obs = np.asarray(missing, dtype=bool)[t]
            rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame.copy()
            rgb[~obs] = (1.0, 0.0, 1.0)
            frame = rgb
        axes[0, j].imshow(frame, cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(_grey(np.asarray(result.background)[t]), cmap="gray", vmin=0, vmax=1)
        axes[2, j].imshow(fg[t], cmap="magma", vmin=0, vmax=fg_max)
        if truth_mask is not None:
            tru = np.asarray(truth_mask, dtype=bool)[t]
            rgb = np.zeros(tru.shape + (3,))
            rgb[tru & est[t]] = (1.0, 1.0, 1.0)
            rgb[~tru & est[t]] = (1.0, 0.2, 0.2)
            rgb[tru & ~est[t]] = (0.2, 0.4, 1.0)
            axes[3, j].imshow(rgb)
        else:
            axes[3, j].imshow(est[t], cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"t = {t}", fontsize=8)
    for i, name in enumerate(rows):
        axes[i, 0].set_ylabel(name, fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: background subtraction of a synthetic or given video, and the strip."""
    from .problems import moving_objects_video, random_mask
    from .video import background_subtraction, foreground_scores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--frames", help=".npy file with a (T, H, W[, C]) video (default: synthetic)")
    ap.add_argument("--method", default="altproj", choices=["altproj", "ialm"])
    ap.add_argument("--rank", type=int, default=None, help="background rank (default: estimated)")
    ap.add_argument("--missing", type=float, default=0.0, help="fraction of pixels to drop")
    ap.add_argument("--noise", type=float, default=0.01, help="synthetic video: noise level")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto")
    args = ap.parse_args(argv)

    truth = None
    if args.frames:
        frames = np.load(args.frames)
        if frames.dtype == np.uint8:
            frames = frames / 255.0
    else:
        scene = moving_objects_video(80, 60, 80, noise=args.noise, seed=args.seed)
        frames, truth = scene.frames, scene.foreground_mask
    mask = None
    if args.missing > 0:
        mask = random_mask(frames.shape[:3], args.missing, seed=args.seed + 1)
    res = background_subtraction(
        frames, method=args.method, rank=args.rank, mask=mask, backend=args.backend
    )
    title = f"{args.method}: rank {res.rank}, {res.n_iter} iterations, {res.elapsed:.2f} s"
    line = f"{title}; threshold {res.threshold:.3g}, noise {res.noise:.3g}"
    if truth is not None:
        sc = foreground_scores(truth, res.foreground_mask, where=mask)
        title += f", F1 {sc['f1']:.3f}"
        line += "; " + ", ".join(f"{k} {v:.4f}" for k, v in sc.items())
    path = save_strip(
        frames,
        res,
        Path(args.out) / "background_subtraction.png",
        truth_mask=truth,
        missing=mask,
        title=title,
    )
    print(line)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
