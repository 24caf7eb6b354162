"""The ``cloud_cover`` task: "What percentage of the image is cloud?", answered as a number.

Everything eov needs to know about the task is in this head: how it is asked
(templates), the answer text made from the record's target, the parse of a
model's answer, and how a test set is scored (metrics, primary metric, chance,
verdicts, intervals). Nothing in eov names the task.
"""
from __future__ import annotations

import math
import re

import numpy as np

from eov.heads.base import BaseTaskHead, as_text
from eov.registry import HEADS
from eov.scoring.stats import RatioStat

#: The target type of a cloud-cover record: ``{"type": "cloud_cover", "percent": 37.5}``.
CLOUD_COVER_TYPE = 'cloud_cover'
#: Points of cover within which an answer counts as correct (``within_10``).
TOLERANCE = 10.0
_NUMBER_RE = re.compile(r'(?<![\w.])-?\d+(?:\.\d+)?(?![\w])')


@HEADS.register_module(name='cloud_cover')
class CloudCoverHead(BaseTaskHead):
    """Cloud-cover estimation: the share of the image covered by cloud, in percent.

    Target: one ``{'type': 'cloud_cover', 'percent': p}`` with ``0 <= p <=
    100`` (a type this head adds to the record schema). Answer: ``p`` rounded
    to a whole number, as digits (``'37'``). Parsing: the first number in the
    text (``'about 40%'`` -> 40.0), ``None`` when there is none; never raises.

    Scoring: ``within_10`` (primary: the answer is within 10 points of the
    truth; an unreadable answer is a miss), ``mae`` (mean
    absolute error over the answers holding a number; lower is better) and
    ``parse_rate``. Chance: always answering the median cover of the cell.

    Args:
        serializer: Unused (every head takes the pipeline's serializer).
    """

    task = 'cloud_cover'
    templates = (
        'What percentage of this image is covered by cloud?',
        'Estimate the cloud cover of this image, in percent.',
        'How much of this scene is cloud? Answer in percent.',
    )
    primary_metrics = {None: 'within_10'}
    lower_is_better_metrics = frozenset({'mae'})
    extra_target_types = (CLOUD_COVER_TYPE,)

    # -- answers ----------------------------------------------------------------
    def percent_of(self, targets) -> float:
        """The cover of the record's one ``cloud_cover`` target, checked.

        Raises:
            ValueError: no such target, several, or a value outside [0, 100].
        """
        targets = self.check_targets(targets, (CLOUD_COVER_TYPE,))
        if len(targets) != 1:
            raise ValueError(f'a cloud_cover record has one {CLOUD_COVER_TYPE!r} target, '
                             f'got {len(targets)}')
        value = targets[0].get('percent')
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= 100:
            raise ValueError(f"a {CLOUD_COVER_TYPE!r} target needs 'percent' in [0, 100], "
                             f'got {value!r}')
        return float(value)

    def answer_text(self, targets, image_size=None) -> str:
        """The cover rounded to a whole percent, as digits (``'37'``)."""
        return str(int(round(self.percent_of(targets))))

    def parse(self, text, image_size=None) -> dict:
        """``{'percent': first number in the text or None, 'parsed': bool}``; never raises."""
        match = _NUMBER_RE.search(as_text(text))
        percent = float(match.group(0)) if match else None
        return {'percent': percent, 'parsed': percent is not None}

    # -- scoring ------------------------------------------------------------------
    def _errors(self, rows) -> list[float | None]:
        """Absolute error of each row's answer (``None``: no number in it)."""
        out = []
        for r in rows:
            got = self.read(r)['percent']
            out.append(None if got is None else abs(got - self.percent_of(r['targets'])))
        return out

    def _hits(self, errors) -> np.ndarray:
        return np.asarray([e is not None and e <= TOLERANCE for e in errors], dtype=bool)

    def score(self, rows, **options) -> dict:
        """``within_10``, ``mae`` (NaN when no answer holds a number) and ``parse_rate``."""
        errors = self._errors(rows)
        read = [e for e in errors if e is not None]
        return {'within_10': float(np.mean(self._hits(errors))),
                'mae': float(np.mean(read)) if read else math.nan,
                'parse_rate': len(read) / len(rows)}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'error', 'correct'}`` per row (``error`` is ``None`` for an unreadable answer)."""
        errors = self._errors(rows)
        return [{'error': e, 'correct': bool(hit)} for e, hit in zip(errors, self._hits(errors))]

    def chance_answers(self, rows) -> list[list[str]]:
        """The median cover of the cell, the same answer for every record."""
        median = float(np.median([self.percent_of(r['targets']) for r in rows]))
        answer = self.answer_text([{'type': CLOUD_COVER_TYPE, 'percent': median}])
        return [[answer] * len(rows)]

    def record_stat(self, metric, rows, **options):
        """Hits for ``within_10`` (a Wilson interval); the error over the read answers for
        ``mae`` (a bootstrap)."""
        errors = self._errors(rows)
        if metric == 'within_10':
            return self._hits(errors)
        if metric == 'mae':
            return RatioStat([e or 0.0 for e in errors], [e is not None for e in errors],
                             empty=math.nan)
        return None
