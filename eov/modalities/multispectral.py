"""Multispectral imagery (Sentinel-2, Landsat-8/9, any N-band sensor)."""
from __future__ import annotations

from eov.registry import MODALITIES

from .base import BaseModality
from .sensors import S2_L2A_BANDS

#: BigEarthNet's 12 Sentinel-2 bands, in its order (the L2A bands: B10 is not part of it).
BIGEARTHNET_BANDS = S2_L2A_BANDS


@MODALITIES.register_module(name='multispectral')
class MultispectralModality(BaseModality):
    """Several reflectance bands at possibly different resolutions.

    Bands are read from one multi-band file or one file per band, resampled
    onto the finest band's grid (bilinear), converted to the sensor's unit and
    standardised with its statistics. The ``generic`` sensor takes any band
    count and standardises each image with its own statistics.

    Args:
        sensor: Sensor spec name (default ``'sentinel2_l2a'``).
        bands: Bands to use, in order (e.g. :data:`BIGEARTHNET_BANDS`).
        image_size: Size the backbone sees.
        target_gsd: Output pixel size; default the finest band's.
        adapter: Input adapter (default ``band_linear``; ``wavelength_patch_embed``
            serves any band subset with one set of weights).
    """

    name = 'multispectral'
    default_sensor = 'sentinel2_l2a'
    default_adapter = 'band_linear'
