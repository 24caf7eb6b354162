"""The modality plugin protocol.

A modality plugin knows how to read the images of a record entry, how to
normalise them with its sensor's physics in mind, and which input adapter
turns its pixels into something the shared vision backbone accepts.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from eov.registry import ADAPTERS

from .io import Raster, RasterReadError, read_raster
from .sensors import SensorSpec, get_sensor


class BaseModality:
    """Base class of sensor-modality plugins.

    Subclasses set :attr:`name` and :attr:`default_sensor`, and may override
    :meth:`to_float` (sensor physics) or :meth:`load` (multi-image records).

    Args:
        sensor: Name of the :class:`SensorSpec` of this modality's data.
        image_size: ``(H, W)`` or an int; images are resized to it (bilinear,
            antialiased) so that every sample of a batch has one shape.
            ``None`` keeps the file's size.
        adapter: Config of the input adapter (``ADAPTERS``) that feeds the
            backbone.
    """

    name = 'base'
    default_sensor = 'rgb'

    def __init__(self, sensor: str | None = None,
                 image_size: int | tuple[int, int] | None = None,
                 adapter: dict | None = None):
        self.sensor: SensorSpec = get_sensor(sensor or self.default_sensor)
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(image_size) if image_size is not None else None
        self.adapter_cfg = dict(adapter or dict(type='rgb'))

    # -- model side ---------------------------------------------------------
    def build_adapter(self, backbone_in_chans: int) -> torch.nn.Module:
        """Build this modality's input adapter.

        Args:
            backbone_in_chans: Channels the backbone's patch embedding takes.

        Returns:
            A module mapping ``(N, C, H, W)`` pixels to backbone input.
        """
        return ADAPTERS.build(self.adapter_cfg, default_args=dict(
            in_chans=self.sensor.num_bands, out_chans=backbone_in_chans))

    # -- data side ----------------------------------------------------------
    def resolve_path(self, path: str, data_root: str | None) -> str:
        """Join a record's relative image path with the dataset root."""
        if data_root and not os.path.isabs(path):
            return os.path.join(data_root, path)
        return path

    def read(self, entry: dict, data_root: str | None) -> Raster:
        """Read one image entry ``{path, sensor?, bands?}`` of a record."""
        path = entry.get('path')
        if not isinstance(path, str) or not path:
            raise RasterReadError(f'image entry without a path: {entry!r}')
        raster = read_raster(self.resolve_path(path, data_root))
        expected = self.sensor.num_bands
        if raster.data.shape[0] != expected:
            raise RasterReadError(
                f'{raster.path}: {raster.data.shape[0]} bands, but sensor '
                f'{self.sensor.name!r} of modality {self.name!r} has {expected} '
                f'({", ".join(self.sensor.bands)})')
        return raster

    def valid_mask(self, raster: Raster) -> np.ndarray:
        """``(H, W)`` mask of pixels valid in every band (not nodata, finite)."""
        data = raster.data
        valid = np.ones(data.shape[1:], dtype=bool)
        nodata = raster.nodata if raster.nodata is not None else self.sensor.nodata
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            valid &= ~(data == nodata).any(axis=0)
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data).all(axis=0)
        return valid

    def to_float(self, raster: Raster) -> np.ndarray:
        """Convert stored numbers to the unit of the sensor's mean/std."""
        return raster.data.astype(np.float32) * np.float32(self.sensor.scale)

    def normalize(self, values: np.ndarray, valid: np.ndarray) -> torch.Tensor:
        """Standardise with the sensor's mean/std; invalid pixels become 0."""
        mean = np.asarray(self.sensor.mean, dtype=np.float32)[:, None, None]
        std = np.asarray(self.sensor.std, dtype=np.float32)[:, None, None]
        out = (values - mean) / std
        out = np.where(valid[None], out, np.float32(0))
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def resize(self, pixels: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Resize pixels (bilinear) and the validity mask (nearest) to ``image_size``."""
        if self.image_size is None or tuple(pixels.shape[-2:]) == self.image_size:
            return pixels, valid
        pixels = F.interpolate(pixels[None], size=self.image_size, mode='bilinear',
                               align_corners=False, antialias=True)[0]
        valid = F.interpolate(valid[None, None].float(), size=self.image_size,
                              mode='nearest')[0, 0] > 0.5
        return pixels, valid

    def load(self, entries: list[dict], data_root: str | None = None) -> dict[str, Any]:
        """Read and normalise the images of one record.

        Args:
            entries: The record's ``images`` list.
            data_root: Directory relative paths are resolved against.

        Returns:
            ``{'modality', 'pixels' (C, H, W) float32, 'valid_mask' (H, W) bool,
            'size' (W, H) of the file, 'path', 'crs', 'transform'}``.

        Raises:
            RasterReadError: naming the file, for unreadable files, a wrong
                band count or a tile without a single valid pixel.
        """
        if len(entries) != 1:
            raise ValueError(f'modality {self.name!r} takes exactly one image per '
                             f'record, got {len(entries)}')
        raster = self.read(entries[0], data_root)
        valid = self.valid_mask(raster)
        if not valid.any():
            raise RasterReadError(f'{raster.path}: every pixel is nodata or NaN')
        pixels = self.normalize(self.to_float(raster), valid)
        pixels, valid_t = self.resize(pixels, torch.from_numpy(valid))
        return dict(modality=self.name, pixels=pixels, valid_mask=valid_t,
                    size=raster.size, path=raster.path, crs=raster.crs,
                    transform=raster.transform)
