"""BigEarthNet v1.0: 43 -> 19 classes, band files, EarthMind's token recall and multi-label F1."""
import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import (BEN19_CLASSES, BEN43_TO_19, BenchmarkDataError, evaluate,
                                       load_records)
from eov.evaluation.benchmarks.bigearthnet import (earthmind_tokens, parse_classes, to_19_classes,
                                                   token_recall, word_recall)
from eov.modalities.multispectral import BIGEARTHNET_BANDS
from eov.registry import BENCHMARKS

from .benchmark_fixtures import write_bigearthnet, write_jsonl

PATCHES = {
    'S2A_MSIL2A_20170613T101031_0_45': ['Continuous urban fabric', 'Discontinuous urban fabric',
                                        'Non-irrigated arable land', 'Airports'],
    'S2A_MSIL2A_20170613T101031_0_46': ['Sea and ocean', 'Coniferous forest', 'Mixed forest'],
    'S2A_MSIL2A_20170613T101031_0_47': ['Airports', 'Port areas'],      # nothing in BEN-19
    'S2A_MSIL2A_20170613T101031_0_48': ['Pastures'],
}
A, B, C, D = PATCHES


def test_43_to_19_table():
    assert len(BEN43_TO_19) == 43
    assert set(v for v in BEN43_TO_19.values() if v) == set(BEN19_CLASSES)
    assert len(BEN19_CLASSES) == 19
    dropped = sorted(k for k, v in BEN43_TO_19.items() if v is None)
    assert dropped == sorted([
        'Road and rail networks and associated land', 'Port areas', 'Airports',
        'Mineral extraction sites', 'Dump sites', 'Construction sites', 'Green urban areas',
        'Sport and leisure facilities', 'Bare rock', 'Burnt areas', 'Intertidal flats'])
    assert to_19_classes(['Sea and ocean', 'Estuaries', 'Peatbogs', 'Vineyards',
                          'Transitional woodland/shrub', 'Sparsely vegetated areas']) == [
        'Permanent crops', 'Natural grassland and sparsely vegetated areas',
        'Transitional woodland, shrub', 'Inland wetlands', 'Marine waters']
    with pytest.raises(BenchmarkDataError, match="m.json: unknown BigEarthNet label 'Forest'"):
        to_19_classes(['Forest'], 'm.json')


def _convert(tmp_path):
    src = write_bigearthnet(str(tmp_path / 'BigEarthNet-v1.0'), PATCHES,
                            split={'test': [A, B, C, D], 'val': [B]})
    bench = BENCHMARKS.build(dict(type='bigearthnet_v1'))
    out = tmp_path / 'ben.jsonl'
    count = bench.convert(src, str(out), split='test', progress=False)
    return bench, load_records(str(out)), count


def test_converter_maps_labels_and_lists_bands(tmp_path):
    bench, records, count = _convert(tmp_path)
    assert count == 3
    assert bench.notes == ['bigearthnet_v1: skipped 1 patches with no label in the 19-class '
                           'nomenclature']
    assert list(records) == [A, B, D]
    rec = records[A]
    validate_record(rec, 'test')
    assert rec['task'] == 'classification' and rec['modality'] == 'multispectral'
    image, = rec['images']
    assert image['sensor'] == 'sentinel2_l2a'
    assert image['bands'] == list(BIGEARTHNET_BANDS)
    assert image['path'] == [f'BigEarthNet-v1.0/{A}/{A}_{b}.tif' for b in BIGEARTHNET_BANDS]
    assert image['path'][8].endswith('_B8A.tif') and len(image['path']) == 12
    assert rec['targets'] == [{'type': 'labels', 'labels': ['Urban fabric', 'Arable land']}]
    assert rec['meta']['labels_43'] == PATCHES[A]
    # the prompt is one of the classification head's multi-label phrasings
    from eov.heads import ClassificationHead
    question, placeholder = rec['conversations'][0]['value'].rsplit('\n', 1)
    assert placeholder == '<image>' and question in ClassificationHead.variants['multi']
    assert records[B]['targets'][0]['labels'] == ['Coniferous forest', 'Mixed forest',
                                                  'Marine waters']


def test_converter_split_and_errors(tmp_path):
    src = write_bigearthnet(str(tmp_path / 'ben'), {B: PATCHES[B]},
                            split={'val': ['name', B], 'bad': [B, 'S2B_missing_patch']})
    bench = BENCHMARKS.build(dict(type='bigearthnet_v1'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), split='val', progress=False) == 1   # header skipped
    assert bench.convert(src, str(out), progress=False) == 1                # every folder
    with pytest.raises(BenchmarkDataError, match=r"bad.csv:2: patch 'S2B_missing_patch'"):
        bench.convert(src, str(out), split='bad', progress=False)
    with pytest.raises(BenchmarkDataError, match=r'split file not found \(looked for .*test.csv, '
                                                  r'.*bigearthnet-test.csv'):
        bench.convert(src, str(out), split='test', progress=False)
    (tmp_path / 'ben' / B / f'{B}_B8A.tif').unlink()
    with pytest.raises(BenchmarkDataError, match=r'image file not found: .*_B8A.tif'):
        bench.convert(src, str(out), split='val', progress=False)


def test_token_recall_is_earthminds_by_hand():
    # ms_eval.py: NLTK word_tokenize of the lower-cased text; len(set(ref) & set(cand)) /
    # len(ref tokens) -- punctuation is a token, repeats count in the denominator
    assert earthmind_tokens(' Broad-leaved forest, Mixed forest ') == [
        'broad-leaved', 'forest', ',', 'mixed', 'forest']
    # {broad-leaved, forest, mixed} of 5 reference tokens
    assert token_recall('Broad-leaved forest, Mixed forest',
                        'Broad-leaved forest and mixed forest.') == 3 / 5
    # "broad leaved" is two tokens, neither is "broad-leaved": only forest matches
    assert token_recall('Broad-leaved forest, Mixed forest', 'broad leaved forest') == 1 / 5
    # a perfect answer: 4 distinct tokens of 5 (the second "forest" only in the denominator)
    assert token_recall('Coniferous forest, Mixed forest', 'Coniferous forest, Mixed forest') == 4 / 5
    # the comma of "Transitional woodland, shrub" counts on both sides
    assert token_recall('Transitional woodland, shrub', 'Transitional woodland, shrub') == 1.0
    assert token_recall('Transitional woodland, shrub', 'transitional woodland shrub') == 3 / 4
    # sentences: word_tokenize splits "forest." / "land." at sentence ends, so the words match
    assert token_recall('Mixed forest, Arable land', 'Mixed forest. Arable land.') == 4 / 5
    # 12 reference tokens (incl. the comma), one shared
    assert token_recall('Land principally occupied by agriculture, with significant areas of '
                        'natural vegetation', 'Agro-forestry areas') == 1 / 12
    assert token_recall('Pastures', '') == 0.0 and token_recall('', 'Pastures') == 0.0
    assert token_recall('Pastures', 'PASTURES!!') == 1.0
    # NLTK 3.8/3.9 (setup.py's range; EarthMind's era) keep a leading apostrophe on the word
    # (3.10 splits it off)
    assert earthmind_tokens("'Pastures' and 'Arable land'") == [
        "'pastures", "'", 'and', "'arable", 'land', "'"]


def test_word_recall_and_class_parsing():
    # the word-set variant (key recall_words): |ref words ∩ answer words| / |ref words|
    assert word_recall('Urban fabric, Arable land',
                       'The image shows arable land and some urban areas.') == 0.75
    assert word_recall('Coniferous forest, Mixed forest, Marine waters',
                       'Mixed forest, Marine waters, Pastures') == 0.8
    assert word_recall('Pastures', '') == 0.0
    assert parse_classes('ARABLE  land and mixed\nforest') == ['Arable land', 'Mixed forest']


def test_token_recall_needs_no_nltk_data(monkeypatch):
    import nltk

    def refuse(*args, **kwargs):
        raise AssertionError('NLTK data was looked up or downloaded')
    monkeypatch.setattr(nltk, 'download', refuse)
    monkeypatch.setattr(nltk.data, 'load', refuse)
    monkeypatch.setattr(nltk.data, 'find', refuse)
    # arable, land, pastures of arable land , pastures
    assert token_recall('Arable land, Pastures', 'Arable land. Pastures? Dr. No.') == 3 / 4


def test_scores_by_hand(tmp_path):
    bench, records, _ = _convert(tmp_path)
    preds = {A: {'prediction': 'The image shows arable land and some urban areas.'},
             B: {'prediction': 'Mixed forest, Marine waters, Pastures'}}   # D is missing
    out = evaluate(bench, records, preds)
    # A: ref urban fabric , arable land (5 tokens), answer shares urban, arable, land: 3/5;
    # B: ref coniferous forest , mixed forest , marine waters (8), shared forest , mixed
    # marine waters: 5/8; D missing: 0
    assert out['recall_token'] == (3 / 5 + 5 / 8 + 0.0) / 3
    assert out['recall_words'] == pytest.approx((0.75 + 0.8 + 0.0) / 3)
    # A: tp Arable, fn Urban; B: tp Mixed, Marine, fp Pastures, fn Coniferous; D: fn Pastures
    assert out['micro_precision'] == pytest.approx(3 / 4)
    assert out['micro_recall'] == pytest.approx(3 / 6)
    assert out['micro_f1'] == pytest.approx(0.6)
    # F1 1 for Arable, Mixed, Marine; 0 for the other 16 classes
    assert out['macro_f1'] == pytest.approx(3 / 19)
    assert out['sample_f1'] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert (out['n'], out['n_missing']) == (3, 1)
    # a prediction may give the class list directly
    labelled = {A: {'labels': ['arable land', 'Urban fabric']}}
    out = evaluate(bench, records, labelled)
    assert out['micro_precision'] == 1.0 and out['micro_recall'] == pytest.approx(2 / 6)


def test_torchgeo_layout_and_split_names(tmp_path):
    # torchgeo's BigEarthNet root: bigearthnet-<split>.csv (s2 patch, s1 patch; no header)
    # beside the BigEarthNet-v1.0/ folder of the S2 archive
    root = tmp_path / 'tg'
    write_bigearthnet(str(root / 'BigEarthNet-v1.0'), {A: PATCHES[A], B: PATCHES[B]})
    (root / 'bigearthnet-test.csv').write_text(f'{B},S1A_IW_GRDH_{B}\n{A},S1A_IW_GRDH_{A}\n')
    bench = BENCHMARKS.build(dict(type='bigearthnet_v1'))
    out = tmp_path / 'o.jsonl'
    for src in (root, root / 'BigEarthNet-v1.0'):
        assert bench.convert(str(src), str(out), split='test', progress=False) == 2
        records = load_records(str(out))
        assert list(records) == [B, A]                                    # split file order
        assert records[A]['images'][0]['path'][0] == f'tg/BigEarthNet-v1.0/{A}/{A}_B01.tif'
        assert records[B]['meta']['source'].endswith('bigearthnet-test.csv:1')
    assert bench.convert(str(root), str(out), progress=False) == 2        # every patch folder
    # -o splits=DIR finds bigearthnet-<split>.csv there too
    (root / 'splits').mkdir()
    (root / 'bigearthnet-test.csv').rename(root / 'splits' / 'bigearthnet-test.csv')
    assert bench.convert(str(root), str(out), split='test', progress=False,
                         splits='splits') == 2


def test_predictions_file_round_trip(tmp_path):
    from eov.evaluation.benchmarks import load_predictions
    path = write_jsonl(str(tmp_path / 'p.jsonl'), [{'id': A, 'labels': ['Pastures']}])
    assert load_predictions(path) == {A: {'id': A, 'labels': ['Pastures']}}
