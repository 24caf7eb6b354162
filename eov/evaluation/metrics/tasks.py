"""Generic metrics for the nine task categories, for ``tools/test.py`` on any eov data.

One :class:`TaskMetric` scores a test set that mixes tasks: every answer is
parsed by its task's head (the same heads that made the training answers) and
scored with the usual metric of the category. Keys are ``<task>/<metric>``;
each task also reports ``<task>/n`` and ``<task>/parse_rate``.

=============== =======================================================
task            metrics
=============== =======================================================
classification  ``accuracy`` (single-label records), ``micro_f1``,
                ``macro_f1``, ``sample_f1`` (multi-label records)
vqa             ``accuracy`` (text answers, lower-cased exact match);
                ``count_exact`` and ``count_mae`` (count answers)
choice          ``accuracy`` (letter)
region          ``accuracy`` (class or exact text)
grounding       ``Pr@0.5`` (IoU >= 0.5 of the first box), ``meanIoU``
detection       ``mAP@0.5`` (all-point AP per class, DOTA devkit matching
                on box polygons, answer order as confidence)
segmentation    ``mIoU`` (rasterised polygons, mean over images)
change          ``f1``, ``iou`` (pixels of rasterised changed regions,
                pooled); text answers: ``exact`` and the caption metrics
captioning      ``BLEU-1``..``BLEU-4``, ``ROUGE_L``, ``CIDEr`` (pycocoevalcap's
                definitions, as the ``levir_cc`` scorer), ``exact``
=============== =======================================================
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from eov.registry import HEADS, METRICS
from eov.slis.geometry import object_bounds

from ..box_ops import box_iou


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0


def _norm(text) -> str:
    return ' '.join(str(text or '').lower().strip().rstrip('.').split())


def detection_map(samples: list[dict], iou_thr: float = 0.5,
                  use_07_metric: bool = False) -> dict:
    """AP per class over hbb/obb/quad objects, with the DOTA devkit's matching.

    Predictions are ranked by ``score`` when they have one, else by their
    order in the answer; a match needs polygon IoU **>** ``iou_thr``;
    duplicates are false positives; ground truths flagged ``difficult`` are
    ignored (see :func:`eov.evaluation.benchmarks.dota.class_ap`).

    Args:
        samples: ``[{'gt': [objects], 'pred': [objects]}]`` per image.
        iou_thr: IoU threshold.
        use_07_metric: 11-point AP instead of the all-point area.

    Returns:
        ``{class: AP}`` for every class with ground truth.
    """
    from eov.slis.geometry import object_points

    from ..benchmarks.dota import class_ap

    def quad8(obj):
        return [v for point in object_points(obj) for v in point]
    classes = sorted({o['label'] for s in samples for o in s['gt'] if o.get('label')})
    aps = {}
    for cls in classes:
        gts = [[(quad8(o), o.get('difficult', 0)) for o in s['gt'] if o.get('label') == cls]
               for s in samples]
        dets = []
        for i, s in enumerate(samples):
            preds = [o for o in s['pred'] if o.get('label') == cls]
            dets += [(-float(o.get('score', -rank)), i, rank, quad8(o))
                     for rank, o in enumerate(preds)]
        dets.sort(key=lambda d: (d[0], d[1], d[2]))   # stable: score, image, answer order
        aps[cls] = class_ap(gts, [(i, q) for _, i, _, q in dets], ovthresh=iou_thr,
                            use_07_metric=use_07_metric)['ap']
    return aps


@METRICS.register_module()
class TaskMetric(BaseMetric):
    """Score every sample with its task head's parse and the task's usual metric.

    Args:
        serializer: SLIS serializer config the heads decode spatial answers with.
        classes: ``{task: [class names]}`` for heads that match class names.
        predictions_file: If set, write ``{"id", "task", "prediction"}`` lines.
        collect_device: MMEngine collection device.
        prefix: Unused (keys carry the task name).
    """

    default_prefix = None

    def __init__(self, serializer: dict, classes: dict | None = None,
                 predictions_file: str | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.serializer = serializer
        self.classes = dict(classes or {})
        self.predictions_file = predictions_file
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

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep what scoring needs of each sample (id, task, targets, prediction)."""
        for sample in data_samples:
            self.results.append(dict(id=sample['id'], task=sample['task'],
                                     targets=sample.get('targets', []),
                                     image_size=list(sample['image_size']),
                                     prediction=sample.get('prediction')))

    def compute_metrics(self, results: list) -> dict:
        """Per-task metrics, keys ``<task>/<metric>``."""
        by_task = defaultdict(list)
        for r in results:
            by_task[r['task']].append(r)
        out: dict[str, float] = {}
        for task, rows in sorted(by_task.items()):
            scorer = getattr(self, f'_score_{task}', None)
            if scorer is None:
                raise KeyError(f'TaskMetric has no scorer for task {task!r}')
            metrics = scorer(rows)
            metrics['n'] = float(len(rows))
            out.update({f'{task}/{k}': float(v) for k, v in metrics.items()})
        if self.predictions_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.predictions_file)), exist_ok=True)
            with open(self.predictions_file, 'w', encoding='utf-8') as f:
                for r in results:
                    f.write(json.dumps(dict(id=r['id'], task=r['task'],
                                            prediction=r['prediction'])) + '\n')
        return out

    # -- per task ---------------------------------------------------------------
    def _parse(self, task, r):
        return self.head(task).parse(r['prediction'] or '', tuple(r['image_size']))

    def _score_classification(self, rows):
        single, multi = [], []
        for r in rows:
            p = self._parse('classification', r)
            labels_t = [t for t in r['targets'] if t['type'] in ('label', 'labels')]
            truth = labels_t[0].get('labels') or [labels_t[0].get('label')]
            (multi if labels_t[0]['type'] == 'labels' else single).append(
                ({_norm(x) for x in truth}, {_norm(x) for x in p.get('labels') or []},
                 bool(p.get('parsed', p.get('labels')))))
        out = {'parse_rate': np.mean([s[2] for s in single + multi])}
        if single:
            out['accuracy'] = np.mean([len(pred) == 1 and pred == truth
                                       for truth, pred, _ in single])
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
            out['sample_f1'] = np.mean([_f1(len(t & p), len(p - t), len(t - p))
                                        for t, p, _ in multi])
        return out

    def _score_vqa(self, rows):
        text, counts, parsed = [], [], []
        for r in rows:
            p = self._parse('vqa', r)
            t = r['targets'][0]
            parsed.append(bool(str(r['prediction'] or '').strip()))
            if t['type'] == 'count':
                counts.append((int(t['count']), p.get('number')))
            else:
                text.append(_norm(t.get('text')) == _norm(p.get('text')))
        out = {'parse_rate': np.mean(parsed)}
        if text:
            out['accuracy'] = np.mean(text)
        if counts:
            out['count_exact'] = np.mean([p is not None and p == t for t, p in counts])
            got = [(t, p) for t, p in counts if p is not None]
            out['count_mae'] = np.mean([abs(t - p) for t, p in got]) if got else float('nan')
            out['count_parse_rate'] = len(got) / len(counts)
        return out

    def _score_choice(self, rows):
        hits, parsed = [], []
        for r in rows:
            p = self._parse('choice', r)
            t = next(t for t in r['targets'] if t['type'] == 'choice')
            truth = self.head('choice').answer_text([t], tuple(r['image_size']))
            parsed.append(p.get('choice') is not None)
            hits.append(p.get('choice') == truth)
        return {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed)}

    def _score_region(self, rows):
        hits, parsed = [], []
        for r in rows:
            p = self._parse('region', r)
            answer = [t for t in r['targets'] if t['type'] in ('label', 'text')][0]
            truth = _norm(answer.get('label') or answer.get('text'))
            got = _norm(p.get('label') if answer['type'] == 'label' else p.get('text'))
            parsed.append(bool(got))
            hits.append(got == truth)
        return {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed)}

    def _score_grounding(self, rows):
        ious, parsed = [], []
        for r in rows:
            p = self._parse('grounding', r)
            truth = next(t for t in r['targets'] if t['type'] in ('hbb', 'obb', 'quad'))
            tb = list(object_bounds(truth))
            parsed.append(p['box'] is not None)
            ious.append(float(box_iou(p['box'], tb)) if p['box'] is not None else 0.0)
        ious = np.asarray(ious)
        return {'Pr@0.5': np.mean(ious >= 0.5), 'meanIoU': ious.mean(),
                'parse_rate': np.mean(parsed)}

    def _score_detection(self, rows):
        samples, parsed = [], []
        for r in rows:
            p = self._parse('detection', r)
            parsed.append(bool(p.get('parsed')) or _norm(r['prediction']) == 'none')
            samples.append(dict(gt=[t for t in r['targets'] if t['type'] in ('hbb', 'obb',
                                                                              'quad')],
                                pred=p.get('objects') or []))
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

    def _score_segmentation(self, rows):
        ious, parsed = [], []
        for r in rows:
            p = self._parse('segmentation', r)
            parsed.append(bool(p.get('parsed')) or _norm(r['prediction']) == 'none')
            t = self._mask(r['targets'], r['image_size'])
            q = self._mask(p.get('objects') or [], r['image_size'])
            union = (t | q).sum()
            ious.append((t & q).sum() / union if union else 1.0)
        return {'mIoU': np.mean(ious), 'parse_rate': np.mean(parsed)}

    def _score_change(self, rows):
        tp = fp = fn = 0
        text_hits, parsed, pairs = [], [], []
        for r in rows:
            p = self._parse('change', r)
            texts = [t for t in r['targets'] if t['type'] == 'text']
            if texts:
                text_hits.append(_norm(p.get('text')) in {_norm(t['text']) for t in texts})
                pairs.append(([t['text'] for t in texts], p.get('text')))
                parsed.append(bool(p.get('text')))
                continue
            parsed.append(bool(p.get('parsed')))
            t = self._mask(r['targets'], r['image_size'])
            q = self._mask(p.get('objects') or [], r['image_size'])
            tp += int((t & q).sum())
            fp += int((q & ~t).sum())
            fn += int((t & ~q).sum())
        out = {'parse_rate': np.mean(parsed)}
        if len(text_hits) < len(rows):
            out['f1'] = _f1(tp, fp, fn)
            out['iou'] = tp / (tp + fp + fn) if (tp + fp + fn) else 1.0
        if text_hits:
            out['exact'] = np.mean(text_hits)
            out.update(self._caption_metrics(pairs))
        return out

    @staticmethod
    def _caption_metrics(pairs: list[tuple[list[str], str]]) -> dict:
        """BLEU-1..4, ROUGE_L, CIDEr (pycocoevalcap's definitions) of (references, answer)."""
        from ..benchmarks.levircc import caption_scores, ptb_tokenize
        refs = [[ptb_tokenize(t) for t in references] for references, _ in pairs]
        hyps = [ptb_tokenize(answer or '') for _, answer in pairs]
        return caption_scores(refs, hyps)

    def _score_captioning(self, rows):
        pairs, hits = [], []
        for r in rows:
            refs = [t['text'] for t in r['targets'] if t['type'] == 'text']
            answer = self._parse('captioning', r).get('text')
            pairs.append((refs, answer))
            hits.append(_norm(answer) in {_norm(t) for t in refs})
        out = {'exact': np.mean(hits), 'parse_rate': np.mean(
            [bool(str(r['prediction'] or '').strip()) for r in rows])}
        out.update(self._caption_metrics(pairs))
        return out
