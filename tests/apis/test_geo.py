"""Tests of eov.apis.geo: tiling, merging tile answers, GeoJSON, drawing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from eov.apis.geo import (as_affine, draw_objects, merge_objects, object_polygon,
                          object_to_geometry, offset_object, quicklook, read_quicklook,
                          tile_windows, to_feature_collection, write_geojson)

# --------------------------------------------------------------------------- tiling


@pytest.mark.parametrize('width,height,tile,overlap', [
    (1000, 300, 256, 32), (512, 512, 256, 0), (257, 700, 256, 64), (100, 80, 256, 16),
    (256, 256, 256, 255), (300, 120, 128, 100), (1, 1, 8, 0),
])
def test_tile_windows_cover_and_end_at_borders(width, height, tile, overlap):
    wins = tile_windows(width, height, tile, overlap)
    cover = np.zeros((height, width), dtype=np.int32)
    for c, r, w, h in wins:
        assert w == min(tile, width) and h == min(tile, height)
        assert c >= 0 and r >= 0 and c + w <= width and r + h <= height
        cover[r:r + h, c:c + w] += 1
    assert cover.min() >= 1
    assert max(c + w for c, _, w, _ in wins) == width
    assert max(r + h for _, r, _, h in wins) == height
    cols = sorted({c for c, _, _, _ in wins})
    rows = sorted({r for _, r, _, _ in wins})
    assert len(wins) == len(cols) * len(rows)
    # regular stride except the last, shifted-back column/row
    stride = tile - overlap
    for starts in (cols, rows):
        assert starts[0] == 0
        for a, b in zip(starts[:-2], starts[1:-1]):
            assert b - a == stride
        if len(starts) > 1:
            assert 0 < starts[-1] - starts[-2] <= stride


def test_tile_windows_exact_values():
    assert tile_windows(1000, 300, 256, 32) == [
        (0, 0, 256, 256), (224, 0, 256, 256), (448, 0, 256, 256), (672, 0, 256, 256),
        (744, 0, 256, 256), (0, 44, 256, 256), (224, 44, 256, 256), (448, 44, 256, 256),
        (672, 44, 256, 256), (744, 44, 256, 256)]
    assert tile_windows(100, 80, 256, 16) == [(0, 0, 100, 80)]
    assert tile_windows(512, 256, 256, 0) == [(0, 0, 256, 256), (256, 0, 256, 256)]


@pytest.mark.parametrize('tile,overlap,match', [
    (0, 0, 'tile'), (-5, 0, 'tile'), (256, -1, 'overlap'), (256, 256, 'overlap'),
    (256, 300, 'overlap')])
def test_tile_windows_errors(tile, overlap, match):
    with pytest.raises(ValueError, match=match):
        tile_windows(1000, 1000, tile, overlap)


# --------------------------------------------------------------------------- offset

def test_offset_every_type():
    objs = [
        {'type': 'hbb', 'bbox': [1, 2, 3, 4], 'label': 'car', 'score': 0.5},
        {'type': 'obb', 'obb': [10, 20, 8, 4, 30.0]},
        {'type': 'quad', 'points': [[0, 0], [2, 0], [2, 1], [0, 1]]},
        {'type': 'poly', 'points': [[0, 0], [5, 0], [0, 5]]},
        {'type': 'point', 'point': [7, 8], 'tile': 3},
    ]
    moved = [offset_object(o, 100, 50) for o in objs]
    assert moved[0] == {'type': 'hbb', 'bbox': [101, 52, 103, 54], 'label': 'car',
                        'score': 0.5}
    assert moved[1]['obb'] == [110, 70, 8, 4, 30.0]
    assert moved[2]['points'] == [[100, 50], [102, 50], [102, 51], [100, 51]]
    assert moved[3]['points'] == [[100, 50], [105, 50], [100, 55]]
    assert moved[4] == {'type': 'point', 'point': [107, 58], 'tile': 3}
    assert objs[0]['bbox'] == [1, 2, 3, 4]  # input untouched
    with pytest.raises(ValueError):
        offset_object({'type': 'circle'}, 1, 1)


def test_object_polygon():
    assert object_polygon({'type': 'hbb', 'bbox': [0, 0, 4, 2]}).area == pytest.approx(8)
    assert object_polygon({'type': 'obb', 'obb': [5, 5, 4, 2, 33]}).area == pytest.approx(8)
    assert object_polygon({'type': 'point', 'point': [1, 1]}) is None
    # a bow-tie quad is repaired, keeping one triangle
    bow = object_polygon({'type': 'quad', 'points': [[0, 0], [2, 2], [2, 0], [0, 2]]})
    assert bow.is_valid and bow.area == pytest.approx(1.0)


# --------------------------------------------------------------------------- merging

def test_nms_keeps_highest_score_and_is_class_aware():
    objs = [
        {'type': 'hbb', 'bbox': [0, 0, 10, 10], 'label': 'car', 'score': 0.6, 'tile': 0},
        {'type': 'hbb', 'bbox': [1, 0, 11, 10], 'label': 'car', 'score': 0.9, 'tile': 1},
        {'type': 'hbb', 'bbox': [0, 0, 10, 10], 'label': 'truck', 'score': 0.3},
        {'type': 'hbb', 'bbox': [50, 50, 60, 60], 'label': 'car', 'score': 0.1},
    ]
    out = merge_objects(objs, iou_thr=0.5)
    got = [(o['label'], o['score']) for o in out]
    assert got == [('car', 0.9), ('truck', 0.3), ('car', 0.1)]
    assert out[0]['bbox'] == [1, 0, 11, 10] and out[0]['tile'] == 1
    # below the threshold both stay
    assert len(merge_objects(objs[:2], iou_thr=0.9)) == 2


def test_nms_without_scores_prefers_larger():
    objs = [{'type': 'hbb', 'bbox': [0, 0, 10, 10]}, {'type': 'hbb', 'bbox': [0, 0, 11, 11]}]
    out = merge_objects(objs)
    assert out == [{'type': 'hbb', 'bbox': [0, 0, 11, 11]}]


def test_rotated_nms():
    a = {'type': 'obb', 'obb': [50, 50, 40, 10, 30.0], 'label': 'ship', 'score': 0.9}
    b = {'type': 'obb', 'obb': [51, 50, 40, 10, 33.0], 'label': 'ship', 'score': 0.8}
    c = {'type': 'obb', 'obb': [50, 50, 40, 10, -60.0], 'label': 'ship', 'score': 0.7}
    iou_ac = object_polygon(a).intersection(object_polygon(c)).area
    assert iou_ac / (800 - iou_ac) < 0.2     # crossing at 90 degrees: low IoU
    out = merge_objects([c, b, a], iou_thr=0.5)
    assert [o['score'] for o in out] == [0.9, 0.7]
    assert out[0]['obb'] == [50, 50, 40, 10, 30.0]
    # as horizontal boxes a and c would merge (IoU ~0.57): the rotation matters
    hbb = [{'type': 'hbb', 'bbox': list(object_polygon(o).bounds), 'label': 'ship',
            'score': o['score']} for o in (a, c)]
    assert len(merge_objects(hbb, iou_thr=0.5)) == 1
    # a quad and an obb of the same box are compared too
    q = {'type': 'quad', 'points': [list(p) for p in object_polygon(b).exterior.coords[:4]],
         'label': 'ship', 'score': 0.95}
    out = merge_objects([a, q], iou_thr=0.5)
    assert len(out) == 1 and out[0]['type'] == 'quad'


def test_polygons_union():
    p1 = {'type': 'poly', 'points': [[0, 0], [10, 0], [10, 10], [0, 10]], 'label': 'field',
          'score': 0.9}
    p2 = {'type': 'poly', 'points': [[2, 0], [12, 0], [12, 10], [2, 10]], 'label': 'field',
          'score': 0.8}
    out = merge_objects([p1, p2], iou_thr=0.5)
    assert len(out) == 1
    poly = object_polygon(out[0])
    assert poly.area == pytest.approx(120)
    assert poly.bounds == (0, 0, 12, 10)
    assert out[0]['score'] == 0.9 and out[0]['label'] == 'field'
    # a different label is not merged
    p3 = dict(p2, label='forest')
    assert len(merge_objects([p1, p3])) == 2


def test_box_cut_by_tile_border_merges_with_full_box():
    wins = tile_windows(200, 100, 120, 40)          # tiles at columns 0 and 80
    assert [w[0] for w in wins] == [0, 80]
    # a car at x 100..130: tile 0 (x < 120) sees it cut at 120, tile 1 sees it whole
    cut = {'type': 'hbb', 'bbox': [100, 40, 120, 60], 'label': 'car', 'score': 0.9, 'tile': 0}
    full = {'type': 'hbb', 'bbox': [100, 40, 130, 60], 'label': 'car', 'score': 0.8,
            'tile': 1}
    # IoU = 400 / 600 < 0.7: plain NMS at 0.7 keeps both ...
    assert len(merge_objects([cut, full], iou_thr=0.7)) == 2
    # ... the tile-border rule merges them, keeping the full box with the best score
    out = merge_objects([cut, full], iou_thr=0.7, windows=wins)
    assert len(out) == 1
    assert out[0]['bbox'] == [100, 40, 130, 60]
    assert out[0]['score'] == 0.9 and out[0]['tile'] == 1
    out = merge_objects([cut, full], iou_thr=0.7, windows=wins, edge_margin=2)
    assert len(out) == 1 and out[0]['bbox'] == [100, 40, 130, 60]
    # same tile: two genuinely nested objects stay apart
    inner = dict(cut, tile=1)
    assert len(merge_objects([inner, full], iou_thr=0.7, windows=wins)) == 2
    # with an edge margin, a small box far from any inner border is not a cut one
    small = {'type': 'hbb', 'bbox': [95, 42, 110, 58], 'label': 'car', 'score': 0.9,
             'tile': 1}
    big = {'type': 'hbb', 'bbox': [90, 40, 112, 60], 'label': 'car', 'score': 0.8, 'tile': 0}
    assert len(merge_objects([small, big], iou_thr=0.7, windows=wins)) == 1
    assert len(merge_objects([small, big], iou_thr=0.7, windows=wins, edge_margin=2)) == 2


def test_polygon_cut_by_tile_border_unions():
    wins = tile_windows(200, 100, 120, 40)
    cut = {'type': 'poly', 'points': [[100, 40], [120, 40], [120, 60], [100, 60]],
           'label': 'field', 'score': 0.9, 'tile': 0}
    full = {'type': 'poly', 'points': [[100, 40], [130, 40], [130, 60], [100, 60]],
            'label': 'field', 'score': 0.5, 'tile': 1}
    out = merge_objects([cut, full], iou_thr=0.9, windows=wins)
    assert len(out) == 1 and out[0]['score'] == 0.9
    assert sorted(map(tuple, out[0]['points'])) == [(100, 40), (100, 60), (130, 40),
                                                    (130, 60)]


def test_points_dedupe():
    pts = [{'type': 'point', 'point': [10, 10], 'label': 'tree', 'score': 0.5},
           {'type': 'point', 'point': [10.5, 10.4], 'label': 'tree', 'score': 0.7},
           {'type': 'point', 'point': [12, 10], 'label': 'tree', 'score': 0.6},
           {'type': 'point', 'point': [10, 10], 'label': 'car', 'score': 0.1}]
    out = merge_objects(pts)
    assert [(o['point'], o['label']) for o in out] == [
        ([10.5, 10.4], 'tree'), ([12, 10], 'tree'), ([10, 10], 'car')]


# --------------------------------------------------------------------------- GeoJSON

EPSG = 32631
GDAL_TRANSFORM = (500000.0, 10.0, 0.0, 5000000.0, 0.0, -10.0)


@pytest.fixture
def geotiff(tmp_path):
    import rasterio
    from affine import Affine
    path = tmp_path / 'scene.tif'
    transform = Affine.from_gdal(*GDAL_TRANSFORM)
    data = np.arange(3 * 64 * 48, dtype=np.uint16).reshape(3, 64, 48)
    with rasterio.open(path, 'w', driver='GTiff', width=48, height=64, count=3,
                       dtype='uint16', crs=f'EPSG:{EPSG}', transform=transform) as dst:
        dst.write(data)
    with rasterio.open(path) as src:
        return {'crs': src.crs.to_string(), 'transform': tuple(src.transform.to_gdal()),
                'affine': src.transform}


def test_geometry_exact_map_corners(geotiff):
    import rasterio.transform
    obj = {'type': 'hbb', 'bbox': [4, 6, 10, 20], 'label': 'roof', 'score': 0.75}
    geom = object_to_geometry(obj, geotiff['transform'])
    ring = geom['coordinates'][0]
    assert geom['type'] == 'Polygon' and ring[0] == ring[-1] and len(ring) == 5
    # pixel corners: x = 500000 + 10 col, y = 5000000 - 10 row
    expected = {(500040.0, 4999940.0), (500100.0, 4999940.0), (500100.0, 4999800.0),
                (500040.0, 4999800.0)}
    assert {tuple(p) for p in ring} == expected
    # the same numbers through rasterio (offset='ul' = pixel corner)
    xs, ys = rasterio.transform.xy(geotiff['affine'], [6, 20], [4, 10], offset='ul')
    assert {(float(xs[0]), float(ys[0])), (float(xs[1]), float(ys[1]))} <= expected
    # an Affine gives the same, None keeps pixels
    assert object_to_geometry(obj, geotiff['affine']) == geom
    assert as_affine(GDAL_TRANSFORM) == geotiff['affine']
    px = object_to_geometry(obj, None)['coordinates'][0]
    assert {tuple(p) for p in px} == {(4, 6), (10, 6), (10, 20), (4, 20)}
    pt = object_to_geometry({'type': 'point', 'point': [0.5, 0.5]}, geotiff['transform'])
    assert pt == {'type': 'Point', 'coordinates': [500005.0, 4999995.0]}


def test_feature_collection_map_and_wgs84(geotiff, tmp_path):
    from rasterio.warp import transform as warp_transform
    objs = [{'type': 'hbb', 'bbox': [4, 6, 10, 20], 'label': 'roof', 'score': 0.75,
             'tile': 2},
            {'type': 'obb', 'obb': [20, 30, 10, 4, 45.0], 'label': 'car'},
            {'type': 'point', 'point': [1, 2], 'label': 'tree', 'score': np.float32(0.5)}]
    fc = to_feature_collection(objs, geotiff['transform'], geotiff['crs'],
                               properties={'scene': 'scene.tif'})
    assert fc['type'] == 'FeatureCollection' and fc['eov:coordinates'] == 'map'
    assert fc['crs'] == {'type': 'name', 'properties': {'name': 'urn:ogc:def:crs:EPSG::32631'}}
    f0, f1, f2 = fc['features']
    assert f0['type'] == 'Feature'
    assert f0['properties'] == {'type': 'hbb', 'label': 'roof', 'score': 0.75, 'tile': 2,
                                'scene': 'scene.tif'}
    assert f1['properties'] == {'type': 'obb', 'label': 'car', 'scene': 'scene.tif'}
    assert f2['geometry']['type'] == 'Point' and f2['properties']['score'] == 0.5
    assert {tuple(p) for p in f0['geometry']['coordinates'][0]} == {
        (500040.0, 4999940.0), (500100.0, 4999940.0), (500100.0, 4999800.0),
        (500040.0, 4999800.0)}
    assert json.loads(json.dumps(fc)) == fc
    path = write_geojson(fc, str(tmp_path / 'out' / 'sub' / 'scene.geojson'))
    with open(path) as f:
        assert json.load(f) == fc

    wgs = to_feature_collection(objs, geotiff['transform'], geotiff['crs'], to_wgs84=True)
    assert wgs['crs']['properties']['name'] == 'urn:ogc:def:crs:OGC:1.3:CRS84'
    ring = wgs['features'][0]['geometry']['coordinates'][0]
    assert ring[0] == ring[-1]
    xs = [500040.0, 500100.0, 500100.0, 500040.0]
    ys = [4999940.0, 4999940.0, 4999800.0, 4999800.0]
    lons, lats = warp_transform(f'EPSG:{EPSG}', 'EPSG:4326', xs, ys)
    for lon, lat in zip(lons, lats):
        assert any(abs(lon - p[0]) < 1e-9 and abs(lat - p[1]) < 1e-9 for p in ring)
    # UTM 31N, 500 km easting = central meridian 3 deg E, ~45.1 deg N
    for lon, lat in ring:
        assert 2.99 < lon < 3.01 and 45.1 < lat < 45.2
    assert json.loads(json.dumps(wgs)) == wgs


def test_feature_collection_without_crs():
    objs = [{'type': 'hbb', 'bbox': [4, 6, 10, 20], 'label': 'roof'}]
    fc = to_feature_collection(objs, (0.0, 1.0, 0.0, 0.0, 0.0, 1.0), None)
    assert fc['eov:coordinates'] == 'pixel' and 'crs' not in fc
    assert {tuple(p) for p in fc['features'][0]['geometry']['coordinates'][0]} == {
        (4, 6), (10, 6), (10, 20), (4, 20)}
    with pytest.raises(ValueError, match='no georeferencing'):
        to_feature_collection(objs, None, None, to_wgs84=True)


def test_crs_without_epsg_uses_wkt():
    from rasterio.crs import CRS
    crs = CRS.from_proj4('+proj=tmerc +lat_0=0 +lon_0=7.3 +k=0.9996 +x_0=400000 +y_0=0 '
                         '+ellps=WGS84 +units=m +no_defs')
    fc = to_feature_collection([{'type': 'point', 'point': [0, 0]}], GDAL_TRANSFORM, crs)
    name = fc['crs']['properties']['name']
    assert 'EPSG::' not in name and CRS.from_wkt(name) == crs


# --------------------------------------------------------------------------- drawing

def test_draw_objects_outline_changes_pixels(tmp_path):
    img = np.zeros((100, 120, 3), dtype=np.uint8)
    objs = [{'type': 'hbb', 'bbox': [20, 30, 80, 70], 'label': 'car', 'score': 0.9},
            {'type': 'point', 'point': [100, 10], 'label': 'tree'}]
    out = draw_objects(img, objs, path=str(tmp_path / 'q' / 'draw.png'))
    arr = np.asarray(out)
    assert arr.shape == (100, 120, 3)
    for x, y in [(50, 30), (50, 70), (20, 50), (80, 50)]:      # on the box outline
        assert arr[y, x].sum() > 0
    assert arr[50, 50].sum() == 0                               # inside untouched
    assert arr[10, 100].sum() > 0                               # the point's cross
    assert tuple(arr[50, 20]) != tuple(arr[10, 100])            # one colour per label
    assert (tmp_path / 'q' / 'draw.png').exists()
    # scale maps scene coordinates onto a downsampled view
    half = np.asarray(draw_objects(np.zeros((50, 60, 3), np.uint8), objs[:1], scale=0.5))
    assert half[15, 25].sum() > 0 and half[25, 25].sum() == 0


def test_quicklook():
    rng = np.random.default_rng(0)
    big = rng.normal(1000, 200, size=(3, 300, 600)).astype(np.float32)
    big[:, :10, :10] = np.nan
    img, scale = quicklook(big, max_size=200)
    assert img.dtype == np.uint8 and img.shape == (100, 200, 3)
    assert scale == pytest.approx(1 / 3)
    assert img.min() == 0 and img.max() == 255
    assert 100 < img.mean() < 155
    hwc, s = quicklook(np.moveaxis(big, 0, -1)[:50, :80], max_size=1024)
    assert hwc.shape == (50, 80, 3) and s == 1.0


@pytest.mark.filterwarnings('ignore::rasterio.errors.NotGeoreferencedWarning')
def test_read_quicklook_of_per_band_files_and_of_one_file(tmp_path):
    import rasterio
    from PIL import Image

    def tif(name, data, nodata=None):
        path = str(tmp_path / name)
        with rasterio.open(path, 'w', driver='GTiff', width=data.shape[-1],
                           height=data.shape[-2], count=data.shape[0], dtype=data.dtype,
                           nodata=nodata) as dst:
            dst.write(data)
        return path

    # per-band files (B04, B03, B02 of a scene): one band each, in the order given (the web
    # page drew only the first file, grey)
    values = (300, 200, 100)
    bands = [tif(f'B0{4 - i}.tif', np.full((1, 40, 60), v, np.uint16))
             for i, v in enumerate(values)]
    data = read_quicklook(bands, shape=(20, 30))
    assert data.shape == (3, 20, 30) and data.dtype == np.float32
    assert [float(b.mean()) for b in data] == list(values)
    # one file: its first three bands; nodata -> NaN; decimated to max_size
    many = np.arange(4 * 100 * 50, dtype=np.int16).reshape(4, 100, 50)
    many[:, :2, :2] = -1                                  # one whole output pixel
    data = read_quicklook(tif('four.tif', many, nodata=-1), max_size=50)
    assert data.shape == (3, 50, 25) and np.isnan(data[:, 0, 0]).all()
    assert np.isfinite(data[:, 1:, 1:]).all()
    grey = read_quicklook(tif('one.tif', many[:1]), max_size=50)
    assert grey.shape == (1, 50, 25)
    path = str(tmp_path / 'rgb.png')
    Image.fromarray(np.dstack([np.full((8, 12), v, np.uint8) for v in (10, 20, 30)])).save(path)
    png = read_quicklook(path, shape=(4, 6))
    assert png.shape == (3, 4, 6) and [float(b.mean()) for b in png] == [10, 20, 30]
    with pytest.raises(ValueError, match='no image path'):
        read_quicklook([])
