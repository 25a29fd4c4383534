"""Demo job of the sparsification family: GRASS on a power-grid-like circuit."""

from __future__ import annotations

from typing import Any

from solvers._demo import DemoJob

from .condition import relative_condition_number
from .generators import circuit_grid
from .graph import as_graph


def _build(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    A = circuit_grid(80, 80, layers=2, seed=seed)  # noqa: N806 - 12,800 nodes
    return {"A": A}, {"target_density": 1.15, "seed": 0}, A


def _evaluate(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    H = outputs["H"]  # noqa: N806
    kappa = float(relative_condition_number(truth, H))
    g = as_graph(truth)
    return {
        "nodes": g.n,
        "edges G → H": f"{g.m} → {H.nnz // 2}",
        "density (edges/node)": f"{stats.get('density', H.nnz / 2 / g.n):.3f}",
        "κ(L_G, L_H)": f"{kappa:.1f}",
        "ok": bool(kappa <= 100 and H.nnz / 2 / g.n <= 1.15),
    }


DEMOS = [
    DemoJob(
        family="sparsify",
        title="Sparsify (GRASS): 2-layer circuit grid, 12,800 nodes, random conductances, "
        "density 1.15",
        solver="sparsify",
        build=_build,
        evaluate=_evaluate,
    )
]
