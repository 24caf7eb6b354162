"""SARLANG-1M VQA and RSVQA-LR/HR: converters and hand-computed scores."""
import json

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import (BenchmarkDataError, OptionError, evaluate,
                                       load_records, sarlang_match)
from eov.registry import BENCHMARKS

from .benchmark_fixtures import write_rsvqa, write_sarlang


# -- SARLANG ------------------------------------------------------------------
@pytest.mark.parametrize('truth, prediction, expected', [
    ('2', 'There are 12 ships.', (True, False)),    # the official substring quirk
    ('no', 'not sure', (True, False)),              # same quirk on words
    ('Yes', 'yes, there is', (True, False)),        # lower-cased both
    ('yes', 'No.', (False, False)),                 # closed answer: exact equality only
    ('3', 'three', (False, False)),
    ('2.', ' 2 ', (True, False)),                   # stripped of spaces and a final period
    ('airport', 'an airfield', (False, True)),      # open answer: needs a judge
])
def test_sarlang_rule(truth, prediction, expected):
    assert sarlang_match('q?', truth, prediction) == expected


def test_sarlang_judge_is_called_with_lower_cased_text():
    calls = []

    def judge(question, truth, prediction):
        calls.append((question, truth, prediction))
        return '1'   # as GPT answers

    assert sarlang_match('What Is It?', 'Airport', 'An Airfield', judge) == (True, True)
    assert calls == [('what is it?', 'airport', 'an airfield')]
    assert sarlang_match('q', 'airport', 'a lake', lambda *a: 0) == (False, True)


def _sarlang_records(tmp_path):
    csv_path, _ = write_sarlang(str(tmp_path / 'src'))
    out = tmp_path / 'sarlang.jsonl'
    bench = BENCHMARKS.build(dict(type='sarlang_vqa'))
    assert bench.convert(csv_path, str(out), progress=False) == 5
    return bench, load_records(str(out))


def test_sarlang_converter(tmp_path):
    _, records = _sarlang_records(tmp_path)
    rec = records['sarlang_vqa_test-0']
    validate_record(rec, 'test')
    assert rec['task'] == 'vqa' and rec['modality'] == 'sar'
    assert rec['images'] == [{'path': 'src/images/s1.png', 'sensor': 'sar_8bit'}]
    assert rec['conversations'][0]['value'] == 'How many ships are there?\n<image>'
    assert rec['targets'] == [{'type': 'text', 'text': '2'}]
    assert rec['meta']['question_type'] == 'counting'
    # a folder: every annotation file whose name holds the split; JSON list rows too
    bench = BENCHMARKS.build(dict(type='sarlang_vqa'))
    out = tmp_path / 'all.jsonl'
    assert bench.convert(str(tmp_path / 'src'), str(out), progress=False) == 6
    assert bench.convert(str(tmp_path / 'src'), str(out), split='extra', progress=False) == 1
    assert json.loads(open(out).readline())['id'] == '77'


def test_sarlang_converter_names_a_missing_column(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('picture,question,answer\nx.png,q?,yes\n')
    with pytest.raises(BenchmarkDataError, match=r'bad.csv: no image column'):
        BENCHMARKS.build(dict(type='sarlang_vqa')).convert(str(bad), str(tmp_path / 'o.jsonl'),
                                                           progress=False)
    bad = tmp_path / 'bad.json'
    bad.write_text('[{"image": "x.png", "question": "q?"')
    with pytest.raises(BenchmarkDataError, match=r'bad.json:1:\d+: invalid JSON'):
        BENCHMARKS.build(dict(type='sarlang_vqa')).convert(str(bad), str(tmp_path / 'o.jsonl'),
                                                           progress=False)


def test_sarlang_scores_by_hand(tmp_path):
    bench, records = _sarlang_records(tmp_path)
    preds = {
        'sarlang_vqa_test-0': {'prediction': 'There are 12 ships.'},   # '2' in '12': correct
        'sarlang_vqa_test-1': {'prediction': 'No'},                    # wrong
        'sarlang_vqa_test-2': {'prediction': 'An airfield'},           # needs a judge
        # 'sarlang_vqa_test-3' is missing
        'sarlang_vqa_test-4': {'prediction': 'three'},                 # wrong (closed answer)
    }
    out = evaluate(bench, records, preds)
    assert out['accuracy'] == pytest.approx(1 / 5)
    assert out['n_needs_judge'] == 1
    assert out['n_judged_correct'] == 0
    assert out['accuracy_upper_bound'] == pytest.approx(2 / 5)
    assert out['accuracy/counting'] == 0.5
    assert (out['n'], out['n_missing'], out['n_unknown']) == (5, 1, 0)
    judged = evaluate(bench, records, preds, judge=lambda q, t, p: True)
    assert judged['accuracy'] == pytest.approx(2 / 5)
    assert judged['n_judged_correct'] == 1
    assert judged['accuracy_upper_bound'] == pytest.approx(2 / 5)
    with pytest.raises(OptionError, match='unknown scoring option'):
        evaluate(bench, records, preds, exclude_types='count')


# -- RSVQA --------------------------------------------------------------------
def _rsvqa(tmp_path, name='rsvqa_lr'):
    src = write_rsvqa(str(tmp_path / 'src'))
    out = tmp_path / 'rsvqa.jsonl'
    bench = BENCHMARKS.build(dict(type=name))
    count = bench.convert(src, str(out), split='test', progress=False)
    return bench, load_records(str(out)), count


def test_rsvqa_converter_skips_inactive_entries(tmp_path):
    _, records, count = _rsvqa(tmp_path)
    assert count == 5
    assert list(records) == ['0', '1', '2', '4', '5']   # question 3 inactive, image 2 inactive
    rec = records['4']
    validate_record(rec, 'test')
    assert rec['images'] == [{'path': 'src/Images_LR/1.tif', 'sensor': 'rgb'}]
    assert rec['targets'] == [{'type': 'text', 'text': '12'}]
    assert rec['meta']['question_type'] == 'count'
    assert rec['conversations'][0]['value'] == 'How many buildings are there?\n<image>'


def test_rsvqa_hr_layout_and_errors(tmp_path):
    src = tmp_path / 'hr'
    src.mkdir()
    write_rsvqa(str(src), prefix='USGS_split_test', image_dir='Data')
    write_rsvqa(str(src), prefix='USGS_split_test_phili', image_dir='Data')
    bench = BENCHMARKS.build(dict(type='rsvqa_hr'))
    out = tmp_path / 'hr.jsonl'
    assert bench.convert(str(src), str(out), split='test_phili', progress=False) == 5
    assert bench.convert(str(src), str(out), split='test', progress=False) == 5
    assert json.loads(open(out).readline())['images'][0]['path'] == 'hr/Data/0.tif'
    with pytest.raises(BenchmarkDataError, match=r'no \*_val_questions.json .*found: '
                       r'USGS_split_test_phili_questions.json, USGS_split_test_questions.json'):
        bench.convert(str(src), str(out), split='val', progress=False)
    (src / 'USGS_split_test_answers.json').write_text('{"answers": [')
    with pytest.raises(BenchmarkDataError, match=r'USGS_split_test_answers.json:1:\d+: '
                       'invalid JSON'):
        bench.convert(str(src), str(out), split='test', progress=False)


def test_rsvqa_average_vs_overall_accuracy_by_hand(tmp_path):
    bench, records, _ = _rsvqa(tmp_path)
    preds = {'0': {'prediction': 'Yes'},        # presence, correct (case-insensitive)
             '1': {'prediction': ' yes '},      # presence, correct (stripped)
             '2': {'prediction': 'no'},         # presence, correct
             '4': {'prediction': '11'},         # count, wrong
             # '5' (presence) is missing
             }
    out = evaluate(bench, records, preds)
    assert out['accuracy/presence'] == 0.75
    assert out['accuracy/count'] == 0.0
    assert out['AA'] == pytest.approx((0.75 + 0.0) / 2)     # mean over types
    assert out['OA'] == pytest.approx(3 / 5)                # pooled
    assert (out['n'], out['n_missing']) == (5, 1)
    no_count = evaluate(bench, records, preds, exclude_types='count')
    assert 'accuracy/count' not in no_count
    assert no_count['AA'] == no_count['OA'] == 0.75
    assert no_count['n'] == 4
