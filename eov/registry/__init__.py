"""Registries for every kind of eov plugin (see :mod:`eov.registry.registry`)."""
from .registry import (ADAPTERS, ALIGNERS, ATTENTION, BENCHMARKS, DATA_SAMPLERS,
                       DATASETS, EVALUATOR, FUNCTIONS, HEADS, HOOKS, LOG_PROCESSORS,
                       LOOPS, METRICS, MODALITIES, MODEL_WRAPPERS, MODELS,
                       OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS,
                       PARAM_SCHEDULERS, PLUGIN_REGISTRIES, RUNNERS, SERIALIZERS,
                       STAGES, TRANSFORMS, VISBACKENDS, VISUALIZERS,
                       WEIGHT_INITIALIZERS, EOVRegistry, UnknownPluginError)

__all__ = [
    'ADAPTERS', 'ALIGNERS', 'ATTENTION', 'BENCHMARKS', 'DATA_SAMPLERS', 'DATASETS',
    'EVALUATOR', 'FUNCTIONS', 'HEADS', 'HOOKS', 'LOG_PROCESSORS', 'LOOPS', 'METRICS',
    'MODALITIES', 'MODEL_WRAPPERS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'OPTIM_WRAPPERS', 'OPTIMIZERS', 'PARAM_SCHEDULERS', 'PLUGIN_REGISTRIES', 'RUNNERS',
    'SERIALIZERS', 'STAGES', 'TRANSFORMS', 'VISBACKENDS', 'VISUALIZERS',
    'WEIGHT_INITIALIZERS', 'EOVRegistry', 'UnknownPluginError', 'build_from_any',
    'streams_batches',
]


def streams_batches(dataset_cfg) -> bool:
    """Whether a dataset config's class yields whole training batches and mixes its sources
    itself (a class attribute ``streams_batches = True``, as
    :class:`~eov.datasets.streaming.StreamingInstructionDataset`): the training loader and a
    PCMA stage's mixture are then set on the dataset, not on a sampler.

    Args:
        dataset_cfg: The ``train_dataloader.dataset`` dict (an unknown type: ``False``; the
            build names it later).
    """
    kind = dataset_cfg.get('type') if hasattr(dataset_cfg, 'get') else None
    if isinstance(kind, str):
        try:
            kind = DATASETS.get(kind)
        except UnknownPluginError:   # reported, with the names known, when it is built
            return False
    return bool(getattr(kind, 'streams_batches', False))


def build_from_any(cfg, registry, **default_args):
    """Build ``cfg`` through ``registry`` unless it is already an object.

    Args:
        cfg: A config dict with ``type``, or an already built object.
        registry: The registry to build from.
        **default_args: Arguments used where the config does not set them.

    Returns:
        The built object (or ``cfg`` itself when it is not a dict).
    """
    if isinstance(cfg, dict):
        return registry.build(cfg, default_args=default_args or None)
    return cfg
