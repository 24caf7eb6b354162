"""Raster reading shared by the modality plugins.

GeoTIFF / JPEG2000 go through rasterio (imported lazily, so ``import eov``
stays light); PNG / JPEG through Pillow. Every failure names the file.

A read guard refuses, before reading, any read that would allocate more than
:func:`max_raster_bytes` (2 GiB unless ``EOV_MAX_RASTER_BYTES`` or the
``max_bytes`` argument says otherwise): a header claiming 200000 x 200000
pixels fails with the file's name instead of exhausting memory, while
windowed reads of a large scene (tiling) read only their windows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from eov.utils.constants import IMAGE_EXPECTED
from eov.utils.io import path_problem

#: Extensions read with Pillow; everything else goes to rasterio.
PIL_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.bmp'}
#: Default limit of the read guard in bytes (2 GiB); see :func:`max_raster_bytes`.
MAX_RASTER_BYTES = 2 ** 31
#: Environment variable that overrides :data:`MAX_RASTER_BYTES` (``0``: no limit).
MAX_RASTER_BYTES_ENV = 'EOV_MAX_RASTER_BYTES'


class RasterReadError(RuntimeError):
    """A raster could not be read or does not match what its record says."""


def max_raster_bytes(max_bytes: int | None = None) -> int:
    """The read guard's limit.

    Args:
        max_bytes: An explicit limit; ``None`` reads ``$EOV_MAX_RASTER_BYTES``
            (e.g. ``8e9``), else :data:`MAX_RASTER_BYTES`.

    Returns:
        The limit in bytes; ``0`` or less means no limit.
    """
    if max_bytes is not None:
        return int(max_bytes)
    value = os.environ.get(MAX_RASTER_BYTES_ENV, '').strip()
    if not value:
        return MAX_RASTER_BYTES
    try:
        return int(float(value))
    except ValueError:
        raise ValueError(f'{MAX_RASTER_BYTES_ENV}={value!r} is not a number of bytes '
                         '(e.g. 4294967296 or 4e9; 0 for no limit)') from None


def _human(n: int) -> str:
    for unit, shift in (('GiB', 30), ('MiB', 20), ('KiB', 10)):
        if n >= 2 ** shift:
            return f'{n / 2 ** shift:.1f} {unit}'
    return f'{n} bytes'


def check_read_size(path: str, width: int, height: int, bands: int, dtype,
                    max_bytes: int | None = None, nbytes: int | None = None) -> None:
    """Refuse a read larger than the read guard's limit, before reading.

    Args:
        path: The file, named in the error.
        width, height, bands, dtype: What the read returns.
        max_bytes: Limit (see :func:`max_raster_bytes`).
        nbytes: Bytes the read allocates, when more than
            ``width * height * bands * itemsize`` (blocks read for resampling).

    Raises:
        RasterReadError: naming the file, the size, and the limit.
    """
    limit = max_raster_bytes(max_bytes)
    dtype = np.dtype(dtype)
    need = max(int(width) * int(height) * int(bands) * dtype.itemsize, int(nbytes or 0))
    if limit > 0 and need > limit:
        raise RasterReadError(
            f'{path}: reading {width}x{height} pixels x {bands} band(s) of {dtype.name} needs '
            f'{_human(need)} ({need} bytes), over the raster read limit of {_human(limit)} '
            f'({MAX_RASTER_BYTES_ENV}); read it in windows ("window" in the record, '
            f'tools/infer.py --tile N) or raise {MAX_RASTER_BYTES_ENV}')


def resolve_path(path: str, data_root: str | None) -> str:
    """Join a record's relative image path with the dataset root."""
    if data_root and not os.path.isabs(path):
        return os.path.join(data_root, path)
    return path


def window_bounds(path: str, window, width: int, height: int,
                  what: str) -> tuple[int, int, int, int]:
    """``(col, row, width, height)`` of ``window`` on a ``width x height`` ``what``
    (``None``: all of it).

    Raises:
        RasterReadError: naming ``path`` when the window leaves the ``what``.
    """
    if window is None:
        return 0, 0, width, height
    col, row, w, h = (int(v) for v in window)
    if w <= 0 or h <= 0 or col < 0 or row < 0 or col + w > width or row + h > height:
        raise RasterReadError(f'{path}: window {tuple(window)} is outside the '
                              f'{width}x{height} {what}')
    return col, row, w, h


@dataclass
class Raster:
    """Pixels of one image file plus what is needed to georeference them.

    Attributes:
        data: ``(C, H, W)`` array in the file's dtype.
        path: The file read.
        nodata: The file's nodata value, if it declares one.
        crs: Coordinate reference system as WKT/EPSG text, or ``None``.
        transform: Affine geotransform as 6 numbers (GDAL order), or ``None``.
    """

    data: np.ndarray
    path: str
    nodata: float | None = None
    crs: str | None = None
    transform: tuple[float, ...] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` of the raster."""
        return int(self.data.shape[2]), int(self.data.shape[1])


def read_raster(path: str, max_bytes: int | None = None) -> Raster:
    """Read every band of ``path``.

    Args:
        path: A GeoTIFF, JPEG2000, PNG or JPEG file.
        max_bytes: Read guard limit (see :func:`max_raster_bytes`).

    Returns:
        A :class:`Raster` with ``(C, H, W)`` data.

    Raises:
        RasterReadError: if the file is missing, unreadable or empty, or
            larger than the read guard allows (a decompression bomb).
    """
    problem = path_problem(path, 'image file', IMAGE_EXPECTED)
    if problem:   # a directory, FIFO or link loop is said as such, not "not found"
        raise RasterReadError(problem)
    ext = os.path.splitext(path)[1].lower()
    if ext in PIL_EXTENSIONS:
        return _read_with_pillow(path, max_bytes)
    return _read_with_rasterio(path, max_bytes)


#: dtype of the Pillow modes kept as they are (others become 8-bit RGB).
_PIL_DTYPES = {'L': 'uint8', 'RGB': 'uint8', 'RGBA': 'uint8', 'I;16': 'uint16', 'I': 'int32',
               'F': 'float32'}


def _read_with_pillow(path: str, max_bytes: int | None = None) -> Raster:
    from PIL import Image, UnidentifiedImageError
    limit = max_raster_bytes(max_bytes)   # a bad $EOV_MAX_RASTER_BYTES is no bad image
    try:
        with Image.open(path) as img:
            # Image.open reads only the header: check the size before decoding
            bands = len(img.getbands()) if img.mode in _PIL_DTYPES else 3
            check_read_size(path, img.width, img.height, bands,
                            _PIL_DTYPES.get(img.mode, 'uint8'), limit)
            img.load()
            if img.mode not in _PIL_DTYPES:
                img = img.convert('RGB')
            arr = np.asarray(img)
    except Image.DecompressionBombError as err:   # not an OSError: the header's size
        raise RasterReadError(f'{path}: refused as a possible decompression bomb (Pillow\'s '
                              f'MAX_IMAGE_PIXELS): {err}') from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise RasterReadError(f'cannot read image {path}: {err}') from err
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if arr.size == 0:
        raise RasterReadError(f'image {path} has no pixels')
    return Raster(data=arr, path=path)


def _read_with_rasterio(path: str, max_bytes: int | None = None) -> Raster:
    import rasterio
    from rasterio.errors import RasterioError
    limit = max_raster_bytes(max_bytes)
    try:
        with rasterio.open(path) as src:
            check_read_size(path, src.width, src.height, src.count,
                            np.result_type(*src.dtypes), limit)
            data = src.read()
            nodata = src.nodata
            crs = src.crs.to_string() if src.crs else None
            transform: Any = tuple(src.transform.to_gdal()) if src.transform else None
    except (RasterioError, OSError) as err:
        raise RasterReadError(f'cannot read raster {path}: {err}') from err
    if data.size == 0:
        raise RasterReadError(f'raster {path} has no pixels')
    return Raster(data=data, path=path, nodata=nodata, crs=crs, transform=transform)


def open_raster(path: str):
    """Open a raster with rasterio; a missing or unreadable file is a :class:`RasterReadError`."""
    import rasterio
    from rasterio.errors import RasterioError
    problem = path_problem(path, 'image file', IMAGE_EXPECTED)
    if problem:
        raise RasterReadError(problem)
    try:
        return rasterio.open(path)
    except (RasterioError, OSError) as err:
        raise RasterReadError(f'cannot read raster {path}: {err}') from err


def output_grid(sources, target_gsd: float | None = None) -> tuple:
    """The pixel grid :func:`read_stack` reads open rasters onto.

    Returns:
        ``(ref, gsd_x, gsd_y, width, height)``: the finest file, the grid's pixel size
        (``target_gsd`` or the finest file's) and its whole pixels inside that file's extent.
    """
    ref = min(sources, key=lambda s: abs(s.res[0]))
    gsd_x, gsd_y = (float(target_gsd),) * 2 if target_gsd else map(float, ref.res)
    width = max(1, int(np.floor(ref.width * ref.res[0] / gsd_x + 1e-6)))
    height = max(1, int(np.floor(ref.height * ref.res[1] / gsd_y + 1e-6)))
    return ref, gsd_x, gsd_y, width, height


def _sample_axis(start: float, step: float, n: int, src_origin: float, src_step: float):
    """Fractional source indices of ``n`` output pixel centres along one axis."""
    centres = start + (np.arange(n) + 0.5) * step
    return (centres - src_origin) / src_step - 0.5


def _resample_block(block: np.ndarray, fr: np.ndarray, fc: np.ndarray, method: str):
    """Sample ``block`` (C, h, w) at fractional rows ``fr`` and columns ``fc``."""
    h, w = block.shape[1:]
    if method == 'nearest':
        r = np.clip(np.floor(fr + 0.5).astype(int), 0, h - 1)
        c = np.clip(np.floor(fc + 0.5).astype(int), 0, w - 1)
        return block[:, r][:, :, c]
    r0 = np.floor(fr).astype(int)
    c0 = np.floor(fc).astype(int)
    tr = (fr - r0).astype(np.float32)[None, :, None]
    tc = (fc - c0).astype(np.float32)[None, None, :]
    r1, c1 = np.clip(r0 + 1, 0, h - 1), np.clip(c0 + 1, 0, w - 1)
    r0, c0 = np.clip(r0, 0, h - 1), np.clip(c0, 0, w - 1)
    data = block.astype(np.float32, copy=False)
    rows = data[:, r0] * (1 - tr) + data[:, r1] * tr
    return rows[:, :, c0] * (1 - tc) + rows[:, :, c1] * tc


def read_stack(paths: list[str], band_counts: list[int] | None = None,
               target_gsd: float | None = None, window: tuple | None = None,
               resampling: str = 'bilinear',
               max_bytes: int | None = None) -> tuple[Raster, np.ndarray]:
    """Read one or more co-registered rasters onto one pixel grid.

    Bands at different resolutions (e.g. Sentinel-2's 10/20/60 m JP2 files) are
    resampled onto the finest file's grid (or onto ``target_gsd`` CRS units).
    Each output pixel is sampled at its centre's map position, so a windowed
    read equals the same window of a full read exactly, and only the needed
    block of each file is read.

    Args:
        paths: Files in band order (one multi-band file or several files).
        band_counts: Expected band count of each file (checked), or ``None``.
        target_gsd: Pixel size of the output grid in CRS units; default: the
            finest file's.
        window: ``(col_off, row_off, width, height)`` on the output grid; the
            default reads everything.
        resampling: ``'bilinear'`` for reflectance, ``'nearest'`` for masks
            and labels.
        max_bytes: Read guard limit (see :func:`max_raster_bytes`), checked
            against the window and the file blocks it needs before reading.

    Returns:
        ``(raster, valid)``: the stacked :class:`Raster` (float32 when any band
        was resampled bilinearly, the file dtype otherwise) and a ``(H, W)``
        bool mask, False where any band is nodata or outside its file.

    Raises:
        RasterReadError: naming the file, for a missing/corrupt file, a band
            count that differs from ``band_counts``, mixed CRSs, a window
            outside the grid, or a read larger than the read guard allows.
    """
    from rasterio.errors import RasterioError
    from rasterio.windows import Window
    if resampling not in ('bilinear', 'nearest'):
        raise ValueError(f"resampling must be 'bilinear' or 'nearest', got {resampling!r}")
    limit = max_raster_bytes(max_bytes)
    sources = [open_raster(p) for p in paths]
    try:
        if band_counts is not None:
            for src, n in zip(sources, band_counts):
                if src.count != n:
                    raise RasterReadError(f'{src.name}: {src.count} bands, expected {n}')
        crs = sources[0].crs
        for src in sources[1:]:
            if src.crs != crs:
                raise RasterReadError(
                    f'{src.name}: CRS {src.crs} differs from {crs} of {sources[0].name}; '
                    'the files of one image must share a CRS')
        ref, gsd_x, gsd_y, full_w, full_h = output_grid(sources, target_gsd)
        left, top = ref.transform.c, ref.transform.f
        # rows run south (north-up, y falls) in georeferenced files; a file without
        # georeferencing has rasterio's identity transform, whose rows run towards +y
        down = -1.0 if ref.transform.e < 0 else 1.0
        col, row, width, height = window_bounds(ref.name, window, full_w, full_h, 'grid')
        w_left, w_top = left + col * gsd_x, top + down * row * gsd_y
        n_bands = sum(s.count for s in sources)
        file_dtype = np.result_type(*[d for s in sources for d in s.dtypes])
        # before anything of the window's size is allocated (a header may claim 2**31 pixels)
        check_read_size(sources[0].name, width, height, n_bands, file_dtype, limit)
        plans, need = [], 0
        for src in sources:
            t = src.transform
            fc = _sample_axis(w_left, gsd_x, width, t.c, t.a)
            fr = _sample_axis(w_top, down * gsd_y, height, t.f, t.e)
            # the block of the file the samples need (bilinear needs one more pixel)
            c0 = int(np.clip(np.floor(fc.min()), 0, src.width - 1))
            c1 = int(np.clip(np.floor(fc.max()) + 2, c0 + 1, src.width))
            r0 = int(np.clip(np.floor(fr.min()), 0, src.height - 1))
            r1 = int(np.clip(np.floor(fr.max()) + 2, r0 + 1, src.height))
            plans.append((src, fc, fr, c0, r0, Window(c0, r0, c1 - c0, r1 - r0)))
            need += src.count * np.result_type(*src.dtypes).itemsize \
                * max((c1 - c0) * (r1 - r0), width * height)
        # a file finer than the output grid is read in blocks larger than the window
        check_read_size(sources[0].name, width, height, n_bands, file_dtype, limit, need)
        bands, masks = [], []
        for src, fc, fr, c0, r0, block_win in plans:
            exact = np.allclose(fc, np.round(fc)) and np.allclose(fr, np.round(fr))
            method = 'nearest' if exact else resampling
            try:
                block = src.read(window=block_win)
                block_mask = src.read_masks(window=block_win) > 0
            except (RasterioError, OSError) as err:
                raise RasterReadError(f'cannot read raster {src.name}: {err}') from err
            bands.append(_resample_block(block, fr - r0, fc - c0, method))
            inside = ((fr >= -0.5) & (fr <= src.height - 0.5))[:, None] & \
                ((fc >= -0.5) & (fc <= src.width - 0.5))[None, :]
            mask = _resample_block(block_mask, fr - r0, fc - c0, 'nearest').all(axis=0)
            masks.append(mask & inside)
        dtype = np.result_type(*[b.dtype for b in bands])
        data = np.concatenate([b.astype(dtype, copy=False) for b in bands], axis=0)
        from affine import Affine
        transform = Affine(gsd_x, 0.0, w_left, 0.0, down * gsd_y, w_top)
        raster = Raster(data=data, path=paths[0] if len(paths) == 1 else ','.join(paths),
                        nodata=sources[0].nodata, crs=crs.to_string() if crs else None,
                        transform=tuple(transform.to_gdal()))
        return raster, np.logical_and.reduce(masks)
    finally:
        for src in sources:
            src.close()
