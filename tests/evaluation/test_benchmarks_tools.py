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
    # IoUs 0.5, 49.84375^2 / 50^2 (MGVLF's truth of the 100-px image ends at 639 / 6.4), 1, 0
    assert metrics['meanIoU'] == pytest.approx((0.5 + 0.993759765625 + 1) / 4)
    assert 'WARNING' not in proc.stderr
    assert metrics['parse_rate'] == 0.75
    assert (metrics['n'], metrics['n_missing'], metrics['n_unknown']) == (4, 0, 1)
    # the same file, scored as OPT-RSVG would score it (>= t), and with a serializer config
    metrics = load_tool('evaluate').main(['opt_rsvg', '--data', str(data), '--predictions', preds,
                                      '--serializer', '{"type": "GeoChatTextSerializer"}'])
    assert metrics['Pr@0.5'] == 0.75


#: What a LocTokenSerializer(bins=32) model (configs/eov_tiny_synth.py) answers on the
#: write_rsvg test split; 4-px bins on the 128-px images, 3.125-px bins on the 100-px one.
BINS32_ANSWERS = {
    '0': '<box><loc_0><loc_0><loc_15><loc_15></box>',     # [2, 2, 62, 62] for [0, 0, 64, 64]
    '2': '<box><loc_16><loc_16><loc_31><loc_31></box>',   # [51.5625 .. 98.4375], 100-px image
    '3': '<box><loc_8><loc_8><loc_23><loc_23></box>',     # [34, 34, 94, 94] for [32, 32, 96, 96]
    '4': '<box><loc_0><loc_16><loc_31><loc_31></box>',    # [2, 66, 126, 126] for [0, 64, 128, 128]
}


def _converted(tmp_path):
    src = write_rsvg(str(tmp_path / 'DIOR_RSVG'))
    data = str(tmp_path / 'test.jsonl')
    BENCHMARKS.build(dict(type='dior_rsvg')).convert(src, data, split='test', progress=False)
    return data


def test_evaluate_reads_the_serializer_from_the_model_config(tmp_path, capsys):
    evaluate = load_tool('evaluate').main
    data = _converted(tmp_path)
    preds = write_jsonl(str(tmp_path / 'p.jsonl'), [
        {'id': rid, 'prediction': f'Here: {text}'} for rid, text in BINS32_ANSWERS.items()])
    metrics = evaluate(['dior_rsvg', '--data', data, '--predictions', preds,
                        '--config', 'configs/eov_tiny_synth.py'])     # serializer bins=32
    # 60^2 / 64^2 twice; against MGVLF's truths (clamped to 639 at the 640-px scale)
    # [50, 50, 99.84375, 99.84375] of the 100-px image and [0, 64, 127.8, 127.8]:
    # 46.875^2 / 49.84375^2 and 124 x 60 / (127.8 x 63.8)
    ious = [3600 / 4096, 46.875 ** 2 / 49.84375 ** 2, 3600 / 4096, 7440 / (127.8 * 63.8)]
    assert metrics['meanIoU'] == pytest.approx(sum(ious) / 4, rel=1e-6)
    assert metrics['Pr@0.8'] == 1.0 and metrics['Pr@0.9'] == 0.25
    assert metrics['parse_rate'] == 1.0
    assert 'WARNING' not in capsys.readouterr().err
    # the same answers through the default LocTokenSerializer(bins=1000) all parse, but
    # land in the top-left 3% of each image; the tool says so
    metrics = evaluate(['dior_rsvg', '--data', data, '--predictions', preds])
    assert metrics['parse_rate'] == 1.0 and metrics['Pr@0.5'] == 0.0
    assert metrics['meanIoU'] < 0.01
    err = capsys.readouterr().err
    assert 'WARNING: every location token of the 4 answers is below <loc_125> (the largest ' \
           'is <loc_31>), while LocTokenSerializer(bins=1000) (the default; see --config)' in err
    assert '--config CFG' in err
    # tools/infer.py lines carry the objects its model decoded: those are scored, no warning
    preds = write_jsonl(str(tmp_path / 'infer.jsonl'), [
        {'id': rid, 'prediction': text, 'objects': [{'type': 'hbb', 'bbox': [0, 0, 64, 64]}]}
        for rid, text in BINS32_ANSWERS.items()])
    assert evaluate(['dior_rsvg', '--data', data, '--predictions', preds])['Pr@0.5'] > 0
    assert 'WARNING' not in capsys.readouterr().err
    preds = str(tmp_path / 'p.jsonl')
    # an export directory names its serializer in config.json
    from eov.models.hf_format import MODEL_TYPE, WEIGHTS_NAME
    export = tmp_path / 'export'
    export.mkdir()
    (export / WEIGHTS_NAME).write_bytes(b'')
    (export / 'config.json').write_text(json.dumps({'model_type': MODEL_TYPE, 'eov': {
        'model': {'type': 'EarthOneVision',
                  'serializer': {'type': 'LocTokenSerializer', 'bins': 32}}}}))
    assert evaluate(['dior_rsvg', '--data', data, '--predictions', preds, '--config',
                     str(export)])['meanIoU'] == pytest.approx(sum(ious) / 4, rel=1e-6)


def test_evaluate_warns_when_most_answers_cannot_be_read(tmp_path, capsys):
    data = _converted(tmp_path)
    preds = write_jsonl(str(tmp_path / 'p.jsonl'), [
        {'id': '0', 'prediction': 'Here: {<0><0><50><50>}'},                    # GeoChat text
        {'id': '2', 'prediction': 'It is at {<50><50><100><100>}'},
        {'id': '3', 'prediction': '<box><loc_250><loc_250><loc_749><loc_749></box>'},
    ])                                                                          # '4' missing
    evaluate = load_tool('evaluate').main
    assert evaluate(['dior_rsvg', '--data', data, '--predictions', preds])['parse_rate'] == 0.25
    # 1 of the 4 records, but 1 of the 3 answers given: the warning is about the answers
    err = capsys.readouterr().err
    assert 'WARNING: parse rate 33.3%: only 1 of the 3 answers could be read with ' \
           'LocTokenSerializer(bins=1000) (the default; see --config); if the model writes ' \
           'its answers in another format, give its config (--config CFG) or its serializer ' \
           '(--serializer).' in err.splitlines()
    metrics = evaluate(['dior_rsvg', '--data', data, '--predictions', preds,
                        '--serializer', 'GeoChatTextSerializer'])
    assert metrics['parse_rate'] == 0.5 and 'WARNING' not in capsys.readouterr().err


def test_evaluate_config_errors(tmp_path):
    evaluate = load_tool('evaluate').main
    data = _converted(tmp_path)
    preds = write_jsonl(str(tmp_path / 'p.jsonl'), [{'id': '0', 'prediction': 'x'}])
    base = ['dior_rsvg', '--data', data, '--predictions', preds]
    msg = _exit_message(evaluate, base + ['--config', str(tmp_path / 'nope.py')])
    assert msg.startswith('error: --config ') and 'nope.py: no such file' in msg
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("model = dict(type='EarthOneVision')\n")
    msg = _exit_message(evaluate, base + ['--config', str(cfg)])
    assert msg == f'error: --config {cfg} names no serializer (neither model.serializer nor ' \
                  'a top-level serializer)'
    cfg.write_text("model = dict(\n")
    assert 'cannot load it' in _exit_message(evaluate, base + ['--config', str(cfg)])
    # the model's own serializer decides over a stale top-level copy (as tools/export_hf.py)
    cfg.write_text("serializer = dict(type='GeoChatTextSerializer')\n"
                   "model = dict(type='EarthOneVision', serializer=dict(type='LocTokenSerializer',"
                   " bins=32))\n")
    assert load_tool('evaluate').config_serializer(str(cfg)) == {'type': 'LocTokenSerializer',
                                                                 'bins': 32}
    with pytest.raises(SystemExit) as info:          # one source of the serializer only
        evaluate(base + ['--config', str(cfg), '--serializer', 'GeoChatTextSerializer'])
    assert info.value.code == 2



def _exit_message(main, argv):
    """The ``error:`` line of a tool's exit: printed with status 2 (tools/evaluate.py) or
    as the exit message (status 1)."""
    import contextlib
    import io
    err = io.StringIO()
    with pytest.raises(SystemExit) as info, contextlib.redirect_stderr(err):
        main(argv)
    if info.value.code == 2 and err.getvalue().startswith('error: '):
        return err.getvalue().strip().splitlines()[0]
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
