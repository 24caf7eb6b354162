"""Publish a trained work dir as shipped weights with a model card (used by `make base`).

    python tools/publish_weights.py WORK_DIR --config CONFIG --out weights/NAME
        [--name NAME] [--probe-iters 30] [--wall-seconds S]

Writes OUT/model.safetensors (the chain's final weights, fp32, the training config and
provenance in its metadata), OUT/card.json (machine-readable) and OUT/README.md (the
model card): config, data seed, commit, iterations, wall time, the losses of the first
logged iterations -- which `tools/train.py CONFIG --stop-at N` reproduces, tying the file
to its config (tests/models/test_base_weights.py) -- and the model's own scoreboard
(WORK_DIR/scoreboard.json, from tools/test.py). Prints the path of the card.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('work_dir', help='trained (and tested) work dir of a chain config')
    p.add_argument('--config', required=True, help='the config it was trained with')
    p.add_argument('--out', required=True, help='output folder (e.g. weights/eov_tiny_base)')
    p.add_argument('--name', help='model name (default: the output folder name)')
    p.add_argument('--probe-iters', type=int, default=30,
                   help='logged iterations whose losses the card records (default 30)')
    p.add_argument('--wall-seconds', type=float,
                   help='wall time of the whole reproduction (default: the chain\'s training '
                        'time from chain.json)')
    p.add_argument('--max-mb', type=float, default=20.0,
                   help='refuse weights larger than this many MB (default 20)')
    args = p.parse_args(argv)
    from eov.apis.publish import PublishError, publish_weights
    try:
        card = publish_weights(args.work_dir, args.config, args.out, name=args.name,
                               probe_iters=args.probe_iters, wall_seconds=args.wall_seconds,
                               max_mb=args.max_mb)
    except (PublishError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(f'model card: {card}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
