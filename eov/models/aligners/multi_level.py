"""FGVLA aligners that map (multi-level) visual features into the LM space."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS


@ALIGNERS.register_module()
class MultiLevelConcat(nn.Module):
    """Concatenate K feature levels channel-wise, then a 2-layer MLP (VHM style).

    Args:
        in_dim: Channels of one level.
        num_levels: Levels K the backbone returns.
        out_dim: Hidden size of the language model.
        hidden_dim: MLP width (default ``out_dim``).
        norm: LayerNorm the concatenated levels before the MLP.
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int,
                 hidden_dim: int | None = None, norm: bool = True):
        super().__init__()
        self.num_levels = num_levels
        hidden_dim = hidden_dim or out_dim
        self.norm = nn.LayerNorm(in_dim * num_levels) if norm else nn.Identity()
        self.mlp = nn.Sequential(nn.Linear(in_dim * num_levels, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, out_dim))

    def num_tokens(self, grid: tuple[int, int]) -> int:
        """Visual tokens produced for a patch grid ``(h, w)``."""
        return grid[0] * grid[1]

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Map K tensors ``(B, N, C)`` to ``(B, N, out_dim)``."""
        if len(levels) != self.num_levels:
            raise ValueError(f'{type(self).__name__} expects {self.num_levels} levels, '
                             f'got {len(levels)}')
        return self.mlp(self.norm(torch.cat(levels, dim=-1)))


@ALIGNERS.register_module()
class MLPLastLayer(MultiLevelConcat):
    """LLaVA-style 2-layer MLP on the last level only (the FGVLA baseline).

    Args:
        in_dim: Channels of the last level.
        num_levels: Levels the backbone returns (only the last is used).
        out_dim: Hidden size of the language model.
        hidden_dim: MLP width (default ``out_dim``).
        norm: LayerNorm the last level before the MLP.
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int,
                 hidden_dim: int | None = None, norm: bool = True):
        super().__init__(in_dim, 1, out_dim, hidden_dim, norm)
        self.num_levels = num_levels

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Map the last of the levels to ``(B, N, out_dim)``."""
        return self.mlp(self.norm(levels[-1]))
