"""eov's runners: :class:`EOVRunner` (MMEngine's Runner with eov's rules) and its DeepSpeed twin.

How a runner is built from the command line is :mod:`eov.engine.launch`'s; the
rules the Runner applies each have their own module: visual-token counts
(:mod:`eov.engine.image_tokens`), strategies (:mod:`eov.engine.strategies`,
:mod:`eov.engine.wrappers`), loading weights (:mod:`eov.models.weights`),
kill-safe checkpoints (:mod:`eov.engine.checkpoint_hook`, :mod:`eov.engine.resume`).
"""
from __future__ import annotations

import copy
import json
import logging
import os
import os.path as osp
from unittest.mock import patch

import torch
from mmengine.logging import print_log
from mmengine.runner import Runner

from eov.models.weights import SAFETENSORS_META, load_weights, read_checkpoint, write_safetensors
from eov.registry import RUNNERS
from eov.utils.io import PARTIAL

from .config import PlainTextConfig, config_text, partial_settings
from .image_tokens import (DATALOADER_KEYS, check_pipeline_modalities, fill_image_tokens,
                           model_image_tokens)
from .resume import ResumeError, check_resume, checkpoint_problem, latest_good_checkpoint
from .strategies import StrategyError, apply_strategy, strategy_of
from .wrappers import full_state, is_sharded

#: Scheduler state a resumed run takes from its checkpoint (the rest follows the config).
SCHEDULER_PROGRESS = frozenset({'last_step', '_global_step', '_last_value', 'base_values',
                                '_get_value_called_within_step', 'last_epoch'})


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:   # arrays, tensors
        return repr(a) == repr(b)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def cpu_threads(setting, num_workers: int = 0, world_size: int = 1) -> int | None:
    """Intra-op threads for one training process on a CPU.

    Args:
        setting: ``None`` (leave torch's default), an int, or ``'auto'``:
            the cores this process may use without oversubscribing the
            machine -- its share of the CPUs (``os.sched_getaffinity``) after
            the data-loading workers of every process take one core each.
        num_workers: Data-loading workers of this process.
        world_size: Processes on this machine.

    Returns:
        A thread count, or ``None`` to leave torch's default.
    """
    if setting is None:
        return None
    if setting != 'auto':
        if int(setting) < 1:
            raise ValueError(f'env_cfg.cpu_threads must be >= 1 or "auto", got {setting!r}')
        return int(setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
        else (os.cpu_count() or 1)
    return max(1, cores // max(1, world_size) - int(num_workers))


@RUNNERS.register_module()
class EOVRunner(Runner):
    """MMEngine's Runner with eov's rules.

    - **Visual-token counts come from the model.** After the model is built,
      every ``TokenizeConversation`` with ``image_tokens='auto'`` (the
      default) gets the model's per-modality counts, so no config restates them.
    - **PCMA stages.** When the config has a ``stage`` (set by the chain
      runner, :mod:`eov.engine.chain`), its trainable set is applied *before*
      the distributed wrapper is built, so DDP sees exactly the stage's
      trainable parameters.
    - **Strict loading.** Checkpoints (``load_from``, resume, stage
      initialisation) load strictly: weights of another architecture are an
      error, never a silently half-loaded model; ``load_from_partial`` allows a
      logged partial ``load_from`` on purpose
      (:func:`~eov.engine.config.partial_settings`, :func:`~eov.models.weights.load_weights`).
    - **Strategies.** ``cfg.strategy`` (DDP / FSDP2; :mod:`eov.engine.strategies`)
      is validated once and decides the wrapper, precision, accumulation and
      clipping; under FSDP, checkpoints hold gathered full state.
    - **Kill-safe checkpoints.** Written to ``<file>.partial`` and renamed when
      complete (:mod:`eov.engine.checkpoint_hook`); a resume takes the newest
      complete one and this config's schedule (:mod:`eov.engine.resume`).
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'EOVRunner':
        """Build from a config whose ``pretty_text`` is :func:`config_text` (fast)."""
        cfg = copy.copy(cfg)
        object.__setattr__(cfg, '__class__', PlainTextConfig)
        strategy = apply_strategy(cfg)   # validated once; writes wrapper / optim settings
        runner = super().from_cfg(cfg)
        runner.strategy = strategy
        # one line: processes, batch sizes, accumulation, precision, clipping
        per_step = strategy['micro_batch_size'] * strategy['processes'] * strategy['accumulation']
        print_log(f"strategy {strategy['type']}: {strategy['processes']} process(es) x "
                  f"{strategy['micro_batch_size']} samples x {strategy['accumulation']} "
                  f"accumulation = {per_step} samples per optimizer step; "
                  f"precision {strategy['precision']}, grad clip {strategy['grad_clip']}, "
                  f"activation checkpointing {bool(strategy['activation_checkpointing'])}",
                  logger='current')
        return runner

    def setup_env(self, env_cfg) -> None:
        """MMEngine's environment set-up, plus deliberate CPU thread counts.

        ``env_cfg.cpu_threads`` (``'auto'``, an int or ``None``) sets the
        main process's torch threads when training on a CPU (see
        :func:`cpu_threads`); data-loading workers run one thread each
        (PyTorch's default in workers). Without it, torch starts one thread
        per core in every process, and a busy machine slows training tenfold
        (docs/benchmarks.md).
        """
        super().setup_env(env_cfg)
        setting = env_cfg.get('cpu_threads')
        if setting is None or torch.cuda.is_available():
            return
        loader = self._train_dataloader if isinstance(self._train_dataloader, dict) else {}
        n = cpu_threads(setting, loader.get('num_workers', 0), self._world_size)
        torch.set_num_threads(n)
        print_log(f'torch CPU threads: {n} (env_cfg.cpu_threads={setting!r}, '
                  f"{loader.get('num_workers', 0)} data workers)", logger='current')

    def build_model(self, model):
        """Build the model, fill the pipelines' visual-token counts, apply the stage."""
        model = super().build_model(model)
        loaders = [self._train_dataloader, self._val_dataloader, self._test_dataloader]
        if hasattr(model, 'adapters'):
            check_pipeline_modalities(loaders, list(model.adapters))
        if hasattr(model, 'adapters') and hasattr(model, 'num_image_tokens'):
            counts = model_image_tokens(model)
            if fill_image_tokens(loaders, counts):
                print_log(f'visual tokens per sample (from the model): {counts}',
                          logger='current')
        if strategy_of(self.cfg)['activation_checkpointing']:
            if not hasattr(model, 'enable_activation_checkpointing'):
                raise ValueError('strategy.activation_checkpointing=True, but '
                                 f'{type(model).__name__} has no enable_activation_checkpointing()')
            print_log(f'activation checkpointing: {model.enable_activation_checkpointing()}',
                      logger='current')
        stage = self.cfg.get('stage')
        if stage:
            from eov.registry import STAGES, build_from_any
            # the stage's own (possibly third-party) class, so its freeze() is the one used;
            # configs saved before stages carried their type rebuild a plain Stage
            spec = build_from_any(dict(stage), STAGES, type='Stage')
            counts = spec.freeze(model)
            total = counts['trainable'] + counts['frozen']
            print_log(f"stage {spec.name!r}: {counts['trainable']:,} of {total:,} parameters "
                      f"train ({', '.join(spec.trainable)})", logger='current')
        return model

    def _init_model_weights(self) -> None:
        """MMEngine's, except under FSDP: its wrapper broadcast rank 0's weights before
        sharding (DTensor shards cannot be broadcast)."""
        if not is_sharded(self.model):
            return super()._init_model_weights()
        self.model.module.init_weights()

    # -- kill-safe checkpoints (eov.engine.checkpoint_hook, eov.engine.resume) ----------
    def save_checkpoint(self, out_dir: str, filename: str, *args, safetensors: bool = False,
                        **kwargs):
        """MMEngine's save, written to ``<file>.partial`` and renamed when complete.

        A failed write (a full disk, say) removes the partial file and raises an
        ``OSError`` naming the checkpoint; the previous checkpoint stays usable.
        ``safetensors=True`` also writes the model weights (and the config text)
        as ``<name>.safetensors``. (MMEngine writes the file by name, on the main
        process only, so :func:`eov.utils.io.atomic_write` cannot wrap it: the same
        ``.partial`` rule is applied here.)
        """
        final = osp.join(out_dir, filename)
        partial = final + PARTIAL
        weights = None
        try:
            if is_sharded(self.model):
                # FSDP: every rank gathers the full weights and optimizer state
                # (collective); rank 0 writes them in MMEngine's layout, so the file
                # loads into one process and resumes under any strategy
                module = self.model.module
                weights = full_state(module.state_dict())
                optim = full_state(self.optim_wrapper.state_dict())
                # (MMEngine's save calls state_dict() on rank 0 only: serve the gathered ones)
                with patch.object(module, 'state_dict', lambda *a, **k: weights), \
                        patch.object(self.optim_wrapper, 'state_dict', lambda *a, **k: optim):
                    super().save_checkpoint(out_dir, filename + PARTIAL, *args, **kwargs)
            else:
                super().save_checkpoint(out_dir, filename + PARTIAL, *args, **kwargs)
            if safetensors and self.rank == 0:
                self._save_safetensors(final, weights)
        except (OSError, RuntimeError) as err:
            if osp.exists(partial):
                os.remove(partial)
            raise OSError(f'could not write checkpoint {final}: {err} (the partial file was '
                          'removed; the previous checkpoint is intact)') from err
        if osp.exists(partial):   # written by the main process only
            os.replace(partial, final)

    def _save_safetensors(self, final: str, weights: dict | None) -> None:
        """Write the model weights of checkpoint ``final`` as ``<name>.safetensors``."""
        if weights is None:
            weights = getattr(self.model, 'module', self.model).state_dict()
        meta = dict(cfg=config_text(self.cfg), iter=self.iter + 1, epoch=self.epoch)
        write_safetensors(weights, osp.splitext(final)[0] + '.safetensors',
                          {SAFETENSORS_META: json.dumps(meta)})

    def load_or_resume(self) -> None:
        """Resume from the newest *complete* checkpoint of the work dir; clear errors.

        ``--resume`` with no checkpoint in the work dir is an error (MMEngine
        would silently train from scratch); a truncated ``last_checkpoint``
        target is skipped for the newest complete one (logged).
        """
        if self._has_loaded:
            return None
        if self._resume and self._load_from is None:
            found = latest_good_checkpoint(self.work_dir)
            if found is None:
                raise ResumeError(f'--resume: no checkpoint in {self.work_dir} to resume '
                                  'from (train without --resume to start)')
            self._load_from = found
            print_log(f'resuming from {found}', logger='current')
        elif self._resume:
            problem = checkpoint_problem(self._load_from)
            if problem is not None:
                raise ResumeError(f'--resume {self._load_from}: the checkpoint is {problem}')
        elif self._load_from is not None:   # load_from: strict, or as load_from_partial says
            self.load_checkpoint(self._load_from, partial=self.cfg.get('load_from_partial'),
                                 hint_partial=True)
            return None
        return super().load_or_resume()

    def resume(self, filename: str, *args, **kwargs) -> None:
        """MMEngine's resume, keeping the schedule of *this* config.

        A checkpoint stores its parameter schedulers whole, ``total_steps`` /
        ``end`` included, so a resumed run with a new ``train_cfg.max_iters``
        would keep the old schedule. Only the progress (step counters, last
        values) is taken from the checkpoint; the rest comes from the config.
        """
        fresh = [s.state_dict() for s in self._flat_schedulers()]
        super().resume(filename, *args, **kwargs)
        changed = []
        for sched, state in zip(self._flat_schedulers(), fresh):
            keys = [key for key, value in state.items() if key not in SCHEDULER_PROGRESS
                    and key in sched.__dict__ and not _same(sched.__dict__[key], value)]
            changed += [f'{type(sched).__name__}.{key}: {_short(sched.__dict__[key])} -> '
                        f'{_short(state[key])}' for key in keys]
            sched.__dict__.update({key: state[key] for key in keys})
            if keys and sched._global_step >= sched.begin:
                # steps past the old end did not count: count them under the new one
                sched.last_step = min(sched._global_step, sched.end - 1) - sched.begin
            if keys and sched.begin <= sched._global_step < sched.end:
                # the optimizer holds the value the old schedule set: recompute it now
                for group, value in zip(sched.optimizer.param_groups, sched._get_value()):
                    group[sched.param_name] = value
                sched._last_value = [g[sched.param_name] for g in sched.optimizer.param_groups]
        if changed:
            print_log('resume: the schedule follows this config (' + '; '.join(changed) + ')',
                      logger='current')

    def _flat_schedulers(self) -> list:
        scheds = self.param_schedulers or []
        return [s for group in scheds.values() for s in group] if isinstance(scheds, dict) \
            else list(scheds)

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = True,
                        revise_keys=[(r'^module.', '')], partial=None, hint_partial=False):
        """Load weights strictly, or as ``partial`` allows (``eov.models.weights.load_weights``).

        Args:
            filename: Checkpoint file (or an MMEngine URI).
            map_location: As for ``torch.load``.
            strict: Ignored: eov loads strictly unless ``partial`` says otherwise.
            revise_keys: ``(pattern, replacement)`` pairs for the checkpoint's keys.
            partial: ``load_from_partial`` settings (``load_from`` only; a
                resumed run always loads strictly).
            hint_partial: Name ``load_from_partial`` in the error of a strict load.

        Returns:
            The checkpoint dict.

        Raises:
            CheckpointError: the file does not fit the model (counts, keys, vocabulary).
            ResumeError: a resumed run whose serializer or tokenizer changed.
        """
        from mmengine.model import is_model_wrapper
        if not strict:
            print_log('eov loads checkpoints strictly; strict=False ignored', logger='current',
                      level=logging.DEBUG)
        checkpoint = read_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if self._resume:   # the same model continues: strict, same vocabulary
            check_resume(checkpoint, self.cfg, filename)
            partial = None
        load_weights(model, checkpoint, filename, cfg=self.cfg,
                     partial=partial_settings(partial), hint_partial=hint_partial,
                     revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint


def build_deepspeed_runner(cfg):
    """MMEngine's ``FlexibleRunner`` with ``DeepSpeedStrategy`` for ``strategy.type='deepspeed'``.

    The model is built here so eov's runner rules still hold (visual-token
    counts from the model, activation checkpointing); PCMA stage freezing and
    eov's kill-safe checkpoint writer are not available with DeepSpeed (it
    writes its own checkpoint folders) -- a chain stage is refused.

    Raises:
        StrategyError: DeepSpeed missing, or a PCMA stage config.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import FlexibleRunner

    from eov.registry import MODELS
    if cfg.get('stage'):
        raise StrategyError("strategy.type='deepspeed' does not run PCMA stages (frozen sets "
                            "change between stages); use strategy.type='fsdp' or 'ddp'")
    spec = apply_strategy(cfg)
    init_default_scope(cfg.get('default_scope', 'eov'))
    model = MODELS.build(cfg.model)   # built here: eov's rules need the model itself
    fill_image_tokens([cfg.get(k) for k in DATALOADER_KEYS], model_image_tokens(model))
    if spec['activation_checkpointing']:
        model.enable_activation_checkpointing()
    cfg.model = model
    hooks = cfg.get('default_hooks') or {}
    if (hooks.get('checkpoint') or {}).get('type') == 'EOVCheckpointHook':
        hooks['checkpoint']['type'] = 'CheckpointHook'   # DeepSpeed saves folders itself
    cfg.strategy = cfg.pop('deepspeed_strategy')
    cfg.pop('model_wrapper_cfg', None)
    return FlexibleRunner.from_cfg(cfg)
