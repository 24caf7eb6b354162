"""The task-head protocol: how a task is asked and how its answer is read.

A head (registered in :data:`eov.registry.HEADS` under its task name) owns

- **prompt templates** -- several phrasings per task, and for some tasks named
  *variants* (e.g. single- vs multi-label classification), chosen by
  :meth:`BaseTaskHead.question` from a seed. ``seed=None`` always gives the
  first, *canonical* phrasing: benchmark converters use it so that their
  prompts match the official ones;
- **answer text** -- :meth:`BaseTaskHead.answer_text` turns a record's
  structured ``targets`` into the assistant's answer (spatial targets through
  the configured SLIS serializer);
- **answer parsing** -- :meth:`BaseTaskHead.parse` turns model text back into a
  structured prediction for the metrics. ``parse`` never raises, whatever the
  text.

- **scoring** -- everything task-specific about scoring a test set: the cell
  kind of a record, each cell's primary metric, the scorer, the verdicts, the
  chance answers, the interval statistic (:class:`BaseTaskHead`, "scoring").
  ``TaskMetric``, the scoreboard, the report and the inferencer ask the head
  and name no task, so a head registered by another package is a task too.

Fields of a question that come from the record's targets (the input box of a
region question, the options of a multiple-choice question, the variant) are
given by :meth:`BaseTaskHead.question_fields`; :meth:`BaseTaskHead.ask` phrases
the question of a record from its targets in one call.

This module also holds the helpers the heads share (target checks, list
splitting, class-name matching, number reading, answer normalisation, caption
metrics, region masks).
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from eov.registry import SERIALIZERS, build_from_any
from eov.scoring import caption_scores, cider_d_scores, ptb_tokenize
from eov.slis import BaseSerializer
from eov.slis.geometry import object_bounds

#: Answer of a spatial head (detection, segmentation) for an image with no objects.
EMPTY_ANSWER = 'none'
#: Texts (lower-cased, end punctuation removed) read as "no objects".
EMPTY_PHRASES = frozenset({
    'none', 'no', 'nothing', 'n/a', 'no object', 'no objects', 'no objects found',
    'no objects detected', 'there are none', 'there are no objects', 'there is nothing',
    'there is no object', 'none found', 'none detected', 'no target', 'no targets',
})
#: Mask IoU at which a region answer's verdict is ``correct`` (segmentation, change regions).
VERDICT_IOU = 0.5


class BaseTaskHead:
    """One task category: prompt templates, answer text, answer parsing.

    Converters, training and scoring all go through a head, so one place
    defines how a task is asked and answered.

    Args:
        serializer: SLIS serializer (config or object) used for spatial
            answers; ``None`` for tasks without geometry.

    Attributes:
        task: The task category (also the registered name).
        templates: Question phrasings of the default variant; ``{...}``
            fields are filled by :meth:`question`.
        variants: Other named sets of phrasings (``{name: templates}``).
        default_variant: The name of :attr:`templates` as a variant.
        primary_metrics: The headline metric of each cell kind
            (:meth:`record_kind`): ``{None: metric of the plain cell, kind:
            metric of the '<task>/<kind>' cell}``.
        lower_is_better_metrics: Metric names of this task where lower is better.
        allows_empty_targets: Whether a record may have no targets (its
            answer then says "nothing": no objects, no change).
        extra_target_types: Target types this task adds to the record
            schema's (``eov.datasets.schema.TARGET_TYPES``); records of this
            task may hold them, and the head checks their content.
        spatial: Whether answers may hold SLIS geometry (the inferencer then
            decodes objects from an answer whose parse holds none).
        scored_from_targets: Whether a test record is scored against its
            ``targets`` alone (not its reference answer text): a test record of
            this task without targets cannot be scored, and the test dataset
            refuses it (:func:`eov.datasets.schema.validate_record`, ``test=True``).

    Scoring methods take *rows*: one dict per test record with ``targets``,
    ``image_size`` (``[W, H]``) and ``prediction`` (the model's text or
    ``None``), and ``**options``: the metric's scoring options (``iou_thrs``,
    the IoU thresholds of box answers); a head uses what it needs.
    """

    task = 'base'
    #: Question phrasings; ``{...}`` fields are filled by :meth:`question`.
    templates: tuple[str, ...] = ()
    #: Named alternative template sets (e.g. ``{'multi': (...)}``).
    variants: dict[str, tuple[str, ...]] = {}
    #: Name under which :attr:`templates` can be asked for explicitly.
    default_variant = 'default'
    primary_metrics: dict[str | None, str] = {}
    lower_is_better_metrics: frozenset = frozenset()
    allows_empty_targets = False
    extra_target_types: tuple[str, ...] = ()
    spatial = False
    scored_from_targets = False

    def __init__(self, serializer: dict | BaseSerializer | None = None):
        self.serializer = build_from_any(serializer, SERIALIZERS) if serializer else None

    # -- questions ------------------------------------------------------------
    def templates_for(self, variant: str | None = None) -> tuple[str, ...]:
        """The phrasings of ``variant`` (``None``: :attr:`templates`).

        Raises:
            ValueError: for a variant this head does not have.
        """
        if variant is None or variant == self.default_variant:
            return self.templates
        if variant not in self.variants:
            known = ', '.join([self.default_variant, *self.variants])
            raise ValueError(f'head {self.task!r} has no question variant {variant!r} '
                             f'(known: {known})')
        return self.variants[variant]

    def question(self, seed: int | None = None, variant: str | None = None,
                 **fields: Any) -> str:
        """Phrase a question with one of the templates of ``variant``.

        Args:
            seed: Picks the template deterministically (``None``: the first,
                canonical phrasing).
            variant: Template set (``None``: the default one, :attr:`templates`).
            **fields: Values for the template's fields (unused ones are ignored).

        Returns:
            The question text (without the ``<image>`` placeholder).

        Raises:
            ValueError: naming a field the chosen template needs and did not get.
        """
        templates = self.templates_for(variant)
        if not templates:
            raise NotImplementedError(f'head {self.task!r} has no templates')
        template = templates[0 if seed is None else random.Random(seed).randrange(len(templates))]
        try:
            return template.format(**fields)
        except KeyError as exc:
            raise ValueError(f'head {self.task!r}: question template {template!r} needs the '
                             f'field {exc.args[0]!r}') from None

    def question_fields(self, targets: list[dict], image_size: tuple[int, int]) -> dict:
        """Fields of the question that come from the record's targets.

        The default has none. Heads whose question shows part of the target
        (the region head's input box, the choice head's options) or depends
        on its kind (single- vs multi-label, region class vs caption) return
        them here, e.g. ``{'region': '<box>...</box>', 'variant': 'class'}``.
        """
        return {}

    def ask(self, targets: list[dict], image_size: tuple[int, int] | None = None,
            seed: int | None = None, **fields: Any) -> str:
        """The question of a record: :meth:`question` with :meth:`question_fields`.

        Fields given here override those taken from the targets.
        """
        return self.question(seed, **{**self.question_fields(targets, image_size), **fields})

    # -- answers --------------------------------------------------------------
    def answer_text(self, targets: list[dict], image_size: tuple[int, int]) -> str:
        """Turn a record's structured targets into the assistant's answer."""
        raise NotImplementedError

    def parse(self, text: str, image_size: tuple[int, int]) -> dict:
        """Turn model text into a structured prediction for the metrics."""
        raise NotImplementedError

    # -- scoring: what TaskMetric, the scoreboard, the report and the inferencer ask --------
    @classmethod
    def record_kind(cls, targets: Sequence[dict]) -> str | None:
        """The kind of a record's answer, from its targets (known without building the head).

        Returns:
            A key of :attr:`primary_metrics`: ``None`` (the default) for the cell
            ``<task>``, else the kind of the cell ``<task>/<kind>`` (``'multilabel'``,
            ``'count'``, ``'obb'``, ``'caption'`` ...).
        """
        return None

    @classmethod
    def primary_metric(cls, kind: str | None = None) -> str | None:
        """The headline metric of the cell of ``kind`` (``None`` when the head has none)."""
        return cls.primary_metrics.get(kind)

    @classmethod
    def lower_is_better(cls, metric: str | None) -> bool:
        """Whether a lower value of ``metric`` is better (:attr:`lower_is_better_metrics`)."""
        return metric in cls.lower_is_better_metrics

    def is_input(self, target: dict) -> bool:
        """Whether a geometry target belongs to the question, not the answer (the report
        draws it as the region asked about). The default: ``"role": "input"``."""
        return target.get('role') == 'input'

    def parse_context(self, targets: Sequence[dict]) -> dict:
        """Keyword arguments :meth:`parse` takes from a record's targets (e.g. a choice
        question's options); the default: none."""
        return {}

    def read(self, row: dict) -> dict:
        """:meth:`parse` of ``row['prediction']`` with the row's :meth:`parse_context`,
        cached on the row (``row['_parsed']``), so each answer is read once."""
        cached = row.get('_parsed')
        if cached is not None and cached[0] == row['prediction']:
            return cached[1]
        parsed = self.parse(row['prediction'] or '', tuple(row['image_size']),
                            **self.parse_context(row['targets']))
        row['_parsed'] = (row['prediction'], parsed)
        return parsed

    def score(self, rows: list[dict], **options) -> dict:
        """Score the rows of one cell.

        Args:
            rows: The cell's records (class docstring).
            **options: The metric's scoring options.

        Returns:
            ``{metric: value}`` with ``parse_rate`` and the cell's primary metric.
        """
        raise NotImplementedError(f'head {self.task!r} has no scorer (score)')

    def verdicts(self, rows: list[dict], **options) -> list[dict]:
        """What :meth:`score` decided about each row of one cell (``predictions.jsonl``).

        Returns:
            One dict per row: ``correct`` and the value it was judged by, if any
            (``iou``, ``f1``, ``tp``/``fp``/``gt`` ...).
        """
        raise NotImplementedError(f'head {self.task!r} has no verdicts')

    def chance_answers(self, rows: list[dict]) -> list[list[str]]:
        """Candidate constant answers of a trivial model on the rows of one cell.

        Returns:
            Candidates, each one answer text per row (made with :meth:`answer_text`,
            so they are parsed and scored like a model's answers).
        """
        raise NotImplementedError(f'head {self.task!r} has no chance answers')

    def chance(self, rows: list[dict], primary: Callable[[dict], str | None],
               **options) -> dict:
        """Metrics of the trivial answer: the best of :meth:`chance_answers` by the cell's
        primary metric (the first on ties). Override for a chance level that is no
        constant answer.

        Args:
            rows: The cell's records.
            primary: Gives the cell's primary metric from a dict of its metrics.
            **options: The metric's scoring options.

        Returns:
            ``{metric: value}`` as :meth:`score` reports them.
        """
        best = None
        for texts in self.chance_answers(rows):
            metrics = self.score(with_predictions(rows, texts), **options)
            name = primary(metrics)
            if best is None or (name is not None and better(
                    float(metrics[name]), float(best.get(name, math.nan)),
                    self.lower_is_better(name))):
                best = metrics
        return best

    def record_stat(self, metric: str, rows: list[dict], **options):
        """What an interval of ``metric`` resamples over one cell's rows.

        Returns:
            Per-record hits (bool array: a Wilson interval), a statistic of
            :mod:`eov.scoring.stats` (a bootstrap), or ``None`` (the default: none).
        """
        return None

    def baseline_reference(self, records: list[dict], image_size: Callable):
        """What a training-set baseline answers from (the default ``None``: no baseline).

        Args:
            records: The training records of this task.
            image_size: Gives ``(W, H)`` of a record.
        """
        return None

    def baseline_answers(self, rows: list[dict], reference) -> list[str]:
        """The training baseline's answer to each row (``reference``: what
        :meth:`baseline_reference` returned); scored like the chance answers."""
        raise NotImplementedError(f'head {self.task!r} has no training baseline')

    def prediction_line(self, parsed: dict | None) -> dict:
        """Extra fields of a record's ``predictions.jsonl`` line, from its parse (``None``
        when the parse failed); the default: none."""
        return {}

    # -- helpers --------------------------------------------------------------
    def require_serializer(self) -> BaseSerializer:
        """The serializer, or a ``ValueError`` saying this head needs one."""
        if self.serializer is None:
            raise ValueError(f'the {self.task} head needs a serializer')
        return self.serializer

    def check_targets(self, targets, allowed: Sequence[str]) -> list[dict]:
        """Check that ``targets`` is a list of dicts whose types are all in ``allowed``.

        Raises:
            ValueError: naming the index and type of the first wrong target.
        """
        if isinstance(targets, dict):
            targets = [targets]
        if not isinstance(targets, (list, tuple)):
            raise ValueError(f'{self.task} targets must be a list of dicts, got '
                             f'{type(targets).__name__}')
        for i, target in enumerate(targets):
            if not isinstance(target, dict):
                raise ValueError(f'{self.task} target {i} must be a dict, got {target!r}')
            kind = target.get('type')
            if kind not in allowed:
                hint = (' (add the MaskToPolygons transform before BuildConversation)'
                        if kind == 'mask' else '')
                raise ValueError(f'a {self.task} record takes targets of type '
                                 f'{"/".join(allowed)}; target {i} has type {kind!r}{hint}')
        return list(targets)

    def decode(self, text, image_size, types: Sequence[str]) -> tuple[list[dict], list[str]]:
        """Decode the spatial fragments of ``text`` with the serializer; never raises.

        Returns:
            ``(objects, errors)``: the decoded objects whose type is in
            ``types``, and the serializer's errors plus one message per
            decoded object of another type (which is left out).
        """
        if self.serializer is None:
            return [], [f'the {self.task} head has no serializer to decode answers']
        result = self.serializer.decode(as_text(text), image_size=image_size)
        objects, errors = [], list(result.errors)
        for obj in result:
            if obj.get('type') in types:
                objects.append(obj)
            else:
                errors.append(f'left out a {obj.get("type")!r} object (a {self.task} answer '
                              f'holds {"/".join(types)})')
        return objects, errors

    def encode(self, objects: list[dict], image_size) -> str:
        """Serialize objects with the head's serializer (which must be set)."""
        return self.require_serializer().encode(objects, image_size=image_size)

    def missing(self, types: Sequence[str]) -> ValueError:
        """The error for a record that lacks a target of one of ``types``."""
        return ValueError(f'a {self.task} record needs a target of type {"/".join(types)}')


def as_text(text) -> str:
    """``text`` if it is a string, else ``''`` (parsers take any input)."""
    return text if isinstance(text, str) else ''


def normalize(text: str) -> str:
    """Lower-case and collapse whitespace runs to one space."""
    return ' '.join(text.lower().split())


_END_PUNCT = ' \t\r\n.!?;:,"\'`*'


def strip_answer(text: str) -> str:
    """Strip whitespace, quotes, markdown emphasis and end punctuation."""
    return text.strip().strip(_END_PUNCT).strip()


def is_empty_answer(text: str, phrases: Iterable[str] = EMPTY_PHRASES) -> bool:
    """True when ``text`` says "nothing" (one of ``phrases``, case and end punctuation aside)."""
    return normalize(strip_answer(as_text(text))) in set(phrases)


def check_text(value, what: str) -> str:
    """A non-empty text, stripped; ``ValueError`` naming ``what`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'{what} must be non-empty text, got {value!r}')
    return value.strip()


_LIST_SPLIT_RE = re.compile(r'\s*(?:[,;\n]|\band\b|&)\s*', re.IGNORECASE)
_BULLET_RE = re.compile(r'^(?:[-*\u2022]+|\d+[.)])\s*')


def split_list(text: str) -> list[str]:
    """Split a list answer on commas, semicolons, newlines, ``and`` and ``&``.

    Pieces are stripped of whitespace, bullets (``-``, ``*``, ``1.``), quotes
    and end punctuation; empty pieces and repeats (case-insensitive) are
    dropped, the first spelling kept.
    """
    out, seen = [], set()
    for piece in _LIST_SPLIT_RE.split(as_text(text)):
        piece = strip_answer(_BULLET_RE.sub('', piece.strip()))
        if piece and piece.lower() not in seen:
            seen.add(piece.lower())
            out.append(piece)
    return out


def find_classes(text: str, classes: Sequence[str]) -> list[str]:
    """Class names that occur in ``text`` as whole words, in order of appearance.

    Matching is case-insensitive with whitespace runs collapsed; where names
    overlap the longest wins (``'Mixed forest'`` is not also ``'forest'``),
    so names that contain commas or ``and`` are found whole. Returns the
    names as spelled in ``classes``, without repeats.
    """
    text = normalize(as_text(text))
    canon = {}
    for name in classes:
        key = normalize(str(name))
        if key:
            canon.setdefault(key, name)
    if not text or not canon:
        return []
    pattern = re.compile(r'(?<!\w)(?:' + '|'.join(
        re.escape(k) for k in sorted(canon, key=len, reverse=True)) + r')(?!\w)')
    out = []
    for match in pattern.finditer(text):
        name = canon[match.group(0)]
        if name not in out:
            out.append(name)
    return out


#: Number words read by :func:`first_number`.
NUMBER_WORDS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine',
                'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen',
                'seventeen', 'eighteen', 'nineteen', 'twenty')
_NUMBER_RE = re.compile(
    r'(?<![\w.])(-)?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w])'
    r'|\b(' + '|'.join(NUMBER_WORDS) + r')\b', re.IGNORECASE)


def first_number(text: str) -> int | None:
    """The first integer in ``text``: digits (``12``, ``1,250``, ``-3``) or ``zero``..``twenty``.

    A decimal counts only when it is integral (``3.0`` -> 3; ``2.5`` is
    skipped). Returns ``None`` when there is none.
    """
    for match in _NUMBER_RE.finditer(as_text(text)):
        sign, digits, frac, word = match.groups()
        if word is not None:
            return NUMBER_WORDS.index(word.lower())
        if frac is not None and frac.strip('0'):
            continue
        value = int(digits.replace(',', ''))
        return -value if sign else value
    return None


# -- scoring helpers -------------------------------------------------------------
def target_types(targets) -> list:
    """The ``type`` of each dict target."""
    return [t.get('type') for t in targets or () if isinstance(t, dict)]


def norm_answer(text) -> str:
    """An answer as compared: lower-cased, end period dropped, whitespace collapsed."""
    return ' '.join(str(text or '').lower().strip().rstrip('.').split())


def f1_score(tp: float, fp: float, fn: float) -> float:
    """F1 of counts (1 when there is nothing to find and nothing found)."""
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0


def _key_order(key) -> str:
    return repr(sorted(key)) if isinstance(key, frozenset) else repr(key)


def most_frequent(pairs: Iterable[tuple]):
    """The value of the most frequent key among ``(key, value)`` pairs.

    Ties go to the smallest key (so the result does not depend on record
    order); the value is that of the key's first pair. ``None`` when empty.
    """
    counts, first = Counter(), {}
    for key, value in pairs:
        counts[key] += 1
        first.setdefault(key, value)
    if not counts:
        return None
    return first[min(counts, key=lambda k: (-counts[k], _key_order(k)))]


def most_frequent_answer(texts: Iterable[str]) -> str | None:
    """The most frequent of ``texts`` as :func:`norm_answer` compares them (first spelling)."""
    return most_frequent((norm_answer(t), t) for t in texts)


def most_frequent_text(rows: list[dict]) -> str | None:
    """The most frequent ``text`` target of the rows (a caption chance answer)."""
    return most_frequent_answer(t['text'] for r in rows for t in r['targets']
                                if t.get('type') == 'text')


def better(a: float, b: float, lower_is_better: bool = False) -> bool:
    """Whether value ``a`` beats ``b`` (NaN never beats; anything beats NaN)."""
    if a != a:
        return False
    if b != b:
        return True
    return a < b if lower_is_better else a > b


def with_predictions(rows: list[dict], texts: Sequence[str]) -> list[dict]:
    """Copies of ``rows`` answering ``texts`` (for chance answers and baselines)."""
    return [{**{k: v for k, v in r.items() if k != '_parsed'}, 'prediction': t}
            for r, t in zip(rows, texts)]


def normalized_bounds(obj: dict, image_size) -> list[float]:
    """An object's axis-aligned bounds as fractions of the image size."""
    w, h = float(image_size[0]), float(image_size[1])
    x1, y1, x2, y2 = object_bounds(obj)
    return [x1 / w, y1 / h, x2 / w, y2 / h]


def scaled_box(box: Sequence[float], image_size) -> list[float]:
    """A box in fractions of the image size, in pixels of ``image_size``."""
    w, h = float(image_size[0]), float(image_size[1])
    return [box[0] * w, box[1] * h, box[2] * w, box[3] * h]


def whole_image(image_size) -> dict:
    """A polygon covering the whole image."""
    w, h = image_size
    return {'type': 'poly', 'points': [[0, 0], [w, 0], [w, h], [0, h]]}


def region_mask(objects, image_size) -> np.ndarray:
    """The rasterised union of ``objects`` on an image of ``image_size`` (bool ``(H, W)``)."""
    from eov.slis.masks import polygons_to_mask
    w, h = image_size
    return polygons_to_mask(objects, (int(round(h)), int(round(w)))).astype(bool)


def mask_counts(row: dict, objects) -> tuple[int, int, int]:
    """Pixel ``(tp, fp, fn)`` of ``objects`` against the row's targets, both rasterised."""
    truth = region_mask(row['targets'], row['image_size'])
    pred = region_mask(objects or [], row['image_size'])
    return int((truth & pred).sum()), int((pred & ~truth).sum()), int((truth & ~pred).sum())


def pixel_iou(tp, fp, fn) -> float:
    """IoU of pixel counts (1 when there is nothing to find and nothing found)."""
    return tp / (tp + fp + fn) if (tp + fp + fn) else 1.0


def iou_verdict(iou) -> dict:
    """``{'iou', 'correct'}``: correct at IoU >= :data:`VERDICT_IOU`."""
    return {'iou': float(iou), 'correct': float(iou) >= VERDICT_IOU}


def _caption_tokens(pairs: list[tuple[list[str], str]]):
    refs = [[ptb_tokenize(t) for t in references] for references, _ in pairs]
    hyps = [ptb_tokenize(answer or '') for _, answer in pairs]
    return refs, hyps


def caption_metrics(pairs: list[tuple[list[str], str]]) -> dict:
    """BLEU-1..4, ROUGE_L, CIDEr (pycocoevalcap's definitions) of ``(references, answer)``
    pairs, answers PTB-tokenised as the ``levir_cc`` scorer does."""
    return caption_scores(*_caption_tokens(pairs))


def caption_cider_scores(pairs: list[tuple[list[str], str]]) -> list[float]:
    """Per-image CIDEr-D of ``(references, answer)`` pairs (their mean is the cell's CIDEr)."""
    refs, hyps = _caption_tokens(pairs)
    return cider_d_scores([[' '.join(r) for r in rs] for rs in refs],
                          [' '.join(h) for h in hyps])


class ObjectListHead(BaseTaskHead):
    """Shared logic of heads whose answer is a list of objects (detection, segmentation).

    The answer is the serializer's text of all objects (labels included when
    the serializer writes labels, in the serializer's ``order``), or
    :attr:`empty_answer` when there are none. :meth:`parse` returns
    ``{'objects': [...], 'parsed': bool, 'errors': [...]}``; ``parsed`` is
    true when at least one object was read or the text says "nothing"
    (:attr:`empty_phrases`).

    Args:
        serializer: SLIS serializer config or object (required).
        empty_answer: The answer for an image with no objects.
    """

    allows_empty_targets = True
    spatial = True
    #: Geometry types of the answer.
    object_types: tuple[str, ...] = ()
    #: Whether every object needs a ``label`` (when the serializer writes labels).
    require_labels = False
    #: Texts read as "no objects" (lower-case, without end punctuation).
    empty_phrases: frozenset = EMPTY_PHRASES

    def __init__(self, serializer, empty_answer: str = EMPTY_ANSWER):
        super().__init__(serializer)
        self.require_serializer()
        self.empty_answer = check_text(empty_answer, 'empty_answer')
        self.empty_phrases = self.empty_phrases | {normalize(strip_answer(self.empty_answer))}

    def question(self, seed=None, variant=None, classes=None, **fields) -> str:
        """A question; ``classes`` (names or one text) selects the ``'classes'`` variant."""
        if classes is not None and not isinstance(classes, str):
            classes = ', '.join(str(c) for c in classes)
        if classes and variant is None and 'classes' in self.variants:
            variant = 'classes'
        if classes is not None:
            fields['classes'] = classes
        return super().question(seed, variant=variant, **fields)

    def objects_of(self, targets) -> list[dict]:
        """The answer objects of the targets, checked (labels too, when required)."""
        targets = self.check_targets(targets, self.object_types)
        if self.require_labels and self.serializer.with_labels:
            for i, target in enumerate(targets):
                label = target.get('label')
                if not isinstance(label, str) or not label.strip():
                    raise ValueError(f'{self.task} target {i} ({target["type"]}) has no '
                                     f"'label' (class name)")
        return targets

    def answer_text(self, targets, image_size) -> str:
        """The serialized objects, or :attr:`empty_answer` for none.

        Raises:
            ValueError: a target of another type (naming it), a missing label,
                or a malformed object (from the serializer).
        """
        objects = self.objects_of(targets)
        if not objects:
            return self.empty_answer
        return self.encode(objects, image_size)

    def parse(self, text, image_size) -> dict:
        """``{'objects': [...], 'parsed': bool, 'errors': [...]}``; never raises."""
        objects, errors = self.decode(text, image_size, self.object_types)
        empty = not objects and is_empty_answer(text, self.empty_phrases)
        return {'objects': objects, 'parsed': bool(objects) or empty, 'errors': errors}
