"""tools/convert_dataset.py and tools/evaluate.py end to end; the plugin protocol."""
import json
import os

import pytest

from eov.evaluation.benchmarks import (BaseBenchmark, OptionError, PredictionError,
                                       load_predictions)
from eov.registry import BENCHMARKS

from ..helpers import load_tool, run_tool
from .benchmark_fixtures import write_jsonl, write_rsvg

NAMES = ['bigearthnet_v1', 'dior_rsvg', 'earthmind_bench', 'opt_rsvg', 'rsvqa_hr', 'rsvqa_lr',
         'sarlang_vqa']


def test_every_benchmark_is_registered_with_its_protocol():
    assert set(NAMES) <= set(BENCHMARKS.own_names())
    for name in NAMES:
        bench = BENCHMARKS.build(dict(type=name))
        assert isinstance(bench, BaseBenchmark) and bench.name == name
        assert 'n' in bench.metric_keys and 'n_missing' in bench.metric_keys
        assert bench.task is not None


def test_unknown_convert_option_is_refused(tmp_path):
    src = write_rsvg(str(tmp_path / 'src'))
    with pytest.raises(OptionError, match='unknown option.*colour.*accepted: annotations'):
        BENCHMARKS.build(dict(type='dior_rsvg')).convert(src, str(tmp_path / 'o.jsonl'),
                                                         colour='red')


@pytest.mark.parametrize('line, message', [
    ('{"id": "1", "prediction": "x"}\n{"id": 1, "prediction": "y"}', r'p.jsonl:2: id .1. '
     r'repeats line 1'),
    ('{"id": "1", "prediction": "x"}\n{"prediction": "y"}', r'p.jsonl:2: missing or invalid "id"'),
    ('{"id": "1"}', r'p.jsonl:1 \(id 1\): needs "prediction"'),
    ('{"id": "1", "prediction": 3}', r'p.jsonl:1 \(id 1\): "prediction" must be text'),
    ('{"id": "1", "objects": {}}', r'"objects" must be a list'),
    ('\n\n{"id": "1", "prediction": "x"', r'p.jsonl:3: invalid JSON'),
    ('[1, 2]', r'p.jsonl:1: a prediction must be a JSON object'),
])
def test_malformed_prediction_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / 'p.jsonl'
    path.write_text(line)
    with pytest.raises(PredictionError, match=message):
        load_predictions(str(path))


def test_convert_and_evaluate_end_to_end(tmp_path):
    src = write_rsvg(str(tmp_path / 'DIOR_RSVG'))
    data = tmp_path / 'conv' / 'test.jsonl'
    proc = run_tool(['tools/convert_dataset.py', 'dior_rsvg', src, str(data), '--split', 'test',
                     '--no-progress'])
    assert 'dior_rsvg: 4 records' in proc.stdout
    preds = write_jsonl(str(tmp_path / 'pred.jsonl'), [
        {'id': '0', 'objects': [{'type': 'hbb', 'bbox': [0, 0, 64, 32]}]},      # IoU 0.5
        {'id': 2, 'objects': [{'type': 'hbb', 'bbox': [50, 50, 150, 150]}]},    # int id; IoU 1
        {'id': '3', 'prediction': 'Here: {<25><25><75><75>}'},                    # GeoChat, IoU 1
        {'id': '4', 'prediction': None},                                         # no answer
        {'id': 'x', 'prediction': 'unknown id'},
    ])
    out = tmp_path / 'metrics' / 'm.json'
    proc = run_tool(['tools/evaluate.py', 'dior_rsvg', '--data', str(data), '--predictions',
                     preds, '--serializer', 'GeoChatTextSerializer', '--out', str(out)])
    metrics = json.loads(out.read_text())
    assert metrics == json.loads(proc.stdout)
    assert metrics['Pr@0.5'] == 0.5          # 0.5 is not > 0.5 in MGVLF's protocol
    assert metrics['meanIoU'] == pytest.approx(2.5 / 4)
    assert metrics['parse_rate'] == 0.75
    assert (metrics['n'], metrics['n_missing'], metrics['n_unknown']) == (4, 0, 1)
    # the same file, scored as OPT-RSVG would score it (>= t), and with a serializer config
    metrics = load_tool('evaluate').main(['opt_rsvg', '--data', str(data), '--predictions', preds,
                                      '--serializer', '{"type": "GeoChatTextSerializer"}'])
    assert metrics['Pr@0.5'] == 0.75



def _exit_message(main, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return str(info.value.code)


def test_tools_fail_with_clear_messages(tmp_path):
    convert, evaluate = load_tool('convert_dataset').main, load_tool('evaluate').main
    src = write_rsvg(str(tmp_path / 'src'))
    with open(os.path.join(src, 'test.txt'), 'a') as f:
        f.write('41\n')
    out = str(tmp_path / 'o.jsonl')
    msg = _exit_message(convert, ['dior_rsvg', src, out, '--split', 'test', '--no-progress'])
    assert msg.startswith('error: ') and 'test.txt:5: object index 41 is out of range' in msg
    msg = _exit_message(convert, ['dior_rvsg', src, out])
    assert "Did you mean 'dior_rsvg'" in msg
    msg = _exit_message(convert, ['dior_rsvg', src, out, '-o', 'colour=red'])
    assert 'unknown option(s) colour' in msg
    data = write_jsonl(str(tmp_path / 'd.jsonl'), [{
        'id': '0', 'task': 'vqa', 'modality': 'optical', 'images': [{'path': 'x.tif'}],
        'conversations': [{'from': 'human', 'value': 'Q?\n<image>'},
                          {'from': 'assistant', 'value': None}],
        'targets': [{'type': 'text', 'text': 'yes'}], 'meta': {'question_type': 'presence'}}])
    preds = tmp_path / 'p.jsonl'
    preds.write_text('{"id": "0", "prediction": "yes"}\nnot json\n')
    msg = _exit_message(evaluate, ['rsvqa_lr', '--data', data, '--predictions', str(preds)])
    assert msg == f'error: {preds}:2: invalid JSON (Expecting value)'
    preds.write_text('{"id": "0", "prediction": "yes"}\n')
    msg = _exit_message(evaluate, ['rsvqa_lr', '--data', data, '--predictions', str(preds),
                                   '--judge', 'json:loads'])
    assert 'unknown scoring option(s) judge' in msg
    msg = _exit_message(evaluate, ['rsvqa_lr', '--data', data, '--predictions', str(preds),
                                   '--serializer', 'NoSuchSerializer'])
    assert "'NoSuchSerializer' is not registered" in msg
    metrics = evaluate(['rsvqa_lr', '--data', data, '--predictions', str(preds),
                        '-s', 'exclude_types=["count"]'])
    assert metrics['OA'] == 1.0
