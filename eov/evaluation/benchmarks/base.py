"""The benchmark plugin protocol: a converter and an official scorer per benchmark.

A benchmark (registered in :data:`eov.registry.BENCHMARKS` under its name)
does two things:

- :meth:`BaseBenchmark.convert` turns the dataset *as users download it* into
  eov instruction records (JSONL, :mod:`eov.datasets.schema`), with structured
  ``targets``; every record is validated before it is written.
- :meth:`BaseBenchmark.score` scores predictions against those records the
  way the benchmark's official code does, quirks included (see
  ``docs/evaluation.md``).

A prediction is one JSON object a line: ``{"id": ..., "prediction": "<raw model
text>"}`` or, for spatial tasks, ``{"id": ..., "objects": [...]}`` in pixels of
the original image. A record without a prediction counts as wrong and is
reported in ``n_missing``; a prediction whose id is not in the records is
reported in ``n_unknown`` and ignored.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterable, Iterator

from eov.datasets.schema import validate_record
from eov.utils.constants import IMAGE_PLACEHOLDER
from eov.utils.errors import RecordError
from eov.utils.io import atomic_write, iter_jsonl


class BenchmarkDataError(ValueError):
    """Malformed benchmark input; the message names the file (and line or entry)."""


class PredictionError(ValueError):
    """A malformed prediction line; the message names the file and line."""


class OptionError(TypeError):
    """An option a benchmark does not know, or a bad option value."""


#: Options every converter accepts (name -> help).
COMMON_OPTIONS = {
    'image_first': 'put <image> before the question (default: after it, as EOV-Synth does)',
    'check_images': 'fail when a referenced image file does not exist (default: true)',
}


class BaseBenchmark:
    """One benchmark: converter (download layout -> records) and official scorer.

    Subclasses set :attr:`name`, :attr:`task`, :attr:`convert_options` and
    implement :meth:`iter_records` and :meth:`score`.

    Attributes:
        notes: Messages a conversion wants the user to see (skipped entries,
            ...), filled by :meth:`convert`.
    """

    #: Registered name (also the ``NAME`` argument of the tools).
    name = 'base'
    #: Task category of the records.
    task: str | None = None
    #: Converter-specific options (name -> help), besides :data:`COMMON_OPTIONS`.
    convert_options: dict[str, str] = {}
    #: Metric keys :meth:`score` returns (documentation and tests).
    metric_keys: tuple[str, ...] = ()

    def __init__(self):
        self.notes: list[str] = []
        self._out_dir = os.getcwd()
        self._progress = False
        self._image_first = False
        self._check_images = True

    # -- conversion -----------------------------------------------------------
    def convert(self, src: str, out_jsonl: str, split: str | None = None,
                progress: bool = True, **options: Any) -> int:
        """Convert the downloaded dataset at ``src`` into ``out_jsonl``.

        Args:
            src: The dataset root (or file) as downloaded.
            out_jsonl: Output JSONL; image paths are written relative to its
                folder. Written atomically (a failed run leaves no file).
            split: Split to convert (benchmark-specific names such as
                ``'train'``/``'val'``/``'test'``); ``None``: see the benchmark.
            progress: Show a tqdm progress bar.
            **options: :data:`COMMON_OPTIONS` and :attr:`convert_options`.

        Returns:
            The number of records written.

        Raises:
            BenchmarkDataError: malformed input, naming the file.
            OptionError: an option this benchmark does not know.
        """
        known = {**COMMON_OPTIONS, **self.convert_options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise OptionError(f'{self.name}: unknown option(s) {", ".join(unknown)}; '
                              f'accepted: {", ".join(sorted(known))}')
        if not os.path.exists(src):
            raise BenchmarkDataError(f'{self.name}: source not found: {src}')
        self.notes = []
        self._out_dir = os.path.dirname(os.path.abspath(out_jsonl))
        self._progress = progress
        self._image_first = as_bool(options.pop('image_first', False), 'image_first')
        self._check_images = as_bool(options.pop('check_images', True), 'check_images')
        count = 0
        with atomic_write(out_jsonl) as f:   # a failed conversion leaves no partial file
            for record in self.iter_records(src, split=split, **options):
                source = (record.get('meta') or {}).get('source', src)
                try:
                    validate_record(record, f'{self.name} record {count} from {source}')
                except RecordError as err:
                    raise BenchmarkDataError(str(err)) from None
                f.write(json.dumps(record, ensure_ascii=False) + '\n')
                count += 1
            if count == 0:
                raise BenchmarkDataError(f'{self.name}: no records found in {src}'
                                         + (f' for split {split!r}' if split else ''))
        return count

    def iter_records(self, src: str, split: str | None = None, **options) -> Iterator[dict]:
        """Yield the instruction records of ``src`` (implemented by each benchmark)."""
        raise NotImplementedError

    # -- helpers for converters ----------------------------------------------
    def image_path(self, path: str) -> str:
        """``path`` relative to the output JSONL's folder (checked to exist if asked)."""
        path = os.path.abspath(path)
        if self._check_images and not os.path.isfile(path):
            raise BenchmarkDataError(f'{self.name}: image file not found: {path} '
                                     '(pass check_images=false to convert without images)')
        try:
            return os.path.relpath(path, self._out_dir)
        except ValueError:  # another drive (Windows)
            return path

    @staticmethod
    def resolve_dir(src: str, value: str) -> str:
        """A folder option: absolute, relative to SRC (its folder if a file), or to the cwd."""
        if os.path.isabs(value):
            return value
        base = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
        candidate = os.path.join(base, value)
        return candidate if os.path.isdir(candidate) or not os.path.isdir(value) else value

    def find_file(self, src: str, value: str | None, names, what: str) -> str:
        """The ``what`` file: the option ``value`` (as given, else in SRC's folder), SRC if it
        is a file, else the first of ``names`` in SRC that exists (the first if none does).

        Raises:
            BenchmarkDataError: the file does not exist.
        """
        base = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
        if value:
            path = value if os.path.isfile(value) else os.path.join(base, value)
        elif os.path.isfile(src):
            path = src
        else:
            path = next((os.path.join(src, n) for n in names
                         if os.path.isfile(os.path.join(src, n))), os.path.join(src, names[0]))
        if not os.path.isfile(path):
            raise BenchmarkDataError(f'{self.name}: {what} file not found: {path}')
        return path

    def given_folder(self, src: str, value: str, what: str) -> str:
        """The folder option ``value`` (see :meth:`resolve_dir`), which must exist.

        Raises:
            BenchmarkDataError: the folder does not exist.
        """
        path = self.resolve_dir(src, value)
        if not os.path.isdir(path):
            raise BenchmarkDataError(f'{self.name}: {what} folder not found: {path}')
        return path

    def find_folder(self, src: str, value: str | None, candidates, what: str) -> str:
        """The ``what`` folder: the ``--what`` option if given, else the first candidate in SRC.

        Raises:
            BenchmarkDataError: the given folder does not exist, or no candidate does.
        """
        if value:
            return self.given_folder(src, value, what)
        for name in candidates:
            path = os.path.join(src, name)
            if os.path.isdir(path):
                return path
        raise BenchmarkDataError(f'{self.name}: no {what} folder in {src} (looked for '
                                 f'{", ".join(candidates)}; pass --{what} to name it)')

    def prompt(self, question: str) -> str:
        """The human turn: the question and one ``<image>`` placeholder."""
        question = question.strip()
        return (f'{IMAGE_PLACEHOLDER}\n{question}' if self._image_first
                else f'{question}\n{IMAGE_PLACEHOLDER}')

    @staticmethod
    def conversation(prompt: str) -> list[dict]:
        """A one-turn conversation answered from the record's targets."""
        return [{'from': 'human', 'value': prompt}, {'from': 'assistant', 'value': None}]

    def record(self, rid: str, modality: str, images: list[dict], question: str,
               targets: list[dict], meta: dict) -> dict:
        """A record of :attr:`task`: one human turn (:meth:`prompt` of ``question``)
        answered from ``targets``."""
        return {'id': rid, 'task': self.task, 'modality': modality, 'images': images,
                'conversations': self.conversation(self.prompt(question)),
                'targets': targets, 'meta': meta}

    def progress(self, iterable: Iterable, desc: str, total: int | None = None) -> Iterable:
        """Wrap ``iterable`` in a tqdm bar when progress is on."""
        if not self._progress:
            return iterable
        from tqdm import tqdm
        if total is None and hasattr(iterable, '__len__'):
            total = len(iterable)
        return tqdm(iterable, desc=f'{self.name}: {desc}', total=total, unit='it',
                    leave=False, mininterval=0.5)

    def note(self, message: str) -> None:
        """Record a message for the user (printed by ``tools/convert_dataset.py``)."""
        self.notes.append(f'{self.name}: {message}')

    # -- scoring --------------------------------------------------------------
    def score(self, records: dict[str, dict], predictions: dict[str, dict],
              serializer=None, **kwargs) -> dict[str, float]:
        """Score ``predictions`` against ``records`` with the official protocol.

        Args:
            records: ``{id: record}`` as written by :meth:`convert`.
            predictions: ``{id: prediction line}``; ids absent here are
                missing (wrong, counted in ``n_missing``).
            serializer: SLIS serializer (config, name or object) that decodes
                spatial answers; ignored by text benchmarks.
            **kwargs: Benchmark-specific scoring options.

        Returns:
            A flat ``{metric: number}`` dict.
        """
        raise NotImplementedError


# -- shared scoring helpers ---------------------------------------------------
def prediction_text(pred: dict | None) -> str | None:
    """The raw answer text of a prediction line (``None`` when absent)."""
    if pred is None:
        return None
    text = pred.get('prediction')
    return text if isinstance(text, str) else None


def checked_objects(objects: list, types) -> list[dict]:
    """The objects of ``types`` in a prediction's ``objects`` list, checked (others skipped)."""
    from eov.slis.geometry import check_object
    out = []
    for obj in objects:
        if isinstance(obj, dict) and obj.get('type') in types:
            try:
                out.append(check_object(obj))
            except ValueError:
                continue
    return out


def count_missing(records: dict, predictions: dict) -> int:
    """Records that have no prediction line."""
    return sum(1 for rid in records if rid not in predictions)


def build_serializer(serializer=None):
    """Build a SLIS serializer from a name, config dict or object (default: loc tokens)."""
    from eov.registry import SERIALIZERS
    if serializer is None:
        serializer = 'LocTokenSerializer'
    if isinstance(serializer, str):
        serializer = dict(type=serializer)
    if isinstance(serializer, dict):
        return SERIALIZERS.build(serializer)
    return serializer


def parse_option(text: str) -> tuple[str, Any]:
    """A ``KEY=VALUE`` command-line option -> ``(key, value)``; VALUE is read as JSON when it parses.

    Raises:
        argparse.ArgumentTypeError: without ``=`` or with an empty key.
    """
    import argparse
    key, sep, value = text.partition('=')
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE, got {text!r}')
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass
    return key.strip(), value


def load_records(path: str) -> dict[str, dict]:
    """Read a converted JSONL file into ``{id: record}``, validating each record.

    Raises:
        RecordError: a malformed record or a repeated id, naming file and line.
    """
    def record_id(rec, where):
        validate_record(rec, where)
        return rec['id']

    records = _by_id(path, 'data', RecordError, record_id)
    if not records:
        raise RecordError(f'{path}: no records')
    return records


def load_predictions(path: str) -> dict[str, dict]:
    """Read a predictions JSONL file into ``{id: line}``.

    Each line is ``{"id": ..., "prediction": "<text>"}`` (``null`` text is an
    empty answer) or ``{"id": ..., "objects": [...]}`` or
    ``{"id": ..., "labels": [...]}``; ids are compared as strings.

    Raises:
        PredictionError: a malformed line or a repeated id, naming file and line.
    """
    def prediction_id(pred, where):
        if not isinstance(pred, dict):
            raise PredictionError(f'{where}: a prediction must be a JSON object, '
                                  f'got {type(pred).__name__}')
        rid = pred.get('id')
        if isinstance(rid, bool) or not isinstance(rid, (str, int)) or rid == '':
            raise PredictionError(f'{where}: missing or invalid "id" ({rid!r})')
        rid = str(rid)
        kinds = [k for k in ('prediction', 'objects', 'labels') if k in pred]
        if not kinds:
            raise PredictionError(f'{where} (id {rid}): needs "prediction" (text), '
                                  '"objects" (list) or "labels" (list)')
        if 'prediction' in pred and pred['prediction'] is not None \
                and not isinstance(pred['prediction'], str):
            raise PredictionError(f'{where} (id {rid}): "prediction" must be text or '
                                  f'null, got {type(pred["prediction"]).__name__}')
        for key in ('objects', 'labels'):
            if key in pred and not isinstance(pred[key], list):
                raise PredictionError(f'{where} (id {rid}): "{key}" must be a list')
        if 'labels' in pred and not all(isinstance(v, str) for v in pred['labels']):
            raise PredictionError(f'{where} (id {rid}): "labels" must hold strings')
        return rid

    return _by_id(path, 'predictions', PredictionError, prediction_id)


def _by_id(path: str, what: str, error: type[Exception], read_id) -> dict[str, dict]:
    """``{id: object}`` of a JSONL file; ``read_id(object, 'file:line')`` checks a line and
    gives its id.

    Raises:
        FileNotFoundError: no such file.
        error: a line that is no JSON, or an id that repeats, naming file and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{what} file not found: {path}')
    out: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for lineno, obj in iter_jsonl(path, error=error, objects=False):
        rid = read_id(obj, f'{path}:{lineno}')
        if rid in out:
            raise error(f'{path}:{lineno}: id {rid!r} repeats line {lines[rid]}')
        out[rid] = obj
        lines[rid] = lineno
    return out


def evaluate(benchmark: BaseBenchmark, records: dict[str, dict], predictions: dict[str, dict],
             serializer=None, **kwargs) -> dict[str, float]:
    """Score with ``benchmark`` and add ``n_unknown`` (predictions for unknown ids).

    Returns:
        The benchmark's metrics plus ``n_unknown``.
    """
    import inspect
    params = inspect.signature(benchmark.score).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            accepted = [k for k in params if k not in ('records', 'predictions', 'serializer')]
            raise OptionError(f'{benchmark.name}: unknown scoring option(s) '
                              f'{", ".join(unknown)}; accepted: {", ".join(accepted) or "none"}')
    known = {rid: p for rid, p in predictions.items() if rid in records}
    try:
        metrics = benchmark.score(records, known, serializer=serializer, **kwargs)
    except (RecordError, PredictionError):
        raise
    except (ValueError, KeyError) as err:   # records of another kind than its converter's
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise RecordError(f'{benchmark.name} cannot score these records: {text} (it scores '
                          f'the records tools/convert_dataset.py {benchmark.name} writes)') \
            from err
    metrics['n_unknown'] = len(predictions) - len(known)
    return metrics


def load_callable(spec: str) -> Callable:
    """Import ``'package.module:function'`` (e.g. a VQA judge)."""
    import importlib
    module, sep, attr = spec.partition(':')
    if not sep or not module or not attr:
        raise ValueError(f"expected 'module:function', got {spec!r}")
    obj = importlib.import_module(module)
    for part in attr.split('.'):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f'{spec} is not callable')
    return obj


def as_bool(value, name: str) -> bool:
    """A boolean option (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(value, str):
        if value.strip().lower() in ('1', 'true', 'yes', 'on'):
            return True
        if value.strip().lower() in ('0', 'false', 'no', 'off', ''):
            return False
        raise OptionError(f'option {name} expects a boolean, got {value!r}')
    return bool(value)


def check_choice(value, name: str, choices) -> None:
    """Refuse option ``name`` unless its ``value`` is one of ``choices`` (:class:`OptionError`)."""
    if value not in choices:
        raise OptionError(f'option {name} must be one of {", ".join(choices)}, got {value!r}')


def as_names(value) -> list:
    """A list option: comma-separated text (items stripped, empty ones dropped), or a list."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value)


def read_json(path: str) -> Any:
    """Load a JSON file; a parse error names the file, line and column."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise BenchmarkDataError(f'{path}:{err.lineno}:{err.colno}: invalid JSON '
                                 f'({err.msg})') from None
    except UnicodeDecodeError as err:
        raise BenchmarkDataError(f'{path}: not UTF-8 text ({err})') from None
