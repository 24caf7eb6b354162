"""eov's MMEngine Runner: visual-token counts from the model, stage freezing, strict loads."""
from __future__ import annotations

import copy
import logging
import os

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import Runner

from eov.registry import RUNNERS

#: ``TokenizeConversation.image_tokens`` value that asks for the model's own counts.
AUTO = 'auto'


def model_image_tokens(model) -> dict[str, int]:
    """Visual tokens per sample of every modality the model reads.

    Args:
        model: An :class:`~eov.models.EarthOneVision` (possibly wrapped).

    Returns:
        ``{modality name: tokens}``, as the model's adapters and aligner make them.
    """
    model = getattr(model, 'module', model)
    return {name: int(model.num_image_tokens(modality=name)) for name in model.adapters}


def fill_image_tokens(dataloader_cfgs, counts: dict[str, int]) -> int:
    """Write ``counts`` into every ``TokenizeConversation`` whose ``image_tokens`` is ``'auto'``.

    Args:
        dataloader_cfgs: Dataloader configs (dicts; others are skipped).
        counts: ``{modality: tokens}`` (see :func:`model_image_tokens`).

    Returns:
        How many transforms were filled in.
    """
    filled = 0
    for _, pipeline in _pipelines(dataloader_cfgs):
        for t in pipeline:
            if isinstance(t, dict) and t.get('type') == 'TokenizeConversation' \
                    and t.get('image_tokens', AUTO) == AUTO:
                t['image_tokens'] = dict(counts)
                filled += 1
    return filled


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


def check_pipeline_modalities(dataloader_cfgs, model_modalities: list[str]) -> None:
    """Every modality the data may hold must be one the model has an adapter for.

    Raises:
        ValueError: naming the modality, where it is configured, and the
            model's modalities.
    """
    have = set(model_modalities)
    for ds, pipeline in _pipelines(dataloader_cfgs):
        named = [('the dataset', m) for m in ds.get('modalities') or []]
        for t in pipeline:
            if isinstance(t, dict) and t.get('type') == 'LoadImages':
                named += [('LoadImages', m) for m in (t.get('modalities') or {})]
        for where, name in named:
            if name not in have:
                raise ValueError(f'modality {name!r} of {where} ({ds.get("ann_file")}) has no '
                                 f'input adapter in the model (model modalities: '
                                 f'{", ".join(sorted(have))})')


def image_tokens_for_config(cfg) -> dict[str, int]:
    """Build ``cfg.model`` on the meta device (no memory) and return its visual-token counts."""
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    init_default_scope('eov')
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return model_image_tokens(model)


def fill_config_image_tokens(cfg) -> dict[str, int]:
    """Fill every ``image_tokens='auto'`` of ``cfg``'s dataloaders from its model (in place).

    For code that builds datasets outside a runner (tests, tools); the runner
    does the same with the model it built.
    """
    counts = image_tokens_for_config(cfg)
    fill_image_tokens([cfg.get(k) for k in ('train_dataloader', 'val_dataloader',
                                            'test_dataloader')], counts)
    return counts


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


def config_text(cfg) -> str:
    """A config as loadable Python text, ``key = value`` lines laid out by ``pprint``.

    MMEngine's ``Config.pretty_text`` formats the same text with yapf, which
    takes seconds for a multi-modality config.
    """
    import pprint
    return '\n'.join(f'{key} = {pprint.pformat(value, width=96, sort_dicts=False)}'
                     for key, value in cfg.to_dict().items()) + '\n'


class PlainTextConfig(Config):
    """A ``Config`` whose ``pretty_text`` is :func:`config_text`.

    The Runner formats its config when it logs it, dumps it into the work
    dir and stores it in every checkpoint's meta: with yapf that is seconds
    each time (a minute over a PCMA chain on a 2-core CPU).
    """

    @property
    def pretty_text(self) -> str:
        return config_text(self)


@RUNNERS.register_module()
class EOVRunner(Runner):
    """MMEngine's Runner with three eov rules.

    - **Visual-token counts come from the model.** After the model is built,
      every ``TokenizeConversation`` with ``image_tokens='auto'`` (the
      default) gets the model's per-modality counts, so no config restates them.
    - **PCMA stages.** When the config has a ``stage`` (set by the chain
      runner, :mod:`eov.engine.chain`), its trainable set is applied *before*
      the distributed wrapper is built, so DDP sees exactly the stage's
      trainable parameters.
    - **Strict loading.** Checkpoints (``load_from``, resume, stage
      initialisation) load strictly: weights of another architecture are an
      error, never a silently half-loaded model.
    """

    @classmethod
    def from_cfg(cls, cfg) -> 'EOVRunner':
        """Build from a config whose ``pretty_text`` is :func:`config_text` (fast)."""
        cfg = copy.copy(cfg)
        object.__setattr__(cfg, '__class__', PlainTextConfig)
        return super().from_cfg(cfg)

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
        if hasattr(model, 'adapters'):
            check_pipeline_modalities([self._train_dataloader, self._val_dataloader,
                                       self._test_dataloader], list(model.adapters))
        if hasattr(model, 'adapters') and hasattr(model, 'num_image_tokens'):
            counts = model_image_tokens(model)
            n = fill_image_tokens([self._train_dataloader, self._val_dataloader,
                                   self._test_dataloader], counts)
            if n:
                print_log(f'visual tokens per sample (from the model): {counts}',
                          logger='current')
        stage = self.cfg.get('stage')
        if stage:
            from eov.stages import Stage
            spec = Stage(name=stage['name'], trainable=stage['trainable'],
                         frozen=stage.get('frozen', ()))
            counts = spec.freeze(model)
            total = counts['trainable'] + counts['frozen']
            print_log(f"stage {spec.name!r}: {counts['trainable']:,} of {total:,} parameters "
                      f"train ({', '.join(spec.trainable)})", logger='current')
        return model

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = True,
                        revise_keys=[(r'^module.', '')]):
        """Load weights strictly (see the class docstring)."""
        if not strict:
            print_log('eov loads checkpoints strictly; strict=False ignored', logger='current',
                      level=logging.DEBUG)
        return super().load_checkpoint(filename, map_location=map_location, strict=True,
                                       revise_keys=revise_keys)
