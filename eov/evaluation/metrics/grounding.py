"""Visual-grounding accuracy, with parse rate and a mean-box baseline."""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from eov.heads import GroundingHead
from eov.registry import METRICS

from ..box_ops import box_iou, clip_box


def mean_normalized_box(ann_file: str) -> list[float]:
    """Mean ``hbb`` target of a JSONL file, as fractions of the image size.

    Used as the trivial baseline "always predict the mean training box".
    Image sizes come from ``meta.image_size`` when records carry it, else
    from reading each image's header.
    """
    from eov.datasets.schema import iter_jsonl
    boxes = []
    root = os.path.dirname(ann_file)
    for lineno, rec in iter_jsonl(ann_file):
        if isinstance(rec, Exception) or rec.get('task') != 'grounding':
            continue
        size = (rec.get('meta') or {}).get('image_size')
        if size is None:
            from PIL import Image
            with Image.open(os.path.join(root, rec['images'][0]['path'])) as im:
                size = im.size
        for t in rec.get('targets', []):
            if t.get('type') == 'hbb':
                x1, y1, x2, y2 = t['bbox']
                w, h = size
                boxes.append([x1 / w, y1 / h, x2 / w, y2 / h])
                break
    if not boxes:
        raise ValueError(f'{ann_file}: no grounding boxes to compute a baseline from')
    return np.mean(np.asarray(boxes), axis=0).tolist()


@METRICS.register_module()
class GroundingMetric(BaseMetric):
    """Accuracy of the first predicted box against the target box.

    Keys (prefixed ``grounding/``): ``Acc@{t}`` for each threshold (hit when
    IoU >= t), ``meanIoU``, ``parse_rate`` (answers holding a readable box),
    ``n``, and, when ``baseline_ann_file`` is given, ``Acc@{t}_baseline`` and
    ``meanIoU_baseline`` of always predicting the mean training box.
    An unreadable answer counts as a miss with IoU 0. With ``group_by``, the
    accuracies are also reported per value of that key of the records'
    ``meta`` (e.g. ``Acc@0.5_num_objects=2``).

    Args:
        serializer: SLIS serializer config the answers are decoded with.
        iou_thrs: IoU thresholds.
        baseline_ann_file: Training JSONL for the mean-box baseline.
        predictions_file: If set, write ``{"id", "prediction", "box"}`` lines.
        group_by: A key of each record's ``meta`` to break accuracy down by.
        prefix: Metric-name prefix.
        collect_device: See MMEngine ``BaseMetric``.
    """

    default_prefix = 'grounding'

    def __init__(self, serializer: dict, iou_thrs: Sequence[float] = (0.5,),
                 baseline_ann_file: str | None = None, predictions_file: str | None = None,
                 group_by: str | None = None, prefix: str | None = None,
                 collect_device: str = 'cpu'):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.head = GroundingHead(serializer=serializer)
        self.iou_thrs = tuple(float(t) for t in iou_thrs)
        self.baseline_box = (mean_normalized_box(baseline_ann_file)
                             if baseline_ann_file else None)
        self.predictions_file = predictions_file
        self.group_by = group_by

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Score each sample of a batch (called by MMEngine's evaluator)."""
        for sample in data_samples:
            width, height = sample['image_size']
            gt = next(t['bbox'] for t in sample['targets'] if t['type'] == 'hbb')
            parsed = self.head.parse(sample['prediction'], (width, height))
            iou = box_iou(clip_box(parsed['box'], width, height), gt) if parsed['parsed'] else 0.0
            row = dict(id=sample['id'], iou=iou, parsed=parsed['parsed'],
                       prediction=sample['prediction'], box=parsed['box'])
            if self.group_by:
                row['group'] = (sample.get('meta') or {}).get(self.group_by)
            if self.baseline_box is not None:
                bx = self.baseline_box
                row['baseline_iou'] = box_iou(
                    [bx[0] * width, bx[1] * height, bx[2] * width, bx[3] * height], gt)
            self.results.append(row)

    def compute_metrics(self, results: list) -> dict:
        """Aggregate per-sample rows into the metric dict."""
        ious = np.asarray([r['iou'] for r in results], dtype=np.float64)
        out = {f'Acc@{t:g}': float((ious >= t).mean()) for t in self.iou_thrs}
        out['meanIoU'] = float(ious.mean())
        out['parse_rate'] = float(np.mean([r['parsed'] for r in results]))
        out['n'] = len(results)
        if self.group_by:
            groups = sorted({r['group'] for r in results if r['group'] is not None}, key=str)
            for g in groups:
                sub = np.asarray([r['iou'] for r in results if r['group'] == g])
                for t in self.iou_thrs:
                    out[f'Acc@{t:g}_{self.group_by}={g}'] = float((sub >= t).mean())
                out[f'n_{self.group_by}={g}'] = len(sub)
        if self.baseline_box is not None:
            base = np.asarray([r['baseline_iou'] for r in results], dtype=np.float64)
            out.update({f'Acc@{t:g}_baseline': float((base >= t).mean())
                        for t in self.iou_thrs})
            out['meanIoU_baseline'] = float(base.mean())
        if self.predictions_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.predictions_file)), exist_ok=True)
            with open(self.predictions_file, 'w', encoding='utf-8') as f:
                for r in results:
                    f.write(json.dumps(dict(id=r['id'], prediction=r['prediction'],
                                            box=r['box'], iou=r['iou'])) + '\n')
        return out
