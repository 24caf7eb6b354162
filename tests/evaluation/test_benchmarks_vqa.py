"""SARLANG-1M VQA and RSVQA-LR/HR: converters and hand-computed scores."""
import csv
import json
import os

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import (BenchmarkDataError, OptionError, evaluate,
                                       load_records, sarlang_match)
from eov.registry import BENCHMARKS

from .benchmark_fixtures import convert_and_load, write_rsvqa, write_sarlang


# -- SARLANG ------------------------------------------------------------------
@pytest.mark.parametrize('truth, prediction, expected', [
    ('2', 'There are 12 ships.', (True, False)),    # the official substring quirk
    ('no', 'not sure', (True, False)),              # same quirk on words
    ('Yes', 'yes, there is', (True, False)),        # lower-cased both
    ('yes', 'Yes.', (True, False)),                 # 'yes' is in 'yes.'
    ('yes', 'No.', (False, False)),                 # closed answer: exact equality only
    ('3', 'three', (False, False)),
    ('yes', '', (False, False)),                    # empty answer, closed truth
    ('99', '99.', (True, False)),
    # nothing is stripped from the truth: these are not closed answers -> the judge
    ('yes.', 'yes', (False, True)),
    ('2.', ' 2 ', (False, True)),
    (' no', 'no', (False, True)),
    ('no ', 'no', (False, True)),
    ('100', '99', (False, True)),                   # closed numbers are 0-99 only
    ('07', '7', (False, True)),
    ('a, b', 'A, B.', (True, False)),               # punctuation inside: a substring
    ('top left', 'top-left', (False, True)),
    ('airport', 'an airfield', (False, True)),      # open answer: needs a judge
    ('harbor', '', (False, True)),                  # empty answer, open truth: judged too
])
def test_sarlang_rule(truth, prediction, expected):
    assert sarlang_match('q?', truth, prediction) == expected


def test_sarlang_judge_is_called_with_lower_cased_text():
    calls = []

    def judge(question, truth, prediction):
        calls.append((question, truth, prediction))
        return '1'   # as GPT answers

    assert sarlang_match('What Is It?', 'Airport', 'An Airfield', judge) == (True, True)
    assert sarlang_match('Is It?', 'Yes.', 'YES', judge) == (True, True)
    assert calls == [('what is it?', 'airport', 'an airfield'), ('is it?', 'yes.', 'yes')]
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
    # a folder: one format only (CSV first); the JSON file is named in a note
    bench = BENCHMARKS.build(dict(type='sarlang_vqa'))
    out = tmp_path / 'all.jsonl'
    assert bench.convert(str(tmp_path / 'src'), str(out), progress=False) == 5
    assert 'read the CSV annotation files sarlang_vqa_test.csv' in bench.notes[0]
    assert 'not read (the same data in another format): extra.json' in bench.notes[0]
    assert bench.convert(str(tmp_path / 'src'), str(out), format='json', progress=False) == 1
    assert json.loads(open(out).readline())['id'] == '77'
    assert bench.convert(str(tmp_path / 'src'), str(out), split='extra', progress=False) == 1
    with pytest.raises(OptionError, match='format must be auto, csv, json or jsonl'):
        bench.convert(str(tmp_path / 'src'), str(out), format='xml', progress=False)


def test_sarlang_converter_names_a_missing_column(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('picture,question,answer\nx.png,q?,yes\n')
    with pytest.raises(BenchmarkDataError, match=r'bad.csv:1: no image column'):
        BENCHMARKS.build(dict(type='sarlang_vqa')).convert(str(bad), str(tmp_path / 'o.jsonl'),
                                                           progress=False)
    bad = tmp_path / 'bad.json'
    bad.write_text('[{"image": "x.png", "question": "q?"')
    with pytest.raises(BenchmarkDataError, match=r'bad.json:1:\d+: invalid JSON'):
        BENCHMARKS.build(dict(type='sarlang_vqa')).convert(str(bad), str(tmp_path / 'o.jsonl'),
                                                           progress=False)
    bad.write_text('[{"image": "x.png", "question": "q?", "answer": "  "}]')
    with pytest.raises(BenchmarkDataError, match=r'bad.json\[0\]: no answer'):
        BENCHMARKS.build(dict(type='sarlang_vqa')).convert(
            str(bad), str(tmp_path / 'o.jsonl'), progress=False, check_images=False)


#: SARLANG-1M rows of the replica: (image, question, answer, id); SARVQA2 reuses ids 0, 1.
SARVQA1_TEST = [('0009787.jpg', 'How many ships are there?', '2', 0),
                ('0009787.jpg', 'Is there a bridge?', 'Yes.', 1),
                ('0009788.jpg', 'Where is the harbor?', ' top left', 2)]
SARVQA2_TEST = [('SV_Darwin_-12.4278_130.8688.png', 'What is the land cover?', 'Urban.', 0),
                ('SV_Darwin_-12.4278_130.8688.png', 'Is there a road?', 'yes', 1)]


def write_sarlang_root(root):
    """A SARLANG-1M download: SARimages/, Text/VQA/ with each split as CSV and as JSON."""
    images = os.path.join(root, 'SARimages')
    os.makedirs(images)
    for name in ('0009787.jpg', '0009788.jpg', 'SV_Darwin_-12.4278_130.8688.png'):
        open(os.path.join(images, name), 'wb').close()
    vqa = os.path.join(root, 'Text', 'VQA')
    os.makedirs(vqa)
    os.makedirs(os.path.join(root, 'Text', 'caption'))
    with open(os.path.join(root, 'Text', 'caption', 'Caption_test.csv'), 'w') as f:
        f.write('image,caption\n0009787.jpg,ships\n')
    for stem, rows in (('SARVQA1_test', SARVQA1_TEST), ('SARVQA2_test', SARVQA2_TEST),
                       ('SARVQA1_train', SARVQA1_TEST[:1])):
        with open(os.path.join(vqa, f'{stem}.csv'), 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['id', 'image', 'question', 'answer'])
            writer.writerows([(i, img, q, a) for img, q, a, i in rows])
        # the same rows as ShareGPT-style JSON (messages + images)
        with open(os.path.join(vqa, f'{stem}.json'), 'w') as f:
            json.dump([{'id': i, 'images': [f'SARimages/{img}'], 'messages': [
                {'role': 'user', 'content': f'<image>{q}'},
                {'role': 'assistant', 'content': a}]} for img, q, a, i in rows], f)
    return root


def _content(records):
    return sorted((r['images'][0]['path'], r['conversations'][0]['value'],
                   r['targets'][0]['text']) for r in records.values())


def test_sarlang_dataset_root_reads_one_format_and_tolerates_repeated_ids(tmp_path):
    root = write_sarlang_root(str(tmp_path / 'SARLANG_1M'))
    bench = BENCHMARKS.build(dict(type='sarlang_vqa'))
    out = tmp_path / 'conv' / 'csv.jsonl'
    # 5 test rows, read once (not 10), although each split is there as CSV and JSON and
    # SARVQA1/SARVQA2 both use ids 0 and 1
    assert bench.convert(root, str(out), progress=False) == 5
    assert bench.notes[0].startswith("sarlang_vqa: SRC is the dataset root: reading the 'test'")
    assert 'read the CSV annotation files SARVQA1_test.csv, SARVQA2_test.csv' in bench.notes[1]
    assert 'not read (the same data in another format): SARVQA1_test.json, ' \
        'SARVQA2_test.json' in bench.notes[1]
    assert bench.notes[2] == ("sarlang_vqa: 2 rows repeat an id seen before; they were given "
                              "the id with '#2', '#3', ... appended")
    records = load_records(str(out))
    assert list(records) == ['0', '1', '2', '0#2', '1#2']
    assert records['0']['images'] == [{'path': '../SARLANG_1M/SARimages/0009787.jpg',
                                       'sensor': 'sar_8bit'}]
    assert records['0#2']['images'][0]['path'] == \
        '../SARLANG_1M/SARimages/SV_Darwin_-12.4278_130.8688.png'
    # answers exactly as stored: the official scorer strips nothing
    assert records['1']['targets'] == [{'type': 'text', 'text': 'Yes.'}]
    assert records['2']['targets'] == [{'type': 'text', 'text': ' top left'}]
    # the JSON copy gives the same questions
    json_out = tmp_path / 'conv' / 'json.jsonl'
    assert bench.convert(root, str(json_out), format='json', progress=False) == 5
    assert 'read the JSON annotation files SARVQA1_test.json, SARVQA2_test.json' \
        in bench.notes[1]
    assert _content(load_records(str(json_out))) == _content(records)
    assert bench.convert(root, str(out), split='train', progress=False) == 1
    os.remove(os.path.join(root, 'SARimages', '0009788.jpg'))
    with pytest.raises(BenchmarkDataError, match=r'image file not found: 0009788.jpg \(looked '
                       r'for .*SARimages/0009788.jpg'):
        bench.convert(root, str(out), progress=False)
    with pytest.raises(BenchmarkDataError, match=r"no .jsonl annotation files in .*VQA with "
                       r"'test' in the name \(found 2 .csv, 2 .json"):
        bench.convert(root, str(out), format='jsonl', split='test', progress=False)


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


def test_sarlang_punctuated_truths_go_to_the_judge_by_hand(tmp_path):
    root = write_sarlang_root(str(tmp_path / 'SARLANG_1M'))
    bench, records, _ = convert_and_load('sarlang_vqa', root, tmp_path / 'conv.jsonl')
    preds = {
        '0': {'prediction': '2'},          # '2' == '2': correct
        '1': {'prediction': 'yes'},        # truth 'yes.' (from 'Yes.'): not in 'yes', not a
                                           # closed answer -> judge (was 'correct' when stripped)
        '2': {'prediction': 'top left'},   # truth ' top left' not in 'top left' -> judge
        '0#2': {'prediction': None},       # null: the empty answer; 'urban.' -> judge
        '1#2': {'prediction': 'Yes.'},     # 'yes' in 'yes.': correct
    }
    out = evaluate(bench, records, preds)
    assert out['accuracy'] == pytest.approx(2 / 5)
    assert out['n_needs_judge'] == 3
    assert out['accuracy_upper_bound'] == pytest.approx(5 / 5)
    assert (out['n'], out['n_missing']) == (5, 0)
    seen = []
    judged = evaluate(bench, records, preds,
                      judge=lambda q, t, p: seen.append((t, p)) or t.strip(' .') == p)
    assert sorted(seen) == [(' top left', 'top left'), ('urban.', ''), ('yes.', 'yes')]
    assert judged['accuracy'] == pytest.approx(4 / 5)
    assert judged['n_judged_correct'] == 2


# -- RSVQA --------------------------------------------------------------------
def _rsvqa(tmp_path, name='rsvqa_lr', **options):
    src = write_rsvqa(str(tmp_path / 'src'))
    return convert_and_load(name, src, tmp_path / 'rsvqa.jsonl', split='test', **options)


def test_rsvqa_converter_follows_the_official_loader(tmp_path):
    # VQALoader.py: every question listed by an active image, whatever its own flag
    bench, records, count = _rsvqa(tmp_path)
    assert count == 6
    assert list(records) == ['0', '1', '2', '3', '4', '5']   # image 2 (question 6) inactive
    assert records['3']['meta']['inactive'] == ['question']
    assert 'inactive' not in records['2']['meta']
    assert bench.notes == []
    rec = records['4']
    validate_record(rec, 'test')
    assert rec['images'] == [{'path': 'src/Images_LR/1.tif', 'sensor': 'rgb'}]
    assert rec['targets'] == [{'type': 'text', 'text': '12'}]
    assert rec['meta']['question_type'] == 'count'
    assert rec['conversations'][0]['value'] == 'How many buildings are there?\n<image>'


def test_rsvqa_skip_inactive_option(tmp_path):
    bench, records, count = _rsvqa(tmp_path, skip_inactive='true')
    assert count == 5
    assert list(records) == ['0', '1', '2', '4', '5']
    assert bench.notes == ['rsvqa_lr: skipped 1 questions marked inactive on active images '
                           '(skip_inactive)']


def test_rsvqa_inactive_answers(tmp_path):
    src = write_rsvqa(str(tmp_path / 'src'))
    path = os.path.join(src, 'LR_split_test_answers.json')
    data = json.load(open(path))
    data['answers'][5]['active'] = False              # question 5's only answer
    json.dump(data, open(path, 'w'))
    bench = BENCHMARKS.build(dict(type='rsvqa_lr'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), split='test', progress=False) == 6
    records = load_records(str(out))
    assert records['5']['meta']['inactive'] == ['answer']
    assert records['5']['targets'] == [{'type': 'text', 'text': 'no'}]    # still its answer
    assert bench.convert(src, str(out), split='test', progress=False, skip_inactive=True) == 4
    assert bench.notes == [
        'rsvqa_lr: skipped 1 questions marked inactive on active images (skip_inactive)',
        'rsvqa_lr: skipped 1 active questions whose answer is inactive (skip_inactive)']
    # an inactive question without text: the official loader would fail on it as well
    path = os.path.join(src, 'LR_split_test_questions.json')
    data = json.load(open(path))
    data['questions'][3] = {'id': 3, 'active': False}
    json.dump(data, open(path, 'w'))
    with pytest.raises(BenchmarkDataError, match=r"LR_split_test_questions.json: question 3 has "
                       r"no 'question' \(it is marked inactive: -o skip_inactive=true"):
        bench.convert(src, str(out), split='test', progress=False)
    assert bench.convert(src, str(out), split='test', progress=False, skip_inactive=True) == 4


def test_rsvqa_hr_layout_and_errors(tmp_path):
    src = tmp_path / 'hr'
    src.mkdir()
    write_rsvqa(str(src), prefix='USGS_split_test', image_dir='Data')
    write_rsvqa(str(src), prefix='USGS_split_test_phili', image_dir='Data')
    bench = BENCHMARKS.build(dict(type='rsvqa_hr'))
    out = tmp_path / 'hr.jsonl'
    assert bench.convert(str(src), str(out), split='test_phili', progress=False) == 6
    assert bench.convert(str(src), str(out), split='test', progress=False) == 6
    assert json.loads(open(out).readline())['images'][0]['path'] == 'hr/Data/0.tif'
    with pytest.raises(BenchmarkDataError, match=r'no \*_val_questions.json .*found: '
                       r'USGS_split_test_phili_questions.json, USGS_split_test_questions.json'):
        bench.convert(str(src), str(out), split='val', progress=False)
    with pytest.raises(OptionError, match='skip_inactive expects a boolean'):
        bench.convert(str(src), str(out), split='test', progress=False, skip_inactive='maybe')
    (src / 'USGS_split_test_answers.json').write_text('{"answers": [')
    with pytest.raises(BenchmarkDataError, match=r'USGS_split_test_answers.json:1:\d+: '
                       'invalid JSON'):
        bench.convert(str(src), str(out), split='test', progress=False)


def test_rsvqa_average_vs_overall_accuracy_by_hand(tmp_path):
    bench, records, _ = _rsvqa(tmp_path)
    preds = {'0': {'prediction': 'Yes'},        # presence, correct (case-insensitive)
             '1': {'prediction': ' yes '},      # presence, correct (stripped)
             '2': {'prediction': 'no'},         # presence, correct
             '3': {'prediction': 'no'},         # presence, inactive question: wrong ('yes')
             '4': {'prediction': '11'},         # count, wrong
             # '5' (presence) is missing
             }
    out = evaluate(bench, records, preds)
    assert out['accuracy/presence'] == 0.6                  # 3 of 5
    assert out['accuracy/count'] == 0.0
    assert out['AA'] == pytest.approx((0.6 + 0.0) / 2)      # mean over types
    assert out['OA'] == pytest.approx(3 / 6)                # pooled
    assert (out['n'], out['n_missing'], out['n_inactive']) == (6, 1, 1)
    # the variant: inactive questions left out at scoring time
    active = evaluate(bench, records, preds, skip_inactive=True)
    assert active['accuracy/presence'] == 0.75
    assert active['AA'] == pytest.approx(0.375)
    assert active['OA'] == pytest.approx(3 / 5)
    assert (active['n'], active['n_missing'], active['n_inactive']) == (5, 1, 0)
    no_count = evaluate(bench, records, preds, exclude_types='count')
    assert 'accuracy/count' not in no_count
    assert no_count['AA'] == no_count['OA'] == 0.6
    assert no_count['n'] == 5
    both = evaluate(bench, records, preds, exclude_types='count', skip_inactive='true')
    assert both['AA'] == both['OA'] == 0.75
    assert (both['n'], both['n_missing'], both['n_inactive']) == (4, 1, 0)
