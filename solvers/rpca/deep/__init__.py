"""RPCANet++: deep-unfolded robust PCA for small/sparse object segmentation (torch).

Public names: :func:`segment` (also ``solvers.rpca.segment``), :class:`SegmentationResult`,
:func:`train` (and :class:`TrainConfig`), :func:`load_model`, :func:`make_scenes` /
:func:`heldout_set` (synthetic infrared scenes with masks), :func:`score_masks` (IoU,
nIoU, Pd, Fa) and the IPI baseline :func:`ipi_segment`. torch is imported only when a
network is built, loaded or run: importing this package does not import it.

References
----------
.. [1] Wu, Zhang, Wang, Xiao, Chen, Zhang, Yang (2025) RPCANet++: Deep interpretable
   robust PCA for sparse object segmentation, arXiv:2508.04190.
"""

from __future__ import annotations

from .ipi import IPIResult, ipi_segment
from .metrics import SegmentationScores, score_masks
from .models import list_models, load_model
from .scenes import SceneSet, heldout_set, make_scenes
from .segment import SegmentationResult, segment
from .training import TrainConfig, evaluate, train

__all__ = [
    "IPIResult",
    "SceneSet",
    "SegmentationResult",
    "SegmentationScores",
    "TrainConfig",
    "evaluate",
    "heldout_set",
    "ipi_segment",
    "list_models",
    "load_model",
    "make_scenes",
    "score_masks",
    "segment",
    "train",
]
