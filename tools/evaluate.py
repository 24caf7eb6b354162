"""Score predictions on a converted benchmark with its official protocol.

    python tools/evaluate.py NAME --data OUT.jsonl --predictions PRED.jsonl
        [--config CFG | --serializer NAME | --serializer '{"type": NAME, ...}']
        [--out metrics.json] [--judge module:function] [-s KEY=VALUE ...]

Each prediction line is {"id": ..., "prediction": "<raw model text>"} -- spatial
answers are decoded with the SLIS serializer in the frame of the original image:
the one of the model's config (--config: a config file or a tools/export_hf.py
directory), or --serializer (e.g. GeoChatTextSerializer scores GeoChat-style
outputs), else LocTokenSerializer(bins=1000) -- or {"id": ..., "objects": [...]}
in pixels of the original image. Missing predictions count as wrong (n_missing);
predictions for ids not in the data are ignored and counted (n_unknown). Prints
and writes a flat JSON object; a WARNING on stderr when most answers could not
be read, or when location tokens look like another bin count.

    python tools/evaluate.py tasks --data data/eov_synth_v2/test.jsonl --predictions PRED.jsonl
        [--config CFG | --serializer ...] [--out metrics.json]

scores eov's own instruction records with their task heads (TaskMetric: the scorers of
tools/test.py and the scoreboard), keys <modality>/<cell>/<metric>; the records are
checked as a test split is (a grounding record needs its targets).
"""
import argparse
import contextlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.evaluation.benchmarks.base import parse_option  # noqa: E402
from eov.registry import BENCHMARKS, UnknownPluginError  # noqa: E402

#: Warn when fewer of the given answers than this could be read.
MIN_PARSE_RATE = 0.5
#: Warn when every location token is below bins / this (and enough answers have some).
LOC_SPAN_FRACTION = 8
LOC_MIN_ANSWERS = 3
#: The name that scores eov's own instruction records with their task heads.
TASKS = 'tasks'
_LOC = re.compile(r'<loc_(\d+)>')


@contextlib.contextmanager
def user_errors(*types, prefix: str = ''):
    """Turn an exception of ``types`` into the exit ``error: <prefix><message>``."""
    try:
        yield
    except types as err:
        raise SystemExit(f'error: {prefix}{err}') from None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Score predictions with a benchmark\'s official '
                                'protocol.')
    p.add_argument('name', help='benchmark name (tools/convert_dataset.py --list), or '
                   f"'{TASKS}': eov instruction records (e.g. EOV-Synth's test.jsonl) scored "
                   "by their task heads, as tools/test.py scores them")
    p.add_argument('--data', required=True, help='JSONL written by tools/convert_dataset.py')
    p.add_argument('--predictions', required=True, help='predictions JSONL')
    src = p.add_mutually_exclusive_group()
    src.add_argument('--config', help="the model's config file (or tools/export_hf.py "
                     'directory): its serializer decodes spatial answers')
    src.add_argument('--serializer', default=None,
                     help='SLIS serializer that decodes spatial answers: a registered name or '
                     'a JSON config (default: LocTokenSerializer with bins=1000)')
    p.add_argument('--out', help='write the metrics here (JSON)')
    p.add_argument('--judge', help="'module:function' deciding open VQA answers "
                   '(sarlang_vqa): called as f(question, truth, prediction)')
    p.add_argument('-s', '--score-option', action='append', type=parse_option, default=[],
                   metavar='KEY=VALUE', help='benchmark-specific scoring option, e.g. '
                   'exclude_types=count (repeatable)')
    return p.parse_args(argv)


def config_serializer(path: str) -> dict:
    """The serializer config of a model config file or export directory.

    As ``tools/export_hf.py`` decides it: the model's own ``serializer``, else
    the config's top-level ``serializer`` (eov configs write
    ``serializer = dict(type=...)`` and ``model.serializer='${serializer}'``).

    Raises:
        SystemExit: no such file, an unreadable config, or no serializer in it.
    """
    if os.path.isdir(path):
        from eov.models.hf_format import read_export_config
        with user_errors(FileNotFoundError, ValueError, prefix='--config '):
            cfg = read_export_config(path)['eov']
    else:
        if not os.path.isfile(path):
            raise SystemExit(f'error: --config {path}: no such file (give the model\'s config '
                             'file or its tools/export_hf.py directory)')
        from eov.engine.config import load_config
        try:
            cfg = load_config(path)
        except Exception as err:   # a config is Python: any error is the config's
            raise SystemExit(f'error: --config {path}: cannot load it '
                             f'({type(err).__name__}: {err})') from None
    model = cfg.get('model')
    spec = (model.get('serializer') if isinstance(model, dict) else None) or cfg.get('serializer')
    if not spec:
        raise SystemExit(f'error: --config {path} names no serializer (neither '
                         'model.serializer nor a top-level serializer)')
    if hasattr(spec, 'to_dict'):
        spec = spec.to_dict()
    return spec


def describe(serializer) -> str:
    """``'LocTokenSerializer(bins=32)'``-style name of a built serializer."""
    name = type(serializer).__name__
    bins = getattr(serializer, 'bins', None)
    return f'{name}(bins={bins})' if bins is not None else name


def answer_warnings(metrics: dict, records: dict, predictions: dict, serializer,
                    source: str) -> list[str]:
    """Warnings for answers the serializer mostly could not read, or read with the wrong bins.

    Only text answers decoded here count (not lines with an ``objects`` list).

    Args:
        metrics: The benchmark's metrics (``parse_rate``, ``n``, ``n_missing`` when spatial).
        records, predictions: As scored.
        serializer: The serializer that decoded the answers (built).
        source: Where it came from, for the message.
    """
    out = []
    hint = ('if the model writes its answers in another format, give its config '
            '(--config CFG) or its serializer (--serializer)')
    # answers this tool decodes: text without an "objects" list (tools/infer.py lines carry
    # objects its model already decoded, and the benchmarks score those)
    texts = [pred['prediction'] for rid, pred in predictions.items()
             if rid in records and isinstance(pred.get('prediction'), str)
             and not isinstance(pred.get('objects'), list)]
    if texts and 'parse_rate' in metrics and metrics.get('n'):
        answered = metrics['n'] - metrics.get('n_missing', 0)
        if answered > 0:
            rate = metrics['parse_rate'] * metrics['n'] / answered
            if rate < MIN_PARSE_RATE:
                out.append(f'WARNING: parse rate {rate:.1%}: only {round(rate * answered)} of '
                           f'the {answered} answers could be read with {describe(serializer)} '
                           f'({source}); {hint}.')
    bins = getattr(serializer, 'bins', None)
    if isinstance(bins, int) and bins >= LOC_SPAN_FRACTION * 2:
        tops = [max(int(v) for v in _LOC.findall(text)) for text in texts
                if _LOC.search(text)]
        if len(tops) >= LOC_MIN_ANSWERS and max(tops) < bins // LOC_SPAN_FRACTION:
            out.append(f'WARNING: every location token of the {len(tops)} answers is below '
                       f'<loc_{bins // LOC_SPAN_FRACTION}> (the largest is <loc_{max(tops)}>), '
                       f'while {describe(serializer)} ({source}) spreads {bins} bins over the '
                       'image: the model probably uses fewer bins, and its boxes were read '
                       "squeezed into the image's top-left corner; give its config "
                       "(--config CFG) or --serializer '{\"type\": \"LocTokenSerializer\", "
                       '"bins": N}\'.')
    return out


def serializer_from_args(args):
    """``(built serializer, where it came from)`` of --config / --serializer / the default."""
    from eov.evaluation.benchmarks.base import build_serializer
    with user_errors(UnknownPluginError, json.JSONDecodeError, TypeError, ValueError, KeyError):
        if args.config:
            spec, source = config_serializer(args.config), f'from {args.config}'
        elif args.serializer:
            text = args.serializer.strip()
            spec, source = (json.loads(text) if text.startswith('{') else text), '--serializer'
        else:
            spec, source = None, 'the default; see --config'
        return build_serializer(spec), source


def score_tasks(args):
    """``tools/evaluate.py tasks``: eov instruction records scored by their task heads
    (TaskMetric, as ``tools/test.py`` and the scoreboard), keys
    ``<modality>/<cell>/<metric>``."""
    from eov.datasets import InstructionDataset
    from eov.datasets.schema import RecordError
    from eov.evaluation.benchmarks import PredictionError, load_predictions
    from eov.evaluation.metrics.tasks import image_size_reader, score_records
    if args.judge or args.score_option:
        raise SystemExit(f'error: --judge and -s apply to benchmarks, not to {TASKS} (the task '
                         "heads' own scorers)")
    serializer, _ = serializer_from_args(args)
    with user_errors(FileNotFoundError, RecordError, PredictionError):
        if not os.path.isfile(args.data):
            raise FileNotFoundError(f'data file not found: {args.data}')
        data = InstructionDataset(ann_file=os.path.abspath(args.data), test_mode=True)
        records = [data.get_data_info(i) for i in range(len(data))]
        predictions = load_predictions(args.predictions)
        metrics = score_records(records, predictions, serializer,
                                image_size=image_size_reader(args.data))
    warnings = [f"WARNING: {int(metrics['n_missing'])} of the {len(records)} records have no "
                'prediction (scored as empty answers)'] if metrics['n_missing'] else []
    return show(metrics, args.out, warnings, sort_keys=True)


def show(metrics: dict, out: str | None, messages, sort_keys: bool = False) -> dict:
    """Print ``metrics`` as JSON, then ``messages`` (stderr); write the JSON to ``out`` if given.

    Returns:
        ``metrics``.
    """
    text = json.dumps(metrics, indent=2, sort_keys=sort_keys)
    print(text)
    for message in messages:
        print(message, file=sys.stderr)
    if out:
        from eov.utils.io import write_text_atomically
        write_text_atomically(out, text + '\n')
        print(f'metrics written to {out}', file=sys.stderr)
    return metrics


def main(argv=None):
    """Score; a user's mistake (bad file, record, option) is one ``error:`` line, exit 2."""
    try:
        return score(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str) and exit_.code.startswith('error: '):
            print(exit_.code, file=sys.stderr)
            raise SystemExit(2) from None
        raise


def score(argv=None):
    args = parse_args(argv)
    from eov.datasets.schema import RecordError
    from eov.evaluation.benchmarks import (OptionError, PredictionError, evaluate,
                                           load_predictions, load_records)
    from eov.evaluation.benchmarks.base import load_callable
    if args.name == TASKS:
        return score_tasks(args)
    with user_errors(UnknownPluginError, TypeError, ValueError, KeyError):
        bench = BENCHMARKS.build(dict(type=args.name))
    serializer, source = serializer_from_args(args)
    options = dict(args.score_option)
    if args.judge:
        with user_errors(ImportError, AttributeError, ValueError, prefix=f'--judge {args.judge}: '):
            options['judge'] = load_callable(args.judge)
    with user_errors(FileNotFoundError, RecordError, PredictionError, OptionError):
        records = load_records(args.data)
        predictions = load_predictions(args.predictions)
        metrics = evaluate(bench, records, predictions, serializer=serializer, **options)
    return show(metrics, args.out,
                bench.notes + answer_warnings(metrics, records, predictions, serializer, source))


if __name__ == '__main__':
    main()
