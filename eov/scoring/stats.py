"""Resampling statistics of a cell's score: what an interval's bootstrap draws.

Each statistic is a function of record *multiplicities* ``w`` (``(B, n)``: how
often each of the ``n`` records is drawn in each of ``B`` resamples), so a
resample is a weighted sum rather than a re-scoring. With all multiplicities 1
each gives exactly the cell's value. Task heads return them from
``record_stat`` (:class:`~eov.heads.base.BaseTaskHead`);
:mod:`eov.evaluation.intervals` draws the resamples.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class MeanStat:
    """Mean of per-record values under resampling weights."""

    def __init__(self, values: Sequence[float]):
        self.values = np.asarray(values, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.values)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return (w @ self.values) / np.maximum(w.sum(1), 1e-300)


class RatioStat:
    """``sum(w * num) / sum(w * den)`` per resample (``empty`` where the denominator is 0)."""

    def __init__(self, num: Sequence[float], den: Sequence[float], empty: float = 1.0):
        self.num = np.asarray(num, dtype=np.float64)
        self.den = np.asarray(den, dtype=np.float64)
        self.empty = float(empty)

    def __len__(self) -> int:
        return len(self.num)

    def __call__(self, w: np.ndarray) -> np.ndarray:
        num, den = w @ self.num, w @ self.den
        out = np.full(len(w), self.empty)
        ok = den > 0
        out[ok] = num[ok] / den[ok]
        return out


def _all_point_ap(rec: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Rowwise all-point AP (the VOC / DOTA devkit's ``voc_ap(use_07_metric=False)``).

    The area under the precision envelope: the devkit sums over the recall
    steps only; the other terms here have zero width.
    """
    b = rec.shape[0]
    mrec = np.concatenate([np.zeros((b, 1)), rec, np.ones((b, 1))], axis=1)
    mpre = np.concatenate([np.zeros((b, 1)), prec, np.zeros((b, 1))], axis=1)
    envelope = np.maximum.accumulate(mpre[:, ::-1], axis=1)[:, ::-1]
    return (np.diff(mrec, axis=1) * envelope[:, 1:]).sum(1)


class APStat:
    """Mean over classes of all-point AP, with images resampled.

    Args:
        classes: Per class, ``(image, tp, fp)`` of its detections in ranking
            order (``tp``/``fp`` as the matching decided) and ``gt``: the
            class's counted ground truths per image (``(n_images,)``) and
            ``present``: its objects per image, difficult ones included (a
            class is averaged in a resample when one of them is drawn).
        n_images: Records of the cell.
    """

    def __init__(self, classes: Sequence[dict], n_images: int):
        self.classes = [dict(image=np.asarray(c['image'], dtype=np.int64),
                             tp=np.asarray(c['tp'], dtype=np.float64),
                             fp=np.asarray(c['fp'], dtype=np.float64),
                             gt=np.asarray(c['gt'], dtype=np.float64),
                             present=np.asarray(c['present'], dtype=np.float64))
                        for c in classes]
        self.n = int(n_images)

    def __len__(self) -> int:
        return self.n

    def __call__(self, w: np.ndarray) -> np.ndarray:
        b = len(w)
        total, count = np.zeros(b), np.zeros(b)
        for c in self.classes:
            present = (w @ c['present']) > 0
            npos = w @ c['gt']
            if len(c['image']):
                dw = w[:, c['image']]
                tp_c = np.cumsum(dw * c['tp'], axis=1)
                fp_c = np.cumsum(dw * c['fp'], axis=1)
                with np.errstate(invalid='ignore', divide='ignore'):
                    rec = tp_c / npos[:, None]
                prec = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
                ap = _all_point_ap(np.nan_to_num(rec), prec)
            else:
                ap = np.zeros(b)
            ap = np.where(npos > 0, ap, 0.0)
            total += np.where(present, ap, 0.0)
            count += present
        return np.where(count > 0, total / np.maximum(count, 1), 0.0)
