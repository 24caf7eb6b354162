"""Shared machinery of the FGVLA aligners: token compression and token counting.

Every aligner maps ``K`` levels ``(B, N, C)`` of the vision backbone to
``(B, N_out, out_dim)`` LM embeddings, and optionally compresses the patch
grid of each image *before* its projection:

* ``compress=dict(type='pixel_shuffle', factor=f)``: space-to-depth, each
  ``f x f`` block of neighbouring patches becomes one token with ``f*f`` times
  the channels (InternVL / Qwen2-VL style), a pure rearrangement;
* ``compress=dict(type='pool', factor=f)``: average of each ``f x f`` block.

A sample's ``N`` tokens may hold several image grids (temporal frames, fusion
members, 3-band groups concatenated by the input adapter): each run of
``h*w`` tokens is compressed on its own.
"""
from __future__ import annotations

import math

import torch
from torch import nn

#: Compression types an aligner accepts.
COMPRESS_TYPES = ('pixel_shuffle', 'pool')


class TokenCompressor:
    """Parameter-free ``f x f`` compression of square patch grids.

    Args:
        compress: ``None`` (no compression), or ``dict(type='pixel_shuffle' |
            'pool', factor=f)``.
        owner: Name of the aligner, used in error messages.
    """

    def __init__(self, compress: dict | None, owner: str):
        self.owner = owner
        if compress is None:
            self.type, self.factor = None, 1
            return
        if not isinstance(compress, dict) or compress.get('type') not in COMPRESS_TYPES:
            raise ValueError(f'{owner}: compress must be None or dict(type=one of '
                             f'{COMPRESS_TYPES}, factor=int), got {compress!r}')
        unknown = set(compress) - {'type', 'factor'}
        if unknown:
            raise ValueError(f'{owner}: unknown compress keys {sorted(unknown)}')
        factor = compress.get('factor', 2)
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(f'{owner}: compress factor must be a positive int, got {factor!r}')
        self.type, self.factor = compress['type'], factor

    @property
    def active(self) -> bool:
        """Whether tokens are compressed at all."""
        return self.type is not None and self.factor > 1

    @property
    def channel_mult(self) -> int:
        """Factor on the channels of a compressed token (``f*f`` for pixel shuffle)."""
        return self.factor ** 2 if self.type == 'pixel_shuffle' else 1

    def check_grid(self, grid: tuple[int, int]) -> tuple[int, int]:
        """Validate a grid ``(h, w)`` for this compression; return it as ints."""
        h, w = int(grid[0]), int(grid[1])
        if h < 1 or w < 1:
            raise ValueError(f'{self.owner}: invalid patch grid {grid!r}')
        if self.active and (h % self.factor or w % self.factor):
            raise ValueError(f'{self.owner}: {self.type} with factor {self.factor} needs a '
                             f'patch grid divisible by {self.factor}, got {h}x{w}; change '
                             'image_size or the factor')
        return h, w

    def tokens_per_grid(self, grid: tuple[int, int]) -> int:
        """Tokens one ``(h, w)`` grid becomes."""
        h, w = self.check_grid(grid)
        return (h // self.factor) * (w // self.factor)

    def resolve_grid(self, n_tokens: int, grid: tuple[int, int] | None) -> tuple[int, int]:
        """The grid of one image for a sample of ``n_tokens`` tokens.

        Args:
            n_tokens: Tokens ``N`` of one sample (whole grids).
            grid: ``(h, w)`` of one image, or ``None`` to infer a square grid.

        Raises:
            ValueError: ``grid`` is omitted and ``N`` is not a perfect square,
                or ``N`` is not a whole number of grids.
        """
        if grid is None:
            side = math.isqrt(n_tokens)
            if side * side != n_tokens:
                raise ValueError(
                    f'{self.owner}: cannot infer the patch grid of {n_tokens} tokens (not a '
                    f'perfect square) for {self.type} compression; pass grid=(h, w) of one '
                    'image (EarthOneVision does this from the modality\'s image_size)')
            grid = (side, side)
        h, w = self.check_grid(grid)
        if n_tokens % (h * w):
            raise ValueError(
                f'{self.owner}: {n_tokens} tokens are not a whole number of {h}x{w} patch '
                f'grids, so {self.type} compression cannot split them into images (an '
                'input adapter that pools its frames, e.g. temporal token_budget, '
                'does not combine with aligner compression; use compress=None)')
        return h, w

    def __call__(self, x: torch.Tensor, grid: tuple[int, int] | None) -> torch.Tensor:
        """Compress ``(B, N, C)`` (``N = k*h*w``) to ``(B, k*h*w/f^2, C*mult)``.

        Pixel shuffle writes the ``f x f`` block of each output token in
        row-major order: channel ``(dy*f + dx)*C + c`` of output token
        ``(i, j)`` is channel ``c`` of input patch ``(i*f + dy, j*f + dx)``.
        """
        if not self.active:
            return x
        b, n, c = x.shape
        h, w = self.resolve_grid(n, grid)
        f = self.factor
        k = n // (h * w)
        blocks = x.reshape(b, k, h // f, f, w // f, f, c)
        if self.type == 'pool':
            return blocks.mean(dim=(3, 5)).reshape(b, -1, c)
        blocks = blocks.permute(0, 1, 2, 4, 3, 5, 6)       # b, k, h/f, w/f, dy, dx, c
        return blocks.reshape(b, k * (h // f) * (w // f), f * f * c)


class BaseAligner(nn.Module):
    """Common interface of the FGVLA aligners.

    Subclasses set ``self.num_levels`` and call :meth:`_setup_compress`, then
    implement :meth:`forward`. Per-token aligners keep the default token
    counts; aligners with a fixed output length override them.
    """

    #: Output length is fixed (a resampler) rather than per token.
    fixed_length: bool = False

    def _setup_compress(self, compress: dict | None) -> None:
        self.compress = compress
        self.compressor = TokenCompressor(compress, type(self).__name__)

    def _check_levels(self, levels) -> None:
        if len(levels) != self.num_levels:
            raise ValueError(f'{type(self).__name__} expects {self.num_levels} levels, '
                             f'got {len(levels)}')

    def num_tokens(self, grid: tuple[int, int]) -> int:
        """Visual tokens one image of patch grid ``(h, w)`` becomes.

        Args:
            grid: ``(h, w)`` patch grid of one image.

        Returns:
            ``h*w``, divided by ``factor**2`` under compression.
        """
        return self.compressor.tokens_per_grid(grid)

    def num_tokens_for(self, n_tokens: int, grid: tuple[int, int]) -> int:
        """Visual tokens a sample of ``n_tokens`` backbone tokens becomes.

        Args:
            n_tokens: Tokens of one sample as the input adapter gives them
                (e.g. ``T`` frames or ``G`` band groups of one grid each).
            grid: ``(h, w)`` patch grid of one image.

        Returns:
            ``n_tokens`` without compression; else
            ``(n_tokens // (h*w)) * num_tokens(grid)``.

        Raises:
            ValueError: compression is requested and ``n_tokens`` is not a
                whole number of grids.
        """
        if not self.compressor.active:
            return int(n_tokens)
        h, w = self.compressor.resolve_grid(int(n_tokens), grid)
        return (int(n_tokens) // (h * w)) * self.num_tokens((h, w))
