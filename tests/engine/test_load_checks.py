"""load_from / resume: weights that do not fit are one clear line; partial loads on request."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.checkpoint import CheckpointError
from eov.engine.config import ConfigKeyError, load_config
from eov.engine.eov_runner import config_text
from eov.engine.load_checks import (compare_state_dicts, load_weights, partial_settings,
                                    read_weights_file)
from eov.engine.safe_checkpoints import ResumeError
from eov.registry import MODELS

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import run_tool, tiny_train_options


def _build(options=None):
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG, options)
    torch.manual_seed(0)
    return cfg, MODELS.build(cfg.model)


def _save(path, cfg, state_dict):
    torch.save({'meta': {'cfg': config_text(cfg)}, 'state_dict': state_dict}, path)
    return str(path)


@pytest.fixture(scope='module')
def bins1000_checkpoint(tmp_path_factory):
    """Weights of the tiny model with LocTokenSerializer(bins=1000) (config saved inside)."""
    cfg, model = _build({'serializer.bins': 1000})
    return _save(tmp_path_factory.mktemp('b1000') / 'bins1000.pth', cfg, model.state_dict())


class _Logged:
    """Collect what eov logs (``print_log(..., logger='current')``) inside the block."""

    def __enter__(self):
        import logging

        from mmengine.logging import MMLogger
        self.lines, self.logger = [], MMLogger.get_current_instance()
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.lines.append(record.getMessage())
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)

    @property
    def text(self):
        return '\n'.join(self.lines)


def _error_line(argv):
    """Run ``tools/train.py ARGV`` in a fresh process that must fail with one ``error:`` line.

    Returns:
        That line.
    """
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert err[-1].startswith('(run with --debug') and err[-2].startswith('error: '), err[-5:]
    return err[-2]


def test_another_vocabulary_is_named_in_words(bins1000_checkpoint):
    """bins=1000 weights into a bins=32 model: counts, the two embeddings, and the
    serializers of both sides -- not a size-mismatch page."""
    cfg, model = _build()
    before = model.state_dict()['vision.vit.blocks.0.attn.qkv.weight'].clone()
    with pytest.raises(CheckpointError) as info:
        load_weights(model, read_weights_file(bins1000_checkpoint), bins1000_checkpoint,
                     cfg=cfg, hint_partial=True)
    msg = str(info.value)
    assert '\n' not in msg
    total = len(model.state_dict())
    assert msg.startswith(f'{bins1000_checkpoint} does not fit the model: {total - 2} of '
                          f'{total} model weights match; 0 missing, 0 unexpected, '
                          '2 size-mismatched')
    assert 'lm.model.embed_tokens.weight (checkpoint 1651x128, model 683x128)' in msg
    assert ('vocabulary: checkpoint has 1651 token rows, the model 683 -- serializer '
            'LocTokenSerializer(bins=1000) in the checkpoint, LocTokenSerializer(bins=32) '
            'in this config') in msg
    assert msg.endswith('set load_from_partial=True to load what fits')
    # nothing was loaded
    assert torch.equal(model.state_dict()['vision.vit.blocks.0.attn.qkv.weight'], before)

    # without a saved config the rows still say what happened
    bare = read_weights_file(bins1000_checkpoint)
    del bare['meta']
    with pytest.raises(CheckpointError, match=r'vocabulary: checkpoint has 1651 token rows, '
                       r'the model 683 -- another tokenizer or serializer'):
        load_weights(model, bare, bins1000_checkpoint, cfg=cfg)


def test_partial_load_loads_what_fits_and_logs_what_it_skipped(bins1000_checkpoint):
    cfg, model = _build()
    init_rows = model.state_dict()['lm.model.embed_tokens.weight'].clone()
    ckpt = read_weights_file(bins1000_checkpoint)
    with _Logged() as logged:
        report = load_weights(model, ckpt, bins1000_checkpoint, cfg=cfg, partial=True)
    assert len(report.mismatched) == 2 and not report.missing and not report.unexpected
    state = model.state_dict()
    for key in report.matched:   # every fitting weight is the checkpoint's
        assert torch.equal(state[key], ckpt['state_dict'][key]), key
    assert torch.equal(state['lm.model.embed_tokens.weight'], init_rows)   # kept its init
    out = logged.text
    assert f'partial load of {bins1000_checkpoint}: {len(report.matched)} of' in out
    assert ('partial load: 2 weights kept their initialisation (another shape in the '
            'checkpoint): lm.model.embed_tokens.weight (checkpoint 1651x128, model 683x128), '
            'lm.lm_head.weight (checkpoint 1651x128, model 683x128)') in out

    # each kind of difference can be refused on its own
    with pytest.raises(CheckpointError, match='not loaded: load_from_partial.allow_mismatched'
                       '=False'):
        load_weights(model, ckpt, bins1000_checkpoint, cfg=cfg,
                     partial=dict(allow_mismatched=False))


def test_almost_nothing_matching_stays_an_error_with_the_option(tmp_path):
    """Weights of the vision backbone alone (a third of the model) and a stray key:
    below min_matched_fraction even a partial load refuses; above it, it loads and logs."""
    cfg, model = _build()
    state = {k: v for k, v in model.state_dict().items() if k.startswith('vision.')}
    state['head.fc.weight'] = torch.zeros(3, 3)
    path = _save(tmp_path / 'vision_only.pth', cfg, state)
    fraction = (len(state) - 1) / len(model.state_dict())
    assert fraction < 0.5
    with pytest.raises(CheckpointError) as info:
        load_weights(model, read_weights_file(path), path, cfg=cfg, partial=True)
    msg = str(info.value)
    assert f'{len(state) - 1} of {len(model.state_dict())} model weights match' in msg
    assert '1 unexpected' in msg and 'unexpected head.fc.weight' in msg
    assert (f'not loaded: only {fraction:.0%} of the model\'s weights match, below '
            'load_from_partial.min_matched_fraction=0.5') in msg
    with _Logged() as logged:
        report = load_weights(model, read_weights_file(path), path, cfg=cfg,
                              partial=dict(min_matched_fraction=0.2))
    assert report.unexpected == ['head.fc.weight']
    out = logged.text
    assert 'partial load: 1 weights dropped (not in the model): head.fc.weight' in out
    assert f'{len(report.missing)} weights kept their initialisation (not in the checkpoint)' \
        in out
    with pytest.raises(CheckpointError, match='allow_missing=False'):
        load_weights(model, read_weights_file(path), path, cfg=cfg,
                     partial=dict(min_matched_fraction=0.2, allow_missing=False))


def test_partial_settings_are_checked():
    assert partial_settings(None) is None and partial_settings(False) is None
    assert partial_settings(True)['min_matched_fraction'] == 0.5
    assert partial_settings(dict(allow_unexpected=False)) == dict(
        allow_missing=True, allow_unexpected=False, allow_mismatched=True,
        min_matched_fraction=0.5)
    with pytest.raises(ConfigKeyError, match='load_from_partial.allow_mising: not a setting'):
        partial_settings(dict(allow_mising=True))
    with pytest.raises(ConfigKeyError, match='min_matched_fraction: a fraction in'):
        partial_settings(dict(min_matched_fraction=50))
    assert partial_settings(dict(allow_missing=['*.lora_A']))['allow_missing'] == ('*.lora_A',)
    for bad in ([], 'yes', [3]):
        with pytest.raises(ConfigKeyError, match='allow_missing: True, False or'):
            partial_settings(dict(allow_missing=bad))


def test_missing_keys_allowed_by_pattern_only(tmp_path):
    """allow_missing as glob patterns: the named keys may be missing, any other refuses."""
    cfg, model = _build()
    full = model.state_dict()
    no_lm0 = {k: v for k, v in full.items() if not k.startswith('lm.model.layers.0.')}
    path = _save(tmp_path / 'part.pth', cfg, no_lm0)
    report = load_weights(model, read_weights_file(path), path, cfg=cfg,
                          partial=dict(allow_missing=['lm.model.layers.0.*']))
    assert report.missing and all(k.startswith('lm.model.layers.0.') for k in report.missing)
    with pytest.raises(CheckpointError, match=r'weights match no pattern of '
                       r"load_from_partial.allow_missing \['vision.\*'\] \(e.g. lm.model"):
        load_weights(model, read_weights_file(path), path, cfg=cfg,
                     partial=dict(allow_missing=['vision.*']))


def test_compare_counts_every_kind():
    model = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(1),
             'bn.num_batches_tracked': torch.tensor(0)}
    report = compare_state_dicts(model, {'a': torch.ones(2), 'b': torch.ones(4),
                                         'z': torch.ones(1)})
    assert report.matched == ['a'] and report.missing == ['c'] and report.unexpected == ['z']
    assert report.mismatched == [('b', (4,), (3,))] and report.total == 3
    assert report.counts() == ('1 of 3 model weights match; 1 missing, 1 unexpected, '
                               '1 size-mismatched')


@pytest.mark.slow
def test_load_from_through_tools_train(synth_data, bins1000_checkpoint, tmp_path):
    """tools/train.py: load_from of another vocabulary is one line; with
    load_from_partial=True the run trains from what fits."""
    opts = [*tiny_train_options(synth_data, 1, 1), 'env_cfg.cpu_threads=1',
            f'load_from={bins1000_checkpoint}']
    line = _error_line([TINY_CONFIG, '--work-dir', str(tmp_path / 'strict'), *opts])
    assert line.startswith(f'error: {bins1000_checkpoint} does not fit the model: ')
    assert 'vocabulary: checkpoint has 1651 token rows, the model 683' in line
    assert 'set load_from_partial=True' in line

    proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path / 'partial'),
                     *opts, 'load_from_partial=True'])
    log = proc.stdout + proc.stderr
    assert f'partial load of {bins1000_checkpoint}' in log
    assert 'partial load: 2 weights kept their initialisation (another shape' in log
    assert 'Iter(train) [1/1]' in log


@pytest.fixture(scope='module')
def trained_one_iteration(synth_data, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('resume_vocab'))
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work,
              *tiny_train_options(synth_data, 1, 1), 'env_cfg.cpu_threads=1'])
    return work


@pytest.mark.slow
def test_resume_with_another_serializer_says_what_changed(synth_data, trained_one_iteration):
    work = trained_one_iteration
    opts = [*tiny_train_options(synth_data, 2, 1), 'env_cfg.cpu_threads=1']
    line = _error_line([TINY_CONFIG, '--work-dir', work, '--resume', *opts,
                                'serializer.bins=1000'])
    assert line == (f'error: --resume {os.path.join(work, "iter_1.pth")}: the vocabulary '
                    'changed since the checkpoint was written (serializer: '
                    'LocTokenSerializer(bins=32) -> LocTokenSerializer(bins=1000)); a resumed '
                    'run continues the same model -- resume without the change, or start a '
                    'new run from these weights with load_from and load_from_partial=True')
    # the run itself was not harmed: resuming unchanged continues
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work,
                           '--resume', *opts], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Iter(train) [2/2]' in proc.stdout + proc.stderr


def test_resume_checks_the_saved_config_not_only_shapes(tmp_path):
    """A serializer change that keeps every tensor shape is still refused on resume."""
    cfg, model = _build()
    path = _save(tmp_path / 'c.pth', cfg, model.state_dict())
    other = load_config(TINY_CONFIG, {'serializer.type': 'LocTokenSerializer',
                                      'serializer.bins': 32, 'tokenizer': '/some/tokenizer'})
    with pytest.raises(ResumeError, match=r"tokenizer: None \(eov's built-in\) -> "
                       r"'/some/tokenizer'"):
        load_weights(model, read_weights_file(path), path, cfg=other, resuming=True)
    # an unchanged resume loads exactly
    assert load_weights(model, read_weights_file(path), path, cfg=cfg, resuming=True).exact
    # another model setting: the weights that differ and the setting, in one line
    cfg8, model8 = _build({'model.vision.patch_size': 8})
    with pytest.raises(CheckpointError) as info:
        load_weights(model8, read_weights_file(path), path, cfg=cfg8, resuming=True)
    msg = str(info.value)
    assert msg.startswith(f'{path} does not fit the model: ')
    assert 'vision.vit.patch_embed.proj.weight (checkpoint 128x3x16x16, model 128x3x8x8)' in msg
    assert msg.endswith('model settings (checkpoint -> this config): '
                        'model.vision.patch_size: 16 -> 8')   # no partial-load hint on resume
