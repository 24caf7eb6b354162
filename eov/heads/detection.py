"""Object detection with horizontal or oriented boxes."""
from __future__ import annotations

import numpy as np

from eov.registry import HEADS
from eov.scoring import class_ap
from eov.scoring.stats import APStat
from eov.slis.geometry import object_points

from .base import ObjectListHead, most_frequent, norm_answer, normalized_bounds, scaled_box

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

    Scoring: ``mAP@0.5``, ``AP/<class>`` (DOTA devkit matching,
    :func:`detection_classes`). Chance: the mean box with the majority class.

    Args:
        serializer: SLIS serializer config or object (required).
        empty_answer: Answer for an image with no objects (default ``'none'``).
    """

    task = 'detection'
    primary_metrics = {None: 'mAP@0.5'}
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

    # -- scoring ------------------------------------------------------------------
    def _items(self, rows):
        """``(samples, parsed)``: ``{'gt', 'pred'}`` objects per record."""
        samples, parsed = [], []
        for r in rows:
            p = self.read(r)
            parsed.append(bool(p.get('parsed')) or norm_answer(r['prediction']) == 'none')
            samples.append(dict(gt=[t for t in r['targets'] if t.get('type') in DETECTION_TYPES],
                                pred=p.get('objects') or []))
        return samples, parsed

    def score(self, rows, **options) -> dict:
        """``mAP@0.5``, ``parse_rate`` and ``AP/<class>`` for every class with ground truth."""
        samples, parsed = self._items(rows)
        aps = detection_map(samples)
        return {'mAP@0.5': np.mean(list(aps.values())) if aps else 0.0,
                'parse_rate': np.mean(parsed), **{f'AP/{c}': v for c, v in aps.items()}}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'tp', 'fp', 'gt', 'correct'}`` per row, from the cell's matching."""
        samples, _ = self._items(rows)
        per_image = np.zeros((len(rows), 3), dtype=int)   # tp, fp, gt
        for v in detection_classes(samples).values():
            for image, tp, fp in zip(v['images'], v['tp_flags'], v['fp_flags']):
                per_image[image, :2] += int(tp), int(fp)
            per_image[:, 2] += v['gt_per_image']
        return [dict(tp=int(tp), fp=int(fp), gt=int(gt), correct=bool(tp == gt and not fp))
                for tp, fp, gt in per_image]

    def chance_answers(self, rows) -> list[list[str]]:
        """The mean box of the cell's objects with the majority class, one per image."""
        objects = [(t, r) for r in rows for t in r['targets']
                   if t.get('type') in DETECTION_TYPES]
        if not objects:
            return [[self.answer_text([], tuple(r['image_size'])) for r in rows]]
        mean = np.mean([normalized_bounds(t, r['image_size'])
                        for t, r in objects], axis=0).tolist()
        label = most_frequent((t['label'], t['label']) for t, _ in objects if t.get('label'))
        extra = {'label': label} if label else {}
        return [[self.answer_text([{'type': 'hbb', 'bbox': scaled_box(mean, r['image_size']),
                                    **extra}], tuple(r['image_size'])) for r in rows]]

    def record_stat(self, metric, rows, **options):
        """The mAP as a resampling statistic over images for ``mAP@0.5``."""
        return detection_ap_stat(self._items(rows)[0]) if metric == 'mAP@0.5' else None


def detection_classes(samples: list[dict], iou_thr: float = 0.5,
                      use_07_metric: bool = False) -> dict:
    """Per class, the DOTA devkit's matching and AP over hbb/obb/quad objects.

    Predictions are ranked by ``score`` when they have one, else by their
    order in the answer; a match needs polygon IoU **>** ``iou_thr``;
    duplicates are false positives; ground truths flagged ``difficult`` are
    ignored (see :func:`eov.scoring.voc.class_ap`).

    Args:
        samples: ``[{'gt': [objects], 'pred': [objects]}]`` per image.
        iou_thr: IoU threshold.
        use_07_metric: 11-point AP instead of the all-point area.

    Returns:
        ``{class: class_ap's result + 'images': image of each ranked detection}``
        for every class with ground truth.
    """
    def quad8(obj):
        return [v for point in object_points(obj) for v in point]
    classes = sorted({o['label'] for s in samples for o in s['gt'] if o.get('label')})
    out = {}
    for cls in classes:
        gts = [[(quad8(o), o.get('difficult', 0)) for o in s['gt'] if o.get('label') == cls]
               for s in samples]
        dets = []
        for i, s in enumerate(samples):
            preds = [o for o in s['pred'] if o.get('label') == cls]
            dets += [(-float(o.get('score', -rank)), i, rank, quad8(o))
                     for rank, o in enumerate(preds)]
        dets.sort(key=lambda d: (d[0], d[1], d[2]))   # stable: score, image, answer order
        result = class_ap(gts, [(i, q) for _, i, _, q in dets], ovthresh=iou_thr,
                          use_07_metric=use_07_metric)
        result['images'] = [i for _, i, _, _ in dets]
        result['gt_per_image'] = [sum(1 for _, d in img if not d) for img in gts]
        result['objects_per_image'] = [len(img) for img in gts]
        out[cls] = result
    return out


def detection_map(samples: list[dict], iou_thr: float = 0.5,
                  use_07_metric: bool = False) -> dict:
    """AP per class (:func:`detection_classes`): ``{class: AP}`` for every class with
    ground truth."""
    return {c: v['ap'] for c, v in detection_classes(samples, iou_thr, use_07_metric).items()}


def detection_ap_stat(samples: list[dict], iou_thr: float = 0.5) -> APStat:
    """The all-point mAP of ``samples`` as a resampling statistic over images."""
    classes = [dict(image=v['images'], tp=v['tp_flags'], fp=v['fp_flags'],
                    gt=v['gt_per_image'], present=v['objects_per_image'])
               for v in detection_classes(samples, iou_thr).values()]
    return APStat(classes, len(samples))
