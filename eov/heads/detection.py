"""Object detection with horizontal or oriented boxes."""
from __future__ import annotations

from eov.registry import HEADS

from .base import EMPTY_ANSWER, ObjectListHead

#: Target types of a detection answer.
DETECTION_TYPES = ('hbb', 'obb', 'quad')


@HEADS.register_module(name='detection')
class DetectionHead(ObjectListHead):
    """Object detection: every object of the image, with its class, as boxes.

    Targets: any number of ``hbb``/``obb``/``quad`` objects, each with a
    ``label`` (its class name; required whenever the serializer writes
    labels, i.e. ``with_labels=True``, the default).

    Answer: the configured serializer's text of all objects -- labels
    included, in the serializer's ``order`` (``'reading'`` by default) --
    e.g. ``<ref>ship</ref><box>...</box><ref>harbor</ref><quad>...</quad>``.
    An image with no objects is answered ``'none'`` (``empty_answer``).
    Changing the serializer in a config changes the answers and nothing else.

    Questions: the default variant asks for all objects; ``question(
    classes=['ship', 'harbor'])`` (or ``variant='classes'``) names the classes.

    Parsing: ``{'objects': [...], 'parsed': bool, 'errors': [...]}`` --
    decoded ``hbb``/``obb``/``quad`` objects with their labels (other
    geometry is left out and reported in ``errors``); ``parsed`` is true when
    an object was read or the text says "none" (``'none'``, ``'no objects'``,
    ``'nothing'`` ..., case and end punctuation aside).

    Args:
        serializer: SLIS serializer config or object (required).
        empty_answer: Answer for an image with no objects (default ``'none'``).
    """

    task = 'detection'
    object_types = DETECTION_TYPES
    require_labels = True
    templates = (
        'Detect all objects in this image.',
        'Find every object in this image and give its class and bounding box.',
        'List the objects in this image with their bounding boxes.',
        'Locate and classify all objects in this image.',
    )
    variants = {
        'classes': (
            'Detect all instances of the following classes in this image: {classes}.',
            'Find every object of these classes in this image: {classes}.',
            'Locate all objects in this image that belong to: {classes}.',
        ),
    }

    def __init__(self, serializer, empty_answer: str = EMPTY_ANSWER):
        super().__init__(serializer, empty_answer=empty_answer)
