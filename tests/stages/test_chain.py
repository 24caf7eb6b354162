"""The PCMA chain through tools/train.py: frozen sets, stage hand-over, resume, --stage, DDP."""
import os
import shutil

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.models.weights import load_checkpoint_safely
from eov.engine.config import load_config

from ..conftest import TINY_CONFIG
from ..helpers import run_tool, tiny_train_options, train_with_torchrun

CHAIN = '''
_base_ = [{base!r}]
load_from = {init!r}
stages = [
    dict(type='Stage', name='align', trainable=['aligner.*'],
         mixture={{'optical/grounding': 1.0}}, iters=3, lr=2e-3),
    dict(type='Stage', name='tune', trainable=['lm.*'],
         mixture={{'optical/*': 1.0}}, iters=4, lr=1e-3),
]
'''


@pytest.fixture(scope='module')
def chain_config(tmp_path_factory):
    """A two-stage chain of the tiny model, starting from saved initial weights."""
    from eov.registry import MODELS
    root = tmp_path_factory.mktemp('chain')
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(load_config(TINY_CONFIG).model)
    init = str(root / 'init.pth')
    torch.save({'state_dict': model.state_dict()}, init)
    path = root / 'chain.py'
    path.write_text(CHAIN.format(base=TINY_CONFIG, init=init))
    return str(path), init


def _weights(path):
    return load_checkpoint_safely(path)['state_dict']


def _part(state, prefix):
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _changed(a, b):
    """Every tensor of ``a`` differs from ``b`` somewhere (all trainable ones moved)."""
    return all(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def _check_frozen_sets(init, s1, s2):
    """Stage 1 trained only the aligner; stage 2 started from it and trained only the LM."""
    assert _changed(_part(s1, 'aligner.'), _part(init, 'aligner.'))
    assert _same(_part(s1, 'lm.'), _part(init, 'lm.'))
    assert _same(_part(s1, 'vision.'), _part(init, 'vision.'))
    # stage 2's frozen aligner is stage 1's, not the start's
    assert _same(_part(s2, 'aligner.'), _part(s1, 'aligner.'))
    assert _changed(_part(s2, 'lm.'), _part(s1, 'lm.'))
    assert _same(_part(s2, 'vision.'), _part(init, 'vision.'))


def _train(config, work, synth_data, *extra):
    return run_tool(['tools/train.py', config, '--work-dir', work, *extra,
                     *tiny_train_options(synth_data, 1, 2)])


@pytest.mark.slow
def test_chain_freezes_hands_over_and_resumes(chain_config, synth_data, tmp_path):
    config, init_path = chain_config
    work = str(tmp_path / 'w')
    log = _train(config, work, synth_data)
    out = log.stdout + log.stderr
    assert "PCMA stage 1/2 'align': 3 iterations" in out
    assert "PCMA stage 2/2 'tune': 4 iterations" in out
    assert 'Iter(train) [3/3]' in out and 'Iter(train) [4/4]' in out
    init = _weights(init_path)
    s1 = _weights(os.path.join(work, '1_align', 'stage_final.pth'))
    s2 = _weights(os.path.join(work, '2_tune', 'stage_final.pth'))
    _check_frozen_sets(init, s1, s2)
    final = os.path.join(work, 'final.pth')
    assert _same(_weights(final), s2)
    assert os.path.isfile(os.path.join(work, 'chain.json'))

    # an interruption in stage 2 after its iteration-2 checkpoint, then --resume
    stage2 = os.path.join(work, '2_tune')
    for name in ('stage_final.pth', 'iter_4.pth'):
        os.remove(os.path.join(stage2, name))
    os.remove(final)
    with open(os.path.join(stage2, 'last_checkpoint'), 'w') as f:
        f.write(os.path.join(stage2, 'iter_2.pth'))
    log = _train(config, work, synth_data, '--resume')
    out = log.stdout + log.stderr
    assert "stage 'align' already finished" in out
    assert 'Iter(train) [3/4]' in out and 'Iter(train) [1/4]' not in out
    resumed = _weights(final)
    # same seed, same data order: the resumed chain ends where the uninterrupted one did
    for key, value in s2.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6, msg=key)

    # one stage alone: --stage tune starts again from stage 1's final weights
    shutil.rmtree(stage2)
    _train(config, work, synth_data, '--stage', 'tune')
    again = _weights(os.path.join(stage2, 'stage_final.pth'))
    assert _same(_part(again, 'aligner.'), _part(s1, 'aligner.'))
    for key, value in s2.items():
        torch.testing.assert_close(again[key], value, rtol=0, atol=1e-6, msg=key)


@pytest.mark.slow
def test_stop_at_keeps_the_schedule_and_the_run_publishes_with_a_card(chain_config, synth_data,
                                                                      tmp_path):
    """--stop-at N: the first N iterations of every stage with the full-length schedule
    (the losses and learning rates of the full run); tools/publish_weights.py then writes
    the weights, card.json and the model card from the work dir."""
    import json

    from eov.evaluation.report import read_stage_losses
    config, _ = chain_config
    full, probe = str(tmp_path / 'full'), str(tmp_path / 'probe')
    _train(config, full, synth_data)
    log = _train(config, probe, synth_data, '--stop-at', '2')
    assert "'align': 3 iterations (stopping at 2)" in log.stdout + log.stderr
    whole, first = read_stage_losses(full), read_stage_losses(probe)
    for stage in ('1_align', '2_tune'):
        assert [r['step'] for r in first[stage]] == [1, 2]
        for a, b in zip(first[stage], whole[stage][:2]):
            assert a['lr'] == pytest.approx(b['lr'], rel=1e-9)
    assert [r['loss'] for r in first['1_align']] == pytest.approx(
        [r['loss'] for r in whole['1_align'][:2]], abs=1e-6)
    with open(os.path.join(probe, 'chain.json')) as f:
        assert [s['iters'] for s in json.load(f)['stages']] == [2, 2]

    out = tmp_path / 'published'
    run_tool(['tools/publish_weights.py', full, '--config', config, '--out', str(out),
              '--probe-iters', '2', '--wall-seconds', '12.5'])
    card = json.loads((out / 'card.json').read_text())
    assert card['iterations'] == 7 and card['wall_seconds'] == 12.5
    assert [r['iter'] for r in card['probe']['losses']] == [1, 2]
    assert card['probe']['losses'][0]['loss'] == pytest.approx(whole['1_align'][0]['loss'],
                                                               abs=1e-4)
    from eov.apis.publish import sha256
    assert card['weights']['sha256'] == sha256(str(out / 'model.safetensors'))
    published = load_checkpoint_safely(os.path.join(full, 'final.pth'))['state_dict']
    from eov.models.weights import read_checkpoint
    shipped = read_checkpoint(str(out / 'model.safetensors'))
    assert _same(shipped['state_dict'], published)
    # the last stage's config (its class and arguments, as the chain config gave them)
    assert "stage = {'type': 'Stage',\n 'name': 'tune'" in shipped['meta']['cfg']
    assert '--stop-at 2' in (out / 'README.md').read_text()
    # over the size limit: refused, nothing left behind
    bad = run_tool_fails(['tools/publish_weights.py', full, '--config', config, '--out',
                          str(tmp_path / 'big'), '--max-mb', '0.001'])
    assert 'over the limit' in bad.stderr
    assert not os.path.exists(tmp_path / 'big' / 'model.safetensors')


def run_tool_fails(args):
    import subprocess
    import sys

    from ..conftest import ROOT
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    return proc


@pytest.mark.slow
def test_a_stage_alone_needs_the_previous_stage(chain_config, synth_data, tmp_path):
    config, _ = chain_config
    with pytest.raises(AssertionError, match=r"previous stage 'align'.*run that stage first"):
        _train(config, str(tmp_path / 'fresh'), synth_data, '--stage', 'tune')
    with pytest.raises(AssertionError, match=r"--stage 'nope' is not a stage.*align, tune"):
        _train(config, str(tmp_path / 'fresh'), synth_data, '--stage', 'nope')



@pytest.mark.slow
def test_chain_under_torchrun(chain_config, synth_data, tmp_path):
    """Two CPU processes: the DDP wrapper is rebuilt for each stage's trainable set."""
    config, init_path = chain_config
    work = str(tmp_path / 'ddp')
    out = train_with_torchrun(config, work, tiny_train_options(synth_data, 1, 2)).log
    assert 'Distributed training: True' in out
    assert 'Iter(train) [3/3]' in out and 'Iter(train) [4/4]' in out
    init = _weights(init_path)
    s1 = _weights(os.path.join(work, '1_align', 'stage_final.pth'))
    s2 = _weights(os.path.join(work, 'final.pth'))
    assert all(not k.startswith('module.') for k in s2)
    assert _same(_part(s1, 'lm.'), _part(init, 'lm.'))
    assert _same(_part(s2, 'aligner.'), _part(s1, 'aligner.'))
    assert _changed(_part(s2, 'lm.'), _part(s1, 'lm.'))


@pytest.mark.slow
def test_chain_under_fsdp_freezes_and_resumes_through_the_stage_change(chain_config, synth_data,
                                                                       tmp_path):
    """FSDP2 on two CPU processes: each stage shards its own trainable set; a run killed
    in stage 2 (after its iteration-2 checkpoint) and resumed ends where it would have."""
    config, init_path = chain_config
    work = str(tmp_path / 'fsdp')
    options = [*tiny_train_options(synth_data, 1, 2), 'strategy.type=fsdp']
    out = train_with_torchrun(config, work, options).log
    assert 'strategy fsdp: 2 process(es)' in out
    init = _weights(init_path)
    s1 = _weights(os.path.join(work, '1_align', 'stage_final.pth'))
    s2 = _weights(os.path.join(work, 'final.pth'))
    _check_frozen_sets(init, s1, s2)

    stage2 = os.path.join(work, '2_tune')
    for name in ('stage_final.pth', 'iter_4.pth'):
        os.remove(os.path.join(stage2, name))
    os.remove(os.path.join(work, 'final.pth'))
    with open(os.path.join(stage2, 'last_checkpoint'), 'w') as f:
        f.write(os.path.join(stage2, 'iter_2.pth'))
    out = train_with_torchrun(config, work, options, resume=True).log
    assert "stage 'align' already finished" in out
    assert 'Iter(train) [3/4]' in out and 'Iter(train) [1/4]' not in out
    resumed = _weights(os.path.join(work, 'final.pth'))
    for key, value in s2.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=1e-6, msg=key)


PLUGIN_STAGE = '''
from eov.registry import STAGES
from eov.stages import Stage


@STAGES.register_module()
class KeepFirstAlignerLayer(Stage):
    """A third-party stage whose freeze() also freezes the aligner's first layer."""

    def __init__(self, keep='aligner.mlp.0.*', **kwargs):
        super().__init__(**kwargs)
        self.keep = keep

    def freeze(self, model):
        counts = super().freeze(model)
        for name, param in model.named_parameters():
            if Stage(trainable=[self.keep]).is_trainable(name):
                param.requires_grad_(False)
        return counts
'''


@pytest.mark.slow
def test_a_registered_stage_runs_with_its_own_freeze(chain_config, synth_data, tmp_path):
    """The stage run rebuilds the registered class from the chain config (not a plain
    Stage), so a plugin's freeze() override takes effect in training."""
    _, init_path = chain_config
    (tmp_path / 'plugin_stage.py').write_text(PLUGIN_STAGE)
    config = tmp_path / 'plugin_chain.py'
    config.write_text(f"""_base_ = [{TINY_CONFIG!r}]
load_from = {init_path!r}
custom_imports = dict(imports=['plugin_stage'], allow_failed_imports=False)
stages = [dict(type='KeepFirstAlignerLayer', name='align', trainable=['aligner.*'],
               mixture={{'optical/grounding': 1.0}}, iters=3, lr=2e-3)]
""")
    work = str(tmp_path / 'w')
    run_tool(['tools/train.py', str(config), '--work-dir', work,
              *tiny_train_options(synth_data, 1, 2)], extra_pythonpath=[str(tmp_path)])
    init = _weights(init_path)
    end = _weights(os.path.join(work, 'final.pth'))
    assert _same(_part(end, 'aligner.mlp.0.'), _part(init, 'aligner.mlp.0.'))
    assert _changed(_part(end, 'aligner.mlp.2.'), _part(init, 'aligner.mlp.2.'))
