"""Evaluation: per-task metrics and per-benchmark official protocols."""
from .box_ops import box_iou, clip_box
from .metrics import GroundingMetric, TaskMetric
from . import benchmarks  # noqa: F401  (registers BENCHMARKS)

__all__ = ['GroundingMetric', 'TaskMetric', 'box_iou', 'clip_box']
