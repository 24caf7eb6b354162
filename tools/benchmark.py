"""eov benchmarks; each prints JSON lines (one measurement per line).

    python tools/benchmark.py slis [--n 200] [--image-size 1024 1024] [--out FILE]
    python tools/benchmark.py data [--samples 64] [--tile 256] [--workers 0 2] [--repeats 1]
    python tools/benchmark.py data-scale [--records 100000 10000000] [--cache DIR]
    python tools/benchmark.py packing [--max-tokens 512 1024 2048] [--buffer 64]
    python tools/benchmark.py train-step --config CONFIG [--device cpu|cuda] [--steps N]
    python tools/benchmark.py infer --config CONFIG [--checkpoint CKPT] [--batch-sizes 1 8]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _machine() -> dict:
    import torch
    return {'python': platform.python_version(), 'torch': torch.__version__,
            'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count()}


def run_slis(args) -> list[dict]:
    """Token cost and speed of every SLIS serializer x geometry type."""
    from eov.processing.serializer_cost import DEFAULT_SERIALIZERS, benchmark_serializers
    names = args.serializers or list(DEFAULT_SERIALIZERS)
    unknown = [n for n in names if n not in DEFAULT_SERIALIZERS]
    if unknown:
        raise SystemExit(f'unknown serializer(s) {unknown}; choose from {list(DEFAULT_SERIALIZERS)}')
    machine = _machine()
    rows = []
    for row in benchmark_serializers({n: DEFAULT_SERIALIZERS[n] for n in names}, n=args.n,
                                     image_size=tuple(args.image_size),
                                     min_seconds=args.min_seconds):
        row['machine'] = machine
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_data(args) -> list[dict]:
    """Samples/s of the full pipeline on 12-band tiles of the real Sentinel-2 scene."""
    from eov.datasets.throughput import benchmark_data
    machine = _machine()
    rows = []
    for row in benchmark_data(samples=args.samples, tile=args.tile, workers=args.workers,
                              datasets=args.datasets, repeats=args.repeats,
                              batch_size=args.batch_size, image_size=args.image_size):
        row['machine'] = machine
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_data_scale(args) -> list[dict]:
    """Shards of N records: build time, first batch, resume, memory (fresh processes)."""
    from eov.datasets.scale import benchmark_scale
    machine = _machine()
    rows = []
    for row in benchmark_scale(records=args.records, cache=args.cache,
                               jsonl_limit=args.jsonl_limit):
        row['machine'] = machine
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_packing(args) -> list[dict]:
    """Token-budget batches vs fixed-size batches: tokens per batch, packing efficiency."""
    from eov.datasets.scale import benchmark_packing
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import load_config
    cfg = load_config(args.config)
    fill_config_image_tokens(cfg)     # the model's visual tokens per modality
    machine = _machine()
    rows = []
    for row in benchmark_packing(cfg.train_dataloader.dataset.pipeline,
                                 max_tokens=args.max_tokens, batch_size=args.batch_size,
                                 rows=args.rows, buffer=args.buffer, batches=args.batches,
                                 cache=args.cache):
        row['machine'] = machine
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_train_step(args) -> list[dict]:
    """Packed vs padded training-step throughput of a config's model."""
    import torch
    from mmengine.registry import init_default_scope

    from eov.engine.config import load_config
    from eov.engine.train_bench import benchmark_train_step
    from eov.registry import MODELS
    cfg = load_config(args.config)
    if args.attention:
        cfg.model.attention = args.attention
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    machine = _machine()
    if args.device == 'cuda':
        machine['gpu'] = torch.cuda.get_device_name(0)
    rows = []
    for row in benchmark_train_step(model, device=args.device, steps=args.steps,
                                    warmup=args.warmup, min_len=args.min_len,
                                    max_len=args.max_len, tokens_per_step=args.tokens_per_step):
        row['config'] = args.config
        row['machine'] = machine
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def run_infer(args) -> list[dict]:
    """Requests/s by batch size and tiles/s of a whole scene (real Sentinel-2 imagery)."""
    import torch

    from eov.apis import EOVInferencer
    from eov.apis.bench import benchmark_inference
    torch.manual_seed(0)
    inf = EOVInferencer(args.config, args.checkpoint, device=args.device)
    machine = _machine()
    if args.device.startswith('cuda'):
        machine['gpu'] = torch.cuda.get_device_name(0)
    rows = []
    for row in benchmark_inference(inf, batch_sizes=args.batch_sizes, requests=args.requests,
                                   tile=args.tile, scene_tile=args.scene_tile or None,
                                   max_new_tokens=args.max_new_tokens):
        row.update(config=args.config, checkpoint=args.checkpoint, machine=machine)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='bench', required=True)
    slis = sub.add_parser('slis', help='tokens per object and encode/decode speed of the '
                                       'SLIS serializers')
    slis.add_argument('--n', type=int, default=200, help='objects per geometry type')
    slis.add_argument('--image-size', type=int, nargs=2, default=(1024, 1024),
                      metavar=('W', 'H'))
    slis.add_argument('--min-seconds', type=float, default=0.2,
                      help='timing window per throughput figure')
    slis.add_argument('--serializers', nargs='+', help='subset to measure')
    slis.add_argument('--out', help='also append the JSON lines to this file')
    data = sub.add_parser('data', help='samples/s reading 12-band Sentinel-2 tiles through '
                                       'the full pipeline')
    data.add_argument('--samples', type=int, default=64, help='samples per measurement')
    data.add_argument('--tile', type=int, default=256, help='window side (10 m pixels)')
    data.add_argument('--workers', type=int, nargs='+', default=[0, 2])
    data.add_argument('--batch-size', type=int, default=8)
    data.add_argument('--repeats', type=int, default=1,
                      help='measure this many times, the datasets taking turns')
    data.add_argument('--image-size', type=int, help='resize tiles to this side')
    data.add_argument('--datasets', nargs='+', choices=['jsonl', 'streaming'],
                      default=['jsonl', 'streaming'],
                      help='the JSONL dataset and/or the same records streamed from shards')
    data.add_argument('--out', help='also append the JSON lines to this file')
    scale = sub.add_parser('data-scale', help='shards of N records: build, first batch, '
                                              'resume and memory, beside the JSONL dataset')
    scale.add_argument('--records', type=int, nargs='+', default=[100_000, 10_000_000])
    scale.add_argument('--cache', default='work_dirs/data_scale',
                       help='where records and shards are written (and kept)')
    scale.add_argument('--jsonl-limit', type=int, default=200_000,
                       help='measure the JSONL dataset up to this many records')
    scale.add_argument('--out', help='also append the JSON lines to this file')
    packing = sub.add_parser('packing', help='token-budget batches (max_tokens) vs fixed '
                             'batches on the EOV-Synth v2 mixture: tokens per batch, efficiency')
    packing.add_argument('--config', default='configs/eov_tiny_pcma.py',
                         help='whose training pipeline (and visual tokens) to use')
    packing.add_argument('--max-tokens', type=int, nargs='+', default=[512, 1024, 2048])
    packing.add_argument('--batch-size', type=int, default=16, help='of the fixed batches')
    packing.add_argument('--rows', type=int, default=1)
    packing.add_argument('--buffer', type=int, default=64)
    packing.add_argument('--batches', type=int, default=40)
    packing.add_argument('--cache', default='work_dirs/data_scale')
    packing.add_argument('--out', help='also append the JSON lines to this file')
    step = sub.add_parser('train-step', help="eov's packed training step vs a padded "
                                             'HF-style baseline on variable-length batches')
    step.add_argument('--config', required=True)
    step.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    step.add_argument('--steps', type=int, default=5)
    step.add_argument('--warmup', type=int, default=2)
    step.add_argument('--min-len', type=int, default=32)
    step.add_argument('--max-len', type=int, default=256)
    step.add_argument('--tokens-per-step', type=int, default=2048)
    step.add_argument('--attention', help='override the config\'s attention backend')
    step.add_argument('--out', help='also append the JSON lines to this file')
    infer = sub.add_parser('infer', help='inference requests/s by batch size and whole-scene '
                                         'tiles/s on the real Sentinel-2 scene')
    infer.add_argument('--config', required=True, help='config file or exported directory')
    infer.add_argument('--checkpoint', help='weights (default: random init)')
    infer.add_argument('--device', default='cpu')
    infer.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 8])
    infer.add_argument('--requests', type=int, default=16)
    infer.add_argument('--tile', type=int, default=256, help='window side of the requests')
    infer.add_argument('--scene-tile', type=int, default=512,
                       help='tile side of the whole-scene run (0: skip it)')
    infer.add_argument('--max-new-tokens', type=int, default=16)
    infer.add_argument('--out', help='also append the JSON lines to this file')
    args = parser.parse_args(argv)
    rows = {'slis': run_slis, 'data': run_data, 'data-scale': run_data_scale,
            'packing': run_packing,
            'train-step': run_train_step, 'infer': run_infer}[args.bench](args)
    if args.out:
        with open(args.out, 'a') as f:
            for row in rows:
                f.write(json.dumps(row) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
