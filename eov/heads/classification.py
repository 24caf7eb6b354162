"""Scene / land-cover classification: single-label and multi-label."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import MeanStat

from .base import (BaseTaskHead, f1_score, find_classes, most_frequent,
                   most_frequent_answer, norm_answer, split_list, target_types)

#: Target types a classification answer is made of.
CLASSIFICATION_TYPES = ('label', 'labels')
#: How the names of a multi-label answer are ordered.
LABEL_ORDERS = ('given', 'sorted')


@HEADS.register_module(name='classification')
class ClassificationHead(BaseTaskHead):
    """Single-label (``label``) and multi-label (``labels``) classification.

    Targets: one ``{'type': 'label', 'label': name}`` (single-label), or one
    ``{'type': 'labels', 'labels': [name, ...]}`` (multi-label); several
    ``label`` targets are read as one multi-label list.

    Answer: the class name, or the names joined with ``', '``, in the order
    the target gives them (``order='given'``, the default: converters write
    them in the dataset's official class order, e.g. BigEarthNet-19) or
    sorted case-insensitively (``order='sorted'``); repeats are dropped.
    When the head knows its ``classes``, every target name must be one of
    them (case-insensitively; the answer uses the spelling of ``classes``).

    Questions: variant ``'single'`` (default) or ``'multi'``;
    :meth:`question_fields` picks ``'multi'`` for a ``labels`` target. Pass
    ``classes=[...]`` to :meth:`question` to append the list of allowed names.

    Parsing (:meth:`parse`): with ``classes`` (given to the head or to
    ``parse``), the class names that occur in the text as whole words,
    case-insensitively, in order of appearance (names that contain commas or
    "and", such as ``'Transitional woodland, shrub'``, are found whole);
    without, the text split on commas, semicolons, newlines and ``' and '``
    (:func:`~eov.heads.base.split_list`). ``parsed`` is true when at least
    one label was read.

    Scoring: ``accuracy``; ``classification/multilabel`` cells ``micro_f1``,
    ``macro_f1``, ``sample_f1``. Chance: the majority class / label set.

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
        classes: The class names of the dataset (optional).
        order: ``'given'`` or ``'sorted'`` (see above).
    """

    task = 'classification'
    default_variant = 'single'
    primary_metrics = {None: 'accuracy', 'multilabel': 'sample_f1'}
    templates = (
        'What is the scene category of this image?',
        'Classify this image.',
        'Which land-use class does this image belong to?',
        'What type of scene does this remote-sensing image show?',
    )
    variants = {
        'multi': (
            'Which land-cover classes are present in this image?',
            'List the land-cover classes visible in this image.',
            'What types of land cover does this image contain?',
            'Name every class present in this image.',
        ),
    }

    def __init__(self, serializer=None, classes: Sequence[str] | None = None,
                 order: str = 'given'):
        super().__init__(serializer)
        if order not in LABEL_ORDERS:
            raise ValueError(f'order must be one of {LABEL_ORDERS}, got {order!r}')
        self.classes = list(classes) if classes is not None else None
        if self.classes is not None and not all(isinstance(c, str) and c.strip()
                                                for c in self.classes):
            raise ValueError(f'classes must be non-empty names, got {classes!r}')
        self.order = order

    def question(self, seed=None, variant=None, classes: Sequence[str] | None = None,
                 **fields) -> str:
        """A classification question; with ``classes``, followed by ``'Choose from: a; b.'``."""
        text = super().question(seed, variant=variant, **fields)
        if classes:
            text += ' Choose from: ' + '; '.join(str(c) for c in classes) + '.'
        return text

    def question_fields(self, targets, image_size=None) -> dict:
        """``{'variant': 'multi'}`` for a ``labels`` target (or several ``label`` targets)."""
        return {'variant': 'multi'} if self.record_kind(targets) == 'multilabel' else {}

    def labels_of(self, targets) -> list[str]:
        """The class names of the targets, checked, without repeats, in answer order.

        Raises:
            ValueError: no ``label``/``labels`` target, an empty or non-text
                name, or (with ``classes``) a name not among them.
        """
        targets = self.check_targets(targets, CLASSIFICATION_TYPES)
        if not targets:
            raise self.missing(CLASSIFICATION_TYPES)
        names = []
        for i, target in enumerate(targets):
            if target['type'] == 'label':
                values = [target.get('label')]
            else:
                values = target.get('labels')
                if not isinstance(values, (list, tuple)) or not values:
                    raise ValueError(f"classification target {i}: a 'labels' target needs a "
                                     f"non-empty 'labels' list, got {values!r}")
            for value in values:
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f'classification target {i}: class names must be '
                                     f'non-empty text, got {value!r}')
                names.append(value.strip())
        if self.classes is not None:
            canon = {c.strip().lower(): c for c in self.classes}
            unknown = [n for n in names if n.lower() not in canon]
            if unknown:
                raise ValueError(f'classification: {unknown!r} not among the head\'s '
                                 f'{len(self.classes)} classes')
            names = [canon[n.lower()] for n in names]
        out = [n for i, n in enumerate(names) if n.lower() not in {m.lower() for m in names[:i]}]
        if self.order == 'sorted':
            out.sort(key=lambda s: (s.lower(), s))
        return out

    def answer_text(self, targets, image_size=None) -> str:
        """The class name(s), joined with ``', '`` (see the class docstring for the order)."""
        return ', '.join(self.labels_of(targets))

    def parse(self, text, image_size=None, classes: Sequence[str] | None = None) -> dict:
        """Read class names from ``text``; never raises.

        Args:
            text: Model answer.
            image_size: Unused.
            classes: Class names to match (default: the head's ``classes``).

        Returns:
            ``{'labels': [...], 'parsed': bool}``.
        """
        classes = classes if classes is not None else self.classes
        labels = find_classes(text, classes) if classes else split_list(text)
        return {'labels': labels, 'parsed': bool(labels)}

    # -- scoring ------------------------------------------------------------------
    @classmethod
    def record_kind(cls, targets) -> str | None:
        """``'multilabel'`` for a ``labels`` target or several ``label`` targets."""
        types = target_types(targets)
        return 'multilabel' if 'labels' in types or types.count('label') > 1 else None

    @staticmethod
    def truth_labels(targets) -> list[str]:
        """The class names of the targets, unchecked, in order."""
        names = []
        for t in targets:
            if t.get('type') == 'labels':
                names += list(t.get('labels') or [])
            elif t.get('type') == 'label':
                names.append(t.get('label'))
        return names

    def _items(self, rows):
        """``(single, multi)``: ``(truth, predicted, parsed)`` label sets per record."""
        single, multi = [], []
        for r in rows:
            p = self.read(r)
            truth = {norm_answer(x) for x in self.truth_labels(r['targets'])}
            (multi if self.record_kind(r['targets']) == 'multilabel' else single).append(
                (truth, {norm_answer(x) for x in p.get('labels') or []},
                 bool(p.get('parsed', p.get('labels')))))
        return single, multi

    @staticmethod
    def _single_hits(single) -> np.ndarray:
        return np.asarray([len(pred) == 1 and pred == truth for truth, pred, _ in single],
                          dtype=bool)

    @staticmethod
    def _sample_f1s(multi) -> np.ndarray:
        return np.asarray([f1_score(len(t & p), len(p - t), len(t - p)) for t, p, _ in multi])

    def score(self, rows, **options) -> dict:
        """``accuracy`` (single-label rows), ``micro_f1`` / ``macro_f1`` / ``sample_f1``
        (multi-label rows) and ``parse_rate``."""
        single, multi = self._items(rows)
        out = {'parse_rate': np.mean([s[2] for s in single + multi])}
        if single:
            out['accuracy'] = np.mean(self._single_hits(single))
        if multi:
            tp = sum(len(t & p) for t, p, _ in multi)
            fp = sum(len(p - t) for t, p, _ in multi)
            fn = sum(len(t - p) for t, p, _ in multi)
            out['micro_f1'] = f1_score(tp, fp, fn)
            classes = sorted(set().union(*[t | p for t, p, _ in multi]))
            out['macro_f1'] = np.mean([f1_score(
                sum(c in t and c in p for t, p, _ in multi),
                sum(c in p and c not in t for t, p, _ in multi),
                sum(c in t and c not in p for t, p, _ in multi))
                for c in classes]) if classes else 1.0
            out['sample_f1'] = np.mean(self._sample_f1s(multi))
        return out

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'correct'}`` (single-label) or ``{'f1', 'correct': f1 == 1}`` per row."""
        out = []
        for r in rows:
            single, multi = self._items([r])
            if single:
                out.append({'correct': bool(self._single_hits(single)[0])})
            else:
                f1 = float(self._sample_f1s(multi)[0])
                out.append({'f1': f1, 'correct': f1 == 1.0})
        return out

    def chance_answers(self, rows) -> list[list[str]]:
        """The majority class (multi-label rows: the most frequent label set)."""
        def multi(r):
            return self.record_kind(r['targets']) == 'multilabel'
        single = most_frequent_answer(self.truth_labels(r['targets'])[0]
                                      for r in rows if not multi(r))
        labels = most_frequent((frozenset(norm_answer(x) for x in self.truth_labels(
            r['targets'])), self.truth_labels(r['targets'])) for r in rows if multi(r))
        return [[self.answer_text([{'type': 'labels', 'labels': labels}] if multi(r)
                                  else [{'type': 'label', 'label': single}],
                                  tuple(r['image_size'])) for r in rows]]

    def record_stat(self, metric, rows, **options):
        """Hits for ``accuracy``; per-record F1 for ``sample_f1``."""
        single, multi = self._items(rows)
        if metric == 'accuracy' and single:
            return self._single_hits(single)
        if metric == 'sample_f1' and multi:
            return MeanStat(self._sample_f1s(multi))
        return None
