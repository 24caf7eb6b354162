"""The data path at corpus scale (``python tools/benchmark.py data-scale``).

EOV-Synth v2 training records (every modality and task, their GeoTIFFs a small shared pool)
are repeated under new ids to ``N`` records, written as JSONL and built into shards
(:func:`~eov.datasets.shards.build_shards`). Each measurement runs in a fresh process:
time to the first training batch of :class:`~eov.datasets.streaming.StreamingInstructionDataset`
(the demo pipeline), the same after a resume at iteration one million, the process's
peak and anonymous resident memory and the peak of a data-loader worker after four batches;
beside it, what the JSONL ``InstructionDataset`` needs to
load the same file (up to ``jsonl_limit`` records: it holds every record in memory).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Iterator

_MEASURE = r'''
import json, resource, sys, time
t0 = time.perf_counter()
def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
from mmengine.registry import init_default_scope
from eov.engine import fill_config_image_tokens
from eov.engine.config import load_config
from eov.registry import DATASETS
init_default_scope('eov')
kind, path, resume = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = load_config('configs/eov_tiny_pcma.py')
fill_config_image_tokens(cfg)
pipeline = cfg.train_dataloader.dataset.pipeline
base = status('VmRSS')
t = time.perf_counter()
worker = {}
if kind == 'streaming':
    ds = DATASETS.build(dict(type='StreamingInstructionDataset', shards=path, pipeline=pipeline,
                             batch_size=16, collate=dict(type='eov.eov_collate', packing=True)))
    ds.resume_at(resume)
    batch = next(iter(ds))
    n = len(batch['data_samples'])
    first = time.perf_counter() - t
    # the same through one data-loader worker: the worker's own peak memory
    import torch
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1,
                                         collate_fn=lambda b: b)
    it = iter(loader)
    for _ in range(4):
        next(it)
    pid = it._workers[0].pid
    for line in open(f'/proc/{pid}/status'):
        if line.startswith('VmHWM'):
            worker['worker_peak_rss_mb'] = round(int(line.split()[1]) / 1024)
    del it
else:
    ds = DATASETS.build(dict(type='InstructionDataset', ann_file=path, pipeline=pipeline,
                             data_root=sys.argv[4]))
    n = len(ds)
    ds[0]
    first = time.perf_counter() - t
print(json.dumps(dict(first_batch_s=round(first, 3), samples=n, **worker,
                      process_s=round(time.perf_counter() - t0, 3),
                      rss_after_imports_mb=round(base), peak_rss_mb=round(status('VmHWM')),
                      anon_rss_mb=round(status('RssAnon')))))
'''


def write_scaled_records(source: str, out: str, n: int) -> None:
    """Write ``n`` records: those of ``source`` (a JSONL file) repeated under new ids."""
    with open(source, encoding='utf-8') as f:
        base = [json.loads(line) for line in f if line.strip()]
    with open(out, 'w', encoding='utf-8') as f:
        for i in range(n):
            record = base[i % len(base)]
            record['id'] = f'scale-{i}'
            f.write(json.dumps(record) + '\n')


def _measure(root: str, args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, '-c', _MEASURE, *args], cwd=root,
                          capture_output=True, text=True, timeout=3600,
                          env=dict(os.environ, PYTHONPATH=root))
    if proc.returncode != 0:
        raise RuntimeError(f'measurement {args} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _synth_train(cache: str) -> tuple[str, str]:
    """``(repository root, absolute directory)`` of the 500 EOV-Synth v2 training records
    (every modality and task, seed 0) the benchmarks build on, generated once in ``cache``."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    synth = os.path.abspath(os.path.join(cache, 'synth'))
    if not os.path.isfile(os.path.join(synth, 'train.jsonl')):
        subprocess.run([sys.executable, '-m', 'eov.datasets.synth', synth, '--train', '500',
                        '--test', '0', '--seed', '0', '--choice-answer', 'option',
                        '--no-progress'], check=True, cwd=root,
                       env=dict(os.environ, PYTHONPATH=root))
    return root, synth


def benchmark_scale(records=(100_000, 10_000_000), cache: str = 'work_dirs/data_scale',
                    jsonl_limit: int = 200_000, resume_iter: int = 1_000_000) -> Iterator[dict]:
    """Build shards of each size (kept in ``cache``) and measure them.

    Yields:
        One dict per measurement (``what``: ``build``, ``first_batch``, ``resume`` or
        ``jsonl_load``).
    """
    from .shards import build_shards
    root, synth = _synth_train(cache)
    for n in records:
        jsonl = os.path.join(cache, f'records_{n}.jsonl')
        shards = os.path.abspath(os.path.join(cache, f'shards_{n}'))
        if not os.path.isfile(os.path.join(shards, 'manifest.json')):
            start = time.perf_counter()
            write_scaled_records(os.path.join(synth, 'train.jsonl'), jsonl, n)
            written = time.perf_counter() - start
            start = time.perf_counter()
            build_shards(jsonl, shards, data_root=synth, progress=False)
            yield dict(bench='data-scale', what='build', records=n,
                       write_jsonl_s=round(written, 1),
                       build_shards_s=round(time.perf_counter() - start, 1),
                       records_per_s=round(n / (time.perf_counter() - start)),
                       shards_gb=round(sum(os.path.getsize(os.path.join(d, f))
                                           for d, _, fs in os.walk(shards) for f in fs) / 2**30,
                                       2))
        yield dict(bench='data-scale', what='first_batch', records=n,
                   **_measure(root, ['streaming', shards, '0']))
        yield dict(bench='data-scale', what='resume', records=n, resume_iter=resume_iter,
                   **_measure(root, ['streaming', shards, str(resume_iter)]))
        if n <= jsonl_limit and os.path.isfile(jsonl):
            yield dict(bench='data-scale', what='jsonl_load', records=n,
                       **_measure(root, ['jsonl', os.path.abspath(jsonl), '0', synth]))


def benchmark_packing(pipeline: list, max_tokens=(512, 1024, 2048), batch_size: int = 16,
                      rows: int = 1, buffer: int = 64, batches: int = 40,
                      cache: str = 'work_dirs/data_scale') -> Iterator[dict]:
    """Token-budget batches against fixed ``batch_size`` batches on the EOV-Synth v2 mixture.

    Streams ``batches`` batches through ``pipeline`` (the demo's training pipeline, its
    image-token counts filled in) from shards of 500 training records (every modality and
    task; built once in ``cache``) in both modes and reports tokens per batch (mean and
    spread), samples per batch and the packing efficiency (tokens / (rows x ``max_tokens``))
    of the token budget.

    Yields:
        One dict per mode and budget.
    """
    import statistics

    from mmengine.registry import init_default_scope

    from eov.registry import DATASETS

    from .shards import build_shards
    _, synth = _synth_train(cache)
    shards = os.path.join(cache, 'shards_synth')
    if not os.path.isfile(os.path.join(shards, 'manifest.json')):
        build_shards(os.path.join(synth, 'train.jsonl'), shards, data_root=synth, progress=False)
    init_default_scope('eov')

    def stream(**kwargs):
        ds = DATASETS.build(dict(type='StreamingInstructionDataset', shards=shards,
                                 pipeline=pipeline, batch_size=batch_size,
                                 collate=dict(type='eov.eov_collate', packing=True), **kwargs))
        it = iter(ds)
        out = [next(it) for _ in range(batches)]
        tokens = [int(b['inputs']['input_ids'].numel() * (1 - b['inputs']['padding_fraction']))
                  for b in out]
        row = dict(tokens_per_batch=round(statistics.mean(tokens), 1),
                   tokens_per_batch_cv=round(statistics.pstdev(tokens) / statistics.mean(tokens),
                                             3),
                   samples_per_batch=round(statistics.mean(len(b['data_samples'])
                                                           for b in out), 2),
                   longest_row=max(int(b['inputs']['input_ids'].shape[1]) for b in out))
        if kwargs:
            row['packing_efficiency'] = round(statistics.mean(
                b['inputs']['packing_efficiency'] for b in out), 4)
        return row

    yield dict(bench='packing', mode='fixed', batch_size=batch_size, batches=batches,
               **stream())
    for budget in max_tokens:
        yield dict(bench='packing', mode='token_budget', max_tokens=budget, rows=rows,
                   buffer=buffer, batches=batches,
                   **stream(max_tokens=budget, rows=rows, buffer=buffer))
