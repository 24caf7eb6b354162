"""FGVLA aligners: visual features of several depths -> LM embedding space."""
from .multi_level import MLPLastLayer, MultiLevelConcat

__all__ = ['MLPLastLayer', 'MultiLevelConcat']
