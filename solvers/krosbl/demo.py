"""Demo job of the KroSBL family: SVD-KroSBL on a complex three-factor problem."""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._demo import DemoJob

from .problems import kronecker_problem, nmse_db

SHAPES = [(16, 32), (16, 32), (16, 32)]


def _build(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    prob = kronecker_problem(
        SHAPES, [3, 3, 3], snr=25, seed=seed, complex=True, amplitudes="bounded"
    )
    params = {"method": "svd"}  # noise variance learned
    return {"y": prob.y, "H": prob.H}, params, prob


def _evaluate(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    x = np.asarray(outputs["x"])
    gamma = np.asarray(outputs["gamma"])
    e = nmse_db(x, truth.x)
    support = np.flatnonzero(gamma >= 1e-3 * gamma.max()) if gamma.max() > 0 else []
    exact = bool(np.array_equal(np.sort(support), truth.support))
    ratio = (stats.get("noise_var") or 0.0) / truth.noise_var
    return {
        "NMSE (dB)": f"{e:.1f}",
        "support exact": exact,
        "learned σ² / true σ²": f"{ratio:.2f}",
        "iterations": stats.get("n_iter"),
        "ok": bool(e < -20 and exact),
    }


DEMOS = [
    DemoJob(
        family="krosbl",
        title=(
            "KroSBL (SVD): y = (H1⊗H2⊗H3) x, three complex 16×32 factors "
            "(M=4096, N=32768), 27 nonzeros, 25 dB, noise learned"
        ),
        solver="krosbl",
        build=_build,
        evaluate=_evaluate,
    )
]
