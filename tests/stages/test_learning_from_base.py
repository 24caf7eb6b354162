"""A short adaptation from the shipped base learns a cell the base never saw (SAR scenes)."""
import json
import os

import pytest

from ..conftest import ROOT
from ..helpers import run_tool

PCMA = os.path.join(ROOT, 'configs', 'eov_tiny_pcma.py')
BASE = os.path.join(ROOT, 'weights', 'eov_tiny_base', 'model.safetensors')
#: The held-out cell: SAR scene classification (the base saw only optical data).
CELL = ('sar', 'classification/single')

ADAPT = '''
_base_ = [{pcma!r}]
demo_seed = 11
stages = [dict(type='Stage', name='sar', trainable='${{lora_trainable}}', lr=3e-3,
               iters={iters}, mixture={{'sar/classification': 1.0}})]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0)
'''


def _cell(work):
    with open(os.path.join(work, 'scoreboard.json'), encoding='utf-8') as f:
        return json.load(f)[CELL[0]][CELL[1]]


@pytest.mark.slow
def test_a_short_adaptation_from_the_base_learns_a_sar_cell(tmp_path):
    """The base on 50 SAR scene-classification records of a held-out seed: not learned;
    after 60 iterations of SAR classification from it (the demo's way: the SAR adapter and
    the gated LoRA updates train, the base stays frozen): learned (95% interval above
    chance)."""
    from eov.datasets.synth import generate_v2
    data = tmp_path / 'data'
    paths = generate_v2(str(data), {}, seed=12, progress=False, per_cell={'test': 50},
                        modalities=[CELL[0]])
    with open(paths['test'], encoding='utf-8') as f:
        keep = [line for line in f if json.loads(line)['meta']['cell'] == ':'.join(CELL)]
    (data / 'test.jsonl').write_text(''.join(keep))
    config = tmp_path / 'adapt.py'
    config.write_text(ADAPT.format(pcma=PCMA, iters=60))
    options = ['--cfg-options', f'data_root={data}']

    before = str(tmp_path / 'before')
    run_tool(['tools/test.py', str(config), BASE, '--work-dir', before, *options])
    start = _cell(before)
    assert start['n'] == 50 and start['learned'] is False, start

    work = str(tmp_path / 'adapt')
    run_tool(['tools/train.py', str(config), '--work-dir', work, *options])
    run_tool(['tools/test.py', str(config), os.path.join(work, 'final.pth'), '--work-dir',
              work, *options])
    end = _cell(work)
    assert end['learned'] is True, (start, end)
    assert end['value'] >= start['value'] + 0.25, (start, end)
