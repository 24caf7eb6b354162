"""Config loading: MMEngine ``Config`` plus eov's late-bound ``${name}`` references.

MMEngine resolves Python variables of a config when each file is parsed, so a
child config that redefines ``serializer`` would not reach the copies its base
already placed in the model, dataset and metric. eov configs therefore write
``'${serializer}'`` where a shared top-level value is meant; the reference is
resolved after inheritance and ``--cfg-options``, so one line changes every
use.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from mmengine.config import Config, ConfigDict

_REF = re.compile(r'^\$\{([A-Za-z_][\w.]*)\}$')
_EMBEDDED_REF = re.compile(r'\$\{([A-Za-z_][\w.]*)\}')


def _lookup(cfg: Config, dotted: str, where: str) -> Any:
    node: Any = cfg._cfg_dict
    for part in dotted.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f'config reference ${{{dotted}}} at {where}: {dotted!r} is not '
                           'a key of the config')
    return node


def resolve_references(cfg: Config) -> Config:
    """Replace every ``'${a.b}'`` string in ``cfg`` by a copy of ``cfg.a.b`` (in place).

    A string that *is* a reference becomes the referenced value (any type); a
    reference inside a longer string (``'${data_root}/train.jsonl'``) is
    substituted as text.

    Args:
        cfg: A loaded config.

    Returns:
        ``cfg``, for chaining.

    Raises:
        KeyError: for a reference to a missing key or a reference cycle.
    """
    def resolve(value, where: str, stack: tuple[str, ...]):
        if isinstance(value, str):
            m = _REF.match(value)
            if not m:
                if '${' not in value:
                    return value
                return _EMBEDDED_REF.sub(
                    lambda e: str(resolve(value[e.start():e.end()], where, stack)), value)
            name = m.group(1)
            if name in stack:
                raise KeyError(f'config reference cycle: {" -> ".join(stack + (name,))}')
            return resolve(copy.deepcopy(_lookup(cfg, name, where)), where, stack + (name,))
        if isinstance(value, dict):
            return type(value)({k: resolve(v, f'{where}.{k}', stack) for k, v in value.items()})
        if isinstance(value, (list, tuple)):
            return type(value)(resolve(v, f'{where}[{i}]', stack) for i, v in enumerate(value))
        return value

    resolved = {k: resolve(v, k, ()) for k, v in cfg._cfg_dict.items()}
    for key, value in resolved.items():
        cfg[key] = ConfigDict(value) if isinstance(value, dict) else value
    return cfg


class ConfigKeyError(KeyError):
    """An override names a key the config does not have (a typo, usually)."""

    def __str__(self) -> str:
        return str(self.args[0])


def check_override_keys(cfg: Config, cfg_options: dict | None, source: str = 'config') -> None:
    """Every ``--cfg-options`` key must start at a key of the config.

    ``trian_cfg.max_iters=2`` would otherwise add a new, unused ``trian_cfg``
    and train the configured 3000 iterations. New keys *inside* an existing
    dict stay allowed (``model.vision.checkpoint=...`` sets an argument the
    config leaves at its default).

    Raises:
        ConfigKeyError: naming the key and the closest keys of the config.
    """
    import difflib
    for key in cfg_options or {}:
        top = str(key).split('.')[0]
        if top in cfg._cfg_dict:
            continue
        close = difflib.get_close_matches(top, list(cfg._cfg_dict), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
        raise ConfigKeyError(f'--cfg-options {key}: {source} has no key {top!r}{hint}')


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """Load a config file, apply ``--cfg-options`` overrides, resolve references.

    Args:
        path: Python config file.
        cfg_options: ``{'a.b': value}`` overrides (as ``--cfg-options`` gives).

    Returns:
        The ready-to-use config.

    Raises:
        ConfigKeyError: for an override whose first key the config lacks.
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        check_override_keys(cfg, cfg_options, path)
        cfg.merge_from_dict(cfg_options)
    return resolve_references(cfg)
