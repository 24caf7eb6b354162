"""Convert a benchmark as downloaded into eov instruction records (JSONL).

    python tools/convert_dataset.py NAME SRC OUT.jsonl [--split test]
        [--images DIR] [--annotations DIR] [-o KEY=VALUE ...]
        [--no-check-images] [--image-first] [--no-progress]
    python tools/convert_dataset.py --list

NAME is a benchmark registered in BENCHMARKS (opt_rsvg, dior_rsvg, sarlang_vqa,
earthmind_bench, rsvqa_lr, rsvqa_hr, bigearthnet_v1, ...). Every record is
validated before it is written; image paths are relative to OUT's folder.
See docs/evaluation.md for each benchmark's expected layout.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from eov.evaluation.benchmarks.base import parse_option  # noqa: E402
from eov.registry import BENCHMARKS, UnknownPluginError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Convert a downloaded benchmark into eov records.')
    p.add_argument('name', nargs='?', help='benchmark name (see --list)')
    p.add_argument('src', nargs='?', help='dataset folder (or file) as downloaded')
    p.add_argument('out', nargs='?', help='output JSONL file')
    p.add_argument('--split', help='split to convert (e.g. train, val, test)')
    p.add_argument('--images', help='image folder override (relative to SRC or absolute)')
    p.add_argument('--annotations', help='annotation folder override (relative to SRC or '
                   'absolute)')
    p.add_argument('-o', '--option', action='append', type=parse_option, default=[],
                   metavar='KEY=VALUE', help='benchmark-specific option (repeatable)')
    p.add_argument('--no-check-images', action='store_true',
                   help='do not require the image files to exist')
    p.add_argument('--image-first', action='store_true',
                   help='put <image> before the question')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--list', action='store_true', help='list benchmarks and their options')
    args = p.parse_args(argv)
    if not args.list and not (args.name and args.src and args.out):
        p.error('NAME, SRC and OUT are required (or --list)')
    return args


def list_benchmarks():
    from eov.evaluation.benchmarks.base import COMMON_OPTIONS
    for name in BENCHMARKS.own_names():
        bench = BENCHMARKS.get(name)
        doc = (bench.__doc__ or '').strip().split('\n')[0]
        print(f'{name}: {doc}')
        for key, text in {**bench.convert_options, **COMMON_OPTIONS}.items():
            print(f'    -o {key}=...  {text}')


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        list_benchmarks()
        return 0
    from eov.evaluation.benchmarks import BenchmarkDataError, OptionError
    options = dict(args.option)
    if args.images:
        options['images'] = args.images
    if args.annotations:
        options['annotations'] = args.annotations
    if args.no_check_images:
        options['check_images'] = False
    if args.image_first:
        options['image_first'] = True
    try:
        bench = BENCHMARKS.build(dict(type=args.name))
    except UnknownPluginError as err:
        raise SystemExit(f'error: {err}') from None
    try:
        count = bench.convert(args.src, args.out, split=args.split,
                              progress=not args.no_progress, **options)
    except (BenchmarkDataError, OptionError) as err:
        raise SystemExit(f'error: {err}') from None
    for note in bench.notes:
        print(f'note: {note}', file=sys.stderr)
    print(f'{args.name}: {count} records -> {args.out}')
    return count


if __name__ == '__main__':
    main()
