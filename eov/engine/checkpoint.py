"""Safe checkpoint loading: ``weights_only=True`` with an explicit allow-list.

torch >= 2.6 loads checkpoints with ``weights_only=True`` by default, which
refuses the few non-tensor objects MMEngine stores (its ``HistoryBuffer`` log
buffers, numpy scalars and arrays). Rather than switching ``weights_only`` off
(which would execute arbitrary pickled code), eov allow-lists exactly those
types. ``HistoryBuffer`` pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')`` and some parameter schedulers (one-cycle)
their annealing function as ``getattr(OneCycleParamScheduler, '_annealing_cos')``;
the ``getattr`` allowed here resolves only those names.
"""
from __future__ import annotations

import functools
import json

import numpy as np
import torch


#: Statistics methods HistoryBuffer registers for every instance.
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _param_scheduler_classes() -> list[type]:
    from mmengine.optim import scheduler
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
    from .schedulers import OneCycleLRPerGroup
    return [obj for obj in vars(scheduler).values()
            if isinstance(obj, type) and issubclass(obj, _ParamScheduler)] + [OneCycleLRPerGroup]


def _restricted_getattr(obj, name: str):
    """``getattr`` limited to what MMEngine checkpoints reference."""
    from mmengine.logging import HistoryBuffer
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
    if obj is HistoryBuffer and name in (_BUILTIN_STATISTICS
                                         | set(HistoryBuffer._statistics_methods)):
        return getattr(obj, name)
    if isinstance(obj, type) and issubclass(obj, _ParamScheduler) \
            and name.startswith('_annealing_'):
        return getattr(obj, name)
    raise RuntimeError(f'checkpoint asks for getattr({obj!r}, {name!r}); eov only allows '
                       'HistoryBuffer statistics and scheduler annealing functions')


def mmengine_safe_globals() -> list:
    """Return the allow-list entries MMEngine checkpoints need.

    Returns:
        Objects and ``(object, 'pickled.name')`` pairs for
        ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer
    core = getattr(np, '_core', None) or np.core
    entries: list = [HistoryBuffer, np.ndarray, np.dtype]
    for pickled_module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries += [(core.multiarray._reconstruct, f'{pickled_module}._reconstruct'),
                    (core.multiarray.scalar, f'{pickled_module}.scalar')]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    entries += _param_scheduler_classes()
    entries.append((_restricted_getattr, 'builtins.getattr'))
    return entries


@functools.lru_cache(maxsize=1)
def allow_mmengine_checkpoints() -> None:
    """Allow-list MMEngine's checkpoint contents for ``weights_only`` loading (idempotent)."""
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def load_checkpoint_safely(path: str, map_location='cpu') -> dict:
    """Load an eov/MMEngine checkpoint with ``weights_only=True``.

    Args:
        path: Checkpoint file.
        map_location: As for ``torch.load``.

    Returns:
        The checkpoint dict.
    """
    allow_mmengine_checkpoints()
    return torch.load(path, map_location=map_location, weights_only=True)


#: Top-level config keys that define the model a checkpoint holds. A config
#: saved in a checkpoint supplies these (see :func:`config_for_checkpoint`).
MODEL_KEYS = ('model', 'serializer', 'tokenizer', 'modalities', 'image_size', 'patch_size',
              'model_size')


#: safetensors metadata key of eov's weight files: the checkpoint's ``meta`` as JSON
#: (``cfg`` -- the config text --, ``iter``, ``epoch``).
SAFETENSORS_META = 'eov_meta'


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (truncated, not a checkpoint, another model)."""


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """:func:`load_checkpoint_safely` with one clear error for a missing or broken file.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointError: naming the file, when it is truncated or not a checkpoint.
    """
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if path.endswith('.safetensors'):   # weights only (EOVCheckpointHook save_safetensors)
        from eov.models.hf_format import read_safetensors
        try:
            state, meta = read_safetensors(path)
        except ValueError as err:
            raise CheckpointError(str(err)) from None
        info = json.loads(meta.get(SAFETENSORS_META, '{}') or '{}')
        return {'meta': info, 'state_dict': state}
    try:
        ckpt = load_checkpoint_safely(path, map_location=map_location)
    except Exception as err:   # any failure of a pure read means the file is unusable
        if isinstance(err, (MemoryError, KeyboardInterrupt)):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f'{path}: not a readable eov/MMEngine checkpoint (truncated or '
                              f'corrupt?): {first}') from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{path}: expected a dict checkpoint, got {type(ckpt).__name__}')
    return ckpt


def saved_config_text(ckpt: dict) -> str | None:
    """The config text a checkpoint was trained with (``meta['cfg']``), or ``None``."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    text = meta.get('cfg') if isinstance(meta, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def config_for_checkpoint(config: str | None, checkpoint: str | None,
                          cfg_options: dict | None = None, use_saved: bool = True,
                          loaded: dict | None = None):
    """The config to rebuild a checkpoint's model with.

    The config saved in the checkpoint (every MMEngine checkpoint and every
    PCMA ``stage_final.pth`` / ``final.pth`` carries one) decides the model:
    its :data:`MODEL_KEYS` replace those of ``config``, so a run trained with
    ``--cfg-options model...=...`` loads without restating them. Data,
    evaluation and runtime settings still come from ``config``;
    ``cfg_options`` apply last.

    Args:
        config: Python config file; ``None`` uses the saved config alone.
        checkpoint: Checkpoint file (``None``: ``config`` alone).
        cfg_options: ``--cfg-options`` style overrides.
        use_saved: ``False`` ignores the saved config (``config`` decides).
        loaded: ``checkpoint`` already read (:func:`read_checkpoint`), so a
            caller that needs its weights too reads the file once.

    Returns:
        ``(cfg, source)``: the resolved config and ``'checkpoint'`` or
        ``'file'`` saying where the model came from.

    Raises:
        ValueError: when neither a config file nor a saved config is available.
    """
    from mmengine.config import Config

    from .config import resolve_references
    saved = None
    if checkpoint is not None and use_saved:
        saved = saved_config_text(loaded if loaded is not None else read_checkpoint(checkpoint))
    if config is None and saved is None:
        raise ValueError(f'{checkpoint}: the checkpoint holds no config; give the config file')
    if saved is not None:
        saved_cfg = Config.fromstring(saved, '.py')
    cfg = Config.fromfile(config) if config is not None else saved_cfg
    if saved is not None and config is not None:
        for key in MODEL_KEYS:
            if key in saved_cfg:
                cfg[key] = saved_cfg[key]
    from .config import apply_overrides, check_image_sizes
    apply_overrides(cfg, cfg_options, config or checkpoint)
    resolve_references(cfg)
    check_image_sizes(cfg, cfg_options, config or checkpoint)
    return cfg, ('checkpoint' if saved is not None else 'file')
