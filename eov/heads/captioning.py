"""Image captioning: one or several reference captions per image."""
from __future__ import annotations

from eov.registry import HEADS

from .base import BaseTaskHead, as_text, check_text

#: Target type of a caption.
CAPTION_TYPES = ('text',)


def text_references(head: BaseTaskHead, targets, allowed=CAPTION_TYPES) -> list[str]:
    """The ``text`` targets of a record, checked and stripped (all references, in order)."""
    targets = head.check_targets(targets, allowed)
    refs = [check_text(t.get('text'), f"{head.task} target {i} 'text'")
            for i, t in enumerate(targets) if t['type'] == 'text']
    return refs


@HEADS.register_module(name='captioning')
class CaptioningHead(BaseTaskHead):
    """Captioning: describe the whole image.

    Targets: one or more ``{'type': 'text', 'text': caption}`` -- several
    reference captions (UCM-Captions, RSICD: five per image) are allowed.
    The answer (training) is the **first** reference; :meth:`references`
    returns all of them for the caption metrics.

    Parsing: ``{'text': answer stripped of surrounding whitespace}``.

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
    """

    task = 'captioning'
    templates = (
        'Describe this image.',
        'Write a short caption for this image.',
        'Briefly describe what this remote-sensing image shows.',
        'Give a one-sentence description of this image.',
        'What does this image show? Answer in one sentence.',
    )

    def references(self, targets) -> list[str]:
        """Every reference caption of the record (for BLEU / CIDEr ...)."""
        refs = text_references(self, targets)
        if not refs:
            raise self.missing(CAPTION_TYPES)
        return refs

    def answer_text(self, targets, image_size=None) -> str:
        """The first reference caption.

        Raises:
            ValueError: no ``text`` target, an empty caption, or another target type.
        """
        return self.references(targets)[0]

    def parse(self, text, image_size=None) -> dict:
        """``{'text': stripped text}``; never raises."""
        return {'text': as_text(text).strip()}
