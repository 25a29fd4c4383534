"""Train the models shipped in ``solvers/dcdm/models/`` (reproducible, seeded, CPU).

Usage::

    python -m solvers.dcdm.train_shipped [--only NAME] [--all] [--out DIR] [--steps N]

Everything is seeded and runs on one torch thread, so a rerun on the same software gives
the same weights. The recipe (grids, geometries, Lanczos steps, optimizer, steps) is
stored in each model's metadata (``load_model(name).meta``) and in ``docs/dcdm.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RECIPES: dict[str, dict[str, Any]] = {
    # the V-cycle nets (defaults since the second version)
    "poisson3d": {
        "grids": [[16, 16, 16]] * 10 + [[24, 24, 24]] * 4 + [[32, 32, 32]] * 2,
        "lanczos": 300,
        "net": {"ndim": 3, "arch": "vcycle", "nu": 1},
        "steps": 400,
        "unroll": 4,
        "batch_size": 8,
        "lr": 3e-3,
        "lr_final": 3e-4,
        "seed": 2023,
        "log_every": 50,
    },
    "poisson2d": {
        "grids": [[64, 64]] * 8 + [[96, 96]] * 4 + [[128, 128]] * 2,
        "lanczos": 300,
        "net": {"ndim": 2, "arch": "vcycle", "nu": 1},
        "steps": 400,
        "unroll": 4,
        "batch_size": 8,
        "lr": 3e-3,
        "lr_final": 3e-4,
        "seed": 2023,
        "log_every": 50,
    },
    # the additive multilevel (BPX-type) nets of the first version, kept for comparison
    "poisson3d_bpx": {
        "grids": [[16, 16, 16]] * 10 + [[24, 24, 24]] * 4 + [[32, 32, 32]] * 2,
        "lanczos": 300,
        "net": {"ndim": 3, "arch": "bpx", "channels": 8, "n_conv": 1},
        "steps": 2000,
        "batch_size": 8,
        "lr": 1e-3,
        "lr_final": 1e-4,
        "seed": 2023,
        "log_every": 100,
    },
    "poisson2d_bpx": {
        "grids": [[64, 64]] * 8 + [[96, 96]] * 4 + [[128, 128]] * 2,
        "lanczos": 300,
        "net": {"ndim": 2, "arch": "bpx", "channels": 8, "n_conv": 1},
        "steps": 1500,
        "batch_size": 8,
        "lr": 1e-3,
        "lr_final": 1e-4,
        "seed": 2023,
        "log_every": 100,
    },
}


def train_recipe(name: str, recipe: dict[str, Any], out: Path, log: Any = print) -> Path:
    """Train one shipped model from its recipe and write ``out/<name>.pt``."""
    import torch

    from . import training as tr
    from .network import NetConfig

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    systems = tr.training_systems(
        [tuple(g) for g in recipe["grids"]], m=recipe["lanczos"], seed=recipe["seed"]
    )
    t_data = time.perf_counter() - t0
    log(f"[{name}] data: {len(systems)} systems in {t_data:.0f} s: {[s.name for s in systems]}")
    cfg = tr.TrainConfig(
        steps=recipe["steps"],
        batch_size=recipe["batch_size"],
        lr=recipe["lr"],
        lr_final=recipe["lr_final"],
        seed=recipe["seed"],
        log_every=recipe["log_every"],
        unroll=recipe.get("unroll", 1),
    )

    def cb(step: int, loss: float, elapsed: float) -> bool:
        if step % recipe["log_every"] == 0:
            log(f"[{name}] step {step}/{cfg.steps} loss {loss:.4g} ({elapsed:.0f} s)")
        return False

    model, hist = tr.train(systems, NetConfig(**recipe["net"]), cfg, callback=cb, threads=1)
    model.meta.update(
        {
            "trained_with": "python -m solvers.dcdm.train_shipped",
            "recipe": recipe,
            "systems": [s.name for s in systems],
            "eval_loss": hist["eval_loss"],
            "train_seconds": round(hist["seconds"], 1),
            "data_seconds": round(t_data, 1),
            "parameters": hist["parameters"],
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus, 1 torch thread",
            "load_average_at_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.pt"
    model.name = name
    model.save(path)
    log(
        f"[{name}] wrote {path} ({path.stat().st_size} bytes); eval loss "
        f"{hist['eval_loss'][0][1]:.4g} -> {hist['eval_loss'][-1][1]:.4g}; "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=sorted(RECIPES), action="append")
    p.add_argument("--all", action="store_true", help="also the *_bpx nets (slow: ~40 min)")
    p.add_argument("--out", default=str(Path(__file__).parent / "models"))
    p.add_argument("--steps", type=int, default=None, help="override the steps (testing)")
    args = p.parse_args(argv)
    default = sorted(RECIPES) if args.all else ["poisson2d", "poisson3d"]
    for name in args.only or default:
        recipe = dict(RECIPES[name])
        if args.steps is not None:
            recipe["steps"] = args.steps
        train_recipe(name, recipe, Path(args.out), log=lambda m: print(m, flush=True))
    print(json.dumps({"done": args.only or default}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
