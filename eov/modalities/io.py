"""Raster reading shared by the modality plugins.

GeoTIFF / JPEG2000 go through rasterio (imported lazily, so ``import eov``
stays light); PNG / JPEG through Pillow. Every failure names the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Extensions read with Pillow; everything else goes to rasterio.
PIL_EXTENSIONS = {'.png', '.jpg', '.jpeg', '.bmp'}


class RasterReadError(RuntimeError):
    """A raster could not be read or does not match what its record says."""


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


def read_raster(path: str) -> Raster:
    """Read every band of ``path``.

    Args:
        path: A GeoTIFF, JPEG2000, PNG or JPEG file.

    Returns:
        A :class:`Raster` with ``(C, H, W)`` data.

    Raises:
        RasterReadError: if the file is missing, unreadable or empty.
    """
    if not os.path.isfile(path):
        raise RasterReadError(f'image file not found: {path}')
    ext = os.path.splitext(path)[1].lower()
    if ext in PIL_EXTENSIONS:
        return _read_with_pillow(path)
    return _read_with_rasterio(path)


def _read_with_pillow(path: str) -> Raster:
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode not in ('L', 'RGB', 'RGBA', 'I;16', 'I', 'F'):
                img = img.convert('RGB')
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise RasterReadError(f'cannot read image {path}: {err}') from err
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if arr.size == 0:
        raise RasterReadError(f'image {path} has no pixels')
    return Raster(data=arr, path=path)


def _read_with_rasterio(path: str) -> Raster:
    import rasterio
    from rasterio.errors import RasterioError
    try:
        with rasterio.open(path) as src:
            data = src.read()
            nodata = src.nodata
            crs = src.crs.to_string() if src.crs else None
            transform: Any = tuple(src.transform.to_gdal()) if src.transform else None
    except (RasterioError, OSError) as err:
        raise RasterReadError(f'cannot read raster {path}: {err}') from err
    if data.size == 0:
        raise RasterReadError(f'raster {path} has no pixels')
    return Raster(data=data, path=path, nodata=nodata, crs=crs, transform=transform)
