"""Shards (tools/build_shards.py) and the streaming dataset: what each draw is, that a resume
continues the same order on any number of ranks and workers, and that a killed build
resumes."""
import json
import os
import tempfile

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.datasets.schema import RecordError
from eov.datasets.shards import ShardError, build_shards, read_manifest
from eov.datasets.streaming import (KeyedPermutation, MixtureOrder, ShardRecords,
                                    StreamingInstructionDataset)

from ..helpers import load_tool


@pytest.mark.parametrize('n', [1, 2, 3, 17, 256, 1000])
def test_a_keyed_permutation_is_a_bijection_that_the_key_changes(n):
    values = [KeyedPermutation(n, 5)(i) for i in range(n)]
    assert sorted(values) == list(range(n))
    if n >= 17:
        assert values != [KeyedPermutation(n, 6)(i) for i in range(n)]
        assert values != list(range(n))
    with pytest.raises(IndexError):
        KeyedPermutation(n, 5)(n)


def test_the_mixture_keeps_its_proportions_and_counts_each_sources_draws():
    order = MixtureOrder({'a': 1.0, 'b': 2.0, 'c': 0.001, 'd': 7.0}, seed=3)
    blocks = 120
    total = sum(order._before(blocks))
    draws = [order(g) for g in range(total)]
    for source, weight in (('a', 1.0), ('b', 2.0), ('c', 0.001), ('d', 7.0)):
        ks = [k for s, k in draws if s == source]
        assert ks == list(range(len(ks)))             # every draw of a source counted once
        assert abs(len(ks) - total * weight / 10.001) <= 1
    # any draw is computed alone (no replay): the same as in sequence
    for g in (0, 1, 1023, 1024, total // 2, total - 1):
        assert MixtureOrder({'a': 1.0, 'b': 2.0, 'c': 0.001, 'd': 7.0}, seed=3)(g) == draws[g]
    # interleaved, not in runs: the first 40 draws hold three sources
    assert len({s for s, _ in draws[:40]}) >= 2
    assert [order(g) for g in range(50)] != \
        [MixtureOrder({'a': 1.0, 'b': 2.0, 'c': 0.001, 'd': 7.0}, seed=4)(g) for g in range(50)]


def write_records(path, records):
    with open(path, 'w') as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + '\n')


@pytest.fixture(scope='module')
def shards(synth_data, tmp_path_factory):
    """The small EOV-Synth train split (48 grounding records) as shards of 20-line parts."""
    out = str(tmp_path_factory.mktemp('shards'))
    build_shards(os.path.join(synth_data, 'train.jsonl'), out, data_root=synth_data,
                 part_records=20, progress=False)
    return out


def test_the_manifest_counts_sources_and_names_bad_records(synth_data, tmp_path):
    records = [json.loads(line) for line in open(os.path.join(synth_data, 'train.jsonl'))][:6]
    sar = dict(records[0], id='sar-0', modality='sar', task='vqa')
    lines = records + [sar, '{"id": "broken', dict(records[1])]    # bad JSON, a repeated id
    src = tmp_path / 'records.jsonl'
    write_records(src, lines)
    out = str(tmp_path / 'shards')
    manifest = build_shards(str(src), out, data_root=synth_data, part_records=100,
                            progress=False)
    assert manifest['records'] == 7 and manifest['bad_records'] == 2
    assert manifest['sources']['optical/grounding']['records'] == 6
    assert manifest['sources']['sar/vqa']['records'] == 1
    assert manifest['modalities'] == {'optical': 6, 'sar': 1}
    assert manifest['tasks'] == {'grounding': 6, 'vqa': 1}
    bad = open(os.path.join(out, 'bad_records.txt')).read().splitlines()
    assert bad[0].startswith(f'{src}:8: invalid JSON')
    assert bad[1].startswith(f"{src}:9: id {records[1]['id']!r} repeats {src}:2")
    records_of = ShardRecords(out)
    record, where = records_of.record('sar/vqa', 0)
    assert record['id'] == 'sar-0' and where == f'{src}:7'
    with pytest.raises(ShardError, match='more than max_bad_records=1'):
        build_shards(str(src), str(tmp_path / 'strict'), part_records=100,
                     max_bad_records=1, progress=False)


def test_a_killed_build_resumes_and_a_repeated_one_changes_nothing(synth_data, tmp_path):
    src = os.path.join(synth_data, 'train.jsonl')
    out = str(tmp_path / 'shards')
    first = build_shards(src, out, data_root=synth_data, part_records=20, progress=False)
    parts = sorted(os.listdir(os.path.join(out, 'parts')))
    assert parts == ['000-000000', '000-000001', '000-000002'] and first['records'] == 48
    stamps = {p: os.path.getmtime(os.path.join(out, 'parts', p, 'done.json')) for p in parts}
    # a kill while the last part was written: no done.json there
    os.remove(os.path.join(out, 'parts', parts[-1], 'done.json'))
    again = build_shards(src, out, data_root=synth_data, part_records=20, progress=False)
    assert again == first
    for p in parts[:-1]:     # finished parts were not rebuilt
        assert os.path.getmtime(os.path.join(out, 'parts', p, 'done.json')) == stamps[p]
    assert build_shards(src, out, data_root=synth_data, part_records=20,
                        progress=False) == first
    with pytest.raises(ShardError, match='holds shards of other inputs or settings'):
        build_shards(src, out, data_root=synth_data, part_records=10, progress=False)
    assert read_manifest(out)['records'] == 48


def test_the_command_line_reports_counts_and_refuses_bad_arguments(synth_data, tmp_path,
                                                                  capsys):
    tool = load_tool('build_shards')
    out = str(tmp_path / 'shards')
    tool.main([os.path.join(synth_data, 'train.jsonl'), out, '--data-root', synth_data,
               '--no-progress'])
    printed = capsys.readouterr().out
    assert printed.startswith('48 records in 1 sources, 0 bad')
    assert json.loads(printed.splitlines()[1]) == dict(modalities={'optical': 48},
                                                       tasks={'grounding': 48})
    # an entry named by its key (s1s2) is valid once named, as in a config's modalities
    records = [json.loads(line) for line in open(os.path.join(synth_data, 'train.jsonl'))][:3]
    src = tmp_path / 'fused.jsonl'
    write_records(src, [dict(r, modality='s1s2') for r in records])
    with pytest.raises(SystemExit):
        tool.main([str(src), str(tmp_path / 'strict'), '--no-progress'])
    assert capsys.readouterr().err.strip() == (
        f'error: {src}: no valid records (3 bad, named in {tmp_path}/strict/bad_records.txt)')
    assert "modality 's1s2' is not one of" in (tmp_path / 'strict' / 'bad_records.txt').read_text()
    tool.main([str(src), str(tmp_path / 'named'), '--no-progress', '--modalities', 'optical',
               's1s2'])
    assert capsys.readouterr().out.startswith('3 records in 1 sources, 0 bad')
    for argv, message in (
            ([str(tmp_path / 'nope.jsonl'), out], f'input not found: {tmp_path}/nope.jsonl'),
            ([os.path.join(synth_data, 'train.jsonl'), out, '--part-records', '0'],
             '--part-records must be at least 1, got 0'),
            ([os.path.join(synth_data, 'train.jsonl'), out, '--imports', 'no_such_pkg'],
             "--imports no_such_pkg: No module named 'no_such_pkg'")):
        with pytest.raises(SystemExit):
            tool.main(argv)
        assert capsys.readouterr().err.strip() == f'error: {message}'


def _dataset(tiny_cfg, shards, **kwargs):
    init_default_scope('eov')
    from eov.registry import DATASETS
    cfg = dict(type='StreamingInstructionDataset', shards=shards,
               pipeline=tiny_cfg.train_dataloader.dataset.pipeline, batch_size=4,
               collate=dict(type='eov.eov_collate', packing=True, max_tokens=2048))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def _ids(batches):
    return [[s['id'] for s in b['data_samples']] for b in batches]


def _take(dataset, n, workers=0):
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers,
                                         collate_fn=lambda b: b)
    it = iter(loader)
    out = [next(it) for _ in range(n)]
    del it
    return out


def test_batches_are_the_same_on_any_number_of_workers_and_resume_exactly(tiny_cfg, shards):
    dataset = _dataset(tiny_cfg, shards)
    straight = _ids(_take(dataset, 12))
    assert all(len(b) == 4 for b in straight)
    seen = [i for b in straight for i in b]
    assert len(set(seen[:48])) == 48        # one pass over the 48 records before any repeat
    assert _ids(_take(dataset, 12, workers=2)) == straight
    # a resume at iteration 5: the batches the uninterrupted stream had next
    dataset.resume_at(5)
    assert _ids(_take(dataset, 7)) == straight[5:]
    assert _ids(_take(dataset, 7, workers=2)) == straight[5:]


def test_ranks_split_one_global_order_and_a_resume_may_change_their_number(tiny_cfg,
                                                                           shards, monkeypatch):
    dataset = _dataset(tiny_cfg, shards)
    single = _ids(_take(dataset, 8))        # one rank: global batches 0..7
    per_rank = {}
    for rank in (0, 1):
        monkeypatch.setattr('mmengine.dist.get_dist_info', lambda rank=rank: (rank, 2))
        per_rank[rank] = _ids(_take(dataset, 4))
    # two ranks at iteration t train on global batches 2t and 2t + 1
    assert [b for t in range(4) for b in (per_rank[0][t], per_rank[1][t])] == single
    # two ranks stopped after iteration 2 (global batches 0..3); one rank resumes at global
    # batch 4: nothing repeated, nothing skipped
    monkeypatch.setattr('mmengine.dist.get_dist_info', lambda: (0, 1))
    dataset.resume_at(2 * 2)
    assert _ids(_take(dataset, 4)) == single[4:]


def test_a_stage_mixture_weighs_the_streamed_sources(tiny_cfg, shards):
    with pytest.raises(ValueError, match="no source matches the mixture {'sar/\\*': 1.0}; "
                                         'the shards hold optical/grounding'):
        _dataset(tiny_cfg, shards, mixture={'sar/*': 1.0})
    dataset = _dataset(tiny_cfg, shards, mixture={'optical/*': 1.0, 'sar/*': 3.0})
    assert dataset.weights == {'optical/grounding': 1.0}
    assert len(dataset) == 12       # one pass over 48 records in batches of 4


def test_streaming_is_not_for_testing(shards):
    with pytest.raises(ValueError, match='streams training data'):
        StreamingInstructionDataset(shards, test_mode=True)
    with pytest.raises(ShardError, match='no manifest.json'):
        StreamingInstructionDataset(os.path.dirname(shards))


def test_several_datasets_are_weighed_and_each_reads_its_own_images(tiny_cfg, shards,
                                                                     synth_data, tmp_path):
    """Two shard sets, 3:1 by dataset_weights; each record's images resolve against its own
    manifest's data_root."""
    src = tmp_path / 'other.jsonl'
    records = [json.loads(line) for line in open(os.path.join(synth_data, 'train.jsonl'))]
    write_records(src, [dict(r, id=f'other-{i}') for i, r in enumerate(records[:8])])
    other = str(tmp_path / 'other')
    build_shards(str(src), other, data_root=synth_data, progress=False)
    dataset = _dataset(tiny_cfg, {'main': shards, 'other': other},
                       dataset_weights={'main': 3.0, 'other': 1.0})
    assert dataset.weights == {'main:optical/grounding': 3.0, 'other:optical/grounding': 1.0}
    ids = [i for b in _ids(_take(dataset, 16)) for i in b]
    share = sum(i.startswith('other-') for i in ids) / len(ids)
    assert 0.2 <= share <= 0.3
    others = [i for i in ids if i.startswith('other-')]
    assert sorted(set(others[:8])) == sorted(others[:8])     # its own pass, no repeat
    pooled = _dataset(tiny_cfg, {'main': shards, 'other': other})     # by records: 48 : 8
    assert pooled.weights == {'main:optical/grounding': 48.0, 'other:optical/grounding': 8.0}
    with pytest.raises(ValueError, match=r"dataset_weights names \['nope'\]"):
        _dataset(tiny_cfg, {'main': shards}, dataset_weights={'nope': 1.0})


@pytest.mark.slow
def test_the_data_scale_benchmark_builds_and_measures(tmp_path):
    """``tools/benchmark.py data-scale`` on 300 records: one line per measurement."""
    from ..helpers import run_tool
    proc = run_tool(['tools/benchmark.py', 'data-scale', '--records', '300', '--cache',
                     str(tmp_path), '--jsonl-limit', '300'], timeout=900)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert [r['what'] for r in rows] == ['build', 'first_batch', 'resume', 'jsonl_load']
    assert rows[0]['records'] == 300 and rows[0]['records_per_s'] > 0
    assert rows[1]['samples'] == rows[2]['samples'] == 16
    assert rows[1]['worker_peak_rss_mb'] > 0 and rows[3]['samples'] == 300
    assert read_manifest(str(tmp_path / 'shards_300'))['records'] == 300
    # ``packing``: the same records' sources in fixed and token-budget batches
    proc = run_tool(['tools/benchmark.py', 'packing', '--max-tokens', '256', '1024',
                     '--batches', '4', '--cache', str(tmp_path)], timeout=900)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert [(r['mode'], r.get('max_tokens')) for r in rows] == [
        ('fixed', None), ('token_budget', 256), ('token_budget', 1024)]
    assert rows[0]['samples_per_batch'] == 16
    for row in rows[1:]:
        assert 0.8 < row['packing_efficiency'] <= 1.0
        assert row['longest_row'] <= row['max_tokens']
        assert row['tokens_per_batch'] == pytest.approx(
            row['packing_efficiency'] * row['max_tokens'], rel=1e-3)
    assert rows[1]['samples_per_batch'] < rows[2]['samples_per_batch']


def _drawn(batches):
    return [[s['draw'] for s in b['data_samples']] for b in batches]


def test_a_token_budget_fills_rows_and_resumes_from_its_slot_state(tiny_cfg, shards):
    """``max_tokens``: each batch is at most ``rows`` rows of ``max_tokens`` tokens filled
    from a buffer; every draw is trained once, in a stream that a batch's state resumes."""
    dataset = _dataset(tiny_cfg, shards, max_tokens=120, rows=2, buffer=8)
    straight = _take(dataset, 10)
    for batch in straight:
        ids = batch['inputs']['input_ids']
        assert ids.shape[0] <= 2 and ids.shape[1] <= 120
        tokens = ids.numel() * (1 - batch['inputs']['padding_fraction'])
        assert batch['inputs']['packing_efficiency'] == pytest.approx(
            tokens / (ids.shape[0] * 120))
        assert batch['inputs']['packing_efficiency'] > 0.6   # 38-42 tokens a sample
    counts = [len(b) for b in _drawn(straight)]
    assert len(set(counts)) > 1                   # the sample count follows the lengths
    drawn = [g for b in _drawn(straight) for g in b]
    assert len(drawn) == len(set(drawn))          # nothing twice
    # every draw below the slot's position was trained or is in its buffer
    state = straight[-1]['stream_state']
    assert sorted(drawn + state['buffer']) == list(range(state['k']))
    assert _drawn(_take(dataset, 10, workers=0)) == _drawn(straight)   # deterministic
    # resume after batch 4 from its state: the batches the uninterrupted stream had next
    after = straight[3]['stream_state']
    dataset.resume_budget(dict(slots=1, offset=0, per_slot=[
        dict(k=after['k'], pending=after['pending'], buffer=after['buffer'])]))
    assert _drawn(_take(dataset, 6)) == _drawn(straight)[4:]


def test_a_token_budget_state_moves_to_another_number_of_slots_without_repeats_or_gaps():
    from eov.datasets.streaming import continue_budget_state
    # three slots stopped at different positions, with buffered and pending draws
    state = dict(slots=3, offset=30, per_slot=[
        dict(k=4, pending=[], buffer=[39, 42]),        # drew 30 33 36 39 42: trained 30 33 36
        dict(k=2, pending=[7], buffer=[34]),           # drew 31 34; 7 still pending
        dict(k=3, pending=[], buffer=[])])             # drew 32 35 38: all trained
    trained = {30, 33, 36, 31, 32, 35, 38}
    new = continue_budget_state(state, 2)
    assert new['offset'] == 30 + 4 * 3
    dealt = sorted(g for p in new['per_slot'] for g in p['pending'])
    assert dealt == [7, 34, 37, 39, 40, 41, 42]
    assert not trained & set(dealt)
    # together with what the two new slots draw next, every draw from 30 on comes once
    nxt = {new['offset'] + k * 2 + s for k in range(5) for s in range(2)}
    assert sorted(trained | set(dealt) | nxt) == [7] + list(range(30, 52))
    assert continue_budget_state(state, 3) == state      # same slots: the same state
    fresh = continue_budget_state(None, 2)
    assert fresh == dict(slots=2, offset=0, per_slot=[dict(k=0, pending=[], buffer=[])] * 2)


def test_a_token_budget_refuses_what_it_cannot_pack(tiny_cfg, shards):
    with pytest.raises(ValueError, match='the collate has packing=False'):
        _dataset(tiny_cfg, shards, max_tokens=300,
                 collate=dict(type='eov.eov_collate', packing=False))
    dataset = _dataset(tiny_cfg, shards, max_tokens=20)   # rows of 20, not the collate's 2048
    with pytest.raises(RecordError, match=r'train.jsonl:\d+: \d+ tokens do not fit '
                                          'max_tokens=20'):
        _take(dataset, 1)


def test_a_third_party_stream_is_recognised_by_its_class_not_its_name(tiny_cfg, shards):
    """``streams_batches = True`` on a registered class: the loader is completed for a
    stream and a PCMA stage sets its mixture on the dataset, whatever the class is called."""
    from eov.engine.config import expand_streaming_loader
    from eov.registry import DATASETS
    from eov.stages import Stage

    @DATASETS.register_module(force=True)
    class MyShardStream(StreamingInstructionDataset):
        pass

    cfg = tiny_cfg.copy()
    cfg.train_dataloader.dataset = dict(type='MyShardStream', shards=shards,
                                        pipeline=tiny_cfg.train_dataloader.dataset.pipeline)
    expand_streaming_loader(cfg)
    loader = cfg.train_dataloader
    assert loader.batch_size is None and loader.sampler is None
    assert loader.dataset.batch_size == 4 and loader.collate_fn.type == 'eov.streaming_collate'
    assert cfg.train_cfg.type == 'eov.EOVIterTrainLoop'
    staged = Stage(name='s', iters=2, mixture={'optical/*': 1.0}).apply(cfg, 'w', None)
    loader = staged.train_dataloader
    assert loader.dataset.mixture == {'optical/*': 1.0} and loader.sampler is None


def test_embedded_images_make_a_shard_set_that_needs_no_image_files(tiny_cfg, synth_data,
                                                                     shards, tmp_path):
    """``embed_images``: the shards carry every file a record names; with the image files
    gone they give the samples the referencing shards give; a record whose file is missing
    is a bad record, named."""
    import shutil
    copy = tmp_path / 'data'
    shutil.copytree(synth_data, copy)
    records = [json.loads(line) for line in open(copy / 'train.jsonl')]
    records[3]['images'][0]['path'] = 'images/nope.png'
    write_records(copy / 'train.jsonl', records)
    packed = str(tmp_path / 'embedded')
    tool = load_tool('build_shards')
    tool.main([str(copy / 'train.jsonl'), packed, '--data-root', str(copy), '--embed-images',
               '--part-records', '20', '--no-progress'])
    manifest = read_manifest(packed)
    assert manifest['embedded_images'] is True and manifest['records'] == 47
    bad = open(os.path.join(packed, 'bad_records.txt')).read()
    assert f'{copy}/train.jsonl:4' in bad and 'image file not found' in bad and 'nope.png' in bad
    files = ShardRecords(packed).files('optical/grounding', 0)
    assert len(files) == 1 and files[0]['path'].startswith('images/')
    assert files[0]['data'] == (copy / files[0]['path']).read_bytes()
    shutil.rmtree(copy / 'images')          # the shards alone from here on
    ours = _take(_dataset(tiny_cfg, packed, batch_size=47), 1)[0]
    ref = _take(_dataset(tiny_cfg, shards, batch_size=48), 1)[0]
    by_id = {s['id']: i for i, s in enumerate(ref['data_samples'])}
    assert len(ours['data_samples']) == 47
    pixels, ref_pixels = ours['inputs']['pixel_values'], ref['inputs']['pixel_values']
    for i, sample in enumerate(ours['data_samples']):
        j = by_id[sample['id']]
        for key in pixels:
            assert torch.equal(pixels[key][i], ref_pixels[key][j])
    assert not [d for d in os.listdir(tempfile.gettempdir()) if d.startswith('eov-embedded-')]
