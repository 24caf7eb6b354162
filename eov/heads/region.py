"""Region understanding: a region in the question, its caption or class in the answer."""
from __future__ import annotations

from typing import Sequence

from eov.registry import HEADS
from eov.slis.geometry import GEOMETRY_TYPES

from .base import BaseTaskHead, as_text, check_text, find_classes, strip_answer

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

    Args:
        serializer: SLIS serializer config or object (required).
        classes: Class names of region classification (optional).
    """

    task = 'region'
    default_variant = 'caption'
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
