"""Metrics (MMEngine ``BaseMetric``s): :class:`TaskMetric` scores every task through its head."""
from eov.heads.catalog import cell_of, lower_is_better, primary_metric, record_kind
from eov.heads.detection import detection_map

from .grounding import GroundingMetric
from .tasks import TaskMetric

__all__ = ['GroundingMetric', 'TaskMetric', 'cell_of', 'detection_map', 'lower_is_better',
           'primary_metric', 'record_kind']
