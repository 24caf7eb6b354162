"""OPT-RSVG (LPVA) and DIOR-RSVG (MGVLF): converters and hand-computed scores."""
import json
import os

import numpy as np
import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, load_records
from eov.evaluation.benchmarks.rsvg import grounding_phrase, lpva_boxes, mgvlf_truth
from eov.registry import BENCHMARKS

from .benchmark_fixtures import write_rsvg


def _convert(tmp_path, name, image_dir, split='test', **options):
    src = write_rsvg(str(tmp_path / 'src'), image_dir=image_dir)
    out = tmp_path / 'out' / f'{split}.jsonl'
    bench = BENCHMARKS.build(dict(type=name))
    count = bench.convert(src, str(out), split=split, progress=False, **options)
    return bench, load_records(str(out)), count


def test_converter_uses_global_indices_in_sorted_file_order(tmp_path):
    bench, records, count = _convert(tmp_path, 'dior_rsvg', 'JPEGImages')
    assert count == 4
    assert list(records) == ['0', '2', '3', '4']   # one record per listed index, in order
    rec = records['0']                              # a.xml, object 0
    validate_record(rec, 'test')
    assert rec['task'] == 'grounding' and rec['modality'] == 'optical'
    assert rec['images'] == [{'path': '../src/JPEGImages/a.jpg', 'sensor': 'rgb'}]
    assert rec['targets'] == [{'type': 'hbb', 'bbox': [0.0, 0.0, 64.0, 64.0],
                               'label': 'An airplane on the upper left'}]
    assert rec['meta']['image_size'] == [128, 128]
    assert rec['meta']['class'] == 'airplane'
    human, assistant = rec['conversations']
    # the grounding head's canonical question (seed None), the same for every record
    assert human['value'] == 'Where is the airplane on the upper left?\n<image>'
    assert records['2']['conversations'][0]['value'] == 'Where is the storage tank?\n<image>'
    assert records['3']['conversations'][0]['value'] == \
        'Where is the white vehicle in the middle?\n<image>'
    assert assistant == {'from': 'assistant', 'value': None}
    assert records['2']['targets'][0]['label'] == 'a storage tank'   # b.xml
    assert records['3']['meta']['source'] == 'c.xml#object0'
    assert records['4']['targets'][0]['bbox'] == [0.0, 64.0, 128.0, 128.0]


def test_converter_without_split_writes_every_object_and_honours_overrides(tmp_path):
    src = write_rsvg(str(tmp_path / 'src'), image_dir='Image')
    out = tmp_path / 'all.jsonl'
    bench = BENCHMARKS.build(dict(type='opt_rsvg'))     # OPT-RSVG's default folder is Image/
    assert bench.convert(src, str(out), progress=False) == 5
    assert [json.loads(line)['id'] for line in open(out)] == ['0', '1', '2', '3', '4']
    first = json.loads(open(out).readline())
    assert first['images'][0]['path'] == 'src/Image/a.jpg'

    src = write_rsvg(str(tmp_path / 'other'), image_dir='pics')
    dior = BENCHMARKS.build(dict(type='dior_rsvg'))
    with pytest.raises(BenchmarkDataError, match='no images folder .* JPEGImages'):
        dior.convert(src, str(out), split='test', progress=False)
    assert dior.convert(src, str(out), split='test', images='pics', progress=False) == 4
    assert json.loads(open(out).readline())['images'][0]['path'] == 'other/pics/a.jpg'
    with pytest.raises(BenchmarkDataError, match=r'split file not found: looked for '
                       r'\S*other/nope.txt and \S*other/split/nope.txt \(split files in '
                       r'\S*other: test.txt, train.txt, val.txt; -o split_file=\.\.\. names one\)'):
        dior.convert(src, str(out), split='nope', images='pics', progress=False)


def _archive_layout(root):
    """OPT-RSVG as its archives unpack: Annotations/, Image/, split/{train,val,test}.txt."""
    write_rsvg(str(root), image_dir='Image')
    os.makedirs(root / 'split')
    for name in ('train', 'val', 'test'):
        os.replace(root / f'{name}.txt', root / 'split' / f'{name}.txt')
    return root


def test_opt_rsvg_reads_the_archive_layout_with_split_folder(tmp_path):
    root = _archive_layout(tmp_path / 'OPT-RSVG')
    out = tmp_path / 'test.jsonl'
    opt = BENCHMARKS.build(dict(type='opt_rsvg'))
    assert opt.convert(str(root), str(out), split='test', progress=False) == 4
    records = load_records(str(out))
    assert list(records) == ['0', '2', '3', '4']
    assert records['0']['images'][0]['path'] == 'OPT-RSVG/Image/a.jpg'
    assert opt.convert(str(root), str(out), split='train', progress=False) == 1
    assert list(load_records(str(out))) == ['1']
    # -o split_file= still names any list: relative to SRC, or absolute
    (root / 'mine.txt').write_text('3\n')
    assert opt.convert(str(root), str(out), split_file='mine.txt', progress=False) == 1
    assert opt.convert(str(root), str(out), split_file=str(root / 'split' / 'test.txt'),
                       progress=False) == 4
    with pytest.raises(BenchmarkDataError, match=r'split file not found: \S*OPT-RSVG/x.txt'):
        opt.convert(str(root), str(out), split_file='x.txt', progress=False)
    # a missing split names both places looked in and the lists that are there
    with pytest.raises(BenchmarkDataError, match=r'looked for \S*OPT-RSVG/split/testA.txt and '
                       r'\S*OPT-RSVG/testA.txt \(split files in \S*OPT-RSVG: mine.txt, '
                       r'split/test.txt, split/train.txt, split/val.txt'):
        opt.convert(str(root), str(out), split='testA', progress=False)
    # dior_rsvg looks in SRC first (MGVLF's layout) and accepts split/ too
    root = _archive_layout(tmp_path / 'dior')
    (root / 'JPEGImages').mkdir()
    for stem in 'abc':
        (root / 'JPEGImages' / f'{stem}.jpg').touch()
    (root / 'test.txt').write_text('1\n')
    dior = BENCHMARKS.build(dict(type='dior_rsvg'))
    assert dior.convert(str(root), str(out), split='test', progress=False) == 1
    assert dior.convert(str(root), str(out), split='train', progress=False) == 1


def test_grounding_phrase():
    assert grounding_phrase('A green and brown  golf field.') == 'green and brown golf field'
    assert grounding_phrase('the ship') == 'ship'


@pytest.mark.parametrize('breakage, message', [
    (lambda root: (root / 'test.txt').write_text('0\n17\n'), r'test.txt:2: object index 17 is '
     r'out of range: the annotations hold 5 objects'),
    (lambda root: (root / 'test.txt').write_text('0\nx\n'), r'test.txt:2: not an object index'),
    (lambda root: (root / 'Annotations' / 'a.xml').write_text(
        (root / 'Annotations' / 'a.xml').read_text().replace(
            '<description>An airplane on the upper left</description>', '')),
     r'a.xml: object 0: missing <description>'),
    (lambda root: (root / 'Annotations' / 'b.xml').write_text('<annotation><object>'),
     r'b.xml: malformed XML'),
    (lambda root: (root / 'Annotations' / 'a.xml').write_text(
        (root / 'Annotations' / 'a.xml').read_text().replace('<width>128</width>', '')),
     r'a.xml: missing <size/width>'),
    (lambda root: (root / 'JPEGImages' / 'c.jpg').unlink(), r'image file not found: .*c.jpg'),
])
def test_converter_errors_name_the_file(tmp_path, breakage, message):
    root = tmp_path / 'src'
    write_rsvg(str(root))
    breakage(root)
    out = tmp_path / 'out.jsonl'
    with pytest.raises(BenchmarkDataError, match=message):
        BENCHMARKS.build(dict(type='dior_rsvg')).convert(str(root), str(out), split='test',
                                                        progress=False)
    assert not out.exists() and not (tmp_path / 'out.jsonl.partial').exists()


def _predictions():
    return {
        # IoU exactly 0.5: inter 64x32, union 64x64
        '0': {'id': '0', 'objects': [{'type': 'hbb', 'bbox': [0, 0, 64, 32]}]},
        # partly outside the 100x100 image: clamped to [50, 50, 100, 100] -> IoU 1
        # (without clamping it would be 2500 / 10000 = 0.25)
        '2': {'id': '2', 'objects': [{'type': 'hbb', 'bbox': [50, 50, 150, 150]}]},
        # '3' is missing
        '4': {'id': '4', 'prediction': 'I cannot find the bridge.'},     # unreadable
        '99': {'id': '99', 'prediction': '<box><loc_1><loc_1><loc_2><loc_2></box>'},  # unknown
    }


def test_opt_rsvg_protocol_by_hand(tmp_path):
    bench, records, _ = _convert(tmp_path, 'opt_rsvg', 'Image')
    out = evaluate(bench, records, _predictions())
    # IoUs: 0.5, 1.0, 0 (missing), 0 (unreadable); LPVA counts IoU >= t
    assert out['Pr@0.5'] == 0.5
    assert out['Pr@0.6'] == out['Pr@0.7'] == out['Pr@0.8'] == out['Pr@0.9'] == 0.25
    assert out['meanIoU'] == pytest.approx(1.5 / 4)
    # normalised units: inters .125 + .25; unions .25 + .25 + .25 (truth of the
    # missing one) + .5 (truth of the unreadable one)
    assert out['cumIoU'] == pytest.approx(0.375 / 1.25)
    assert out['parse_rate'] == 0.5
    assert (out['n'], out['n_missing'], out['n_unknown']) == (4, 1, 1)


def test_dior_rsvg_protocol_by_hand(tmp_path):
    bench, records, _ = _convert(tmp_path, 'dior_rsvg', 'JPEGImages')
    out = evaluate(bench, records, _predictions())
    # MGVLF's truth goes through the 640-px letterbox as integers, clamped to 639:
    # '0' (128 px, x5): [0, 0, 320, 320] -> [0, 0, 64, 64], unchanged; IoU exactly 0.5
    # '2' (100 px, x6.4): [320, 320, 640, 640] -> [320, 320, 639, 639] -> [50, 50, 99.84375,
    #     99.84375]; the prediction, clamped to [50, 50, 100, 100], covers it: IoU
    #     49.84375^2 / 50^2 = 0.993759765625
    # '4' (128 px): [0, 64, 128, 128] -> [0, 320, 639, 639] -> [0, 64, 127.8, 127.8]
    # MGVLF counts IoU > t: the exact 0.5 is a miss
    assert out['Pr@0.5'] == 0.25
    assert out['Pr@0.9'] == 0.25
    assert out['meanIoU'] == pytest.approx((0.5 + 0.993759765625) / 4)
    # unions: 4096 ('0'), 2500 ('2'), 4096 (truth of the missing '3'), 127.8 x 63.8 (truth of
    # the unreadable '4', 8153.640625 in float32)
    assert out['cumIoU'] == pytest.approx((2048 + 49.84375 ** 2) / (4096 + 2500 + 4096
                                                                     + 8153.640625))
    assert out['parse_rate'] == 0.5
    assert (out['n'], out['n_missing'], out['n_unknown']) == (4, 1, 1)


def _record(rid, bbox, size=(100, 100)):
    return {'id': rid, 'task': 'grounding', 'modality': 'optical',
            'images': [{'path': 'x.png'}],
            'conversations': [{'from': 'human', 'value': 'Where?\n<image>'},
                              {'from': 'assistant', 'value': None}],
            'targets': [{'type': 'hbb', 'bbox': bbox}], 'meta': {'image_size': list(size)}}


def _one(name, truth, pred, size):
    """Metrics of one record: Pr@t is 1.0 for a hit, 0.0 for a miss."""
    records = {'a': _record('a', truth, size)}
    preds = {'a': {'id': 'a', 'objects': [{'type': 'hbb', 'bbox': pred}]}}
    return BENCHMARKS.build(dict(type=name)).score(records, preds)


def _naive_iou(a, b):
    """IoU in float64 pixels, the way one would write it without the official code."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_mgvlf_clamps_one_sided_and_keeps_negative_areas():
    # MGVLF raises x1/y1 to 0 and lowers x2/y2 to the image; a box entirely to the
    # right keeps x1 = 120 > x2 = 100 and a negative area (-20 x 50) in the union.
    # The truth [50, 0, 100, 50] of the 100-px image becomes [50, 0, 99.84375, 50]
    # (x2: 640 -> 639 -> 639 / 6.4): area 49.84375 x 50 = 2492.1875.
    records = {'a': _record('a', [50, 0, 100, 50]), 'b': _record('b', [0, 0, 10, 10])}
    preds = {'a': {'id': 'a', 'objects': [{'type': 'hbb', 'bbox': [120, 0, 150, 50]}]},
             'b': {'id': 'b', 'objects': [{'type': 'hbb', 'bbox': [0, 0, 10, 10]}]}}
    dior = BENCHMARKS.build(dict(type='dior_rsvg')).score(records, preds)
    assert dior['meanIoU'] == 0.5
    assert dior['cumIoU'] == pytest.approx(100 / ((2492.1875 - 1000) + 100))
    # LPVA clamps to [0, 1] on both sides: the box collapses to zero width
    opt = BENCHMARKS.build(dict(type='opt_rsvg')).score(records, preds)
    assert opt['cumIoU'] == pytest.approx(0.01 / (0.25 + 0.01))


@pytest.mark.parametrize('truth, pred, naive, official, changed', [
    # truth 101 px wide on an 800-px image: 101 x 0.8 = 80.8 -> 80 -> 80 / 0.8 = 100
    ([0, 0, 101, 101], [0, 0, 106, 106], 101 ** 2 / 106 ** 2, 100 ** 2 / 106 ** 2, 0.9),
    ([0, 0, 101, 101], [0, 0, 112, 112], 101 ** 2 / 112 ** 2, 100 ** 2 / 112 ** 2, 0.8),
    ([0, 0, 101, 101], [0, 0, 95, 95], 95 ** 2 / 101 ** 2, 95 ** 2 / 100 ** 2, 0.9),
    # the right/bottom border: 800 x 0.8 = 640 -> clamped to 639 -> 798.75
    ([600, 600, 800, 800], [610, 610, 800, 800], 190 ** 2 / 200 ** 2,
     188.75 ** 2 / (190 ** 2 + 198.75 ** 2 - 188.75 ** 2), 0.9),
])
def test_mgvlf_truth_quantisation_decides_verdicts(truth, pred, naive, official, changed):
    assert _naive_iou(truth, pred) == pytest.approx(naive)
    out = _one('dior_rsvg', truth, pred, (800, 800))
    assert out['meanIoU'] == pytest.approx(official, rel=1e-6)
    for t in (0.5, 0.6, 0.7, 0.8, 0.9):
        assert out[f'Pr@{t:g}'] == float(official > t)
    assert (naive > changed) != (official > changed)     # the verdict the artefact flips


def test_mgvlf_truth_by_hand_on_a_non_square_image():
    # 111 x 700: ratio 640/700, the letterbox is round(111 x 640/700) = 101 px wide, dw = 269.5;
    # x1: 0 + 269.5 -> 269 -> (269 - 269.5) / ratio = -0.546875 (the image clamp lifts it to 0)
    # x2: 101.49 + 269.5 = 370.99 -> 370 -> 100.5 x 700/640 = 109.921875
    # y2: 640 -> 639 -> 639 x 700/640 = 698.90625; the frame: round(101 / ratio) = 110 px wide
    truth, frame = mgvlf_truth([[0, 0, 111, 700]], [[111, 700]])
    assert truth.dtype == np.float32
    assert truth[0].tolist() == pytest.approx([-0.546875, 0, 109.921875, 698.90625], rel=1e-6)
    assert frame[0].tolist() == [110, 700]
    # so a prediction of the whole image is cut to x2 = 110 before the IoU
    out = _one('dior_rsvg', [0, 0, 111, 700], [0, 0, 111, 700], (111, 700))
    assert out['meanIoU'] == pytest.approx(109.921875 * 698.90625 / (110 * 700), rel=1e-6)


def test_lpva_resizes_width_and_height_separately():
    # 1000 x 500 is stretched to 640 x 640 (x by 0.64, y by 1.28), not letterboxed (which
    # would divide y by 1000 too): [250, 125, 750, 375] -> [160, 160, 480, 480] -> [.25 .. .75]
    boxes = lpva_boxes([[250, 125, 750, 375], [0, 0, 1000, 500]], [[1000, 500], [1000, 500]])
    assert boxes.dtype == np.float32
    assert boxes.tolist() == [[0.25, 0.25, 0.75, 0.75], [0, 0, 1, 1]]


def test_lpva_decides_an_exact_tie_as_its_float32_pipeline_does():
    # Truth [100, 100, 120, 300], prediction [100, 100, 110, 300] on 800 x 800: exactly half
    # of the truth, IoU 10 x 200 / (20 x 200) = 0.5 in pixels (and in float64: a hit at >= 0.5).
    truth, pred = [100, 100, 120, 300], [100, 100, 110, 300]
    assert _naive_iou(truth, pred) == 0.5
    # LPVA: x0.8 (float32 0.8000000119 -> 80, 80, 96, 240 and 80, 80, 88, 240 exactly), to
    # xywh and / 640: truth centre 88/640, width 16/640; prediction centre 84/640, width
    # 8/640, none exact in float32. Back to xyxy the truth spans x 0.125 .. 0.15000000596 and
    # the prediction x 0.12499999255 .. 0.13749998808: a width of 0.01249999553 against
    # 0.02500000596, IoU 0.49999925 < 0.5 -- LPVA's verdict is a miss.
    norm = lpva_boxes([truth, pred], [[800, 800]] * 2)
    assert norm[0].tolist() == [0.125, 0.125, np.float32(0.15000000596046448), 0.375]
    assert norm[1].tolist() == [np.float32(0.1249999925494194), 0.125,
                                np.float32(0.13749998807907104), 0.375]
    out = _one('opt_rsvg', truth, pred, (800, 800))
    assert out['meanIoU'] == pytest.approx(0.49999925, abs=1e-8)
    assert out['Pr@0.5'] == 0.0
    # the other way: [200, 100, 218, 300] against its left half [200, 100, 209, 300] comes
    # out of the same pipeline at exactly 0.5 -- a hit (dividing x by W in float32 gives
    # 0.49999934, a miss)
    out = _one('opt_rsvg', [200, 100, 218, 300], [200, 100, 209, 300], (800, 800))
    assert out['meanIoU'] == 0.5 and out['Pr@0.5'] == 1.0


def test_text_answers_are_decoded_with_the_chosen_serializer():
    records = {'a': _record('a', [32, 32, 96, 96], size=(128, 128))}
    preds = {'a': {'id': 'a', 'prediction': 'It is here: {<25><25><75><75>}'}}
    bench = BENCHMARKS.build(dict(type='opt_rsvg'))
    assert bench.score(records, preds, serializer='GeoChatTextSerializer')['meanIoU'] == 1.0
    # the default location-token serializer does not read GeoChat text
    assert bench.score(records, preds)['parse_rate'] == 0.0
    preds = {'a': {'id': 'a', 'prediction': '<box><loc_250><loc_250><loc_749><loc_749></box>'}}
    # bins of 0.128 px: decoded to [32.064, 32.064, 95.936, 95.936]
    assert bench.score(records, preds)['meanIoU'] == pytest.approx((63.872 / 64) ** 2, abs=1e-6)
