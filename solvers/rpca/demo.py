"""Demo jobs of the RPCA family: IALM on a small matrix, AltProj with missing entries,
and video background subtraction (with a PNG strip)."""

from __future__ import annotations

from typing import Any

import numpy as np

from solvers._demo import DemoJob

from .problems import low_rank_plus_sparse, moving_objects_video, random_mask


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _build(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    M, L, S = low_rank_plus_sparse(400, rank=20, sparsity=0.05, seed=seed)  # noqa: N806
    return {"M": M}, {"tol": 1e-7}, {"L": L, "S": S}


def _evaluate(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    err_l = _rel(outputs["L"], truth["L"])
    err_s = _rel(outputs["S"], truth["S"])
    return {
        "rel. error L": f"{err_l:.1e}",
        "rel. error S": f"{err_s:.1e}",
        "rank": stats.get("rank"),
        "iterations": stats.get("n_iter"),
        "ok": bool(err_l < 1e-5 and err_s < 1e-5),
    }


def _build_altproj(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    M, L, S = low_rank_plus_sparse(1000, rank=10, sparsity=0.05, seed=seed)  # noqa: N806
    mask = random_mask(M.shape, 0.2, seed=seed + 1)
    M = np.where(mask, M, 0.0)  # noqa: N806 - the holes carry no data
    return {"M": M, "mask": mask}, {"method": "altproj"}, {"L": L, "S": S, "mask": mask}


def _evaluate_altproj(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    err_l = _rel(outputs["L"], truth["L"])
    err_s = _rel(outputs["S"], np.where(truth["mask"], truth["S"], 0.0))
    return {
        "rel. error L (all entries)": f"{err_l:.1e}",
        "rel. error S (observed)": f"{err_s:.1e}",
        "estimated rank": stats.get("rank"),
        "iterations": stats.get("n_iter"),
        "ok": bool(err_l < 1e-5 and stats.get("rank") == 10),
    }


def _build_video(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    scene = moving_objects_video(80, 60, 80, noise=0.01, seed=seed)
    return {"frames": scene.frames}, {"method": "altproj"}, scene


def _evaluate_video(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    from .video import foreground_scores

    sc = foreground_scores(truth.foreground_mask, outputs["foreground_mask"])
    err_b = _rel(outputs["background"], truth.background)
    return {
        "foreground F1": f"{sc['f1']:.3f}",
        "background rel. error": f"{err_b:.1e}",
        "background rank": stats.get("rank"),
        "iterations": stats.get("n_iter"),
        "ok": bool(sc["f1"] > 0.95 and err_b < 0.02),
    }


def _files_video(truth: Any, outputs: dict[str, Any], outdir: Any) -> list[Any]:
    from pathlib import Path
    from types import SimpleNamespace

    from .plots import save_strip

    res = SimpleNamespace(
        **{k: outputs[k] for k in ("background", "foreground", "foreground_mask")}
    )
    path = Path(outdir) / "rpca_background_subtraction.png"
    return [save_strip(truth.frames, res, path, truth_mask=truth.foreground_mask)]


def _build_segment(seed: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    from .deep.scenes import make_scenes

    scenes = make_scenes(4, (256, 256), seed=1000 + seed)
    return {"images": scenes.images}, {}, scenes


def _evaluate_segment(truth: Any, outputs: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    from .deep.metrics import score_masks

    sc = score_masks(outputs["masks"], truth.masks)
    return {
        "IoU": f"{sc.iou:.3f}",
        "Pd": f"{sc.detected}/{sc.targets}",
        "Fa (x1e-6)": f"{sc.fa * 1e6:.1f}",
        "target SCR range": f"{truth.scr.min():.1f}-{truth.scr.max():.1f}",
        "ok": bool(sc.iou > 0.4 and sc.pd >= 0.75),
    }


DEMOS = [
    DemoJob(
        family="rpca",
        title="RPCA (IALM): 400×400, rank 20, 5% gross corruption",
        solver="rpca",
        build=_build,
        evaluate=_evaluate,
    ),
    DemoJob(
        family="rpca",
        title="RPCA (AltProj): 1000×1000, rank 10 (estimated), 5% corrupted, 20% missing",
        solver="rpca",
        build=_build_altproj,
        evaluate=_evaluate_altproj,
    ),
    DemoJob(
        family="rpca",
        title="Video background subtraction (AltProj): 80 frames of 60×80, 3 moving objects",
        solver="rpca_video",
        build=_build_video,
        evaluate=_evaluate_video,
        files=_files_video,
    ),
    DemoJob(
        family="rpca",
        title="RPCANet++ small-target segmentation: 4 synthetic 256×256 infrared scenes",
        solver="rpca_segment",
        build=_build_segment,
        evaluate=_evaluate_segment,
    ),
]
