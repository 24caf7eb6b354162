"""Helpers for tests that run eov's command-line tools in fresh processes."""
import os
import subprocess
import sys

from .conftest import ROOT


def run_tool(args, extra_pythonpath=(), timeout=600):
    """Run ``python ARGS`` from the repository root; fail with its output on error.

    Returns:
        The completed process (stdout and stderr as text).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([*extra_pythonpath, ROOT, env.get('PYTHONPATH', '')])
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{args} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n'
                             f'{proc.stderr[-4000:]}')
    return proc


def load_tool(name):
    """Import ``tools/NAME.py`` as a module (to call its ``main()`` in-process)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(f'eov_tool_{name}',
                                                  os.path.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_train_options(data_root, max_iters, interval):
    """``--cfg-options`` for a fast tiny training run on ``data_root``."""
    return ['--cfg-options', f'data_root={data_root}', f'train_cfg.max_iters={max_iters}',
            f'default_hooks.checkpoint.interval={interval}', 'default_hooks.logger.interval=1',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'test_dataloader.batch_size=4',
            'test_dataloader.num_workers=0']


def free_port():
    """A free TCP port on the loopback interface (for torchrun's rendezvous)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_with_torchrun(config, work_dir, options, nproc=2, resume=False):
    """``torchrun --nproc-per-node N tools/train.py CONFIG --launcher pytorch`` on CPU processes.

    Args:
        resume: Add ``--resume`` (continue from the work dir's latest checkpoint).

    Returns:
        The completed process; its output joined as ``.log``.
    """
    proc = run_tool(['-m', 'torch.distributed.run', '--nproc-per-node', str(nproc),
                     '--master-port', str(free_port()), 'tools/train.py', config,
                     '--launcher', 'pytorch', '--work-dir', work_dir,
                     *(['--resume'] if resume else []), *options])
    proc.log = proc.stdout + proc.stderr
    return proc
