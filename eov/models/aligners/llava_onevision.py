"""LLaVA-OneVision's projector as an FGVLA aligner: a 2-layer MLP per patch, then the image
as LLaVA-OneVision lays out a single image at the tower's resolution ("anyres" with one
tile): every patch token, then the tile's rows, each row closed by a learnt newline token."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS

from .base import BaseAligner


@ALIGNERS.register_module()
class LLaVAOneVisionMLP(BaseAligner):
    """``Linear -> GELU -> Linear`` on the last level, base tokens + newline-closed rows.

    An image of ``h x w`` patches becomes ``h*w + h*(w+1)`` tokens: LLaVA-OneVision packs the
    base image and its tile grid (one tile when the image is the tower's size) this way.

    Args:
        in_dim: Channels of the last level.
        num_levels: Levels the backbone returns (only the last is used).
        out_dim: Hidden size of the language model.
        bias: Bias in both linear layers (``multimodal_projector_bias``).
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int, bias: bool = True):
        super().__init__()
        self.num_levels = num_levels
        self._setup_compress(None)
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim, bias=bias), nn.GELU(),
                                 nn.Linear(out_dim, out_dim, bias=bias))
        self.image_newline = nn.Parameter(torch.zeros(out_dim))

    def num_tokens(self, grid: tuple[int, int]) -> int:
        """``h*w`` base tokens and ``h`` rows of ``w + 1`` tokens."""
        h, w = (int(g) for g in grid)
        return h * w + h * (w + 1)

    @staticmethod
    def _grids(n_tokens: int, grid: tuple[int, int]) -> int:
        """How many whole ``(h, w)`` grids ``n_tokens`` tokens hold (frames, members)."""
        h, w = (int(g) for g in grid)
        if n_tokens % (h * w):
            raise ValueError(f'LLaVAOneVisionMLP: {n_tokens} tokens are not a whole number of '
                             f'{h}x{w} patch grids')
        return n_tokens // (h * w)

    def num_tokens_for(self, n_tokens: int, grid: tuple[int, int]) -> int:
        """Each whole ``(h, w)`` grid of the sample (frames, members) as :meth:`num_tokens`."""
        return self._grids(n_tokens, grid) * self.num_tokens(grid)

    def forward(self, levels: list[torch.Tensor],
                grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Project the last level ``(B, k*h*w, C)`` to ``(B, k*num_tokens(grid), out_dim)``."""
        self._check_levels(levels)
        x = self.mlp(levels[-1])
        b, n, d = x.shape
        if grid is None:
            side = int(round(n ** 0.5))
            grid = (side, side)
        h, w = (int(g) for g in grid)
        grids = x.reshape(b, self._grids(n, grid), h, w, d)
        newline = self.image_newline.to(x.dtype).expand(b, grids.shape[1], h, 1, d)
        rows = torch.cat([grids, newline], dim=3).reshape(b, grids.shape[1], h * (w + 1), d)
        return torch.cat([grids.reshape(b, -1, h * w, d), rows], dim=2).reshape(b, -1, d)
