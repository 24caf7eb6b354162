"""FGVLA cross-attention resampler over all levels (LHRS-Bot / perceiver style)."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS

from .base import BaseAligner


class _CrossAttentionBlock(nn.Module):
    """Pre-norm cross-attention of queries over tokens, then a feed-forward layer."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.norm_ffn = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(tokens)
        queries = queries + self.attn(self.norm_q(queries), kv, kv, need_weights=False)[0]
        return queries + self.ffn(self.norm_ffn(queries))


def _default_heads(dim: int) -> int:
    heads = max(1, dim // 64)
    while dim % heads:
        heads -= 1
    return heads


@ALIGNERS.register_module()
class LevelResampler(BaseAligner):
    """A fixed number of learned queries cross-attending over every level's tokens.

    The tokens of the K levels (each optionally compressed, normalised and
    projected to ``dim`` by a shared projection, plus a learned embedding of
    its level) are concatenated along the token axis; ``num_queries`` learned
    queries attend over them through ``depth`` pre-norm cross-attention
    blocks and are projected to the LM width. The output length does not
    depend on the image size, the number of frames or the compression.

    Args:
        in_dim: Channels of one level.
        num_levels: Levels K the backbone returns.
        out_dim: Hidden size of the language model.
        num_queries: Output tokens per sample.
        dim: Width of the queries and attention (default ``out_dim``).
        depth: Cross-attention blocks.
        num_heads: Attention heads (default ``dim // 64``, adjusted to divide
            ``dim``).
        mlp_ratio: Feed-forward width of the blocks relative to ``dim``.
        compress: Token compression of each image's patch grid before the
            projection (fewer keys to attend over; see
            :class:`~eov.models.aligners.MultiLevelConcat`).
    """

    fixed_length = True

    def __init__(self, in_dim: int, num_levels: int, out_dim: int, num_queries: int = 64,
                 dim: int | None = None, depth: int = 2, num_heads: int | None = None,
                 mlp_ratio: float = 2.0, compress: dict | None = None):
        super().__init__()
        dim = dim or out_dim
        num_heads = num_heads or _default_heads(dim)
        if dim % num_heads:
            raise ValueError(f'LevelResampler: dim {dim} is not divisible by '
                             f'num_heads {num_heads}')
        if num_queries < 1:
            raise ValueError(f'LevelResampler: num_queries must be >= 1, got {num_queries}')
        self.num_levels = num_levels
        self.num_queries = int(num_queries)
        self._setup_compress(compress)
        width = in_dim * self.compressor.channel_mult
        self.in_proj = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))
        self.level_embed = nn.Parameter(torch.randn(num_levels, dim) * 0.02)
        self.queries = nn.Parameter(torch.randn(self.num_queries, dim) * 0.02)
        self.blocks = nn.ModuleList(_CrossAttentionBlock(dim, num_heads, mlp_ratio)
                                    for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def num_tokens(self, grid: tuple[int, int]) -> int:
        """``num_queries`` whatever the grid (checked against the compression).

        Args:
            grid: ``(h, w)`` patch grid of one image.

        Returns:
            ``num_queries``.
        """
        self.compressor.check_grid(grid)
        return self.num_queries

    def num_tokens_for(self, n_tokens: int, grid: tuple[int, int]) -> int:
        """``num_queries`` for a sample of any number of grids.

        Args:
            n_tokens: Tokens of one sample as the input adapter gives them.
            grid: ``(h, w)`` patch grid of one image.

        Returns:
            ``num_queries``.
        """
        if self.compressor.active:
            self.compressor.resolve_grid(int(n_tokens), grid)
        return self.num_queries

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Resample K levels to ``num_queries`` tokens.

        Args:
            levels: K tensors ``(B, N, in_dim)``; ``N`` is a whole number of
                image grids when compressing.
            grid: ``(h, w)`` patch grid of one image (only used to compress).

        Returns:
            ``(B, num_queries, out_dim)``.
        """
        self._check_levels(levels)
        tokens = torch.cat([self.in_proj(self.compressor(lvl, grid)) + self.level_embed[k]
                            for k, lvl in enumerate(levels)], dim=1)
        queries = self.queries[None].expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        for block in self.blocks:
            queries = block(queries, tokens)
        return self.out(queries)
