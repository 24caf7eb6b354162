"""Qwen2-VL's (and Qwen2.5-VL's) patch merger as an FGVLA aligner: LayerNorm (RMSNorm) per patch, each 2x2 window of
neighbouring patches concatenated (pixel shuffle, Qwen's window order), then an MLP."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS

from .base import BaseAligner


@ALIGNERS.register_module()
class QwenPatchMerger(BaseAligner):
    """``LayerNorm(C)`` per token -> ``m x m`` pixel shuffle -> ``Linear, GELU, Linear``.

    The same computation as ``transformers``' Qwen2-VL ``PatchMerger`` (``norm='rms'``:
    Qwen2.5-VL's) on tokens in row-major grid order (as
    :class:`~eov.models.hf_vision.QwenVLVisionTower` returns them).

    Args:
        in_dim: Channels of the last level.
        num_levels: Levels the backbone returns (only the last is used).
        out_dim: Hidden size of the language model.
        merge: Side ``m`` of the merged window (Qwen's ``spatial_merge_size``).
        norm: ``'layer'`` (Qwen2-VL) or ``'rms'`` (Qwen2.5-VL).
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int, merge: int = 2,
                 norm: str = 'layer'):
        super().__init__()
        self.num_levels = num_levels
        self._setup_compress(dict(type='pixel_shuffle', factor=merge))
        width = in_dim * merge * merge
        if norm not in ('layer', 'rms'):
            raise ValueError(f"QwenPatchMerger: norm must be 'layer' or 'rms', got {norm!r}")
        self.norm = nn.LayerNorm(in_dim, eps=1e-6) if norm == 'layer' \
            else nn.RMSNorm(in_dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, out_dim))

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Merge the last level ``(B, k*h*w, C)`` into ``(B, k*h*w/m^2, out_dim)``."""
        self._check_levels(levels)
        return self.mlp(self.compressor(self.norm(levels[-1]), grid))
