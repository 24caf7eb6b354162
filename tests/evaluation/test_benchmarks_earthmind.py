"""EarthMind-Bench MCQ: fusion records and raw string equality."""
import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, load_records
from eov.registry import BENCHMARKS

from .benchmark_fixtures import write_earthmind


def _convert(tmp_path):
    src = write_earthmind(str(tmp_path / 'bench'))
    bench = BENCHMARKS.build(dict(type='earthmind_bench'))
    out = tmp_path / 'earthmind.jsonl'
    count = bench.convert(src, str(out), progress=False)
    return bench, load_records(str(out)), count


def test_converter_writes_fusion_choice_records(tmp_path):
    bench, records, count = _convert(tmp_path)
    assert count == 3
    assert bench.notes == ['earthmind_bench: skipped 1 entries without "candidate" options '
                           '(open-ended questions)']
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
    del preds['scene_classification-0']                             # missing: wrong
    out = evaluate(bench, records, preds)
    assert out['accuracy'] == 0.0
    assert out['n_missing'] == 1
