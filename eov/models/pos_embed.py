"""Sine-cosine position codes shared by the ViT grid and the location tokens.

The ViT's 2-D position embedding codes a patch at column ``x`` and row ``y`` as
``[sincos(x), sincos(y)]``; a location token for bin ``b`` is coded as the
same functions of the bin centre in patch-grid units, ``[sincos(p), sincos(p)]``.
Starting both from one family of codes gives the LM an easy path from "where
the attended patches are" to "which location token to write".
"""
from __future__ import annotations

import torch


def sincos_1d(pos: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Code positions ``(N,)`` as ``(N, dim)``: ``dim/2`` sines then ``dim/2`` cosines."""
    if dim % 2:
        raise ValueError(f'sincos_1d needs an even dim, got {dim}')
    omega = 1.0 / temperature ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = pos.to(torch.float64)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_2d(grid_h: int, grid_w: int, dim: int) -> torch.Tensor:
    """Code a row-major ``grid_h x grid_w`` grid as ``(grid_h*grid_w, dim)`` (x half, y half)."""
    if dim % 4:
        raise ValueError(f'sincos_2d needs dim divisible by 4, got {dim}')
    ys, xs = torch.meshgrid(torch.arange(grid_h), torch.arange(grid_w), indexing='ij')
    return torch.cat([sincos_1d(xs.flatten(), dim // 2), sincos_1d(ys.flatten(), dim // 2)], 1)


def location_codes(bins: int, grid: int, dim: int) -> torch.Tensor:
    """Code location bins ``(bins, dim)`` like grid positions at the bin centres.

    Args:
        bins: Number of location tokens along an axis.
        grid: Patches along that axis of the backbone's grid.
        dim: Code width (the LM's hidden size).
    """
    centres = (torch.arange(bins, dtype=torch.float64) + 0.5) / bins * grid - 0.5
    code = sincos_1d(centres, dim // 2)
    return torch.cat([code, code], dim=1)
