"""Training strategies chosen by config: ``cfg.strategy`` checked and written into the config.

A config says how training is distributed and its numerics in one dict::

    strategy = dict(
        type='ddp',                  # 'ddp' | 'fsdp' | 'deepspeed'
        precision='fp32',            # 'fp32' | 'bf16' | 'fp16' (fp16: CUDA, loss scaling)
        global_batch_size=None,      # samples per optimizer step, all processes together
        grad_clip=1.0,               # max gradient norm (None: no clipping)
        activation_checkpointing=False,
    )

:func:`apply_strategy` validates it once and writes what MMEngine needs
(``model_wrapper_cfg``, ``optim_wrapper`` type / accumulation / clipping), so
there is one source of truth: the micro-batch is ``train_dataloader.batch_size``
(samples per process and step), accumulation is *derived* from
``global_batch_size``, clipping and precision come from here. Setting them also
in ``optim_wrapper`` is an error that says where they belong.

This module only rewrites the config; the wrappers it names live in
:mod:`eov.engine.wrappers`, the runners in :mod:`eov.engine.runner`.

- ``ddp`` -- :class:`~eov.engine.wrappers.EOVDistributedDataParallel` (also one
  process, and CPU processes with gloo).
- ``fsdp`` -- PyTorch FSDP2 (``torch.distributed.fsdp.fully_shard``): every
  decoder layer of the LM and every block of the vision backbone is a shard
  unit, then the whole model
  (:class:`~eov.engine.wrappers.EOVFullyShardedDataParallel`). Runs on
  CPU processes (gloo) as on GPUs. Checkpoints hold *full* (gathered) weights
  and optimizer state in MMEngine's layout, so a FSDP checkpoint loads into a
  single-process model, and resumes under any strategy.
- ``deepspeed`` -- ZeRO stage 1/2/3 through MMEngine's ``DeepSpeedStrategy``
  and ``FlexibleRunner`` (:func:`~eov.engine.runner.build_deepspeed_runner`;
  optional extra: ``pip install 'eov[deepspeed]'``).
"""
from __future__ import annotations

import os

import torch

STRATEGY_TYPES = ('ddp', 'fsdp', 'deepspeed')
PRECISIONS = ('fp32', 'bf16', 'fp16')
DEFAULTS = dict(type='ddp', precision='fp32', global_batch_size=None, grad_clip=None,
                activation_checkpointing=False)
#: Keys of ``strategy`` every type accepts.
COMMON_KEYS = set(DEFAULTS)
#: Extra keys by type.
TYPE_KEYS = {
    'ddp': {'find_unused_parameters'},
    'fsdp': {'reshard_after_forward', 'shard_modules'},
    'deepspeed': {'zero_stage', 'offload_optimizer', 'offload_param', 'config'},
}


class StrategyError(ValueError):
    """A ``strategy`` setting that is invalid or conflicts with another key."""


def world_size() -> int:
    """Processes of this run (``WORLD_SIZE`` set by torchrun / SLURM launchers; else 1)."""
    for key in ('WORLD_SIZE', 'SLURM_NTASKS'):
        if os.environ.get(key):
            return int(os.environ[key])
    return 1


def strategy_of(cfg) -> dict:
    """The config's strategy with defaults filled in (a plain dict)."""
    spec = cfg.get('strategy') or {}
    if isinstance(spec, str):
        spec = dict(type=spec)
    return {**DEFAULTS, **dict(spec)}


def check_strategy(spec: dict) -> None:
    """Validate ``spec`` (see the module docstring).

    Raises:
        StrategyError: naming the key, the value and what is allowed.
    """
    kind = spec.get('type')
    if kind not in STRATEGY_TYPES:
        raise StrategyError(f'strategy.type={kind!r}: choose one of {", ".join(STRATEGY_TYPES)}')
    unknown = set(spec) - COMMON_KEYS - TYPE_KEYS[kind]
    if unknown:
        raise StrategyError(f'strategy.{sorted(unknown)[0]}: not a setting of strategy '
                            f"type {kind!r} (it takes {', '.join(sorted(COMMON_KEYS | TYPE_KEYS[kind]))})")
    if spec['precision'] not in PRECISIONS:
        raise StrategyError(f"strategy.precision={spec['precision']!r}: choose one of "
                            f'{", ".join(PRECISIONS)}')
    clip = spec.get('grad_clip')
    if clip is not None and not (isinstance(clip, (int, float)) and clip > 0):
        raise StrategyError(f'strategy.grad_clip={clip!r}: a positive max norm, or None')
    gbs = spec.get('global_batch_size')
    if gbs is not None and not (isinstance(gbs, int) and gbs > 0):
        raise StrategyError(f'strategy.global_batch_size={gbs!r}: a positive int, or None')
    if kind == 'deepspeed' and spec.get('zero_stage', 2) not in (0, 1, 2, 3):
        raise StrategyError(f"strategy.zero_stage={spec['zero_stage']!r}: 0, 1, 2 or 3")


def accumulation_steps(global_batch_size: int | None, micro_batch: int, processes: int) -> int:
    """Micro-steps per optimizer step so that ``micro × processes × steps == global``.

    Raises:
        StrategyError: when the global batch is not a multiple of ``micro × processes``.
    """
    if global_batch_size is None:
        return 1
    per_step = micro_batch * processes
    if global_batch_size % per_step:
        raise StrategyError(
            f'strategy.global_batch_size={global_batch_size} is not a multiple of '
            f'train_dataloader.batch_size ({micro_batch}) x processes ({processes}) = '
            f'{per_step}; choose e.g. {per_step * max(1, round(global_batch_size / per_step))}')
    return global_batch_size // per_step


def apply_strategy(cfg, processes: int | None = None) -> dict:
    """Validate ``cfg.strategy`` and write what MMEngine needs into ``cfg`` (in place).

    Args:
        cfg: A training config (``strategy``, ``optim_wrapper``, ``train_dataloader``).
        processes: World size (default :func:`world_size`).

    Returns:
        The resolved strategy: the spec plus ``processes``, ``micro_batch_size``
        and ``accumulation``.

    Raises:
        StrategyError: an invalid setting, or the same thing set twice.
    """
    spec = strategy_of(cfg)
    check_strategy(spec)
    processes = processes or world_size()
    optim = cfg.get('optim_wrapper')
    loader = cfg.get('train_dataloader') or {}
    # a stream yields whole batches: its samples per batch are the dataset's batch_size
    dataset = loader.get('dataset') or {}
    if dataset.get('max_tokens') is not None and spec['global_batch_size'] is not None:
        raise StrategyError(
            f"strategy.global_batch_size={spec['global_batch_size']} counts samples, but the "
            f"stream's batches are token budgets (max_tokens={dataset['max_tokens']}): their "
            'sample count varies; leave global_batch_size out (the loss is normalised by '
            "answer tokens over every process: model.loss_normalization='global')")
    micro = int(loader.get('batch_size') or dataset.get('batch_size') or 1)
    accumulation = accumulation_steps(spec['global_batch_size'], micro, processes)
    resolved = dict(spec, processes=processes, micro_batch_size=micro,
                    accumulation=accumulation)
    if optim is None:   # a test-only config
        return resolved
    kind = spec['type']
    fp16 = spec['precision'] == 'fp16' and kind != 'deepspeed'
    if fp16 and not torch.cuda.is_available():
        raise StrategyError("strategy.precision='fp16' needs CUDA (loss scaling); use "
                            "'bf16' on CPUs")
    if fp16 and kind == 'fsdp':
        raise StrategyError("strategy.precision='fp16' with type='fsdp' is not supported: "
                            "use 'bf16'")
    # what the strategy writes into optim_wrapper; a different value already there is a
    # second source of truth (the same value, e.g. from an earlier call, is fine)
    want_type = 'DeepSpeedOptimWrapper' if kind == 'deepspeed' else \
        'AmpOptimWrapper' if fp16 else 'EOVOptimWrapper'
    want = dict(clip_grad=dict(max_norm=float(spec['grad_clip']))
                if spec['grad_clip'] is not None and kind != 'deepspeed' else None,
                accumulative_counts=accumulation if accumulation > 1 and kind != 'deepspeed'
                else None,
                dtype='float16' if fp16 else None)
    for key, where in (('clip_grad', 'strategy.grad_clip'),
                       ('accumulative_counts', 'strategy.global_batch_size'),
                       ('dtype', 'strategy.precision')):
        have = optim.get(key)
        if have is not None and have != want[key]:
            raise StrategyError(f'optim_wrapper.{key} is set by {where} (one place for it); '
                                f'remove optim_wrapper.{key} and set {where}')
    if optim.get('type', 'OptimWrapper') not in ('OptimWrapper', want_type):
        raise StrategyError(f"optim_wrapper.type={optim.get('type')!r}: the wrapper follows "
                            'strategy.precision (bf16/fp16) and strategy.type; leave it out')
    if kind == 'deepspeed':
        _apply_deepspeed(cfg, spec, resolved)
        return resolved
    optim.type = want_type
    for key, value in want.items():
        if value is not None:
            optim[key] = value
    if not fp16:
        # FSDP casts parameters itself (MixedPrecisionPolicy); DDP autocasts
        optim.autocast_dtype = 'bfloat16' if spec['precision'] == 'bf16' and kind == 'ddp' \
            else None
    wrapper_type = 'eov.EOVDistributedDataParallel' if kind == 'ddp' \
        else 'eov.EOVFullyShardedDataParallel'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    if wrapper.get('type', wrapper_type) not in (wrapper_type, wrapper_type[4:]):
        raise StrategyError(f"model_wrapper_cfg.type={wrapper['type']!r} conflicts with "
                            f"strategy.type={kind!r}; choose the strategy instead")
    if kind == 'ddp':
        cfg.model_wrapper_cfg = dict(
            wrapper, type=wrapper_type,
            find_unused_parameters=spec.get('find_unused_parameters', True))
    else:
        cfg.model_wrapper_cfg = dict(
            type=wrapper_type,
            reshard_after_forward=spec.get('reshard_after_forward', True),
            shard_modules=spec.get('shard_modules', 'auto'),
            param_dtype='bfloat16' if spec['precision'] == 'bf16' else None)
    return resolved


def _apply_deepspeed(cfg, spec: dict, resolved: dict) -> None:
    """DeepSpeed ZeRO through MMEngine's ``FlexibleRunner`` (see :func:`apply_strategy`)."""
    try:
        import deepspeed  # noqa: F401
    except ImportError as err:
        raise StrategyError(
            "strategy.type='deepspeed' needs the DeepSpeed package, which is not installed "
            f"({err}); install it with `pip install 'eov[deepspeed]'` (CUDA machines), or "
            "choose strategy.type='fsdp' (PyTorch's own sharding, no extra package)") from None
    zero = dict(stage=spec.get('zero_stage', 2))
    for key in ('offload_optimizer', 'offload_param'):
        if spec.get(key):
            zero[key] = dict(device='cpu', pin_memory=True)
    ds = dict(type='DeepSpeedStrategy', config=spec.get('config'), zero_optimization=zero,
              gradient_clipping=spec['grad_clip'],
              train_micro_batch_size_per_gpu=resolved['micro_batch_size'],
              gradient_accumulation_steps=resolved['accumulation'])
    if spec['precision'] == 'bf16':
        ds['bf16'] = dict(enabled=True)
    elif spec['precision'] == 'fp16':
        ds['fp16'] = dict(enabled=True, loss_scale=0, initial_scale_power=16)
    cfg.deepspeed_strategy = ds
    cfg.optim_wrapper.type = 'DeepSpeedOptimWrapper'
