"""Streaming instruction data: records read from shards (:mod:`eov.datasets.shards`) in an
order computed, not stored.

Every sample a run draws is a function of its position in one global stream, so nothing is
enumerated at start and a resume needs only the iteration it stopped at:

- **Mixture** (:class:`MixtureOrder`): the stream is cut into blocks of about 1024 draws; how
  many draws of each source come before block ``b`` is ``floor(b * 1024 * p_s + u_s)``, and a
  block's draws are visited in a keyed random order. So the sources come in their exact
  proportions, randomly interleaved, and draw ``g`` gives its source and how many earlier
  draws that source had in ``O(sources)``.
- **Records of a source**: the ``k``-th draw of a source of ``n`` records is record
  ``perm_e(k mod n)`` of epoch ``e = k // n``: a keyed bijection (:class:`KeyedPermutation`,
  a Feistel network), a new shuffle each pass, no index array.
- **Batches**: global batch ``b`` holds draws ``[b * B, (b + 1) * B)``. At iteration ``t``
  rank ``r`` of ``R`` trains on global batch ``t * R + r``, and data-loader worker ``w`` of
  ``W`` builds every ``W``-th of its rank's batches. A resume continues the same global order
  from the global batches trained (the checkpoint keeps where its run's count started and on
  how many ranks) on any number of ranks and workers: nothing repeated, nothing skipped.
- **Token budget** (``max_tokens``): each data-loader worker of each rank (a *slot*) reads its
  own share of the global draws (slot ``s`` of ``S``: draws ``offset + k * S + s``) into a
  buffer and fills ``rows`` rows of ``max_tokens`` tokens from it, oldest sample first
  (first fit; what does not fit waits for the next batch). A batch's sample count follows
  the samples' lengths, so the position of a slot is state: every batch carries its slot's
  ``(k, pending draws, buffered draws)``, the training loop keeps the state of the last
  batch trained of every slot in the checkpoint (:data:`eov.engine.loops.STREAM_STATE`), and
  a resume on the same ranks x workers continues exactly. On another number of slots
  (:func:`continue_budget_state`) the draws no slot reached below the furthest slot's
  position are dealt out first, then the stream goes on: nothing repeated, nothing skipped,
  only the order changes.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import tempfile
from typing import Mapping

from mmengine.logging import print_log
from torch.utils.data import IterableDataset, get_worker_info

from eov.registry import DATASETS, FUNCTIONS

from eov.modalities.io import RasterReadError

from .schema import RecordError
from .shards import ShardError, map_record_files, read_manifest

_MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _key(*parts: int) -> int:
    h = 0x243F6A8885A308D3
    for p in parts:
        h = _mix(h ^ (int(p) & _MASK64))
    return h


class KeyedPermutation:
    """A random bijection of ``range(n)`` chosen by ``key``, evaluated one index at a time
    (a 4-round Feistel network over the next even power of two, cycle-walking back into
    range), in constant memory.

    Args:
        n: Size of the range.
        key: Any integer; equal keys give equal permutations.
    """

    def __init__(self, n: int, key: int):
        if n < 1:
            raise ValueError(f'KeyedPermutation: n must be positive, got {n}')
        self.n = int(n)
        bits = max(2, (self.n - 1).bit_length())
        bits += bits % 2
        self.half = bits // 2
        self.mask = (1 << self.half) - 1
        self.keys = [_key(key, i) for i in range(4)]

    def __call__(self, i: int) -> int:
        if not 0 <= i < self.n:
            raise IndexError(f'{i} outside range({self.n})')
        x = i
        while True:
            left, right = x >> self.half, x & self.mask
            for k in self.keys:
                left, right = right, left ^ (_mix(right ^ k) & self.mask)
            x = (left << self.half) | right
            if x < self.n:
                return x


class MixtureOrder:
    """Which source each draw of a weighted mixture comes from, computed per draw.

    The stream is cut into blocks of about ``block`` draws. Source ``s`` of probability
    ``p`` has ``floor(b * block * p + u_s)`` draws before block ``b`` (``u_s`` a keyed offset
    in [0, 1)): exact proportions over any run of blocks, no replay to know them. Inside a
    block the sources' draws are interleaved in a keyed random order, each source's in its
    own order, so ``k`` counts a source's draws exactly and its records are used pass after
    pass.

    Args:
        weights: ``{source: weight}`` (weights > 0).
        seed: The stream's seed.
        block: Draws per block (about).
    """

    def __init__(self, weights: Mapping[str, float], seed: int = 0, block: int = 1024):
        positive = {s: float(w) for s, w in weights.items() if w > 0}
        if not positive:
            raise ValueError(f'MixtureOrder: no source has a positive weight: {dict(weights)}')
        total = sum(positive.values())
        self.sources = sorted(positive)
        self.block = int(block)
        self.rates = [self.block * positive[s] / total for s in self.sources]
        self.seed = int(seed)
        self.offsets = [_key(self.seed, 3, hash_source(s)) / 2.0 ** 64 for s in self.sources]
        self._cached = None

    def _before(self, b: int) -> list[int]:
        """Draws of each source before block ``b``."""
        return [int(b * r + u) for r, u in zip(self.rates, self.offsets)]

    def _block(self, b: int):
        """``(b, start, [(source index, k)] per position)`` of block ``b`` (cached)."""
        if self._cached is None or self._cached[0] != b:
            lo, hi = self._before(b), self._before(b + 1)
            ends = _cumulative(h - lo_s for h, lo_s in zip(hi, lo))
            perm = KeyedPermutation(max(1, ends[-1]), _key(self.seed, 1, b))
            taken = list(lo)
            draws = []
            for o in range(ends[-1]):
                s = bisect.bisect_right(ends, perm(o))
                draws.append((s, taken[s]))
                taken[s] += 1
            self._cached = (b, sum(lo), draws)
        return self._cached

    def __call__(self, g: int) -> tuple[str, int]:
        """``(source, k)``: draw ``g`` is the ``k``-th draw of ``source`` (both from 0)."""
        g = int(g)
        b = g // self.block
        while b > 0 and sum(self._before(b)) > g:
            b -= 1
        while sum(self._before(b + 1)) <= g:
            b += 1
        _, start, draws = self._block(b)
        s, k = draws[g - start]
        return self.sources[s], k


def open_arrow_dataset(path: str):
    """A ``datasets`` directory (``save_to_disk``) as one memory-mapped ``pyarrow`` table.

    Its ``state.json`` lists its Arrow files (IPC streams); ``pyarrow`` maps them directly,
    which is what ``datasets.load_from_disk`` does underneath, without importing ``datasets``
    in every data-loader worker.
    """
    import pyarrow as pa
    with open(os.path.join(path, 'state.json'), encoding='utf-8') as f:
        files = [entry['filename'] for entry in json.load(f)['_data_files']]
    tables = []
    for name in files:
        with pa.ipc.open_stream(pa.memory_map(os.path.join(path, name))) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


class ShardRecords:
    """Random access to the records of a shard directory, source by source.

    Parts are opened lazily (memory-mapped Arrow, :func:`open_arrow_dataset`; each worker
    opens its own).

    Args:
        shards: The shard directory.
    """

    def __init__(self, shards: str):
        self.root = shards
        self.manifest = read_manifest(shards)
        self.data_root = self.manifest.get('data_root', '')
        self.counts = {s: e['records'] for s, e in self.manifest['sources'].items()}
        self._parts = {s: [(os.path.join(shards, path), n) for path, n in e['parts']]
                       for s, e in self.manifest['sources'].items()}
        self._ends = {s: _cumulative(n for _, n in parts) for s, parts in self._parts.items()}
        self._open: dict[str, object] = {}

    def record(self, source: str, index: int) -> tuple[dict, str]:
        """``(record, where)`` of record ``index`` of ``source``."""
        columns, row = self._row(source, index)
        return json.loads(columns[0][row].as_py()), columns[1][row].as_py()

    def files(self, source: str, index: int) -> list[dict] | None:
        """``[{path, data}]``: the files embedded with record ``index`` of ``source``
        (``None`` when the shards reference their images instead)."""
        columns, row = self._row(source, index)
        return None if columns[2] is None else columns[2][row].as_py()

    def _row(self, source: str, index: int):
        ends = self._ends[source]
        part = bisect.bisect_right(ends, index)
        path, _ = self._parts[source][part]
        columns = self._open.get(path)
        if columns is None:
            try:
                table = open_arrow_dataset(path)
            except (OSError, ValueError, KeyError) as err:
                raise ShardError(f'{path}: cannot be read ({err}); rebuild the shards') from err
            columns = self._open[path] = (
                table.column('record'), table.column('where'),
                table.column('files') if 'files' in table.column_names else None)
        return columns, index - (ends[part - 1] if part else 0)


def continue_budget_state(state: Mapping | None, slots: int) -> dict:
    """Where each of ``slots`` slots of a token-budget stream starts.

    Args:
        state: The stream state of a stopped run (``{'slots', 'offset', 'per_slot': [{'k',
            'pending', 'buffer'}, ...]}``), or ``None`` for a fresh start.
        slots: Ranks x data-loader workers (at least one worker each) of this run.

    Returns:
        The state for ``slots``: the same one when the number of slots is unchanged; else
        every draw a slot of the stopped run had drawn but not trained (its buffer and
        pending draws) and every draw below the furthest slot's position that another slot
        had not reached, dealt out in order as the new slots' pending draws, and the shared
        stream continuing after the furthest position.
    """
    if state is None:
        return dict(slots=slots, offset=0,
                    per_slot=[dict(k=0, pending=[], buffer=[]) for _ in range(slots)])
    old, offset, per_slot = int(state['slots']), int(state['offset']), state['per_slot']
    if len(per_slot) != old:
        raise ValueError(f'stream state: {len(per_slot)} slot entries for slots={old}')
    if old == slots:
        return dict(slots=slots, offset=offset,
                    per_slot=[dict(k=int(p['k']), pending=list(p['pending']),
                                   buffer=list(p['buffer'])) for p in per_slot])
    furthest = max(int(p['k']) for p in per_slot)
    left = []
    for s, p in enumerate(per_slot):
        left += list(p['buffer']) + list(p['pending'])
        left += [offset + k * old + s for k in range(int(p['k']), furthest)]
    left.sort()
    return dict(slots=slots, offset=offset + furthest * old,
                per_slot=[dict(k=0, pending=left[s::slots], buffer=[]) for s in range(slots)])


def _cumulative(counts) -> list[int]:
    out, total = [], 0
    for n in counts:
        total += n
        out.append(total)
    return out


@DATASETS.register_module()
class StreamingInstructionDataset(IterableDataset):
    """Instruction records streamed from shards, in whole training batches.

    Yields collated batches (give the data loader ``batch_size=None``); the draws of each
    batch come from :class:`MixtureOrder` over the mixture's sources and a fresh
    :class:`KeyedPermutation` of each source per pass (see the module docstring). A
    training run's data are a function of ``seed``, the mixture and the iteration, so
    :meth:`resume_at` (called by eov's runner from the checkpoint's iteration) continues
    exactly where a run stopped, on any number of ranks and workers.

    Args:
        shards: Shard directory (``tools/build_shards.py``), or ``{name: directory}`` for
            several datasets.
        pipeline: Transforms applied to each record (as :class:`InstructionDataset`).
        batch_size: Samples per batch and rank.
        mixture: ``{'modality/task' pattern: weight}`` (a PCMA stage sets it);
            ``None``: every record equally likely.
        dataset_weights: ``{name: weight}`` over the datasets of a ``shards`` dict: each
            dataset gets that share of the draws, split over its sources by ``mixture``;
            ``None``: the sources of all datasets are pooled and weighed by ``mixture``.
        seed: Stream seed.
        collate: The collate function config (``eov_collate``; packing as configured).
        data_root: Directory image paths are relative to (default: each manifest's).
        max_bad_records: Samples that fail (unreadable image, invalid record, longer
            than ``max_tokens``) tolerated per worker before the run stops; each is logged
            with its file and line.
        max_tokens: Token budget: batches are ``rows`` packed rows of at most this many
            tokens, filled from a buffer of ``buffer`` samples (the module docstring;
            ``batch_size`` and the collate's ``max_tokens`` are then unused); ``None``:
            ``batch_size`` samples a batch.
        rows: Packed rows per batch with ``max_tokens``.
        buffer: Samples each worker holds to fill its rows from.
        modalities: Accepted for config compatibility with :class:`InstructionDataset`.
        test_mode: Streaming is for training: ``True`` is refused.
    """

    #: yields whole batches and mixes its sources itself (:func:`eov.registry.streams_batches`)
    streams_batches = True

    def __init__(self, shards, pipeline=(), batch_size: int = 8,
                 mixture: Mapping[str, float] | None = None,
                 dataset_weights: Mapping[str, float] | None = None, seed: int = 0,
                 collate: dict | None = None, data_root: str | None = None,
                 max_bad_records: int = 0, max_tokens: int | None = None, rows: int = 1,
                 buffer: int = 64, modalities=None, test_mode: bool = False):
        from mmengine.dataset import Compose
        if test_mode:
            raise ValueError('StreamingInstructionDataset streams training data; test with '
                             'InstructionDataset (every record once, in order)')
        self.shards = shards
        named = dict(shards) if isinstance(shards, Mapping) else {'': shards}
        if not named:
            raise ValueError('StreamingInstructionDataset: no shards given')
        self.datasets = {name: read_manifest(path) for name, path in named.items()}
        self.paths = named
        # a stream key per (dataset, source): the bare source for one dataset
        self.sources = {(f'{name}:{source}' if name else source): (name, source)
                        for name, manifest in self.datasets.items()
                        for source, entry in manifest['sources'].items() if entry['records']}
        self.counts = {key: self.datasets[name]['sources'][source]['records']
                       for key, (name, source) in self.sources.items()}
        if dataset_weights is not None:
            if not isinstance(shards, Mapping):
                raise ValueError('dataset_weights needs shards={name: directory, ...}, got '
                                 f'one directory {shards!r}')
            unknown = sorted(set(dataset_weights) - set(named))
            if unknown:
                raise ValueError(f'dataset_weights names {unknown}, but the shards are '
                                 f'{", ".join(named)}')
        self.dataset_weights = None if dataset_weights is None else dict(dataset_weights)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f'batch_size must be at least 1, got {batch_size}')
        self.seed = int(seed)
        self.data_roots = {name: (manifest.get('data_root', '') if data_root is None
                                  else data_root)
                           for name, manifest in self.datasets.items()}
        self.pipeline = Compose(list(pipeline))
        self.collate_cfg = dict(collate or dict(type='eov_collate'))
        self.max_bad_records = int(max_bad_records)
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.rows, self.buffer = int(rows), int(buffer)
        if self.max_tokens is not None:
            if self.max_tokens < 1 or self.rows < 1 or self.buffer < 1:
                raise ValueError('StreamingInstructionDataset: max_tokens, rows and buffer must '
                                 f'be at least 1, got {max_tokens}, {rows}, {buffer}')
            packs = self.collate_cfg.get('packing', False) or \
                'packed_collate' in str(self.collate_cfg.get('type'))
            if not packs:
                raise ValueError('StreamingInstructionDataset: max_tokens fills packed rows; '
                                 'the collate has packing=False')
            # the budget's rows are the collate's rows (its own max_tokens is not used)
            self.collate_cfg['max_tokens'] = self.max_tokens
        self.modalities = modalities
        self.start_iter = 0
        self.start_batch = None
        self.budget_state = None
        self.set_mixture(mixture)

    def set_mixture(self, mixture: Mapping[str, float] | None) -> None:
        """Use the weights ``{'modality/task' pattern: weight}`` (``None``: every record
        alike); refuses a mixture no source of the shards matches."""
        from .samplers import source_weights
        plain = sorted({source for _, source in self.sources.values()})
        pattern = None if mixture is None else source_weights(plain, mixture)
        weights = {key: float(self.counts[key]) if pattern is None else pattern[source]
                   for key, (_, source) in self.sources.items()}
        if self.dataset_weights is not None:
            totals = {}
            for key, (name, _) in self.sources.items():
                totals[name] = totals.get(name, 0.0) + weights[key]
            weights = {key: (float(self.dataset_weights.get(name, 0.0)) * weights[key] /
                             totals[name] if totals[name] else 0.0)
                       for key, (name, _) in self.sources.items()}
        self.weights = {s: w for s, w in weights.items() if w > 0}
        if not self.weights:
            raise ValueError(f'{self.shards}: no source matches the mixture {dict(mixture)}; '
                             f'the shards hold {", ".join(plain)}')
        self.mixture = None if mixture is None else dict(mixture)
        self.order = MixtureOrder(self.weights, seed=self.seed)

    def __len__(self) -> int:
        """Batches in one pass over the records of the mixture's sources (the stream itself
        does not end; MMEngine reads this for its logs)."""
        records = sum(self.counts[key] for key in self.weights)
        return max(1, -(-records // self.batch_size))

    def resume_at(self, iteration: int, batches: int | None = None) -> None:
        """Start the stream at training iteration ``iteration`` (a resumed run).

        Args:
            iteration: The iteration training continues after.
            batches: Global batches trained before it (by every rank; default
                ``iteration`` times this run's number of ranks). A run resumed on another
                number of ranks gives the count of the run that stopped, and goes on at
                the next global batch.
        """
        self.start_iter = int(iteration)
        self.start_batch = None if batches is None else int(batches)

    def resume_budget(self, state: Mapping | None) -> None:
        """Continue a token-budget stream from a stopped run's state (the checkpoint's
        :data:`eov.engine.loops.STREAM_STATE`; ``None``: from the start)."""
        self.budget_state = None if state is None else dict(state)

    def budget_start(self, world: int, workers: int) -> dict:
        """The token-budget state this stream starts from on ``world`` ranks with
        ``workers`` data-loader workers each (:func:`continue_budget_state`)."""
        return continue_budget_state(self.budget_state, world * max(1, workers))

    def draw(self, g: int, records: Mapping[str, ShardRecords]) -> tuple[dict, str, str, list]:
        """The record of global draw ``g``, where it came from, its dataset's name and its
        embedded files (``None``: referenced).

        Args:
            g: The global draw.
            records: ``{dataset name: ShardRecords}``.
        """
        key, k = self.order(g)
        name, source = self.sources[key]
        epoch, i = divmod(k, self.counts[key])
        index = KeyedPermutation(self.counts[key],
                                 _key(self.seed, 2, hash_source(key), epoch))(i)
        shard = records[name]
        return (*shard.record(source, index), name, shard.files(source, index))

    def batch_draws(self, iteration: int, rank: int, world_size: int) -> range:
        """The global draws of ``rank``'s batch at ``iteration``."""
        start = self.start_iter * world_size if self.start_batch is None else self.start_batch
        b = start + (iteration - self.start_iter) * world_size + rank
        return range(b * self.batch_size, (b + 1) * self.batch_size)

    def __iter__(self):
        from mmengine.dist import get_dist_info

        from eov.registry import FUNCTIONS as functions
        rank, world = get_dist_info()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        records = {name: ShardRecords(path) for name, path in self.paths.items()}
        cfg = dict(self.collate_cfg)
        collate = functions.get(cfg.pop('type', 'eov_collate'))
        self._bad = 0
        if self.max_tokens is not None:
            # the loader takes batch i from worker i % workers: at a resume at iteration t
            # its worker w has the batches slot (t + w) % workers had next
            slot = rank * workers + (self.start_iter + worker) % workers
            yield from self._budget_batches(slot, world * workers, records, collate, cfg)
            return
        iteration = self.start_iter + worker
        while True:
            samples = [sample for g in self.batch_draws(iteration, rank, world)
                       if (sample := self._sample(g, records)) is not None]
            if samples:
                yield collate(samples, **cfg)
            iteration += workers

    def _sample(self, g: int, records: Mapping[str, ShardRecords]) -> dict | None:
        """The pipeline's sample of draw ``g``; ``None`` for a bad one (logged and counted;
        more than ``max_bad_records`` in this worker raise :class:`RecordError`)."""
        record, where, name, files = self.draw(g, records)
        root, scratch = self.data_roots[name], None
        try:
            if files is not None:      # embedded: the files are written out for the readers
                record, root = self._unpack(record, files)
                scratch = root
            sample = self.pipeline(dict(record, data_root=root, source=where))
            if sample is not None and self.max_tokens is not None:
                length = len(sample['inputs']['input_ids'])
                if length > self.max_tokens:
                    raise RecordError(f'{where}: {length} tokens do not fit max_tokens='
                                      f'{self.max_tokens}')
        except (RasterReadError, RecordError) as err:
            self._bad += 1
            message = str(err) if str(err).startswith(where) else f'{where}: {err}'
            if self._bad > self.max_bad_records:
                if self.max_bad_records:
                    message += (f' ({self._bad} bad samples in this worker: more than '
                                f'max_bad_records={self.max_bad_records})')
                raise RecordError(message) from err
            print_log(f'skipping bad sample: {message}', logger='current',
                      level=logging.WARNING)
            return None
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if sample is not None:
            sample['data_sample']['draw'] = g
        return sample

    @staticmethod
    def _unpack(record: dict, files: list[dict]) -> tuple[dict, str]:
        """Write a record's embedded files into a new scratch directory (removed once the
        sample is built), each under its own base name.

        Returns:
            The record, its paths rewritten to those files, and the scratch directory.
        """
        scratch = tempfile.mkdtemp(prefix='eov-embedded-')
        local = {}
        for i, item in enumerate(files):
            path = item['path']
            target = os.path.join(scratch, f'{i}_{os.path.basename(path)}')
            with open(target, 'wb') as f:
                f.write(item['data'])
            local[path] = target
        map_record_files(record, lambda path: local.get(path, path))
        return record, scratch

    def _budget_batches(self, slot: int, slots: int, records, collate, cfg):
        """Token-budget batches of one slot (module docstring), each with its
        ``stream_state``: the slot's position after it."""
        state = continue_budget_state(self.budget_state, slots)
        offset, mine = state['offset'], state['per_slot'][slot]
        k, pending = mine['k'], list(mine['pending'])
        buffer = []      # (draw, sample, tokens), oldest first

        def keep(g):
            sample = self._sample(g, records)
            if sample is not None:
                buffer.append((g, sample, len(sample['inputs']['input_ids'])))

        for g in mine['buffer']:
            keep(g)
        while True:
            while len(buffer) < self.buffer:
                if pending:
                    keep(pending.pop(0))
                else:
                    keep(offset + k * slots + slot)
                    k += 1
            room, bins, chosen = [self.max_tokens] * self.rows, [[] for _ in range(self.rows)], []
            for j, (_, _, n) in enumerate(buffer):
                for r in range(self.rows):
                    if n <= room[r]:
                        room[r] -= n
                        bins[r].append(len(chosen))
                        chosen.append(j)
                        break
            picked = set(chosen)
            samples = [buffer[j][1] for j in chosen]
            buffer = [item for j, item in enumerate(buffer) if j not in picked]
            batch = collate(samples, rows=[b for b in bins if b], **cfg)
            batch['stream_state'] = dict(slot=slot, slots=slots, offset=offset, k=k,
                                         pending=list(pending),
                                         buffer=[g for g, _, _ in buffer])
            yield batch


def hash_source(source: str) -> int:
    """A stable integer of a source name (Python's ``hash`` of a string is salted)."""
    import hashlib
    return int.from_bytes(hashlib.blake2b(source.encode('utf-8'), digest_size=8).digest(),
                          'little')


@FUNCTIONS.register_module()
def streaming_collate(batch):
    """The data loader's collate for :class:`StreamingInstructionDataset` (batches come
    collated): the identity."""
    return batch
