"""Write the report of a trained and tested work dir: report.md, loss_curves.png, predictions.png.

    python tools/report.py WORK_DIR [--data DATA_ROOT] [--config CONFIG] [--test-file test.jsonl]

The modalities and the SLIS serializer (and DATA_ROOT by default: its data_root) come from
--config, else from the config the run saved in WORK_DIR (eov.evaluation.report.saved_config).
The right / wrong marks are the verdicts tools/test.py wrote into predictions.jsonl.
Prints the path of report.md, then the scoreboard.
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
                                         'from it (default: the config saved in WORK_DIR)')
    parser.add_argument('--test-file', default='test.jsonl',
                        help='test records, relative to --data (default test.jsonl)')
    parser.add_argument('--per-cell', type=int, default=1,
                        help='test examples per (modality, cell) in predictions.png')
    parser.add_argument('--max-panels', type=int, default=28)
    args = parser.parse_args(argv)
    if not os.path.isdir(args.work_dir):
        parser.error(f'no work dir {args.work_dir}')

    from eov.evaluation.report import saved_config, write_report
    if args.config:
        from eov.engine.config import load_config
        cfg = load_config(args.config)
    else:
        cfg = saved_config(args.work_dir)
    modalities = serializer = None
    data = args.data
    if cfg is not None:
        modalities, serializer = cfg.get('modalities'), cfg.get('serializer')
        if data is None and isinstance(cfg.get('data_root'), str):
            data = cfg.get('data_root')
    if data is None:
        parser.error('give --data DATA_ROOT (or a --config with data_root)')
    path = write_report(args.work_dir, data, test_file=args.test_file, serializer=serializer,
                        modalities=modalities, per_cell=args.per_cell,
                        max_panels=args.max_panels)
    print(f'report: {path}')
    from eov.evaluation.scoreboard import print_table
    print_table(os.path.join(args.work_dir, 'scoreboard.json'))   # the console ends with it
    return 0


if __name__ == '__main__':
    sys.exit(main())
