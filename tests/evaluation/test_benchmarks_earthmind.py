"""EarthMind-Bench MCQ: fusion records and the official scoring loop."""
import json
import os

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, load_records
from eov.registry import BENCHMARKS

from .benchmark_fixtures import convert_and_load, write_earthmind


def _convert(tmp_path):
    src = write_earthmind(str(tmp_path / 'bench'))
    return convert_and_load('earthmind_bench', src, tmp_path / 'earthmind.jsonl')


def test_converter_writes_fusion_choice_records(tmp_path):
    bench, records, count = _convert(tmp_path)
    assert count == 3
    assert bench.notes == ['earthmind_bench: skipped 1 entries without "candidate" options '
                           '(open-ended questions): object_counting 1']
    assert list(records) == ['object_counting-0', 'object_counting-1', 'scene_classification-0']
    rec = records['object_counting-0']
    validate_record(rec, 'test')
    assert rec['task'] == 'choice' and rec['modality'] == 'fusion'
    # file_name 'scene_1.json' -> scene_1.png, as the official inference script does
    assert rec['images'] == [
        {'path': 'bench/rgb/img/scene_1.png', 'sensor': 'rgb', 'modality': 'optical'},
        {'path': 'bench/sar/img/scene_1.png', 'sensor': 'sar_8bit', 'modality': 'sar'}]
    assert rec['conversations'][0]['value'] == \
        'How many ships are there?\nA. 1\nB. 2\nC. 3\n<image>'
    assert rec['targets'] == [{'type': 'choice', 'choices': ['A. 1', 'B. 2', 'C. 3'],
                               'answer': 'A'}]
    assert rec['meta']['file'] == 'object_counting'
    assert rec['meta']['task_type'] == 'counting'
    assert 'answer_raw' not in rec['meta']


def test_converter_errors(tmp_path):
    src = tmp_path / 'bench'
    write_earthmind(str(src))
    (src / 'sar' / 'img' / 'scene_2.png').unlink()
    bench = BENCHMARKS.build(dict(type='earthmind_bench'))
    with pytest.raises(BenchmarkDataError, match=r'image file not found: .*sar/img/scene_2.png'):
        bench.convert(str(src), str(tmp_path / 'o.jsonl'), progress=False)
    assert bench.convert(str(src), str(tmp_path / 'o.jsonl'), progress=False,
                         check_images=False) == 3
    (src / 'object_counting.json').write_text('[{"file_name": "x.png", "answer": "A"}]')
    with pytest.raises(BenchmarkDataError, match=r'object_counting.json\[0\]: missing question'):
        bench.convert(str(src), str(tmp_path / 'o.jsonl'), progress=False)
    # no "answer" key at all: the official inference script fails on it (KeyError)
    (src / 'object_counting.json').write_text('[{"file_name": "x.png", "question": "q?"}]')
    with pytest.raises(BenchmarkDataError, match=r'object_counting.json\[0\]: missing answer'):
        bench.convert(str(src), str(tmp_path / 'o.jsonl'), progress=False)


def write_earthmind_download(root):
    """The layout of the sy1998/EarthMind-Bench download: json/*.json, img/test/{rgb,sar}/img."""
    data = {
        'object_counting_all_unmatched': [
            {'file_name': 'dfc2025_TrainArea_333.json', 'question': 'How many ships?',
             'candidate': ['A. 1', 'B. 2'], 'answer': 'A', 'task_type': 'counting'},
            {'file_name': 'dfc2025_TrainArea_334.json', 'question': 'How many tanks?',
             'candidate': ['A. 1', 'B. 2'], 'answer': 2, 'task_type': 'counting'},
            {'file_name': 'dfc2025_TrainArea_334.json', 'question': 'How many cars?',
             'candidate': ['A. 1', 'B. 2'], 'answer': None, 'task_type': 'counting'},
        ],
        'scene_classification_unmatched': [
            {'file_name': 'dfc2025_TrainArea_333.json', 'question': 'Which scene?',
             'candidate': ['A. harbour', 'B. forest'], 'answer': 'A', 'task_type': 'scene'},
            {'file_name': 'dfc2025_TrainArea_334.json', 'question': 'Which land use?',
             'candidate': ['A. urban', 'B. rural'], 'answer': 'B', 'task_type': 'scene'},
        ],
        'caption_all_unmatched': [      # open-ended: no options
            {'file_name': 'dfc2025_TrainArea_333.json', 'question': 'Describe the image.',
             'answer': 'A harbour.', 'task_type': 'caption'},
        ],
    }
    os.makedirs(os.path.join(root, 'json'))
    for stem, items in data.items():
        with open(os.path.join(root, 'json', f'{stem}.json'), 'w') as f:
            json.dump(items, f)
    for modality in ('rgb', 'sar'):
        folder = os.path.join(root, 'img', 'test', modality, 'img')
        os.makedirs(folder)
        for name in ('dfc2025_TrainArea_333.png', 'dfc2025_TrainArea_334.png'):
            open(os.path.join(folder, name), 'wb').close()
    return root


def test_converter_reads_the_download_root(tmp_path):
    root = write_earthmind_download(str(tmp_path / 'EarthMind-Bench'))
    bench = BENCHMARKS.build(dict(type='earthmind_bench'))
    out = tmp_path / 'conv' / 'em.jsonl'
    assert bench.convert(root, str(out), progress=False) == 4
    assert bench.notes == [
        'earthmind_bench: skipped 1 entries without "candidate" options (open-ended '
        'questions): caption_all_unmatched 1',
        'earthmind_bench: skipped 1 entries whose answer is null (the official loop never '
        'scores them): object_counting_all_unmatched 1']
    records = load_records(str(out))
    assert list(records) == ['object_counting_all_unmatched-0', 'object_counting_all_unmatched-1',
                             'scene_classification_unmatched-0',
                             'scene_classification_unmatched-1']
    rec = records['object_counting_all_unmatched-0']
    assert [img['path'] for img in rec['images']] == [
        '../EarthMind-Bench/img/test/rgb/img/dfc2025_TrainArea_333.png',
        '../EarthMind-Bench/img/test/sar/img/dfc2025_TrainArea_333.png']
    # a number as answer: text in the target, the value itself in meta
    rec = records['object_counting_all_unmatched-1']
    assert rec['targets'][0]['answer'] == '2' and rec['meta']['answer_raw'] == 2
    # one file of the json/ folder: the image root is found above it
    one = os.path.join(root, 'json', 'scene_classification_unmatched.json')
    assert bench.convert(one, str(out), progress=False) == 2
    assert load_records(str(out))['scene_classification_unmatched-1']['images'][1]['path'] == \
        '../EarthMind-Bench/img/test/sar/img/dfc2025_TrainArea_334.png'
    assert bench.convert(root, str(out), split='scene', progress=False) == 2


def test_official_loop_by_hand(tmp_path):
    root = write_earthmind_download(str(tmp_path / 'EarthMind-Bench'))
    bench, records, _ = convert_and_load('earthmind_bench', root, tmp_path / 'em.jsonl')
    preds = {
        'object_counting_all_unmatched-0': {'prediction': 'A'},      # right
        'object_counting_all_unmatched-1': {'prediction': '2'},      # answer is the number 2:
                                                                     # '2' == 2 is False, wrong
        'scene_classification_unmatched-0': {'prediction': None},    # null: not counted
        # 'scene_classification_unmatched-1' has no line: not counted
    }
    m = evaluate(bench, records, preds)
    assert m['accuracy'] == 0.5                                      # 1 right of 2 counted
    assert m['accuracy/object_counting_all_unmatched'] == 0.5
    assert m['n/object_counting_all_unmatched'] == 2
    assert m['accuracy/scene_classification_unmatched'] == 0.0       # nothing counted
    assert m['n/scene_classification_unmatched'] == 0
    assert (m['n'], m['n_scored'], m['n_missing'], m['n_null']) == (4, 2, 1, 1)
    assert m['n_nonstring_answer'] == 1
    assert m['accuracy_all'] == 0.25                                 # 1 right of 4 records
    preds['scene_classification_unmatched-0'] = {'prediction': 'A. harbour'}   # not 'A'
    preds['scene_classification_unmatched-1'] = {'prediction': 'B'}
    m = evaluate(bench, records, preds)
    assert m['accuracy'] == 0.5                                      # 2 of 4
    assert m['accuracy/scene_classification_unmatched'] == 0.5
    assert (m['n_scored'], m['n_missing'], m['n_null'], m['accuracy_all']) == (4, 0, 0, 0.5)


def test_raw_string_equality_by_hand(tmp_path):
    bench, records, _ = _convert(tmp_path)
    preds = {
        'object_counting-0': {'prediction': 'A.'},                 # 'A' != 'A.': wrong
        'object_counting-1': {'prediction': 'B'},                  # correct
        'scene_classification-0': {'prediction': 'B. harbour'},    # correct
        'unknown': {'prediction': 'A'},
    }
    out = evaluate(bench, records, preds)
    assert out['accuracy'] == pytest.approx(2 / 3)
    assert out['accuracy/object_counting'] == 0.5
    assert out['accuracy/scene_classification'] == 1.0
    assert (out['n'], out['n_missing'], out['n_unknown']) == (3, 0, 1)
    preds['object_counting-1'] = {'prediction': 'b'}               # case matters too
    preds['object_counting-0'] = {'prediction': ' A'}              # and spaces
    del preds['scene_classification-0']                             # missing: not counted
    out = evaluate(bench, records, preds)
    assert out['accuracy'] == 0.0
    assert (out['n_scored'], out['n_missing'], out['accuracy_all']) == (2, 1, 0.0)
