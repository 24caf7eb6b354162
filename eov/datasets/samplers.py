"""Samplers: the weighted data mixture of a PCMA stage."""
from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Iterator, Mapping

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from eov.registry import DATA_SAMPLERS
from eov.utils.patterns import match_any


def record_source(info: dict) -> str:
    """The data source of a record: ``'modality/task'``."""
    return f"{info.get('modality')}/{info.get('task')}"


def source_groups(dataset) -> dict[str, list[int]]:
    """The record indices of each source, sources in first-appearance order."""
    groups: dict[str, list[int]] = OrderedDict()
    for i in range(len(dataset)):
        groups.setdefault(record_source(dataset.get_data_info(i)), []).append(i)
    return groups


def source_weights(sources: list[str], weights: Mapping[str, float]) -> dict[str, float]:
    """The weight of each source: that of the first pattern (in order) matching it.

    Sources no pattern matches get 0. Patterns are globs over ``'modality/task'``.
    """
    return {source: next((float(w) for pattern, w in weights.items()
                          if match_any(source, [pattern])), 0.0) for source in sources}


@DATA_SAMPLERS.register_module()
class MixtureSampler(Sampler):
    """Infinite sampler drawing records by a weighted mixture of data sources.

    A source is a ``modality/task`` pair of the dataset's records. Each draw
    picks a source with probability proportional to its weight, then a record
    of that source (each source is walked through in a fresh random order,
    so records of a source are seen evenly). Deterministic given ``seed``;
    every distributed rank draws its own stream (``seed + rank``).

    Args:
        dataset: The dataset (records need ``modality`` and ``task``).
        weights: ``{'modality/task' pattern: weight}`` (see
            :func:`source_weights`); ``None``: every record equally likely.
        seed: Random seed (``None``: synchronised across ranks at random).
        shuffle: Unused (always random; accepted for config compatibility).

    Raises:
        ValueError: when no record has positive weight, naming the patterns
            and the sources the dataset has.
    """

    def __init__(self, dataset, weights: Mapping[str, float] | None = None,
                 seed: int | None = None, shuffle: bool = True):
        self.dataset = dataset
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.groups = {k: np.asarray(v, dtype=np.int64)
                       for k, v in sorted(source_groups(dataset).items())}
        if weights is None:
            w = {k: float(len(v)) for k, v in self.groups.items()}
        else:
            w = source_weights(list(self.groups), weights)
        self.weights = {k: v for k, v in w.items() if v > 0}
        if not self.weights:
            raise ValueError(f'MixtureSampler: no record matches the mixture {dict(weights)}; '
                             f'the dataset has the sources {", ".join(self.groups)}')
        total = sum(self.weights.values())
        #: Realised-mixture target: probability of each source per draw.
        self.probabilities = {k: v / total for k, v in self.weights.items()}

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.rank])
        names = list(self.probabilities)
        probs = np.asarray([self.probabilities[n] for n in names])
        orders = {n: iter(()) for n in names}

        def next_of(name):
            try:
                return next(orders[name])
            except StopIteration:
                orders[name] = iter(rng.permutation(self.groups[name]).tolist())
                return next(orders[name])
        for _ in itertools.count():
            for k in rng.choice(len(names), size=1024, p=probs):
                yield next_of(names[k])

    def __len__(self) -> int:
        """Records with positive weight (the stream itself is infinite)."""
        return int(sum(len(self.groups[k]) for k in self.weights))

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the stream is infinite and seeded once."""


@DATA_SAMPLERS.register_module()
class GroupedSampler(Sampler):
    """Finite, ordered sampler for testing: records of one source next to each other.

    Generation stops when every answer of a batch has ended, so a batch of
    yes/no questions is done in two steps while one caption or detection in it
    keeps all 64 rows generating. Grouping the records by ``modality/task``
    (in first-appearance order, records in file order within a group) makes
    batches of like answers; the scores do not depend on the order. Each
    distributed rank takes every ``world_size``-th index of that order (padded
    as MMEngine's ``DefaultSampler``, whose result collection it relies on).

    Args:
        dataset: The dataset (records need ``modality`` and ``task``).
        shuffle: Unused (the order is fixed; accepted for config compatibility).
        seed: Unused (accepted for config compatibility).
    """

    def __init__(self, dataset, shuffle: bool = False, seed: int | None = None):
        self.dataset = dataset
        self.rank, self.world_size = get_dist_info()
        order = [i for idx in source_groups(dataset).values() for i in idx]
        # as MMEngine's DefaultSampler: pad to a multiple of the ranks, so that its
        # result collection (interleaving the ranks, cut to the dataset size) is exact
        total = -(-len(order) // self.world_size) * self.world_size
        order += order[:total - len(order)]
        self.indices = order[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the order is fixed."""
