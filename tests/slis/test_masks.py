"""Masks -> simplified polygons -> masks, through real rasterio I/O."""
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from eov.datasets.schema import RecordError
from eov.datasets.transforms import MaskToPolygons
from eov.slis import LocTokenSerializer
from eov.slis.masks import (mask_iou, mask_round_trip_iou, mask_to_polygons, polygons_to_mask,
                            simplify_ring)


def disk(h=64, w=64, cy=32, cx=32, r=20):
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def test_rectangle_traces_to_four_corners_exactly():
    m = np.zeros((20, 30), np.uint8)
    m[5:12, 3:21] = 1
    polys = mask_to_polygons(m, label='field')
    assert len(polys) == 1 and polys[0]['label'] == 'field'
    assert sorted(map(tuple, polys[0]['points'])) == [(3, 5), (3, 12), (21, 5), (21, 12)]
    assert mask_iou(polygons_to_mask(polys, m.shape), m) == 1.0


def test_l_shape_keeps_its_six_corners():
    m = np.zeros((16, 16), np.uint8)
    m[2:14, 2:6] = 1
    m[10:14, 2:12] = 1
    polys = mask_to_polygons(m)
    assert len(polys[0]['points']) == 6
    assert mask_round_trip_iou(m) == 1.0


@pytest.mark.parametrize('budget, min_iou', [(256, 0.97), (32, 0.93), (8, 0.80)])
def test_vertex_budget_is_kept_and_iou_degrades_gracefully(budget, min_iou):
    m = disk()
    polys = mask_to_polygons(m, max_vertices=budget)
    assert sum(len(p['points']) for p in polys) <= budget
    iou = mask_round_trip_iou(m, max_vertices=budget)
    assert iou >= min_iou, iou


def test_multi_part_regions_become_several_polygons_largest_first():
    m = disk(r=12, cx=20) | disk(r=6, cx=50)
    polys = mask_to_polygons(m, max_vertices=64)
    assert len(polys) == 2
    areas = [polygons_to_mask([p], m.shape).sum() for p in polys]
    assert areas[0] > areas[1] > 0


def test_tiny_budget_drops_the_smallest_regions():
    m = np.zeros((40, 40), np.uint8)
    for k in range(6):
        m[2 + 6 * k:5 + 6 * k, 2:30] = 1        # six separate bars
    polys = mask_to_polygons(m, max_vertices=9)
    assert len(polys) <= 3 and sum(len(p['points']) for p in polys) <= 9


def test_holes_are_dropped_and_the_iou_says_so():
    ring = disk(r=20) & ~disk(r=10).astype(bool)
    iou = mask_round_trip_iou(ring, max_vertices=512)
    filled = disk(r=20).sum()
    assert iou == pytest.approx(ring.sum() / filled, abs=0.02)


def test_min_area_and_empty_masks():
    m = np.zeros((10, 10), np.uint8)
    assert mask_to_polygons(m) == []
    m[4, 4] = 1
    assert mask_to_polygons(m, min_area=2) == []
    assert len(mask_to_polygons(m, min_area=1)) == 1


def test_bad_masks_raise_clear_errors():
    with pytest.raises(ValueError, match='2-D'):
        mask_to_polygons(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match='NaN'):
        mask_to_polygons(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match='max_vertices'):
        mask_to_polygons(np.ones((3, 3)), max_vertices=2)


def test_simplify_ring_removes_collinear_vertices_only_at_zero_tolerance():
    square_with_midpoints = np.array([[0, 0], [5, 0], [10, 0], [10, 10], [0, 10], [0, 5]], float)
    assert len(simplify_ring(square_with_midpoints, 0.0)) == 4


def test_mask_survives_polygon_serialization(tmp_path):
    m = disk(h=100, w=120, cx=60, cy=50, r=30)
    s = LocTokenSerializer(bins=1000)
    polys = mask_to_polygons(m, max_vertices=48)
    text = s.encode(polys, (120, 100))
    back = polygons_to_mask(s.decode(text, (120, 100)), m.shape)
    assert mask_iou(back, m) >= 0.95


def _write_mask_tif(path, arr):
    with rasterio.open(path, 'w', driver='GTiff', width=arr.shape[-1], height=arr.shape[-2],
                       count=1 if arr.ndim == 2 else arr.shape[0], dtype='uint8',
                       crs='EPSG:32632', transform=from_origin(500000, 5000000, 10, 10)) as dst:
        if arr.ndim == 2:
            dst.write(arr, 1)
        else:
            dst.write(arr)


def test_mask_to_polygons_transform_reads_a_geotiff(tmp_path):
    m = np.zeros((32, 32), np.uint8)
    m[4:20, 8:24] = 255
    _write_mask_tif(tmp_path / 'change.tif', m)
    results = {'data_root': str(tmp_path), 'targets': [
        {'type': 'mask', 'path': 'change.tif', 'label': 'new building'},
        {'type': 'text', 'text': 'kept'}]}
    out = MaskToPolygons(max_vertices=16)(results)
    kinds = [t['type'] for t in out['targets']]
    assert kinds == ['poly', 'text']          # polygons replace the mask in place
    assert out['targets'][0]['label'] == 'new building'
    assert mask_iou(polygons_to_mask(out['targets'][:1], m.shape), m) == 1.0


def test_mask_to_polygons_transform_names_a_multi_band_file(tmp_path):
    _write_mask_tif(tmp_path / 'two.tif', np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(RecordError, match='two.tif.*1 band'):
        MaskToPolygons()({'targets': [{'type': 'mask', 'path': str(tmp_path / 'two.tif')}]})
