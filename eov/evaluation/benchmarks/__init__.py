"""Benchmarks as downloaded -> eov records, and their official scoring protocols.

Each benchmark is registered in :data:`eov.registry.BENCHMARKS` under its name
(``BENCHMARKS.build(dict(type='opt_rsvg'))``); see ``docs/evaluation.md``.
"""
from .base import (BaseBenchmark, BenchmarkDataError, OptionError, PredictionError, evaluate,
                   load_predictions, load_records)
from .bigearthnet import BEN19_CLASSES, BEN43_TO_19, BigEarthNetV1
from .dota import DOTA, DOTA_V1_CLASSES
from .earthmind import EarthMindBench
from .levircc import LevirCC
from .reben import BigEarthNetV2
from .rsvg import DiorRSVG, OptRSVG
from .rsvqa import RSVQAHR, RSVQALR
from .sarlang import SarlangVQA, sarlang_match

__all__ = ['BEN19_CLASSES', 'BEN43_TO_19', 'BaseBenchmark', 'BenchmarkDataError',
           'BigEarthNetV1', 'BigEarthNetV2', 'DOTA', 'DOTA_V1_CLASSES', 'DiorRSVG',
           'EarthMindBench', 'LevirCC', 'OptRSVG', 'OptionError', 'PredictionError', 'RSVQAHR',
           'RSVQALR', 'SarlangVQA', 'evaluate', 'load_predictions', 'load_records',
           'sarlang_match']
