"""Region understanding: a region in the question, its caption or class in the answer."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import MeanStat
from eov.slis.geometry import GEOMETRY_TYPES

from .base import (BaseTaskHead, as_text, caption_cider_scores, caption_metrics, check_text,
                   find_classes, most_frequent_answer, norm_answer, strip_answer, target_types)

#: Target types that describe the answer of a region question.
REGION_ANSWER_TYPES = ('text', 'label')
#: Roles a geometry target may carry in a region record.
REGION_ROLES = (None, 'input')


@HEADS.register_module(name='region')
class RegionHead(BaseTaskHead):
    """Region understanding: caption or classify one region given in the question.

    Record convention::

        "targets": [{"type": "hbb", "bbox": [x1, y1, x2, y2], "role": "input"},
                    {"type": "text", "text": "a white ship moored at the pier"}]

    - The **region** is the record's one geometry target (``hbb``, ``obb``,
      ``quad``, ``poly`` or ``point``). It is an *input*: it goes into the
      question, never into the answer. ``"role": "input"`` says so
      explicitly (optional; any other role is an error). Its ``label``, if
      any, is not shown in the question.
    - The **answer** is a ``text`` target (a caption; several references
      allowed -- the first is the answer, :meth:`references` gives all) or a
      ``label`` target (the region's class).

    :meth:`question_fields` serializes the region with the configured
    serializer -- ``{'region': '<box><loc_..>...</box>', 'variant': ...}``
    -- so the question's box is in the same format as every other spatial
    text; ``ask(targets, image_size, seed)`` phrases the whole question.
    Variants: ``'caption'`` (default) and ``'class'`` (picked for a ``label``
    answer).

    Parsing: ``{'text': stripped text, 'label': class or None}``: ``label``
    is the first of the head's ``classes`` found in the text (whole words,
    case-insensitive) or, without ``classes``, the text without end
    punctuation (``None`` when empty).

    Scoring: ``accuracy`` (class, or exact caption); ``region/caption`` cells
    also the caption metrics. Chance: the majority class / caption.

    Args:
        serializer: SLIS serializer config or object (required).
        classes: Class names of region classification (optional).
    """

    task = 'region'
    default_variant = 'caption'
    primary_metrics = {None: 'accuracy', 'caption': 'CIDEr'}
    spatial = True
    templates = (
        'Describe the region {region}.',
        'What is in the area {region}?',
        'Give a short description of the region {region}.',
        'Briefly describe what is inside {region}.',
    )
    variants = {
        'class': (
            'What is the category of the object in {region}?',
            'Classify the object in the region {region}.',
            'Which class does the object at {region} belong to?',
        ),
    }

    def __init__(self, serializer, classes: Sequence[str] | None = None):
        super().__init__(serializer)
        self.require_serializer()
        self.classes = list(classes) if classes is not None else None

    def split(self, targets) -> tuple[dict, list[dict]]:
        """``(region, answer targets)`` of a record, checked.

        Raises:
            ValueError: no region or several, a region with another role, or
                no ``text``/``label`` answer target.
        """
        targets = self.check_targets(targets, GEOMETRY_TYPES + REGION_ANSWER_TYPES)
        regions = [t for t in targets if t['type'] in GEOMETRY_TYPES]
        answers = [t for t in targets if t['type'] in REGION_ANSWER_TYPES]
        if not regions:
            raise ValueError(f'a region record needs one input region target of type '
                             f'{"/".join(GEOMETRY_TYPES)}')
        if len(regions) > 1:
            raise ValueError(f'a region record has one input region, got {len(regions)} '
                             'geometry targets')
        role = regions[0].get('role')
        if role not in REGION_ROLES:
            raise ValueError(f"the region target's role must be 'input' (or absent), "
                             f'got {role!r}')
        if not answers:
            raise self.missing(REGION_ANSWER_TYPES)
        return regions[0], answers

    def region_text(self, targets, image_size) -> str:
        """The input region serialized for the question (without its label)."""
        region, _ = self.split(targets)
        region = {k: v for k, v in region.items() if k not in ('label', 'role', 'score')}
        return self.encode([region], image_size)

    def question_fields(self, targets, image_size) -> dict:
        """``{'region': serialized region, 'variant': 'class' for a label answer}``."""
        region, answers = self.split(targets)
        fields = {'region': self.region_text(targets, image_size)}
        if answers[0]['type'] == 'label':
            fields['variant'] = 'class'
        return fields

    def references(self, targets) -> list[str]:
        """Every reference answer (captions, or the class name)."""
        _, answers = self.split(targets)
        kinds = {t['type'] for t in answers}
        if len(kinds) > 1:
            raise ValueError("a region record's answer is 'text' or 'label', not both")
        key = 'text' if 'text' in kinds else 'label'
        return [check_text(t.get(key), f"region {t['type']!r} target") for t in answers]

    def answer_text(self, targets, image_size=None) -> str:
        """The first reference (caption or class name)."""
        return self.references(targets)[0]

    def parse(self, text, image_size=None, classes: Sequence[str] | None = None) -> dict:
        """``{'text': ..., 'label': ...}`` (see the class docstring); never raises."""
        text = as_text(text).strip()
        classes = classes if classes is not None else self.classes
        if classes:
            found = find_classes(text, classes)
            label = found[0] if found else None
        else:
            label = strip_answer(text) or None
        return {'text': text, 'label': label}

    # -- scoring ------------------------------------------------------------------
    @classmethod
    def record_kind(cls, targets) -> str | None:
        """``'caption'`` for ``text`` answers."""
        return 'caption' if 'text' in target_types(targets) else None

    def is_input(self, target) -> bool:
        """Every geometry target of a region record is the region asked about."""
        return True

    def _items(self, rows):
        """``(hits, parsed, (references, answer) pairs of caption records)``."""
        hits, parsed, pairs = [], [], []
        for r in rows:
            p = self.read(r)
            answers = [t for t in r['targets'] if t.get('type') in REGION_ANSWER_TYPES]
            if answers[0]['type'] == 'label':
                truth, got = {norm_answer(answers[0].get('label'))}, norm_answer(p.get('label'))
            else:
                refs = [t.get('text') for t in answers if t['type'] == 'text']
                truth, got = {norm_answer(t) for t in refs}, norm_answer(p.get('text'))
                pairs.append((refs, p.get('text')))
            parsed.append(bool(got))
            hits.append(got in truth)
        return np.asarray(hits, dtype=bool), parsed, pairs

    def score(self, rows, **options) -> dict:
        """``accuracy``, ``parse_rate``; with captions BLEU-1..4, ROUGE_L, CIDEr."""
        hits, parsed, pairs = self._items(rows)
        return {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed),
                **(caption_metrics(pairs) if pairs else {})}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'correct'}`` per row."""
        return [{'correct': bool(hit)} for hit in self._items(rows)[0]]

    def chance_answers(self, rows) -> list[list[str]]:
        """The majority class (caption rows: the most frequent reference caption)."""
        answers = [[t for t in r['targets'] if t.get('type') in REGION_ANSWER_TYPES]
                   for r in rows]
        label = most_frequent_answer(a[0]['label'] for a in answers if a[0]['type'] == 'label')
        caption = most_frequent_answer(t['text'] for a in answers for t in a if t['type'] == 'text')
        texts = []
        for r, a in zip(rows, answers):
            region = [t for t in r['targets'] if t.get('type') not in REGION_ANSWER_TYPES]
            const = ({'type': 'label', 'label': label} if a[0]['type'] == 'label'
                     else {'type': 'text', 'text': caption})
            texts.append(self.answer_text(region + [const], tuple(r['image_size'])))
        return [texts]

    def record_stat(self, metric, rows, **options):
        """Hits for ``accuracy``; per-record CIDEr-D for ``CIDEr`` (caption cells)."""
        hits, _, pairs = self._items(rows)
        if metric == 'accuracy':
            return hits
        if metric == 'CIDEr' and len(pairs) == len(rows):
            return MeanStat(caption_cider_scores(pairs))
        return None
