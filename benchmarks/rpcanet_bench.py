"""RPCANet++ vs the IPI baseline on the fixed held-out synthetic set.

Usage::

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/rpcanet_bench.py \
        [--n 100] [--n-ipi 20] [--out benchmarks/out] [--threads 1]

Prints and writes (``rpcanet.csv``, ``rpcanet_examples.png``): held-out IoU / nIoU / Pd /
Fa of the shipped model (all ``--n`` scenes) and of IPI (the first ``--n-ipi`` scenes, and
ours on the same subset), frames per second of the network on 256×256 images (CPU, and
CUDA when available) and IPI seconds per frame, all measured in the same run. IPI target
maps are cached in ``OUT/ipi_maps_<n>.npz`` (they do not depend on the network).
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np

IPI_K = 10.0  # IPI threshold mean + k std: the best IoU on a tuning set (seed 999, not held-out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-ipi", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from solvers.rpca.deep import heldout_set, load_model, score_masks
    from solvers.rpca.deep.ipi import ipi_target_map, threshold_maps

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    hs = heldout_set(args.n)
    model = load_model("default")
    rows = []

    # speed: 256x256 frames, batch 1 and 8
    speed = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        for bs in (1, 8):
            x = hs.images[:bs]
            model.predict(x, device=dev, batch_size=bs)  # warm-up
            reps = max(1, 16 // bs)
            t0 = time.perf_counter()
            for _ in range(reps):
                model.predict(x, device=dev, batch_size=bs)
            if dev == "cuda":
                torch.cuda.synchronize()
            speed[(dev, bs)] = reps * bs / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    prob = model.predict(hs.images, device=devices[-1])
    t_ours = (time.perf_counter() - t0) / args.n
    ours = score_masks(prob > 0.5, hs.masks)

    n_ipi = min(args.n_ipi, args.n)
    cache = args.out / f"ipi_maps_{n_ipi}.npz"
    if cache.exists():
        z = np.load(cache)
        maps, t_ipi = z["maps"], float(z["seconds"])
    else:
        t0 = time.perf_counter()
        maps = np.stack([ipi_target_map(im) for im in hs.images[:n_ipi]])
        t_ipi = (time.perf_counter() - t0) / n_ipi
        np.savez_compressed(cache, maps=maps, seconds=t_ipi)
    ipi_masks = threshold_maps(maps, IPI_K)
    ipi = score_masks(ipi_masks, hs.masks[:n_ipi])
    ours_sub = score_masks(prob[:n_ipi] > 0.5, hs.masks[:n_ipi])

    def row(name: str, n: int, sc, sec: float) -> dict:
        return {
            "method": name,
            "scenes": n,
            "IoU": round(sc.iou, 4),
            "nIoU": round(sc.niou, 4),
            "Pd": round(sc.pd, 4),
            "Fa_1e-6": round(sc.fa * 1e6, 2),
            "targets": sc.targets,
            "s_per_frame": round(sec, 4),
        }

    rows.append(row("RPCANet++ (shipped)", args.n, ours, t_ours))
    rows.append(row("RPCANet++ (shipped)", n_ipi, ours_sub, t_ours))
    rows.append(row(f"IPI (ialm, k={IPI_K:g})", n_ipi, ipi, t_ipi))
    with (args.out / "rpcanet.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(r)
    for (dev, bs), fps in speed.items():
        print(f"frames/s 256x256 {dev} batch {bs}: {fps:.2f}")
    cpu1 = speed[("cpu", 1)]
    print(
        f"IPI s/frame {t_ipi:.2f}; network CPU s/frame {1 / cpu1:.3f}; speed-up {t_ipi * cpu1:.1f}x"
    )
    print(f"load average at start {load}, end {os.getloadavg()}; torch threads {args.threads}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = min(4, n_ipi)
    fig, ax = plt.subplots(k, 4, figsize=(12, 3 * k))
    for i in range(k):
        for j, (im, title) in enumerate(
            [
                (hs.images[i], "image"),
                (hs.masks[i], "ground truth"),
                (prob[i] > 0.5, "RPCANet++"),
                (ipi_masks[i], "IPI"),
            ]
        ):
            a = ax[i, j]
            a.imshow(im, cmap="gray", interpolation="nearest")
            a.set_title(title)
            a.axis("off")
    plt.tight_layout()
    plt.savefig(args.out / "rpcanet_examples.png", dpi=80)


if __name__ == "__main__":
    main()
