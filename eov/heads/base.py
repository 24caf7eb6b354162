"""The task-head protocol: how a task is asked and how its answer is read."""
from __future__ import annotations

import random
from typing import Any

from eov.registry import SERIALIZERS, build_from_any
from eov.slis import BaseSerializer


class BaseTaskHead:
    """One task category: prompt templates, answer text, answer parsing.

    Converters, training and scoring all go through a head, so one place
    defines how a task is asked and answered.

    Args:
        serializer: SLIS serializer (config or object) used for spatial
            answers; ``None`` for tasks without geometry.
    """

    task = 'base'
    #: Question phrasings; ``{...}`` fields are filled by :meth:`question`.
    templates: tuple[str, ...] = ()

    def __init__(self, serializer: dict | BaseSerializer | None = None):
        self.serializer = build_from_any(serializer, SERIALIZERS) if serializer else None

    def question(self, seed: int | None = None, **fields: Any) -> str:
        """Phrase a question with one of :attr:`templates`.

        Args:
            seed: Picks the template deterministically (``None``: the first).
            **fields: Values for the template's fields.

        Returns:
            The question text (without the ``<image>`` placeholder).
        """
        if not self.templates:
            raise NotImplementedError(f'head {self.task!r} has no templates')
        idx = 0 if seed is None else random.Random(seed).randrange(len(self.templates))
        return self.templates[idx].format(**fields)

    def answer_text(self, targets: list[dict], image_size: tuple[int, int]) -> str:
        """Turn a record's structured targets into the assistant's answer."""
        raise NotImplementedError

    def parse(self, text: str, image_size: tuple[int, int]) -> dict:
        """Turn model text into a structured prediction for the metrics."""
        raise NotImplementedError
