"""Synthetic aperture radar (Sentinel-1 GRD and other backscatter products)."""
from __future__ import annotations

import numpy as np

from eov.registry import MODALITIES

from .base import BaseModality

#: Linear backscatter below this is treated as 0 (-100 dB) before the log.
_MIN_LINEAR = 1e-10


def linear_to_db(values: np.ndarray) -> np.ndarray:
    """Backscatter intensity (linear power) to decibels: ``10 log10(x)``."""
    return (10.0 * np.log10(np.maximum(values, _MIN_LINEAR))).astype(np.float32)


def db_to_linear(values: np.ndarray) -> np.ndarray:
    """Decibels back to linear power: ``10 ** (x / 10)``."""
    return np.power(10.0, np.asarray(values, dtype=np.float64) / 10.0).astype(np.float32)


@MODALITIES.register_module(name='sar')
class SARModality(BaseModality):
    """Dual-polarisation SAR backscatter in decibels.

    Files may hold linear power (GRD intensity) or dB; ``units`` (config, or
    ``"units"`` in an image entry) says which. Linear values are converted to
    dB (non-positive values become invalid pixels), clipped to the spec's range
    (Sentinel-1: [-25, 0] dB) and standardised. 8-bit quick-looks
    (``sensor='sar_8bit'``) are display-scaled already: they are only scaled
    by the spec (``units`` does not apply).

    Args:
        sensor: Sensor spec name (default ``'sentinel1_grd'``).
        bands: Polarisations to use (e.g. ``['VV', 'VH']``).
        units: ``'linear'`` or ``'dB'`` for the files' values.
        image_size: Size the backbone sees.
        target_gsd: Output pixel size.
        adapter: Input adapter (default ``band_linear``).
    """

    name = 'sar'
    default_sensor = 'sentinel1_grd'
    default_adapter = 'band_linear'

    def __init__(self, units: str = 'linear', **kwargs):
        super().__init__(**kwargs)
        if units.lower() not in ('linear', 'db'):
            raise ValueError(f"SAR units must be 'linear' or 'dB', got {units!r}")
        self.units = units.lower()

    def to_physical(self, data, valid, entry=None):
        """Convert to dB (if linear), then clip to the sensor's range."""
        if self.sensor.units != 'dB':   # display-scaled products: spec scaling only
            return super().to_physical(data, valid, entry)
        units = str((entry or {}).get('units', self.units)).lower()
        if units not in ('linear', 'db'):
            raise ValueError(f"{(entry or {}).get('path')}: SAR units must be 'linear' or "
                             f"'dB', got {units!r}")
        values = data.astype(np.float32) * np.float32(self.sensor.scale)
        if units == 'linear':
            valid &= (values > 0).all(axis=0)
            values = linear_to_db(values)
        if self.sensor.clip is not None:
            values = np.clip(values, *self.sensor.clip)
        return values
