"""Visual grounding: a referring phrase in, one box out."""
from __future__ import annotations

from eov.registry import HEADS

from .base import BaseTaskHead


@HEADS.register_module(name='grounding')
class GroundingHead(BaseTaskHead):
    """Visual grounding with horizontal boxes.

    The answer is the configured serializer's text for the target box(es), so
    changing the serializer in a config changes the answers with no other edit.

    Args:
        serializer: SLIS serializer config or object (required).
    """

    task = 'grounding'
    # Every phrasing ends with the phrase, so the phrase keeps one distance to
    # the image and the answer when the image follows the question.
    templates = (
        'Where is the {phrase}?',
        'Give the bounding box of the {phrase}.',
        'Locate the {phrase}.',
        'Find the {phrase}.',
    )

    def __init__(self, serializer):
        super().__init__(serializer)
        if self.serializer is None:
            raise ValueError('the grounding head needs a serializer')

    def answer_text(self, targets: list[dict], image_size: tuple[int, int]) -> str:
        """Serialize the target boxes.

        Args:
            targets: Objects of type ``hbb`` in pixels of an image of ``image_size``.
            image_size: ``(W, H)``.

        Returns:
            Answer text such as ``<box><loc_3><loc_9><loc_12><loc_20></box>``.
        """
        spatial = [t for t in targets if t.get('type') == 'hbb']
        if not spatial:
            raise ValueError("a grounding record needs at least one 'hbb' target")
        return self.serializer.encode(spatial, image_size=image_size)

    def parse(self, text: str, image_size: tuple[int, int]) -> dict:
        """Decode the first box of ``text``.

        Returns:
            ``{'objects': [...], 'box': [x1, y1, x2, y2] or None,
            'parsed': bool, 'errors': [...]}``.
        """
        result = self.serializer.decode(text, image_size=image_size)
        boxes = [o for o in result.objects if o['type'] == 'hbb']
        return dict(objects=result.objects, box=boxes[0]['bbox'] if boxes else None,
                    parsed=bool(boxes), errors=result.errors)
