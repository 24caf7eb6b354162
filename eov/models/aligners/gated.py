"""FGVLA multi-level gated fusion: learned, input-dependent weights over levels."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ALIGNERS

from .base import BaseAligner


@ALIGNERS.register_module()
class MultiLevelGated(BaseAligner):
    """Project each level, mix the levels with input-dependent gates, then an MLP.

    Each of the K levels gets its own ``LayerNorm + Linear(in_dim -> out_dim)``
    projection. A small gate MLP reads the K projected levels and gives
    softmax weights over the levels, either one set per sample (from the
    mean-pooled tokens, ``gate='sample'``) or one per token
    (``gate='token'``). The gated sum goes through a 2-layer MLP. The gates
    start near uniform, so training begins from the average of the levels.

    Args:
        in_dim: Channels of one level.
        num_levels: Levels K the backbone returns.
        out_dim: Hidden size of the language model.
        hidden_dim: Width of the output MLP (default ``out_dim``).
        gate: ``'sample'`` (one weight per level and sample) or ``'token'``
            (one per level and token).
        gate_hidden: Width of the gate MLP.
        compress: Token compression of each image's patch grid before the
            projections (see :class:`~eov.models.aligners.MultiLevelConcat`).

    Attributes:
        last_gates: Detached gates of the latest forward, ``(B, K)`` or
            ``(B, N_out, K)`` (for logging which depths the model uses).
    """

    def __init__(self, in_dim: int, num_levels: int, out_dim: int,
                 hidden_dim: int | None = None, gate: str = 'sample',
                 gate_hidden: int = 256, compress: dict | None = None):
        super().__init__()
        if gate not in ('sample', 'token'):
            raise ValueError(f"MultiLevelGated: gate must be 'sample' or 'token', got {gate!r}")
        self.num_levels = num_levels
        self.gate_mode = gate
        self._setup_compress(compress)
        width = in_dim * self.compressor.channel_mult
        hidden_dim = hidden_dim or out_dim
        self.proj = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, out_dim))
                                  for _ in range(num_levels))
        self.gate = nn.Sequential(nn.Linear(num_levels * out_dim, gate_hidden), nn.GELU(),
                                  nn.Linear(gate_hidden, num_levels))
        with torch.no_grad():  # near-uniform gates at the start, gradients still flow
            nn.init.normal_(self.gate[-1].weight, std=0.02)
            nn.init.zeros_(self.gate[-1].bias)
        self.mlp = nn.Sequential(nn.LayerNorm(out_dim), nn.Linear(out_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, out_dim))
        self.last_gates: torch.Tensor | None = None

    def _project(self, levels, grid):
        self._check_levels(levels)
        return [proj(self.compressor(lvl, grid)) for proj, lvl in zip(self.proj, levels)]

    def _gates(self, projected: list[torch.Tensor]) -> torch.Tensor:
        feats = torch.cat(projected, dim=-1)                    # (B, N, K*out_dim)
        if self.gate_mode == 'sample':
            feats = feats.mean(dim=1)                           # (B, K*out_dim)
        return self.gate(feats).float().softmax(dim=-1).to(projected[0].dtype)

    def level_gates(self, levels: list[torch.Tensor],
                    grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Gate weights over the levels for an input (each row sums to 1).

        Args:
            levels: K tensors ``(B, N, in_dim)``.
            grid: ``(h, w)`` patch grid of one image (only used to compress).

        Returns:
            ``(B, K)`` for ``gate='sample'``, ``(B, N_out, K)`` for ``'token'``.
        """
        return self._gates(self._project(levels, grid))

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
        projected = self._project(levels, grid)
        gates = self._gates(projected)                          # (B, K) or (B, N, K)
        self.last_gates = gates.detach()
        if self.gate_mode == 'sample':
            gates = gates[:, None, :]
        stacked = torch.stack(projected, dim=-1)                # (B, N, out_dim, K)
        fused = (stacked * gates[..., None, :]).sum(dim=-1)
        return self.mlp(fused)
