"""FGVLA aligners that map (multi-level) visual features into the LM space."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS

from .base import BaseAligner


@ALIGNERS.register_module()
class MultiLevelConcat(BaseAligner):
    """Concatenate K feature levels channel-wise, then a 2-layer MLP (VHM style).

    Args:
        in_dim: Channels of one level.
        num_levels: Levels K the backbone returns.
        out_dim: Hidden size of the language model.
        hidden_dim: MLP width (default ``out_dim``).
        norm: LayerNorm the concatenated levels before the MLP.
        compress: Token compression of each image's patch grid before the
            MLP: ``None``, ``dict(type='pixel_shuffle', factor=2)`` (tokens
            / 4, channels x 4) or ``dict(type='pool', factor=2)`` (tokens / 4).
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int,
                 hidden_dim: int | None = None, norm: bool = True,
                 compress: dict | None = None):
        super().__init__()
        self.num_levels = num_levels
        self._setup_compress(compress)
        hidden_dim = hidden_dim or out_dim
        width = in_dim * num_levels * self.compressor.channel_mult
        self.norm = nn.LayerNorm(width) if norm else nn.Identity()
        self.mlp = nn.Sequential(nn.Linear(width, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, out_dim))

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Align K levels.

        Args:
            levels: K tensors ``(B, N, in_dim)``; ``N`` is a whole number of
                image grids when compressing.
            grid: ``(h, w)`` patch grid of one image (only used to compress;
                ``None`` infers a square grid from ``N``).

        Returns:
            ``(B, N_out, out_dim)`` with ``N_out = num_tokens_for(N, grid)``.
        """
        self._check_levels(levels)
        levels = [self.compressor(lvl, grid) for lvl in levels]
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
        compress: Token compression before the MLP (see
            :class:`MultiLevelConcat`).
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int,
                 hidden_dim: int | None = None, norm: bool = True,
                 compress: dict | None = None):
        super().__init__(in_dim, 1, out_dim, hidden_dim, norm, compress)
        self.num_levels = num_levels

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Align the last level.

        Args:
            levels: Tensors ``(B, N, in_dim)``; only ``levels[-1]`` is used.
            grid: ``(h, w)`` patch grid of one image (only used to compress).

        Returns:
            ``(B, N_out, out_dim)``.
        """
        return self.mlp(self.norm(self.compressor(levels[-1], grid)))
