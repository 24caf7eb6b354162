"""``TaskMetric``: one metric for every task, on any eov test set.

One :class:`TaskMetric` scores a test set that mixes tasks, modalities and
answer kinds. It knows no task by name: it groups records into *cells* and
asks the head of each cell's task (:data:`eov.registry.HEADS`, the same heads
that made the training answers) for everything task-specific -- the record's
kind, the parse, the scorer, the chance answers, the verdicts, the interval
statistic, a training baseline (:class:`~eov.heads.base.BaseTaskHead`). A task
whose head another package registers (``custom_imports``) is scored like the
built-in ones. ``tools/test.py``, the demo and the configs all score through
it (``GroundingMetric`` is a thin alias); published benchmarks keep their
official protocols (:mod:`eov.evaluation.benchmarks`).

Cells
-----
A record is scored in the cell ``<task>``, or ``<task>/<kind>`` when its head
gives a kind (``record_kind``: e.g. ``classification/multilabel``,
``vqa/count``, ``grounding/obb``, ``region/caption``, ``change/caption``), or
``<task>/<meta.variant>`` when the record names one (:func:`~eov.heads.catalog.
cell_of`). A record with ``meta.subset`` (e.g. ``"nonvisible"``, ``"cloud"``; a
list is allowed) is scored in its cell **and** in ``<cell>/<subset>``; with
``split_by=('num_objects',)`` also in ``<cell>/num_objects=<value>``. With
``meta.subset_only`` it is scored in its subset cells alone (EOV-Synth's records
drawn to fill a short subset, and the optical twins of cloud-covered fusion
records: the parent cell keeps the split's natural mix). Keys are
``<cell>/<metric>``, or ``<modality>/<cell>/<metric>`` with
``group_by='modality'``; every cell reports ``n`` and ``parse_rate``.

Metrics, chance, baselines, verdicts
------------------------------------
Each cell's metrics are its head's ``score`` (the built-in tasks' metrics:
``docs/heads.md``). With ``chance=True`` every cell also reports
``<metric>_chance``: the head's ``chance`` -- by default the best (by the
cell's primary metric) of its constant ``chance_answers``, written as text
and scored by the same parser and scorer as the model's answers. With
``baseline_ann_file`` (a training JSONL), cells of a task whose head has a
training baseline (grounding: the mean training box) also report
``<metric>_baseline``. Each cell's headline number is its head's primary
metric (:func:`~eov.heads.catalog.primary_metric`; a subset cell uses its
parent's); :mod:`eov.evaluation.scoreboard` builds the per-modality
scoreboard from the flat keys (``tools/test.py`` writes it). Each record's
line in ``predictions_file`` holds the head's verdict (``correct``, with
``iou``, ``f1``, ``tp``/``fp``/``gt`` ...); the report draws these.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from eov.heads.base import with_predictions
from eov.heads.catalog import cell_of, find_head, primary_metric, task_names
from eov.registry import HEADS, METRICS
from eov.utils.io import atomic_write, jsonable, scan_jsonl

#: Metrics that get no ``_chance`` / ``_baseline`` twin.
_NO_TWIN = frozenset({'n', 'parse_rate', 'count_parse_rate'})


def _twins(metrics: dict, suffix: str) -> dict:
    return {f'{k}_{suffix}': v for k, v in metrics.items() if k not in _NO_TWIN}


def image_size_reader(ann_file: str):
    """A function giving ``(W, H)`` of a record of ``ann_file``: its ``meta.image_size``,
    else read from its first image's header."""
    root = os.path.dirname(ann_file)

    def image_size(rec):
        size = (rec.get('meta') or {}).get('image_size')
        if size is None:
            from PIL import Image
            with Image.open(os.path.join(root, rec['images'][0]['path'])) as im:
                size = im.size
        return size
    return image_size


def training_baselines(ann_file: str, head) -> dict:
    """``{task: reference}`` of the training baselines of a training JSONL.

    Each task's records go to its head's ``baseline_reference`` (image sizes
    from ``meta.image_size``, else the image header); tasks whose head has
    no baseline, or no head, are left out.

    Args:
        ann_file: The training records.
        head: Gives the built head of a task.

    Raises:
        ValueError: when no task of the file gives a baseline.
    """
    by_task = defaultdict(list)
    for _, rec in scan_jsonl(ann_file):
        if not isinstance(rec, Exception) and find_head(rec.get('task')) is not None:
            by_task[rec['task']].append(rec)
    out = {}
    for task, records in by_task.items():
        reference = head(task).baseline_reference(records, image_size_reader(ann_file))
        if reference is not None:
            out[task] = reference
    if not out:
        raise ValueError(f'{ann_file}: no records to compute a baseline from (grounding '
                         'boxes, or the records of another task whose head has a baseline)')
    return out


@METRICS.register_module()
class TaskMetric(BaseMetric):
    """Score every sample through its task's head: parse, scorer, chance, verdict.

    See the module docstring for cells, metrics and chance baselines.

    Args:
        serializer: SLIS serializer config the heads decode spatial answers with.
        classes: ``{task: [class names]}`` for heads that match class names.
        group_by: ``'modality'`` (or another field of the samples, or a key of
            their ``meta``): keys become ``<value>/<cell>/<metric>``.
        split_by: Keys of the records' ``meta`` (one name or several): each
            record is also scored in ``<cell>/<key>=<value>``.
        chance: Also report ``<metric>_chance`` for every cell.
        iou_thrs: IoU thresholds of box answers, passed to every head
            (grounding: ``Acc@<t>`` each; the first decides a verdict).
        baseline_ann_file: Training JSONL: cells of tasks whose head has a
            training baseline also report ``<metric>_baseline`` (grounding:
            ``Acc@<t>_baseline`` / ``meanIoU_baseline`` of the mean box).
        primary_metrics: ``{cell: metric}`` entries that override the heads'
            primary metrics for the scoreboard.
        predictions_file: If set, write one JSON line per sample: ``id``,
            ``task``, ``modality``, ``cell``, ``subset`` (when any),
            ``image_size``, ``prediction`` (the raw text) and ``parsed`` (the
            head's reading: labels, text, objects in pixels ...) and the
            record's verdict (``correct``, ``iou`` ...; module docstring) and
            the head's extra fields (grounding: ``box``, the first predicted
            box or ``None``).
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
                 predictions_file: str | None = None, intervals: bool = True,
                 n_boot: int | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.serializer = serializer
        self.classes = dict(classes or {})
        self.group_by = group_by
        self.split_by = (split_by,) if isinstance(split_by, str) else tuple(split_by or ())
        self.chance = bool(chance)
        self.iou_thrs = tuple(float(t) for t in iou_thrs)
        if not self.iou_thrs:
            raise ValueError('iou_thrs needs at least one threshold')
        self._heads: dict = {}
        self.baseline_ann_file = baseline_ann_file
        self.baselines = (training_baselines(baseline_ann_file, self.head)
                          if baseline_ann_file else {})
        self.primary_metrics = dict(primary_metrics or {})
        self.predictions_file = predictions_file
        self.intervals = bool(intervals)
        from ..intervals import N_BOOT
        self.n_boot = int(n_boot or N_BOOT)

    def head(self, task: str):
        """The head of ``task`` (built once, with the metric's serializer and classes).

        Raises:
            KeyError: naming the task and the registered ones when no head has its name.
        """
        if task not in self._heads:
            if find_head(task) is None:
                raise KeyError(f'TaskMetric has no scorer for task {task!r}: no head is '
                               f"registered under that name (tasks: {', '.join(task_names())}"
                               '); a task from another package must be imported first, '
                               "e.g. custom_imports=dict(imports=['my_package'])")
            kwargs = {'classes': self.classes[task]} if task in self.classes else {}
            self._heads[task] = HEADS.build(dict(type=task, serializer=self.serializer,
                                                 **kwargs))
        return self._heads[task]

    @property
    def options(self) -> dict:
        """The scoring options passed to every head (``iou_thrs``)."""
        return {'iou_thrs': self.iou_thrs}

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
        """``{(group, cell): rows}`` in that order: each row in its cell and its subset / split
        cells."""
        cells = defaultdict(list)
        for r in results:
            group = r.get('group')
            names = [f"{r['cell']}/{s}" for s in r['subsets']]
            if not (r.get('subset_only') and names):
                names = [r['cell'], *names, *(f"{r['cell']}/{s}" for s in r.get('splits', []))]
            for name in dict.fromkeys(names):
                cells[(group, name)].append(r)
        return dict(sorted(cells.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])))

    def score_cell(self, cell: str, rows: list) -> dict:
        """All metrics of one cell (with ``n``, and chance / baseline twins when on)."""
        task = rows[0]['task']
        head = self.head(task)
        metrics = head.score(rows, **self.options)
        metrics['n'] = len(rows)
        if self.chance:
            metrics.update(_twins(head.chance(
                rows, lambda m: primary_metric(cell, m, self.primary_metrics), **self.options),
                'chance'))
        if task in self.baselines:
            texts = head.baseline_answers(rows, self.baselines[task])
            metrics.update(_twins(head.score(with_predictions(rows, texts), **self.options),
                                  'baseline'))
        if self.intervals:
            name = primary_metric(cell, metrics, self.primary_metrics)
            bounds = self.interval(task, name, rows) if name else None
            if bounds is not None:
                metrics[f'{name}_ci_low'], metrics[f'{name}_ci_high'] = bounds
        return metrics

    def compute_metrics(self, results: list) -> dict:
        """Per-cell metrics, keys ``[<group>/]<cell>/<metric>``."""
        out: dict[str, float] = {}
        for (group, cell), rows in self.cells(results).items():
            prefix = f'{group}/{cell}' if self.group_by else cell
            for key, value in self.score_cell(cell, rows).items():
                out[f'{prefix}/{key}'] = float(value)
        if self.predictions_file:
            self._write_predictions(results)
        return out

    def _write_predictions(self, results: list) -> None:
        verdicts: dict[int, dict] = {}   # id(row) -> verdict, from its own cell (listed first)
        for rows in self.cells(results).values():
            if any(id(r) not in verdicts for r in rows):
                found = self.head(rows[0]['task']).verdicts(rows, **self.options)
                for r, verdict in zip(rows, found):
                    verdicts.setdefault(id(r), verdict)
        # written whole or not at all (a kill mid-write leaves no half file)
        with atomic_write(self.predictions_file) as f:
            for r in results:
                line = dict(id=r['id'], task=r['task'], modality=r['modality'],
                            cell=r['cell'], prediction=r['prediction'],
                            image_size=r['image_size'])
                if r['subsets']:
                    line['subset'] = r['subsets'] if len(r['subsets']) > 1 else r['subsets'][0]
                head = self.head(r['task'])
                try:
                    parsed = head.read(r)
                except Exception:   # a parse that breaks its contract: keep the raw text only
                    parsed = None
                if parsed is not None:
                    line['parsed'] = {k: v for k, v in parsed.items() if k != 'errors'}
                line.update(head.prediction_line(parsed))
                line.update(verdicts.get(id(r), {}))
                f.write(json.dumps(jsonable(line), default=str) + '\n')

    # -- intervals ----------------------------------------------------------------
    def interval(self, task: str, metric: str, rows: list) -> tuple[float, float] | None:
        """95% interval of ``metric`` over ``rows`` (``None``: the metric gets none).

        What it resamples is the head's ``record_stat``: hits get a Wilson interval, a
        statistic a bootstrap over records (:mod:`eov.evaluation.intervals`; deterministic:
        seed 0), ``None`` no interval.
        """
        from ..intervals import bootstrap_interval, wilson_interval
        stat = self.head(task).record_stat(metric, rows, **self.options)
        if stat is None:
            return None
        if isinstance(stat, np.ndarray):
            return wilson_interval(float(stat.sum()), len(stat))
        return bootstrap_interval(stat, n_boot=self.n_boot)


def score_records(records: Sequence[dict], predictions: dict[str, dict], serializer,
                  image_size=None, group_by: str | None = 'modality',
                  chance: bool = False) -> dict[str, float]:
    """Score eov instruction records offline with :class:`TaskMetric`'s task scorers.

    What ``tools/test.py`` computes from a run, from a predictions file instead
    (``tools/evaluate.py tasks --data test.jsonl --predictions pred.jsonl``).

    Args:
        records: Validated records (e.g. an ``InstructionDataset`` in test mode).
        predictions: ``{id: {"prediction": text, ...}}``; a record without one
            is scored as an empty answer and counted in ``n_missing``.
        serializer: SLIS serializer (config or object) spatial answers are read with.
        image_size: ``record -> (W, H)``; default: its ``meta.image_size``.
        group_by: As :class:`TaskMetric` (keys ``<modality>/<cell>/<metric>``).
        chance: Also report ``<metric>_chance``.

    Returns:
        The flat metrics, with ``n_missing`` and ``n_unknown`` (predictions
        for ids not in ``records``).
    """
    metric = TaskMetric(serializer=serializer, group_by=group_by, chance=chance)
    ids = set()
    samples = []
    missing = 0
    for rec in records:
        rid = str(rec['id'])
        ids.add(rid)
        pred = predictions.get(rid)
        text = pred.get('prediction') if isinstance(pred, dict) else None
        missing += pred is None
        size = image_size(rec) if image_size else (rec.get('meta') or {}).get('image_size')
        samples.append({**rec, 'image_size': list(size), 'prediction': text})
    metric.process(None, samples)
    out = metric.compute_metrics(metric.results)
    out['n_missing'] = float(missing)
    out['n_unknown'] = float(len(set(predictions) - ids))
    return out
