"""Hugging Face format: an EarthOneVision model as a self-contained directory, both ways.

:func:`save_pretrained` writes::

    OUT_DIR/
      config.json              architectures/model_type/eov_version/torch_dtype + "eov":
                               the model config (LM as its HF config, no local paths),
                               tasks, modalities, serializer
      model.safetensors        every weight; a tied LM head is stored once
      generation_config.json   the LM's generation settings
      tokenizer.json, tokenizer_config.json, ...   the tokenizer (with eov's chat template)
      processor_config.json    the processor (serializer, visual-token counts) + the
                               modalities and the specs of every sensor they use
      README.md                a model card

:func:`load_pretrained` rebuilds the model from that directory alone: no config
file, no plugin module for custom sensors (their specs are in the directory),
no downloads.
"""
from __future__ import annotations

import dataclasses
import json
import os

import torch

from eov.utils.io import write_json_atomically, write_text_atomically

from .weights import compare_state_dicts, load_weights, write_safetensors

#: ``model_type`` of eov exports in ``config.json``.
MODEL_TYPE = 'earth_one_vision'
CONFIG_NAME = 'config.json'
WEIGHTS_NAME = 'model.safetensors'
GENERATION_CONFIG_NAME = 'generation_config.json'
#: HF config keys that describe one saved copy rather than the architecture.
_DROP_LM_KEYS = ('transformers_version', '_name_or_path', 'dtype', 'torch_dtype',
                 'architectures', '_attn_implementation_autoset')
_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


# -- helpers --------------------------------------------------------------------------
def _dtype(value) -> torch.dtype | None:
    if value is None or isinstance(value, torch.dtype):
        return value
    name = str(value).replace('torch.', '')
    if name not in _DTYPES:
        raise ValueError(f'dtype must be one of {", ".join(_DTYPES)}, got {value!r}')
    return _DTYPES[name]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace('torch.', '')


def to_json(value, where: str = 'config'):
    """``value`` with tuples as lists and dict keys as strings (JSON-serialisable).

    Raises:
        TypeError: naming the config key of a value JSON cannot hold.
    """
    if isinstance(value, dict):
        return {str(k): to_json(v, f'{where}.{k}') for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return _dtype_name(value)
    raise TypeError(f'{where}: {type(value).__name__} value {value!r} cannot be written to '
                    'config.json; use plain values (strings, numbers, lists, dicts) in the config')


def _plain(cfg) -> dict:
    """A config / ConfigDict / dict as a plain ``dict`` (deep copy)."""
    import copy
    to_dict = getattr(cfg, 'to_dict', None)
    return copy.deepcopy(to_dict() if callable(to_dict) else dict(cfg))


def _get(cfg, key, default=None):
    try:
        return cfg[key]
    except (KeyError, AttributeError):
        return default


def lm_config_dict(lm) -> dict:
    """The LM's HF config as ``AutoConfig.for_model`` keyword arguments (with ``model_type``)."""
    config = lm.config.to_dict()
    for key in _DROP_LM_KEYS:
        config.pop(key, None)
    config['model_type'] = lm.config.model_type
    return config


def _sensors(modality, found: dict | None = None, seen: set | None = None) -> dict:
    """``{name: SensorSpec}`` of every sensor a built modality uses (multi-sensor
    entries, fusion members, frame modalities of temporal stacks), found by walking
    its attributes, so third-party modalities are covered too."""
    from eov.modalities.base import BaseModality
    from eov.modalities.sensors import SensorSpec
    found = {} if found is None else found
    seen = set() if seen is None else seen
    if id(modality) in seen:
        return found
    seen.add(id(modality))

    def visit(value):
        if isinstance(value, SensorSpec):
            found.setdefault(value.name, value)
        elif isinstance(value, BaseModality):
            _sensors(value, found, seen)
        elif isinstance(value, (dict, list, tuple)):
            for v in value.values() if isinstance(value, dict) else value:
                if isinstance(v, (SensorSpec, BaseModality, dict)):
                    visit(v)

    for value in vars(modality).values():
        visit(value)
    return found


def sensor_specs(modalities: dict) -> dict[str, dict]:
    """``{name: spec as dict}`` for every sensor the built ``modalities`` use.

    The registered (full) spec is saved when the name is registered, so a
    modality that uses a band subset reloads with the same subset.
    """
    from eov.modalities.sensors import get_sensor, sensor_names
    registered = set(sensor_names())
    found: dict = {}
    for modality in modalities.values():
        _sensors(modality, found)
    return {name: to_json(dataclasses.asdict(get_sensor(name) if name in registered else spec),
                          f'sensor {name}')
            for name, spec in found.items()}


def _tuples(value):
    """JSON lists back to the tuples a :class:`SensorSpec` holds (nested too)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def register_saved_sensors(specs: dict[str, dict], source: str) -> list[str]:
    """Register the saved sensor specs that are unknown here.

    Returns:
        The names that were registered.

    Raises:
        ValueError: naming the sensor when a registered spec of that name differs.
    """
    from eov.modalities.sensors import SensorSpec, get_sensor, register_sensor, sensor_names
    fields = {f.name for f in dataclasses.fields(SensorSpec)}
    known = set(sensor_names())
    added = []
    for name, values in (specs or {}).items():
        unknown = set(values) - fields
        if unknown:
            raise ValueError(f'{source}: sensor {name!r} has fields this eov does not know: '
                             f'{sorted(unknown)} (saved by a newer eov?)')
        spec = SensorSpec(**{k: _tuples(v) for k, v in values.items()})
        if name in known:
            if get_sensor(name) != spec:
                raise ValueError(
                    f'{source}: sensor {name!r} is registered here with another spec than the '
                    'one the model was exported with (bands, statistics or physics differ); '
                    'rename one of them or load without the plugin that registers it')
            continue
        register_sensor(spec)
        added.append(name)
    return added


def _model_card(directory: str, cfg_eov: dict, n_params: int, dtype: str) -> str:
    name = os.path.basename(os.path.abspath(directory))
    model = cfg_eov['model']
    lm = model.get('language', {}).get('config', {})
    tasks = [t.get('type') for t in (cfg_eov.get('tasks') or []) if isinstance(t, dict)]
    modalities = ', '.join(cfg_eov.get('modalities') or model.get('modalities') or {}) or '-'
    serializer = (cfg_eov.get('serializer') or {}).get('type', '-')
    return f"""---
library_name: eov
tags:
- remote-sensing
- earth-observation
- multimodal
- vision-language
---
# EarthOneVision ({name})

An Earth-OneVision-style remote-sensing multimodal LLM exported by
eov {__import__('eov').__version__}: sensor input adapters ->
ViT (`{model.get('vision', {}).get('type', '?')}`) -> FGVLA aligner
(`{model.get('aligner', {}).get('type', '?')}`) -> causal LM (`{lm.get('model_type', '?')}`,
{lm.get('num_hidden_layers', '?')} layers, width {lm.get('hidden_size', '?')}).
Spatial answers are written as text by the SLIS serializer `{serializer}`.

- parameters: {n_params:,} (weights stored as {dtype})
- modalities: {modalities}
- tasks: {', '.join(t for t in tasks if t) or '-'}

## Use it with eov

```python
from eov.models import EarthOneVision
model = EarthOneVision.from_pretrained('{name}')   # eval mode; heads: model.eov_config
# or, for structured answers (boxes, labels, GeoJSON):
from eov.apis import EOVInferencer
inferencer = EOVInferencer('{name}')
```

`config.json` holds the eov model config under `"eov"`; `processor_config.json` the
serializer, the visual-token counts and the specs of the sensors the modalities use (custom
sensors load without their plugin). The tokenizer loads with
`transformers.AutoTokenizer.from_pretrained(dir)` and carries eov's chat template; the model
itself needs eov (it is not a `transformers` architecture).
"""


# -- save -----------------------------------------------------------------------------
def export_config(model, cfg) -> dict:
    """The ``"eov"`` section of ``config.json`` for ``model`` built from ``cfg``.

    Raises:
        ValueError: the config has no model, or ``${...}`` references left (load it with
            :func:`eov.engine.config.load_config`, which resolves them).
    """
    model_cfg = _plain(_get(cfg, 'model'))
    if not model_cfg:
        raise ValueError('the config has no model section')
    model_cfg['language'] = dict(config=lm_config_dict(model.lm))
    vision = model_cfg.get('vision')
    if isinstance(vision, dict):
        vision.pop('checkpoint', None)   # the weights are in model.safetensors
    model_cfg.pop('init_cfg', None)
    model_cfg['tokenizer'] = None        # the directory itself is the tokenizer
    # what the model was built with decides (a top-level copy may have been left behind)
    serializer = model_cfg.get('serializer') or _get(cfg, 'serializer')
    modalities = model_cfg.get('modalities') or _get(cfg, 'modalities')
    out = to_json(dict(model=model_cfg, tasks=_get(cfg, 'tasks'), modalities=modalities,
                       serializer=serializer), 'eov')   # (to_json copies them as plain JSON)
    if '${' in json.dumps(out):
        raise ValueError('the config has unresolved ${...} references: export a config loaded '
                         'with eov.engine.config.load_config (it resolves them)')
    return out


def _check_rebuild(eov_cfg: dict, directory: str, model) -> None:
    """Build the exported config on the meta device: same weight names and shapes."""
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope

    from eov.registry import MODELS
    init_default_scope('eov')
    model_cfg = ConfigDict(dict(eov_cfg['model'], tokenizer=directory))
    with torch.device('meta'):
        rebuilt = MODELS.build(model_cfg)
    report = compare_state_dicts(model.state_dict(), rebuilt.state_dict())
    if not report.exact:
        diff = sorted(report.missing + report.unexpected) + sorted(
            k for k, _, _ in report.mismatched)
        raise ValueError(f'the config does not rebuild this model (differs at {diff[:5]}); '
                         'export the model with the config it was built from')


def save_pretrained(model, cfg, out_dir: str, dtype=None, check: bool = True) -> str:
    """Write ``model`` as a Hugging Face style directory (see the module docstring).

    Args:
        model: A built :class:`~eov.models.EarthOneVision` with its weights.
        cfg: The config ``model`` was built from (a resolved ``Config`` or a
            dict with ``model`` and, optionally, ``tasks``, ``modalities``,
            ``serializer``).
        out_dir: Output directory (created; existing files are overwritten).
        dtype: ``'float32'``, ``'bfloat16'`` or ``'float16'`` for the stored
            floating-point weights; ``None`` keeps the model's.
        check: Rebuild the exported config on the meta device and compare
            weight names and shapes before writing the weights.

    Returns:
        ``out_dir``.
    """
    import eov
    from eov.processing.tokenizer import clear_tokenizer_cache
    dtype = _dtype(dtype)
    eov_cfg = export_config(model, cfg)
    os.makedirs(out_dir, exist_ok=True)
    model.processor.save_pretrained(out_dir, extra=dict(
        modalities=eov_cfg['modalities'] or eov_cfg['model'].get('modalities'),
        sensors=sensor_specs(model.modalities)))
    clear_tokenizer_cache()   # a tokenizer cached for this path would be stale now
    if check:
        _check_rebuild(eov_cfg, out_dir, model)

    state = model.state_dict()
    floating = [v.dtype for v in state.values() if v.is_floating_point()]
    saved_dtype = dtype or (max(set(floating), key=floating.count) if floating else torch.float32)
    write_safetensors(state, os.path.join(out_dir, WEIGHTS_NAME), dtype=dtype)
    gen = getattr(model.lm, 'generation_config', None)
    if gen is not None:   # written as is (save_pretrained would validate and may refuse)
        write_text_atomically(os.path.join(out_dir, GENERATION_CONFIG_NAME),
                              gen.to_json_string(use_diff=True))

    config = {'architectures': ['EarthOneVision'], 'model_type': MODEL_TYPE,
              'eov_version': eov.__version__, 'torch_dtype': _dtype_name(saved_dtype),
              'dtype': _dtype_name(saved_dtype), 'eov': eov_cfg}
    write_json_atomically(os.path.join(out_dir, CONFIG_NAME), config)
    n_params = sum(p.numel() for p in model.parameters())
    write_text_atomically(os.path.join(out_dir, 'README.md'),
                          _model_card(out_dir, eov_cfg, n_params, _dtype_name(saved_dtype)))
    return out_dir


# -- load -----------------------------------------------------------------------------
def read_export_config(directory: str) -> dict:
    """``config.json`` of an eov export, checked.

    Raises:
        FileNotFoundError: not a directory, or no ``config.json``/``model.safetensors``.
        ValueError: ``config.json`` of another model type, or unreadable.
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f'{directory}: not a directory (an eov Hugging Face export '
                                'is a directory written by tools/export_hf.py)')
    path = os.path.join(directory, CONFIG_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{directory}: no {CONFIG_NAME} (not a Hugging Face model '
                                'directory; write one with tools/export_hf.py)')
    try:
        with open(path, encoding='utf-8') as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'{path}: not readable JSON ({err})') from None
    model_type = config.get('model_type') if isinstance(config, dict) else None
    if model_type != MODEL_TYPE:
        raise ValueError(f'{path}: model_type {model_type!r} is not an eov export '
                         f'({MODEL_TYPE!r}); load it with transformers instead')
    if not isinstance(config.get('eov'), dict) or 'model' not in config['eov']:
        raise ValueError(f'{path}: no "eov" model config in it')
    if not os.path.isfile(os.path.join(directory, WEIGHTS_NAME)):
        raise FileNotFoundError(f'{directory}: no {WEIGHTS_NAME} (the export is incomplete)')
    return config


def load_pretrained(directory: str, device='cpu', dtype=None, attention=None):
    """Rebuild a model written by :func:`save_pretrained`.

    Args:
        directory: The export directory (local; nothing is downloaded).
        device: Where the model goes.
        dtype: Floating-point dtype of the returned model; ``None`` keeps the
            stored one (``torch_dtype`` of ``config.json``).
        attention: Attention backend replacing the exported one (e.g.
            ``'sdpa'`` on a machine without the exported backend).

    Returns:
        ``(model, cfg)``: the model in eval mode and an mmengine ``Config``
        with ``model``, ``tasks``, ``modalities``, ``serializer`` and
        ``tokenizer`` (the directory), enough for an inferencer's pipeline
        and heads.

    Raises:
        FileNotFoundError: no such directory, or a file of the export missing.
        ValueError: another model type, or a sensor registered here with another spec.
        CheckpointError: weights that do not fit the model of ``config.json``
            (:func:`~eov.models.weights.load_weights`: counts and names).
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from eov.processing.processor import PROCESSOR_CONFIG
    from eov.registry import MODELS
    directory = os.fspath(directory)
    config = read_export_config(directory)
    proc_path = os.path.join(directory, PROCESSOR_CONFIG)
    if not os.path.isfile(proc_path):
        raise FileNotFoundError(f'{directory}: no {PROCESSOR_CONFIG} (the export is '
                                'incomplete)')
    with open(proc_path, encoding='utf-8') as f:
        processor_cfg = json.load(f)
    register_saved_sensors(processor_cfg.get('sensors') or {}, proc_path)

    eov_cfg = config['eov']
    model_cfg = dict(eov_cfg['model'], tokenizer=directory)
    if attention is not None:
        model_cfg['attention'] = attention
    cfg = Config(dict(model=model_cfg, tasks=eov_cfg.get('tasks'),
                      modalities=eov_cfg.get('modalities') or model_cfg.get('modalities'),
                      serializer=eov_cfg.get('serializer') or model_cfg.get('serializer'),
                      tokenizer=directory))
    init_default_scope('eov')
    model = MODELS.build(cfg.model)
    load_weights(model, os.path.join(directory, WEIGHTS_NAME))   # strict
    gen_path = os.path.join(directory, GENERATION_CONFIG_NAME)
    if os.path.isfile(gen_path):
        from transformers import GenerationConfig
        model.lm.generation_config = GenerationConfig.from_pretrained(directory,
                                                                      local_files_only=True)
    dtype = _dtype(dtype) or _dtype(config.get('torch_dtype') or 'float32')
    if dtype != torch.float32:
        _cast_weights(model, dtype)
    return model.to(device).eval(), cfg


def _cast_weights(model, dtype: torch.dtype) -> None:
    """Cast floating parameters and persistent buffers (what the file stores) to ``dtype``.

    Non-persistent buffers keep theirs, as in a model built in ``dtype``: e.g. the
    LM's rotary ``inv_freq`` stays float32 (``model.to(dtype)`` would round it).
    """
    stored = set(model.state_dict())
    for param in model.parameters():
        if param.is_floating_point():
            param.data = param.data.to(dtype)
    for module_name, module in model.named_modules():
        for name, buf in list(module._buffers.items()):
            key = f'{module_name}.{name}' if module_name else name
            if buf is not None and buf.is_floating_point() and key in stored:
                module._buffers[name] = buf.to(dtype)


__all__ = ['export_config', 'load_pretrained', 'read_export_config',
           'register_saved_sensors', 'save_pretrained', 'sensor_specs']
