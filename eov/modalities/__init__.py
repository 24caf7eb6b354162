"""Sensor modalities: one plugin per modality (see :class:`BaseModality`).

A new sensor goes in a new module here (or in a third-party package): a
:class:`SensorSpec` registered with :func:`register_sensor` and a
:class:`BaseModality` subclass registered in ``MODALITIES``. Input adapters
(``ADAPTERS``) turn a modality's pixels into backbone tokens.
"""
from .adapters import (BandLinear, BaseAdapter, FusionAdapter, PseudoRGBGroups, RGBPassThrough,
                       TemporalAdapter, WavelengthPatchEmbed)
from .base import BaseModality
from .fusion import FusionModality
from .infrared import InfraredModality
from .io import Raster, RasterReadError, read_raster, read_stack
from .multispectral import BIGEARTHNET_BANDS, MultispectralModality
from .optical import OpticalModality
from .sar import SARModality, db_to_linear, linear_to_db
from .sensors import SensorSpec, get_sensor, register_sensor, sensor_names
from .temporal import TemporalModality, VideoModality

__all__ = ['BandLinear', 'BaseAdapter', 'BaseModality', 'BIGEARTHNET_BANDS', 'FusionAdapter',
           'FusionModality', 'InfraredModality', 'MultispectralModality', 'OpticalModality',
           'PseudoRGBGroups', 'RGBPassThrough', 'Raster', 'RasterReadError', 'SARModality',
           'SensorSpec', 'TemporalAdapter', 'TemporalModality', 'VideoModality',
           'WavelengthPatchEmbed', 'db_to_linear', 'get_sensor', 'linear_to_db', 'read_raster',
           'read_stack', 'register_sensor', 'sensor_names']
