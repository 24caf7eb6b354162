"""Evaluation: metrics and (later) per-benchmark official protocols."""
from .box_ops import box_iou, clip_box
from .metrics import GroundingMetric
from . import benchmarks  # noqa: F401  (registers BENCHMARKS)

__all__ = ['GroundingMetric', 'box_iou', 'clip_box']
