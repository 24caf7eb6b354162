"""Visual question answering, counting included."""
from __future__ import annotations

import numbers

from eov.registry import HEADS

from .base import BaseTaskHead, as_text, check_text, first_number

#: Target types a VQA answer is made of.
VQA_TYPES = ('text', 'count')


def count_value(value, what: str) -> int:
    """A count as an ``int`` (integral floats accepted); ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{what} must be a non-negative integer, got {value!r}')
    if value != value or value in (float('inf'), float('-inf')) or int(value) != value \
            or value < 0:
        raise ValueError(f'{what} must be a non-negative integer, got {value!r}')
    return int(value)


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

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
    """

    task = 'vqa'
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
