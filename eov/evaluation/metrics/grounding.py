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

from eov.registry import METRICS

from .tasks import TaskMetric

__all__ = ['GroundingMetric']


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
