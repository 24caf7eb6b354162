"""LEVIR-CC: conversion, the PTB-style tokenizer and the COCO caption metrics by hand."""
import json
import math
from collections import Counter

import pytest

from eov.datasets.schema import validate_record
from eov.evaluation.benchmarks import BenchmarkDataError, evaluate, levircc, load_records
from eov.evaluation.benchmarks.levircc import load_word_map
from eov.registry import BENCHMARKS, MODALITIES
from eov.scoring import bleu, caption_scores, cider_d, ptb_tokenize, rouge_l

from .benchmark_fixtures import LEVIRCC_IMAGES, write_jsonl, write_levircc


def _convert(tmp_path, split='test'):
    src = write_levircc(str(tmp_path / 'Levir-CC-dataset'))
    bench = BENCHMARKS.build(dict(type='levir_cc'))
    out = tmp_path / 'levircc.jsonl'
    count = bench.convert(src, str(out), split=split, progress=False)
    return bench, load_records(str(out)), count, src


# -- conversion ---------------------------------------------------------------
def test_converter_pairs_references_and_split(tmp_path):
    bench, records, count, src = _convert(tmp_path)
    assert count == 2 and list(records) == ['test_000001', 'test_000002']
    rec = records['test_000001']
    validate_record(rec, 'test')
    assert rec['task'] == 'change' and rec['modality'] == 'temporal'
    assert rec['images'] == [
        {'path': 'Levir-CC-dataset/images/test/A/test_000001.png', 'sensor': 'rgb',
         'time': '2000-01-01'},
        {'path': 'Levir-CC-dataset/images/test/B/test_000001.png', 'sensor': 'rgb',
         'time': '2000-01-02'}]
    assert rec['conversations'][0]['value'] == ('Describe the changes between the two images.'
                                                '\n<image>')
    assert rec['targets'] == [{'type': 'text', 'text': 'many buildings appear along the road.'},
                              {'type': 'text', 'text': 'the scene is the same as before.'}]
    assert rec['meta']['tokens'][1] == ['the', 'scene', 'is', 'the', 'same', 'as', 'before']
    assert rec['meta']['split'] == 'test' and rec['meta']['imgid'] == 1
    # without a split: every pair; the change head answers with the first reference
    out = tmp_path / 'all.jsonl'
    assert bench.convert(src, str(out), progress=False) == 3
    from eov.heads import ChangeHead
    assert ChangeHead().answer_text(load_records(str(out))['train_000001']['targets'],
                                    None) == 'the road is widened.'


def _levircc_replica(root, images, filepath=None):
    """LevirCCcaptions.json whose entries may carry a ``filepath`` unlike their ``split``."""
    src = write_levircc(root, images)
    path = f'{src}/LevirCCcaptions.json'
    data = json.loads(open(path).read())
    if filepath is not None:
        for entry in data['images']:
            entry['filepath'] = filepath
    with open(path, 'w') as f:
        json.dump(data, f)
    return src


def test_image_paths_come_from_split_not_filepath(tmp_path):
    # RSICCformer's create_input_files.py: images/<split>/A|B/<filename>; filepath unused
    src = _levircc_replica(str(tmp_path / 'lcc'), LEVIRCC_IMAGES, filepath='Levir-CC/unused')
    bench = BENCHMARKS.build(dict(type='levir_cc'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), split='test', progress=False) == 2
    rec = load_records(str(out))['test_000002']
    assert [i['path'] for i in rec['images']] == ['lcc/images/test/A/test_000002.png',
                                                  'lcc/images/test/B/test_000002.png']
    data = json.loads(open(f'{src}/LevirCCcaptions.json').read())
    del data['images'][1]['split']
    with open(f'{src}/LevirCCcaptions.json', 'w') as f:
        json.dump(data, f)
    with pytest.raises(BenchmarkDataError, match=r'images\[1\] \(test_000001.png\): missing '
                                                  '"split"'):
        bench.convert(src, str(out), progress=False)


def test_references_longer_than_max_len_are_dropped(tmp_path):
    # create_input_files(..., max_len=50): a sentence with more than 50 tokens is not a
    # reference; an image left without one is not evaluated
    long51 = [f'w{i}' for i in range(51)]
    images = [('test_000001.png', 'test', [(' '.join(long51), long51),
                                           ('a road appears .', ['a', 'road', 'appears'])]),
              ('test_000002.png', 'test', [(' '.join(long51), long51)]),
              ('test_000003.png', 'test', [(' '.join(long51[:50]), long51[:50])])]
    src = _levircc_replica(str(tmp_path / 'lcc'), images)
    bench = BENCHMARKS.build(dict(type='levir_cc'))
    out = tmp_path / 'o.jsonl'
    assert bench.convert(src, str(out), progress=False) == 2
    records = load_records(str(out))
    assert list(records) == ['test_000001', 'test_000003']
    assert records['test_000001']['meta']['tokens'] == [['a', 'road', 'appears']]
    assert records['test_000001']['targets'] == [{'type': 'text', 'text': 'a road appears.'}]
    assert len(records['test_000003']['meta']['tokens'][0]) == 50       # 50 is kept
    assert bench.notes[:2] == [
        "levir_cc: dropped 2 references longer than 50 tokens (RSICCformer's max_len; "
        '-o max_len=0 keeps them)',
        'levir_cc: skipped 1 image pairs left without a reference']
    assert bench.convert(src, str(out), progress=False, max_len=0) == 3
    assert bench.convert(src, str(out), progress=False, max_len='100') == 3
    from eov.evaluation.benchmarks import OptionError
    with pytest.raises(OptionError, match='option max_len expects a number'):
        bench.convert(src, str(out), progress=False, max_len='long')


def test_converter_errors(tmp_path):
    src = write_levircc(str(tmp_path / 'lcc'))
    bench = BENCHMARKS.build(dict(type='levir_cc'))
    out = str(tmp_path / 'o.jsonl')
    (tmp_path / 'lcc' / 'images' / 'test' / 'B' / 'test_000002.png').unlink()
    with pytest.raises(BenchmarkDataError, match=r'image file not found: .*B/test_000002.png'):
        bench.convert(src, out, split='test', progress=False)
    assert bench.convert(src, out, split='test', progress=False, check_images=False) == 2
    with pytest.raises(BenchmarkDataError, match="no records found .* for split 'testing'"):
        bench.convert(src, out, split='testing', progress=False)
    data = json.loads((tmp_path / 'lcc' / 'LevirCCcaptions.json').read_text())
    data['images'][1]['sentences'] = []
    (tmp_path / 'lcc' / 'LevirCCcaptions.json').write_text(json.dumps(data))
    with pytest.raises(BenchmarkDataError, match=r'images\[1\] \(test_000001.png\): no '):
        bench.convert(src, out, progress=False, check_images=False)
    (tmp_path / 'lcc' / 'LevirCCcaptions.json').write_text('{"images": [')
    with pytest.raises(BenchmarkDataError, match=r'LevirCCcaptions.json:1:\d+: invalid JSON'):
        bench.convert(src, out, progress=False)


# -- tokenizer and metrics by hand -------------------------------------------------
def test_ptb_tokenizer_as_pycocoevalcap():
    # outputs of the Java PTBTokenizer (see test_ptb_tokenizer.py for the full list)
    assert ptb_tokenize(' The road is widened .') == ['the', 'road', 'is', 'widened']
    assert ptb_tokenize('Two-story buildings, (new) ones; "a lot"...') == [
        'two-story', 'buildings', '-lrb-', 'new', '-rrb-', 'ones', 'a', 'lot']
    assert ptb_tokenize("The building's roof isn't red!") == [
        'the', 'building', "'s", 'roof', 'is', "n't", 'red']
    assert ptb_tokenize('1,000 m2 -- and 3.5m roads: 10%?') == [
        '1,000', 'm2', 'and', '3.5', 'm', 'roads', '10', '%']
    assert ptb_tokenize('') == [] and ptb_tokenize(None) == []


def test_identical_caption_scores_one():
    tokens = 'many buildings appear along the road'.split()
    out = caption_scores([[tokens]], [tokens])
    for key in ('BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4'):
        assert out[key] == pytest.approx(1.0, abs=1e-9) and out[key] < 1.0   # tiny/small guards
    assert out['ROUGE_L'] == 1.0


def test_bleu_and_rouge_by_hand():
    ref, hyp = 'the cat is on the mat', 'the cat the mat'
    b = bleu([[ref]], [hyp])
    # unigrams 4/4 (the x2 clipped by 2), bigrams 2/3 (the cat, the mat); BP exp(1 - 6/4)
    assert b[0] == pytest.approx(math.exp(-0.5), abs=1e-8)
    assert b[1] == pytest.approx(math.sqrt(2 / 3) * math.exp(-0.5), abs=1e-8)
    # ROUGE-L: LCS 4, precision 4/4, recall 4/6, beta 1.2
    p, r = 1.0, 4 / 6
    assert rouge_l([[ref]], [hyp]) == pytest.approx((1 + 1.44) * p * r / (r + 1.44 * p))
    # brevity: the closest reference length, ties to the shorter -> 3 here, no penalty
    b = bleu([['a b c', 'a b c d e f g']], ['a b c x y'])
    assert b[0] == pytest.approx(3 / 5, abs=1e-8)
    # an empty hypothesis scores 0 and adds its closest (shortest) reference length
    assert caption_scores([['a b'.split()]], [[]])['BLEU-1'] == pytest.approx(0, abs=1e-6)
    assert rouge_l([['a b']], ['']) == 0.0


def _cider_by_hand(references, hypotheses, sigma=6.0):
    """A plain CIDEr-D: tf-idf n-gram vectors, clipped cosine, Gaussian length penalty."""
    def grams(words, k):
        return Counter(tuple(words[i:i + k]) for i in range(len(words) - k + 1))

    n_images = len(references)
    scores = []
    for refs, hyp in zip(references, hypotheses):
        per_n = []
        for k in range(1, 5):
            df = Counter(g for rs in references for g in set().union(*(grams(r, k) for r in rs)))

            def vec(words):
                return {g: c * (math.log(n_images) - math.log(max(1.0, df[g])))
                        for g, c in grams(words, k).items()}

            vh = vec(hyp)
            total = 0.0
            for ref in refs:
                vr = vec(ref)
                dot = sum(min(v, vr.get(g, 0.0)) * vr.get(g, 0.0) for g, v in vh.items())
                nh = math.sqrt(sum(v * v for v in vh.values()))
                nr = math.sqrt(sum(v * v for v in vr.values()))
                cos = dot / (nh * nr) if nh and nr else dot
                # the length is the number of bigrams (pycocoevalcap's counts2vec)
                delta = max(len(hyp) - 1, 0) - max(len(ref) - 1, 0)
                total += cos * math.exp(-delta ** 2 / (2 * sigma ** 2))
            per_n.append(total / len(refs))
        scores.append(10 * sum(per_n) / 4)
    return sum(scores) / len(scores)


def test_cider_on_a_two_image_toy_corpus():
    references = [
        ['a road is built in the forest'.split(), 'a new road appears'.split()],
        ['many houses are built'.split(), 'some houses are built near the road'.split()],
    ]
    hypotheses = ['a new road is built'.split(), 'houses are built near the forest'.split()]
    expected = _cider_by_hand(references, hypotheses)
    assert expected > 0.5
    got = cider_d([[' '.join(r) for r in rs] for rs in references],
                  [' '.join(h) for h in hypotheses])
    assert got == pytest.approx(expected, rel=1e-12)
    # an n-gram found in every image's references has idf log(2) - log(2) = 0
    assert cider_d([['a b'], ['a c']], ['a', 'a']) == 0.0


# -- scoring end to end ---------------------------------------------------------
def test_scores_records_and_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(levircc, 'meteor_available', lambda: 'no java on PATH')
    bench, records, _, _ = _convert(tmp_path)
    preds = {'test_000001': {'prediction': 'Many buildings appear along the road.'}}
    out = evaluate(bench, records, preds)
    assert evaluate(bench, records, preds, tokenizer='python') == {**out, 'n_unknown': 0}
    from eov.evaluation.benchmarks import OptionError
    with pytest.raises(OptionError, match='option tokenizer must be one of auto, java, python'):
        evaluate(bench, records, preds, tokenizer='nltk')
    refs = [records['test_000001']['meta']['tokens'], records['test_000002']['meta']['tokens']]
    expected = caption_scores(refs, ['many buildings appear along the road'.split(), []])
    assert {k: out[k] for k in expected} == expected
    assert (out['n'], out['n_missing']) == (2, 1)
    assert 'METEOR' not in out
    assert 'METEOR not computed (no java on PATH)' in capsys.readouterr().err
    # with Java and pycocoevalcap, METEOR is added (stubbed here)
    monkeypatch.setattr(levircc, 'meteor_available', lambda: None)
    monkeypatch.setattr(levircc, 'meteor_score', lambda r, h, vocab=None: 0.25)
    assert evaluate(bench, records, preds)['METEOR'] == 0.25
    assert 'METEOR' not in evaluate(bench, records, preds, meteor=False)


def test_word_map_bins_rare_words_like_rsiccformer(tmp_path, monkeypatch):
    monkeypatch.setattr(levircc, 'meteor_available', lambda: 'off')
    bench, records, _, src = _convert(tmp_path)
    captions = f'{src}/LevirCCcaptions.json'
    # words occurring more than once over all splits: the (4), is (3), road (2)
    word_map = load_word_map(captions, min_word_freq=1)
    assert word_map == {'the': 1, 'road': 2, 'is': 3, '<unk>': 4}
    preds = {'test_000002': {'prediction': 'zebra giraffe'}}
    plain = evaluate(bench, records, preds)
    binned = evaluate(bench, records, preds, word_map=captions, min_word_freq=1)
    assert plain['BLEU-1'] < 1e-6
    # '<unk> <unk>' against '<unk> is <unk> <unk>' (the quirk of word-index scoring): 2/2
    # unigrams match; corpus lengths: hypotheses 0 + 2, closest references 6 + 4
    assert binned['BLEU-1'] == pytest.approx(math.exp(1 - 10 / 2), abs=1e-8)
    # RSICCformer's WORDMAP json works the same way
    (tmp_path / 'WORDMAP.json').write_text(json.dumps({**word_map, '<start>': 5, '<end>': 6,
                                                       '<pad>': 0}))
    assert evaluate(bench, records, preds, word_map=str(tmp_path / 'WORDMAP.json'))[
        'BLEU-1'] == binned['BLEU-1']


def test_evaluate_tool_end_to_end(tmp_path):
    from ..helpers import run_tool
    src = write_levircc(str(tmp_path / 'lcc'))
    data = tmp_path / 'levircc_test.jsonl'
    run_tool(['tools/convert_dataset.py', 'levir_cc', src, str(data), '--split', 'test',
              '--no-progress'])
    preds = write_jsonl(str(tmp_path / 'p.jsonl'), [
        {'id': 'test_000001', 'prediction': 'many buildings appear along the road'},
        {'id': 'test_000002', 'prediction': 'There is no difference.'}])
    proc = run_tool(['tools/evaluate.py', 'levir_cc', '--data', str(data), '--predictions',
                     preds])
    metrics = json.loads(proc.stdout)
    assert metrics['BLEU-4'] == pytest.approx(1.0, abs=1e-8)
    assert metrics['ROUGE_L'] == 1.0 and metrics['n_missing'] == 0
    if levircc.meteor_available() is None:
        assert metrics['METEOR'] == pytest.approx(1.0)
    else:
        assert 'METEOR' not in metrics and 'METEOR not computed' in proc.stderr


def test_records_load_with_the_temporal_modality(tmp_path):
    from PIL import Image
    bench, records, _, src = _convert(tmp_path)
    for part, colour in (('A', 10), ('B', 200)):
        Image.new('RGB', (16, 16), (colour,) * 3).save(f'{src}/images/test/{part}/test_000001.png')
    temporal = MODALITIES.build(dict(type='temporal', num_frames=2, image_size=16))
    sample = temporal.load(records['test_000001']['images'], data_root=str(tmp_path))
    # A before B; the placeholder dates give the adapter's default time code (days 0, 1)
    assert sample['frame_days'].tolist() == [0.0, 1.0]
    assert sample['pixels'][0].mean() < sample['pixels'][1].mean()
