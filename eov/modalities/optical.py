"""Optical imagery: 3-band 8-bit RGB (PNG/JPEG or GeoTIFF/JP2)."""
from __future__ import annotations

import numpy as np

from eov.registry import MODALITIES

from .base import BaseModality
from .io import RasterReadError

#: Reflectance gain of the true-colour stretch (Sentinel Hub's true-colour
#: visualisation: reflectance x 2.5, i.e. 0-0.4 reflectance shown as 0-1).
TRUE_COLOUR_GAIN = 2.5


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
    #: ``(gain, display spec)`` when reading a multispectral sensor as true colour.
    true_colour = None

    def _with_record_sensor(self, named, bands, entry):
        """Red/green/blue bands of a reflectance sensor read as a true-colour image.

        ``--sensor sentinel2_l2a --bands B04 B03 B02`` with an optical model:
        the bands are converted to reflectance (the spec's ``reflectance``
        factor), multiplied by :data:`TRUE_COLOUR_GAIN` and clipped to
        [0, 1] -- what an 8-bit true-colour product holds after dividing by
        255 -- then standardised with the configured RGB statistics, so the
        optical adapter sees the range it was trained on.
        """
        one = super()._with_record_sensor(named, bands, entry)
        spec = one.sensor
        if spec.reflectance is not None and spec.reflectance > 0 and spec.modality != 'optical':
            if any(w is not None and w > 1.0 for w in spec.wavelengths):
                raise RasterReadError(
                    f'{entry.get("path")}: bands {list(spec.bands)} of {named!r} are not all '
                    'visible/near-infrared; a true-colour image takes red, green, blue '
                    '(e.g. B04 B03 B02)')
            one.true_colour = (TRUE_COLOUR_GAIN, self.sensor)
        return one

    def to_physical(self, data, valid, entry=None):
        values = super().to_physical(data, valid, entry)
        if self.true_colour is None:
            return values
        gain = self.true_colour[0]
        return np.clip(values * np.float32(self.sensor.reflectance * gain), 0.0, 1.0)

    def normalize(self, values, valid):
        # a true-colour image is standardised with the configured (display) RGB statistics
        reader = self if self.true_colour is None else self._copy_with(sensor=self.true_colour[1])
        return super(OpticalModality, reader).normalize(values, valid)
