"""Train the RPCANet++ weights shipped in ``solvers/rpca/deep/weights/default.pt``.

Usage::

    python -m solvers.rpca.deep.train_shipped --out DIR [--steps N] [--seconds S]
        [--device cpu|cuda] [--threads T]

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
    ap.add_argument("--heldout", type=int, default=100, help="held-out scenes to score (0: none)")
    args = ap.parse_args(argv)

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
        }
    )
    init = None
    if args.init is not None:
        from .network import RPCANetModel

        init = RPCANetModel.from_bytes(args.init.read_bytes(), name=str(args.init))
        net_cfg = init.config
    meta = {
        "trained_with": "solvers.rpca.deep.train_shipped",
        "recipe": {"net": asdict(net_cfg), "train": asdict(cfg)},
        "init": str(args.init) if args.init else None,
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
                rec["val"] = {k: info["val"][k] for k in ("iou", "niou", "pd", "fa")}
            log.write(json.dumps(rec) + "\n")
            log.flush()
        return False

    def on_best(model: Any, step: int, sc: dict) -> None:
        model.meta = {**meta, "best_step": step, "val": sc}
        model.save(args.out / "default.pt")

    model, hist = train(net_cfg, cfg, init=init, callback=cb, device=args.device, on_best=on_best)
    model.meta = {
        **meta,
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
