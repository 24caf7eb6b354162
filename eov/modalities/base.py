"""The modality plugin protocol.

A modality plugin knows how to read the images of a record entry, how to
normalise them with its sensor's physics in mind, and which input adapter
turns its pixels into tokens of the shared vision backbone.

An image entry of a record is ``{path, sensor?, bands?, time?, window?}``:
``path`` is one file (all bands) or a list of single-band files, one per name
in ``bands``; ``window`` is ``[col, row, width, height]`` on the output grid.
"""
from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from eov.registry import ADAPTERS, MODALITIES, build_from_any

from .io import (PIL_EXTENSIONS, Raster, RasterReadError, read_raster, read_stack,
                 resolve_path, window_bounds)
from .sensors import SensorSpec, get_sensor


class BaseModality:
    """Base class of sensor-modality plugins.

    Subclasses set :attr:`name` and :attr:`default_sensor` and may override
    :meth:`to_physical` (sensor physics) or :meth:`load` (multi-image records).

    Args:
        sensor: Name of the :class:`SensorSpec` of this modality's data.
        bands: Band names to use, in this order (default: all of the sensor's).
            E.g. BigEarthNet's 12 Sentinel-2 bands out of the 13 L1C files.
        image_size: ``(H, W)`` or an int; images are resized to it (bilinear,
            antialiased; the validity mask nearest) so that every sample of a
            batch has one shape. ``None`` keeps the read size.
        target_gsd: Pixel size (CRS units) of the grid bands are resampled
            onto; default: the finest band's.
        resampling: ``'bilinear'`` (reflectance, backscatter) or ``'nearest'``
            (masks, class maps) when bands are resampled.
        adapter: Config of the input adapter (``ADAPTERS``) that feeds the
            backbone.
        sensors: Several sensors served by this one entry (e.g.
            ``['sentinel2_l1c', 'sentinel2_l2a', 'landsat8', 'my_sensor']``),
            instead of ``sensor``: each image entry names its ``sensor``, is
            read, converted and standardised with that sensor's spec, and
            batches group images by sensor. Needs an adapter that takes any
            band set (``wavelength_patch_embed``); ``bands`` does not apply.
    """

    name = 'base'
    default_sensor = 'rgb'
    default_adapter = 'rgb'
    #: ``{name: SensorSpec}`` of a multi-sensor entry (``None``: one sensor).
    sensors = None
    #: A sample holds several images (frames of a series or video, members of a fused
    #: pair): several files are several images, not the bands of one.
    multi_image = False

    def __init__(self, sensor: str | None = None, bands: list[str] | None = None,
                 image_size: int | tuple[int, int] | None = None,
                 target_gsd: float | None = None, resampling: str = 'bilinear',
                 adapter: dict | None = None, sensors: list[str] | None = None):
        self.sensors: dict[str, SensorSpec] | None = None
        if sensors is not None:
            if sensor is not None or bands is not None:
                raise ValueError(f'modality {self.name!r}: give either sensors=[...] or '
                                 'sensor (and bands), not both')
            if not sensors:
                raise ValueError(f'modality {self.name!r}: sensors=[] names no sensor')
            self.sensors = {name: get_sensor(name) for name in sensors}
            sensor = next(iter(self.sensors))
        if resampling not in ('bilinear', 'nearest'):
            raise ValueError(f"resampling must be 'bilinear' or 'nearest', got {resampling!r}")
        self.resampling = resampling
        self.sensor: SensorSpec = get_sensor(sensor or self.default_sensor)
        if bands is not None and not self.sensor.any_bands:
            self.sensor = self.sensor.subset(list(bands))
        elif bands is not None:
            self.sensor = self.sensor.with_bands(len(bands))
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        self.image_size = tuple(image_size) if image_size is not None else None
        self.target_gsd = target_gsd
        self.adapter_cfg = dict(adapter or dict(type=self.default_adapter))

    @property
    def bands(self) -> tuple[str, ...]:
        """Names of the bands this modality hands to its adapter."""
        return self.sensor.bands

    @property
    def num_channels(self) -> int:
        """Channels of one frame of :meth:`load`'s ``pixels``."""
        return self.sensor.num_bands

    # -- model side ---------------------------------------------------------
    def build_adapter(self, vision_info: dict) -> torch.nn.Module:
        """Build this modality's input adapter.

        Args:
            vision_info: What adapters need to know of the backbone:
                ``out_chans`` (its input channels), ``embed_dim``,
                ``patch_size``, and ``shared`` (a dict shared by the adapters
                of one model).

        Returns:
            An adapter module (see :mod:`eov.modalities.adapters`).
        """
        if self.sensor.any_bands and not self.sensor.num_bands:
            raise ValueError(f"modality {self.name!r} uses the 'generic' sensor: give its "
                             "band count with bands=[...] so an adapter can be built")
        if self.sensors is not None and len(self.sensors) > 1:
            cls = ADAPTERS.get(self.adapter_cfg['type'])
            if not getattr(cls, 'multi_sensor', False):
                raise ValueError(
                    f"modality {self.name!r} serves the sensors {', '.join(self.sensors)}: its "
                    f"adapter {self.adapter_cfg['type']!r} takes one band set; use "
                    "adapter=dict(type='wavelength_patch_embed')")
            for name, spec in self.sensors.items():
                if not spec.wavelengths or any(w is None for w in spec.wavelengths):
                    raise ValueError(f'modality {self.name!r}: sensor {name!r} has bands '
                                     'without a wavelength; a multi-sensor entry needs them')
        return ADAPTERS.build(self.adapter_cfg, default_args=dict(
            in_chans=self.num_channels, wavelengths=self.sensor.wavelengths, **vision_info))

    # -- data side ----------------------------------------------------------
    #: Join a record's relative image path with the dataset root.
    resolve_path = staticmethod(resolve_path)

    def check_entry_sensor(self, entry: dict) -> None:
        """A record that names another sensor than the one read with is an error.

        :meth:`load_one` first switches to the record's own sensor
        (:meth:`for_record_sensor`), so this only fires when reading is
        called directly with a mismatching entry.
        """
        named = entry.get('sensor')
        if named and named != self.sensor.name:
            raise RasterReadError(
                f'{entry.get("path")}: the record says sensor {named!r} but modality '
                f'{self.name!r} is configured for {self.sensor.name!r}')

    def for_record_sensor(self, entry: dict) -> 'BaseModality':
        """This modality reading ``entry`` with the sensor (and bands) the entry names.

        A record's own ``sensor`` and ``bands`` are enough to read it: e.g. a
        Landsat-8 ``B10`` file for an infrared model configured for the
        generic ``thermal`` sensor is converted with Landsat-8's calibration
        (kelvin) and standardised with its statistics. The bands must give as
        many channels as the modality's adapter takes.

        Raises:
            RasterReadError: naming the file, for an unknown sensor or band,
                or a band count the adapter cannot take.
        """
        named = entry.get('sensor')
        if not named or named == self.sensor.name or self.sensor.any_bands:
            return self
        cache = self.__dict__.setdefault('_per_record_sensor', {})
        bands = tuple(entry.get('bands') or ())
        key = (named, bands)
        if key not in cache:
            cache[key] = self._with_record_sensor(named, bands, entry)
        return cache[key]

    def _record_sensor_spec(self, named: str, bands: tuple, entry: dict) -> SensorSpec:
        """The spec of ``named`` cut to ``bands`` (checked against the adapter's channels)."""
        where = entry.get('path')
        try:
            spec = get_sensor(named)
            if bands and not spec.any_bands:
                spec = spec.subset(list(bands))
        except (KeyError, ValueError) as err:
            raise RasterReadError(f'{where}: {err.args[0]}') from None
        if spec.num_bands != self.num_channels:
            raise RasterReadError(
                f'{where}: sensor {named!r}'
                + (f' with bands {list(bands)}' if bands else '')
                + f' gives {spec.num_bands} bands, but modality {self.name!r} takes '
                f'{self.num_channels} ({", ".join(self.bands)}); name the bands to use '
                'with "bands"')
        return spec

    def _copy_with(self, **attrs) -> 'BaseModality':
        """A copy of this modality (without its caches) with ``attrs`` set."""
        one = copy.copy(self)
        for attr in ('_per_sensor', '_per_record_sensor'):
            one.__dict__.pop(attr, None)
        one.__dict__.update(attrs)
        return one

    def _with_record_sensor(self, named: str, bands: tuple, entry: dict) -> 'BaseModality':
        return self._copy_with(sensor=self._record_sensor_spec(named, bands, entry))

    def read(self, entry: dict, data_root: str | None) -> tuple[Raster, np.ndarray]:
        """Read one image entry into this modality's bands.

        Returns:
            ``(raster, valid)``: ``(C, H, W)`` data in :attr:`bands` order and
            the ``(H, W)`` validity mask (nodata, NaN and out-of-file pixels
            are invalid).

        Raises:
            RasterReadError: naming the file, for unreadable files, band
                counts or names that do not match, or mixed CRSs.
        """
        self.check_entry_sensor(entry)
        path = entry.get('path')
        files = [path] if isinstance(path, str) else path
        if not path or not isinstance(files, (list, tuple)) \
                or not all(isinstance(p, str) for p in files):
            raise RasterReadError(f'image entry without a path: {entry!r}')
        paths = [self.resolve_path(p, data_root) for p in files]
        file_bands = entry.get('bands')
        if len(paths) > 1 and (not file_bands or len(file_bands) != len(paths)):
            raise RasterReadError(f'{paths[0]}: a list of {len(paths)} files needs "bands" '
                                  f'naming one band per file, got {file_bands!r}')
        if len(paths) == 1 and os.path.splitext(paths[0])[1].lower() in PIL_EXTENSIONS:
            raster = read_raster(paths[0])
            valid = np.ones(raster.data.shape[1:], dtype=bool)
            if self.sensor.num_bands == 1 and raster.data.shape[0] in (3, 4):
                # single-band imagery (SAR, thermal) saved as grey RGB(A) PNG/JPEG
                rgb = raster.data[:3]
                if not ((rgb[0] == rgb[1]).all() and (rgb[1] == rgb[2]).all()):
                    raise RasterReadError(
                        f'{raster.path}: a colour image, but sensor {self.sensor.name!r} of '
                        f'modality {self.name!r} has one band')
                raster.data = rgb[:1]
            if entry.get('window') is not None:   # Pillow reads whole files: crop the window
                raster, valid = crop_window(raster, valid, entry['window'])
        else:
            raster, valid = read_stack(paths, band_counts=[1] * len(paths) if len(paths) > 1
                                       else None, target_gsd=self.target_gsd,
                                       window=entry.get('window'),
                                       resampling=getattr(self, 'resampling', 'bilinear'))
        n_file = raster.data.shape[0]
        if self.sensor.any_bands:
            if self.sensor.num_bands and n_file != self.sensor.num_bands:
                raise RasterReadError(f'{raster.path}: {n_file} bands, but modality '
                                      f'{self.name!r} was configured with '
                                      f'{self.sensor.num_bands}')
            if not self.sensor.num_bands:
                self.sensor = self.sensor.with_bands(n_file)
            return raster, valid & self._nodata_valid(raster)
        names = list(file_bands) if file_bands else None
        if names is None:
            full = get_sensor(self.sensor.name)
            if n_file == full.num_bands:
                names = list(full.bands)
            elif n_file == self.sensor.num_bands:
                names = list(self.sensor.bands)
            else:
                raise RasterReadError(
                    f'{raster.path}: {n_file} bands, but sensor {self.sensor.name!r} of '
                    f'modality {self.name!r} has {full.num_bands} ({", ".join(full.bands)}); '
                    'name the file\'s bands with "bands" in the record')
        elif len(names) != n_file:
            raise RasterReadError(f'{raster.path}: {n_file} bands but the record names '
                                  f'{len(names)}: {names}')
        missing = [b for b in self.bands if b not in names]
        if missing:
            raise RasterReadError(f'{raster.path}: bands {missing} needed by modality '
                                  f'{self.name!r} are not in the file(s) ({", ".join(names)})')
        idx = [names.index(b) for b in self.bands]
        if idx != list(range(n_file)):
            raster.data = raster.data[idx]
        self.check_bit_depth(raster)
        return raster, valid & self._nodata_valid(raster)

    def check_bit_depth(self, raster: Raster) -> None:
        """Refuse integer pixels beyond the sensor's storage range (8-bit sensors).

        A uint16 GeoTIFF or 16-bit PNG read for an 8-bit sensor would reach
        the model up to 257x too bright after the sensor's ``1/255`` scale.

        Raises:
            RasterReadError: naming the file, its dtype and maximum.
        """
        data = raster.data
        if self.sensor.dtype != 'uint8' or data.dtype == np.uint8 \
                or not np.issubdtype(data.dtype, np.integer) or data.size == 0:
            return
        top = int(data.max())
        if top > 255:
            raise RasterReadError(
                f'{raster.path}: {data.dtype} pixels up to {top}, but sensor '
                f'{self.sensor.name!r} of modality {self.name!r} stores 8-bit values (0-255); '
                'name the data\'s own sensor (e.g. sensor="sentinel2_l2a" with its bands) or '
                'convert the image to 8 bits')

    def _nodata_valid(self, raster: Raster) -> np.ndarray:
        """Pixels that are finite and not the declared nodata value in every band."""
        data = raster.data
        valid = np.ones(data.shape[1:], dtype=bool)
        nodata = raster.nodata if raster.nodata is not None else self.sensor.nodata
        if nodata is not None and not np.isnan(nodata):
            valid &= ~(data == nodata).any(axis=0)
        if np.issubdtype(data.dtype, np.floating):
            valid &= np.isfinite(data).all(axis=0)
        return valid

    def to_physical(self, data: np.ndarray, valid: np.ndarray,
                    entry: dict | None = None) -> np.ndarray:
        """Stored numbers -> the unit of the sensor's mean/std (``DN * scale + offset``).

        Thermal bands of specs with Planck constants become brightness
        temperature in kelvin; specs with ``clip`` are clipped. Subclasses may
        clear ``valid`` (in place) where a conversion is undefined.
        """
        spec = self.sensor
        out = data.astype(np.float32) * np.float32(spec.scale) + np.float32(spec.offset)
        if spec.thermal_k1 is not None:
            mult, add = spec.thermal_radiance or (1.0, 0.0)
            for i, (k1, k2) in enumerate(zip(spec.thermal_k1, spec.thermal_k2)):
                if k1 is None:
                    continue
                radiance = data[i].astype(np.float64) * mult + add
                with np.errstate(divide='ignore', invalid='ignore'):
                    temp = k2 / np.log(k1 / np.where(radiance > 0, radiance, np.nan) + 1.0)
                out[i] = temp.astype(np.float32)
                valid &= np.isfinite(temp)
        if spec.clip is not None:
            out = np.clip(out, spec.clip[0], spec.clip[1])
        return out

    def normalize(self, values: np.ndarray, valid: np.ndarray) -> torch.Tensor:
        """Standardise with the sensor's mean/std; invalid pixels become 0.

        The generic sensor has no statistics: each band is standardised with
        its own mean/std over the valid pixels of this image.
        """
        if self.sensor.any_bands:
            sel = values[:, valid]
            mean = sel.mean(axis=1)[:, None, None]
            std = np.maximum(sel.std(axis=1), 1e-6)[:, None, None]
        else:
            mean = np.asarray(self.sensor.mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.sensor.std, dtype=np.float32)[:, None, None]
        with np.errstate(invalid='ignore'):
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

    def for_sensor(self, name: str | None) -> 'BaseModality':
        """This modality reading one of its ``sensors`` (itself when it has one sensor).

        Raises:
            RasterReadError: when ``name`` is missing or not one of ``sensors``.
        """
        if self.sensors is None:
            return self
        if name not in self.sensors:
            raise RasterReadError(
                f'modality {self.name!r} serves the sensors {", ".join(self.sensors)}: every '
                f'image entry must name one of them as "sensor" (got {name!r})')
        cache = self.__dict__.setdefault('_per_sensor', {})
        if name not in cache:   # one sensor: the copy is no multi-sensor entry
            cache[name] = self._copy_with(sensors=None, sensor=self.sensors[name])
        return cache[name]

    def load_one(self, entry: dict, data_root: str | None = None) -> dict[str, Any]:
        """Read, convert, normalise and resize one image entry.

        Returns:
            ``{'pixels' (C, H, W) float32, 'valid_mask' (H, W) bool, 'size'
            (W, H) as read, 'path', 'crs', 'transform', 'bands', 'time'}``
            (plus ``'sensor'`` for a multi-sensor entry).
        """
        if self.sensors is not None:
            out = self.for_sensor(entry.get('sensor')).load_one(entry, data_root)
            out['sensor'] = entry['sensor']
            return out
        reader = self.for_record_sensor(entry)
        if reader is not self:
            return reader.load_one(entry, data_root)
        raster, valid = self.read(entry, data_root)
        return self.prepare(raster, valid, entry)

    def prepare(self, raster: Raster, valid: np.ndarray, entry: dict | None = None) -> dict:
        """Convert, normalise and resize pixels already read (:meth:`load_one`'s second half).

        Raises:
            RasterReadError: naming the file when no pixel is valid.
        """
        entry = entry or {}
        if not valid.any():
            raise RasterReadError(f'{raster.path}: every pixel is nodata or NaN')
        values = self.to_physical(raster.data, valid, entry)
        if not valid.any():
            raise RasterReadError(f'{raster.path}: no pixel is valid after conversion')
        pixels = self.normalize(values, valid)
        pixels, valid_t = self.resize(pixels, torch.from_numpy(valid))
        return dict(pixels=pixels, valid_mask=valid_t, size=raster.size, path=raster.path,
                    crs=raster.crs, transform=raster.transform, bands=list(self.bands),
                    time=entry.get('time'))

    def _wrap(self, inner: 'BaseModality', adapter: dict) -> None:
        """Take the sensor and image size of ``inner``, a member or frame modality that
        reads the images (fusion, frame stacks)."""
        self.sensor, self.image_size = inner.sensor, inner.image_size
        self.target_gsd = None
        self.adapter_cfg = dict(adapter)

    def load(self, entries: list[dict], data_root: str | None = None) -> dict[str, Any]:
        """Read and normalise the images of one record.

        Args:
            entries: The record's ``images`` list (one entry for single-image
                modalities).
            data_root: Directory relative paths are resolved against.

        Returns:
            :meth:`load_one`'s dict plus ``'modality'``.

        Raises:
            RasterReadError: naming the file, for unreadable files, a wrong
                band count or a tile without a single valid pixel.
        """
        if len(entries) != 1:
            raise RasterReadError(f'{entries[0].get("path") if entries else "?"}: modality '
                                  f'{self.name!r} takes exactly one image per record, got '
                                  f'{len(entries)} (several files of one image: give them as '
                                  'one entry, "path": [...] with "bands")')
        out = self.load_one(entries[0], data_root)
        out['modality'] = self.name
        return out


def build_member(cfg: dict, image_size) -> BaseModality:
    """Build a member (fusion) or frame (frame stacks) modality at ``image_size``, unless
    its config sets its own."""
    cfg = dict(cfg)
    if image_size is not None:
        cfg.setdefault('image_size', image_size)
    return build_from_any(cfg, MODALITIES)


def crop_window(raster: Raster, valid: np.ndarray, window) -> tuple[Raster, np.ndarray]:
    """The ``(col, row, width, height)`` window of an in-memory raster.

    Raises:
        RasterReadError: naming the file when the window leaves the image.
    """
    col, row, width, height = window_bounds(raster.path, window, *raster.size, 'image')
    data = raster.data[:, row:row + height, col:col + width]
    return Raster(data=np.ascontiguousarray(data), path=raster.path, nodata=raster.nodata,
                  crs=raster.crs, transform=raster.transform), valid[row:row + height,
                                                                    col:col + width]
