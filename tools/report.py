"""Write the report of a trained and tested work dir: report.md, loss_curves.png, predictions.png.

    python tools/report.py WORK_DIR --data DATA_ROOT [--config CONFIG] [--test-file test.jsonl]

With --config, the modalities and the SLIS serializer come from the eov config (and
DATA_ROOT defaults to its data_root); without it, the tiny demo's defaults
(eov.evaluation.report.DEFAULT_MODALITIES / DEFAULT_SERIALIZER). Prints the path of report.md.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dir', help='the trained and tested work dir')
    parser.add_argument('--data', help='root of the test data (default: the config\'s '
                                       'data_root)')
    parser.add_argument('--config', help='eov config: take `modalities` and `serializer` '
                                         'from it')
    parser.add_argument('--test-file', default='test.jsonl',
                        help='test records, relative to --data (default test.jsonl)')
    parser.add_argument('--per-cell', type=int, default=1,
                        help='test examples per (modality, cell) in predictions.png')
    parser.add_argument('--max-panels', type=int, default=28)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.work_dir):
        parser.error(f'no work dir {args.work_dir}')

    from eov.evaluation.report import write_report
    modalities = serializer = None
    data = args.data
    if args.config:
        from eov.engine.config import load_config
        cfg = load_config(args.config)
        modalities = cfg.get('modalities')
        serializer = cfg.get('serializer')
        modalities = modalities.to_dict() if hasattr(modalities, 'to_dict') else modalities
        serializer = serializer.to_dict() if hasattr(serializer, 'to_dict') else serializer
        if data is None and isinstance(cfg.get('data_root'), str):
            data = cfg.get('data_root')
    if data is None:
        parser.error('give --data DATA_ROOT (or a --config with data_root)')
    if modalities is not None:
        # records of modalities the config does not name fall back to the demo defaults
        from eov.evaluation.report import DEFAULT_MODALITIES
        modalities = {**DEFAULT_MODALITIES, **modalities}
    path = write_report(args.work_dir, data, test_file=args.test_file, serializer=serializer,
                        modalities=modalities, per_cell=args.per_cell,
                        max_panels=args.max_panels)
    print(f'report: {path}')
    board = os.path.join(args.work_dir, 'scoreboard.json')
    if os.path.isfile(board):   # the console ends with the scoreboard
        import json

        from eov.evaluation.scoreboard import render_table
        with open(board) as f:
            print(render_table(json.load(f)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
