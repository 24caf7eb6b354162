"""Visual grounding: a referring phrase in, one box out."""
from __future__ import annotations

import numpy as np

from eov.registry import HEADS
from eov.scoring import clipped_iou
from eov.scoring.stats import MeanStat
from eov.slis.geometry import object_bounds

from .base import BaseTaskHead, normalized_bounds, scaled_box

#: Target types a grounding answer is made of (horizontal or oriented boxes).
GROUNDING_TYPES = ('hbb', 'obb', 'quad')


@HEADS.register_module(name='grounding')
class GroundingHead(BaseTaskHead):
    """Visual grounding with horizontal (``hbb``) or oriented (``obb``/``quad``) boxes.

    The answer is the configured serializer's text for the target box(es), so
    changing the serializer in a config changes the answers with no other edit.

    Scoring: ``Acc@<t>`` per ``iou_thrs`` (IoU **>=** t) and ``meanIoU`` of
    the first predicted box, clipped to the image, against the first target
    box (:func:`~eov.scoring.iou.clipped_iou`). Chance: the cell's mean box;
    training baseline: the mean training box.

    Args:
        serializer: SLIS serializer config or object (required).
    """

    task = 'grounding'
    primary_metrics = {None: 'Acc@0.5', 'obb': 'Acc@0.5'}
    spatial = True
    scored_from_targets = True   # IoU against the target box; the answer text is not read
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
        self.require_serializer()

    def question_fields(self, targets: list[dict], image_size) -> dict:
        """``{'variant': 'obb'}`` when the first box is oriented (``obb``/``quad``)."""
        return {'variant': 'obb'} if self.record_kind(targets) == 'obb' else {}

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

    # -- scoring ------------------------------------------------------------------
    @classmethod
    def record_kind(cls, targets) -> str | None:
        """``'obb'`` when the first box target is oriented (``obb``/``quad``)."""
        first = first_box(targets)
        return 'obb' if first and first['type'] in ('obb', 'quad') else None

    def iou(self, r) -> tuple[float, bool]:
        """``(IoU, parsed)`` of a row's first predicted box against its first target box."""
        pred = first_box(self.read(r).get('objects'))
        truth = first_box(r['targets'])
        if pred is None or truth is None:
            return 0.0, pred is not None
        return clipped_iou(pred, truth, r['image_size']), True

    def _ious(self, rows) -> tuple[np.ndarray, list]:
        scored = [self.iou(r) for r in rows]
        return np.asarray([s[0] for s in scored], dtype=np.float64), [s[1] for s in scored]

    def score(self, rows, iou_thrs=(0.5,), **options) -> dict:
        """``Acc@<t>`` per threshold of ``iou_thrs``, ``meanIoU``, ``parse_rate``."""
        ious, parsed = self._ious(rows)
        return {**{f'Acc@{t:g}': np.mean(ious >= t) for t in iou_thrs},
                'meanIoU': ious.mean(), 'parse_rate': np.mean(parsed)}

    def verdicts(self, rows, iou_thrs=(0.5,), **options) -> list[dict]:
        """``{'iou', 'correct'}`` per row (correct at IoU >= the first of ``iou_thrs``)."""
        return [{'iou': float(iou), 'correct': float(iou) >= iou_thrs[0]}
                for iou in self._ious(rows)[0]]

    def _mean_box_answers(self, rows, box) -> list[str]:
        return [self.answer_text([{'type': 'hbb', 'bbox': scaled_box(box, r['image_size'])}],
                                 tuple(r['image_size'])) for r in rows]

    def chance_answers(self, rows) -> list[list[str]]:
        """The mean box of the rows' first target boxes."""
        return [self._mean_box_answers(rows, mean_box(rows, lambda r: r['image_size']))]

    def record_stat(self, metric, rows, **options):
        """Hits at ``t`` for ``Acc@<t>``; per-record IoU for ``meanIoU``."""
        if metric.startswith('Acc@'):
            return self._ious(rows)[0] >= float(metric[4:])
        if metric == 'meanIoU':
            return MeanStat(self._ious(rows)[0])
        return None

    def baseline_reference(self, records, image_size):
        """The mean of the records' first boxes in normalised coordinates (``None``: no box)."""
        return mean_box(records, image_size)

    def baseline_answers(self, rows, reference) -> list[str]:
        """Always the mean training box, scaled to each image."""
        return self._mean_box_answers(rows, reference)

    def prediction_line(self, parsed) -> dict:
        """``{'box': the first predicted box's bounds or None}``."""
        return {'box': parsed.get('box') if parsed else None}


def first_box(objects) -> dict | None:
    """The first ``hbb``/``obb``/``quad`` of ``objects`` (``None``: none)."""
    return next((o for o in objects or () if o.get('type') in GROUNDING_TYPES), None)


def mean_box(records, image_size) -> list[float] | None:
    """Mean first box of ``records`` as fractions of the image size (``None``: no box).

    Args:
        records: Grounding records (those without a box are skipped).
        image_size: ``(W, H)`` of a record.
    """
    boxes = []
    for rec in records:
        target = first_box(rec.get('targets'))
        if target is not None:
            boxes.append(normalized_bounds(target, image_size(rec)))
    return np.mean(np.asarray(boxes), axis=0).tolist() if boxes else None
