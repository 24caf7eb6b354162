"""Bad input to eov's tools ends in one ``error:`` line naming the file / key / record (exit 2).

Cases of issue 20 (items 9-11): each used to end in a traceback or a silent wrong answer.
"""
import json

import pytest

from ..helpers import load_tool


def _tool_error(tool, argv):
    """Run ``tools/TOOL.py`` in a fresh process (one that builds a runner: MMEngine's logger
    keeps the stream it first saw); return its ``error:`` line (exit 2, no traceback)."""
    import os
    import subprocess
    import sys

    from ..conftest import ROOT
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, f'tools/{tool}.py', *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def _one_line_error(capsys, tool, argv, code=2):
    """Run ``tools/TOOL.py`` in-process; return its ``error:`` line (exit ``code``)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        load_tool(tool).main(argv)
    out = capsys.readouterr()
    err = out.err.strip().splitlines()
    assert info.value.code == code, (info.value.code, out.err)
    assert err and err[0].startswith('error: '), out.err
    assert 'Traceback' not in out.err, out.err
    return err[0]


def test_list_plugins_names_a_module_that_cannot_be_imported(capsys, tmp_path, monkeypatch):
    line = _one_line_error(capsys, 'list_plugins', ['--import', 'not_a_module'])
    assert "--import not_a_module: no module named 'not_a_module'" in line
    # a plugin that exists but fails while importing is named with its own error
    (tmp_path / 'broken_plugin.py').write_text('import not_installed_dependency\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    line = _one_line_error(capsys, 'list_plugins', ['--import', 'broken_plugin'])
    assert '--import broken_plugin: importing it failed' in line
    assert 'not_installed_dependency' in line


def test_evaluate_names_the_line_of_a_predictions_file_that_is_not_utf8(tmp_path, capsys):
    from ..evaluation.benchmark_fixtures import write_rsvg
    from eov.registry import BENCHMARKS
    data = str(tmp_path / 'test.jsonl')
    BENCHMARKS.build(dict(type='dior_rsvg')).convert(write_rsvg(str(tmp_path / 'src')), data,
                                                     split='test', progress=False)
    preds = tmp_path / 'pred.jsonl'
    preds.write_bytes(b'{"id": "0", "prediction": "x"}\n{"id": "2", "prediction": "caf\xe9"}\n')
    line = _one_line_error(capsys, 'evaluate', ['dior_rsvg', '--data', data,
                                                '--predictions', str(preds)])
    assert f'{preds}:2: not UTF-8' in line and '0xe9' in line


def test_a_config_with_a_syntax_error_names_its_file_and_line(tmp_path, capsys):
    from ..conftest import TINY_CONFIG
    bad = tmp_path / 'bad_base.py'
    bad.write_text('a = 1\nmodel = dict(\n    x=1,,\n)\n')
    line = _one_line_error(capsys, 'train', [str(bad), '--work-dir', str(tmp_path / 'w')])
    assert f'{bad}:3: syntax error' in line and 'x=1,,' in line
    # in a _base_ file: the base file is named, not the child
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['bad_base.py']\nb = 2\n")
    line = _one_line_error(capsys, 'test', [str(child), 'nope.pth', '--model-from-config',
                                            '--work-dir', str(tmp_path / 'w')])
    assert f'{bad}:3: syntax error' in line
    # an error while the config's Python runs names the file too
    child.write_text(f"_base_ = ['{TINY_CONFIG}']\nimage_size = undefined_name\n")
    line = _one_line_error(capsys, 'train', [str(child), '--work-dir', str(tmp_path / 'w')])
    assert f'{child}: cannot load the config (NameError' in line


@pytest.mark.parametrize('tool', ['train', 'test'])
@pytest.mark.parametrize('option, message', [
    ('train_cfg.max_iters', '--cfg-options train_cfg.max_iters: expected KEY=VALUE'),
    ('=4', '--cfg-options =4: expected KEY=VALUE'),
    ('train_cfg.max_iters=abc', "--cfg-options train_cfg.max_iters='abc': must be a positive "
                                'whole number'),
    ('train_cfg.max_iters=0', '--cfg-options train_cfg.max_iters=0: must be a positive'),
    ('train_dataloader.batch_size=0', '--cfg-options train_dataloader.batch_size=0: must be'),
    ('test_dataloader.num_workers=-1', 'test_dataloader.num_workers=-1: must be a whole number '
                                       '>= 0'),
    ('model.serializer=${nope.x}', "config reference ${nope.x} at model.serializer: 'nope.x' "
                                   'is not a key of the config'),
])
def test_a_bad_override_is_one_error_line(tool, option, message, synth_data, tmp_path, capsys):
    from ..conftest import TINY_CONFIG
    args = [TINY_CONFIG, *(['nope.pth', '--model-from-config'] if tool == 'test' else []),
            '--work-dir',
            str(tmp_path / 'w'), '--cfg-options', f'data_root={synth_data}', option]
    assert message in _one_line_error(capsys, tool, args)


def test_test_tool_exits_2_for_a_missing_or_unreadable_checkpoint(tmp_path, capsys):
    from ..conftest import TINY_CONFIG
    line = _one_line_error(capsys, 'test', [TINY_CONFIG, str(tmp_path / 'nope.pth'),
                                            '--work-dir', str(tmp_path / 'w')])
    assert 'nope.pth' in line and 'not found' in line
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint\n')
    line = _one_line_error(capsys, 'test', [TINY_CONFIG, str(garbage), '--work-dir',
                                            str(tmp_path / 'w')])
    assert f'{garbage}: not a readable' in line


def test_a_visual_token_count_the_model_cannot_make_is_refused_by_key():
    from eov.engine.config import ConfigError
    from eov.engine.image_tokens import check_pipeline_modalities, fill_image_tokens

    def loader(tokens):
        step = dict(type='TokenizeConversation', tokenizer={})
        if tokens is not None:
            step['image_tokens'] = tokens
        return dict(dataset=dict(ann_file='train.jsonl', pipeline=[dict(type='LoadImages'),
                                                                     step]))
    counts = {'optical': 16, 'sar': 16}
    assert fill_image_tokens([loader(None), loader(16), loader({'optical': 16})], counts) == 1
    with pytest.raises(ConfigError, match=r"train_dataloader \(train.jsonl\): pipeline\[1\] "
                       r'TokenizeConversation image_tokens=10 cannot match the model, which '
                       r"makes \{'optical': 16, 'sar': 16\}"):
        fill_image_tokens([loader(10)], counts)
    with pytest.raises(ConfigError, match=r"test_dataloader .*image_tokens=\{'sar': 9\}"):
        fill_image_tokens([None, None, loader({'sar': 9})], counts)
    with pytest.raises(ConfigError, match="modality 'video' of the dataset"):
        check_pipeline_modalities([dict(dataset=dict(modalities=['video'], pipeline=[]))],
                                  ['optical'])


@pytest.mark.slow
def test_the_tools_print_the_new_config_errors_as_one_line(synth_data, tmp_path):
    """A visual-token override that cannot match, flash_varlen on a CPU: tracebacks before."""
    from ..conftest import TINY_CONFIG
    from ..helpers import tiny_train_options
    base = [TINY_CONFIG, '--work-dir', str(tmp_path / 'w'),
            *tiny_train_options(synth_data, 1, 1)]
    line = _tool_error('train', base + ['train_dataloader.dataset.pipeline.2.image_tokens=10'])
    assert 'image_tokens=10 cannot match the model' in line
    line = _tool_error('train', base + ['model.attention=flash_varlen',
                                        'train_dataloader.collate_fn.packing=True'])
    assert "attention backend 'flash_varlen' cannot run here" in line
    assert "model.attention='flash_varlen'" in line


@pytest.mark.slow
def test_a_pickle_that_would_run_code_given_as_vision_checkpoint_is_named(tmp_path):
    import os

    import torch

    from ..conftest import TINY_CONFIG

    class Evil:
        def __reduce__(self):
            return os.system, ('echo pwned',)
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': Evil()}, str(evil))
    line = _tool_error('train', [TINY_CONFIG, '--work-dir', str(tmp_path / 'w'),
                                 '--cfg-options', f'model.vision.checkpoint={evil}'])
    assert f'{evil}: refused: the file holds Python objects' in line
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'not weights')
    line = _tool_error('train', [TINY_CONFIG, '--work-dir', str(tmp_path / 'w'),
                                 '--cfg-options', f'model.vision.checkpoint={broken}'])
    assert f'{broken}: not a readable weights file' in line


def test_evaluate_says_when_a_benchmark_cannot_score_the_records(tmp_path, capsys):
    """eov's own records under a benchmark's name: it was `ValueError: ... no hbb target`."""
    records = tmp_path / 'test.jsonl'
    records.write_text(json.dumps({
        'id': 'r1', 'task': 'classification', 'modality': 'optical',
        'images': [{'path': 'a.png'}],
        'conversations': [{'from': 'human', 'value': '<image>\nWhat is it?'},
                          {'from': 'assistant', 'value': 'forest'}]}) + '\n')
    preds = tmp_path / 'pred.jsonl'
    preds.write_text('{"id": "r1", "prediction": "forest"}\n')
    line = _one_line_error(capsys, 'evaluate', ['dior_rsvg', '--data', str(records),
                                                '--predictions', str(preds)])
    assert line.startswith('error: dior_rsvg cannot score these records: ')
    assert 'tools/convert_dataset.py dior_rsvg' in line


def test_evaluate_scores_eovs_own_records_with_the_task_heads(synth_data, tmp_path, capsys):
    """Issue 20, item 3: `tools/evaluate.py tasks` scores an eov instruction file."""
    import os

    from eov.heads.grounding import GroundingHead
    from eov.slis import LocTokenSerializer
    data = os.path.join(synth_data, 'test.jsonl')
    records = [json.loads(line) for line in open(data)]
    head = GroundingHead(LocTokenSerializer(bins=32))     # configs/eov_tiny_synth.py's
    preds = tmp_path / 'pred.jsonl'
    preds.write_text(''.join(json.dumps({'id': r['id'], 'prediction': head.answer_text(
        r['targets'], tuple(r['meta']['image_size']))}) + '\n' for r in records[:-1]))
    evaluate = load_tool('evaluate').main
    metrics = evaluate(['tasks', '--data', data, '--predictions', str(preds),
                        '--config', 'configs/eov_tiny_synth.py'])
    assert metrics['optical/grounding/Acc@0.5'] == pytest.approx(7 / 8)
    assert metrics['optical/grounding/n'] == 8
    assert (metrics['n_missing'], metrics['n_unknown']) == (1, 0)
    assert 'WARNING: 1 of the 8 records have no prediction' in capsys.readouterr().err
    # a grounding record without targets cannot be scored: named, not scored 0
    broken = tmp_path / 'test.jsonl'
    rec = dict(records[2], targets=[])
    rec['conversations'][1]['value'] = 'somewhere'
    broken.write_text(''.join(json.dumps(r) + '\n' for r in [*records[:2], rec]))
    line = _one_line_error(capsys, 'evaluate', ['tasks', '--data', str(broken),
                                                '--predictions', str(preds)])
    assert f"{broken}:3 (id {rec['id']}): a grounding test record needs 'targets'" in line
