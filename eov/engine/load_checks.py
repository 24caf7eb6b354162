"""Loading weights into a model: one clear error for a mismatch, explicit partial loads.

eov loads weights strictly: a checkpoint that does not fit the model is one
:class:`~eov.engine.checkpoint.CheckpointError` naming the file and counting the
weights that match, are missing, unexpected or of another size (a few named),
and -- when the token embeddings differ -- saying that the checkpoint has
another vocabulary (another tokenizer or serializer). Never MMEngine's page of
``size mismatch for ...`` lines, never a silently half-loaded model.

``load_from`` can load *part* of a checkpoint when the config says so::

    load_from = 'pretrained.pth'
    load_from_partial = dict(
        allow_missing=True,      # model weights the checkpoint lacks keep their init
        allow_unexpected=True,   # checkpoint weights the model lacks are dropped
        allow_mismatched=True,   # weights of another shape (another vocabulary) keep their init
        min_matched_fraction=0.5)  # below this share of the model's weights: still an error

(``load_from_partial = True`` is that dict with its defaults.) ``allow_missing`` and
``allow_unexpected`` may also be lists of glob patterns: only keys matching them may be
missing / unexpected (e.g. ``allow_missing=['*.lora_A', '*.lora_B']`` for new LoRA
weights over a base that must otherwise load exactly). Every skipped
weight is logged. A resumed run never loads partially, and refuses a
checkpoint written with another serializer or tokenizer
(:func:`vocabulary_changes`).
"""
from __future__ import annotations

import logging
import os.path as osp
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from mmengine.logging import print_log

from .checkpoint import CheckpointError, read_checkpoint, saved_config_text
from .config import ConfigKeyError
from .safe_checkpoints import ResumeError

#: Settings of ``load_from_partial`` and their defaults (a dict gives only what it changes).
PARTIAL_DEFAULTS = dict(allow_missing=True, allow_unexpected=True, allow_mismatched=True,
                        min_matched_fraction=0.5)
#: Config keys that decide the token vocabulary; a resumed run must keep them.
VOCABULARY_KEYS = ('serializer', 'tokenizer')
#: Weights named in an error message, per kind.
EXAMPLES = 3


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
        parts = []
        for kind, keys in (('missing', self.missing), ('unexpected', self.unexpected)):
            if keys:
                parts.append(f'{kind} {_first(keys, n)}')
        if self.mismatched:
            parts.append('size-mismatched ' + _first(
                [f'{k} (checkpoint {_shape(a)}, model {_shape(b)})'
                 for k, a, b in self.mismatched], n))
        return '; '.join(parts)


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
    if cfg is None:
        return None
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    value = model.get(key) if isinstance(model, dict) and key in model else cfg.get(key)
    return value.to_dict() if hasattr(value, 'to_dict') else value


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


def partial_settings(setting) -> dict | None:
    """Read ``load_from_partial``.

    Args:
        setting: ``None`` / ``False`` (strict), ``True`` (the defaults) or a
            dict of :data:`PARTIAL_DEFAULTS` keys.

    Returns:
        The complete settings, or ``None`` for a strict load.

    Raises:
        ConfigKeyError: naming an unknown key or a bad fraction.
    """
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


def _partial_refusal(report: LoadReport, settings: dict) -> str | None:
    """Why a partial load with ``settings`` is still refused, or ``None``."""
    import fnmatch
    for kind, keys in (('missing', report.missing), ('unexpected', report.unexpected),
                       ('mismatched', report.mismatched)):
        allow = settings[f'allow_{kind}']
        if keys and not allow:
            return f'load_from_partial.allow_{kind}=False'
        if keys and isinstance(allow, tuple):
            outside = [k for k in keys if not any(fnmatch.fnmatchcase(k, p) for p in allow)]
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
                        [f'{k} (checkpoint {_shape(a)}, model {_shape(b)})'
                         for k, a, b in report.mismatched])):
        if keys:
            print_log(f'partial load: {len(keys)} weights {what}: {", ".join(keys)}',
                      logger='current', level=logging.WARNING)


def _revise(state_dict, revise_keys) -> OrderedDict:
    metadata = getattr(state_dict, '_metadata', None)
    for pattern, repl in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    state_dict = OrderedDict(state_dict)
    if metadata is not None:
        state_dict._metadata = metadata
    return state_dict


def read_weights_file(filename: str, map_location='cpu') -> dict:
    """A local checkpoint through :func:`read_checkpoint`; other URIs through MMEngine."""
    if osp.isfile(filename) or '://' not in filename:
        return read_checkpoint(filename, map_location=map_location)
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(filename, map_location=map_location)


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


def load_weights(model, checkpoint: dict, filename: str, cfg=None, partial=None,
                 resuming: bool = False, hint_partial: bool = False,
                 revise_keys=((r'^module\.', ''),)) -> LoadReport:
    """Load ``checkpoint``'s weights into ``model``: exactly, or as ``partial`` allows.

    Args:
        model: The (unwrapped) model.
        checkpoint: The loaded checkpoint (``state_dict`` inside, or the weights alone).
        filename: The checkpoint's path, for messages.
        cfg: The run's config (to name a changed serializer, tokenizer or model setting).
        partial: ``load_from_partial`` (see :func:`partial_settings`); ``None``: strict.
        resuming: A resumed run: strict whatever ``partial`` says, and another
            serializer or tokenizer than the checkpoint's is refused.
        hint_partial: Name ``load_from_partial`` in a strict load's error
            (``load_from``, where the option applies).
        revise_keys: ``(pattern, replacement)`` pairs applied to the checkpoint's keys.

    Returns:
        The :class:`LoadReport` of what was loaded.

    Raises:
        ResumeError: resuming with another serializer / tokenizer (both named).
        CheckpointError: naming the file, the counts, a few keys, the vocabulary
            when the token embeddings differ, and changed model settings.
    """
    if resuming:
        changes = '; '.join(f'{key}: {before} -> {after}'
                            for key, before, after in vocabulary_changes(checkpoint, cfg))
        if changes:
            raise ResumeError(
                f'--resume {filename}: the vocabulary changed since the checkpoint was '
                f'written ({changes}); a resumed run continues the same model -- resume '
                'without the change, or start a new run from these weights with load_from '
                'and load_from_partial=True')
        partial = None
    settings = partial_settings(partial)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) \
        else checkpoint
    if not isinstance(state, dict):
        raise CheckpointError(f'{filename}: holds no state dict (got {type(state).__name__})')
    state = _revise(state, revise_keys)
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
