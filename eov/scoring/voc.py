"""Ports of ``voc_ap`` and ``voc_eval`` (per-class matching) of the DOTA devkit's
``dota_evaluation_task1.py``: the DOTA benchmark must match the official numbers bit for
bit, and TaskMetric's detection cells match detections the same way."""
from __future__ import annotations

import numpy as np

from .polyiou import poly_iou


def voc_ap(rec, prec, use_07_metric: bool = False) -> float:
    """VOC average precision of a recall/precision curve (the devkit's ``voc_ap``)."""
    rec = np.asarray(rec, dtype=np.float64)
    prec = np.asarray(prec, dtype=np.float64)
    if use_07_metric:
        ap = 0.
        for t in np.arange(0., 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.
        return float(ap)
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def class_ap(gts: list[list[tuple]], dets: list[tuple], ovthresh: float = 0.5,
             use_07_metric: bool = True) -> dict:
    """One class's AP as the devkit's ``voc_eval``.

    Args:
        gts: Per image, its ground truths of the class: ``(quad8, difficult)``.
        dets: Detections ``(image index, quad8)`` already in ranking order
            (highest confidence first).
        ovthresh: A match needs IoU **>** this.
        use_07_metric: 11-point interpolation (the devkit's ``main()``) or the
            all-point area.

    Returns:
        ``{'ap', 'tp', 'fp', 'npos', 'rec', 'prec', 'tp_flags', 'fp_flags'}`` (the
        flags: per detection, whether it counted as a true / false positive). A class without
        non-difficult ground truth gets AP 0 (the 11-point rule gives 0 there;
        the all-point rule would give ``nan`` when such a class has detections).
    """
    boxes = [np.array([g[0] for g in img], dtype=np.float64).reshape(-1, 8) for img in gts]
    difficult = [np.array([bool(g[1]) for g in img], dtype=bool) for img in gts]
    taken = [[False] * len(img) for img in gts]
    npos = int(sum(int((~d).sum()) for d in difficult))
    nd = len(dets)
    tp = np.zeros(nd)
    fp = np.zeros(nd)
    for k, (img, quad) in enumerate(dets):
        bb = np.asarray(quad, dtype=np.float64)
        bbgt = boxes[img]
        ovmax = -np.inf
        jmax = -1
        if bbgt.size > 0:
            # 1. axis-aligned pre-filter with the devkit's +1 pixel convention
            gx1, gy1 = bbgt[:, 0::2].min(1), bbgt[:, 1::2].min(1)
            gx2, gy2 = bbgt[:, 0::2].max(1), bbgt[:, 1::2].max(1)
            bx1, by1, bx2, by2 = bb[0::2].min(), bb[1::2].min(), bb[0::2].max(), bb[1::2].max()
            iw = np.maximum(np.minimum(gx2, bx2) - np.maximum(gx1, bx1) + 1., 0.)
            ih = np.maximum(np.minimum(gy2, by2) - np.maximum(gy1, by1) + 1., 0.)
            inters = iw * ih
            uni = ((bx2 - bx1 + 1.) * (by2 - by1 + 1.) + (gx2 - gx1 + 1.) * (gy2 - gy1 + 1.)
                   - inters)
            keep = np.where(inters / uni > 0)[0]
            # 2. polygon IoU with the ground truths that remain
            if len(keep) > 0:
                overlaps = [poly_iou(bbgt[j], bb) for j in keep]
                ovmax = np.max(overlaps)
                jmax = int(keep[int(np.argmax(overlaps))])
        if ovmax > ovthresh:
            if not difficult[img][jmax]:
                if not taken[img][jmax]:
                    tp[k] = 1.
                    taken[img][jmax] = True
                else:
                    fp[k] = 1.
        else:
            fp[k] = 1.
    fp_c = np.cumsum(fp)
    tp_c = np.cumsum(tp)
    flags = {'tp_flags': tp, 'fp_flags': fp}   # per detection, for bootstrap intervals
    if npos == 0:
        return {'ap': 0.0, 'tp': int(tp.sum()), 'fp': int(fp.sum()), 'npos': 0,
                'rec': np.zeros(nd), 'prec': tp_c / np.maximum(tp_c + fp_c, 1e-300), **flags}
    rec = tp_c / float(npos)
    prec = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
    return {'ap': voc_ap(rec, prec, use_07_metric), 'tp': int(tp.sum()), 'fp': int(fp.sum()),
            'npos': npos, 'rec': rec, 'prec': prec, **flags}
