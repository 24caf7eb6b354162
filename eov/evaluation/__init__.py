"""Evaluation: per-task metrics, the scoreboard, and per-benchmark official protocols.

The pure scoring functions both use live below, in :mod:`eov.scoring`.
"""
from .metrics import GroundingMetric, TaskMetric
from .scoreboard import render_table, save_scoreboard, scoreboard_from_metrics, write_scoreboard
from . import benchmarks  # noqa: F401  (registers BENCHMARKS)

__all__ = ['GroundingMetric', 'TaskMetric', 'render_table', 'save_scoreboard',
           'scoreboard_from_metrics', 'write_scoreboard']
