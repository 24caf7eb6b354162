"""EOVRunner loading weights through tools/train.py: strict load_from, partial loads, resume."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import config_text, load_config
from eov.registry import MODELS

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import run_tool, tiny_train_options


@pytest.fixture(scope='module')
def bins1000_checkpoint(tmp_path_factory):
    """Weights of the tiny model with LocTokenSerializer(bins=1000) (config saved inside)."""
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG, {'serializer.bins': 1000})
    path = str(tmp_path_factory.mktemp('b1000') / 'bins1000.pth')
    torch.save({'meta': {'cfg': config_text(cfg)},
                'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return path


def _error_line(argv):
    """Run ``tools/train.py ARGV`` in a fresh process that must fail with one ``error:`` line.

    Returns:
        That line.
    """
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert err[-1].startswith('(run with --debug') and err[-2].startswith('error: '), err[-5:]
    return err[-2]


@pytest.mark.slow
def test_load_from_through_tools_train(synth_data, bins1000_checkpoint, tmp_path):
    """tools/train.py: load_from of another vocabulary is one line; with
    load_from_partial=True the run trains from what fits."""
    opts = [*tiny_train_options(synth_data, 1, 1), 'env_cfg.cpu_threads=1',
            f'load_from={bins1000_checkpoint}']
    line = _error_line([TINY_CONFIG, '--work-dir', str(tmp_path / 'strict'), *opts])
    assert line.startswith(f'error: {bins1000_checkpoint} does not fit the model: ')
    assert 'vocabulary: checkpoint has 1651 token rows, the model 683' in line
    assert 'set load_from_partial=True' in line

    proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path / 'partial'),
                     *opts, 'load_from_partial=True'])
    log = proc.stdout + proc.stderr
    assert f'partial load of {bins1000_checkpoint}' in log
    assert 'partial load: 2 weights kept their initialisation (another shape' in log
    assert 'Iter(train) [1/1]' in log


@pytest.fixture(scope='module')
def trained_one_iteration(synth_data, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('resume_vocab'))
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work,
              *tiny_train_options(synth_data, 1, 1), 'env_cfg.cpu_threads=1'])
    return work


@pytest.mark.slow
def test_resume_with_another_serializer_says_what_changed(synth_data, trained_one_iteration):
    work = trained_one_iteration
    opts = [*tiny_train_options(synth_data, 2, 1), 'env_cfg.cpu_threads=1']
    line = _error_line([TINY_CONFIG, '--work-dir', work, '--resume', *opts,
                        'serializer.bins=1000'])
    assert line == (f'error: --resume {os.path.join(work, "iter_1.pth")}: the vocabulary '
                    'changed since the checkpoint was written (serializer: '
                    'LocTokenSerializer(bins=32) -> LocTokenSerializer(bins=1000)); a resumed '
                    'run continues the same model -- resume without the change, or start a '
                    'new run from these weights with load_from and load_from_partial=True')
    # the run itself was not harmed: resuming unchanged continues
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work,
                           '--resume', *opts], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Iter(train) [2/2]' in proc.stdout + proc.stderr
