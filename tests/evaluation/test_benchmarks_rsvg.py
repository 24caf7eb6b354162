"""OPT-RSVG (LPVA) and DIOR-RSVG (MGVLF): converters and hand-computed scores."""
import json

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, load_records
from eov.evaluation.benchmarks.rsvg import grounding_phrase
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
    assert 'airplane on the upper left' in human['value']
    assert human['value'].endswith('\n<image>') and human['value'].count('<image>') == 1
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
    with pytest.raises(BenchmarkDataError, match='split file not found: .*nope.txt'):
        dior.convert(src, str(out), split='nope', images='pics', progress=False)


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
    assert not out.exists() and not (tmp_path / 'out.jsonl.tmp').exists()


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
    # MGVLF counts IoU > t: the exact 0.5 is a miss
    assert out['Pr@0.5'] == 0.25
    assert out['Pr@0.9'] == 0.25
    assert out['meanIoU'] == pytest.approx(1.5 / 4)
    assert out['cumIoU'] == pytest.approx((2048 + 2500) / (4096 + 2500 + 4096 + 8192))
    assert out['parse_rate'] == 0.5
    assert (out['n'], out['n_missing'], out['n_unknown']) == (4, 1, 1)


def _record(rid, bbox, size=(100, 100)):
    return {'id': rid, 'task': 'grounding', 'modality': 'optical',
            'images': [{'path': 'x.png'}],
            'conversations': [{'from': 'human', 'value': 'Where?\n<image>'},
                              {'from': 'assistant', 'value': None}],
            'targets': [{'type': 'hbb', 'bbox': bbox}], 'meta': {'image_size': list(size)}}


def test_mgvlf_clamps_one_sided_and_keeps_negative_areas():
    # MGVLF raises x1/y1 to 0 and lowers x2/y2 to the image; a box entirely to the
    # right keeps x1 = 120 > x2 = 100 and a negative area (-20 x 50) in the union.
    records = {'a': _record('a', [50, 0, 100, 50]), 'b': _record('b', [0, 0, 10, 10])}
    preds = {'a': {'id': 'a', 'objects': [{'type': 'hbb', 'bbox': [120, 0, 150, 50]}]},
             'b': {'id': 'b', 'objects': [{'type': 'hbb', 'bbox': [0, 0, 10, 10]}]}}
    dior = BENCHMARKS.build(dict(type='dior_rsvg')).score(records, preds)
    assert dior['meanIoU'] == 0.5
    assert dior['cumIoU'] == pytest.approx(100 / ((2500 - 1000) + 100))
    # LPVA clamps to [0, 1] on both sides: the box collapses to zero width
    opt = BENCHMARKS.build(dict(type='opt_rsvg')).score(records, preds)
    assert opt['cumIoU'] == pytest.approx(0.01 / (0.25 + 0.01))


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
