"""Demo job of the DCDM family: the pressure solve of a 3-D smoke simulation."""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._demo import DemoJob

from .problems import smoke_problem

N = 40


def _build(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    system, b = smoke_problem(N, layout="bunny", seed=seed)
    params = {"grid_shape": list(system.grid_shape), "rtol": 1e-6, "maxiter": 200}
    return {"A": system.A, "b": b}, params, {"A": system.A, "b": b}


def _evaluate(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    A, b = truth["A"], truth["b"]  # noqa: N806
    x = np.asarray(outputs["x"]).reshape(-1)
    rel = float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
    return {
        "relative residual": f"{rel:.1e}",
        "iterations": stats.get("n_iter"),
        "solve seconds": f"{stats.get('solve_seconds', float('nan')):.2f}",
        "ok": bool(stats.get("converged") and rel <= 1.01e-6),
    }


DEMOS = [
    DemoJob(
        family="dcdm",
        title=f"DCDM: smoke pressure solve, {N}³ grid with a bunny-shaped obstacle, rtol 1e-6",
        solver="dcdm",
        build=_build,
        evaluate=_evaluate,
    )
]
