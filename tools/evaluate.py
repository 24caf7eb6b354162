"""Score predictions on a converted benchmark with its official protocol.

    python tools/evaluate.py NAME --data OUT.jsonl --predictions PRED.jsonl
        [--serializer NAME | --serializer '{"type": NAME, ...}'] [--out metrics.json]
        [--judge module:function] [-s KEY=VALUE ...]

Each prediction line is {"id": ..., "prediction": "<raw model text>"} -- spatial
answers are decoded with the SLIS serializer (default LocTokenSerializer; e.g.
GeoChatTextSerializer scores GeoChat-style outputs) in the frame of the original
image -- or {"id": ..., "objects": [...]} in pixels of the original image.
Missing predictions count as wrong (n_missing); predictions for ids not in the
data are ignored and counted (n_unknown). Prints and writes a flat JSON object.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.evaluation.benchmarks.base import parse_option  # noqa: E402
from eov.registry import BENCHMARKS, UnknownPluginError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Score predictions with a benchmark\'s official '
                                'protocol.')
    p.add_argument('name', help='benchmark name (tools/convert_dataset.py --list)')
    p.add_argument('--data', required=True, help='JSONL written by tools/convert_dataset.py')
    p.add_argument('--predictions', required=True, help='predictions JSONL')
    p.add_argument('--serializer', default=None,
                   help='SLIS serializer that decodes spatial answers: a registered name or '
                   'a JSON config (default: LocTokenSerializer)')
    p.add_argument('--out', help='write the metrics here (JSON)')
    p.add_argument('--judge', help="'module:function' deciding open VQA answers "
                   '(sarlang_vqa): called as f(question, truth, prediction)')
    p.add_argument('-s', '--score-option', action='append', type=parse_option, default=[],
                   metavar='KEY=VALUE', help='benchmark-specific scoring option, e.g. '
                   'exclude_types=count (repeatable)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from eov.datasets.schema import RecordError
    from eov.evaluation.benchmarks import (OptionError, PredictionError, evaluate,
                                           load_predictions, load_records)
    from eov.evaluation.benchmarks.base import build_serializer, load_callable
    try:
        bench = BENCHMARKS.build(dict(type=args.name))
        serializer = None
        if args.serializer:
            spec = args.serializer.strip()
            serializer = build_serializer(json.loads(spec) if spec.startswith('{') else spec)
    except (UnknownPluginError, json.JSONDecodeError, TypeError) as err:
        raise SystemExit(f'error: {err}') from None
    options = dict(args.score_option)
    if args.judge:
        try:
            options['judge'] = load_callable(args.judge)
        except (ImportError, AttributeError, ValueError) as err:
            raise SystemExit(f'error: --judge {args.judge}: {err}') from None
    try:
        records = load_records(args.data)
        predictions = load_predictions(args.predictions)
        metrics = evaluate(bench, records, predictions, serializer=serializer, **options)
    except (FileNotFoundError, RecordError, PredictionError, OptionError) as err:
        raise SystemExit(f'error: {err}') from None
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
        print(f'metrics written to {args.out}', file=sys.stderr)
    return metrics


if __name__ == '__main__':
    main()
