"""Shared fixtures: tiny EOV-Synth data and the tiny config pointed at it."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_CONFIG = os.path.join(ROOT, 'configs', 'eov_tiny_synth.py')
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope='session')
def synth_data(tmp_path_factory):
    """A small EOV-Synth dataset (48 train, 8 test records, PNG)."""
    from eov.datasets.synth import SynthConfig, generate
    out = tmp_path_factory.mktemp('eov_synth')
    generate(str(out), {'train': 48, 'test': 8}, seed=0, cfg=SynthConfig(), progress=False)
    return str(out)


@pytest.fixture
def tiny_cfg(synth_data):
    """The built-in tiny config on :func:`synth_data`, with small batches."""
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import load_config
    cfg = load_config(TINY_CONFIG, {
        'data_root': synth_data,
        'train_dataloader.batch_size': 4,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'test_dataloader.batch_size': 4,
        'test_dataloader.num_workers': 0,
    })
    fill_config_image_tokens(cfg)   # what eov's runner does with the model it builds
    return cfg


@pytest.fixture(scope='session')
def tiny_model():
    """The tiny EarthOneVision of ``configs/eov_tiny_synth.py`` (random init, eval mode)."""
    import torch
    from mmengine.registry import init_default_scope

    from eov.engine.config import load_config
    from eov.registry import MODELS
    init_default_scope('eov')
    torch.manual_seed(0)
    return MODELS.build(load_config(TINY_CONFIG).model).eval()


@pytest.fixture(scope='session')
def grounding_checkpoint(synth_data, tmp_path_factory):
    """A tiny grounding model that memorised 8 EOV-Synth training samples.

    Saved the way eov saves weights (``{'meta': {'cfg': <config text>},
    'state_dict'}``), so tools and the inferencer rebuild the model from the
    checkpoint alone. Returns ``(checkpoint path, records)``: the 8 memorised
    records (their image paths made absolute).
    """
    import json

    import torch
    from mmengine.registry import init_default_scope

    from eov.datasets import instruction_collate
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import config_text, load_config
    from eov.registry import DATASETS, MODELS
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG, {'data_root': synth_data})
    fill_config_image_tokens(cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    train = DATASETS.build(cfg.train_dataloader.dataset)
    batch = model.data_preprocessor(instruction_collate([train[i] for i in range(8)]), True)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(120):
        loss = model(**batch, mode='loss')['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp('grounding_ckpt')
    path = str(out / 'memorised.pth')
    torch.save({'meta': {'cfg': config_text(cfg)}, 'state_dict': model.state_dict()}, path)
    records = []
    with open(os.path.join(synth_data, 'train.jsonl')) as f:
        for line, _ in zip(f, range(8)):
            rec = json.loads(line)
            for image in rec['images']:
                image['path'] = os.path.join(synth_data, image['path'])
            records.append(rec)
    return path, records
