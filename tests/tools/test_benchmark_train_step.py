"""tools/benchmark.py train-step: packed vs padded on identical variable-length samples."""
import json
import random

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import load_config
from eov.engine.train_bench import synthetic_samples
from eov.registry import MODELS

from ..conftest import TINY_CONFIG
from ..helpers import run_tool


def test_synthetic_samples_cover_the_token_budget_with_drawn_lengths():
    init_default_scope('eov')
    model = MODELS.build(load_config(TINY_CONFIG).model)
    samples = synthetic_samples(model, 1000, 40, 120, random.Random(0))
    lengths = [len(s['inputs']['input_ids']) for s in samples]
    assert sum(lengths) >= 1000 and min(lengths) >= 40 and max(lengths) <= 120
    assert len(set(lengths)) > 1
    one = samples[0]['inputs']
    assert int((one['input_ids'] == model.image_token_id).sum()) == \
        model.num_image_tokens(modality='optical')
    assert int((one['labels'] != -100).sum()) == 8


@pytest.mark.slow
def test_train_step_benchmark_reports_both_paths():
    proc = run_tool(['tools/benchmark.py', 'train-step', '--config', TINY_CONFIG, '--steps', '1',
                     '--warmup', '0', '--tokens-per-step', '300', '--max-len', '150'])
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert [r['impl'] for r in rows] == ['packed', 'padded']
    for r in rows:
        assert r['tokens_per_s'] > 0 and r['step_ms'] > 0 and 0 <= r['padding_fraction'] < 1
        assert r['device'] == 'cpu' and r['mfu'] is None
    assert torch.cuda.is_available() or rows[0]['peak_mem_gb'] is None


@pytest.mark.slow
def test_infer_benchmark_reports_batch_sizes_and_scene_tiles():
    proc = run_tool(['tools/benchmark.py', 'infer', '--config', TINY_CONFIG, '--requests', '4',
                     '--batch-sizes', '1', '4', '--scene-tile', '1024', '--max-new-tokens', '4'])
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert [(r['mode'], r['batch_size']) for r in rows] == [('requests', 1), ('requests', 4),
                                                             ('scene', 4)]
    for r in rows[:2]:
        assert r['requests'] == 4 and r['requests_per_s'] > 0 and r['device'] == 'cpu'
    # batching does not change the answers: the same token count either way
    assert rows[0]['answer_tokens'] == rows[1]['answer_tokens']
    from eov.apis.geo import tile_windows
    assert rows[2]['scene_size'] == [1933, 1947]
    assert rows[2]['tiles'] == len(tile_windows(1933, 1947, 1024, 128)) == 9
