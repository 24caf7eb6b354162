"""The data benchmark reads real Sentinel-2 tiles through the full pipeline."""
import json

from eov.datasets.throughput import write_tile_records

from ..helpers import run_tool


def test_tile_records_are_valid_and_deterministic(tmp_path):
    from eov.datasets.schema import validate_record
    from eov.utils.io import scan_jsonl
    a, b = tmp_path / 'a.jsonl', tmp_path / 'b.jsonl'
    write_tile_records(str(a), 5, 128, seed=3)
    write_tile_records(str(b), 5, 128, seed=3)
    assert a.read_text() == b.read_text()
    for lineno, rec in scan_jsonl(str(a)):
        validate_record(rec, f'a:{lineno}')
        col, row, w, h = rec['images'][0]['window']
        assert w == h == 128 and col + w <= 1933 and row + h <= 1947


def test_data_benchmark_prints_one_line_per_dataset_and_worker_count(tmp_path):
    """The JSONL dataset and the same records streamed from shards, side by side, taking
    turns in each repeat."""
    out = tmp_path / 'data.jsonl'
    proc = run_tool(['tools/benchmark.py', 'data', '--samples', '6', '--tile', '64',
                     '--workers', '0', '1', '--batch-size', '3', '--repeats', '2',
                     '--out', str(out)])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r['repeat'], r['workers'], r['dataset']) for r in rows] == \
        [(rep, w, d) for rep in (0, 1) for w in (0, 1) for d in ('jsonl', 'streaming')]
    for r in rows:
        assert r['samples'] == 6 and r['bands'] == 12 and r['pixel_shape'] == [12, 64, 64]
        assert r['samples_per_s'] > 0
    assert len(out.read_text().splitlines()) == 8
