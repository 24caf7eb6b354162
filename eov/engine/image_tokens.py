"""Data pipelines that follow the built model: visual-token counts and modalities.

A ``TokenizeConversation`` transform must expand each ``<image>`` into as many
tokens as the model's adapters and aligner make; its default
``image_tokens='auto'`` is filled here from the model itself, so no config
restates the counts. Every modality the data may hold must also be one the
model has an input adapter for (:func:`check_pipeline_modalities`).
"""
from __future__ import annotations

import torch

from .config import ConfigError

#: ``TokenizeConversation.image_tokens`` value that asks for the model's own counts.
AUTO = 'auto'
#: Dataloader keys of a config whose pipelines are filled.
DATALOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def model_image_tokens(model) -> dict[str, int]:
    """Visual tokens per sample of every modality the model reads.

    Args:
        model: An :class:`~eov.models.EarthOneVision` (possibly wrapped).

    Returns:
        ``{modality name: tokens}``, as the model's adapters and aligner make them.
    """
    model = getattr(model, 'module', model)
    return {name: int(model.num_image_tokens(modality=name)) for name in model.adapters}


def _pipelines(dataloader_cfgs):
    """``(dataset config, pipeline)`` of every (wrapped) dataset of the loaders."""
    for loader in dataloader_cfgs:
        if not isinstance(loader, dict):
            continue
        stack = [loader.get('dataset')]
        while stack:
            ds = stack.pop()
            if isinstance(ds, dict):
                stack += [ds.get('dataset')] + list(ds.get('datasets') or [])
                yield ds, ds.get('pipeline') or []


def _explicit_mismatch(value, counts: dict[str, int], modalities) -> str | None:
    """Why an explicit ``image_tokens`` cannot match the model's ``counts`` (or ``None``)."""
    names = [m for m in (modalities or counts) if m in counts] or list(counts)
    if isinstance(value, bool) or not isinstance(value, (int, dict)):
        return f"must be 'auto', a whole number or {{modality: tokens}}, got {value!r}"
    wrong = {m: counts[m] for m in names if counts[m] != value} if isinstance(value, int) \
        else {m: counts[m] for m, n in value.items() if m in counts and n != counts[m]}
    if not wrong:
        return None
    return (f'{value!r} cannot match the model, which makes {dict(counts)} visual tokens '
            f'per sample (differing: {wrong})')


def fill_image_tokens(dataloader_cfgs, counts: dict[str, int], names=DATALOADER_KEYS) -> int:
    """Write ``counts`` into every ``TokenizeConversation`` whose ``image_tokens`` is ``'auto'``.

    An explicit count (an override such as ``...pipeline.2.image_tokens=10``) must be the
    model's own: otherwise every batch would fail in the model's forward.

    Args:
        dataloader_cfgs: Dataloader configs (dicts; others are skipped).
        counts: ``{modality: tokens}`` (see :func:`model_image_tokens`).
        names: The config key of each dataloader (for the error message).

    Returns:
        How many transforms were filled in.

    Raises:
        ConfigError: an explicit count the model cannot make, naming its key.
    """
    filled = 0
    for k, loader in enumerate(dataloader_cfgs):
        name = names[k] if k < len(names) else f'dataloader {k}'
        for ds, pipeline in _pipelines([loader]):
            for i, t in enumerate(pipeline):
                if not (isinstance(t, dict) and t.get('type') == 'TokenizeConversation'):
                    continue
                value = t.get('image_tokens', AUTO)
                if value == AUTO:
                    t['image_tokens'] = dict(counts)
                    filled += 1
                    continue
                why = _explicit_mismatch(value, counts, ds.get('modalities'))
                if why:
                    raise ConfigError(
                        f'{name} ({ds.get("ann_file")}): pipeline[{i}] TokenizeConversation '
                        f"image_tokens={why}; leave it 'auto' and eov's runner fills in the "
                        "model's counts")
    return filled


def check_pipeline_modalities(dataloader_cfgs, model_modalities: list[str]) -> None:
    """Every modality the data may hold must be one the model has an adapter for.

    Raises:
        ConfigError: (a ``ValueError``) naming the modality, where it is configured,
            and the model's modalities.
    """
    have = set(model_modalities)
    for ds, pipeline in _pipelines(dataloader_cfgs):
        named = [('the dataset', m) for m in ds.get('modalities') or []]
        for t in pipeline:
            if isinstance(t, dict) and t.get('type') == 'LoadImages':
                named += [('LoadImages', m) for m in (t.get('modalities') or {})]
        for where, name in named:
            if name not in have:
                raise ConfigError(f'modality {name!r} of {where} ({ds.get("ann_file")}) has no '
                                 f'input adapter in the model (model modalities: '
                                 f'{", ".join(sorted(have))})')


def fill_config_image_tokens(cfg) -> dict[str, int]:
    """Fill every ``image_tokens='auto'`` of ``cfg``'s dataloaders from its model (in place).

    For code that builds datasets outside a runner (tests, tools); the runner
    does the same with the model it built. The model is built on the meta device
    (no memory).
    """
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    init_default_scope('eov')
    with torch.device('meta'):
        counts = model_image_tokens(MODELS.build(cfg.model))
    fill_image_tokens([cfg.get(k) for k in DATALOADER_KEYS], counts)
    return counts
