"""Wrappers MMEngine's Runner builds around the model and the optimizer.

- :class:`EOVDistributedDataParallel` -- DDP, also on CPU processes (gloo);
- :class:`EOVFullyShardedDataParallel` -- PyTorch FSDP2 (``fully_shard``), with the
  helpers that gather its sharded state into full tensors for checkpoints
  (:func:`full_state`) and shard a full optimizer state again
  (:func:`shard_optimizer_state`);
- :class:`EOVOptimWrapper` -- MMEngine's ``OptimWrapper`` with bf16 autocast on any device.

Which one a run uses is decided by ``cfg.strategy`` (:mod:`eov.engine.strategies`).
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager, nullcontext

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from torch import nn

from eov.registry import MODEL_WRAPPERS, OPTIM_WRAPPERS


# -- DDP ---------------------------------------------------------------------------------
@MODEL_WRAPPERS.register_module()
class EOVDistributedDataParallel(MMDistributedDataParallel):
    """MMEngine's DDP wrapper, also usable on CPU processes (gloo backend).

    MMEngine's Runner always passes ``device_ids=[LOCAL_RANK]``, which PyTorch
    rejects for CPU modules; this wrapper passes ``device_ids`` only when the
    module lives on a GPU, so ``torchrun ... --launcher pytorch`` works on a
    laptop as on a GPU node.

    Args:
        module: The model.
        **kwargs: ``DistributedDataParallel`` arguments.
    """

    def __init__(self, module, **kwargs):
        if next(module.parameters()).device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        super().__init__(module=module, **kwargs)


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

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), nullcontext() if self.autocast_dtype is None else \
                torch.autocast(next(model.parameters()).device.type, dtype=self.autocast_dtype):
            yield

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
    names = set(spec) if spec != 'auto' else {'Block'} | {   # Block: timm ViT blocks
        n for m in model.modules() for n in getattr(m, '_no_split_modules', None) or []}
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
        # innermost unit first, the whole model last
        for unit in [*reversed(shard_units(module, shard_modules)), module]:
            fully_shard(unit, reshard_after_forward=reshard_after_forward, mp_policy=policy)
        module.register_load_state_dict_pre_hook(_full_to_sharded)
        self.module = module

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
        out = (OrderedDict if isinstance(obj, OrderedDict) else dict)(
            (k, full_state(v)) for k, v in obj.items())
        if hasattr(obj, '_metadata'):   # module state dicts carry version metadata
            out._metadata = obj._metadata
        return out
    if isinstance(obj, (list, tuple)):
        return (list if isinstance(obj, list) else tuple)(full_state(v) for v in obj)
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
