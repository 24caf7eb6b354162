"""Launching a run from the command line: what ``tools/train.py`` and ``tools/test.py`` share.

The options every runner tool takes (:func:`add_runner_arguments`), the config a
run uses (:func:`prepare_config`), building its runner (:func:`build_runner`),
the process group of a ``torchrun`` job, and eov's bad-input errors as one line
(:class:`clear_errors`). The runners themselves are in :mod:`eov.engine.runner`.
"""
from __future__ import annotations

import errno
import os
import os.path as osp
import sys

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from .config import check_run_settings, config_for_checkpoint, load_config

__all__ = ['add_runner_arguments', 'build_runner', 'clear_errors', 'parse_runner_args',
           'prepare_config']


class OverrideAction(DictAction):
    """MMEngine's ``--cfg-options`` parsing, with an item that is not ``KEY=VALUE`` (or has
    an empty key) refused in one ``error:`` line (exit 2) instead of a traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values or ():
            key = kv.split('=', 1)[0].strip()
            if '=' not in kv or not key:
                print(f'error: {option_string or "--cfg-options"} {kv}: expected KEY=VALUE '
                      f'(e.g. {key or "train_cfg.max_iters"}=4)', file=sys.stderr)
                raise SystemExit(2)
        super().__call__(parser, namespace, values, option_string)


def add_runner_arguments(parser, work_dir_help: str) -> None:
    """Add the options every runner tool shares (work dir, overrides, launcher)."""
    parser.add_argument('--work-dir', help=work_dir_help)
    parser.add_argument('--cfg-options', nargs='+', action=OverrideAction, default={},
                        help='override config keys, e.g. train_cfg.max_iters=4')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help="'pytorch' when started by torchrun")
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    parser.add_argument('--debug', action='store_true',
                        help="show the full traceback of eov's own errors (bad records, "
                        'rasters, configs, checkpoints) instead of one line')


def parse_runner_args(parser, argv=None):
    """Parse ``argv`` and export ``LOCAL_RANK`` for launchers that pass it as a flag."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def prepare_config(config: str, work_dir: str | None = None, cfg_options: dict | None = None,
                   launcher: str = 'none', resume: bool | str = False,
                   checkpoint: str | None = None, use_saved_config: bool = True) -> Config:
    """Load ``config`` and fill in what the command line decides.

    Args:
        config: Path of a Python config file.
        work_dir: Output directory (default ``work_dirs/<config name>``).
        cfg_options: ``--cfg-options`` overrides.
        launcher: ``'none'`` or ``'pytorch'`` (torchrun).
        resume: ``True`` resumes from the latest checkpoint of ``work_dir``; a
            path resumes from that checkpoint.
        checkpoint: Weights the run will load: the model keys of the config
            saved in it replace the file's (see
            :func:`~eov.engine.config.config_for_checkpoint`).
        use_saved_config: ``False`` ignores the checkpoint's saved config.

    Returns:
        The config, ready for ``Runner.from_cfg``.
    """
    if checkpoint is not None:
        cfg, source = config_for_checkpoint(config, checkpoint, cfg_options,
                                            use_saved=use_saved_config)
        if source == 'checkpoint':
            from mmengine.logging import print_log
            print_log(f'model settings from the config saved in {checkpoint}', logger='current')
    else:
        cfg = load_config(config, cfg_options)
    check_run_settings(cfg, config, cfg_options)
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if resume and not cfg.get('stages'):   # a PCMA chain resumes stage by stage itself
        cfg.resume = True
        cfg.load_from = resume if isinstance(resume, str) else None
    return cfg


def init_cpu_distributed(cfg: Config) -> None:
    """Join the torchrun process group with gloo when there is no GPU.

    MMEngine's ``init_dist('pytorch')`` always calls ``torch.cuda.set_device``,
    which fails on CPU-only machines; the Runner skips its own initialisation
    when a process group already exists.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available() \
            or dist.is_initialized():
        return
    dist.init_process_group(backend='gloo')


def shutdown_distributed() -> None:
    """Leave the process group cleanly at the end of a torchrun job.

    Without it the gloo group is torn down during interpreter exit, and a rank that
    is still sending the last checkpoint barrier can abort with "terminate called
    without an active exception" (exit -6) although its work is saved.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build_runner(cfg: Config):
    """Build MMEngine's Runner (or the config's ``runner_type``) from ``cfg``."""
    from mmengine.runner import Runner

    from eov.registry import RUNNERS

    from .runner import build_deepspeed_runner
    from .strategies import strategy_of
    init_cpu_distributed(cfg)
    os.makedirs(cfg.work_dir, exist_ok=True)
    if strategy_of(cfg)['type'] == 'deepspeed':
        return build_deepspeed_runner(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def _eov_errors() -> tuple:
    """Exceptions that describe bad input (named file / record / key), not eov bugs."""
    from eov.datasets.schema import RecordError
    from eov.modalities.io import RasterReadError
    from eov.models.attention import AttentionUnavailableError
    from eov.models.weights import CheckpointError
    from eov.registry import UnknownPluginError

    from .config import ConfigError, ConfigKeyError
    from .resume import ResumeError
    from .strategies import StrategyError
    return (StrategyError, RecordError, RasterReadError, UnknownPluginError, ConfigKeyError,
            CheckpointError, ResumeError, ConfigError, FileNotFoundError,
            AttentionUnavailableError)


#: ``errno`` values of a full or unwritable disk: the user's to fix, not an eov bug.
STORAGE_ERRNOS = frozenset(getattr(errno, n) for n in ('ENOSPC', 'EDQUOT', 'EFBIG', 'EROFS')
                           if hasattr(errno, n))


def storage_error(err: BaseException) -> bool:
    """``err`` is an ``OSError`` of a full disk, a quota, a file-size limit or a read-only
    file system (on itself or the error it was raised from, e.g. eov's
    ``could not write checkpoint ...``)."""
    for _ in range(4):
        if isinstance(err, OSError) and err.errno in STORAGE_ERRNOS:
            return True
        err = getattr(err, '__cause__', None) or getattr(err, '__context__', None)
    return False


def error_line(err: BaseException) -> str:
    """One line (or two, for an error re-raised from a data-loading worker) for ``err``."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith('Caught '):   # from a DataLoader worker
        return lines[-1]
    return lines[0] if len(lines) == 1 else '\n  '.join(lines[:8])


class clear_errors:
    """Turn eov's bad-input errors (and a full disk) into ``error: <message>`` and exit 2.

    The full traceback is kept behind ``--debug`` (``debug=True`` re-raises).
    """

    def __init__(self, debug: bool = False):
        self.debug = debug

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or self.debug or not (isinstance(exc, _eov_errors())
                                             or storage_error(exc)):
            return False
        print(f'error: {error_line(exc)}', file=sys.stderr)
        print('(run with --debug for the full traceback)', file=sys.stderr)
        raise SystemExit(2)
