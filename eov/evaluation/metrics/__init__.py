"""Metrics (MMEngine ``BaseMetric``s), one module per task family."""
from .grounding import GroundingMetric, mean_normalized_box
from .tasks import TaskMetric, detection_map

__all__ = ['GroundingMetric', 'TaskMetric', 'detection_map', 'mean_normalized_box']
