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


class _PostShuffleMerger(nn.Module):
    """Qwen3-VL's DeepStack merger: pixel shuffle, then ``LayerNorm(C m^2)`` and the MLP."""

    def __init__(self, width: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.linear_fc1 = nn.Linear(width, width)
        self.act = nn.GELU()
        self.linear_fc2 = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_fc2(self.act(self.linear_fc1(self.norm(x))))


@ALIGNERS.register_module()
class QwenDeepStackMerger(QwenPatchMerger):
    """Qwen3-VL's mergers: the last level through :class:`QwenPatchMerger` (LayerNorm before
    the shuffle) gives the visual tokens; every earlier level through its own DeepStack
    merger (LayerNorm after the shuffle) gives features the LM adds to its hidden states at
    the image positions after its first layers (one layer per level, in order).

    Returns ``(B, N, 1 + k, out_dim)`` for ``k = num_levels - 1`` DeepStack levels: index 0
    the tokens, ``1..k`` the DeepStack features (:meth:`EarthOneVision.embed` splits them).
    The language model must take them (``deepstack_visual_embeds``, Qwen3-VL's text model).

    Args:
        in_dim, num_levels, out_dim, merge: As :class:`QwenPatchMerger`.
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int, merge: int = 2):
        super().__init__(in_dim, num_levels, out_dim, merge=merge)
        self.deepstack = nn.ModuleList(_PostShuffleMerger(in_dim * merge * merge, out_dim)
                                       for _ in range(num_levels - 1))

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """``(B, k*h*w/m^2, 1 + num_levels - 1, out_dim)``."""
        tokens = super().forward(levels, grid)
        extra = [merge(self.compressor(level, grid))
                 for merge, level in zip(self.deepstack, levels[:-1])]
        return torch.stack([tokens, *extra], dim=2)
