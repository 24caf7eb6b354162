"""eov.models.weights: reading checkpoints safely, and the one way weights load into a model."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from eov.engine.config import config_text, load_config
from eov.models.weights import (CheckpointError, compare_state_dicts, load_checkpoint_safely,
                                load_weights, read_checkpoint, write_checkpoint,
                                write_safetensors)
from eov.registry import MODELS

from ..conftest import TINY_CONFIG


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


# -- reading -----------------------------------------------------------------------------
def test_mmengine_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('eov-test-ckpt')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('iter', 7)
    path = tmp_path / 'c.pth'
    torch.save(dict(meta=dict(iter=np.int64(7), seed=np.int32(1)),
                    message_hub=hub.state_dict(),
                    state_dict={'w': torch.ones(2)}), path)
    ckpt = load_checkpoint_safely(str(path))
    assert ckpt['meta']['iter'] == 7
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(0.375)
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


class RunsACommand:
    def __reduce__(self):
        import os
        return (os.system, ('echo pwned',))


class ReachesForAMethod:
    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


@pytest.mark.parametrize('payload, error, match', [
    (RunsACommand(), pickle.UnpicklingError, 'posix.system|os.system'),
    (ReachesForAMethod(), RuntimeError, "getattr.*'tofile'.*only allows"),
])
def test_arbitrary_calls_and_getattr_are_refused(tmp_path, payload, error, match):
    path = tmp_path / 'evil.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(error, match=match):
        load_checkpoint_safely(str(path))


def test_read_checkpoint_names_the_file_for_every_broken_kind(tmp_path, capsys):
    """Zero bytes, truncated, not a checkpoint, a refused pickle: one message with the path."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    cases = {'empty.pth': b'', 'cut.pth': good.read_bytes()[:200],
             'text.pth': b'this is not a checkpoint'}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)

    class Payload:   # a pickle that would run code when loaded without weights_only
        def __reduce__(self):
            return (print, ('owned',))
    evil = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, evil)
    for name in [*cases, 'evil.pth']:
        path = str(tmp_path / name)
        with pytest.raises(CheckpointError, match=f'{name}: not a readable'):
            read_checkpoint(path)
    assert 'owned' not in capsys.readouterr().out   # the refused pickle never ran
    assert read_checkpoint(str(good))['state_dict']['w'].sum() == 3
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        read_checkpoint(str(tmp_path / 'nothing.pth'))
    (tmp_path / 'broken.safetensors').write_bytes(b'\x00' * 10)
    with pytest.raises(CheckpointError, match='broken.safetensors: not a readable safetensors'):
        read_checkpoint(str(tmp_path / 'broken.safetensors'))


def test_pth_and_safetensors_files_load_the_same_way(tmp_path):
    """Both formats written atomically (no partial file left), a tied weight stored once in
    safetensors, and loaded by path with the same strict check."""
    cfg, model = _build()
    state = model.state_dict()
    pth = write_checkpoint(str(tmp_path / 'w.pth'), state, dict(cfg=config_text(cfg)))
    st = write_safetensors(state, str(tmp_path / 'w.safetensors'),
                           dtype=torch.bfloat16)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['w.pth', 'w.safetensors']
    assert read_checkpoint(pth)['meta']['cfg'] == config_text(cfg)
    stored = read_checkpoint(st)['state_dict']
    assert stored.keys() == state.keys()
    assert stored['lm.lm_head.weight'].dtype == torch.bfloat16
    from safetensors import safe_open
    with safe_open(st, framework='pt') as f:   # the tied LM head is stored once
        assert len(list(f.keys())) < len(state)
    torch.manual_seed(1)
    other = MODELS.build(cfg.model)
    assert load_weights(other, pth).exact
    assert all(torch.equal(v, state[k]) for k, v in other.state_dict().items())
    assert load_weights(other, st).exact
    small = {k: v for k, v in state.items() if not k.startswith('aligner.')}
    cut = write_checkpoint(str(tmp_path / 'cut.pth'), small, {})
    with pytest.raises(CheckpointError, match=r'cut.pth does not fit the model: .* missing, '
                       r'0 unexpected, 0 size-mismatched \(e.g. missing aligner\.'):
        load_weights(other, cut)


# -- loading into a model ----------------------------------------------------------------
def test_another_vocabulary_is_named_in_words(bins1000_checkpoint):
    """bins=1000 weights into a bins=32 model: counts, the two embeddings, and the
    serializers of both sides -- not a size-mismatch page."""
    cfg, model = _build()
    before = model.state_dict()['vision.vit.blocks.0.attn.qkv.weight'].clone()
    with pytest.raises(CheckpointError) as info:
        load_weights(model, read_checkpoint(bins1000_checkpoint), bins1000_checkpoint,
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
    bare = read_checkpoint(bins1000_checkpoint)
    del bare['meta']
    with pytest.raises(CheckpointError, match=r'vocabulary: checkpoint has 1651 token rows, '
                       r'the model 683 -- another tokenizer or serializer'):
        load_weights(model, bare, bins1000_checkpoint, cfg=cfg)


def test_partial_load_loads_what_fits_and_logs_what_it_skipped(bins1000_checkpoint):
    cfg, model = _build()
    init_rows = model.state_dict()['lm.model.embed_tokens.weight'].clone()
    ckpt = read_checkpoint(bins1000_checkpoint)
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
        load_weights(model, path, cfg=cfg, partial=True)
    msg = str(info.value)
    assert f'{len(state) - 1} of {len(model.state_dict())} model weights match' in msg
    assert '1 unexpected' in msg and 'unexpected head.fc.weight' in msg
    assert (f'not loaded: only {fraction:.0%} of the model\'s weights match, below '
            'load_from_partial.min_matched_fraction=0.5') in msg
    with _Logged() as logged:
        report = load_weights(model, path, cfg=cfg, partial=dict(min_matched_fraction=0.2))
    assert report.unexpected == ['head.fc.weight']
    out = logged.text
    assert 'partial load: 1 weights dropped (not in the model): head.fc.weight' in out
    assert f'{len(report.missing)} weights kept their initialisation (not in the checkpoint)' \
        in out
    with pytest.raises(CheckpointError, match='allow_missing=False'):
        load_weights(model, path, cfg=cfg,
                     partial=dict(min_matched_fraction=0.2, allow_missing=False))


def test_missing_keys_allowed_by_pattern_only(tmp_path):
    """allow_missing as glob patterns: the named keys may be missing, any other refuses."""
    cfg, model = _build()
    full = model.state_dict()
    no_lm0 = {k: v for k, v in full.items() if not k.startswith('lm.model.layers.0.')}
    path = _save(tmp_path / 'part.pth', cfg, no_lm0)
    report = load_weights(model, path, cfg=cfg,
                          partial=dict(allow_missing=['lm.model.layers.0.*']))
    assert report.missing and all(k.startswith('lm.model.layers.0.') for k in report.missing)
    with pytest.raises(CheckpointError, match=r'weights match no pattern of '
                       r"load_from_partial.allow_missing \['vision.\*'\] \(e.g. lm.model"):
        load_weights(model, path, cfg=cfg, partial=dict(allow_missing=['vision.*']))


def test_another_model_setting_is_named(tmp_path):
    """Weights of another model setting: the weights that differ and the setting, one line."""
    cfg, model = _build()
    path = _save(tmp_path / 'c.pth', cfg, model.state_dict())
    cfg8, model8 = _build({'model.vision.patch_size': 8})
    with pytest.raises(CheckpointError) as info:
        load_weights(model8, path, cfg=cfg8)
    msg = str(info.value)
    assert msg.startswith(f'{path} does not fit the model: ')
    assert 'vision.vit.patch_embed.proj.weight (checkpoint 128x3x16x16, model 128x3x8x8)' in msg
    assert msg.endswith('model settings (checkpoint -> this config): '
                        'model.vision.patch_size: 16 -> 8')   # no partial-load hint unasked


def test_compare_counts_every_kind():
    model = {'a': torch.zeros(2), 'b': torch.zeros(3), 'c': torch.zeros(1),
             'bn.num_batches_tracked': torch.tensor(0)}
    report = compare_state_dicts(model, {'a': torch.ones(2), 'b': torch.ones(4),
                                         'z': torch.ones(1)})
    assert report.matched == ['a'] and report.missing == ['c'] and report.unexpected == ['z']
    assert report.mismatched == [('b', (4,), (3,))] and report.total == 3
    assert report.counts() == ('1 of 3 model weights match; 1 missing, 1 unexpected, '
                               '1 size-mismatched')
