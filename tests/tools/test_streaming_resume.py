"""Training from shards with tools/train.py: a run stopped after iteration 3 and resumed
trains on exactly the samples of the uninterrupted run, without replaying the stream."""
import json
import os

import pytest

from eov.datasets.shards import build_shards

from ..conftest import TINY_CONFIG
from ..helpers import run_tool, tiny_train_options


def samples(work):
    with open(os.path.join(work, 'samples_rank0.jsonl')) as f:
        return {row['iter']: row['ids'] for row in map(json.loads, f)}


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['packed', 'padded', 'budget'])
def test_a_resumed_stream_continues_with_the_samples_of_the_uninterrupted_run(
        synth_data, tmp_path, mode):
    """Packed on two persistent workers, padded on none, and in token-budget batches (two
    rows of 120 tokens) on two persistent workers."""
    shards = str(tmp_path / 'shards')
    build_shards(os.path.join(synth_data, 'train.jsonl'), shards, data_root=synth_data,
                 part_records=16, progress=False)
    config = tmp_path / 'streaming.py'
    # the one line that trains on shards (and a log of each iteration's samples)
    config.write_text(
        f"_base_ = ['{TINY_CONFIG}']\n"
        "train_dataloader = dict(dataset=dict(_delete_=True, type='StreamingInstructionDataset',"
        f" shards='{shards}', pipeline='${{train_pipeline}}'))\n"
        "custom_hooks = [dict(type='SampleLogHook')]\n")
    extra = [f"train_dataloader.collate_fn.packing={mode != 'padded'}"]
    if mode != 'padded':   # and two persistent workers, restarted at the resume
        extra += ['train_dataloader.num_workers=2', 'train_dataloader.persistent_workers=True']
    if mode == 'budget':
        extra += ['train_dataloader.dataset.max_tokens=120', 'train_dataloader.dataset.rows=2',
                  'train_dataloader.dataset.buffer=8']
    straight, stopped = str(tmp_path / 'straight'), str(tmp_path / 'stopped')
    run_tool(['tools/train.py', str(config), '--work-dir', straight,
              *tiny_train_options(synth_data, 6, 3), *extra])
    run_tool(['tools/train.py', str(config), '--work-dir', stopped,
              *tiny_train_options(synth_data, 3, 3), *extra])
    resumed = run_tool(['tools/train.py', str(config), '--work-dir', stopped, '--resume',
                        *tiny_train_options(synth_data, 6, 3), *extra])
    log = resumed.stdout + resumed.stderr
    assert 'the data stream continues at iteration 3, global batch 3 (no replay)' in log
    assert 'Advance dataloader' not in log
    want, got = samples(straight), samples(stopped)
    assert sorted(want) == sorted(got) == [1, 2, 3, 4, 5, 6]
    assert got == want
    trained = [i for it in range(1, 7) for i in want[it]]
    assert len(set(trained)) == len(trained)           # fewer than the 48 records: no repeat
    if mode == 'budget':     # 4-6 samples of 38-42 tokens fill two rows of 120
        assert 24 < len(trained) < 36 and len({len(want[it]) for it in want}) > 1
        assert 'packing_efficiency' in log
    else:
        assert len(trained) == 24
