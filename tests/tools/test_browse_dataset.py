"""tools/browse_dataset.py on real Sentinel-2 / Landsat-8 records and generated SAR/temporal ones."""
import json

import numpy as np
import pytest
from PIL import Image

from ..helpers import run_tool
from ..modalities.rasters import l8_entry, s2_entry, write_tif


def _record(i, modality, images, prompt='<image>\nWhere is the field?'):
    return dict(id=f'r{i}', task='grounding', modality=modality, images=images,
                conversations=[dict(**{'from': 'human', 'value': prompt}),
                               dict(**{'from': 'assistant', 'value': None})],
                targets=[dict(type='hbb', bbox=[1, 1, 5, 5])])


def _write(tmp_path, records):
    path = tmp_path / 'data.jsonl'
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))
    return str(path)


def test_sentinel2_record_summary_and_false_colour(tmp_path):
    s2 = s2_entry(window=[0, 0, 128, 96])
    data = _write(tmp_path, [_record(0, 'multispectral', [s2])])
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("modalities = dict(multispectral=dict(type='multispectral', "
                   "sensor='sentinel2_l1c', bands=['B01','B02','B03','B04','B05','B06','B07',"
                   "'B08','B8A','B09','B11','B12']))\n")
    out_png = tmp_path / 's2.png'
    proc = run_tool(['tools/browse_dataset.py', data, '--index', '0', '--json',
                     '--config', str(cfg), '--out', str(out_png)])
    summary = json.loads(proc.stdout)
    assert summary['modality'] == 'multispectral' and summary['pixel_shape'] == [12, 96, 128]
    assert summary['bands'][8] == 'B8A' and summary['crs'] == 'EPSG:32618'
    assert len(summary['min']) == 12 and all(np.isfinite(summary['mean']))
    # physical unit: Sentinel-2 digital numbers, not standardised values
    assert 100 < summary['mean'][3] < 5000 and summary['valid_fraction'] == 1.0
    img = np.asarray(Image.open(out_png))
    assert img.shape == (96, 128, 3) and img.std() > 10


def test_landsat_thermal_in_kelvin(tmp_path):
    data = _write(tmp_path, [_record(0, 'infrared', [l8_entry(['B10', 'B11'], window=[0, 0, 64, 64])])])
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("modalities = dict(infrared=dict(type='infrared', sensor='landsat8', "
                   "bands=['B10', 'B11']))\n")
    summary = json.loads(run_tool(['tools/browse_dataset.py', data, '--json', '--config',
                                   str(cfg)]).stdout)
    assert all(240 < m < 330 for m in summary['mean'])


@pytest.mark.slow
def test_sar_and_temporal_records_render(tmp_path):
    db = np.stack([np.linspace(-30, 5, 256).reshape(16, 16)] * 2).astype(np.float32)
    sar = write_tif(tmp_path / 's1.tif', db)
    frames = [dict(path=write_tif(tmp_path / f'f{i}.tif', np.full((3, 16, 16), 40 * i, np.uint8)),
                   time=f'2022-0{i + 1}-01') for i in range(3)]
    data = _write(tmp_path, [_record(0, 'sar', [dict(path=sar, sensor='sentinel1_grd', units='dB')]),
                             _record(1, 'temporal', frames)])
    summary = json.loads(run_tool(['tools/browse_dataset.py', data, '--index', '0', '--json',
                                   '--out', str(tmp_path / 'sar.png')]).stdout)
    assert summary['min'] == [-25.0, -25.0] and summary['max'] == [0.0, 0.0]   # dB, clipped
    grey = np.asarray(Image.open(tmp_path / 'sar.png'))
    assert (grey[..., 0] == grey[..., 1]).all()
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("modalities = dict(temporal=dict(type='temporal', num_frames=4, image_size=16))\n")
    summary = json.loads(run_tool(['tools/browse_dataset.py', data, '--index', '1', '--json',
                                   '--config', str(cfg), '--out', str(tmp_path / 't.png')]).stdout)
    assert summary['pixel_shape'] == [4, 3, 16, 16] and summary['frames'] == 3
    assert np.asarray(Image.open(tmp_path / 't.png')).shape == (16, 64, 3)   # a strip


def test_bad_record_index_and_missing_file_are_explained(tmp_path):
    data = _write(tmp_path, [_record(0, 'optical', [dict(path='missing.png')])])
    import pytest
    with pytest.raises(AssertionError, match='missing.png'):
        run_tool(['tools/browse_dataset.py', data, '--json'])
    with pytest.raises(AssertionError, match='has no record 5'):
        run_tool(['tools/browse_dataset.py', data, '--index', '5'])
