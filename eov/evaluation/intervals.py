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
  rather than a re-scoring (:mod:`eov.scoring.stats`, where the task heads
  build them): :class:`~eov.scoring.stats.MeanStat` (mean of per-record values),
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
    if any(v is None or not math.isfinite(float(v)) for v in (low, high, chance)):
        return None
    return float(high) < float(chance) if lower_is_better else float(low) > float(chance)
