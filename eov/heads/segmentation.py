"""Segmentation as polygons (instance or semantic regions)."""
from __future__ import annotations

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import MeanStat

from .base import ObjectListHead, iou_verdict, mask_counts, norm_answer, pixel_iou, whole_image

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

    Scoring: ``mIoU`` of the rasterised polygons, mean over images. Chance:
    the better of ``none`` and one whole-image polygon.

    Args:
        serializer: SLIS serializer config or object (required).
        empty_answer: Answer for an image with no regions (default ``'none'``).
    """

    task = 'segmentation'
    primary_metrics = {None: 'mIoU'}
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

    # -- scoring ------------------------------------------------------------------
    def _items(self, rows):
        """``(IoU per image, parsed)``."""
        ious, parsed = [], []
        for r in rows:
            p = self.read(r)
            parsed.append(bool(p.get('parsed')) or norm_answer(r['prediction']) == 'none')
            ious.append(pixel_iou(*mask_counts(r, p.get('objects'))))
        return np.asarray(ious, dtype=np.float64), parsed

    def score(self, rows, **options) -> dict:
        """``mIoU`` and ``parse_rate``."""
        ious, parsed = self._items(rows)
        return {'mIoU': np.mean(ious), 'parse_rate': np.mean(parsed)}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'iou', 'correct'}`` per row."""
        return [iou_verdict(iou) for iou in self._items(rows)[0]]

    def chance_answers(self, rows) -> list[list[str]]:
        """``none``, and one whole-image polygon."""
        return [[self.answer_text(objects(r), tuple(r['image_size'])) for r in rows]
                for objects in (lambda r: [], lambda r: [whole_image(r['image_size'])])]

    def record_stat(self, metric, rows, **options):
        """Per-image IoU for ``mIoU``."""
        return MeanStat(self._items(rows)[0]) if metric == 'mIoU' else None
