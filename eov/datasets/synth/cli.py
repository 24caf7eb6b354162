"""Command line of EOV-Synth: ``python -m eov.datasets.synth OUT [--suite v2|grounding]``."""
from __future__ import annotations

import argparse

from eov.heads.choice import ChoiceHead

from . import grounding

#: Flags that only the grounding suite reads, with their defaults.
_GROUNDING_ONLY = ('min_objects', 'max_objects', 'format', 'image_first', 'shared_colors')


def main(argv=None) -> dict[str, str]:
    """Generate a suite; returns ``{split: jsonl path}``."""
    p = argparse.ArgumentParser(
        prog='python -m eov.datasets.synth',
        description='EOV-Synth: procedural, seeded remote-sensing instruction data. '
                    'Suite v2 (default): every modality x every task category, GeoTIFFs in '
                    'UTM 31N (docs/eov_synth.md). Suite grounding: the v1 coloured-shape '
                    'grounding data.')
    p.add_argument('out_dir')
    p.add_argument('--suite', choices=['v2', 'grounding'], default='v2')
    p.add_argument('--train', type=int, default=None,
                   help='training records (default: 10000 for v2, 8000 for grounding)')
    p.add_argument('--test', type=int, default=None,
                   help='test records (default: 1500 for v2, 400 for grounding); v2 adds '
                        'an optical-only twin of each cloud-subset fusion test record')
    p.add_argument('--test-per-cell', type=int, default=None, metavar='N',
                   help='v2: a balanced test split instead of --test: at least N records in '
                        'every scoreboard cell (each modality x task[/variant] and each of its '
                        'subsets: /cloud, /nonvisible)')
    p.add_argument('--modalities', nargs='+', default=None, metavar='NAME',
                   help='v2: only these modality entries (default: all seven), e.g. '
                        '--modalities optical for an optical-only corpus')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--choice-answer', choices=ChoiceHead.ANSWER_STYLES, default='letter',
                   help="v2: multiple-choice questions ask for the option's letter (default, "
                        "the benchmarks' format) or for the option's text (train with "
                        "dict(type='choice', answer='option'))")
    p.add_argument('--no-progress', action='store_true', help='no progress bars')
    p.add_argument('--workers', type=int, default=None,
                   help='v2: processes building records (default: one per CPU on machines '
                        'with 4 CPUs or more, else 1); the output does not depend on it')
    grounding.add_arguments(p)
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        p.error('--workers must be >= 1')
    grounding.check_counts(p, train=args.train, val=args.val, test=args.test,
                           test_per_cell=args.test_per_cell)
    v2 = args.suite == 'v2'
    if v2:
        _check_v2(p, args)
    train = (10000 if v2 else 8000) if args.train is None else args.train
    test = (1500 if v2 else 400) if args.test is None else args.test
    per_cell = {}
    if v2 and args.test_per_cell is not None:
        test, per_cell = 0, {'test': args.test_per_cell}
    if not (train or args.val or test or per_cell):
        p.error(f'nothing to write: --train {train} --val {args.val} --test {test}')
    splits = {k: v for k, v in (('train', train), ('val', args.val), ('test', test)) if v > 0}
    if not v2:
        paths = grounding.run(args, p, splits)
    else:
        from .multimodal import generate_v2
        paths = generate_v2(args.out_dir, splits, seed=args.seed, image_size=args.image_size,
                            progress=not args.no_progress, workers=args.workers,
                            modalities=args.modalities, per_cell=per_cell,
                            choice_answer=args.choice_answer)
    for split, path in paths.items():
        with open(path, encoding='utf-8') as f:
            n = sum(1 for _ in f)
        print(f'{split}: {n} records -> {path}')
    return paths


def _check_v2(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (``p.error``) the flags suite v2 cannot take."""
    given = [f'--{k.replace("_", "-")}' for k in _GROUNDING_ONLY
             if getattr(args, k) != p.get_default(k)]
    if given:
        p.error(f'{", ".join(given)} {"applies" if len(given) == 1 else "apply"} only to '
                '--suite grounding')
    from .multimodal import select_weights
    if args.test_per_cell is not None and args.test is not None:
        p.error('give --test (records by the weighted round robin) or --test-per-cell '
                '(a balanced test split), not both')
    if args.test_per_cell is not None and args.test_per_cell < 1:
        p.error('--test-per-cell must be >= 1')
    if args.modalities is not None:
        try:
            select_weights(args.modalities)
        except ValueError as e:
            p.error(str(e))
