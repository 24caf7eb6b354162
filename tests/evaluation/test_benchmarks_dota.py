"""DOTA v1.0: labelTxt conversion, the devkit's polygon IoU and its VOC AP, by hand."""
import math

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import (DOTA_V1_CLASSES, BenchmarkDataError, OptionError,
                                       PredictionError, evaluate, load_records)
import numpy as np

from eov.evaluation.benchmarks.dota import parse_label_file, rank_detections, read_image_size
from eov.heads import DetectionHead
from eov.registry import BENCHMARKS
from eov.scoring import class_ap, poly_iou, voc_ap

from .benchmark_fixtures import DOTA_FILES, write_dota, write_jsonl


def _convert(tmp_path, **options):
    src = write_dota(str(tmp_path / 'DOTA' / 'val'))
    bench = BENCHMARKS.build(dict(type='dota'))
    out = tmp_path / 'dota.jsonl'
    count = bench.convert(str(tmp_path / 'DOTA'), str(out), split='val', progress=False,
                          **options)
    return bench, load_records(str(out)), count, src


def _square(x, y, w, h=None):
    h = w if h is None else h
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


# -- conversion ---------------------------------------------------------------
def test_converter_reads_labels_sizes_and_difficult_flags(tmp_path):
    bench, records, count, _ = _convert(tmp_path)
    assert count == 3 and list(records) == ['P0001', 'P0002', 'P0003']
    rec = records['P0001']
    validate_record(rec, 'test')
    assert rec['task'] == 'detection' and rec['modality'] == 'optical'
    assert rec['images'] == [{'path': 'DOTA/val/images/P0001.png', 'sensor': 'rgb'}]
    assert rec['meta']['image_size'] == [200, 100]       # from the PNG header
    assert rec['meta']['gsd'] == pytest.approx(0.146343590398)
    assert rec['meta']['imagesource'] == 'GoogleEarth'
    assert rec['targets'][0] == {'type': 'quad', 'points': _square(10.0, 10.0, 20.0),
                                 'label': 'plane', 'difficult': 0}
    assert [t['difficult'] for t in rec['targets']] == [0, 0, 1, 0]
    assert records['P0002']['targets'][0]['difficult'] == 0      # a 9-field line
    assert records['P0003']['targets'] == [] and records['P0003']['meta']['gsd'] == 'null'
    # the question names the 15 classes; the answer (training) serializes every object
    question, placeholder = rec['conversations'][0]['value'].rsplit('\n', 1)
    assert placeholder == '<image>' and question.endswith(', '.join(DOTA_V1_CLASSES) + '.')
    head = DetectionHead(serializer=dict(type='LocTokenSerializer'))
    answer = head.answer_text(rec['targets'], (200, 100))
    assert answer.count('<quad>') == 4 and 'ship' in answer


def test_converter_layouts_options_and_errors(tmp_path):
    # the v1.0 download's labelTxt-v1.0/labelTxt, a split file, no --split
    src = write_dota(str(tmp_path / 'dota'), label_dir='labelTxt-v1.0/labelTxt')
    (tmp_path / 'dota' / 'set.txt').write_text('P0002\nP0001.png\n')
    bench = BENCHMARKS.build(dict(type='dota'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), progress=False, split_file='set.txt') == 2
    assert list(load_records(str(out))) == ['P0002', 'P0001']
    # no image: an error, unless check_images=false (then image_size=W,H if given)
    (tmp_path / 'dota' / 'images' / 'P0003.png').unlink()
    with pytest.raises(BenchmarkDataError, match=r'image file not found for .*P0003.txt'):
        bench.convert(src, str(out), progress=False)
    bench.convert(src, str(out), progress=False, check_images=False, image_size='640,480')
    assert load_records(str(out))['P0003']['meta']['image_size'] == [640, 480]
    # malformed lines name the file and line
    label = tmp_path / 'dota' / 'labelTxt-v1.0' / 'labelTxt' / 'P0002.txt'
    label.write_text('imagesource:GoogleEarth\n0 0 20 0 20 x 0 20 plane 0\n')
    with pytest.raises(BenchmarkDataError, match=r'P0002.txt:2: corner coordinates must be'):
        bench.convert(src, str(out), progress=False, check_images=False)
    label.write_text('0 0 20 0 20 20 0 20 plane hard\n')
    with pytest.raises(BenchmarkDataError, match=r'P0002.txt:1: the difficult flag'):
        bench.convert(src, str(out), progress=False, check_images=False)


def test_hugging_face_torchgeo_layout(tmp_path):
    # torchgeo's DOTA (archives of the isaaccorley/dota Hugging Face dataset): <split>/images/
    # and <split>/annotations/version1.0/, with samples.csv at the root
    root = tmp_path / 'dota'
    write_dota(str(root / 'val'), label_dir='annotations/version1.0')
    (root / 'samples.csv').write_text(',image_path,annotation_path,split,version\n'
                                      '0,val/images/P0001.png,val/annotations/version1.0/P0001.txt,'
                                      'val,1.0\n')
    bench = BENCHMARKS.build(dict(type='dota'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(str(root), str(out), split='val', progress=False) == 3
    rec = load_records(str(out))['P0001']
    assert rec['meta']['source'] == 'val/annotations/version1.0/P0001.txt'
    assert rec['images'][0]['path'] == 'dota/val/images/P0001.png'
    assert len(rec['targets']) == 4
    # annotations/ holding other versions only: the error says so
    (root / 'val' / 'annotations' / 'version1.0').rename(root / 'val' / 'annotations' / 'version2.0')
    with pytest.raises(BenchmarkDataError, match=r'no label folder with .txt files in .*val .*'
                                                  r'annotations/ holds version2.0, not the v1.0'):
        bench.convert(str(root), str(out), split='val', progress=False)


def test_images_unpacked_in_place_are_found(tmp_path):
    # images.zip (or part1.zip, ...) unpacked inside images/ gives images/images/P0001.png
    src = write_dota(str(tmp_path / 'DOTA'))
    inner = tmp_path / 'DOTA' / 'images' / 'images'
    inner.mkdir()
    for name in ('P0001', 'P0002'):
        (tmp_path / 'DOTA' / 'images' / f'{name}.png').rename(inner / f'{name}.png')
    bench = BENCHMARKS.build(dict(type='dota'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), progress=False) == 3
    records = load_records(str(out))
    assert records['P0001']['images'][0]['path'] == 'DOTA/images/images/P0001.png'
    assert records['P0001']['meta']['image_size'] == [200, 100]
    assert records['P0003']['images'][0]['path'] == 'DOTA/images/P0003.png'   # both folders
    (inner / 'P0002.png').unlink()
    with pytest.raises(BenchmarkDataError, match=r'image file not found for .*P0002.txt .*'
                                                  r'in .*images and .*images/images'):
        bench.convert(src, str(out), progress=False)
    # --images names the outer folder: its images/ is searched too
    from PIL import Image
    Image.new('RGB', (100, 100)).save(inner / 'P0002.png')
    assert bench.convert(src, str(out), progress=False, images='images') == 3


def test_label_file_and_image_header(tmp_path):
    path = tmp_path / 'P9.txt'
    path.write_text('imagesource:GoogleEarth\ngsd:0.25\n\n1 2 3 4 5 6 7 8 small-vehicle 2\n'
                    'too short line\n')
    objects, header = parse_label_file(str(path))
    assert header == {'imagesource': 'GoogleEarth', 'gsd': 0.25}
    # the devkit's ImgSplit writes difficult 2 for cut objects; any non-zero is difficult
    assert objects == [{'points': [[1, 2], [3, 4], [5, 6], [7, 8]], 'label': 'small-vehicle',
                        'difficult': 2}]
    root = write_dota(str(tmp_path / 'd'), files=[('P1', (4000, 3000), [], [])])
    assert read_image_size(f'{root}/images/P1.png') == (4000, 3000)


# -- polygon IoU and AP ------------------------------------------------------------
def test_polygon_iou_against_closed_forms():
    unit = [(-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
    r = math.sqrt(0.5)
    diamond = [(0, -r), (r, 0), (0, r), (-r, 0)]          # the unit square turned by 45°
    # intersection: a regular octagon of area 2(sqrt 2 - 1); IoU = 1/sqrt 2
    assert poly_iou(unit, diamond) == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    # the same pair placed in DOTA-size coordinates (the devkit fans out from the origin)
    far = [[(x + 1000, y + 700) for x, y in q] for q in (unit, diamond)]
    assert poly_iou(*far) == pytest.approx(1 / math.sqrt(2), abs=1e-9)
    # two rectangles crossing at right angles: inter 4*4, union 2*4*12 - 16
    a = [(-6, -2), (6, -2), (6, 2), (-6, 2)]
    b = [(-2, -6), (2, -6), (2, 6), (-2, 6)]
    assert poly_iou(a, b) == pytest.approx(16 / 80)
    assert poly_iou(a, a[::-1]) == 1.0                     # orientation does not matter
    assert poly_iou([0, 0, 20, 0, 20, 20, 0, 20], [0, 0, 20, 0, 20, 10, 0, 10]) == 0.5
    assert poly_iou(_square(0, 0, 1), _square(5, 5, 1)) == 0.0
    assert math.isnan(poly_iou([0] * 8, [0] * 8))           # 0/0, as the C++ code


def test_voc_ap_by_hand():
    # recall/precision after each of 5 detections: TP, FP, -, TP, FP with 3 positives
    rec = [1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3]
    prec = [1, 1 / 2, 1 / 2, 2 / 3, 1 / 2]
    # all-point: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0
    assert voc_ap(rec, prec) == pytest.approx(5 / 9)
    # 11-point: t = 0, .1, .2, .3 -> 1; t = .4, .5, .6 -> 2/3; t >= .7 -> 0
    assert voc_ap(rec, prec, use_07_metric=True) == pytest.approx(6 / 11)


def test_class_ap_matching_rules():
    gts = [[(sum(_square(0, 0, 20), []), 0), (sum(_square(50, 0, 20), []), 1)]]
    exact = sum(_square(0, 0, 20), [])
    half = sum(_square(0, 0, 20, 10), [])
    # IoU exactly 0.5 is not a match (the devkit tests ovmax > 0.5)
    assert class_ap(gts, [(0, half)])['tp'] == 0
    assert class_ap(gts, [(0, half)], ovthresh=0.49)['tp'] == 1
    # a duplicate is a false positive; a match with a difficult truth counts neither way
    result = class_ap(gts, [(0, exact), (0, exact), (0, sum(_square(50, 0, 20), []))])
    assert (result['tp'], result['fp'], result['npos']) == (1, 1, 1)
    # a class without ground truth: AP 0 (not nan)
    assert class_ap([[]], [(0, exact)])['ap'] == 0.0


# -- scoring end to end ---------------------------------------------------------
def _scored_predictions():
    return {
        'P0001': {'objects': [
            {'type': 'quad', 'points': _square(10, 10, 20), 'label': 'plane', 'score': 0.9},
            {'type': 'quad', 'points': _square(10, 10, 20), 'label': 'plane', 'score': 0.8},
            {'type': 'quad', 'points': _square(100, 10, 20), 'label': 'plane', 'score': 0.7},
            {'type': 'hbb', 'bbox': [52, 10, 72, 30], 'label': 'plane', 'score': 0.65},
            {'type': 'obb', 'obb': [25, 65, 30, 10, 0], 'label': 'Ship', 'score': 0.3},
            {'type': 'quad', 'points': _square(150, 50, 10), 'label': 'harbor', 'score': 0.2},
            {'type': 'quad', 'points': _square(0, 0, 5), 'label': 'tree', 'score': 0.99},
        ]},
        'P0002': {'objects': [
            {'type': 'quad', 'points': _square(0, 0, 20, 10), 'label': 'plane', 'score': 0.6},
        ]},
        # P0003 is missing
    }


def test_scores_by_hand(tmp_path):
    bench, records, _, _ = _convert(tmp_path)
    out = evaluate(bench, records, _scored_predictions())
    # planes by confidence: A TP, A again FP (duplicate), C difficult (ignored),
    # B (IoU 360/440) TP, D (IoU exactly 0.5) FP; 3 non-difficult planes (A, B, D).
    assert out['AP/plane'] == pytest.approx(6 / 11)     # 11-point, the devkit's main()
    assert out['AP/ship'] == pytest.approx(1.0)          # 'Ship' read as 'ship'
    assert out['AP/harbor'] == 0.0                       # no harbor in the truth
    assert out['mAP@0.5'] == pytest.approx((6 / 11 + 1) / 15)
    assert set(out) >= {f'AP/{c}' for c in DOTA_V1_CLASSES}
    assert (out['n'], out['n_missing'], out['parse_rate'], out['n_det']) == (3, 1, 2 / 3, 7)
    out = evaluate(bench, records, _scored_predictions(), use_07_metric=False)
    assert out['AP/plane'] == pytest.approx(5 / 9)
    out = evaluate(bench, records, _scored_predictions(), classes='plane,ship')
    assert out['mAP@0.5'] == pytest.approx((6 / 11 + 1) / 2) and 'AP/harbor' not in out


def test_unscored_objects_rank_by_answer_order_and_text_answers(tmp_path):
    bench, records, _, _ = _convert(tmp_path)
    preds = {'P0001': {'objects': [
        {'type': 'quad', 'points': _square(150, 60, 10), 'label': 'plane'},   # FP, rank 0
        {'type': 'quad', 'points': _square(10, 10, 20), 'label': 'plane'}]},  # A, rank 1
        'P0002': {'objects': [{'type': 'quad', 'points': _square(0, 0, 20),
                               'label': 'plane'}]}}                          # D, rank 0
    # order: P0001 FP, P0002 D, P0001 A -> precision 0, 1/2, 2/3 at recall 0, 1/3, 2/3
    out = evaluate(bench, records, preds)
    assert out['AP/plane'] == pytest.approx(7 * (2 / 3) / 11)
    # mixing scored and unscored objects is refused
    preds['P0002']['objects'][0]['score'] = 0.5
    with pytest.raises(PredictionError, match='some predicted objects have a "score"'):
        evaluate(bench, records, preds)
    # raw text, decoded with the serializer in the original image's frame
    head = DetectionHead(serializer=dict(type='LocTokenSerializer'))
    text = {rid: {'prediction': head.answer_text(rec['targets'], rec['meta']['image_size'])
                  if rec['targets'] else 'none'} for rid, rec in records.items()}
    text['P0002'] = {'prediction': 'I cannot tell.'}
    out = evaluate(bench, records, text)
    assert out['AP/ship'] == pytest.approx(1.0) and out['parse_rate'] == pytest.approx(2 / 3)
    assert out['AP/plane'] == pytest.approx(7 / 11)      # A, B found; D missed; C difficult


def _tied_detections(tmp_path, scores, tp_index):
    """One image with one plane; detections with ``scores``, the one at ``tp_index`` on it."""
    src = write_dota(str(tmp_path / 'ties'), files=[('P1', (200, 200), [],
                                                     ['0 0 20 0 20 20 0 20 plane 0'])])
    bench = BENCHMARKS.build(dict(type='dota'))
    bench.convert(src, str(tmp_path / 'ties.jsonl'), progress=False)
    records = load_records(str(tmp_path / 'ties.jsonl'))
    objects = [{'type': 'quad', 'points': _square(0, 0, 20) if k == tp_index
                else _square(100 + 4 * k, 150, 3), 'label': 'plane', 'score': score}
               for k, score in enumerate(scores)]
    return bench, records, {'P1': {'objects': objects}}


def test_tied_scores_are_ranked_as_the_devkit(tmp_path):
    # the devkit ranks by np.argsort(-confidence): numpy's default sort, not stable. With one
    # true positive at rank r among false positives, precision there is 1/(r + 1) and recall 1,
    # so the 11-point AP is 1/(r + 1) (every recall threshold sees that precision).
    scores = [0.5, 0.9, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,
              0.5, 0.9, 0.5, 0.5]
    bench, records, preds = _tied_detections(tmp_path, scores, tp_index=0)
    order = np.argsort(-np.array(scores)).tolist()            # dota_evaluation_task1.py's call
    assert rank_detections(scores).tolist() == order
    rank = order.index(0)
    assert evaluate(bench, records, preds, classes='plane')['AP/plane'] == pytest.approx(
        1 / (rank + 1))
    # stable: the four 0.9 first, then the tied 0.5 in answer order: the true positive is 5th
    assert rank_detections(scores, 'stable').tolist()[:5] == [1, 4, 8, 17, 0]
    assert evaluate(bench, records, preds, classes='plane', tie_order='stable')[
        'AP/plane'] == pytest.approx(1 / 5)
    # two tied detections, false positive listed first: AP 1/2 in that order, 1 in the other
    bench, records, preds = _tied_detections(tmp_path, [0.5, 0.5], tp_index=1)
    first = np.argsort(-np.array([0.5, 0.5])).tolist()[0]
    assert evaluate(bench, records, preds, classes='plane')['AP/plane'] == pytest.approx(
        0.5 if first == 0 else 1.0)
    assert evaluate(bench, records, preds, classes='plane', tie_order='stable')[
        'AP/plane'] == pytest.approx(0.5)
    with pytest.raises(OptionError, match='option tie_order must be one of numpy, stable'):
        evaluate(bench, records, preds, tie_order='random')


def test_tied_detections_of_several_images_rank_in_prediction_file_order(tmp_path):
    # The devkit reads Task1_<class>.txt, whose lines a user writes in the order of the
    # predictions file: with tied scores that order decides the ranking. Two images, records
    # P1 then P2; the predictions file lists P2 (a true positive) before P1 (a false positive).
    src = write_dota(str(tmp_path / 'two'), files=[
        ('P1', (200, 200), [], ['0 0 20 0 20 20 0 20 plane 0']),
        ('P2', (200, 200), [], ['0 0 20 0 20 20 0 20 plane 0'])])
    bench = BENCHMARKS.build(dict(type='dota'))
    bench.convert(src, str(tmp_path / 'two.jsonl'), progress=False)
    records = load_records(str(tmp_path / 'two.jsonl'))
    assert list(records) == ['P1', 'P2']
    hit = {'type': 'quad', 'points': _square(0, 0, 20), 'label': 'plane', 'score': 0.5}
    miss = {'type': 'quad', 'points': _square(120, 120, 20), 'label': 'plane', 'score': 0.5}
    preds = {'P2': {'objects': [hit]}, 'P1': {'objects': [miss]}}
    assert np.argsort(-np.array([0.5, 0.5])).tolist() == [0, 1]  # ties keep the file order
    # ranked P2's hit, then P1's miss: precision 1 at recall 1/2, then 1/2 at 1/2
    # -> 11-point AP (6 * 1 + 5 * 0) / 11
    out = evaluate(bench, records, preds, classes='plane')
    assert out['AP/plane'] == pytest.approx(6 / 11)
    assert evaluate(bench, records, preds, classes='plane', tie_order='stable')[
        'AP/plane'] == pytest.approx(6 / 11)
    # the file in record order ranks the miss first: precision 0, then 1/2 at recall 1/2
    in_record_order = {'P1': preds['P1'], 'P2': preds['P2']}
    assert evaluate(bench, records, in_record_order, classes='plane')['AP/plane'] == \
        pytest.approx(6 * 0.5 / 11)


def test_labels_mapped_to_official_names_are_counted_and_strict_is_offered(tmp_path):
    bench, records, preds = _tied_detections(tmp_path, [0.9], tp_index=0)
    preds['P1']['objects'][0]['label'] = 'PLANE'
    out = evaluate(bench, records, preds, classes='plane')
    assert out['AP/plane'] == pytest.approx(1.0) and out['n_mapped'] == 1
    assert any('PLANE (1)' in note and 'label_match=strict' in note for note in bench.notes)
    strict = evaluate(bench, records, preds, classes='plane', label_match='strict')
    assert strict['AP/plane'] == 0.0 and strict['n_mapped'] == 0 and strict['n_det'] == 0
    with pytest.raises(OptionError, match='option label_match must be one of loose, strict'):
        evaluate(bench, records, preds, label_match='exact')


def test_evaluate_tool_end_to_end(tmp_path):
    from ..helpers import run_tool
    write_dota(str(tmp_path / 'DOTA'))
    data = tmp_path / 'dota.jsonl'
    run_tool(['tools/convert_dataset.py', 'dota', str(tmp_path / 'DOTA'), str(data),
              '--no-progress'])
    preds = write_jsonl(str(tmp_path / 'p.jsonl'), [
        {'id': rid, **p} for rid, p in _scored_predictions().items()])
    proc = run_tool(['tools/evaluate.py', 'dota', '--data', str(data), '--predictions', preds,
                     '-s', 'use_07_metric=false'])
    import json
    metrics = json.loads(proc.stdout)
    assert metrics['AP/plane'] == pytest.approx(5 / 9) and metrics['n_missing'] == 1


def test_fixture_lists_every_file():
    assert [name for name, *_ in DOTA_FILES] == ['P0001', 'P0002', 'P0003']
