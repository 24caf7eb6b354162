"""eov-dsm: a single-band elevation modality, registered into eov from outside.

Importing this package (e.g. through ``custom_imports`` in a config) adds:

* the sensor spec ``'dsm'`` (one band, metres, nodata -9999);
* the modality ``'dsm'`` in eov's ``MODALITIES`` registry, whose default input
  adapter is eov's ``band_linear`` (1 band -> the backbone's 3 channels).

Nothing in eov itself is edited.
"""
from eov.modalities import BaseModality, SensorSpec, register_sensor
from eov.registry import MODALITIES

from .synth import generate_dsm_grounding

__all__ = ['DSMModality', 'generate_dsm_grounding']

# Elevation above sea level in metres. The mean/std are those of the example
# data this package generates (ground ~100 m, buildings up to +30 m); replace
# them with your area's statistics.
DSM = register_sensor(SensorSpec(
    name='dsm', modality='dsm', bands=('elevation',), wavelengths=(None,), gsd=(None,),
    scale=1.0, mean=(105.0,), std=(10.0,), nodata=-9999.0, dtype='float32'))


@MODALITIES.register_module(name='dsm')
class DSMModality(BaseModality):
    """A digital surface model: one float band of heights in metres.

    Args:
        sensor: Sensor spec name (default ``'dsm'``).
        image_size: Size the backbone sees.
        adapter: Input adapter config (default ``band_linear``).
    """

    name = 'dsm'
    default_sensor = 'dsm'

    def __init__(self, sensor=None, image_size=None, adapter=None):
        super().__init__(sensor=sensor, image_size=image_size,
                         adapter=adapter or dict(type='band_linear'))
