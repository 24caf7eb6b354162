"""EOVInferencer: a trained tiny model answers files, arrays, records and tiled scenes."""
import json
import os

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from eov.apis import EOVInferencer, InferenceError
from eov.slis.geometry import box_iou

from ..conftest import TINY_CONFIG


@pytest.fixture(scope='module')
def inferencer(grounding_checkpoint):
    path, _ = grounding_checkpoint
    return EOVInferencer(TINY_CONFIG, path, batch_size=4)


def _question(rec):
    return rec['conversations'][0]['value']


@pytest.mark.slow
def test_memorised_boxes_come_back_in_pixels(inferencer, grounding_checkpoint):
    _, records = grounding_checkpoint
    preds = inferencer.predict_many([dict(images=r['images'][0]['path'], prompt=_question(r),
                                          modality='optical', task='grounding')
                                     for r in records])
    ious = [box_iou(p.parsed['box'], r['targets'][0]['bbox']) if p.parsed['box'] else 0.0
            for p, r in zip(preds, records)]
    assert sum(i >= 0.5 for i in ious) >= 6, ([p.text for p in preds], ious)
    assert all(p.image_size == (64, 64) and p.crs is None for p in preds)
    # the same request alone gives the same answer as in a batch (left padding is exact)
    alone = inferencer.predict(records[0]['images'][0]['path'], _question(records[0]),
                               task='grounding')
    assert alone.text == preds[0].text


def test_arrays_answer_like_files(inferencer, grounding_checkpoint):
    _, records = grounding_checkpoint
    rec = records[1]
    path = rec['images'][0]['path']
    from_file = inferencer.predict(path, _question(rec), task='grounding')
    hwc = np.asarray(Image.open(path).convert('RGB'))
    assert inferencer.predict(hwc, _question(rec), task='grounding').text == from_file.text
    chw = np.ascontiguousarray(hwc.transpose(2, 0, 1))
    assert inferencer.predict(chw, _question(rec), task='grounding').text == from_file.text


def test_records_batch_mode_carries_question_and_reference(inferencer, grounding_checkpoint,
                                                           tmp_path):
    _, records = grounding_checkpoint
    no_answer = dict(records[2], id='asked-only',
                     conversations=records[2]['conversations'][:1], targets=[])
    out = tmp_path / 'preds.jsonl'
    lines = inferencer.predict_records(records[:3] + [no_answer], out_file=str(out),
                                       progress=False)
    assert [line['id'] for line in lines] == [r['id'] for r in records[:3]] + ['asked-only']
    for line, rec in zip(lines, records[:3]):
        assert line['question'] == _question(rec)
        assert line['reference'].startswith('<box>') and line['prediction'] is not None
        assert line['image_size'] == [64, 64]
    assert 'reference' not in lines[3] and lines[3]['prediction'] == lines[2]['prediction']
    assert [json.loads(x) for x in out.read_text().splitlines()] == json.loads(
        json.dumps(lines))


def test_an_unreadable_record_image_is_reported_and_the_rest_answered(inferencer,
                                                                      grounding_checkpoint,
                                                                      tmp_path):
    _, records = grounding_checkpoint
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a png')
    bad = dict(records[0], id='bad', images=[dict(path=str(broken))])
    lines = inferencer.predict_records([bad, records[0]], progress=False)
    assert lines[0]['prediction'] is None and 'broken.png' in lines[0]['error']
    assert lines[1]['prediction'] and 'error' not in lines[1]


def test_bad_requests_are_named(inferencer, grounding_checkpoint, tmp_path):
    _, records = grounding_checkpoint
    path = records[0]['images'][0]['path']
    with pytest.raises(InferenceError, match="unknown modality 'radar'.*reads optical"):
        inferencer.predict(path, 'Where?', modality='radar')
    with pytest.raises(InferenceError, match="unknown task 'dance'"):
        inferencer.predict(path, 'Where?', task='dance')
    with pytest.raises(InferenceError, match='prompt is empty'):
        inferencer.predict(path, '   ')
    with pytest.raises(InferenceError, match='not found: .*nope.png'):
        inferencer.predict(str(tmp_path / 'nope.png'), 'Where?')
    text = tmp_path / 'notes.tif'
    text.write_text('hello')
    with pytest.raises(InferenceError, match='notes.tif'):
        inferencer.predict(str(text), 'Where?')
    two_band = tmp_path / 'two.tif'
    with rasterio.open(two_band, 'w', driver='GTiff', width=8, height=8, count=2,
                       dtype='uint8') as dst:
        dst.write(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InferenceError, match='two.tif: 2 bands'):
        inferencer.predict(str(two_band), 'Where?')


def _scene(records, tmp_path, index=0):
    """A 128 x 128 GeoTIFF (EPSG:32631, 10 m) of one memorised image in each quadrant."""
    rec = records[index]
    img = np.asarray(Image.open(rec['images'][0]['path']).convert('RGB')).transpose(2, 0, 1)
    scene = np.zeros((3, 128, 128), np.uint8)
    for row in (0, 64):
        for col in (0, 64):
            scene[:, row:row + 64, col:col + 64] = img
    path = tmp_path / 'scene.tif'
    transform = from_origin(500000.0, 4600000.0, 10.0, 10.0)
    with rasterio.open(path, 'w', driver='GTiff', width=128, height=128, count=3,
                       dtype='uint8', crs='EPSG:32631', transform=transform) as dst:
        dst.write(scene)
    return str(path), rec, transform


def test_tiled_scene_objects_match_answers_of_the_whole_image(inferencer, grounding_checkpoint,
                                                              tmp_path):
    """Each tile's object, moved into the scene, is the whole image's object moved there."""
    _, records = grounding_checkpoint
    wholes = [inferencer.predict(r['images'][0]['path'], _question(r), task='grounding')
              for r in records]
    index = next(i for i, (w, r) in enumerate(zip(wholes, records))
                 if w.objects and box_iou(w.objects[0]['bbox'], r['targets'][0]['bbox']) >= 0.5)
    path, rec, transform = _scene(records, tmp_path, index)
    whole = wholes[index]
    scene = inferencer.predict_scene(path, _question(rec), task='grounding', tile=64,
                                     overlap=0, progress=False)
    assert scene.image_size == (128, 128) and len(scene.tiles) == 4
    assert 'EPSG:32631' in scene.crs
    assert tuple(scene.transform) == tuple(transform.to_gdal())
    x1, y1, x2, y2 = whole.objects[0]['bbox']
    expected = sorted([[x1 + c, y1 + r, x2 + c, y2 + r] for r in (0, 64) for c in (0, 64)])
    got = sorted(o['bbox'] for o in scene.objects)
    assert np.allclose(got, expected, atol=1e-6), (got, expected)
    # and they are the known objects of the scene (the memorised box in each quadrant)
    truth = rec['targets'][0]['bbox']
    for r in (0, 64):
        for c in (0, 64):
            shifted = [truth[0] + c, truth[1] + r, truth[2] + c, truth[3] + r]
            assert max(box_iou(b, shifted) for b in got) >= 0.5
    # GeoJSON in the scene's CRS: the corners are the affine image of the pixel corners
    fc = scene.to_geojson()
    assert fc['crs']['properties']['name'].endswith('32631')
    for feature, obj in zip(fc['features'], scene.objects):
        xs = [p[0] for p in feature['geometry']['coordinates'][0]]
        ys = [p[1] for p in feature['geometry']['coordinates'][0]]
        bx1, by1, bx2, by2 = obj['bbox']
        assert min(xs) == pytest.approx(500000.0 + 10 * bx1)
        assert max(ys) == pytest.approx(4600000.0 - 10 * by1)
        assert max(xs) == pytest.approx(500000.0 + 10 * bx2)
        assert min(ys) == pytest.approx(4600000.0 - 10 * by2)


def test_overlapping_tiles_merge_the_same_object(inferencer, grounding_checkpoint, tmp_path):
    """With overlap, an object seen whole by two tiles is reported once."""
    _, records = grounding_checkpoint
    path, rec, _ = _scene(records, tmp_path)
    scene = inferencer.predict_scene(path, _question(rec), task='grounding', tile=64,
                                     overlap=32, progress=False)
    assert len(scene.tiles) == 9
    truth = rec['targets'][0]['bbox']
    for r in (0, 64):
        for c in (0, 64):
            shifted = [truth[0] + c, truth[1] + r, truth[2] + c, truth[3] + r]
            hits = [o for o in scene.objects if box_iou(o['bbox'], shifted) >= 0.5]
            assert len(hits) <= 1, hits


@pytest.mark.slow
def test_an_exported_directory_answers_like_the_checkpoint(inferencer, grounding_checkpoint,
                                                           tmp_path):
    """tools/export_hf.py's directory is a model the inferencer (and tools/infer.py) take."""
    from ..helpers import run_tool
    path, records = grounding_checkpoint
    out = tmp_path / 'export'
    run_tool(['tools/export_hf.py', TINY_CONFIG, path, str(out)])
    exported = EOVInferencer(str(out), batch_size=4)
    assert exported.tasks == inferencer.tasks and exported.modalities == inferencer.modalities
    requests = [dict(images=r['images'][0]['path'], prompt=_question(r), task='grounding')
                for r in records[:4]]
    assert [p.text for p in exported.predict_many(requests)] == \
        [p.text for p in inferencer.predict_many(requests)]
    with pytest.raises(InferenceError, match='holds its weights'):
        EOVInferencer(str(out), path)
    proc = run_tool(['tools/infer.py', str(out), '--image', records[0]['images'][0]['path'],
                     '--prompt', _question(records[0]), '--task', 'grounding'])
    assert f'answer: {inferencer.predict(**requests[0]).text}' in proc.stdout


def test_the_bundled_web_examples_are_read_by_their_modalities():
    """The web demo's bundled GeoTIFFs load through the demo model's modality plugins."""
    from eov.apis.web.server import BUNDLED_EXAMPLES
    inf = EOVInferencer(os.path.join(os.path.dirname(TINY_CONFIG), 'eov_tiny_multitask.py'),
                        max_new_tokens=4)
    names = sorted(os.listdir(BUNDLED_EXAMPLES))
    assert {n.split('_')[0] for n in names} == {'optical', 'sar', 'infrared'}
    for name in names:
        pred = inf.predict(os.path.join(BUNDLED_EXAMPLES, name), 'Describe the image.',
                           modality=name.split('_')[0], task='captioning')
        assert pred.crs == 'EPSG:32631' and pred.image_size == (64, 64), name


def test_every_modality_entry_and_task_is_answered_from_records(tmp_path):
    """EOV-Synth v2 records of all seven entries (GeoTIFF, frame lists, mp4 video, fusion
    pairs) and nine tasks go through the multi-task model's inferencer."""
    from eov.datasets.synth import generate_v2
    from eov.datasets.synth.multimodal import cell_sequence
    cycle = len(cell_sequence())    # one record of every (modality, task) cell
    paths = generate_v2(str(tmp_path), {'test': cycle}, seed=1, progress=False)
    inf = EOVInferencer(os.path.join(os.path.dirname(TINY_CONFIG), 'eov_tiny_multitask.py'),
                        max_new_tokens=6, batch_size=16)
    lines = inf.predict_records(paths['test'], progress=False)
    records = [json.loads(line) for line in open(paths['test'])]
    assert len(lines) == len(records) >= cycle   # plus the optical-only twins of cloud cells
    assert not [line for line in lines if line.get('error')]
    assert {line['modality'] for line in lines} == {'optical', 'sar', 'infrared',
                                                     'multispectral', 'temporal', 'video',
                                                     'fusion'}
    assert {line['task'] for line in lines} == set(inf.tasks)
    assert all(isinstance(line['prediction'], str) and line['question'] for line in lines)
    # a video record: its mp4 is decoded into frames
    video = next(r for r in records if r['modality'] == 'video')
    assert video['images'][0]['path'].endswith('.mp4')
    pred = inf.predict(os.path.join(str(tmp_path), video['images'][0]['path']),
                       'Describe the video.', modality='video', task='captioning')
    assert isinstance(pred.text, str)


def test_multi_image_entries_are_known_by_type_not_name(tmp_path):
    """An entry of type fusion / temporal under another key takes several files as several
    images (not as the bands of one) and refuses tiling, as the built-in names do."""
    inf = EOVInferencer(os.path.join(os.path.dirname(TINY_CONFIG), 'eov_tiny_multitask.py'),
                        max_new_tokens=2)
    inf.model.modalities['s1s2'] = inf.model.modalities['fusion']
    inf.model.modalities['series'] = inf.model.modalities['temporal']
    files = ['a.tif', 'b.tif']
    for name in ('s1s2', 'fusion', 'series'):
        assert inf.image_entries(files, name) == [{'path': 'a.tif'}, {'path': 'b.tif'}]
        with pytest.raises(InferenceError, match='tiled inference reads single-image'):
            inf.predict_scene(files, 'Where is the ship?', modality=name, task='grounding',
                              tile=32)
    with pytest.raises(InferenceError, match='2 files for one optical image'):
        inf.image_entries(files, 'optical')


@pytest.mark.slow
def test_reduced_precision_exports_answer_on_cpu(grounding_checkpoint, tmp_path):
    """A bfloat16 / float16 export answers: through the inferencer, tools/infer.py and the
    web demo's API (pixels are read as float32 and cast to the model's dtype)."""
    import torch
    from fastapi.testclient import TestClient

    from eov.apis.web import create_app
    from eov.models.hf_format import save_pretrained

    from ..helpers import run_tool
    path, records = grounding_checkpoint
    image, prompt = records[0]['images'][0]['path'], _question(records[0])
    bf16 = tmp_path / 'bf16'
    run_tool(['tools/export_hf.py', TINY_CONFIG, path, str(bf16), '--dtype', 'bfloat16'])
    inf = EOVInferencer(str(bf16), batch_size=4)
    assert inf.dtype == torch.bfloat16 and next(inf.model.parameters()).dtype == torch.bfloat16
    pred = inf.predict(image, prompt, task='grounding', max_new_tokens=8)
    assert isinstance(pred.text, str)
    scene = inf.predict_scene(image, prompt, task='grounding', tile=32, overlap=0,
                              max_new_tokens=8, progress=False)
    assert len(scene.tiles) == 4
    with TestClient(create_app(inf)) as client:
        with open(image, 'rb') as f:
            reply = client.post('/api/predict', data=dict(prompt=prompt, task='grounding'),
                                files=[('file', ('x.png', f.read(), 'image/png'))])
    assert reply.status_code == 200, reply.text
    assert reply.json()['text'] == pred.text
    proc = run_tool(['tools/infer.py', str(bf16), '--image', image, '--prompt', prompt,
                     '--task', 'grounding', '--max-new-tokens', '8'])
    assert f'answer: {pred.text}' in proc.stdout
    fp16 = save_pretrained(inf.model.float(), inf.cfg, str(tmp_path / 'fp16'), dtype='float16')
    half = EOVInferencer(fp16)
    assert half.dtype == torch.float16
    assert isinstance(half.predict(image, prompt, max_new_tokens=8).text, str)


def test_band_and_polarisation_errors_say_what_to_give(tmp_path):
    """Files vs band names, and single-polarisation SAR for a dual-pol model: said in the
    terms of a request, with what to give and how a VV-only model is configured."""
    inf = EOVInferencer(os.path.join(os.path.dirname(TINY_CONFIG), 'eov_tiny_multitask.py'),
                        max_new_tokens=2)
    files = []
    for pol in ('VV', 'VH'):
        path = str(tmp_path / f's1_{pol}.tif')
        with rasterio.open(path, 'w', driver='GTiff', width=64, height=64, count=1,
                           dtype='float32', crs='EPSG:32631',
                           transform=from_origin(500000, 4000000, 10, 10)) as dst:
            dst.write(np.random.default_rng(0).uniform(0.001, 0.3, (1, 64, 64))
                      .astype('float32'))
        files.append(path)
    hint = (r"dual-polarisation SAR \(VV \+ VH\): give both polarisations .*; a "
            r"single-polarisation \(e\.g\. VV-only\) model needs a config entry "
            r"dict\(type='sar', bands=\['VV'\]\)")
    with pytest.raises(InferenceError, match=r's1_VV.tif: 1 band, but .*' + hint):
        inf.predict(files[0], 'Describe the image.', modality='sar')
    with pytest.raises(InferenceError, match=r"bands \['VH'\] needed .*" + hint):
        inf.predict(files[0], 'Describe the image.', modality='sar', bands=['VV'])
    # both polarisations, one file each: answered
    pred = inf.predict(files, 'Describe the image.', modality='sar', bands=['VV', 'VH'])
    assert pred.crs == 'EPSG:32631'
    with pytest.raises(InferenceError, match='2 image files but 3 band names for one optical '
                       r'image: name one band per file \(--bands'):
        inf.predict(files, 'Q', sensor='sentinel2_l2a', bands=['B04', 'B03', 'B02'])
