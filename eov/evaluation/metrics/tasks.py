"""Metrics for the nine task categories: one scorer per task, for any eov test set.

One :class:`TaskMetric` scores a test set that mixes tasks, modalities and
answer kinds: every answer is parsed by its task's head (the same heads that
made the training answers) and scored with the usual metric of the category.
``tools/test.py``, the demo and the configs all score through it
(``GroundingMetric`` is a thin alias); published benchmarks keep their
official protocols (:mod:`eov.evaluation.benchmarks`).

Cells
-----
Records are scored in *cells*: the task category, with the answer kind after
a slash when there is one (:func:`cell_of`):

=========================== ==================================================
cell                        records
=========================== ==================================================
``classification``          one ``label`` target
``classification/multilabel`` a ``labels`` target (or several ``label``)
``vqa`` / ``vqa/count``     a ``text`` / a ``count`` target
``grounding`` / ``grounding/obb`` an ``hbb`` / an ``obb`` or ``quad`` target
``region`` / ``region/caption`` a ``label`` / a ``text`` answer
``change`` / ``change/caption`` changed regions (or none) / ``text`` captions
others                      the task name
=========================== ==================================================

A record's ``meta.variant`` names its cell instead (``<task>/<variant>``).
A record with ``meta.subset`` (e.g. ``"nonvisible"``, ``"cloud"``; a list is
allowed) is scored in its cell **and** in ``<cell>/<subset>``; with
``split_by=('num_objects',)`` also in ``<cell>/num_objects=<value>``. With
``meta.subset_only`` it is scored in its subset cells alone (EOV-Synth's records
drawn to fill a short subset, and the optical twins of cloud-covered fusion
records: the parent cell keeps the split's natural mix).
Keys are ``<cell>/<metric>``, or ``<modality>/<cell>/<metric>`` with
``group_by='modality'``; every cell reports ``n`` and ``parse_rate``.

Metrics
-------
=============== =======================================================
task            metrics
=============== =======================================================
classification  ``accuracy`` (single-label); ``micro_f1``, ``macro_f1``,
                ``sample_f1`` (multi-label)
vqa             ``accuracy`` (text answers, lower-cased exact match);
                ``count_exact``, ``count_mae`` (lower is better),
                ``count_parse_rate`` (count answers)
choice          ``accuracy`` (letter; the options are passed to the parser)
region          ``accuracy`` (class, or exact caption); captions also get
                the caption metrics
grounding       ``Acc@0.5`` (a hit when IoU **>=** 0.5; one key per
                ``iou_thrs``), ``meanIoU``: the first predicted box, clipped
                to the image, against the first target box (exact polygon
                IoU when either is oriented, :func:`~eov.evaluation.box_ops.
                clipped_iou`); an unreadable answer is a miss with IoU 0
detection       ``mAP@0.5``, ``AP/<class>`` (all-point AP per class, DOTA
                devkit matching on box polygons, ``score`` or answer order as
                confidence)
segmentation    ``mIoU`` (rasterised polygons, mean over images)
change          ``f1``, ``iou`` (pixels of rasterised changed regions,
                pooled); captions: ``exact`` and the caption metrics
captioning      ``BLEU-1``..``BLEU-4``, ``ROUGE_L``, ``CIDEr`` (pycocoevalcap's
                definitions, as the ``levir_cc`` scorer), ``exact``
=============== =======================================================

Chance (``chance=True``)
------------------------
Every cell also reports ``<metric>_chance``: the score of a trivial constant
answer on the same records. The constant is written as text with the head's
``answer_text`` and goes through the same parser and scorer as the model's
answers:

- classification: the majority class (multi-label: the most frequent label set);
- vqa: the most frequent answer (counts: the most frequent count);
- region: the majority class (captions: the most frequent reference caption);
- captioning, change captions: the most frequent reference caption;
- choice: a uniformly random option -- the exact expectation, the mean over
  records of the accuracy of each of its options (``1 / number of options``
  when the answer is one option), not a sample;
- grounding: the mean box of the cell's targets (axis-aligned bounds, in
  normalised image coordinates, scaled to each image);
- detection: that mean box (over all objects of the cell) labelled with the
  majority class, one per image (``none`` when the cell has no object);
- segmentation and change regions: the better (by the cell's primary
  metric) of ``none`` / ``no change`` and one whole-image polygon.

Ties between equally frequent answers go to the first in sorted order.
With ``baseline_ann_file`` (a training JSONL), grounding cells also report
``Acc@<t>_baseline`` and ``meanIoU_baseline`` of always answering the mean
*training* box (:func:`mean_normalized_box`), through the same path.

Each cell's headline number is in :data:`PRIMARY_METRICS`
(:func:`primary_metric`); :mod:`eov.evaluation.scoreboard` builds the
per-modality scoreboard from the flat keys.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from typing import Iterable, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from eov.registry import HEADS, METRICS
from eov.slis.geometry import object_bounds

from ..box_ops import clipped_iou

#: The nine task categories (first component of a cell name).
TASK_CATEGORIES = ('classification', 'captioning', 'vqa', 'grounding', 'detection', 'region',
                   'segmentation', 'change', 'choice')

#: The headline metric of each cell (a subset cell uses its parent's).
PRIMARY_METRICS = {
    'classification': 'accuracy',
    'classification/multilabel': 'sample_f1',
    'captioning': 'CIDEr',
    'vqa': 'accuracy',
    'vqa/count': 'count_exact',
    'grounding': 'Acc@0.5',
    'grounding/obb': 'Acc@0.5',
    'detection': 'mAP@0.5',
    'region': 'accuracy',
    'region/caption': 'CIDEr',
    'segmentation': 'mIoU',
    'change': 'f1',
    'change/caption': 'CIDEr',
    'choice': 'accuracy',
}

#: Metrics where a lower value is better (all others: higher is better).
LOWER_IS_BETTER = frozenset({'count_mae'})

#: Box types of grounding and detection answers.
BOX_TYPES = ('hbb', 'obb', 'quad')
#: Metrics that get no ``_chance`` / ``_baseline`` twin.
_NO_TWIN = frozenset({'n', 'parse_rate', 'count_parse_rate'})


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0


def _norm(text) -> str:
    return ' '.join(str(text or '').lower().strip().rstrip('.').split())


def _key_order(key) -> str:
    return repr(sorted(key)) if isinstance(key, frozenset) else repr(key)


def most_frequent(pairs: Iterable[tuple]):
    """The value of the most frequent key among ``(key, value)`` pairs.

    Ties go to the smallest key (so the result does not depend on record
    order); the value is that of the key's first pair. ``None`` when empty.
    """
    counts, first = Counter(), {}
    for key, value in pairs:
        counts[key] += 1
        first.setdefault(key, value)
    if not counts:
        return None
    return first[min(counts, key=lambda k: (-counts[k], _key_order(k)))]


def record_kind(task: str, targets: Sequence[dict]) -> str | None:
    """The answer kind of a record from its targets (``None``: the task's plain kind).

    ``'multilabel'`` (classification with a ``labels`` target or several
    ``label``), ``'count'`` (vqa with a ``count``), ``'obb'`` (grounding whose
    first box is ``obb``/``quad``), ``'caption'`` (change or region with
    ``text`` targets).
    """
    types = [t.get('type') for t in targets or () if isinstance(t, dict)]
    if task == 'classification' and ('labels' in types or types.count('label') > 1):
        return 'multilabel'
    if task == 'vqa' and 'count' in types:
        return 'count'
    if task == 'grounding':
        boxes = [t for t in types if t in BOX_TYPES]
        return 'obb' if boxes and boxes[0] in ('obb', 'quad') else None
    if task in ('change', 'region') and 'text' in types:
        return 'caption'
    return None


def cell_of(sample: dict) -> str:
    """The cell a record is scored in: ``meta.variant`` or its kind after the task."""
    task = sample['task']
    variant = (sample.get('meta') or {}).get('variant')
    if variant:
        return f'{task}/{variant}'
    kind = record_kind(task, sample.get('targets') or [])
    return f'{task}/{kind}' if kind else task


def primary_metric(cell: str, available: Iterable[str] | None = None,
                   table: dict | None = None) -> str | None:
    """The headline metric of ``cell``.

    The longest prefix of ``cell`` in ``table`` (default
    :data:`PRIMARY_METRICS`) decides, so ``classification/multilabel/cloud``
    is scored by ``sample_f1``. With ``available`` (the cell's metric names),
    the first candidate that is available -- the exact entries, then those of
    the same task -- or ``None``.
    """
    table = PRIMARY_METRICS if table is None else {**PRIMARY_METRICS, **table}
    parts = cell.split('/')
    names = [table['/'.join(parts[:i])] for i in range(len(parts), 0, -1)
             if '/'.join(parts[:i]) in table]
    names += [v for k, v in table.items() if k.split('/')[0] == parts[0]]
    if available is None:
        return names[0] if names else None
    available = set(available)
    return next((n for n in names if n in available), None)


def lower_is_better(metric: str | None) -> bool:
    """Whether a lower value of ``metric`` is better (:data:`LOWER_IS_BETTER`)."""
    return metric in LOWER_IS_BETTER


def _better(metric: str, a: float, b: float) -> bool:
    """Whether value ``a`` beats ``b`` for ``metric`` (NaN never beats)."""
    if a != a:
        return False
    if b != b:
        return True
    return a < b if lower_is_better(metric) else a > b


def mean_normalized_box(ann_file: str) -> list[float]:
    """Mean grounding target of a JSONL file, as fractions of the image size.

    The bounds of each grounding record's first box (``hbb``, ``obb`` or
    ``quad``); used as the baseline "always answer the mean training box".
    Image sizes come from ``meta.image_size`` when records carry it, else
    from reading each image's header.
    """
    from eov.datasets.schema import iter_jsonl
    boxes = []
    root = os.path.dirname(ann_file)
    for _, rec in iter_jsonl(ann_file):
        if isinstance(rec, Exception) or rec.get('task') != 'grounding':
            continue
        target = next((t for t in rec.get('targets', []) if t.get('type') in BOX_TYPES), None)
        if target is None:
            continue
        size = (rec.get('meta') or {}).get('image_size')
        if size is None:
            from PIL import Image
            with Image.open(os.path.join(root, rec['images'][0]['path'])) as im:
                size = im.size
        x1, y1, x2, y2 = object_bounds(target)
        w, h = size
        boxes.append([x1 / w, y1 / h, x2 / w, y2 / h])
    if not boxes:
        raise ValueError(f'{ann_file}: no grounding boxes to compute a baseline from')
    return np.mean(np.asarray(boxes), axis=0).tolist()


def detection_classes(samples: list[dict], iou_thr: float = 0.5,
                      use_07_metric: bool = False) -> dict:
    """Per class, the DOTA devkit's matching and AP over hbb/obb/quad objects.

    Predictions are ranked by ``score`` when they have one, else by their
    order in the answer; a match needs polygon IoU **>** ``iou_thr``;
    duplicates are false positives; ground truths flagged ``difficult`` are
    ignored (see :func:`eov.evaluation.benchmarks.dota.class_ap`).

    Args:
        samples: ``[{'gt': [objects], 'pred': [objects]}]`` per image.
        iou_thr: IoU threshold.
        use_07_metric: 11-point AP instead of the all-point area.

    Returns:
        ``{class: class_ap's result + 'images': image of each ranked detection}``
        for every class with ground truth.
    """
    from eov.slis.geometry import object_points

    from ..benchmarks.dota import class_ap

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


def detection_ap_stat(samples: list[dict], iou_thr: float = 0.5):
    """The all-point mAP of ``samples`` as a resampling statistic over images
    (:class:`~eov.evaluation.intervals.APStat`)."""
    from ..intervals import APStat
    classes = [dict(image=v['images'], tp=v['tp_flags'], fp=v['fp_flags'],
                    gt=v['gt_per_image'], present=v['objects_per_image'])
               for v in detection_classes(samples, iou_thr).values()]
    return APStat(classes, len(samples))


def jsonable(value):
    """``value`` with numpy scalars and torch tensors turned into plain Python (for JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if type(value).__module__ == 'torch' and hasattr(value, 'tolist'):   # a tensor
        return value.tolist()
    return value


@METRICS.register_module()
class TaskMetric(BaseMetric):
    """Score every sample with its task head's parse and the task's usual metric.

    See the module docstring for cells, metrics and chance baselines.

    Args:
        serializer: SLIS serializer config the heads decode spatial answers with.
        classes: ``{task: [class names]}`` for heads that match class names.
        group_by: ``'modality'`` (or another field of the samples, or a key of
            their ``meta``): keys become ``<value>/<cell>/<metric>``.
        split_by: Keys of the records' ``meta`` (one name or several): each
            record is also scored in ``<cell>/<key>=<value>``.
        chance: Also report ``<metric>_chance`` for every cell.
        iou_thrs: Grounding IoU thresholds (``Acc@<t>`` each).
        baseline_ann_file: Training JSONL: grounding cells also report
            ``Acc@<t>_baseline`` / ``meanIoU_baseline`` of its mean box.
        primary_metrics: ``{cell: metric}`` entries that override
            :data:`PRIMARY_METRICS` for the scoreboard.
        predictions_file: If set, write one JSON line per sample: ``id``,
            ``task``, ``modality``, ``cell``, ``subset`` (when any),
            ``image_size``, ``prediction`` (the raw text) and ``parsed`` (the
            head's reading: labels, text, objects in pixels ...); grounding
            lines also hold ``box`` (first predicted box, or ``None``) and ``iou``.
        scoreboard_file: If set, write the scoreboard
            (:func:`eov.evaluation.scoreboard.scoreboard_from_metrics`) there
            as JSON (``tools/test.py`` prints it with ``render_table``).
        intervals: Report a 95% interval of every cell's headline metric,
            ``<metric>_ci_low`` / ``<metric>_ci_high`` (Wilson for shares of
            records, a bootstrap over records otherwise;
            :mod:`eov.evaluation.intervals`).
        n_boot: Bootstrap resamples (default
            :data:`~eov.evaluation.intervals.N_BOOT`).
        collect_device: MMEngine collection device.
        prefix: MMEngine key prefix (default none: keys carry the cell).
    """

    default_prefix = None
    #: Task of samples that carry none (``None``: a sample needs ``task``).
    default_task: str | None = None

    def __init__(self, serializer: dict, classes: dict | None = None,
                 group_by: str | None = None, split_by: str | Sequence[str] | None = None,
                 chance: bool = False, iou_thrs: Sequence[float] = (0.5,),
                 baseline_ann_file: str | None = None, primary_metrics: dict | None = None,
                 predictions_file: str | None = None, scoreboard_file: str | None = None,
                 intervals: bool = True, n_boot: int | None = None,
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.serializer = serializer
        self.classes = dict(classes or {})
        self.group_by = group_by
        self.split_by = (split_by,) if isinstance(split_by, str) else tuple(split_by or ())
        self.chance = bool(chance)
        self.iou_thrs = tuple(float(t) for t in iou_thrs)
        if not self.iou_thrs:
            raise ValueError('iou_thrs needs at least one threshold')
        self.baseline_ann_file = baseline_ann_file
        self.baseline_box = (mean_normalized_box(baseline_ann_file)
                             if baseline_ann_file else None)
        self.primary_metrics = dict(primary_metrics or {})
        self.predictions_file = predictions_file
        self.scoreboard_file = scoreboard_file
        self.intervals = bool(intervals)
        from ..intervals import N_BOOT
        self.n_boot = int(n_boot or N_BOOT)
        self._heads: dict = {}

    def head(self, task: str):
        """The head of ``task`` (built once)."""
        if task not in self._heads:
            kwargs = {}
            if task in self.classes:
                kwargs['classes'] = self.classes[task]
            self._heads[task] = HEADS.build(dict(type=task, serializer=self.serializer,
                                                 **kwargs))
        return self._heads[task]

    # -- collection ---------------------------------------------------------------
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep what scoring needs of each sample (id, task, cell, targets, prediction)."""
        for sample in data_samples:
            task = sample.get('task', self.default_task)
            if task is None:
                raise KeyError(f"TaskMetric: sample {sample.get('id')!r} has no 'task'")
            sample = {**sample, 'task': task}
            meta = sample.get('meta') or {}
            subsets = meta.get('subset')
            subsets = [subsets] if isinstance(subsets, str) else list(subsets or [])
            row = dict(id=sample['id'], task=task, modality=sample.get('modality'),
                       cell=cell_of(sample), subsets=[str(s) for s in subsets if s],
                       subset_only=bool(meta.get('subset_only')),
                       targets=sample.get('targets', []),
                       image_size=list(sample['image_size']),
                       prediction=sample.get('prediction'))
            if self.group_by:
                value = sample.get(self.group_by, meta.get(self.group_by))
                row['group'] = 'unknown' if value in (None, '') else str(value)
            row['splits'] = [f'{key}={meta[key]}' for key in self.split_by
                             if meta.get(key) is not None]
            self.results.append(row)

    # -- aggregation --------------------------------------------------------------
    def cells(self, results: list) -> dict:
        """``{(group, cell): rows}``: each row in its cell and its subset / split cells."""
        cells = defaultdict(list)
        for r in results:
            group = r.get('group')
            names = [f"{r['cell']}/{s}" for s in r['subsets']]
            if not (r.get('subset_only') and names):
                names = [r['cell'], *names, *(f"{r['cell']}/{s}" for s in r.get('splits', []))]
            for name in dict.fromkeys(names):
                cells[(group, name)].append(r)
        return cells

    def score_cell(self, cell: str, rows: list) -> dict:
        """All metrics of one cell (with ``n``, and chance / baseline twins when on)."""
        task = rows[0]['task']
        metrics = self._scorer(task)(rows)
        metrics['n'] = len(rows)
        if self.chance:
            metrics.update(self._chance(task, cell, rows))
        if self.baseline_box is not None and task == 'grounding':
            metrics.update(self._baseline(rows))
        if self.intervals:
            name = primary_metric(cell, metrics, self.primary_metrics)
            bounds = self.interval(task, name, rows) if name else None
            if bounds is not None:
                metrics[f'{name}_ci_low'], metrics[f'{name}_ci_high'] = bounds
        return metrics

    def compute_metrics(self, results: list) -> dict:
        """Per-cell metrics, keys ``[<group>/]<cell>/<metric>``."""
        out: dict[str, float] = {}
        for (group, cell), rows in sorted(self.cells(results).items(),
                                          key=lambda kv: (str(kv[0][0]), kv[0][1])):
            prefix = f'{group}/{cell}' if self.group_by else cell
            for key, value in self.score_cell(cell, rows).items():
                out[f'{prefix}/{key}'] = float(value)
        if self.predictions_file:
            self._write_predictions(results)
        if self.scoreboard_file:
            from ..scoreboard import save_scoreboard, scoreboard_from_metrics
            save_scoreboard(scoreboard_from_metrics(out, primary=self.primary_metrics,
                                                    grouped=bool(self.group_by)),
                            self.scoreboard_file)
        return out

    def _scorer(self, task: str):
        scorer = getattr(self, f'_score_{task}', None)
        if scorer is None:
            raise KeyError(f'TaskMetric has no scorer for task {task!r}')
        return scorer

    def _write_predictions(self, results: list) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.predictions_file)), exist_ok=True)
        # written whole or not at all (a kill mid-write leaves no half file)
        tmp = self.predictions_file + '.partial'
        with open(tmp, 'w', encoding='utf-8') as f:
            for r in results:
                line = dict(id=r['id'], task=r['task'], modality=r['modality'],
                            cell=r['cell'], prediction=r['prediction'],
                            image_size=r['image_size'])
                if r['subsets']:
                    line['subset'] = r['subsets'] if len(r['subsets']) > 1 else r['subsets'][0]
                try:
                    parsed = self._parse(r)
                except Exception:   # a task without a head: keep the raw text only
                    parsed = None
                if parsed is not None:
                    line['parsed'] = {k: v for k, v in parsed.items() if k != 'errors'}
                if r['task'] == 'grounding':
                    line['box'] = parsed.get('box') if parsed else None
                    line['iou'] = self._grounding_iou(r)[0]
                f.write(json.dumps(jsonable(line), default=str) + '\n')
        os.replace(tmp, self.predictions_file)

    # -- parsing --------------------------------------------------------------
    def _parse(self, r: dict) -> dict:
        """The head's reading of ``r['prediction']`` (cached on the row)."""
        cached = r.get('_parsed')
        if cached is not None and cached[0] == r['prediction']:
            return cached[1]
        task, text, size = r['task'], r['prediction'] or '', tuple(r['image_size'])
        head = self.head(task)
        if task == 'choice':
            target = next((t for t in r['targets'] if t.get('type') == 'choice'), {})
            parsed = head.parse(text, size, choices=target.get('choices'))
        elif task == 'change':
            parsed = head.parse(text, size, mode='caption' if record_kind(
                'change', r['targets']) == 'caption' else 'regions')
        else:
            parsed = head.parse(text, size)
        r['_parsed'] = (r['prediction'], parsed)
        return parsed

    @staticmethod
    def _with_predictions(rows: list, texts: Sequence[str]) -> list:
        """Copies of ``rows`` answering ``texts`` (for chance and baselines)."""
        return [{**{k: v for k, v in r.items() if k != '_parsed'}, 'prediction': t}
                for r, t in zip(rows, texts)]

    # -- per task ---------------------------------------------------------------
    @staticmethod
    def _truth_labels(r) -> list[str]:
        names = []
        for t in r['targets']:
            if t.get('type') == 'labels':
                names += list(t.get('labels') or [])
            elif t.get('type') == 'label':
                names.append(t.get('label'))
        return names

    # -- per record ---------------------------------------------------------------
    # Each task's records are read once into per-record items; its scorer aggregates
    # them and :meth:`record_stat` resamples the same items for the intervals.
    def _classification_items(self, rows):
        """``(single, multi)``: ``(truth, predicted, parsed)`` label sets per record."""
        single, multi = [], []
        for r in rows:
            p = self._parse(r)
            truth = {_norm(x) for x in self._truth_labels(r)}
            kind = record_kind('classification', r['targets'])
            (multi if kind == 'multilabel' else single).append(
                (truth, {_norm(x) for x in p.get('labels') or []},
                 bool(p.get('parsed', p.get('labels')))))
        return single, multi

    @staticmethod
    def _single_hits(single) -> np.ndarray:
        return np.asarray([len(pred) == 1 and pred == truth for truth, pred, _ in single],
                          dtype=bool)

    @staticmethod
    def _sample_f1s(multi) -> np.ndarray:
        return np.asarray([_f1(len(t & p), len(p - t), len(t - p)) for t, p, _ in multi])

    def _score_classification(self, rows):
        single, multi = self._classification_items(rows)
        out = {'parse_rate': np.mean([s[2] for s in single + multi])}
        if single:
            out['accuracy'] = np.mean(self._single_hits(single))
        if multi:
            tp = sum(len(t & p) for t, p, _ in multi)
            fp = sum(len(p - t) for t, p, _ in multi)
            fn = sum(len(t - p) for t, p, _ in multi)
            out['micro_f1'] = _f1(tp, fp, fn)
            classes = sorted(set().union(*[t | p for t, p, _ in multi]))
            out['macro_f1'] = np.mean([_f1(sum(c in t and c in p for t, p, _ in multi),
                                           sum(c in p and c not in t for t, p, _ in multi),
                                           sum(c in t and c not in p for t, p, _ in multi))
                                       for c in classes]) if classes else 1.0
            out['sample_f1'] = np.mean(self._sample_f1s(multi))
        return out

    def _vqa_items(self, rows):
        """``(text hits, (true count, predicted count or None) pairs, parsed flags)``."""
        text, counts, parsed = [], [], []
        for r in rows:
            p = self._parse(r)
            t = next(t for t in r['targets'] if t.get('type') in ('text', 'count'))
            parsed.append(bool(str(r['prediction'] or '').strip()))
            if t['type'] == 'count':
                counts.append((int(t['count']), p.get('number')))
            else:
                text.append(_norm(t.get('text')) == _norm(p.get('text')))
        return np.asarray(text, dtype=bool), counts, parsed

    def _score_vqa(self, rows):
        text, counts, parsed = self._vqa_items(rows)
        out = {'parse_rate': np.mean(parsed)}
        if len(text):
            out['accuracy'] = np.mean(text)
        if counts:
            out['count_exact'] = np.mean([p is not None and p == t for t, p in counts])
            got = [(t, p) for t, p in counts if p is not None]
            out['count_mae'] = np.mean([abs(t - p) for t, p in got]) if got else float('nan')
            out['count_parse_rate'] = len(got) / len(counts)
        return out

    def _choice_truth(self, r) -> str:
        t = next(t for t in r['targets'] if t.get('type') == 'choice')
        return self.head('choice').answer_text([t], tuple(r['image_size']))

    def _choice_items(self, rows):
        """``(hits, parsed)`` per record."""
        hits, parsed = [], []
        for r in rows:
            p = self._parse(r)
            parsed.append(p.get('choice') is not None)
            hits.append(p.get('choice') == self._choice_truth(r))
        return np.asarray(hits, dtype=bool), parsed

    def _score_choice(self, rows):
        hits, parsed = self._choice_items(rows)
        return {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed)}

    def _region_items(self, rows):
        """``(hits, parsed, (references, answer) pairs of caption records)``."""
        hits, parsed, pairs = [], [], []
        for r in rows:
            p = self._parse(r)
            answers = [t for t in r['targets'] if t.get('type') in ('label', 'text')]
            if answers[0]['type'] == 'label':
                truth, got = {_norm(answers[0].get('label'))}, _norm(p.get('label'))
            else:
                refs = [t.get('text') for t in answers if t['type'] == 'text']
                truth, got = {_norm(t) for t in refs}, _norm(p.get('text'))
                pairs.append((refs, p.get('text')))
            parsed.append(bool(got))
            hits.append(got in truth)
        return np.asarray(hits, dtype=bool), parsed, pairs

    def _score_region(self, rows):
        hits, parsed, pairs = self._region_items(rows)
        out = {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed)}
        if pairs:
            out.update(self._caption_metrics(pairs))
        return out

    def _grounding_iou(self, r) -> tuple[float, bool]:
        """``(IoU, parsed)`` of a grounding row's first predicted box."""
        p = self._parse(r)
        pred = next((o for o in p.get('objects') or [] if o.get('type') in BOX_TYPES), None)
        truth = next((t for t in r['targets'] if t.get('type') in BOX_TYPES), None)
        if pred is None or truth is None:
            return 0.0, pred is not None
        return clipped_iou(pred, truth, r['image_size']), True

    def _grounding_ious(self, rows) -> tuple[np.ndarray, list]:
        scored = [self._grounding_iou(r) for r in rows]
        return np.asarray([s[0] for s in scored], dtype=np.float64), [s[1] for s in scored]

    def _score_grounding(self, rows):
        ious, parsed = self._grounding_ious(rows)
        out = {f'Acc@{t:g}': np.mean(ious >= t) for t in self.iou_thrs}
        out['meanIoU'] = ious.mean()
        out['parse_rate'] = np.mean(parsed)
        return out

    def _detection_items(self, rows):
        """``(samples, parsed)``: ``{'gt', 'pred'}`` objects per record."""
        samples, parsed = [], []
        for r in rows:
            p = self._parse(r)
            parsed.append(bool(p.get('parsed')) or _norm(r['prediction']) == 'none')
            samples.append(dict(gt=[t for t in r['targets'] if t.get('type') in BOX_TYPES],
                                pred=p.get('objects') or []))
        return samples, parsed

    def _score_detection(self, rows):
        samples, parsed = self._detection_items(rows)
        aps = detection_map(samples)
        out = {'mAP@0.5': np.mean(list(aps.values())) if aps else 0.0,
               'parse_rate': np.mean(parsed)}
        out.update({f'AP/{c}': v for c, v in aps.items()})
        return out

    @staticmethod
    def _mask(objects, image_size):
        from eov.slis.masks import polygons_to_mask
        w, h = image_size
        return polygons_to_mask(objects, (int(round(h)), int(round(w)))).astype(bool)

    def _segmentation_items(self, rows):
        """``(IoU per image, parsed)``."""
        ious, parsed = [], []
        for r in rows:
            p = self._parse(r)
            parsed.append(bool(p.get('parsed')) or _norm(r['prediction']) == 'none')
            t = self._mask(r['targets'], r['image_size'])
            q = self._mask(p.get('objects') or [], r['image_size'])
            union = (t | q).sum()
            ious.append((t & q).sum() / union if union else 1.0)
        return np.asarray(ious, dtype=np.float64), parsed

    def _score_segmentation(self, rows):
        ious, parsed = self._segmentation_items(rows)
        return {'mIoU': np.mean(ious), 'parse_rate': np.mean(parsed)}

    def _change_items(self, rows):
        """``(pixels, text hits, parsed, caption pairs)``; ``pixels``: ``(tp, fp, fn)``
        of the changed-region records."""
        pixels, text_hits, parsed, pairs = [], [], [], []
        for r in rows:
            p = self._parse(r)
            texts = [t for t in r['targets'] if t.get('type') == 'text']
            if texts:
                text_hits.append(_norm(p.get('text')) in {_norm(t['text']) for t in texts})
                pairs.append(([t['text'] for t in texts], p.get('text')))
                parsed.append(bool(p.get('text')))
                continue
            parsed.append(bool(p.get('parsed')))
            t = self._mask(r['targets'], r['image_size'])
            q = self._mask(p.get('objects') or [], r['image_size'])
            pixels.append((int((t & q).sum()), int((q & ~t).sum()), int((t & ~q).sum())))
        return np.asarray(pixels, dtype=np.float64).reshape(-1, 3), text_hits, parsed, pairs

    def _score_change(self, rows):
        pixels, text_hits, parsed, pairs = self._change_items(rows)
        tp, fp, fn = (int(v) for v in pixels.sum(0))
        out = {'parse_rate': np.mean(parsed)}
        if len(text_hits) < len(rows):
            out['f1'] = _f1(tp, fp, fn)
            out['iou'] = tp / (tp + fp + fn) if (tp + fp + fn) else 1.0
        if text_hits:
            out['exact'] = np.mean(text_hits)
            out.update(self._caption_metrics(pairs))
        return out

    @staticmethod
    def _caption_tokens(pairs: list[tuple[list[str], str]]):
        from ..benchmarks.levircc import ptb_tokenize
        refs = [[ptb_tokenize(t) for t in references] for references, _ in pairs]
        hyps = [ptb_tokenize(answer or '') for _, answer in pairs]
        return refs, hyps

    @classmethod
    def _caption_metrics(cls, pairs: list[tuple[list[str], str]]) -> dict:
        """BLEU-1..4, ROUGE_L, CIDEr (pycocoevalcap's definitions) of (references, answer)."""
        from ..benchmarks.levircc import caption_scores
        return caption_scores(*cls._caption_tokens(pairs))

    @classmethod
    def _cider_scores(cls, pairs: list[tuple[list[str], str]]) -> list[float]:
        """Per-image CIDEr-D of (references, answer) pairs (their mean is the cell's CIDEr)."""
        from ..benchmarks.levircc import cider_d_scores
        refs, hyps = cls._caption_tokens(pairs)
        return cider_d_scores([[' '.join(r) for r in rs] for rs in refs],
                              [' '.join(h) for h in hyps])

    def _caption_items(self, rows):
        """``((references, answer) pairs, exact hits)`` of captioning records."""
        pairs, hits = [], []
        for r in rows:
            refs = [t['text'] for t in r['targets'] if t.get('type') == 'text']
            answer = self._parse(r).get('text')
            pairs.append((refs, answer))
            hits.append(_norm(answer) in {_norm(t) for t in refs})
        return pairs, np.asarray(hits, dtype=bool)

    def _score_captioning(self, rows):
        pairs, hits = self._caption_items(rows)
        out = {'exact': np.mean(hits), 'parse_rate': np.mean(
            [bool(str(r['prediction'] or '').strip()) for r in rows])}
        out.update(self._caption_metrics(pairs))
        return out

    # -- intervals ----------------------------------------------------------------
    def record_stat(self, task: str, metric: str, rows: list):
        """What an interval of ``metric`` resamples (see :mod:`eov.evaluation.intervals`).

        Returns:
            A boolean array of per-record hits (a proportion: Wilson), a
            resampling statistic (bootstrap), or ``None`` when ``metric`` gets
            no interval.
        """
        from ..intervals import APStat, MeanStat, RatioStat
        if metric.startswith('Acc@') and task == 'grounding':
            ious, _ = self._grounding_ious(rows)
            return ious >= float(metric[4:])
        if task == 'grounding' and metric == 'meanIoU':
            return MeanStat(self._grounding_ious(rows)[0])
        if task == 'classification':
            single, multi = self._classification_items(rows)
            if metric == 'accuracy' and single:
                return self._single_hits(single)
            if metric == 'sample_f1' and multi:
                return MeanStat(self._sample_f1s(multi))
            return None
        if task == 'vqa':
            text, counts, _ = self._vqa_items(rows)
            if metric == 'accuracy' and len(text):
                return text
            if metric == 'count_exact' and counts:
                return np.asarray([p is not None and p == t for t, p in counts], dtype=bool)
            if metric == 'count_mae' and counts:
                got = np.asarray([p is not None for _, p in counts], dtype=np.float64)
                err = np.asarray([abs(t - p) if p is not None else 0.0 for t, p in counts])
                return RatioStat(err, got, empty=math.nan)
            return None
        if task == 'choice' and metric == 'accuracy':
            return self._choice_items(rows)[0]
        if task == 'region':
            hits, _, pairs = self._region_items(rows)
            if metric == 'accuracy':
                return hits
            if metric == 'CIDEr' and len(pairs) == len(rows):
                return MeanStat(self._cider_scores(pairs))
            return None
        if task == 'detection' and metric == 'mAP@0.5':
            samples, _ = self._detection_items(rows)
            return detection_ap_stat(samples)
        if task == 'segmentation' and metric == 'mIoU':
            return MeanStat(self._segmentation_items(rows)[0])
        if task == 'change':
            pixels, text_hits, _, pairs = self._change_items(rows)
            if metric == 'f1' and not text_hits:
                tp, fp, fn = pixels.T
                return RatioStat(2 * tp, 2 * tp + fp + fn, empty=1.0)
            if metric == 'CIDEr' and len(pairs) == len(rows):
                return MeanStat(self._cider_scores(pairs))
            if metric == 'exact' and len(text_hits) == len(rows):
                return np.asarray(text_hits, dtype=bool)
            return None
        if task == 'captioning':
            pairs, hits = self._caption_items(rows)
            if metric == 'CIDEr':
                return MeanStat(self._cider_scores(pairs))
            if metric == 'exact':
                return hits
        return None

    def interval(self, task: str, metric: str, rows: list) -> tuple[float, float] | None:
        """95% interval of ``metric`` over ``rows`` (``None``: the metric gets none).

        Wilson for a share of records, else a bootstrap over records
        (:mod:`eov.evaluation.intervals`; deterministic: seed 0).
        """
        from ..intervals import bootstrap_interval, wilson_interval
        stat = self.record_stat(task, metric, rows)
        if stat is None:
            return None
        if isinstance(stat, np.ndarray):
            return wilson_interval(float(stat.sum()), len(stat))
        return bootstrap_interval(stat, n_boot=self.n_boot)

    # -- chance and baselines -----------------------------------------------------
    def _chance(self, task: str, cell: str, rows: list) -> dict:
        """``<metric>_chance`` of the cell's trivial constant answer (module docstring)."""
        if task == 'choice':
            return {'accuracy_chance': self._choice_chance(rows)}
        candidates = self._constant_answers(task, rows)
        best = None
        for texts in candidates:
            metrics = self._scorer(task)(self._with_predictions(rows, texts))
            name = primary_metric(cell, metrics, self.primary_metrics)
            if best is None or (name is not None and _better(
                    name, float(metrics[name]), float(best.get(name, math.nan)))):
                best = metrics
        return {f'{k}_chance': v for k, v in best.items() if k not in _NO_TWIN}

    def _choice_chance(self, rows: list) -> float:
        """Exact expected accuracy of a uniformly random option, through the scorer."""
        head = self.head('choice')
        expected = []
        for r in rows:
            target = next(t for t in r['targets'] if t.get('type') == 'choice')
            letters = [head.answer_text([{**target, 'answer': chr(ord('A') + i)}],
                                        tuple(r['image_size']))
                       for i in range(len(target['choices']))]
            hits = [self._score_choice(self._with_predictions([r], [letter]))['accuracy']
                    for letter in letters]
            expected.append(float(np.mean(hits)))
        return float(np.mean(expected))

    @staticmethod
    def _normalized_bounds(obj: dict, image_size) -> list[float]:
        w, h = float(image_size[0]), float(image_size[1])
        x1, y1, x2, y2 = object_bounds(obj)
        return [x1 / w, y1 / h, x2 / w, y2 / h]

    @staticmethod
    def _scaled(box: Sequence[float], image_size) -> list[float]:
        w, h = float(image_size[0]), float(image_size[1])
        return [box[0] * w, box[1] * h, box[2] * w, box[3] * h]

    def _constant_answers(self, task: str, rows: list) -> list[list[str]]:
        """Candidate constant answers: one list of answer texts (one per row) each."""
        head = self.head(task)

        def answer(targets, r):
            return head.answer_text(targets, tuple(r['image_size']))

        if task == 'classification':
            single = most_frequent(
                (_norm(self._truth_labels(r)[0]), self._truth_labels(r)[0]) for r in rows
                if record_kind(task, r['targets']) is None)
            multi = most_frequent(
                (frozenset(_norm(x) for x in self._truth_labels(r)), self._truth_labels(r))
                for r in rows if record_kind(task, r['targets']) == 'multilabel')
            return [[answer([{'type': 'labels', 'labels': multi}], r)
                     if record_kind(task, r['targets']) == 'multilabel'
                     else answer([{'type': 'label', 'label': single}], r) for r in rows]]
        if task == 'vqa':
            targets = [next(t for t in r['targets'] if t.get('type') in ('text', 'count'))
                       for r in rows]
            text = most_frequent((_norm(t['text']), t['text']) for t in targets
                                 if t['type'] == 'text')
            count = most_frequent((int(t['count']), int(t['count'])) for t in targets
                                  if t['type'] == 'count')
            return [[answer([{'type': 'count', 'count': count}] if t['type'] == 'count'
                            else [{'type': 'text', 'text': text}], r)
                     for t, r in zip(targets, rows)]]
        if task == 'region':
            answers = [[t for t in r['targets'] if t.get('type') in ('label', 'text')]
                       for r in rows]
            label = most_frequent((_norm(a[0]['label']), a[0]['label']) for a in answers
                                  if a[0]['type'] == 'label')
            caption = most_frequent((_norm(t['text']), t['text']) for a in answers
                                    for t in a if t['type'] == 'text')
            texts = []
            for r, a in zip(rows, answers):
                region = [t for t in r['targets'] if t.get('type') not in ('label', 'text')]
                const = ({'type': 'label', 'label': label} if a[0]['type'] == 'label'
                         else {'type': 'text', 'text': caption})
                texts.append(answer(region + [const], r))
            return [texts]
        if task == 'captioning' or (task == 'change' and all(
                record_kind(task, r['targets']) == 'caption' for r in rows)):
            caption = most_frequent((_norm(t['text']), t['text']) for r in rows
                                    for t in r['targets'] if t.get('type') == 'text')
            return [[answer([{'type': 'text', 'text': caption}], r) for r in rows]]
        if task == 'grounding':
            boxes = [self._normalized_bounds(next(t for t in r['targets']
                                                  if t.get('type') in BOX_TYPES),
                                             r['image_size']) for r in rows]
            mean = np.mean(np.asarray(boxes), axis=0).tolist()
            return [[answer([{'type': 'hbb', 'bbox': self._scaled(mean, r['image_size'])}], r)
                     for r in rows]]
        if task == 'detection':
            objects = [(t, r) for r in rows for t in r['targets']
                       if t.get('type') in BOX_TYPES]
            if not objects:
                return [[answer([], r) for r in rows]]
            mean = np.mean([self._normalized_bounds(t, r['image_size'])
                            for t, r in objects], axis=0).tolist()
            label = most_frequent((t['label'], t['label']) for t, _ in objects
                                  if t.get('label'))
            extra = {'label': label} if label else {}
            return [[answer([{'type': 'hbb', 'bbox': self._scaled(mean, r['image_size']),
                              **extra}], r) for r in rows]]
        if task in ('segmentation', 'change'):
            caption = most_frequent((_norm(t['text']), t['text']) for r in rows
                                    for t in r['targets'] if t.get('type') == 'text')

            def whole(r):
                w, h = r['image_size']
                return answer([{'type': 'poly', 'points': [[0, 0], [w, 0], [w, h], [0, h]]}], r)

            def const(r, regions):
                if task == 'change' and record_kind(task, r['targets']) == 'caption':
                    return answer([{'type': 'text', 'text': caption}], r)
                return regions(r)
            return [[const(r, lambda r: answer([], r)) for r in rows],
                    [const(r, whole) for r in rows]]
        raise KeyError(f'TaskMetric has no chance baseline for task {task!r}')

    def _baseline(self, rows: list) -> dict:
        """Grounding metrics of always answering the mean training box."""
        head = self.head('grounding')
        texts = [head.answer_text([{'type': 'hbb',
                                    'bbox': self._scaled(self.baseline_box, r['image_size'])}],
                                  tuple(r['image_size'])) for r in rows]
        metrics = self._score_grounding(self._with_predictions(rows, texts))
        return {f'{k}_baseline': v for k, v in metrics.items() if k not in _NO_TWIN}
