"""One model, every modality and task: mixed batches train, test writes the scoreboard."""
import json
import os

import pytest

from ..conftest import ROOT
from ..helpers import run_tool, train_with_torchrun

MULTITASK = os.path.join(ROOT, 'configs', 'eov_tiny_multitask.py')
MODALITIES = {'optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video', 'fusion'}


@pytest.fixture(scope='module')
def synth_v2(tmp_path_factory):
    """A small EOV-Synth v2 set: every modality x task cell in both splits."""
    from eov.datasets.synth import generate_v2
    out = tmp_path_factory.mktemp('synth_v2')
    generate_v2(str(out), {'train': 160, 'test': 150}, seed=0, progress=False)
    return str(out)


def _options(data_root, iters, batch=16):
    return ['--cfg-options', f'data_root={data_root}', f'train_cfg.max_iters={iters}',
            f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
            f'train_dataloader.batch_size={batch}', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'test_dataloader.batch_size=32',
            'test_dataloader.num_workers=0']


@pytest.mark.slow
def test_mixed_batches_train_and_the_scoreboard_covers_every_cell(synth_v2, tmp_path):
    work = str(tmp_path / 'mt')
    log = run_tool(['tools/train.py', MULTITASK, '--work-dir', work, *_options(synth_v2, 3)])
    out = log.stdout + log.stderr
    assert 'Iter(train) [3/3]' in out
    # the pipeline's <image> slots come from the model, per modality
    assert ("visual tokens per sample (from the model): {'optical': 16, 'sar': 16, "
            "'infrared': 16, 'multispectral': 16, 'temporal': 64, 'video': 64, "
            "'fusion': 32}") in out
    run_tool(['tools/test.py', MULTITASK, os.path.join(work, 'iter_3.pth'), '--work-dir', work,
              *_options(synth_v2, 3)])
    board = json.load(open(os.path.join(work, 'scoreboard.json')))
    metrics = json.load(open(os.path.join(work, 'metrics.json')))
    assert set(board) == MODALITIES
    from eov.datasets.synth import task_matrix
    for modality, cells in task_matrix().items():
        for cell in cells:
            task = cell.split('/')[0]
            # a cell is named by its task category, a variant after a slash
            entry = board[modality].get(cell) or board[modality].get(task)
            assert entry is not None, (modality, cell, sorted(board[modality]))
            assert {'metric', 'value', 'chance', 'n'} <= set(entry)
            assert entry['n'] >= 1
            key = f"{modality}/{cell if cell in board[modality] else task}/{entry['metric']}"
            assert metrics[key] == pytest.approx(entry['value'], nan_ok=True)
            assert metrics[key + '_chance'] == pytest.approx(entry['chance'], nan_ok=True)
    preds = [json.loads(line) for line in open(os.path.join(work, 'predictions.jsonl'))]
    test_lines = sum(1 for _ in open(os.path.join(synth_v2, 'test.jsonl')))
    assert len(preds) == test_lines and {p['modality'] for p in preds} == MODALITIES



@pytest.mark.slow
def test_ddp_with_modalities_absent_from_a_rank_batch(synth_v2, tmp_path):
    """Batches of 3 records on each of 2 processes cannot hold all 7 modalities: the
    adapters of absent modalities get no gradient, and DDP must not stall on them."""
    work = str(tmp_path / 'ddp')
    out = train_with_torchrun(MULTITASK, work, _options(synth_v2, 3, 3)).log
    assert 'Distributed training: True' in out and 'Iter(train) [3/3]' in out
    assert os.path.isfile(os.path.join(work, 'iter_3.pth'))
