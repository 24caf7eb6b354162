"""Visual question answering, counting included."""
from __future__ import annotations

import math
import numbers

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import RatioStat

from .base import (BaseTaskHead, as_text, check_text, first_number, most_frequent,
                   most_frequent_answer, norm_answer, target_types)

#: Target types a VQA answer is made of.
VQA_TYPES = ('text', 'count')


def count_value(value, what: str) -> int:
    """A count as an ``int`` (integral floats accepted); ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value \
            or value in (float('inf'), float('-inf')) or int(value) != value or value < 0:
        raise ValueError(f'{what} must be a non-negative integer, got {value!r}')
    return int(value)


def count_hits(counts) -> np.ndarray:
    """Whether each ``(true count, read count or None)`` pair was read exactly."""
    return np.asarray([p is not None and p == t for t, p in counts], dtype=bool)


@HEADS.register_module(name='vqa')
class VQAHead(BaseTaskHead):
    """Open visual question answering, counting included.

    The question comes from the record (``question(question=...)``); the
    default template is the question itself (the canonical phrasing, used by
    the benchmark converters so that prompts stay the official ones), the
    others add an instruction to answer briefly. The ``'count'`` variant asks
    for a count of ``object``: ``question(variant='count', object='ships')``.

    Targets: one ``{'type': 'text', 'text': answer}`` or one
    ``{'type': 'count', 'count': n}`` (a non-negative integer). Answer: the
    text stripped, or the count as digits (``'3'``). Several targets are an
    error (a question has one answer).

    Parsing: ``{'text': stripped text, 'number': int or None}`` where
    ``number`` is the first integer in the text, written as digits or as a
    word ``zero`` .. ``twenty`` (:func:`~eov.heads.base.first_number`).

    Scoring: ``accuracy`` (exact, lower-cased); ``vqa/count`` cells
    ``count_exact``, ``count_mae`` (lower is better), ``count_parse_rate``.
    Chance: the most frequent answer / count.

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
    """

    task = 'vqa'
    primary_metrics = {None: 'accuracy', 'count': 'count_exact'}
    lower_is_better_metrics = frozenset({'count_mae'})
    templates = (
        '{question}',
        '{question}\nAnswer the question using a single word or phrase.',
        '{question} Answer briefly.',
    )
    variants = {
        'count': (
            'How many {object} are there in this image?',
            'Count the {object} in this image.',
            'What is the number of {object} in this image?',
        ),
    }

    def question(self, seed=None, variant=None, **fields) -> str:
        """A VQA question; text fields (``question``, ``object``) are stripped first."""
        fields = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items()}
        return super().question(seed, variant=variant, **fields)

    def answer_text(self, targets, image_size=None) -> str:
        """The answer text, or the count as digits.

        Raises:
            ValueError: no ``text``/``count`` target, several, an empty text,
                or a count that is not a non-negative integer.
        """
        targets = self.check_targets(targets, VQA_TYPES)
        if not targets:
            raise self.missing(VQA_TYPES)
        if len(targets) > 1:
            raise ValueError(f'a vqa record has one answer target, got {len(targets)}')
        target = targets[0]
        if target['type'] == 'count':
            return str(count_value(target.get('count'), "vqa 'count' target"))
        return check_text(target.get('text'), "vqa 'text' target")

    def parse(self, text, image_size=None) -> dict:
        """``{'text': ..., 'number': ...}``; never raises."""
        text = as_text(text).strip()
        return {'text': text, 'number': first_number(text)}

    # -- scoring ------------------------------------------------------------------
    @classmethod
    def record_kind(cls, targets) -> str | None:
        """``'count'`` for a ``count`` target."""
        return 'count' if 'count' in target_types(targets) else None

    @staticmethod
    def _target(r) -> dict:
        return next(t for t in r['targets'] if t.get('type') in VQA_TYPES)

    def _items(self, rows):
        """``(text hits, (true count, predicted count or None) pairs, parsed flags)``."""
        text, counts, parsed = [], [], []
        for r in rows:
            p = self.read(r)
            t = self._target(r)
            parsed.append(bool(str(r['prediction'] or '').strip()))
            if t['type'] == 'count':
                counts.append((int(t['count']), p.get('number')))
            else:
                text.append(norm_answer(t.get('text')) == norm_answer(p.get('text')))
        return np.asarray(text, dtype=bool), counts, parsed

    def score(self, rows, **options) -> dict:
        """``accuracy`` (text rows); ``count_exact``, ``count_mae``, ``count_parse_rate``
        (count rows); ``parse_rate`` (non-empty answers)."""
        text, counts, parsed = self._items(rows)
        out = {'parse_rate': np.mean(parsed)}
        if len(text):
            out['accuracy'] = np.mean(text)
        if counts:
            out['count_exact'] = np.mean(count_hits(counts))
            got = [(t, p) for t, p in counts if p is not None]
            out['count_mae'] = np.mean([abs(t - p) for t, p in got]) if got else float('nan')
            out['count_parse_rate'] = len(got) / len(counts)
        return out

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'correct'}`` per row: the exact answer, or the exact count."""
        out = []
        for r in rows:
            text, counts, _ = self._items([r])
            out.append({'correct': bool(text[0] if len(text) else count_hits(counts)[0])})
        return out

    def chance_answers(self, rows) -> list[list[str]]:
        """The most frequent answer (count rows: the most frequent count)."""
        targets = [self._target(r) for r in rows]
        text = most_frequent_answer(t['text'] for t in targets if t['type'] == 'text')
        count = most_frequent((int(t['count']), int(t['count'])) for t in targets
                              if t['type'] == 'count')
        return [[self.answer_text([{'type': 'count', 'count': count}] if t['type'] == 'count'
                                  else [{'type': 'text', 'text': text}], tuple(r['image_size']))
                 for t, r in zip(targets, rows)]]

    def record_stat(self, metric, rows, **options):
        """Hits for ``accuracy`` / ``count_exact``; the error over the read counts for
        ``count_mae``."""
        text, counts, _ = self._items(rows)
        if metric == 'accuracy' and len(text):
            return text
        if metric == 'count_exact' and counts:
            return count_hits(counts)
        if metric == 'count_mae' and counts:
            got = np.asarray([p is not None for _, p in counts], dtype=np.float64)
            err = np.asarray([abs(t - p) if p is not None else 0.0 for t, p in counts])
            return RatioStat(err, got, empty=math.nan)
        return None
