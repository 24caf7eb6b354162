"""Decompression bombs and the raster read guard (real files whose headers claim huge sizes)."""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import rasterio
from mmengine.registry import init_default_scope
from PIL import Image
from rasterio.transform import Affine

from eov.datasets.schema import RecordError
from eov.modalities.io import RasterReadError, max_raster_bytes, read_raster, read_stack
from eov.registry import DATASETS

from .rasters import write_tif

GUARD = 'over the raster read limit of {} (EOV_MAX_RASTER_BYTES); read it in windows ' \
        '("window" in the record, tools/infer.py --tile N) or raise EOV_MAX_RASTER_BYTES'


def png_bomb(path, width=100000, height=100000):
    """A valid 8-bit RGB PNG header claiming ``width x height`` with a tiny IDAT."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header)
                + chunk(b'IDAT', zlib.compress(b'\0' * 7)) + chunk(b'IEND', b''))
    return str(path)


def tif_bomb(path, size=100000, count=3):
    """A sparse tiled GeoTIFF of ``size x size`` pixels: no tile is written, so it stays tiny."""
    with rasterio.open(path, 'w', driver='GTiff', width=size, height=size, count=count,
                       dtype='uint8', crs='EPSG:32631', tiled=True, blockxsize=2048,
                       blockysize=2048, compress='deflate', sparse_ok=True,
                       transform=Affine(10.0, 0.0, 300000.0, 0.0, -10.0, 5000000.0)):
        pass
    return str(path)


def test_a_png_claiming_100000_squared_pixels_names_the_file_and_size(tmp_path):
    path = png_bomb(tmp_path / 'bomb.png')
    assert os.path.getsize(path) < 100
    with pytest.raises(RasterReadError) as err:
        read_raster(path)
    assert str(err.value) == (
        f"{path}: refused as a possible decompression bomb (Pillow's MAX_IMAGE_PIXELS): Image "
        f'size (10000000000 pixels) exceeds limit of {2 * Image.MAX_IMAGE_PIXELS} pixels, could '
        'be decompression bomb DOS attack.')


def test_a_huge_geotiff_header_is_refused_before_reading_and_windows_still_read(tmp_path):
    path = tif_bomb(tmp_path / 'bomb.tif')
    assert os.path.getsize(path) < 200_000
    expected = f'{path}: reading 100000x100000 pixels x 3 band(s) of uint8 needs 27.9 GiB ' \
               '(30000000000 bytes), ' + GUARD.format('2.0 GiB')
    for read in (read_raster, lambda p: read_stack([p])):
        with pytest.raises(RasterReadError) as err:
            read(path)
        assert str(err.value) == expected
    raster, valid = read_stack([path], window=(50000, 70000, 64, 48))   # one tile of a scene
    assert raster.data.shape == (3, 48, 64) and valid.all()
    assert raster.transform == (300000.0 + 500000.0, 10.0, 0.0, 5000000.0 - 700000.0, 0.0, -10.0)


def test_the_limit_comes_from_the_keyword_or_the_environment(tmp_path, monkeypatch):
    rgb = np.random.default_rng(0).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / 'a.png')
    tif = write_tif(tmp_path / 'a.tif', rgb.transpose(2, 0, 1).copy())
    png = str(tmp_path / 'a.png')
    assert max_raster_bytes() == 2 ** 31
    assert read_raster(png, max_bytes=3 * 64 * 64).data.shape == (3, 64, 64)   # at the limit
    with pytest.raises(RasterReadError) as err:
        read_raster(png, max_bytes=3 * 64 * 64 - 1)
    assert str(err.value) == f'{png}: reading 64x64 pixels x 3 band(s) of uint8 needs 12.0 KiB ' \
                             '(12288 bytes), ' + GUARD.format('12.0 KiB')
    monkeypatch.setenv('EOV_MAX_RASTER_BYTES', '1e4')
    assert max_raster_bytes() == 10000
    for read in (lambda: read_raster(png), lambda: read_raster(tif), lambda: read_stack([tif])):
        with pytest.raises(RasterReadError) as err:
            read()
        assert str(err.value).endswith(GUARD.format('9.8 KiB'))
    raster, _ = read_stack([tif], window=(0, 0, 32, 32))   # 3 KiB: fits
    assert np.array_equal(raster.data, rgb[:32, :32].transpose(2, 0, 1))
    monkeypatch.setenv('EOV_MAX_RASTER_BYTES', '0')   # no limit
    assert read_raster(tif).data.shape == (3, 64, 64)
    monkeypatch.setenv('EOV_MAX_RASTER_BYTES', '2GB')
    with pytest.raises(ValueError, match=r"EOV_MAX_RASTER_BYTES='2GB' is not a number of bytes"):
        read_raster(png)


def _dataset(tiny_cfg, tmp_path, image, max_bad_records, window=None):
    """The tiny train set with record 0's image replaced by ``image``."""
    data = tmp_path / 'data'
    shutil.copytree(tiny_cfg.data_root, data)
    records = [json.loads(line) for line in (data / 'train.jsonl').read_text().splitlines()]
    shutil.copy(image, data / 'images' / os.path.basename(image))
    records[0]['images'][0]['path'] = 'images/' + os.path.basename(image)
    if window is not None:
        records[0]['images'][0]['window'] = window
    (data / 'train.jsonl').write_text('\n'.join(json.dumps(r) for r in records) + '\n')
    init_default_scope('eov')
    cfg = tiny_cfg.train_dataloader.dataset
    cfg.data_root, cfg.ann_file, cfg.max_bad_records = str(data), 'train.jsonl', max_bad_records
    return DATASETS.build(cfg), str(data / 'images' / os.path.basename(image))


@pytest.mark.parametrize('kind', ['png', 'tif'])
def test_a_bomb_in_a_record_is_skipped_and_counted_or_named(tiny_cfg, tmp_path, kind):
    bomb = png_bomb(tmp_path / 'bomb.png') if kind == 'png' else tif_bomb(tmp_path / 'bomb.tif')
    what = 'decompression bomb' if kind == 'png' else 'over the raster read limit'
    ds, path = _dataset(tiny_cfg, tmp_path / 'strict', bomb, max_bad_records=0)
    with pytest.raises(RecordError) as err:
        ds[0]
    assert str(err.value).startswith(f'{ds.ann_file}:1: {path}: ') and what in str(err.value)
    ds, path = _dataset(tiny_cfg, tmp_path / 'skip', bomb, max_bad_records=1)
    np.random.seed(0)   # BaseDataset draws the replacement with numpy: not record 0 again
    assert ds[0]['data_sample']['id'] != 'synth-train-0'
    assert len(ds.bad_records) == 1
    assert ds.bad_records[0].startswith(f'{ds.ann_file}:1: {path}: ') and what in \
        ds.bad_records[0]


def test_a_window_of_a_huge_geotiff_in_a_record_loads(tiny_cfg, tmp_path):
    ds, _ = _dataset(tiny_cfg, tmp_path, tif_bomb(tmp_path / 'bomb.tif'), max_bad_records=0,
                     window=[40000, 40000, 64, 64])
    sample = ds[0]
    assert sample['data_sample']['id'] == 'synth-train-0' and not ds.bad_records


def test_tiled_inference_sizes_a_huge_geotiff_but_names_a_png_bomb(tmp_path):
    from eov.apis.inferencer import InferenceError, scene_size
    assert scene_size({'path': tif_bomb(tmp_path / 'bomb.tif')}, None) == (100000, 100000)
    png = png_bomb(tmp_path / 'bomb.png')
    with pytest.raises(InferenceError, match=f'^cannot read image {png}: Image size '
                       r'\(10000000000 pixels\) exceeds limit'):
        scene_size({'path': png}, None)


def test_an_image_path_that_is_a_directory_or_a_fifo_is_said_so(tmp_path):
    # training and test read images through the same reader: only a path that is not
    # there is "not found"
    folder = tmp_path / 'scene.tif'
    folder.mkdir()
    with pytest.raises(RasterReadError, match=r'scene.tif is a directory: expected an image'):
        read_raster(str(folder))
    fifo = str(tmp_path / 'pipe.tif')
    os.mkfifo(fifo)
    with pytest.raises(RasterReadError, match=r'pipe.tif is not a regular file'):
        read_raster(fifo)
    loop = str(tmp_path / 'loop.tif')
    os.symlink(loop, loop)
    with pytest.raises(RasterReadError, match=r'loop.tif is a symbolic link loop'):
        read_raster(loop)
    with pytest.raises(RasterReadError, match=r'image file not found: .*nope.tif'):
        read_raster(str(tmp_path / 'nope.tif'))
