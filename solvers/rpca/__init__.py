"""Robust PCA: M = L + S (principal component pursuit by inexact ALM, or non-convex
alternating projections), with missing data, and video background subtraction.

Public names: :func:`rpca`, :class:`RPCAResult`, :func:`background_subtraction`,
:class:`BackgroundSubtractionResult`, :func:`foreground_scores`, and the synthetic
problems with a known answer :func:`low_rank_plus_sparse`, :func:`random_mask`,
:func:`moving_objects_video` (:class:`VideoScene`); RPCANet++ small-object segmentation
:func:`segment` (:class:`SegmentationResult`; more in :mod:`solvers.rpca.deep`).
"""

from __future__ import annotations

from . import _spec  # noqa: F401 - registers the solvers
from .deep.segment import SegmentationResult, segment
from .problems import VideoScene, low_rank_plus_sparse, moving_objects_video, random_mask
from .solver import RPCAResult, rpca
from .video import BackgroundSubtractionResult, background_subtraction, foreground_scores

__all__ = [
    "BackgroundSubtractionResult",
    "RPCAResult",
    "SegmentationResult",
    "VideoScene",
    "background_subtraction",
    "foreground_scores",
    "low_rank_plus_sparse",
    "moving_objects_video",
    "random_mask",
    "rpca",
    "segment",
]
