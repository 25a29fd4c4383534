"""Demo job of the LDP family: owners privatize (x, y) locally, the server has public
unlabeled covariates (``nldp_public``), 400,000 simulated owners."""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._demo import DemoJob

from .problems import SyntheticProblem

N, D, K, EPS = 400_000, 10, 2, 4.0


def _build(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    prob = SyntheticProblem(N, D, K, seed=seed)
    X, y = prob.materialize()  # noqa: N806
    inputs = {"X": X, "y": y, "public_X": prob.public_X(20_000)}
    params = {"k": K, "epsilon": EPS, "protocol": "nldp_public", "seed": seed}
    return inputs, params, prob


def _evaluate(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    theta = np.asarray(outputs["theta"])
    err = truth.error(theta)
    ok = truth.support_recovered(theta)
    noise = stats.get("noise", {}).get("xy", {})
    return {
        "l2 error": f"{err:.3f}",
        "support recovered": "yes" if ok else "no",
        "epsilon per owner": stats.get("epsilon"),
        "noise sd per coordinate": f"{noise.get('coordinate_sd', float('nan')):.1f}",
        "ok": bool(ok and err < 0.5),
    }


DEMOS = [
    DemoJob(
        family="ldp",
        title=(
            "LDP sparse regression (nldp_public, pure ε=4 l2-ball): 400,000 owners, d=10, "
            "k=2, 20,000 public unlabeled x"
        ),
        solver="ldp_regression",
        build=_build,
        evaluate=_evaluate,
    )
]
