"""The PCMA chain runner: train a config's ``stages`` one after another.

Each stage is one MMEngine run (an :class:`~eov.engine.runner.EOVRunner`)
in its own folder ``WORK/<index>_<name>/`` with its logs and checkpoints; at
its end the stage's weights are saved as ``stage_final.pth`` there, the next
stage starts from them (``init='previous'``), and the last stage's weights
become ``WORK/final.pth``. Because every stage builds a fresh runner, the
distributed wrapper is rebuilt for each stage's trainable set (``torchrun``
works as for one run).

``resume=True`` skips finished stages (those with ``stage_final.pth``) and
resumes the first unfinished one from its latest checkpoint (or starts it
from its initial weights when it has none). ``only='NAME'`` runs one stage.
"""
from __future__ import annotations

import gc
import os
import os.path as osp
import shutil
import time

from mmengine.config import Config
from mmengine.dist import barrier, get_rank
from mmengine.logging import print_log

from eov.models.weights import write_checkpoint
from eov.registry import STAGES, build_from_any
from eov.utils.io import atomic_write, write_json_atomically

from .config import config_text
from .launch import build_runner
from .wrappers import full_state, is_sharded

#: File a finished stage leaves in its folder (its final weights).
STAGE_FINAL = 'stage_final.pth'
#: The chain's final weights in the chain's work dir.
CHAIN_FINAL = 'final.pth'


def build_stages(cfg: Config) -> list:
    """The config's stages, built and checked (unique names, at least one).

    Raises:
        ValueError: when ``stages`` is missing or empty, or names repeat.
    """
    specs = cfg.get('stages')
    if not specs:
        raise ValueError('the config has no `stages` (a PCMA chain config lists them)')
    stages = []
    for spec in specs:
        stage = build_from_any(dict(spec) if isinstance(spec, dict) else spec, STAGES)
        if isinstance(spec, dict):   # each stage run rebuilds this very stage (Stage.apply)
            stage.spec = dict(spec)
        stages.append(stage)
    names = [s.name for s in stages]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f'stage names must be unique, repeated: {dup}')
    return stages


def stage_dir(work_dir: str, index: int, stage) -> str:
    """The folder of stage ``index`` (0-based): ``WORK/<index+1>_<name>``."""
    return osp.join(work_dir, f'{index + 1}_{stage.name}')


def _initial_weights(cfg: Config, stages: list, index: int) -> str | None:
    stage = stages[index]
    if stage.init == 'previous' and index > 0:
        prev = osp.join(stage_dir(cfg.work_dir, index - 1, stages[index - 1]), STAGE_FINAL)
        if not osp.isfile(prev):
            raise FileNotFoundError(
                f'stage {stage.name!r} starts from the previous stage '
                f'{stages[index - 1].name!r}, whose final weights {prev} do not exist: run '
                f"that stage first (or give stage {stage.name!r} init='path/to.pth')")
        return prev
    if stage.init in (None, 'previous'):
        return cfg.get('load_from')
    if not osp.isfile(stage.init):
        raise FileNotFoundError(f'stage {stage.name!r}: init checkpoint {stage.init} not found')
    return stage.init


def run_stage(cfg: Config, stages: list, index: int, resume: bool = False,
              stop_at: int | None = None) -> str:
    """Train stage ``index`` of the chain; returns its ``stage_final.pth``.

    Args:
        stop_at: End the run after this many iterations, its learning-rate
            schedule still sized for the stage's full length (a probe of a long
            stage's first iterations); ``None``: train the whole stage.
    """
    stage = stages[index]
    folder = stage_dir(cfg.work_dir, index, stage)
    resume_here = bool(resume and osp.isfile(osp.join(folder, 'last_checkpoint')))
    init = None if resume_here else _initial_weights(cfg, stages, index)
    stage_cfg = stage.apply(cfg, folder, init, resume=resume_here)
    if stop_at is not None:
        stage_cfg.train_cfg.max_iters = min(int(stop_at), stage.iters)
    how = 'resuming' if resume_here else f'from {init}' if init else 'from scratch'
    stop = f' (stopping at {stage_cfg.train_cfg.max_iters})' if stop_at is not None else ''
    print_log(f'PCMA stage {index + 1}/{len(stages)} {stage.name!r}: {stage.iters} iterations'
              f'{stop}, {how}; mixture {stage.mixture}', logger='current')
    runner = build_runner(stage_cfg)
    runner.train()
    final = osp.join(folder, STAGE_FINAL)
    weights = None
    if get_rank() == 0 or is_sharded(runner.model):   # FSDP: gathering is collective
        weights = full_state(getattr(runner.model, 'module', runner.model).state_dict())
    if get_rank() == 0:
        # 'cfg' (the stage's full config text, as MMEngine's checkpoints store it) lets
        # tools/test.py, the inferencer and the export rebuild exactly this model
        write_checkpoint(final, weights, dict(stage=stage.name, index=index + 1,
                                              iter=runner.iter, config=cfg.filename,
                                              cfg=config_text(stage_cfg)))
    barrier()
    stage.trained_iters = int(runner.iter)   # for chain.json (--stop-at ends stages early)
    del runner
    gc.collect()
    return final


def run_chain(cfg: Config, only: str | None = None, resume: bool = False,
              stop_at: int | None = None) -> str:
    """Train the chain (or one stage of it).

    Args:
        cfg: The chain config (``stages``, ``work_dir`` set).
        only: Name of the one stage to run (``None``: all, in order).
        resume: Skip finished stages and resume the first unfinished one.
        stop_at: Run only the first ``stop_at`` iterations of every stage, each
            with the schedule of its full length (see :func:`run_stage`).

    Returns:
        The path of the weights the run ended with (``WORK/final.pth`` after
        the last stage, else the stage's ``stage_final.pth``).
    """
    stages = build_stages(cfg)
    names = [s.name for s in stages]
    if only is not None and only not in names:
        raise ValueError(f'--stage {only!r} is not a stage of this chain ({", ".join(names)})')
    os.makedirs(cfg.work_dir, exist_ok=True)
    log = []
    final = None
    for index, stage in enumerate(stages):
        if only is not None and stage.name != only:
            continue
        done = osp.join(stage_dir(cfg.work_dir, index, stage), STAGE_FINAL)
        if resume and osp.isfile(done) and only is None:
            print_log(f'PCMA stage {stage.name!r} already finished ({done}): skipped',
                      logger='current')
            final = done
            log.append(dict(stage=stage.name, iters=stage.iters, status='skipped'))
            continue
        start = time.time()
        final = run_stage(cfg, stages, index, resume=resume, stop_at=stop_at)
        log.append(dict(stage=stage.name, iters=getattr(stage, 'trained_iters', stage.iters),
                        planned_iters=stage.iters, status='trained',
                        seconds=round(time.time() - start, 1)))
    if final is not None and (only is None or only == names[-1]):
        chain_final = osp.join(cfg.work_dir, CHAIN_FINAL)
        if get_rank() == 0:
            with open(final, 'rb') as src, atomic_write(chain_final, 'wb') as dst:
                shutil.copyfileobj(src, dst)   # the last stage's weights, byte for byte
            write_json_atomically(osp.join(cfg.work_dir, 'chain.json'),
                                  dict(stages=log, final=chain_final), indent=1)
        barrier()
        final = chain_final
    return final
