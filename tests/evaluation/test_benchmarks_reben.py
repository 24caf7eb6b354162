"""reBEN (BigEarthNet v2.0): metadata table, tile/patch folders, split selection, scoring."""
import sys
import types

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, load_records
from eov.evaluation.benchmarks.reben import parse_labels, read_metadata, to_19
from eov.modalities.multispectral import BIGEARTHNET_BANDS
from eov.registry import BENCHMARKS

from .benchmark_fixtures import write_reben

TILE = 'S2A_MSIL2A_20170613T101031_N9999_R022_T34VER'
P1, P2, P3 = f'{TILE}_26_57', f'{TILE}_26_58', 'S2B_MSIL2A_20180525T94031_N9999_R036_T35ULA_01_02'
ROWS = [
    {'patch_id': P1, 'labels': ['Arable land', 'Land principally occupied by agriculture, with '
                                'significant areas of natural vegetation'],
     'split': 'test', 'country': 'Finland', 's1_name': 'S1A_IW_GRDH_1SDV_20170613T165043_33UUP_'
                                                        '26_57'},
    {'patch_id': P2, 'labels': ['Coniferous forest', 'Mixed forest', 'Transitional woodland, '
                                'shrub'],
     'split': 'validation', 'country': 'Finland', 's1_name': ''},
    {'patch_id': P3, 'labels': ['Marine waters'], 'split': 'test', 'country': 'Lithuania',
     's1_name': ''},
]


def _convert(tmp_path, split='test', rows=ROWS, **options):
    src = write_reben(str(tmp_path / 'reBEN'), rows)
    bench = BENCHMARKS.build(dict(type='bigearthnet_v2'))
    out = tmp_path / 'reben.jsonl'
    count = bench.convert(src, str(out), split=split, progress=False, **options)
    return bench, load_records(str(out)), count, src


def test_converter_two_test_patches(tmp_path):
    bench, records, count, _ = _convert(tmp_path)
    assert count == 2 and list(records) == [P1, P3]
    rec = records[P1]
    validate_record(rec, 'test')
    assert rec['task'] == 'classification' and rec['modality'] == 'multispectral'
    image, = rec['images']
    assert image['sensor'] == 'sentinel2_l2a' and image['bands'] == list(BIGEARTHNET_BANDS)
    assert image['path'] == [f'reBEN/BigEarthNet-S2/{TILE}/{P1}/{P1}_{b}.tif'
                             for b in BIGEARTHNET_BANDS]
    assert rec['targets'] == [{'type': 'labels', 'labels': ROWS[0]['labels']}]
    assert rec['meta']['split'] == 'test' and rec['meta']['country'] == 'Finland'
    assert rec['meta']['s1_name'].startswith('S1A_IW') and 's1_name' not in records[P3]['meta']
    from eov.heads import ClassificationHead
    question, placeholder = rec['conversations'][0]['value'].rsplit('\n', 1)
    assert placeholder == '<image>' and question in ClassificationHead.variants['multi']


def test_split_selection_and_errors(tmp_path):
    bench, records, count, src = _convert(tmp_path, split='val')     # val -> validation
    assert list(records) == [P2]
    assert records[P2]['targets'][0]['labels'] == ['Coniferous forest', 'Mixed forest',
                                                   'Transitional woodland, shrub']
    out = str(tmp_path / 'o.jsonl')
    assert bench.convert(src, out, progress=False) == 3                # no split: every row
    with pytest.raises(BenchmarkDataError, match=r"no rows with split 'train' \(splits: test, "
                                                 r"validation\)"):
        bench.convert(src, out, split='train', progress=False)
    import os
    os.remove(f'{src}/BigEarthNet-S2/{TILE}/{P1}/{P1}_B8A.tif')
    with pytest.raises(BenchmarkDataError, match=r'image file not found: .*_26_57_B8A.tif'):
        bench.convert(src, out, split='test', progress=False)
    with pytest.raises(BenchmarkDataError, match=r'metadata file not found: .*nope.parquet'):
        bench.convert(src, out, split='test', progress=False, metadata='nope.parquet')


def test_labels_from_csv_exports_and_43_class_names():
    assert parse_labels("['Arable land' 'Pastures']") == ['Arable land', 'Pastures']
    assert parse_labels('["Arable land", "Pastures"]') == ['Arable land', 'Pastures']
    assert parse_labels("['Moors, heathland and sclerophyllous vegetation']") == [
        'Moors, heathland and sclerophyllous vegetation']
    assert parse_labels('Arable land; Pastures') == ['Arable land', 'Pastures']
    assert parse_labels(['Pastures']) == ['Pastures']
    assert to_19(['Pastures', 'Sea and ocean', 'Airports']) == ['Pastures', 'Marine waters']
    with pytest.raises(BenchmarkDataError, match="m: unknown BigEarthNet label 'Forest'"):
        to_19(['Forest'], 'm')


def test_parquet_needs_a_reader(tmp_path, monkeypatch):
    path = tmp_path / 'metadata.parquet'
    path.write_bytes(b'PAR1')
    monkeypatch.setitem(sys.modules, 'pyarrow', None)
    monkeypatch.setitem(sys.modules, 'pyarrow.parquet', None)
    monkeypatch.setitem(sys.modules, 'pandas', None)
    with pytest.raises(BenchmarkDataError, match=r'reading parquet needs pyarrow .* export the '
                                                 r'table to CSV'):
        read_metadata(str(path))
    # with pyarrow (faked here), the table's rows are used as they come
    fake = types.ModuleType('pyarrow.parquet')
    rows = [{'patch_id': P1, 'labels': ['Pastures'], 'split': 'test'}]
    fake.read_table = lambda p: types.SimpleNamespace(to_pylist=lambda: rows)
    monkeypatch.setitem(sys.modules, 'pyarrow', types.ModuleType('pyarrow'))
    monkeypatch.setitem(sys.modules, 'pyarrow.parquet', fake)
    assert read_metadata(str(path)) == rows


def test_scored_like_bigearthnet_v1(tmp_path):
    bench, records, _, _ = _convert(tmp_path)
    preds = {P1: {'prediction': 'Arable land and pastures.'}}             # P3 missing
    out = evaluate(bench, records, preds)
    v1 = evaluate(BENCHMARKS.build(dict(type='bigearthnet_v1')), records, preds)
    assert out == v1
    # P1: tp Arable land, fn the long class, fp Pastures; P3: fn Marine waters
    assert out['micro_precision'] == pytest.approx(1 / 2)
    assert out['micro_recall'] == pytest.approx(1 / 3)
    assert (out['n'], out['n_missing']) == (2, 1)


def test_real_parquet_metadata(tmp_path):
    """The layout as downloaded: metadata.parquet (written here with pyarrow)."""
    import os

    pa = pytest.importorskip('pyarrow')   # part of the test extra; the CI installs it
    import pyarrow.parquet as pq
    src = write_reben(str(tmp_path / 'reBEN'), ROWS)
    os.remove(os.path.join(src, 'metadata.csv'))
    table = pa.table({'patch_id': [r['patch_id'] for r in ROWS],
                      'labels': [r['labels'] for r in ROWS],
                      'split': [r['split'] for r in ROWS],
                      'country': [r['country'] for r in ROWS]})
    pq.write_table(table, os.path.join(src, 'metadata.parquet'))
    bench = BENCHMARKS.build(dict(type='bigearthnet_v2'))
    out = tmp_path / 'reben.jsonl'
    assert bench.convert(src, str(out), split='test', progress=False) == 2
    records = load_records(str(out))
    assert list(records) == [P1, P3]
    assert records[P3]['targets'] == [{'type': 'labels', 'labels': ['Marine waters']}]
