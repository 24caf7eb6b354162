"""The shipped tiny base (weights/eov_tiny_base): small, strict-loading, and from its config."""
import json
import os

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.apis.publish import sha256
from eov.models.weights import read_checkpoint
from eov.engine.config import load_config
from eov.models.weights import load_weights
from eov.registry import MODELS

from ..conftest import ROOT
from ..helpers import run_tool

BASE = os.path.join(ROOT, 'weights', 'eov_tiny_base')
WEIGHTS = os.path.join(BASE, 'model.safetensors')
BASE_CONFIG = os.path.join(ROOT, 'configs', 'eov_tiny_base.py')


@pytest.fixture(scope='module')
def card():
    with open(os.path.join(BASE, 'card.json'), encoding='utf-8') as f:
        return json.load(f)


def test_shipped_weights_are_small_and_the_ones_the_card_describes(card):
    size = os.path.getsize(WEIGHTS)
    assert size <= 20e6, size
    assert card['weights']['sha256'] == sha256(WEIGHTS)
    assert card['config'] == os.path.join('configs', 'eov_tiny_base.py')
    assert card['data_seed'] == load_config(BASE_CONFIG).base_seed
    assert card['iterations'] >= 10000 and card['learned'][0] >= 1
    # the card's scoreboard is optical only: the base never saw another modality
    assert list(card['scoreboard']) == ['optical']
    with open(os.path.join(BASE, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    assert card['weights']['sha256'] in text and 'cells learned' in text


@pytest.mark.parametrize('config', ['eov_tiny_base.py',
                                    os.path.join('ablations', 'eov_tiny_pcma_full.py'),
                                    os.path.join('ablations', 'eov_tiny_pcma_scratch.py')])
def test_shipped_weights_load_strictly_into_the_tiny_configs(config):
    cfg = load_config(os.path.join(ROOT, 'configs', config))
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = read_checkpoint(WEIGHTS)
    report = load_weights(model, ckpt, WEIGHTS, cfg=cfg)   # strict: raises on any mismatch
    assert not report.missing and not report.unexpected and not report.mismatched
    state = model.state_dict()
    for key, value in ckpt['state_dict'].items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)


@pytest.mark.parametrize('config', ['eov_tiny_pcma.py',
                                    os.path.join('ablations', 'eov_tiny_single_stage.py')])
def test_shipped_weights_load_into_the_demo_missing_only_the_lora_weights(config):
    cfg = load_config(os.path.join(ROOT, 'configs', config))
    init_default_scope('eov')
    model = MODELS.build(cfg.model)
    ckpt = read_checkpoint(WEIGHTS)
    report = load_weights(model, ckpt, WEIGHTS, cfg=cfg, partial=cfg.load_from_partial)
    assert report.missing and all(k.endswith(('.lora_A', '.lora_B')) for k in report.missing)
    assert not report.unexpected and not report.mismatched
    state = model.state_dict()
    for key, value in ckpt['state_dict'].items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0)


@pytest.mark.slow
def test_first_iterations_of_the_base_config_give_the_card_losses(card, tmp_path):
    """`tools/train.py configs/eov_tiny_base.py --stop-at N`: the card's probe losses."""
    probe = card['probe']['losses']
    stop = probe[-1]['iter']
    proc = run_tool(['tools/train.py', BASE_CONFIG, '--work-dir', str(tmp_path / 'probe'),
                     '--stop-at', str(stop)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    from eov.evaluation.report import read_stage_losses
    rows = next(iter(read_stage_losses(str(tmp_path / 'probe')).values()))
    got = {r['step']: r['loss'] for r in rows}
    for row in probe:
        # the same data, seed and schedule: equal up to float summation order
        assert got[row['iter']] == pytest.approx(row['loss'], abs=2e-3), (row, got)
