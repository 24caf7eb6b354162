"""eov's plugin registries.

Registries for kinds of component MMEngine already knows (models, datasets,
transforms, metrics, hooks, functions, ...) are *children* of MMEngine's root
registries with scope ``'eov'``, so MMEngine's ``Runner`` finds eov plugins
through ``default_scope='eov'``. Kinds MMEngine has no root for (sensor
modalities, FGVLA aligners, SLIS serializers, task heads, PCMA stages,
attention backends, benchmarks, input adapters) are stand-alone registries with
the same scope: MMEngine allows only one child per scope under a root, and only
eov code builds these.

Every registry names its ``locations``: the modules that hold its plugins are
imported the first time the registry is searched, so building from a config
never needs a manual import.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from mmengine import registry as mm


class UnknownPluginError(KeyError):
    """Raised when a config names a plugin that no registry knows.

    The message names the registry, the closest registered names and every
    registered name, so a typo in a config is a one-glance fix.
    """

    def __init__(self, registry_name: str, key: str, known: Iterable[str]):
        known = sorted(set(known))
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
        self.registry_name = registry_name
        self.key = key
        self.known = known
        self.close_matches = close
        msg = (f"{key!r} is not registered in eov's {registry_name!r} registry.{hint} "
               f"Registered names: {', '.join(known) if known else '(none)'}. "
               'A plugin outside eov must be imported first, e.g. with '
               "custom_imports=dict(imports=['my_package']) in the config.")
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class EOVRegistry(mm.Registry):
    """An MMEngine ``Registry`` whose misses raise :class:`UnknownPluginError`.

    MMEngine's own miss is a bare ``KeyError`` naming only the key; eov's lists
    what is available and the closest match.
    """

    def visible_names(self) -> list[str]:
        """Return every name this registry resolves without a scope prefix.

        Returns:
            Sorted names registered here and in the parent registries.
        """
        self.import_from_location()
        names = set(self._module_dict)
        parent = self.parent
        while parent is not None:
            names.update(parent._module_dict)
            parent = parent.parent
        return sorted(names)

    def get(self, key: str) -> Any:
        """Look ``key`` up like MMEngine does, but fail loudly on a miss.

        Args:
            key: Plugin name, optionally scope-prefixed (``'eov.Foo'``).

        Returns:
            The registered class or function.

        Raises:
            UnknownPluginError: if ``key`` resolves to nothing.
        """
        obj = super().get(key)
        if obj is None:
            scope, real_key = self.split_scope_key(key)
            if scope in (None, self.scope):
                raise UnknownPluginError(self.name, real_key, self.visible_names())
        return obj

    def own_names(self) -> list[str]:
        """Return the names registered in this registry itself (no parents).

        Returns:
            Sorted plugin names.
        """
        self.import_from_location()
        return sorted(self._module_dict)


def _child(name: str, parent: mm.Registry, locations: list[str]) -> EOVRegistry:
    return EOVRegistry(name, parent=parent, scope='eov', locations=locations)


def _standalone(name: str, locations: list[str]) -> EOVRegistry:
    return EOVRegistry(name, scope='eov', locations=locations)


# Children of MMEngine roots (found by the Runner through default_scope='eov').
RUNNERS = _child('runner', mm.RUNNERS, ['eov.engine'])
LOOPS = _child('loop', mm.LOOPS, ['eov.engine'])
HOOKS = _child('hook', mm.HOOKS, ['eov.engine'])
MODELS = _child('model', mm.MODELS, ['eov.models'])
DATASETS = _child('dataset', mm.DATASETS, ['eov.datasets'])
DATA_SAMPLERS = _child('data sampler', mm.DATA_SAMPLERS, ['eov.datasets'])
TRANSFORMS = _child('transform', mm.TRANSFORMS, ['eov.datasets'])
FUNCTIONS = _child('function', mm.FUNCTIONS, ['eov.datasets'])
METRICS = _child('metric', mm.METRICS, ['eov.evaluation'])
EVALUATOR = _child('evaluator', mm.EVALUATOR, ['eov.evaluation'])
OPTIMIZERS = _child('optimizer', mm.OPTIMIZERS, ['eov.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', mm.OPTIM_WRAPPERS, ['eov.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', mm.PARAM_SCHEDULERS, ['eov.engine'])
VISBACKENDS = _child('vis_backend', mm.VISBACKENDS, ['eov.engine'])
VISUALIZERS = _child('visualizer', mm.VISUALIZERS, ['eov.engine'])
LOG_PROCESSORS = _child('log_processor', mm.LOG_PROCESSORS, ['eov.engine'])
MODEL_WRAPPERS = _child('model_wrapper', mm.MODEL_WRAPPERS, ['eov.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    mm.OPTIM_WRAPPER_CONSTRUCTORS, ['eov.engine'])
WEIGHT_INITIALIZERS = _child('weight initializer', mm.WEIGHT_INITIALIZERS, ['eov.models'])

# eov's own kinds of plugin.
MODALITIES = _standalone('modality', ['eov.modalities'])
ADAPTERS = _standalone('input adapter', ['eov.modalities'])
ALIGNERS = _standalone('aligner', ['eov.models.aligners'])
SERIALIZERS = _standalone('serializer', ['eov.slis'])
HEADS = _standalone('head', ['eov.heads'])
STAGES = _standalone('stage', ['eov.stages'])
ATTENTION = _standalone('attention', ['eov.models.attention'])
BENCHMARKS = _standalone('benchmark', ['eov.evaluation'])

#: Registries listed by ``tools/list_plugins.py``, by public name.
PLUGIN_REGISTRIES: dict[str, EOVRegistry] = {
    'MODELS': MODELS,
    'MODALITIES': MODALITIES,
    'ADAPTERS': ADAPTERS,
    'ALIGNERS': ALIGNERS,
    'SERIALIZERS': SERIALIZERS,
    'HEADS': HEADS,
    'STAGES': STAGES,
    'ATTENTION': ATTENTION,
    'DATASETS': DATASETS,
    'TRANSFORMS': TRANSFORMS,
    'FUNCTIONS': FUNCTIONS,
    'METRICS': METRICS,
    'BENCHMARKS': BENCHMARKS,
    'HOOKS': HOOKS,
}
