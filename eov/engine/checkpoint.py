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

import numpy as np
import torch


#: Statistics methods HistoryBuffer registers for every instance.
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _param_scheduler_classes() -> list[type]:
    from mmengine.optim import scheduler
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
    return [obj for obj in vars(scheduler).values()
            if isinstance(obj, type) and issubclass(obj, _ParamScheduler)]


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
