"""Small-target segmentation metrics: IoU, nIoU, Pd, Fa (numpy + scipy.ndimage).

Conventions of the infrared small-target literature (BasicIRSTD, RPCANet evaluation):

* **IoU**: dataset level, ``sum TP / sum (TP + FP + FN)`` over all pixels of all images.
* **nIoU**: mean over images of the per-image IoU (an image with neither target nor
  prediction counts as 1).
* **Pd**: ground-truth targets and predicted objects are 8-connected components; a
  target is detected when an unmatched predicted component has its centroid within
  ``dist`` (3) pixels of the target's centroid (each predicted component matches at
  most one target). ``Pd = detected / targets``.
* **Fa**: pixels of predicted components matched to no target, divided by the total
  number of pixels (the papers report it ×1e-6).

References
----------
.. [1] Dai, Wu, Zhou, Barnard (2021) Asymmetric contextual modulation for infrared small
   target detection, WACV 2021 (nIoU).
.. [2] Li, Xiao, Wang, Wang, Lin, Li, An, Guo (2023) Dense nested attention network for
   infrared small target detection, IEEE TIP 32 (Pd/Fa as in the BasicIRSTD code).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class SegmentationScores:
    """Scores of a set of predicted masks against ground truth (see the module doc)."""

    iou: float
    niou: float
    pd: float
    fa: float
    f1: float
    targets: int
    detected: int
    false_pixels: int
    pixels: int

    def to_dict(self) -> dict:
        return asdict(self)


def _components(mask: np.ndarray) -> tuple[list[np.ndarray], list[int]]:
    from scipy import ndimage

    lab, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return [], []
    idx = np.arange(1, n + 1)
    cents = ndimage.center_of_mass(mask, lab, idx)
    areas = ndimage.sum_labels(mask, lab, idx)
    return [np.asarray(c, dtype=np.float64) for c in cents], [int(a) for a in areas]


def detection_counts(pred: np.ndarray, gt: np.ndarray, dist: float = 3.0) -> tuple[int, int, int]:
    """(targets, detected targets, false-alarm pixels) for one 2-D image."""
    gt_c, _ = _components(gt)
    pr_c, pr_a = _components(pred)
    used = [False] * len(pr_c)
    detected = 0
    for g in gt_c:
        for j, p in enumerate(pr_c):
            if not used[j] and float(np.linalg.norm(p - g)) < dist:
                used[j] = True
                detected += 1
                break
    false_px = sum(a for a, u in zip(pr_a, used) if not u)
    return len(gt_c), detected, false_px


def score_masks(pred: np.ndarray, gt: np.ndarray, dist: float = 3.0) -> SegmentationScores:
    """IoU, nIoU, Pd, Fa, F1 of boolean masks ``pred`` vs ``gt`` ((N, H, W) or (H, W))."""
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} differ")
    if pred.ndim == 2:
        pred, gt = pred[None], gt[None]
    tp_all = fp_all = fn_all = 0
    nious = []
    n_t = n_d = n_f = 0
    for p, g in zip(pred, gt):
        tp = int(np.count_nonzero(p & g))
        fp = int(np.count_nonzero(p & ~g))
        fn = int(np.count_nonzero(~p & g))
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        nious.append(tp / (tp + fp + fn) if tp + fp + fn else 1.0)
        t, d, f = detection_counts(p, g, dist)
        n_t, n_d, n_f = n_t + t, n_d + d, n_f + f
    union = tp_all + fp_all + fn_all
    return SegmentationScores(
        iou=tp_all / union if union else 1.0,
        niou=float(np.mean(nious)),
        pd=n_d / n_t if n_t else 1.0,
        fa=n_f / pred.size,
        f1=2 * tp_all / (2 * tp_all + fp_all + fn_all) if union else 1.0,
        targets=n_t,
        detected=n_d,
        false_pixels=n_f,
        pixels=int(pred.size),
    )
