"""Look at one record of an instruction JSONL through its modality plugin.

    python tools/browse_dataset.py DATA.jsonl --index 3 --json
    python tools/browse_dataset.py DATA.jsonl --index 3 --out sample.png [--config CFG]

``--json`` prints the sample's modality, pixel shape, bands, per-band min/max/mean (in the
sensor's unit, over valid pixels), valid fraction and CRS. ``--out`` renders a quick look:
false colour for multispectral, dB grey for SAR, a strip of frames for temporal/video.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', help='instruction records (JSONL)')
    parser.add_argument('--index', type=int, default=0, help='record number (0-based)')
    parser.add_argument('--json', action='store_true', help='print the summary as JSON')
    parser.add_argument('--out', help='write a quick-look PNG here')
    parser.add_argument('--config', help='take the modality settings from this config '
                                         '(its `modalities`); default: plugin defaults')
    parser.add_argument('--data-root', help='root of relative image paths '
                                            '(default: the JSONL file\'s folder)')
    args = parser.parse_args(argv)

    from eov.datasets.schema import RecordError, validate_record
    from eov.utils.io import scan_jsonl
    from eov.modalities.browse import describe, render
    from eov.modalities.io import RasterReadError
    modalities = None
    if args.config:
        # the config's modalities (plugins included: its custom_imports are imported)
        from eov.engine.config import load_config
        modalities = load_config(args.config).get('modalities', {})
    record = None
    try:
        for i, (lineno, rec) in enumerate(scan_jsonl(args.data)):
            if i == args.index:
                if isinstance(rec, Exception):
                    raise rec
                record = validate_record(rec, f'{args.data}:{lineno}',
                                         list(modalities) if modalities else None)
                break
    except (OSError, RecordError) as exc:
        print(exc, file=sys.stderr)
        return 1
    if record is None:
        print(f'{args.data} has no record {args.index}', file=sys.stderr)
        return 2
    cfg = None
    if args.config:
        if record['modality'] not in modalities:
            print(f'{args.config} configures no modality {record["modality"]!r} '
                  f'(has: {", ".join(modalities)})', file=sys.stderr)
            return 2
        cfg = modalities[record['modality']]
    root = args.data_root or os.path.dirname(os.path.abspath(args.data))
    try:
        summary, loaded = describe(record, cfg, root)
    except (RasterReadError, RecordError, ValueError, KeyError) as exc:
        print(f'{args.data} record {args.index}: {exc}', file=sys.stderr)
        return 1
    if args.out:
        from PIL import Image
        Image.fromarray(render(loaded)).save(args.out)
        summary['out'] = args.out
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f'{key:15s} {value}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
