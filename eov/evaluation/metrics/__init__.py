"""Metrics (MMEngine ``BaseMetric``s): :class:`TaskMetric` scores every task category."""
from .grounding import GroundingMetric
from .tasks import (LOWER_IS_BETTER, PRIMARY_METRICS, TASK_CATEGORIES, TaskMetric, cell_of,
                    detection_map, lower_is_better, mean_normalized_box, primary_metric,
                    record_kind)

__all__ = ['GroundingMetric', 'LOWER_IS_BETTER', 'PRIMARY_METRICS', 'TASK_CATEGORIES',
           'TaskMetric', 'cell_of', 'detection_map', 'lower_is_better', 'mean_normalized_box',
           'primary_metric', 'record_kind']
