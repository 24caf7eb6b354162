"""Model weights on disk and in a model: the one way eov reads, writes and loads them.

- **Reading** (:func:`read_checkpoint`): a ``.safetensors`` file, or an eov / MMEngine
  ``.pth`` with ``torch.load(weights_only=True)``: the few non-tensor objects MMEngine
  stores are allow-listed (:func:`allow_mmengine_checkpoints`) rather than switching
  ``weights_only`` off. A missing, truncated or foreign file is one
  :class:`CheckpointError` naming it.
- **Writing**: :func:`write_checkpoint` (``.pth``) and :func:`write_safetensors`, both
  atomic (:func:`eov.utils.io.atomic_write`); tied tensors are stored once in safetensors.
- **Loading into a model** (:func:`load_weights`): strictly by default. Weights that do
  not fit are one :class:`CheckpointError` naming the file and counting the weights that
  match, are missing, unexpected or of another size (a few named), saying when the token
  embeddings differ that the checkpoint has another vocabulary, and which model settings
  of its saved config differ -- never a silently half-loaded model. A partial load
  (the config's ``load_from_partial``) loads what fits and logs every weight it skipped.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from mmengine.logging import print_log

from eov.utils.io import atomic_write
from eov.utils.patterns import match_any

#: safetensors metadata key of eov's weight files: the checkpoint's ``meta`` as JSON
#: (``cfg`` -- the config text --, ``iter``, ``epoch``).
SAFETENSORS_META = 'eov_meta'
#: safetensors metadata key listing tied weights: ``{alias: stored name}``.
TIED_KEY = 'eov_tied_weights'
#: Settings of a partial load (``load_from_partial``) and their defaults.
PARTIAL_DEFAULTS = dict(allow_missing=True, allow_unexpected=True, allow_mismatched=True,
                        min_matched_fraction=0.5)
#: Config keys that decide the token vocabulary.
VOCABULARY_KEYS = ('serializer', 'tokenizer')
#: Weights named in an error message, per kind.
EXAMPLES = 3


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (truncated, not a checkpoint, another model)."""


# -- reading ---------------------------------------------------------------------------
#: Statistics methods HistoryBuffer registers for every instance.
_BUILTIN_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _restricted_getattr(obj, name: str):
    """``getattr`` limited to what MMEngine checkpoints reference: ``HistoryBuffer``
    statistics (pickled as ``getattr(HistoryBuffer, 'mean')``) and the annealing
    functions of parameter schedulers (``getattr(OneCycleParamScheduler, '_annealing_cos')``)."""
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

    A scheduler subclass (eov's ``OneCycleLRPerGroup``) pickles the annealing function
    it inherits, i.e. MMEngine's class, so MMEngine's schedulers cover it.

    Returns:
        Objects and ``(object, 'pickled.name')`` pairs for
        ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer
    from mmengine.optim import scheduler
    from mmengine.optim.scheduler.param_scheduler import _ParamScheduler
    core = getattr(np, '_core', None) or np.core
    entries: list = [HistoryBuffer, np.ndarray, np.dtype]
    for pickled_module in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        entries += [(core.multiarray._reconstruct, f'{pickled_module}._reconstruct'),
                    (core.multiarray.scalar, f'{pickled_module}.scalar')]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    entries += [obj for obj in vars(scheduler).values()
                if isinstance(obj, type) and issubclass(obj, _ParamScheduler)]
    entries.append((_restricted_getattr, 'builtins.getattr'))
    return entries


@functools.lru_cache(maxsize=1)
def allow_mmengine_checkpoints() -> None:
    """Allow-list MMEngine's checkpoint contents for ``weights_only`` loading (idempotent)."""
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def load_checkpoint_safely(path: str, map_location='cpu') -> dict:
    """``torch.load(path, weights_only=True)`` with MMEngine's objects allow-listed."""
    allow_mmengine_checkpoints()
    return torch.load(path, map_location=map_location, weights_only=True)


def read_checkpoint(path: str, map_location='cpu') -> dict:
    """Read a checkpoint: ``.pth`` (weights only), ``.safetensors``, or an MMEngine URI.

    A ``.safetensors`` file comes back as ``{'meta': ..., 'state_dict': ...}``, its
    ``meta`` from the :data:`SAFETENSORS_META` metadata.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointError: naming the file, when it is truncated or not a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        if '://' in path:   # a URL or another MMEngine file backend
            from mmengine.runner.checkpoint import _load_checkpoint
            return _load_checkpoint(path, map_location=map_location)
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        state, meta = read_safetensors(path)
        return {'meta': json.loads(meta.get(SAFETENSORS_META, '{}') or '{}'),
                'state_dict': state}
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


def read_safetensors(path: str) -> tuple[dict, dict]:
    """Read a safetensors file written by :func:`write_safetensors` (or any).

    Returns:
        ``(state dict with tied names restored, metadata)``.

    Raises:
        CheckpointError: naming the file, when it is not a readable safetensors file.
    """
    from safetensors import safe_open
    try:
        with safe_open(path, framework='pt') as f:
            meta, state = f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except Exception as err:   # safetensors raises its own error types
        raise CheckpointError(f'{path}: not a readable safetensors file ({err})') from None
    for alias, name in json.loads(meta.get(TIED_KEY, '{}') or '{}').items():
        if name in state:
            state[alias] = state[name]
    return state, meta


# -- writing ---------------------------------------------------------------------------
def write_checkpoint(path: str, state_dict: dict, meta: dict) -> str:
    """Write ``{'meta', 'state_dict'}`` as a ``.pth`` file, atomically; returns ``path``."""
    with atomic_write(path, 'wb') as f:
        torch.save({'meta': meta, 'state_dict': state_dict}, f)
    return path


def _storage_key(t: torch.Tensor):
    return (t.device, t.untyped_storage().data_ptr()) if t.numel() else None


def _dedupe(state: dict[str, torch.Tensor]):
    """Drop the second name of tied tensors; copy partial views of a shared storage.

    Returns:
        ``(tensors, tied)``: tensors to save and ``{alias: stored name}``.
    """
    by_storage: dict = {}
    for name, t in state.items():
        key = _storage_key(t)
        if key is not None:
            by_storage.setdefault(key, []).append(name)
    tensors, tied = {}, {}
    for name, t in state.items():
        group = by_storage.get(_storage_key(t), [name])
        same = [n for n in group if state[n].shape == t.shape
                and state[n].stride() == t.stride()
                and state[n].storage_offset() == t.storage_offset()]
        first = next((n for n in same if n in tensors), None)
        if first is not None:
            tied[name] = first
            continue
        if len(same) < len(group) or not t.is_contiguous():
            t = t.clone()   # a view into a storage other tensors use: stored on its own
        tensors[name] = t.contiguous()
    return tensors, tied


def write_safetensors(state: dict, path: str, metadata: dict | None = None,
                      dtype: torch.dtype | None = None) -> str:
    """Write a state dict as safetensors, atomically (``<path>.partial``, then a rename).

    Tied tensors (a tied LM head) are stored once and listed in the metadata, so
    :func:`read_safetensors` restores every name.

    Args:
        state: ``{name: tensor}`` (moved to the CPU here).
        path: The ``.safetensors`` file.
        metadata: Extra ``{str: str}`` metadata (e.g. the config text).
        dtype: Stored dtype of the floating-point tensors (``None``: theirs).

    Returns:
        ``path``.
    """
    from safetensors.torch import save
    tensors, tied = _dedupe({k: v.detach() for k, v in state.items()})
    tensors = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).cpu()
               for k, v in tensors.items()}
    meta = {'format': 'pt', TIED_KEY: json.dumps(tied), **(metadata or {})}
    with atomic_write(path, 'wb') as f:
        f.write(save(tensors, metadata=meta))
    return path


# -- comparing a checkpoint with a model -------------------------------------------------
@dataclass
class LoadReport:
    """How a checkpoint's weights line up with a model's.

    Attributes:
        total: Weights (state-dict entries) of the model.
        matched: Keys in both, of the same shape.
        missing: Model keys the checkpoint lacks.
        unexpected: Checkpoint keys the model lacks.
        mismatched: ``(key, checkpoint shape, model shape)`` of keys in both
            whose shapes differ.
    """

    total: int
    matched: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Every weight of the model and of the checkpoint matches."""
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def fraction(self) -> float:
        """Share of the model's weights the checkpoint supplies."""
        return len(self.matched) / self.total if self.total else 1.0

    def counts(self) -> str:
        """``'118 of 120 model weights match; 0 missing, 0 unexpected, 2 size-mismatched'``."""
        return (f'{len(self.matched)} of {self.total} model weights match; '
                f'{len(self.missing)} missing, {len(self.unexpected)} unexpected, '
                f'{len(self.mismatched)} size-mismatched')

    def examples(self, n: int = EXAMPLES) -> str:
        """A few keys of each kind that does not match (``''`` when all do)."""
        return '; '.join(f'{kind} {_first(keys, n)}' for kind, keys in (
            ('missing', self.missing), ('unexpected', self.unexpected),
            ('size-mismatched', self.mismatch_texts())) if keys)

    def mismatch_texts(self) -> list[str]:
        """``'key (checkpoint 4x8, model 4x16)'`` for each size-mismatched key."""
        return [f'{k} (checkpoint {_shape(a)}, model {_shape(b)})' for k, a, b in self.mismatched]


def _first(items: list, n: int) -> str:
    more = f' and {len(items) - n} more' if len(items) > n else ''
    return ', '.join(items[:n]) + more


def _shape(shape) -> str:
    return 'x'.join(str(s) for s in shape) if shape else 'scalar'


def _shape_of(value):
    shape = getattr(value, 'shape', None)
    return tuple(shape) if shape is not None else None


def compare_state_dicts(model_state, checkpoint_state) -> LoadReport:
    """Line up a checkpoint's weights with a model's, key by key.

    Args:
        model_state: The model's ``state_dict()`` (or ``{key: tensor}``).
        checkpoint_state: The checkpoint's state dict (prefixes already revised).

    Returns:
        A :class:`LoadReport`. BatchNorm's ``num_batches_tracked`` counters
        missing from a checkpoint are not counted (as MMEngine).
    """
    report = LoadReport(total=len(model_state))
    for key, value in model_state.items():
        if key not in checkpoint_state:
            if key.endswith('num_batches_tracked'):
                report.total -= 1
            else:
                report.missing.append(key)
            continue
        ours, theirs = _shape_of(value), _shape_of(checkpoint_state[key])
        if ours is not None and theirs is not None and ours != theirs:
            report.mismatched.append((key, theirs, ours))
        else:
            report.matched.append(key)
    report.unexpected = [k for k in checkpoint_state if k not in model_state]
    return report


def embedding_keys(model) -> set[str]:
    """State-dict keys of the model's token embeddings (input and output).

    Found through ``get_input_embeddings`` / ``get_output_embeddings`` of any
    submodule (Hugging Face models), else by the usual names.
    """
    by_id = {id(t): k for k, t in model.state_dict(keep_vars=True).items()}
    keys = set()
    for module in model.modules():
        for getter in ('get_input_embeddings', 'get_output_embeddings'):
            fn = getattr(module, getter, None)
            try:
                emb = fn() if callable(fn) else None
            except Exception:   # a module with the method but no embeddings
                emb = None
            weight = getattr(emb, 'weight', None)
            if weight is not None and id(weight) in by_id:
                keys.add(by_id[id(weight)])
    if not keys:
        keys = {k for k in by_id if re.search(r'(embed_tokens|lm_head|wte)\.weight$', k)}
    return keys


# -- what the saved config says ----------------------------------------------------------
def describe_settings(value) -> str:
    """A serializer / tokenizer setting in words: ``LocTokenSerializer(bins=32)``."""
    if value is None:
        return "None (eov's built-in)"
    if isinstance(value, dict):
        args = ', '.join(f'{k}={v!r}' for k, v in value.items() if k != 'type')
        return f"{value.get('type', 'dict')}({args})"
    return repr(value)


def _saved_config(checkpoint: dict):
    text = saved_config_text(checkpoint)
    if text is None:
        return None
    from mmengine.config import Config
    try:
        return Config.fromstring(text, '.py')
    except Exception:   # an unreadable saved config says nothing either way
        return None


def _setting(cfg, key: str):
    """``cfg[key]``, or the model's own ``model.<key>`` where that is set."""
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    value = model.get(key) if isinstance(model, dict) and key in model else cfg.get(key)
    return value.to_dict() if hasattr(value, 'to_dict') else value


def _plain(value):
    """Tuples as lists (a config saved as text may read back either way)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _brief(value) -> str:
    text = value if value == '<unset>' else repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def vocabulary_changes(checkpoint: dict, cfg) -> list[tuple[str, str, str]]:
    """How the serializer / tokenizer of ``cfg`` differ from the checkpoint's saved config.

    Args:
        checkpoint: A loaded checkpoint (its ``meta['cfg']`` is read).
        cfg: The config of this run.

    Returns:
        ``[('serializer', 'LocTokenSerializer(bins=32)', 'LocTokenSerializer(bins=1000)')]``
        (key, checkpoint's, this config's); empty when they agree or the
        checkpoint saved no config.
    """
    saved = _saved_config(checkpoint)
    if saved is None or cfg is None:
        return []
    changes = []
    for key in VOCABULARY_KEYS:
        before, after = _setting(saved, key), _setting(cfg, key)
        if _plain(before) != _plain(after):
            changes.append((key, describe_settings(before), describe_settings(after)))
    return changes


def vocabulary_note(report: LoadReport, emb_keys: set[str], checkpoint: dict, cfg) -> str:
    """``'vocabulary: checkpoint has N token rows, the model M -- ...'`` or ``''``."""
    for key, theirs, ours in report.mismatched:
        if key in emb_keys and theirs and ours and theirs[0] != ours[0]:
            changes = vocabulary_changes(checkpoint, cfg)
            why = ('; '.join(f'{name} {in_ckpt} in the checkpoint, {in_cfg} in this config'
                             for name, in_ckpt, in_cfg in changes) if changes
                   else 'another tokenizer or serializer (e.g. LocTokenSerializer bins)?')
            return (f'vocabulary: checkpoint has {theirs[0]} token rows, the model '
                    f'{ours[0]} -- {why}')
    return ''


def model_changes(checkpoint: dict, cfg, n: int = EXAMPLES) -> list[str]:
    """Settings of ``cfg.model`` that differ from the checkpoint's saved config.

    Returns:
        Up to ``n`` ``'model.vision.patch_size: 16 -> 8'`` lines (empty when the
        checkpoint saved no config).
    """
    saved = _saved_config(checkpoint)
    if saved is None or cfg is None or 'model' not in saved or 'model' not in cfg:
        return []
    out: list[str] = []

    def walk(a, b, where):
        if len(out) >= n or where in ('model.serializer', 'model.tokenizer'):
            return   # (the vocabulary is named on its own)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(a) + [k for k in b if k not in a]:
                walk(a.get(key, '<unset>'), b.get(key, '<unset>'), f'{where}.{key}')
        elif _plain(a) != _plain(b):
            out.append(f'{where}: {_brief(a)} -> {_brief(b)}')

    walk(saved['model'].to_dict(), cfg['model'].to_dict() if hasattr(cfg['model'], 'to_dict')
         else dict(cfg['model']), 'model')
    return out


# -- loading -----------------------------------------------------------------------------
def _partial_refusal(report: LoadReport, settings: dict) -> str | None:
    """Why a partial load with ``settings`` is still refused, or ``None``."""
    for kind, keys in (('missing', report.missing), ('unexpected', report.unexpected),
                       ('mismatched', report.mismatched)):
        allow = settings[f'allow_{kind}']
        if keys and not allow:
            return f'load_from_partial.allow_{kind}=False'
        if keys and isinstance(allow, (list, tuple)):
            outside = [k for k in keys if not match_any(k, allow)]
            if outside:
                return (f'{len(outside)} {kind} weights match no pattern of '
                        f'load_from_partial.allow_{kind} {list(allow)} (e.g. '
                        f'{", ".join(outside[:3])})')
    if report.fraction < settings['min_matched_fraction']:
        return (f'only {report.fraction:.0%} of the model\'s weights match, below '
                f"load_from_partial.min_matched_fraction={settings['min_matched_fraction']}")
    return None


def log_partial_load(filename: str, report: LoadReport) -> None:
    """Log every weight a partial load skipped (WARNING), one line per kind."""
    print_log(f'partial load of {filename}: {report.counts()}', logger='current',
              level=logging.WARNING)
    for what, keys in (('kept their initialisation (not in the checkpoint)', report.missing),
                       ('dropped (not in the model)', report.unexpected),
                       ('kept their initialisation (another shape in the checkpoint)',
                        report.mismatch_texts())):
        if keys:
            print_log(f'partial load: {len(keys)} weights {what}: {", ".join(keys)}',
                      logger='current', level=logging.WARNING)


def _state_dict_of(checkpoint, filename: str) -> OrderedDict:
    """The weights of a checkpoint: its ``state_dict`` (or ``model``) entry, or itself."""
    state = checkpoint
    if isinstance(checkpoint, dict):
        state = next((checkpoint[k] for k in ('state_dict', 'model')
                      if isinstance(checkpoint.get(k), dict)), checkpoint)
    if not isinstance(state, dict):
        raise CheckpointError(f'{filename}: holds no state dict (got {type(state).__name__})')
    return state


def _revise(state_dict, revise_keys) -> OrderedDict:
    metadata = getattr(state_dict, '_metadata', None)
    for pattern, repl in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata
    return state_dict


def load_weights(model, checkpoint, filename: str | None = None, cfg=None, partial=None,
                 hint_partial: bool = False,
                 revise_keys=((r'^module\.', ''),)) -> LoadReport:
    """Load a checkpoint's weights into ``model``: exactly, or as ``partial`` allows.

    Args:
        model: The (unwrapped) model.
        checkpoint: A checkpoint file (``.pth`` / ``.safetensors``, read with
            :func:`read_checkpoint`), or a loaded checkpoint (``state_dict`` inside,
            or the weights alone).
        filename: The checkpoint's path, for messages (default: ``checkpoint`` when
            it is a path).
        cfg: The config the model was built from (to name a changed serializer,
            tokenizer or model setting against the checkpoint's saved config).
        partial: ``None`` / ``False``: strict. ``True`` or a dict of
            :data:`PARTIAL_DEFAULTS` keys (``load_from_partial``; glob patterns for
            ``allow_missing`` / ``allow_unexpected``): load what fits, log the rest.
        hint_partial: Name ``load_from_partial`` in a strict load's error
            (``load_from``, where the option applies).
        revise_keys: ``(pattern, replacement)`` pairs applied to the checkpoint's keys
            (default: strip the ``module.`` of a DDP / FSDP wrapper).

    Returns:
        The :class:`LoadReport` of what was loaded.

    Raises:
        FileNotFoundError: ``checkpoint`` is a path that does not exist.
        CheckpointError: naming the file, the counts, a few keys, the vocabulary
            when the token embeddings differ, and changed model settings.
    """
    if isinstance(checkpoint, (str, os.PathLike)):
        filename = filename or os.fspath(checkpoint)
        checkpoint = read_checkpoint(checkpoint)
    filename = filename or '<checkpoint>'
    settings = None if not partial else {**PARTIAL_DEFAULTS,
                                         **(partial if isinstance(partial, dict) else {})}
    state = _revise(_state_dict_of(checkpoint, filename), revise_keys)
    report = compare_state_dicts(model.state_dict(), state)
    if not report.exact:
        refusal = None if settings is None else _partial_refusal(report, settings)
        if settings is None or refusal is not None:
            parts = [f'{filename} does not fit the model: {report.counts()}']
            if report.examples():
                parts[0] += f' (e.g. {report.examples()})'
            vocab = vocabulary_note(report, embedding_keys(model), checkpoint, cfg)
            if vocab:
                parts.append(vocab)
            changed = model_changes(checkpoint, cfg)
            if changed:
                parts.append('model settings (checkpoint -> this config): '
                             + ', '.join(changed))
            if refusal is not None:
                parts.append(f'not loaded: {refusal}')
            elif hint_partial:
                parts.append('set load_from_partial=True to load what fits')
            raise CheckpointError('; '.join(parts))
        log_partial_load(filename, report)
        for key, _, _ in report.mismatched:
            del state[key]
    # every key was checked above (strict=True would also refuse the
    # num_batches_tracked counters MMEngine lets a checkpoint lack)
    model.load_state_dict(state, strict=False)
    return report
