"""FGVLA aligners: visual features of several depths -> LM embedding space.

Every aligner takes K levels ``(B, N, C)`` and an optional ``grid=(h, w)`` of
one image, returns ``(B, N_out, out_dim)``, and reports its output length via
``num_tokens(grid)`` (one image) and ``num_tokens_for(n_tokens, grid)`` (a
sample of several grids). ``compress=dict(type='pixel_shuffle'|'pool',
factor=f)`` shrinks each image's grid by ``f x f`` before the projection. An aligner may
also return ``(B, N_out, 1 + k, out_dim)``: its tokens and ``k`` DeepStack features for an
LM that takes them (:class:`QwenDeepStackMerger`, Qwen3-VL).
"""
from .base import BaseAligner, TokenCompressor
from .gated import MultiLevelGated
from .llava_onevision import LLaVAOneVisionMLP
from .multi_level import MLPLastLayer, MultiLevelConcat
from .qwen_merger import QwenDeepStackMerger, QwenPatchMerger
from .resampler import LevelResampler

__all__ = ['BaseAligner', 'TokenCompressor', 'LLaVAOneVisionMLP', 'MLPLastLayer',
           'MultiLevelConcat', 'MultiLevelGated', 'LevelResampler', 'QwenDeepStackMerger',
           'QwenPatchMerger']
