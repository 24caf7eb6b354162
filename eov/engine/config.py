"""Configs: loading, eov's late-bound ``${name}`` references, checks, and configs as text.

MMEngine resolves Python variables of a config when each file is parsed, so a
child config that redefines ``serializer`` would not reach the copies its base
already placed in the model, dataset and metric. eov configs therefore write
``'${serializer}'`` where a shared top-level value is meant; the reference is
resolved after inheritance and ``--cfg-options``, so one line changes every
use.

Also here: the config a checkpoint's model is rebuilt with (its saved config,
:func:`config_for_checkpoint`), a config as loadable Python text
(:func:`config_text`), and the ``load_from_partial`` setting (:func:`partial_settings`).
"""
from __future__ import annotations

import ast
import copy
import os
import re
from typing import Any

from mmengine.config import Config, ConfigDict

from eov.registry import streams_batches

_REF = re.compile(r'^\$\{([A-Za-z_][\w.]*)\}$')
_EMBEDDED_REF = re.compile(r'\$\{([A-Za-z_][\w.]*)\}')


def _lookup(cfg: Config, dotted: str, where: str) -> Any:
    node: Any = cfg._cfg_dict
    for part in dotted.split('.'):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise ConfigKeyError(f'config reference ${{{dotted}}} at {where}: {dotted!r} '
                                 'is not a key of the config')
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
                raise ConfigKeyError(
                    f'config reference cycle: {" -> ".join(stack + (name,))}')
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


class ConfigError(ValueError):
    """Config values that cannot work together (the keys and values are named)."""


#: Scalar keys whose values are copied under another name by eov's model configs.
_ALIASES = {'image_size': ('img_size',), 'img_size': ('image_size',)}


def _nodes(node, path: str, name: str):
    """``(dotted path, key name, value)`` of ``node`` and of everything nested in it
    (a list item keeps the key name of its list)."""
    yield path, name, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _nodes(v, f'{path}.{k}', k)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _nodes(v, f'{path}.{i}', name)


def referenced_names(cfg: Config) -> set[str]:
    """Top-level keys some ``'${name...}'`` string of ``cfg`` refers to."""
    return {m.group(1).split('.')[0] for _, _, value in _nodes(cfg._cfg_dict, '', '')
            if isinstance(value, str) for m in _EMBEDDED_REF.finditer(value)}


def parse_time_copies(cfg: Config, key: str, limit: int = 3) -> list[str]:
    """Where the value of top-level ``key`` was copied when the config was parsed.

    A Python config that writes ``img_size=image_size`` copies the value, so a
    later override of ``image_size`` does not reach it. A copy is a
    non-empty dict or list equal to the value, or a number / string of the same
    name (or an alias: ``image_size`` / ``img_size``) and value.

    Returns:
        Up to ``limit`` dotted paths of copies (``['model.vision.patch_size']``).
    """
    value = cfg._cfg_dict[key]
    value = value.to_dict() if hasattr(value, 'to_dict') else value
    structured = isinstance(value, (dict, list)) and bool(value)
    scalar = isinstance(value, (int, float, str)) and not isinstance(value, bool)
    if not (structured or scalar):
        return []
    names = {key, *_ALIASES.get(key, ())}
    out: list[str] = []
    for top, node in cfg._cfg_dict.items():
        if top == key:
            continue
        for path, name, found in _nodes(node, top, top):
            if (structured and _plain(found) == _plain(value)) or (
                    scalar and name in names and type(found) is type(value) and found == value):
                out.append(path)
                if len(out) >= limit:
                    return out
    return out


def _plain(value):
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_override_effects(cfg: Config, cfg_options: dict | None,
                           source: str = 'config') -> None:
    """Refuse an override that cannot take effect (before it is merged).

    An override of a top-level value that nothing refers to (no
    ``'${key}'``) and that the config copied into other keys when it was
    parsed (``img_size=image_size``) would change only itself: the model
    would silently keep the old value.

    Raises:
        ConfigKeyError: naming the override, the copies and the key to set instead.
    """
    import inspect

    from mmengine.runner import Runner
    if not cfg_options:
        return
    refs = referenced_names(cfg)
    # top-level keys MMEngine's Runner reads itself (never only through references)
    runner_keys = set(inspect.signature(Runner.__init__).parameters) | {'runner_type'}
    for key, new in cfg_options.items():
        top, _, rest = str(key).partition('.')
        if top in refs or top in runner_keys or top not in cfg._cfg_dict:
            continue
        copies = parse_time_copies(cfg, top)
        if copies:
            instead = ' or '.join(f'{c}{"." + rest if rest else ""}' for c in copies)
            raise ConfigKeyError(
                f'--cfg-options {key}={new!r} would change nothing: no "${{{top}}}" in '
                f'{source} refers to {top!r}; its value was copied into '
                f'{", ".join(copies)} when the config was written or parsed. Override '
                f'{instead} instead (or write \'${{{top}}}\' there in the config)')


def _pair(size) -> tuple | None:
    if isinstance(size, bool) or size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return tuple(size)
    return None


def check_image_sizes(cfg: Config, cfg_options: dict | None = None,
                      source: str = 'config') -> None:
    """Every modality's ``image_size`` must be the ViT's ``img_size`` (resolved config).

    Raises:
        ConfigError: naming both keys and values, and the override that set one.
    """
    model = cfg.get('model') if isinstance(cfg.get('model'), dict) else {}
    vision, modalities = model.get('vision'), model.get('modalities')
    if not isinstance(vision, dict) or not isinstance(modalities, dict) \
            or vision.get('dynamic_img_size'):
        return
    vit = _pair(vision.get('img_size'))
    if vit is None:
        return
    top = cfg.get('modalities')
    prefix = 'modalities' if top is not None and _plain(top) == _plain(modalities) \
        else 'model.modalities'
    for name, modality in modalities.items():
        size = _pair(modality.get('image_size')) if isinstance(modality, dict) else None
        if size is None or size == vit:
            continue
        touched = [f'{k}={v!r}' for k, v in (cfg_options or {}).items() if any(
            part in str(k) for part in ('image_size', 'img_size', 'modalities', 'model.vision'))]
        why = f'--cfg-options {", ".join(touched)}: ' if touched else f'{source}: '
        raise ConfigError(
            f'{why}{prefix}.{name}.image_size={modality.get("image_size")!r} but '
            f'model.vision.img_size={vision.get("img_size")!r}: the vision backbone takes '
            f'{vit[0]}x{vit[1]} images, so this modality\'s images would not fit. Set both to '
            'the same size, or build the ViT with model.vision.dynamic_img_size=True')


def apply_overrides(cfg: Config, cfg_options: dict | None, source: str = 'config') -> Config:
    """Check ``--cfg-options`` (keys exist, each can take effect) and merge them.

    Returns:
        ``cfg``, with the overrides merged (references not resolved yet).
    """
    if cfg_options:
        check_override_keys(cfg, cfg_options, source)
        check_override_effects(cfg, cfg_options, source)
        cfg.merge_from_dict(cfg_options)
    return cfg


def _config_bases(name: str, tree) -> list[str]:
    """The ``_base_`` files a parsed config file names (paths relative to its folder)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return []
            values = [value] if isinstance(value, str) else list(value)
            return [os.path.join(os.path.dirname(name), v) for v in values
                    if isinstance(v, str)]
    return []


def _syntax_error_where(path: str, err: SyntaxError) -> str:
    """``file:line: message`` for a syntax error MMEngine raised while parsing ``path``
    or one of its ``_base_`` files (its own message names neither, or only the file)."""
    m = re.match(r'There are syntax errors in config file (.+?): ', str(err.msg or err))
    todo = [n for n in (err.filename, m.group(1) if m else None) if n] + [path]
    seen = set()
    while todo:
        name = todo.pop(0)
        if name in seen or not os.path.isfile(name):
            continue
        seen.add(name)
        try:
            with open(name, encoding='utf-8') as f:
                tree = ast.parse(f.read(), filename=name)
        except SyntaxError as found:
            text = (found.text or '').strip()
            return (f'{name}:{found.lineno}: syntax error ({found.msg})'
                    + (f': {text}' if text else ''))
        except (OSError, UnicodeDecodeError):
            continue
        todo += _config_bases(name, tree)
    return f'{path}: syntax error ({err})'


def read_config_file(path: str) -> Config:
    """``Config.fromfile(path)``, with a broken config file as one :class:`ConfigError`.

    A syntax error names the file (``path`` or the ``_base_`` file it is in) and
    line; an error raised while the config's Python runs names ``path``.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: the file cannot be parsed or run.
    """
    try:
        return Config.fromfile(path)
    except FileNotFoundError:
        raise
    except SyntaxError as err:
        raise ConfigError(_syntax_error_where(path, err)) from err
    except Exception as err:   # a config is Python: any error while running it is the file's
        raise ConfigError(f'{path}: cannot load the config '
                          f'({type(err).__name__}: {err})') from err


#: ``(section, key, least value)`` of the run settings a runner needs as whole numbers.
RUN_SETTINGS = (('train_cfg', 'max_iters', 1), ('train_cfg', 'max_epochs', 1),
                ('train_cfg', 'val_interval', 1),
                *((f'{split}_dataloader', key, least)
                  for split in ('train', 'val', 'test')
                  for key, least in (('batch_size', 1), ('num_workers', 0))))


def check_run_settings(cfg: Config, source: str = 'config',
                       cfg_options: dict | None = None) -> None:
    """The iteration counts, batch sizes and worker counts a run uses are whole numbers
    in range (``train_cfg.max_iters=abc`` or ``=0``, ``batch_size=0`` would otherwise
    end deep inside PyTorch or MMEngine).

    Raises:
        ConfigError: naming the key, its value, and whether ``--cfg-options`` set it.
    """
    for section, key, least in RUN_SETTINGS:
        node = cfg.get(section)
        if not isinstance(node, dict) or key not in node or node[key] is None:
            continue
        value = node[key]
        if isinstance(value, int) and not isinstance(value, bool) and value >= least:
            continue
        name = f'{section}.{key}'
        where = f'--cfg-options {name}' if name in (cfg_options or {}) else f'{source}: {name}'
        need = 'a positive whole number' if least == 1 else f'a whole number >= {least}'
        raise ConfigError(f'{where}={value!r}: must be {need}')


def load_config(path: str, cfg_options: dict | None = None) -> Config:
    """Load a config file, apply ``--cfg-options`` overrides, resolve references.

    Args:
        path: Python config file.
        cfg_options: ``{'a.b': value}`` overrides (as ``--cfg-options`` gives).

    Returns:
        The ready-to-use config.

    Raises:
        ConfigKeyError: for an override whose first key the config lacks, or one
            that cannot take effect (:func:`check_override_effects`).
        ConfigError: for image sizes the model cannot take (:func:`check_image_sizes`).
    """
    cfg = apply_overrides(read_config_file(path), cfg_options, path)
    expand_pretrained_model(cfg, path)
    expand_streaming_loader(cfg)
    resolve_references(cfg)
    check_image_sizes(cfg, cfg_options, path)
    return cfg


def expand_streaming_loader(cfg: Config) -> Config:
    """``train_dataloader.dataset = dict(type='StreamingInstructionDataset', shards=DIR,
    ...)``: the rest of the loader for a stream, so that line is all a config writes.

    The loader's ``batch_size``, ``collate_fn`` and the run's seed move into the dataset
    (it yields whole batches); the loader gets ``batch_size=None``, no sampler and the
    pass-through collate and no sampler-seed hook; an ``IterBasedTrainLoop`` becomes
    ``EOVIterTrainLoop`` (resume by position). A PCMA stage's mixture goes to the dataset
    (:meth:`eov.stages.Stage.configure`).

    Args:
        cfg: The config (changed in place).

    Returns:
        ``cfg``.
    """
    loader = cfg.get('train_dataloader')
    dataset = loader.get('dataset') if isinstance(loader, dict) else None
    if not isinstance(dataset, dict) or not streams_batches(dataset):
        return cfg
    if loader.get('batch_size') is not None:
        dataset.setdefault('batch_size', loader['batch_size'])
    collate = loader.get('collate_fn')
    if isinstance(collate, dict) and 'streaming_collate' not in str(collate.get('type')):
        dataset.setdefault('collate', dict(collate))
    seed = (cfg.get('randomness') or {}).get('seed')
    if seed is not None:
        dataset.setdefault('seed', seed)
    loader['batch_size'] = None
    loader['sampler'] = None
    loader['collate_fn'] = dict(type='eov.streaming_collate')
    # MMEngine's sampler-seed hook sets a sampler's epoch: a stream has no sampler
    cfg.setdefault('default_hooks', {})['sampler_seed'] = None
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict) and train_cfg.get('type') in ('IterBasedTrainLoop', None):
        train_cfg['type'] = 'eov.EOVIterTrainLoop'
    return cfg


def expand_pretrained_model(cfg: Config, source: str) -> Config:
    """``model = dict(from_pretrained=DIR, **overrides)``: the model of an eov export.

    ``DIR`` is an eov export (``tools/export_hf.py``) or an imported VLM
    (``tools/model_converters/hf_vlm_to_eov.py``). Its saved model config replaces the
    key, the other keys of ``model`` override it (``modalities`` to add sensors, say),
    and the top-level ``tokenizer`` / ``serializer`` become the export's, so the data
    pipeline tokenizes as the model does. Weights are not loaded here: set
    ``load_from='DIR/model.safetensors'`` (with ``load_from_partial`` for new adapters).

    Args:
        cfg: The config (``${...}`` references not yet resolved).
        source: The config file (for errors).

    Returns:
        ``cfg``, changed in place.
    """
    model = cfg.get('model')
    if not isinstance(model, dict) or 'from_pretrained' not in model:
        return cfg
    directory = model['from_pretrained']
    ref = _REF.match(directory) if isinstance(directory, str) else None
    if ref:
        directory = _lookup(cfg, ref.group(1), f'{source}: model.from_pretrained')
    if not isinstance(directory, str) or not directory:
        raise ConfigError(f'{source}: model.from_pretrained must be the directory of an eov '
                          f'export, got {directory!r}')
    from eov.models.hf_format import read_export_config
    try:
        exported = read_export_config(directory)['eov']
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f'{source}: model.from_pretrained: {err}') from err
    expanded = dict(exported['model'], tokenizer=directory)
    expanded.update({k: v for k, v in model.items() if k != 'from_pretrained'})
    cfg.model = ConfigDict(expanded)
    cfg.tokenizer = directory
    if exported.get('serializer') is not None:
        cfg.serializer = ConfigDict(exported['serializer'])
    return cfg


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


#: Top-level config keys that define the model a checkpoint holds. A config
#: saved in a checkpoint supplies these (see :func:`config_for_checkpoint`).
MODEL_KEYS = ('model', 'serializer', 'tokenizer', 'modalities', 'image_size', 'patch_size',
              'model_size')


def config_for_checkpoint(config: str | None, checkpoint: str | None,
                          cfg_options: dict | None = None, use_saved: bool = True,
                          loaded: dict | None = None) -> tuple[Config, str]:
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
        loaded: ``checkpoint`` already read (:func:`~eov.models.weights.read_checkpoint`),
            so a caller that needs its weights too reads the file once.

    Returns:
        ``(cfg, source)``: the resolved config and ``'checkpoint'`` or
        ``'file'`` saying where the model came from.

    Raises:
        ValueError: when neither a config file nor a saved config is available.
    """
    from eov.models.weights import read_checkpoint, saved_config_text
    saved = saved_config_text(loaded if loaded is not None else read_checkpoint(checkpoint)) \
        if checkpoint is not None and use_saved else None
    if config is None and saved is None:
        raise ValueError(f'{checkpoint}: the checkpoint holds no config; give the config file')
    if saved is not None:
        saved_cfg = Config.fromstring(saved, '.py')
    cfg = read_config_file(config) if config is not None else saved_cfg
    if saved is not None and config is not None:
        for key in MODEL_KEYS:
            if key in saved_cfg:
                cfg[key] = saved_cfg[key]
    apply_overrides(cfg, cfg_options, config or checkpoint)
    expand_pretrained_model(cfg, config or checkpoint)
    resolve_references(cfg)
    check_image_sizes(cfg, cfg_options, config or checkpoint)
    return cfg, ('checkpoint' if saved is not None else 'file')


def partial_settings(setting) -> dict | None:
    """Read ``load_from_partial``: what a partial ``load_from`` may skip.

    Documented in ``configs/_base_/default_runtime.py``; ``allow_missing`` and
    ``allow_unexpected`` may be lists of glob patterns (only matching keys may be
    missing / unexpected). The load itself is :func:`eov.models.weights.load_weights`.

    Args:
        setting: ``None`` / ``False`` (strict), ``True`` (the defaults) or a
            dict of :data:`~eov.models.weights.PARTIAL_DEFAULTS` keys.

    Returns:
        The complete settings, or ``None`` for a strict load.

    Raises:
        ConfigKeyError: naming an unknown key or a bad value.
    """
    from eov.models.weights import PARTIAL_DEFAULTS
    if setting is None or setting is False:
        return None
    if setting is True:
        return dict(PARTIAL_DEFAULTS)
    if not isinstance(setting, dict):
        raise ConfigKeyError(f'load_from_partial: expected None, True or a dict of '
                             f'{", ".join(PARTIAL_DEFAULTS)}; got {setting!r}')
    unknown = [k for k in setting if k not in PARTIAL_DEFAULTS]
    if unknown:
        raise ConfigKeyError(f'load_from_partial.{unknown[0]}: not a setting (settings: '
                             f'{", ".join(PARTIAL_DEFAULTS)})')
    out = {**PARTIAL_DEFAULTS, **setting}
    for key in ('allow_missing', 'allow_unexpected'):
        value = out[key]
        if isinstance(value, (list, tuple)):
            if not value or not all(isinstance(p, str) and p for p in value):
                raise ConfigKeyError(f'load_from_partial.{key}: True, False or a non-empty '
                                     f'list of glob patterns, got {value!r}')
            out[key] = tuple(value)
        elif not isinstance(value, bool):
            raise ConfigKeyError(f'load_from_partial.{key}: True, False or a list of glob '
                                 f'patterns, got {value!r}')
    frac = out['min_matched_fraction']
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
        raise ConfigKeyError(f'load_from_partial.min_matched_fraction: a fraction in [0, 1], '
                             f'got {frac!r}')
    return out
