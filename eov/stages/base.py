"""PCMA training stages: what trains, on which data, how long, from which weights.

A :class:`Stage` is one step of Progressive Cross-Modality Adaptation. It
declares

- ``trainable``: glob patterns over parameter names (``'aligner.*'``,
  ``'adapters.sar.*'``, ``'lm.*'``); every other parameter is frozen
  (``frozen`` patterns may carve exceptions out of ``trainable``);
- ``mixture``: weights over data sources, a source being a ``modality/task``
  pair of the training records (patterns such as ``'optical/*'`` or
  ``'*/captioning'``; the first matching pattern gives a source its weight);
  drawn by :class:`~eov.datasets.samplers.MixtureSampler`;
- ``iters`` and ``lr`` (the config's schedule is rescaled to them) and
  ``lr_mult``: per-module learning-rate multipliers (MMEngine
  ``paramwise_cfg.custom_keys``);
- ``init``: ``'previous'`` (the previous stage's final weights, the default),
  a checkpoint path, or ``None`` (the config's ``load_from`` / random init).

:meth:`Stage.apply` turns the chain config into the config of one MMEngine
run; :meth:`Stage.freeze` sets ``requires_grad`` on a built model (eov's
runner calls it before the distributed wrapper is built, so DDP sees the
stage's trainable set).
"""
from __future__ import annotations

import copy
import re
from typing import Iterable, Mapping

from mmengine.config import Config, ConfigDict

from eov.registry import STAGES, streams_batches
from eov.utils.patterns import match_any

_SAFE_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')


#: Schedulers that set one peak rate for every parameter group (MMEngine's OneCycle):
#: per-module ``lr_mult`` does not survive them.
_GROUP_BLIND_SCHEDULERS = ('OneCycleLR', 'OneCycleParamScheduler')


@STAGES.register_module()
class Stage:
    """One PCMA stage (the base class; subclasses only change defaults).

    Args:
        name: Stage name (folder ``<index>_<name>`` in the chain's work dir).
        trainable: Glob patterns of parameters that train; the rest is frozen.
        frozen: Patterns frozen even when ``trainable`` matches them.
        mixture: ``{'modality/task' pattern: weight}``; sources (the training
            records' ``modality/task`` pairs) take the weight of the first
            pattern that matches them and are left out when none does.
        iters: Training iterations of the stage.
        lr: Peak learning rate (``None``: the config's).
        lr_mult: ``{module-name key: multiplier}`` (MMEngine ``custom_keys``).
        init: ``'previous'``, a checkpoint path, or ``None``.
        batch_size: Training batch size (``None``: the config's).
        cfg_options: Further ``{'dotted.key': value}`` overrides for this stage.
    """

    #: Defaults of a registered stage kind (overridden by the arguments).
    default_name = 'stage'
    default_trainable: tuple[str, ...] = ('*',)
    default_mixture: dict[str, float] = {'*/*': 1.0}

    def __init__(self, name: str | None = None, trainable: Iterable[str] | None = None,
                 frozen: Iterable[str] = (), mixture: Mapping[str, float] | None = None,
                 iters: int = 1000, lr: float | None = None,
                 lr_mult: Mapping[str, float] | None = None, init: str | None = 'previous',
                 batch_size: int | None = None, cfg_options: Mapping | None = None):
        self.name = name or self.default_name
        if not _SAFE_NAME.match(self.name):
            raise ValueError(f'stage name {self.name!r} must be letters, digits, _ . - '
                             '(it names a folder)')
        self.trainable = tuple(trainable if trainable is not None else self.default_trainable)
        self.frozen = tuple(frozen)
        if not self.trainable:
            raise ValueError(f'stage {self.name!r}: trainable patterns are empty '
                             '(nothing would train)')
        self.mixture = dict(mixture if mixture is not None else self.default_mixture)
        for key, weight in self.mixture.items():
            if not isinstance(key, str) or key.count('/') != 1:
                raise ValueError(f"stage {self.name!r}: mixture key {key!r} must be "
                                 "'modality/task' (patterns allowed, e.g. 'optical/*')")
            if not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f'stage {self.name!r}: mixture weight of {key!r} must be a '
                                 f'number >= 0, got {weight!r}')
        if not any(w > 0 for w in self.mixture.values()):
            raise ValueError(f'stage {self.name!r}: every mixture weight is 0')
        if int(iters) < 1:
            raise ValueError(f'stage {self.name!r}: iters must be >= 1, got {iters}')
        self.iters = int(iters)
        self.lr = None if lr is None else float(lr)
        self.lr_mult = dict(lr_mult or {})
        self.init = init
        self.batch_size = batch_size
        self.cfg_options = dict(cfg_options or {})
        #: The config dict this stage was built from (set by ``build_stages``): the stage's
        #: run rebuilds the same registered class from it, so an override of
        #: :meth:`freeze` in a plugin stage takes effect.
        self.spec = None

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(name={self.name!r}, iters={self.iters}, '
                f'trainable={list(self.trainable)}, mixture={self.mixture})')

    # -- model side -------------------------------------------------------------
    def is_trainable(self, param_name: str) -> bool:
        """Whether parameter ``param_name`` trains in this stage."""
        return match_any(param_name, self.trainable) and not match_any(param_name, self.frozen)

    def freeze(self, model) -> dict:
        """Set ``requires_grad`` of every parameter of ``model`` for this stage.

        Returns:
            ``{'trainable': n, 'frozen': n}`` parameter counts (elements).

        Raises:
            ValueError: when a ``trainable`` or ``frozen`` pattern matches no
                parameter or module (a typo would otherwise silently freeze one),
                naming the pattern and the model's top-level modules.
        """
        names = [n for n, _ in model.named_parameters()]
        # a pattern may name a module without parameters (e.g. the pass-through
        # 'rgb' adapter under 'adapters.*'), but it must name something
        known = names + [n + '.' for n, _ in model.named_modules() if n]
        for pattern in self.trainable + self.frozen:
            if not any(match_any(n, [pattern]) for n in known):
                tops = sorted({n.split('.')[0] for n in names})
                raise ValueError(f'stage {self.name!r}: pattern {pattern!r} matches no '
                                 f'parameter of the model (top-level modules: '
                                 f'{", ".join(tops)}; e.g. {names[0]!r})')
        counts = {'trainable': 0, 'frozen': 0}
        for name, param in model.named_parameters():
            train = self.is_trainable(name)
            param.requires_grad_(train)
            counts['trainable' if train else 'frozen'] += param.numel()
        if not counts['trainable']:
            raise ValueError(f'stage {self.name!r}: no parameter is trainable')
        return counts

    # -- config side ------------------------------------------------------------
    def apply(self, cfg: Config, work_dir: str, load_from: str | None,
              resume: bool = False) -> Config:
        """The config of this stage's MMEngine run.

        Args:
            cfg: The chain config (references resolved).
            work_dir: The stage's work dir.
            load_from: Weights to start from (``None``: as ``cfg`` says).
            resume: Resume this stage from its latest checkpoint.

        Returns:
            A new config: ``train_cfg.max_iters``, the schedule, the learning
            rate, ``paramwise_cfg``, the mixture sampler and ``stage`` set.
        """
        cfg = Config(copy.deepcopy(cfg.to_dict()), filename=cfg.filename)
        cfg.pop('stages', None)
        cfg.work_dir = work_dir
        cfg.experiment_name = self.name
        cfg.stage = dict(self.spec or dict(type=type(self).__name__), name=self.name,
                         trainable=list(self.trainable), frozen=list(self.frozen))
        cfg.train_cfg.max_iters = self.iters
        if load_from is not None:
            cfg.load_from = load_from
        cfg.resume = bool(resume)
        if resume:
            cfg.load_from = None   # MMEngine resumes from the work dir's latest checkpoint
        optimizer = cfg.optim_wrapper.optimizer
        lr = self.lr if self.lr is not None else optimizer.get('lr')
        optimizer.lr = lr
        schedulers = cfg.get('param_scheduler') or []
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        for sched in schedulers:
            if self.lr_mult and sched.get('type') in _GROUP_BLIND_SCHEDULERS:
                raise ValueError(
                    f'stage {self.name!r}: lr_mult {dict(self.lr_mult)} would be lost: '
                    f"param_scheduler type {sched['type']!r} gives every parameter group "
                    "the same peak rate; use type='OneCycleLRPerGroup' (eov), which keeps "
                    'each group\'s multiplier')
            for key in ('total_steps', 'end', 'T_max'):
                if key in sched:
                    sched[key] = self.iters
            if 'eta_max' in sched:
                sched['eta_max'] = lr
        if self.lr_mult:
            paramwise = cfg.optim_wrapper.setdefault('paramwise_cfg', ConfigDict())
            # a tied LM head is the embedding's tensor under a second module: MMEngine's
            # per-module groups would list it twice (torch refuses that) without this
            paramwise.setdefault('bypass_duplicate', True)
            keys = paramwise.setdefault('custom_keys', ConfigDict())
            for key, mult in self.lr_mult.items():
                keys[key] = dict(lr_mult=float(mult))
        loader = cfg.train_dataloader
        if streams_batches(loader.dataset):
            # a stream mixes its shards' sources itself and yields whole batches
            loader.dataset.mixture = dict(self.mixture)
            if self.batch_size is not None:
                loader.dataset.batch_size = int(self.batch_size)
        else:
            loader.sampler = dict(type='MixtureSampler', weights=dict(self.mixture))
            if self.batch_size is not None:
                loader.batch_size = int(self.batch_size)
        if self.cfg_options:
            cfg.merge_from_dict(self.cfg_options)
        return cfg


@STAGES.register_module()
class AlignmentStage(Stage):
    """PCMA stage 1: align vision to language -- aligner and input adapters only,
    on optical captions and classification."""

    default_name = 'alignment'
    default_trainable = ('aligner.*', 'adapters.*')
    default_mixture = {'optical/captioning': 1.0, 'optical/classification': 1.0}


@STAGES.register_module()
class ViewpointStage(Stage):
    """PCMA stage 2: close the viewpoint gap -- adds the LM, every optical task."""

    default_name = 'viewpoint'
    default_trainable = ('aligner.*', 'adapters.optical.*', 'lm.*')
    default_mixture = {'optical/*': 1.0}


@STAGES.register_module()
class ImagingPhysicsStage(Stage):
    """PCMA stage 3: close the imaging-physics gap -- SAR / infrared / multispectral
    adapters and data, optical replayed."""

    default_name = 'physics'
    default_trainable = ('aligner.*', 'adapters.*', 'lm.*')
    default_mixture = {'sar/*': 1.0, 'infrared/*': 1.0, 'multispectral/*': 1.0,
                       'optical/*': 0.5}


@STAGES.register_module()
class JointStage(Stage):
    """PCMA stage 4: everything trains on every modality (temporal, video and
    fusion included) with the earlier data replayed."""

    default_name = 'joint'
    default_trainable = ('*',)
    default_mixture = {'*/*': 1.0}
