"""Visual grounding: a referring phrase in, one box out."""
from __future__ import annotations

from eov.registry import HEADS
from eov.slis.geometry import object_bounds

from .base import BaseTaskHead

#: Target types a grounding answer is made of (horizontal or oriented boxes).
GROUNDING_TYPES = ('hbb', 'obb', 'quad')


@HEADS.register_module(name='grounding')
class GroundingHead(BaseTaskHead):
    """Visual grounding with horizontal (``hbb``) or oriented (``obb``/``quad``) boxes.

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
    #: Oriented answers get questions that say so: the same question must not
    #: ask for a horizontal box in one record and an oriented one in another.
    variants = {'obb': (
        'Give the oriented bounding box of the {phrase}.',
        'Locate with an oriented box the {phrase}.',
        'Find the rotated box of the {phrase}.',
    )}

    def __init__(self, serializer):
        super().__init__(serializer)
        if self.serializer is None:
            raise ValueError('the grounding head needs a serializer')

    def question_fields(self, targets: list[dict], image_size) -> dict:
        """``{'variant': 'obb'}`` when the first box is oriented (``obb``/``quad``)."""
        first = next((t for t in targets or () if t.get('type') in GROUNDING_TYPES), None)
        return {'variant': 'obb'} if first and first['type'] in ('obb', 'quad') else {}

    def answer_text(self, targets: list[dict], image_size: tuple[int, int]) -> str:
        """Serialize the target boxes (without their labels: the phrase is in the question).

        Args:
            targets: Objects of type ``hbb``/``obb``/``quad`` in pixels of an
                image of ``image_size``.
            image_size: ``(W, H)``.

        Returns:
            Answer text such as ``<box><loc_3><loc_9><loc_12><loc_20></box>``.
        """
        spatial = [{k: v for k, v in t.items() if k != 'label'}
                   for t in targets if t.get('type') in GROUNDING_TYPES]
        if not spatial:
            raise ValueError(f'a grounding record needs at least one target of type '
                             f'{"/".join(GROUNDING_TYPES)}')
        return self.serializer.encode(spatial, image_size=image_size)

    def parse(self, text: str, image_size: tuple[int, int]) -> dict:
        """Decode the first box of ``text``.

        Returns:
            ``{'objects': [...], 'box': [x1, y1, x2, y2] or None,
            'parsed': bool, 'errors': [...]}``; ``box`` is the axis-aligned
            bounds of the first box (an oriented one included).
        """
        result = self.serializer.decode(text, image_size=image_size)
        boxes = [o for o in result if o['type'] in GROUNDING_TYPES]
        box = list(object_bounds(boxes[0])) if boxes else None
        return dict(objects=list(result), box=box, parsed=bool(boxes), errors=result.errors)
