import os

import pytest

from eov.engine.checkpoint import load_checkpoint_safely

from ..conftest import TINY_CONFIG
from ..helpers import tiny_train_options, train_with_torchrun



@pytest.mark.slow
def test_torchrun_two_cpu_processes(synth_data, tmp_path):
    work = str(tmp_path / 'ddp')
    log = train_with_torchrun(TINY_CONFIG, work, tiny_train_options(synth_data, 2, 2)).log
    assert 'Distributed launcher: pytorch' in log
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # MMEngine's name for the world size
    assert 'Iter(train) [2/2]' in log
    ckpt = load_checkpoint_safely(os.path.join(work, 'iter_2.pth'))
    assert ckpt['meta']['iter'] == 2
    # DDP state dicts are saved without the 'module.' prefix
    assert all(not k.startswith('module.') for k in ckpt['state_dict'])
