import json
import os

import pytest

from eov.models.weights import load_checkpoint_safely

from ..conftest import TINY_CONFIG
from ..helpers import run_tool, tiny_train_options


def _adam_steps(ckpt):
    return {int(s['step']) for s in ckpt['optimizer']['state'].values()}


@pytest.mark.slow
def test_train_two_iterations_then_resume_to_four(synth_data, tmp_path):
    work = str(tmp_path / 'work')
    first = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work,
                      *tiny_train_options(synth_data, 2, 2)])
    assert 'Iter(train) [2/2]' in first.stdout + first.stderr
    ckpt2 = load_checkpoint_safely(os.path.join(work, 'iter_2.pth'))
    assert ckpt2['meta']['iter'] == 2
    assert _adam_steps(ckpt2) == {2}

    second = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
                       *tiny_train_options(synth_data, 4, 2)])
    log = second.stdout + second.stderr
    assert 'resumed' in log.lower()
    assert 'Iter(train) [3/4]' in log and 'Iter(train) [1/4]' not in log
    ckpt4 = load_checkpoint_safely(os.path.join(work, 'iter_4.pth'))
    assert ckpt4['meta']['iter'] == 4
    assert _adam_steps(ckpt4) == {4}  # the optimizer state continued, not restarted
    # the learning-rate scheduler was restored and kept counting
    assert ckpt2['param_schedulers'][0]['_global_step'] == 2
    assert ckpt4['param_schedulers'][0]['_global_step'] == 4

    # tools/test.py on the resumed checkpoint writes flat metrics
    run_tool(['tools/test.py', TINY_CONFIG, os.path.join(work, 'iter_4.pth'), '--work-dir', work,
              *tiny_train_options(synth_data, 4, 2)])
    metrics = json.load(open(os.path.join(work, 'metrics.json')))
    for key in ('grounding/Acc@0.5', 'grounding/parse_rate', 'grounding/Acc@0.5_baseline',
                'grounding/meanIoU'):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics['grounding/n'] == 8
    preds = [json.loads(line) for line in open(os.path.join(work, 'predictions.jsonl'))]
    assert [p['id'] for p in preds] == [f'synth-test-{i}' for i in range(8)]


@pytest.mark.slow
def test_unknown_plugin_in_config_fails_with_suggestion(synth_data, tmp_path):
    with pytest.raises(AssertionError) as info:
        run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path),
                  *tiny_train_options(synth_data, 1, 1), 'model.aligner.type=MultiLevelConcatt'])
    assert "Did you mean 'MultiLevelConcat'" in str(info.value)


@pytest.mark.slow
def test_test_rebuilds_the_trained_model_from_the_checkpoint_config(synth_data, tmp_path):
    """A run trained with --cfg-options model...=... is tested under the bare config.

    The checkpoint's saved config decides the model; ``--model-from-config``
    forces the file's model, and then the mismatch is one clear error.
    """
    work = tmp_path / 'p8'
    opts = tiny_train_options(synth_data, 1, 1)
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', str(work), *opts,
              'model.vision.patch_size=8'])
    ckpt = (work / 'last_checkpoint').read_text().strip()
    proc = run_tool(['tools/test.py', TINY_CONFIG, ckpt, '--work-dir', str(tmp_path / 'eval'),
                     *opts])
    assert 'model settings from the config saved in' in proc.stdout + proc.stderr
    assert json.load(open(tmp_path / 'eval' / 'metrics.json'))['grounding/n'] == 8
    with pytest.raises(AssertionError) as info:
        run_tool(['tools/test.py', TINY_CONFIG, ckpt, '--model-from-config', '--work-dir',
                  str(tmp_path / 'eval2'), *opts])
    message = str(info.value)
    assert f'error: {ckpt} does not fit the model: ' in message
    assert 'vision.vit.patch_embed.proj.weight (checkpoint 128x3x8x8, model 128x3x16x16)' \
        in message
    assert 'model settings (checkpoint -> this config): model.vision.patch_size: 8 -> 16' \
        in message
    assert 'Traceback' not in message


def test_test_explains_a_truncated_checkpoint(synth_data, tmp_path):
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(AssertionError) as info:
        run_tool(['tools/test.py', TINY_CONFIG, str(bad), '--work-dir', str(tmp_path / 'e'),
                  *tiny_train_options(synth_data, 1, 1)])
    assert 'not a readable eov/MMEngine checkpoint' in str(info.value)
    assert 'Traceback' not in str(info.value)
