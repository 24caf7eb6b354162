"""EOV-Synth: procedural, seeded remote-sensing instruction data.

Two suites:

- ``v2`` (default, :func:`generate_v2`): every modality entry (optical, SAR,
  infrared, multispectral, temporal, video, fusion) x every task category,
  GeoTIFFs in a projected CRS (video as a video file), structural targets.
  See ``docs/eov_synth.md`` and :mod:`eov.datasets.synth.multimodal`.
- ``grounding`` (v1, :func:`generate`): coloured shapes on a textured
  background, one grounding question per image
  (:mod:`eov.datasets.synth.grounding`).

Run ``python -m eov.datasets.synth OUT --train N --test M [--seed S] [--suite v2|grounding]``.
"""
from .cli import main
from .grounding import COLORS, SHAPES, SynthConfig, generate, make_record, make_scene
from .multimodal import (BUILDERS, GSD, MODALITY_ORDER, WEIGHTS, cell_for, generate_v2,
                         make_record_v2, matrix_markdown, task_matrix)

__all__ = ['BUILDERS', 'COLORS', 'GSD', 'MODALITY_ORDER', 'SHAPES', 'SynthConfig', 'WEIGHTS',
           'cell_for', 'generate', 'generate_v2', 'main', 'make_record', 'make_record_v2',
           'make_scene', 'matrix_markdown', 'task_matrix']
