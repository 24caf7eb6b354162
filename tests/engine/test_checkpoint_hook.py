"""Kill-safe checkpoints end to end (eov.engine.checkpoint_hook with the runner's atomic save,
and eov.engine.resume): atomic writes, delete-after-save, resume from the last good one."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from eov.engine.resume import ResumeError, checkpoint_problem, latest_good_checkpoint
from eov.utils.io import PARTIAL

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import run_tool, tiny_train_options


def _options(data, max_iters, keep=1):
    return [*tiny_train_options(data, max_iters, 1),
            f'default_hooks.checkpoint.max_keep_ckpts={keep}', 'randomness.seed=0',
            'env_cfg.cpu_threads=1']


def _scalars(work):
    """``{iter: (loss, lr)}`` from every run (timestamp folder) of a work dir."""
    out = {}
    for path in sorted(glob.glob(os.path.join(work, '*', 'vis_data', 'scalars.json'))):
        for line in open(path):
            row = json.loads(line)
            if 'loss' in row:
                out[row['iter']] = (row['loss'], row['lr'])
    return out


def _pointer(work):
    with open(os.path.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


@pytest.fixture(scope='module')
def uninterrupted(synth_data, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('uninterrupted'))
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, *_options(synth_data, 8)])
    return work


@pytest.mark.slow
def test_keep_one_checkpoint_and_point_at_it(uninterrupted):
    """max_keep_ckpts=1: exactly the newest checkpoint survives, complete, pointed at."""
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(uninterrupted, '*.pth'))) \
        == ['iter_8.pth']
    assert _pointer(uninterrupted).endswith('iter_8.pth')
    assert checkpoint_problem(_pointer(uninterrupted)) is None
    assert not glob.glob(os.path.join(uninterrupted, '*' + PARTIAL))


@pytest.mark.slow
def test_sigkill_during_a_save_loses_nothing_and_resume_matches(synth_data, uninterrupted,
                                                                tmp_path):
    """Killed with SIGKILL while writing a checkpoint (max_keep_ckpts=1), the run resumes
    from the last complete one and its losses equal the uninterrupted run's."""
    work = str(tmp_path / 'killed')
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work,
                             *_options(synth_data, 8)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            partial = glob.glob(os.path.join(work, f'iter_*.pth{PARTIAL}'))
            # the third save is under way: kill it mid-write
            if any(p.endswith(f'iter_3.pth{PARTIAL}') for p in partial):
                proc.send_signal(signal.SIGKILL)
                killed_at = partial
                break
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    assert killed_at, 'the training finished before the third save could be interrupted'
    # iter_2 (the last complete one) survived, last_checkpoint points at it
    assert _pointer(work).endswith('iter_2.pth')
    assert checkpoint_problem(_pointer(work)) is None
    assert latest_good_checkpoint(work).endswith('iter_2.pth')
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
              *_options(synth_data, 8)])
    resumed, reference = _scalars(work), _scalars(uninterrupted)
    assert sorted(reference) == list(range(1, 9))
    for it in range(3, 9):
        assert resumed[it][0] == pytest.approx(reference[it][0], rel=1e-4, abs=1e-5), it
        assert resumed[it][1] == pytest.approx(reference[it][1], rel=1e-6), it
    assert not glob.glob(os.path.join(work, '*' + PARTIAL))


@pytest.mark.slow
def test_truncated_last_checkpoint_falls_back_to_the_previous(synth_data, tmp_path):
    work = str(tmp_path / 'trunc')
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work,
              *_options(synth_data, 3, keep=2)])
    last = _pointer(work)
    assert last.endswith('iter_3.pth')
    with open(last, 'r+b') as f:    # a disk that filled up / a copy cut short
        f.truncate(os.path.getsize(last) // 2)
    assert 'truncated' in checkpoint_problem(last)
    assert latest_good_checkpoint(work).endswith('iter_2.pth')
    proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
                     *_options(synth_data, 4, keep=2)])
    log = proc.stdout + proc.stderr
    assert 'skipped' in log and 'iter_3.pth' in log and 'resuming from' in log
    assert 'Iter(train) [3/4]' in log   # iteration 3 is trained again
    # nothing complete left: a clear error naming the files
    for path in glob.glob(os.path.join(work, 'iter_*.pth')):
        open(path, 'wb').close()
    with pytest.raises(ResumeError, match='no complete checkpoint.*iter_4.pth is empty'):
        latest_good_checkpoint(work)


@pytest.mark.slow
def test_resume_without_a_checkpoint_is_a_clear_error(synth_data, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir',
                           str(tmp_path / 'empty'), '--resume', *_options(synth_data, 2)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert 'error: --resume: no checkpoint in' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_a_longer_max_iters_on_resume_takes_effect(synth_data, uninterrupted, tmp_path):
    """Trained to 4 with max_iters=4, resumed with max_iters=8: iterations 5-8 follow the
    8-iteration schedule (LR) of the uninterrupted run."""
    work = str(tmp_path / 'short')
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, *_options(synth_data, 4)])
    proc = run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume',
                     *_options(synth_data, 8)])
    assert 'the schedule follows this config' in proc.stdout + proc.stderr
    resumed, reference = _scalars(work), _scalars(uninterrupted)
    assert max(resumed) == 8
    for it in range(5, 9):
        assert resumed[it][1] == pytest.approx(reference[it][1], rel=1e-6), it


@pytest.mark.slow
def test_safetensors_weights_beside_each_checkpoint(synth_data, tmp_path):
    """save_safetensors=True: iter_N.safetensors next to iter_N.pth (same weights, the
    config text in its metadata), kept and removed with it; tools/test.py evaluates it."""
    import torch

    from eov.models.weights import load_checkpoint_safely, read_checkpoint
    work = str(tmp_path / 'st')
    run_tool(['tools/train.py', TINY_CONFIG, '--work-dir', work, *_options(synth_data, 2),
              'default_hooks.checkpoint.save_safetensors=True'])
    assert sorted(os.listdir(work))[-3:] == ['iter_2.pth', 'iter_2.safetensors',
                                             'last_checkpoint']
    assert not glob.glob(os.path.join(work, 'iter_1.*'))   # removed together
    pth = load_checkpoint_safely(os.path.join(work, 'iter_2.pth'))
    st = read_checkpoint(os.path.join(work, 'iter_2.safetensors'))
    assert st['meta']['iter'] == 2 and 'model = ' in st['meta']['cfg']
    assert st['state_dict'].keys() == pth['state_dict'].keys()
    for key, value in pth['state_dict'].items():
        assert torch.equal(st['state_dict'][key], value), key
    # a weights file is a checkpoint for evaluation (the model rebuilt from its config)
    out = str(tmp_path / 'eval')
    run_tool(['tools/test.py', TINY_CONFIG, os.path.join(work, 'iter_2.safetensors'),
              '--work-dir', out, '--cfg-options', f'data_root={synth_data}',
              'test_dataloader.num_workers=0', 'test_dataloader.batch_size=4'])
    with open(os.path.join(out, 'metrics.json')) as f:
        assert 'grounding/Acc@0.5' in json.load(f)
    with open(os.path.join(work, 'broken.safetensors'), 'wb') as f:
        f.write(b'\x00' * 10)
    with pytest.raises(Exception, match='broken.safetensors: not a readable safetensors'):
        read_checkpoint(os.path.join(work, 'broken.safetensors'))
