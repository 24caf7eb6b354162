"""Input adapters: turn a modality's bands into the backbone's input channels."""
from __future__ import annotations

import torch
from torch import nn

from eov.registry import ADAPTERS


@ADAPTERS.register_module(name='rgb')
class RGBPassThrough(nn.Module):
    """Hand 3-band pixels to the backbone unchanged.

    Args:
        in_chans: Bands of the modality (must equal ``out_chans``).
        out_chans: Channels of the backbone's patch embedding.
    """

    def __init__(self, in_chans: int = 3, out_chans: int = 3):
        super().__init__()
        if in_chans != out_chans:
            raise ValueError(f"the 'rgb' adapter passes pixels through, so the sensor's "
                             f'{in_chans} bands must equal the backbone\'s {out_chans} '
                             "input channels; use 'band_linear' for other band counts")

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Return ``pixels`` as they are."""
        return pixels


@ADAPTERS.register_module(name='band_linear')
class BandLinear(nn.Module):
    """Learned linear mixing of C bands into the backbone's input channels.

    Initialised so every output channel starts as the mean of the bands, which
    keeps a freshly added sensor in the range the backbone was trained on.

    Args:
        in_chans: Bands of the modality.
        out_chans: Channels of the backbone's patch embedding.
    """

    def __init__(self, in_chans: int, out_chans: int = 3):
        super().__init__()
        self.mix = nn.Conv2d(in_chans, out_chans, kernel_size=1)
        with torch.no_grad():
            self.mix.weight.fill_(1.0 / in_chans)
            self.mix.bias.zero_()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Mix ``(N, C, H, W)`` bands into ``(N, out_chans, H, W)``."""
        return self.mix(pixels)
