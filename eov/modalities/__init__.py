"""Sensor modalities: one plugin per modality (see :class:`BaseModality`).

A new sensor goes in a new module here (or in a third-party package): a
:class:`SensorSpec` registered with :func:`register_sensor` and a
:class:`BaseModality` subclass registered in ``MODALITIES``.
"""
from .adapters import BandLinear, RGBPassThrough
from .base import BaseModality
from .io import Raster, RasterReadError, read_raster
from .optical import OpticalModality
from .sensors import SensorSpec, get_sensor, register_sensor, sensor_names

__all__ = ['BandLinear', 'BaseModality', 'OpticalModality', 'RGBPassThrough', 'Raster',
           'RasterReadError', 'SensorSpec', 'get_sensor', 'read_raster',
           'register_sensor', 'sensor_names']
