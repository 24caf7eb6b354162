"""``GroundingMetric``: the earlier name of grounding scoring, now a thin alias of TaskMetric.

Grounding is scored by :class:`~eov.evaluation.metrics.tasks.TaskMetric`
alone (``grounding/Acc@0.5``, ``grounding/meanIoU``, ``grounding/parse_rate``,
``grounding/n``, the mean-training-box baseline ``grounding/Acc@0.5_baseline``,
predicted boxes clipped to the image, a hit when IoU >= t). This alias keeps
configs that name ``GroundingMetric`` working; its ``group_by`` (a key of the
records' ``meta``) is TaskMetric's ``split_by``: ``group_by='num_objects'``
gives the cells ``grounding/num_objects=<k>/...``.
"""
from __future__ import annotations

from typing import Sequence

from eov.heads.grounding import mean_box
from eov.registry import METRICS
from eov.utils.io import scan_jsonl

from .tasks import TaskMetric, image_size_reader

__all__ = ['GroundingMetric', 'mean_normalized_box']


@METRICS.register_module()
class GroundingMetric(TaskMetric):
    """:class:`TaskMetric` with grounding as the task of samples that name none.

    Args:
        serializer: SLIS serializer config the answers are decoded with.
        iou_thrs: IoU thresholds (``Acc@<t>`` each).
        baseline_ann_file: Training JSONL for the mean-box baseline.
        predictions_file: See :class:`TaskMetric`.
        group_by: A key of each record's ``meta`` to break the scores down by
            (TaskMetric's ``split_by``).
        **kwargs: Any other :class:`TaskMetric` option (``chance``,
            ``intervals`` ...).
    """

    default_task = 'grounding'

    def __init__(self, serializer: dict, iou_thrs: Sequence[float] = (0.5,),
                 baseline_ann_file: str | None = None, predictions_file: str | None = None,
                 group_by: str | None = None, **kwargs):
        if group_by is not None:
            kwargs['split_by'] = group_by
        super().__init__(serializer=serializer, iou_thrs=iou_thrs,
                         baseline_ann_file=baseline_ann_file,
                         predictions_file=predictions_file, **kwargs)


def mean_normalized_box(ann_file: str) -> list[float]:
    """Mean grounding target of a JSONL file, as fractions of the image size.

    The bounds of each grounding record's first box (``hbb``, ``obb`` or
    ``quad``; :func:`eov.heads.grounding.mean_box`): the baseline "always
    answer the mean training box". Image sizes come from ``meta.image_size``
    when records carry it, else from reading each image's header.

    Raises:
        ValueError: when the file holds no grounding box.
    """
    records = [rec for _, rec in scan_jsonl(ann_file)
               if isinstance(rec, dict) and rec.get('task') == 'grounding']
    box = mean_box(records, image_size_reader(ann_file))
    if box is None:
        raise ValueError(f'{ann_file}: no grounding boxes to compute a baseline from')
    return box
