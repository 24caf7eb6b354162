"""Optical imagery: 3-band 8-bit RGB (PNG/JPEG or GeoTIFF/JP2)."""
from __future__ import annotations

from eov.registry import MODALITIES

from .base import BaseModality


@MODALITIES.register_module(name='optical')
class OpticalModality(BaseModality):
    """RGB aerial or satellite imagery, scaled to [0, 1] and standardised.

    Args:
        sensor: Sensor spec name (default ``'rgb'``).
        image_size: Size the backbone sees; see :class:`BaseModality`.
        adapter: Input adapter config (default pass-through ``rgb``).
    """

    name = 'optical'
    default_sensor = 'rgb'
