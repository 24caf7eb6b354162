"""Swapping the SLIS serializer is one config line: data, model and metric follow."""
import os

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.engine import fill_config_image_tokens
from eov.engine.config import load_config
from eov.registry import DATASETS, METRICS, MODELS

from ..conftest import ROOT

SWAPS = {
    'eov_tiny_synth.py': ('LocTokenSerializer', '<box><loc_'),
    'slis/eov_tiny_synth_loc1000.py': ('LocTokenSerializer', '<box><loc_'),
    'slis/eov_tiny_synth_geochat.py': ('GeoChatTextSerializer', '{<'),
    'slis/eov_tiny_synth_normalized.py': ('NormalizedTextSerializer', '[0.'),
    'slis/eov_tiny_synth_qwen.py': ('QwenTextSerializer', '<box>('),
}


@pytest.mark.parametrize('config', list(SWAPS))
def test_one_config_line_reserializes_targets_and_trains(config, synth_data):
    name, answer_start = SWAPS[config]
    cfg = load_config(os.path.join(ROOT, 'configs', config), {
        'data_root': synth_data, 'train_dataloader.batch_size': 2})
    fill_config_image_tokens(cfg)
    assert cfg.serializer.type == name
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert type(model.serializer).__name__ == name
    train = DATASETS.build(cfg.train_dataloader.dataset)
    sample = train[0]
    labels = [int(i) for i in sample['inputs']['labels'] if int(i) != -100]
    answer = model.tokenizer.decode(labels[:-1])      # drop <|im_end|>
    assert answer.startswith(answer_start), answer
    # every special token of the serializer is one id of the model's tokenizer
    for token in model.serializer.special_tokens():
        assert len(model.tokenizer(token, add_special_tokens=False)['input_ids']) == 1
    # the generation budget covers the format's answer
    n_answer = len(model.tokenizer(answer, add_special_tokens=False)['input_ids'])
    assert model.max_new_tokens >= n_answer + 1

    data = instruction_collate([train[i] for i in range(2)])
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    before = [p.detach().clone() for p in model.parameters()]
    log = model.train_step(data, optim)
    assert torch.isfinite(log['loss'])
    changed = sum(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert changed > 0.5 * len(before)

    # the metric decodes with the same serializer
    metric = METRICS.build(cfg.test_evaluator)
    assert type(metric.head('grounding').serializer).__name__ == name
