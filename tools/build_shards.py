"""Build streaming shards from JSONL instruction records.

    python tools/build_shards.py RECORDS.jsonl [MORE.jsonl ...] OUT_DIR --data-root DIR
        [--part-records 1000000] [--max-bad-records N] [--modalities NAME ...]
        [--imports MODULE ...] [--embed-images] [--overwrite] [--no-progress]

Every record is validated as the JSONL dataset validates it (bad ones are named in
OUT_DIR/bad_records.txt and counted); records are grouped by ``modality/task`` source into
Arrow datasets, one per source and part; with --embed-images the bytes of every image and
mask a record names go into the shards too (a self-contained shard set). A killed build resumes where it stopped when run
again; a repeated build over the same inputs changes nothing. OUT_DIR/manifest.json counts
the records per source, modality and task. Train on them with one config line
(README "Training on a large corpus"). Bad arguments exit with status 2 and one ``error:``
line.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='JSONL instruction records -> streaming shards.')
    p.add_argument('inputs', nargs='+', help='JSONL record files, then the output directory')
    p.add_argument('--data-root', default='',
                   help="directory the records' image paths are relative to")
    p.add_argument('--part-records', type=int, default=1_000_000,
                   help='input lines per part, the unit a killed build resumes from '
                   '(default 1000000)')
    p.add_argument('--max-bad-records', type=int, default=None,
                   help='stop when more records than this are invalid (default: no limit)')
    p.add_argument('--modalities', nargs='+', metavar='NAME',
                   help="modality entry names records may use (a config's `modalities` keys; "
                   'default: the registered modality types)')
    p.add_argument('--imports', nargs='+', metavar='MODULE', default=[],
                   help='modules to import first (packages registering their own tasks or '
                   'modalities, as a config\'s custom_imports)')
    p.add_argument('--embed-images', action='store_true',
                   help='store every image / mask file a record names inside the shards '
                        '(choose --part-records so one part fits in memory)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace shards of other inputs in the output directory')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    if len(args.inputs) < 2:
        p.error('give at least one JSONL file and the output directory')
    args.out_dir = args.inputs.pop()
    return args


def main(argv=None):
    args = parse_args(argv)
    from eov.apis.checks import fail
    from eov.datasets.shards import ShardError, build_shards
    if args.part_records < 1:
        fail(f'--part-records must be at least 1, got {args.part_records}')
    if args.data_root and not os.path.isdir(args.data_root):
        fail(f'--data-root {args.data_root} is not a directory')
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        fail(f'output {args.out_dir} is a file: give a directory')
    import importlib
    for module in args.imports:
        try:
            importlib.import_module(module)
        except ImportError as err:
            fail(f'--imports {module}: {err}')
    try:
        manifest = build_shards(args.inputs, args.out_dir, data_root=args.data_root,
                                part_records=args.part_records, modalities=args.modalities,
                                max_bad_records=args.max_bad_records,
                                progress=not args.no_progress, overwrite=args.overwrite,
                                embed_images=args.embed_images)
    except ShardError as err:
        fail(str(err))
    print(f"{manifest['records']:,} records in {len(manifest['sources'])} sources"
          f"{' (images embedded)' if manifest['embedded_images'] else ''}, "
          f"{manifest['bad_records']:,} bad (named in "
          f"{os.path.join(args.out_dir, 'bad_records.txt')}) -> {args.out_dir}")
    print(json.dumps(dict(modalities=manifest['modalities'], tasks=manifest['tasks'])))
    return manifest


if __name__ == '__main__':
    main()
