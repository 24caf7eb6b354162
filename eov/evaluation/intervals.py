"""95% intervals of a cell's score: Wilson for proportions, a bootstrap over records otherwise.

A scoreboard cell holds 50-ish test records, so its score moves by several
points from one record more or less. Each cell's headline metric gets an
interval, and a cell counts as *learned* only when the whole interval lies on
the good side of its chance score (:func:`learned`).

- Proportions (accuracy, ``Acc@0.5``, ``count_exact``): the Wilson score
  interval of ``k`` hits in ``n`` records (:func:`wilson_interval`).
- Everything else (``mIoU``, ``sample_f1``, CIDEr, change ``f1``, ``mAP@0.5``,
  ``count_mae``): a percentile bootstrap over records. The statistic is written
  as a function of record *multiplicities* ``w`` (``(B, n)``, how often each
  record is drawn in each of ``B`` resamples), so a resample is a weighted sum
  rather than a re-scoring: :class:`MeanStat` (mean of per-record values),
  :class:`RatioStat` (``sum w*num / sum w*den``: pooled F1, a mean over the
  parsed records), :class:`APStat` (all-point AP per class, averaged; each
  detection keeps its match, which depends only on its own image). With all
  multiplicities 1 each statistic gives exactly the cell's value.

CIDEr is bootstrapped over its per-image scores with the document frequencies
of the whole cell (the usual per-image treatment; recomputing the frequencies
per resample would change the scale of every score, not its sampling spread).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Metrics that are a share of records (Wilson intervals).
PROPORTION_METRICS = frozenset({'accuracy', 'count_exact', 'exact', 'count_parse_rate',
                                'parse_rate'})
#: Confidence level of every interval.
LEVEL = 0.95
#: Bootstrap resamples.
N_BOOT = 2000


def is_proportion(metric: str) -> bool:
    """Whether ``metric`` is a share of records (``Acc@<t>`` included)."""
    return metric in PROPORTION_METRICS or metric.startswith('Acc@')


def _z(level: float) -> float:
    from statistics import NormalDist
    return NormalDist().inv_cdf(0.5 + level / 2)


def wilson_interval(hits: float, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of ``hits`` successes in ``n`` trials.

    Returns:
        ``(low, high)`` in [0, 1]; ``(nan, nan)`` for ``n == 0``.
    """
    if n <= 0:
        return math.nan, math.nan
    z = _z(level)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if hits <= 0 else max(0.0, centre - half)     # exact ends, no rounding residue
    high = 1.0 if hits >= n else min(1.0, centre + half)
    return low, high


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


def bootstrap_interval(stat, n_boot: int = N_BOOT, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` over its records.

    Args:
        stat: A statistic of resampling weights (:class:`MeanStat`,
            :class:`RatioStat`, :class:`APStat`), ``len(stat)`` records.
        n_boot: Resamples (drawn in chunks, so memory stays small).
        level: Confidence level.
        seed: Seed of the resampling (the interval is deterministic).

    Returns:
        ``(low, high)``; ``(nan, nan)`` without records.
    """
    n = len(stat)
    if n == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    values = []
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        w = np.zeros((b, n))
        np.add.at(w, (np.repeat(np.arange(b), n), idx.ravel()), 1.0)
        values.append(stat(w))
        done += b
    values = np.concatenate(values)
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return float(low), float(high)


def learned(low, high, chance, lower_is_better: bool = False) -> bool | None:
    """Whether the interval ``[low, high]`` lies wholly on the good side of ``chance``.

    ``None`` when the interval or the chance score is missing.
    """
    values = [low, high, chance]
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return None
    return float(high) < float(chance) if lower_is_better else float(low) > float(chance)
