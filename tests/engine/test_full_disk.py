"""A disk that fills up while a checkpoint is written: one line, nothing lost, resume continues.

The full disk is real, without root: the training process runs under an
``RLIMIT_FSIZE`` smaller than a checkpoint (and ignores ``SIGXFSZ``), so the
checkpoint's write fails with ``EFBIG`` the way it fails with ``ENOSPC``.
"""
import glob
import os
import resource
import signal
import subprocess
import sys

import pytest

from eov.engine.resume import checkpoint_problem
from eov.utils.io import PARTIAL

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import run_tool, tiny_train_options

#: Bytes a file may grow to under the limit: the logs fit, a checkpoint (~24 MB) does not.
LIMIT = 2_000_000


def _options(data, max_iters):
    return [*tiny_train_options(data, max_iters, 1), 'default_hooks.checkpoint.max_keep_ckpts=1',
            'env_cfg.cpu_threads=1']


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.slow
def test_a_full_disk_while_saving_keeps_the_last_checkpoint(synth_data, tmp_path):
    work = str(tmp_path / 'work')
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, *_options(synth_data, 2)])
    last = os.path.join(work, 'iter_2.pth')
    assert os.path.getsize(last) > LIMIT   # the limit really is smaller than a checkpoint

    env = dict(os.environ, PYTHONPATH=ROOT)
    full = subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work,
                           '--resume', *_options(synth_data, 3)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size)
    assert full.returncode == 2, full.stderr[-3000:]
    assert 'Traceback' not in full.stderr
    err = full.stderr.strip().splitlines()
    assert err[-2] == (f'error: could not write checkpoint {work}/iter_3.pth: [Errno 27] File '
                       'too large (the partial file was removed; the previous checkpoint is '
                       'intact)')
    assert not glob.glob(os.path.join(work, '*' + PARTIAL))
    with open(os.path.join(work, 'last_checkpoint')) as f:
        assert f.read().strip() == last
    assert checkpoint_problem(last) is None
    assert not os.path.exists(os.path.join(work, 'iter_3.pth'))

    # space again: --resume continues from iter_2
    proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
                     *_options(synth_data, 3)])
    log = proc.stdout + proc.stderr
    assert f'resuming from {last}' in log and 'Iter(train) [3/3]' in log
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(work, '*.pth'))) \
        == ['iter_3.pth']
