"""Thermal infrared imagery (single-band IR frames, Landsat-8/9 TIRS)."""
from __future__ import annotations

from eov.registry import MODALITIES

from .base import BaseModality


@MODALITIES.register_module(name='infrared')
class InfraredModality(BaseModality):
    """Thermal infrared: 8-bit IR frames, or Landsat TIRS bands as brightness temperature.

    With ``sensor='landsat8', bands=['B10', 'B11']`` the digital numbers become
    radiance with the spec's ``thermal_radiance`` gain/offset and brightness
    temperature (K) by inverting Planck's law with its ``K1``/``K2``; pixels
    whose radiance is not positive are invalid.

    Args:
        sensor: Sensor spec name (default ``'thermal'``).
        bands: Bands to use, in order.
        image_size: Size the backbone sees.
        target_gsd: Output pixel size.
        adapter: Input adapter (default ``band_linear``).
    """

    name = 'infrared'
    default_sensor = 'thermal'
    default_adapter = 'band_linear'
