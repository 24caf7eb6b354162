"""Evaluation: per-task metrics, the scoreboard, and per-benchmark official protocols."""
from .box_ops import box_iou, clip_box, clip_polygon, clipped_iou, polygon_iou
from .metrics import GroundingMetric, TaskMetric
from .scoreboard import render_table, scoreboard_from_metrics, write_scoreboard
from . import benchmarks  # noqa: F401  (registers BENCHMARKS)

__all__ = ['GroundingMetric', 'TaskMetric', 'box_iou', 'clip_box', 'clip_polygon',
           'clipped_iou', 'polygon_iou', 'render_table', 'scoreboard_from_metrics',
           'write_scoreboard']
