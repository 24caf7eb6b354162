"""Training strategies chosen by config: DDP, FSDP (FSDP2) or DeepSpeed ZeRO, in one place.

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

- ``ddp`` -- :class:`~eov.engine.wrappers.EOVDistributedDataParallel` (also one
  process, and CPU processes with gloo).
- ``fsdp`` -- PyTorch FSDP2 (``torch.distributed.fsdp.fully_shard``): every
  decoder layer of the LM and every block of the vision backbone is a shard
  unit, then the whole model (:class:`EOVFullyShardedDataParallel`). Runs on
  CPU processes (gloo) as on GPUs. Checkpoints hold *full* (gathered) weights
  and optimizer state in MMEngine's layout, so a FSDP checkpoint loads into a
  single-process model, and resumes under any strategy.
- ``deepspeed`` -- ZeRO stage 1/2/3 through MMEngine's ``DeepSpeedStrategy``
  and ``FlexibleRunner`` (optional extra: ``pip install 'eov[deepspeed]'``).
"""
from __future__ import annotations

import os
from collections import OrderedDict

import torch
from mmengine.optim import OptimWrapper
from torch import nn

from eov.registry import MODEL_WRAPPERS, OPTIM_WRAPPERS

STRATEGY_TYPES = ('ddp', 'fsdp', 'deepspeed')
PRECISIONS = ('fp32', 'bf16', 'fp16')
#: Keys of ``strategy`` every type accepts.
COMMON_KEYS = {'type', 'precision', 'global_batch_size', 'grad_clip',
               'activation_checkpointing'}
#: Extra keys by type.
TYPE_KEYS = {
    'ddp': {'find_unused_parameters'},
    'fsdp': {'reshard_after_forward', 'shard_modules'},
    'deepspeed': {'zero_stage', 'offload_optimizer', 'offload_param', 'config'},
}
DEFAULTS = dict(type='ddp', precision='fp32', global_batch_size=None, grad_clip=None,
                activation_checkpointing=False)


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
    micro = int(loader.get('batch_size') or 1)
    accumulation = accumulation_steps(spec['global_batch_size'], micro, processes)
    resolved = dict(spec, processes=processes, micro_batch_size=micro,
                    accumulation=accumulation)
    if optim is None:   # a test-only config
        return resolved
    kind = spec['type']
    if spec['precision'] == 'fp16' and kind != 'deepspeed':
        if not torch.cuda.is_available():
            raise StrategyError("strategy.precision='fp16' needs CUDA (loss scaling); use "
                                "'bf16' on CPUs")
        if kind == 'fsdp':
            raise StrategyError("strategy.precision='fp16' with type='fsdp' is not supported: "
                                "use 'bf16'")
    # what the strategy writes into optim_wrapper; a different value already there is a
    # second source of truth (the same value, e.g. from an earlier call, is fine)
    fp16 = spec['precision'] == 'fp16' and kind != 'deepspeed'
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
    if spec.get('offload_optimizer'):
        zero['offload_optimizer'] = dict(device='cpu', pin_memory=True)
    if spec.get('offload_param'):
        zero['offload_param'] = dict(device='cpu', pin_memory=True)
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


# -- optimizer wrapper: bf16 autocast on any device -------------------------------------
@OPTIM_WRAPPERS.register_module()
class EOVOptimWrapper(OptimWrapper):
    """MMEngine's ``OptimWrapper`` with optional autocast on any device.

    MMEngine's ``AmpOptimWrapper`` refuses CPUs; bf16 needs no loss scaler,
    so autocasting the forward pass is all it takes (CUDA and CPU).

    Args:
        autocast_dtype: ``'bfloat16'`` or ``None`` (no autocast).
        **kwargs: ``OptimWrapper`` arguments.
    """

    def __init__(self, *args, autocast_dtype: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.autocast_dtype = getattr(torch, autocast_dtype) if autocast_dtype else None

    def optim_context(self, model: nn.Module):
        from contextlib import ExitStack
        stack = ExitStack()
        stack.enter_context(super().optim_context(model))
        if self.autocast_dtype is not None:
            device = next(model.parameters()).device.type
            stack.enter_context(torch.autocast(device_type=device,
                                               dtype=self.autocast_dtype))
        return stack

    def _clip_grad(self) -> None:
        # under FSDP the norm is a DTensor: log a plain number
        params = [p for g in self.optimizer.param_groups for p in g['params']
                  if p.grad is not None]
        if not params:
            return
        norm = self.clip_func(params, **self.clip_grad_kwargs)
        if hasattr(norm, 'full_tensor'):
            norm = norm.full_tensor()
        self.message_hub.update_scalar(f'train/{self.grad_name}', float(norm))

    def load_state_dict(self, state_dict: dict) -> None:
        # a checkpoint holds full states (any strategy): shard them for FSDP params
        if any(_is_dtensor(p) for g in self.optimizer.param_groups for p in g['params']):
            state_dict = shard_optimizer_state(self.optimizer, state_dict)
        super().load_state_dict(state_dict)


# -- FSDP2 -------------------------------------------------------------------------------
def shard_units(model: nn.Module, spec='auto') -> list[nn.Module]:
    """The submodules FSDP shards one by one (before the whole model).

    Args:
        model: An :class:`~eov.models.EarthOneVision` (or any module).
        spec: ``'auto'`` -- the LM's decoder layers (transformers'
            ``_no_split_modules`` classes) and the vision backbone's blocks;
            or a list of class names.

    Returns:
        The modules, outermost first.
    """
    if spec == 'auto':
        names = set()
        for m in model.modules():
            names.update(getattr(m, '_no_split_modules', None) or [])
        names.add('Block')   # timm ViT blocks
    else:
        names = set(spec)
    return [m for m in model.modules() if type(m).__name__ in names and m is not model]


@MODEL_WRAPPERS.register_module()
class EOVFullyShardedDataParallel(nn.Module):
    """FSDP2 (``fully_shard``) for MMEngine's Runner.

    Shards every unit of :func:`shard_units`, then the model; runs
    MMEngine's ``train_step`` / ``val_step`` / ``test_step`` of the model.
    The model's ``state_dict`` holds sharded ``DTensor`` s: use
    :func:`full_state` (collective: every rank calls it) for files, and
    ``load_state_dict`` with *full* tensors (converted to shards here).

    Args:
        module: The model.
        reshard_after_forward: Free gathered parameters after the forward
            (ZeRO-3-like; ``False``: keep them until the backward, ZeRO-2-like).
        shard_modules: ``'auto'`` or class names (see :func:`shard_units`).
        param_dtype: ``'bfloat16'`` computes in bf16 (gradients reduced in fp32).
    """

    def __init__(self, module: nn.Module, reshard_after_forward: bool = True,
                 shard_modules='auto', param_dtype: str | None = None, **kwargs):
        super().__init__()
        import torch.distributed as dist
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        policy = MixedPrecisionPolicy(
            param_dtype=getattr(torch, param_dtype) if param_dtype else None,
            reduce_dtype=torch.float32 if param_dtype else None)
        if dist.is_available() and dist.is_initialized():
            # every rank starts from rank 0's weights (MMEngine's broadcast after
            # init_weights cannot broadcast sharded DTensors)
            for tensor in module.state_dict().values():
                dist.broadcast(tensor.data, src=0)
        units = shard_units(module, shard_modules)
        for unit in reversed(units):   # innermost first
            fully_shard(unit, reshard_after_forward=reshard_after_forward, mp_policy=policy)
        fully_shard(module, reshard_after_forward=reshard_after_forward, mp_policy=policy)
        module.register_load_state_dict_pre_hook(_full_to_sharded)
        self.module = module
        self.units = len(units)

    def train_step(self, data, optim_wrapper):
        return self.module.train_step(data, optim_wrapper)

    def val_step(self, data):
        return self.module.val_step(data)

    def test_step(self, data):
        return self.module.test_step(data)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def _is_dtensor(x) -> bool:
    return type(x).__name__ == 'DTensor' and hasattr(x, 'full_tensor')


def _full_to_sharded(module, state_dict, prefix, *args) -> None:
    """``load_state_dict`` pre-hook: full tensors -> this rank's shard of each DTensor."""
    from torch.distributed.tensor import distribute_tensor
    own = dict(module.state_dict(keep_vars=True))
    for key, value in list(state_dict.items()):
        name = key[len(prefix):] if key.startswith(prefix) else key
        target = own.get(name)
        if target is not None and _is_dtensor(target) and not _is_dtensor(value):
            state_dict[key] = distribute_tensor(value.to(target.device, target.dtype),
                                                target.device_mesh, target.placements)



def is_sharded(model) -> bool:
    """Whether ``model`` (or its wrapper) is an FSDP model."""
    return isinstance(model, EOVFullyShardedDataParallel) or \
        any(_is_dtensor(p) for p in getattr(model, 'module', model).parameters())


def full_state(obj):
    """``obj`` (state dicts, nested) with every DTensor gathered to a full CPU tensor.

    Collective under FSDP: every rank must call it, in the same order.
    """
    if _is_dtensor(obj):
        return obj.full_tensor().cpu()
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        out = OrderedDict((k, full_state(v)) for k, v in obj.items()) \
            if isinstance(obj, OrderedDict) else {k: full_state(v) for k, v in obj.items()}
        if hasattr(obj, '_metadata'):   # module state dicts carry version metadata
            out._metadata = obj._metadata
        return out
    if isinstance(obj, list):
        return [full_state(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(full_state(v) for v in obj)
    return obj


def shard_optimizer_state(optimizer: torch.optim.Optimizer, state_dict: dict) -> dict:
    """Full optimizer states (MMEngine's layout) -> this rank's shards of DTensor params.

    ``optimizer.load_state_dict`` with the result restores an FSDP optimizer
    from a checkpoint written by any strategy.
    """
    from torch.distributed.tensor import distribute_tensor
    params = [p for g in optimizer.param_groups for p in g['params']]
    ids = [i for g in state_dict['param_groups'] for i in g['params']]
    out = dict(state_dict, state={})
    for i, param in zip(ids, params):
        state = state_dict['state'].get(i)
        if state is None:
            continue
        if _is_dtensor(param):
            state = {k: distribute_tensor(v.to(param.device), param.device_mesh, param.placements)
                     if isinstance(v, torch.Tensor) and v.shape == param.shape and v.dim() else v
                     for k, v in state.items()}
        out['state'][i] = state
    return out


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

    from .eov_runner import fill_image_tokens, model_image_tokens
    if cfg.get('stage'):
        raise StrategyError("strategy.type='deepspeed' does not run PCMA stages (frozen sets "
                            "change between stages); use strategy.type='fsdp' or 'ddp'")
    spec = apply_strategy(cfg)
    init_default_scope(cfg.get('default_scope', 'eov'))
    model = MODELS.build(cfg.model)   # built here: eov's rules need the model itself
    fill_image_tokens([cfg.get(k) for k in ('train_dataloader', 'val_dataloader',
                                            'test_dataloader')], model_image_tokens(model))
    if spec['activation_checkpointing']:
        model.enable_activation_checkpointing()
    cfg.model = model
    hooks = cfg.get('default_hooks') or {}
    if (hooks.get('checkpoint') or {}).get('type') == 'EOVCheckpointHook':
        hooks['checkpoint']['type'] = 'CheckpointHook'   # DeepSpeed saves folders itself
    cfg.strategy = cfg.pop('deepspeed_strategy')
    cfg.pop('model_wrapper_cfg', None)
    return FlexibleRunner.from_cfg(cfg)
