"""Train the RPCANet++ weights shipped in ``solvers/rpca/deep/weights/``.

Usage::

    python -m solvers.rpca.deep.train_shipped --out DIR [--steps N] [--seconds S]
        [--device cpu|cuda] [--threads T] [fine-tuning options]

The shipped models come from two runs. ``k3.pt`` (K = 3 stages, 142k parameters) is
:data:`RECIPE` from scratch (``--out DIR1 --threads 1``). ``default.pt`` (K = 4, 189k
parameters, calibrated operating point) fine-tunes it with the options in
:data:`DEFAULT_FINE_TUNE` — ``--preset default`` adds them, and ``--init`` defaults to the
shipped ``k3.pt``::

    python -m solvers.rpca.deep.train_shipped --out DIR2 --preset default

Seeded; on CPU with a fixed thread count a rerun gives the same weights (``--seconds``
stops early at a wall-clock budget, which makes the result depend on the machine's
speed). Writes ``DIR/default.pt`` (best validation checkpoint, rewritten whenever the
validation score improves), ``DIR/train_log.jsonl`` and ``DIR/heldout.json`` (the
held-out scores of the final model). The recipe is stored in the model's metadata.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

RECIPE: dict[str, Any] = {
    "net": {"stages": 3, "channels": 16, "oem_depth": 3, "irm_depth": 1},
    "train": {
        "steps": 2400,
        "batch_size": 16,
        "crop": 48,
        "lr": 2e-3,
        "lr_final": 5e-5,
        "seed": 42,
        "pool": 256,
        "refresh": 1,
        "scene_size": 256,
        "val_every": 200,
        "val_scenes": 16,
    },
}


#: the fine-tune that made ``default.pt`` from ``k3.pt`` (``--preset default``)
DEFAULT_FINE_TUNE: list[str] = [
    "--grow-stages", "4", "--ema", "0.995", "--val-every", "100", "--target-frac", "0.4",
    "--calibrate", "--lr", "3e-4", "--lr-final", "1e-5", "--steps", "1200",
    "--val-scenes", "64", "--min-iou", "0.68", "--seed", "49", "--threads", "2",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module doc)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--steps", type=int, default=RECIPE["train"]["steps"])
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", type=Path, default=None, help="continue from this model file")
    ap.add_argument("--lr", type=float, default=RECIPE["train"]["lr"])
    ap.add_argument("--lr-final", type=float, default=RECIPE["train"]["lr_final"])
    ap.add_argument("--seed", type=int, default=RECIPE["train"]["seed"])
    ap.add_argument("--val-scenes", type=int, default=RECIPE["train"]["val_scenes"])
    ap.add_argument(
        "--scr",
        type=float,
        nargs=2,
        default=None,
        metavar=("LO", "HI"),
        help="SCR range of the generated training scenes (default: the generator's 2-10)",
    )
    ap.add_argument(
        "--target-frac",
        type=float,
        default=None,
        help="fraction of training crops centred near a target (default 0.8)",
    )
    ap.add_argument(
        "--min-iou",
        type=float,
        default=None,
        help="keep the checkpoint with the largest validation Pd whose IoU reaches this",
    )
    ap.add_argument(
        "--det-weight",
        type=float,
        default=0.0,
        help="weight of the per-target detection loss (training.target_detection_loss)",
    )
    ap.add_argument(
        "--fa-weight",
        type=float,
        default=0.0,
        help="weight of the strongest-clutter loss (training.false_alarm_loss)",
    )
    ap.add_argument(
        "--grow-stages",
        type=int,
        default=None,
        help="with --init: add stages (copies of the last one) up to this many",
    )
    ap.add_argument(
        "--calibrate",
        action="store_true",
        help="choose the decision threshold on the validation set (stored as a logit shift)",
    )
    ap.add_argument("--ema", type=float, default=0.0, help="weight EMA decay (0: off)")
    ap.add_argument("--val-every", type=int, default=RECIPE["train"]["val_every"])
    ap.add_argument("--heldout", type=int, default=100, help="held-out scenes to score (0: none)")
    ap.add_argument(
        "--preset",
        choices=["default"],
        default=None,
        help="the fine-tune of the shipped default.pt (DEFAULT_FINE_TUNE, init k3.pt)",
    )
    args = ap.parse_args(argv)
    if args.preset == "default":
        import sys
        from importlib.resources import files

        rest = list(sys.argv[1:] if argv is None else argv)
        args = ap.parse_args([*DEFAULT_FINE_TUNE, *rest])
        if args.init is None:
            args.init = Path(str(files("solvers.rpca.deep") / "weights" / "k3.pt"))

    import torch

    from .network import NetConfig
    from .scenes import heldout_set
    from .training import TrainConfig, evaluate, train

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log_path = args.out / "train_log.jsonl"
    log = log_path.open("w")
    net_cfg = NetConfig(**RECIPE["net"])
    cfg = TrainConfig(
        **{
            **RECIPE["train"],
            "steps": args.steps,
            "seconds": args.seconds,
            "lr": args.lr,
            "lr_final": args.lr_final,
            "seed": args.seed,
            "val_scenes": args.val_scenes,
            "scr_range": tuple(args.scr) if args.scr else None,
            "select_min_iou": args.min_iou,
            "det_weight": args.det_weight,
            "fa_weight": args.fa_weight,
            "ema_decay": args.ema,
            "calibrate": args.calibrate,
            "val_every": args.val_every,
            **({"target_crop_frac": args.target_frac} if args.target_frac is not None else {}),
        }
    )
    init = None
    if args.init is not None:
        from .network import RPCANetModel

        init = RPCANetModel.from_bytes(args.init.read_bytes(), name=str(args.init))
        if args.grow_stages:
            init = init.grown(args.grow_stages)
        net_cfg = init.config
    meta = {
        "trained_with": "solvers.rpca.deep.train_shipped",
        "recipe": {"net": asdict(net_cfg), "train": asdict(cfg)},
        "init": str(args.init) if args.init else None,
        "grow_stages": args.grow_stages,
        "device": args.device,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    t0 = time.perf_counter()

    def cb(step: int, loss: float, info: dict) -> bool:
        if step % 20 == 0 or "val" in info:
            rec = {"step": step, "loss": round(loss, 5), "t": round(time.perf_counter() - t0, 1)}
            if "val" in info:
                keys = ("iou", "niou", "pd", "fa", "threshold")
                rec["val"] = {k: info["val"][k] for k in keys if k in info["val"]}
            log.write(json.dumps(rec) + "\n")
            log.flush()
        return False

    def on_best(model: Any, step: int, sc: dict) -> None:
        shift = model.meta.get("logit_shift")
        model.meta = {**meta, "best_step": step, "val": sc}
        if shift is not None:
            model.meta["logit_shift"] = shift
        model.save(args.out / "default.pt")

    model, hist = train(net_cfg, cfg, init=init, callback=cb, device=args.device, on_best=on_best)
    model.meta = {
        **meta,
        **({"logit_shift": hist["logit_shift"]} if "logit_shift" in hist else {}),
        "best_step": hist["best_step"],
        "steps": hist["steps"],
        "train_seconds": round(hist["seconds"], 1),
        "val": hist["val"][-1][1] if hist["val"] else None,
    }
    if args.heldout:
        hs = heldout_set(args.heldout)
        sc = evaluate(model, hs.images, hs.masks, device=args.device)
        model.meta["heldout"] = sc
        (args.out / "heldout.json").write_text(json.dumps(sc, indent=1))
    model.save(args.out / "default.pt")
    log.write(json.dumps({"done": True, "meta": model.meta}) + "\n")
    log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
