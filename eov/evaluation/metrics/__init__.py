"""Metrics (MMEngine ``BaseMetric``s), one module per task family."""
from .grounding import GroundingMetric, mean_normalized_box

__all__ = ['GroundingMetric', 'mean_normalized_box']
