"""Segmentation as polygons (instance or semantic regions)."""
from __future__ import annotations

from eov.registry import HEADS

from .base import EMPTY_ANSWER, ObjectListHead

#: Target type of a segmentation answer.
SEGMENTATION_TYPES = ('poly',)


@HEADS.register_module(name='segmentation')
class SegmentationHead(ObjectListHead):
    """Segmentation: the regions of the image as polygons.

    Targets: any number of ``poly`` objects, optionally with a ``label``
    (class name). Mask targets (``{'type': 'mask', 'path': ...}``) must first
    be turned into polygons by the ``MaskToPolygons`` transform (placed
    before ``BuildConversation``); a ``mask`` target reaching the head is an
    error saying so. An empty mask gives no polygons.

    Answer: the configured serializer's polygons (labels included when
    present, in the serializer's ``order``), e.g.
    ``<ref>building</ref><poly><loc_..>...</poly>``; an image with no region
    is answered ``'none'`` (``empty_answer``).

    Questions: the default variant asks for all regions; ``question(
    classes=['building'])`` (or ``variant='classes'``) names the classes.

    Parsing: ``{'objects': [poly, ...], 'parsed': bool, 'errors': [...]}``,
    as :class:`~eov.heads.detection.DetectionHead` (other geometry is left
    out and reported).

    Args:
        serializer: SLIS serializer config or object (required).
        empty_answer: Answer for an image with no regions (default ``'none'``).
    """

    task = 'segmentation'
    object_types = SEGMENTATION_TYPES
    require_labels = False
    templates = (
        'Segment all objects in this image.',
        'Outline every object in this image with polygons.',
        'Give the polygon outlines of the objects in this image.',
    )
    variants = {
        'classes': (
            'Segment all {classes} in this image.',
            'Outline every {classes} region in this image with polygons.',
            'Give the polygons of all {classes} in this image.',
        ),
    }

    def __init__(self, serializer, empty_answer: str = EMPTY_ANSWER):
        super().__init__(serializer, empty_answer=empty_answer)
