"""EOV-Synth v2: real GeoTIFFs and videos, read back through rasterio, OpenCV and eov's plugins."""
import collections
import json
import os
import shutil

import numpy as np
import pytest

rasterio = pytest.importorskip('rasterio')
cv2 = pytest.importorskip('cv2')

from eov.datasets.schema import validate_record  # noqa: E402
from eov.heads.catalog import BUILTIN_TASKS as TASKS  # noqa: E402
from eov.datasets.transforms import BuildConversation  # noqa: E402
from eov.datasets.synth import (GSD, MODALITY_ORDER, generate_v2, main,  # noqa: E402
                                matrix_markdown, task_matrix)
from eov.datasets.synth import scenes as S  # noqa: E402
from eov.datasets.synth.multimodal import cell_sequence  # noqa: E402
from eov.registry import HEADS, MODALITIES  # noqa: E402
from eov.modalities.sensors import S2_L2A_BANDS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 64
#: One cycle of the weighted round robin holds every cell (weight) times.
CYCLE = len(cell_sequence())

MODALITY_CFGS = {
    'optical': dict(type='optical', image_size=SIZE),
    'sar': dict(type='sar', image_size=SIZE),
    'infrared': dict(type='infrared', image_size=SIZE),
    'multispectral': dict(type='multispectral', sensor='sentinel2_l2a', image_size=SIZE),
    'temporal': dict(type='temporal', num_frames=4, image_size=SIZE),
    'video': dict(type='video', num_frames=4, image_size=SIZE),
    'fusion': dict(type='fusion', image_size=SIZE,
                   members=dict(optical=dict(type='optical'), sar=dict(type='sar'))),
}
#: Shape of ``load()['pixels']`` per modality.
PIXEL_SHAPES = {'optical': (3, SIZE, SIZE), 'sar': (2, SIZE, SIZE), 'infrared': (1, SIZE, SIZE),
                'multispectral': (12, SIZE, SIZE), 'temporal': (4, 3, SIZE, SIZE),
                'video': (4, 3, SIZE, SIZE), 'fusion': (5, SIZE, SIZE)}


def _read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def _read_tif(root, rel):
    with rasterio.open(os.path.join(root, rel)) as ds:
        return ds.read()


def _video_frames(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[:, :, ::-1].astype(np.int32))
    cap.release()
    return frames


@pytest.fixture(scope='module')
def synth2(tmp_path_factory):
    """Two cycles of every cell in train, one in test (about 2 records per cell and split)."""
    out = str(tmp_path_factory.mktemp('eov_synth_v2'))
    paths = generate_v2(out, {'train': 2 * CYCLE, 'test': CYCLE}, seed=0, progress=False)
    return out, {split: _read_jsonl(p) for split, p in paths.items()}


@pytest.fixture(scope='module')
def records(synth2):
    return [r for recs in synth2[1].values() for r in recs]


@pytest.fixture(scope='module')
def heads():
    return {t: HEADS.build(dict(type=t, serializer=dict(type='LocTokenSerializer')))
            for t in TASKS}


def test_files_and_config(synth2):
    out, splits = synth2
    with open(os.path.join(out, 'synth_config.json')) as f:
        config = json.load(f)
    assert config['seed'] == 0 and config['splits'] == {'train': 2 * CYCLE, 'test': CYCLE}
    assert config['matrix'] == task_matrix()
    assert config['records']['train'] == len(splits['train']) == 2 * CYCLE
    assert not any(name.endswith(('.tmp', '.partial')) for name in os.listdir(out))
    for modality in MODALITY_ORDER:
        assert os.path.isdir(os.path.join(out, modality, 'train'))


def test_records_validate_and_heads_answer(records, heads):
    for rec in records:
        validate_record(rec, rec['id'])
        human = rec['conversations'][0]['value']
        assert human.endswith('\n<image>') and human.count('<image>') == 1
        assert rec['conversations'][1]['value'] is None
        assert rec['meta']['image_size'] == [SIZE, SIZE]
        task, _, variant = rec['meta']['cell'].partition(':')[2].partition('/')
        assert task == rec['task']
        assert rec['meta'].get('variant') == (variant or None)
        answer = heads[rec['task']].answer_text(rec['targets'], (SIZE, SIZE))
        assert isinstance(answer, str) and answer.strip()
        # the question of a region record keeps a slot that BuildConversation fills
        # with the box in the configured serializer's format
        if rec['task'] == 'region':
            assert '{region}' in human
            for serializer, start in [(dict(type='LocTokenSerializer'), '<box><loc_'),
                                      (dict(type='GeoChatTextSerializer'), '{<')]:
                build = BuildConversation(heads=[dict(type='region')], serializer=serializer)
                out = build.transform(dict(rec, image_size=(SIZE, SIZE)))
                assert start in out['messages'][0][1] and '{region}' not in out['messages'][0][1]
        # spatial answers are structural, never text
        if rec['task'] in ('grounding', 'detection', 'segmentation'):
            assert all(t['type'] in ('hbb', 'obb', 'poly') for t in rec['targets'])
        for t in rec['targets']:
            if t['type'] == 'poly':
                assert 3 <= len(t['points']) <= 12
            if t['type'] == 'count':
                assert 0 <= t['count'] <= 4
            if t['type'] == 'choice':
                assert 3 <= len(t['choices']) <= 4 and t['answer'] in 'ABCD'
            if t['type'] == 'hbb' and t.get('role') != 'input' and rec['task'] != 'change':
                x1, y1, x2, y2 = t['bbox']
                assert max(x2 - x1, y2 - y1) >= 6          # objects of 6 px or more
        if rec['task'] == 'detection':
            assert 1 <= len(rec['targets']) <= 3


def test_every_record_loads_through_its_modality(synth2, records):
    out, _ = synth2
    modalities = {m: MODALITIES.build(cfg) for m, cfg in MODALITY_CFGS.items()}
    seen = collections.Counter()
    for rec in records:
        loaded = modalities[rec['modality']].load(rec['images'], out)
        pixels = loaded['pixels']
        assert tuple(pixels.shape) == PIXEL_SHAPES[rec['modality']], rec['id']
        assert bool(pixels.isfinite().all()) and bool(loaded['valid_mask'].all()), rec['id']
        if rec['modality'] == 'temporal':
            assert int(loaded['frame_mask'].sum()) == min(len(rec['images']), 4)
        seen[rec['modality']] += 1
    assert set(seen) == set(MODALITY_ORDER)


def test_matrix_requirements_and_balance(synth2):
    matrix = task_matrix()
    assert list(matrix) == list(MODALITY_ORDER)
    by_task = collections.defaultdict(set)
    for modality, cells in matrix.items():
        tasks = {c.partition('/')[0] for c in cells}
        assert len(tasks) >= 5, (modality, tasks)
        assert tasks <= set(TASKS)
        for task in tasks:
            by_task[task].add(modality)
    assert set(by_task) == set(TASKS)
    assert all(len(mods) >= 2 for mods in by_task.values()), by_task
    # OBB grounding exists, change is more than temporal
    assert any('grounding/obb' in cells for cells in matrix.values())
    assert len(by_task['change']) >= 2
    # every cell has records in both splits (the round robin: each cell weight times a cycle)
    _, splits = synth2
    cells = {f'{m}:{c}' for m, cs in matrix.items() for c in cs}
    for split, recs in splits.items():
        counts = collections.Counter(r['meta']['cell'] for r in recs)
        assert set(counts) == cells, split
    train = collections.Counter(r['meta']['cell'] for r in splits['train'])
    assert min(train.values()) >= 2


def test_docs_table_is_the_code_matrix():
    with open(os.path.join(ROOT, 'docs', 'eov_synth.md'), encoding='utf-8') as f:
        doc = f.read()
    assert matrix_markdown() in doc, 'regenerate the table of docs/eov_synth.md with ' \
        'eov.datasets.synth.matrix_markdown()'
    assert f'`sum(weights)` = {CYCLE} consecutive' in doc


def test_geotiffs_are_projected_north_up_and_as_recorded(synth2, records):
    out, _ = synth2
    origins = set()
    for rec in records:
        if rec['modality'] == 'video':
            assert 'transform' not in rec['meta']
            continue
        expected = rec['meta']['transform']
        for entry in rec['images']:
            gsd = GSD[entry['path'].split('/')[0]]   # the optical twin of fusion: fusion's
            with rasterio.open(os.path.join(out, entry['path'])) as ds:
                assert ds.driver == 'GTiff'
                assert ds.crs.is_projected and ds.crs.to_epsg() == 32631
                assert rec['meta']['crs'] == 'EPSG:32631'
                t = ds.transform
                assert (t.b, t.d) == (0.0, 0.0) and t.a == gsd and t.e == -gsd  # north-up
                assert list(t)[:6] == pytest.approx(expected)
                assert (ds.width, ds.height) == (SIZE, SIZE)
        origins.add((expected[2], expected[5]))
    assert len(origins) > 0.9 * sum(r['modality'] != 'video' for r in records)


def test_stored_units_per_sensor(synth2, records):
    out, _ = synth2
    expected = {'rgb': ('uint8', 3), 'sentinel1_grd': ('float32', 2), 'thermal': ('uint8', 1),
                'sentinel2_l2a': ('uint16', 12)}
    for rec in records:
        if rec['modality'] == 'video':
            continue
        for entry in rec['images']:
            with rasterio.open(os.path.join(out, entry['path'])) as ds:
                assert (ds.dtypes[0], ds.count) == expected[entry['sensor']]
                if entry['sensor'] == 'sentinel2_l2a':
                    assert ds.nodata == 0 and ds.read().min() >= 1    # never nodata
                    assert ds.descriptions == S2_L2A_BANDS


def test_temporal_series(synth2, records):
    out, _ = synth2
    for rec in (r for r in records if r['modality'] == 'temporal'):
        times = [e['time'] for e in rec['images']]
        assert 2 <= len(times) <= 6 and times == sorted(times) and len(set(times)) == len(times)
        assert all(e['sensor'] == 'rgb' for e in rec['images'])
        if rec['task'] == 'change' and rec['meta']['variant'] == 'regions':
            assert bool(rec['targets']) == bool(rec['meta']['events'])
        first = _read_tif(out, rec['images'][0]['path']).astype(int)
        last = _read_tif(out, rec['images'][-1]['path']).astype(int)
        if rec['task'] == 'change' and rec['meta']['variant'] == 'regions':
            for t in rec['targets']:
                if t['type'] == 'hbb':   # something appeared or disappeared in the box
                    x1, y1, x2, y2 = (int(v) for v in t['bbox'])
                    diff = np.abs(first[:, y1:y2, x1:x2] - last[:, y1:y2, x1:x2]).mean()
                    assert diff > 20, rec['id']


def test_same_seed_same_data_other_seed_other_data(tmp_path, synth2):
    out, splits = synth2
    small = {'train': 30, 'test': 12}
    a = generate_v2(str(tmp_path / 'a'), small, seed=0, progress=False)
    b = generate_v2(str(tmp_path / 'b'), small, seed=1, progress=False)
    for split, n in small.items():
        recs_a = _read_jsonl(a[split])
        # a record depends only on (seed, split, index): the first records of the big set
        assert recs_a == splits[split][:len(recs_a)]
        recs_b = _read_jsonl(b[split])
        assert [r['meta']['cell'] for r in recs_a] != [r['meta']['cell'] for r in recs_b]
    for rec in _read_jsonl(a['train']):
        for entry in rec['images']:
            if rec['modality'] == 'video':
                fa = _video_frames(os.path.join(tmp_path / 'a', entry['path']))
                fb = _video_frames(os.path.join(out, entry['path']))
                assert len(fa) == len(fb) and all((x == y).all() for x, y in zip(fa, fb))
            else:
                pa = _read_tif(tmp_path / 'a', entry['path'])
                pb = _read_tif(out, entry['path'])
                assert pa.dtype == pb.dtype and (pa == pb).all()
    # another seed: other scenes at the same indices
    def pixels(root, rec):
        return b''.join(_read_tif(root, e['path']).tobytes() for e in rec['images']
                        if rec['modality'] != 'video')
    same = sum(pixels(tmp_path / 'a', ra) == pixels(tmp_path / 'b', rb) for ra, rb in zip(
        _read_jsonl(a['train']), _read_jsonl(b['train'])) if ra['modality'] != 'video')
    assert same == 0


def _region_pixels(points, size=SIZE, erode=2):
    mask = S.polygon_mask(points, size)
    for _ in range(erode):
        inner = mask.copy()
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        mask = inner
    return mask


def test_multispectral_lookalikes_differ_only_outside_the_visible(synth2, records):
    out, _ = synth2
    band = {b: i for i, b in enumerate(S2_L2A_BANDS)}
    sums = collections.defaultdict(lambda: np.zeros(12))
    counts = collections.Counter()
    nonvisible = 0
    for rec in (r for r in records if r['modality'] == 'multispectral'):
        data = _read_tif(out, rec['images'][0]['path']).astype(np.float64)
        for region in rec['meta']['regions']:
            mask = _region_pixels(region['points'])
            if mask.sum() < 10:
                continue
            sums[region['label']] += data[:, mask].sum(axis=1)
            counts[region['label']] += int(mask.sum())
        nonvisible += rec['meta'].get('subset') == 'nonvisible'
    assert nonvisible > 0
    mean = {k: sums[k] / counts[k] for k in counts}
    # grass has the NIR plateau, turf not; water absorbs NIR and SWIR, asphalt not
    differ = {('grassland', 'artificial turf'): ('B07', 'B08', 'B8A'),
              ('water', 'asphalt'): ('B08', 'B8A', 'B11', 'B12')}
    for a, b in S.NONVISIBLE_PAIRS:
        assert a in mean and b in mean, (a, b, list(mean))
        for name in ('B02', 'B03', 'B04'):           # alike in RGB ...
            va, vb = mean[a][band[name]], mean[b][band[name]]
            assert abs(va - vb) / max(va, vb) < 0.05, (a, b, name, va, vb)
        for name in differ[a, b]:                    # ... not in NIR / SWIR
            va, vb = mean[a][band[name]], mean[b][band[name]]
            assert max(va, vb) / min(va, vb) > 3, (a, b, name, va, vb)
    # vegetation: red edge rise and an NIR plateau of 0.35-0.5 reflectance
    grass = mean['grassland'] / 1e4
    assert grass[band['B04']] < 0.1 < grass[band['B06']] and 0.35 < grass[band['B08']] < 0.5
    assert mean['water'][band['B12']] / 1e4 < 0.02          # water absorbs SWIR


def test_sar_is_linear_power_with_gamma_speckle(synth2, records):
    out, _ = synth2
    samples = []
    for rec in records:
        for entry in rec['images']:
            if entry['sensor'] != 'sentinel1_grd':
                continue
            assert entry.get('units') == 'linear'
            data = _read_tif(out, entry['path'])
            assert data.dtype == np.float32 and data.min() > 0
            assert np.median(data) < 1.0        # linear power, not dB (which is negative)
            if rec['task'] == 'segmentation' and rec['targets'][0]['label'] == 'water':
                # the water body: homogeneous backscatter
                mask = _region_pixels(rec['targets'][0]['points'])
                for obj in rec['meta']['objects']:
                    x1, y1, x2, y2 = (int(v) for v in obj['bbox'])
                    mask[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = False
                samples.append(data[0][mask])
    vv = np.concatenate(samples)
    assert vv.size > 2000
    sigma0 = 10 ** (S.SAR_LANDCOVER_DB[S.WATER][0] / 10)
    assert vv.mean() / sigma0 == pytest.approx(1.0, abs=0.08)
    # intensity speckle of L looks: coefficient of variation 1 / sqrt(L)
    assert vv.std() / vv.mean() == pytest.approx(1 / np.sqrt(S.SAR_LOOKS), abs=0.05)


def test_clouds_hide_objects_in_optical_but_not_in_sar(synth2):
    out, splits = synth2
    test_ids = {r['id']: r for r in splits['test']}
    checked = 0
    for rec in (r for recs in splits.values() for r in recs if r['modality'] == 'fusion'):
        if not rec['meta']['hidden']:
            continue
        assert rec['meta']['subset'] == 'cloud'
        optical = _read_tif(out, rec['images'][0]['path']).astype(int)
        sar = _read_tif(out, rec['images'][1]['path'])
        cloud = S.polygon_mask(rec['meta']['cloud'], SIZE)
        assert (optical[:, cloud] > 225).all()                   # opaque white
        for x1, y1, x2, y2 in rec['meta']['hidden']:
            x1, y1, x2, y2 = int(x1), int(y1), int(x2), int(y2)
            box = np.zeros((SIZE, SIZE), dtype=bool)
            box[y1:y2, x1:x2] = True
            # the optical image shows only cloud where the ship is ...
            assert (optical[:, box & cloud] > 225).all() and (box & cloud).mean() > 0
            # ... SAR shows a bright target, far above the water around it
            assert np.percentile(sar[0][box], 90) > 20 * np.median(sar[0][~box])
        checked += 1
        if rec['id'].startswith('synth2-test-'):
            twin = test_ids[rec['id'] + '-optical']
            assert twin['modality'] == 'optical' and twin['meta']['subset'] == 'cloud'
            assert twin['images'] == [dict(path=rec['images'][0]['path'], sensor='rgb')]
            assert twin['conversations'] == rec['conversations']
            assert twin['targets'] == rec['targets']
    assert checked > 0
    # twins only in the test split, one per cloud-subset fusion test record
    fusion_cloud = [r['id'] for r in splits['test']
                    if r['modality'] == 'fusion' and r['meta'].get('subset') == 'cloud']
    twins = [r['id'] for r in splits['test'] if r['id'].endswith('-optical')]
    assert twins == [i + '-optical' for i in fusion_cloud] and twins
    assert not any(r['id'].endswith('-optical') for r in splits['train'])


def test_video_round_trip_and_motion(synth2, records):
    out, _ = synth2
    video = MODALITIES.build(MODALITY_CFGS['video'])
    moved = 0
    for rec in (r for r in records if r['modality'] == 'video'):
        path = os.path.join(out, rec['images'][0]['path'])
        assert os.path.splitext(path)[1] in ('.mp4', '.avi')
        frames = _video_frames(path)
        assert len(frames) == rec['meta']['num_frames'] == 8
        assert frames[0].shape == (SIZE, SIZE, 3)
        assert video.load(rec['images'], out)['frame_mask'].all()
        static = np.ones((SIZE, SIZE), dtype=bool)
        for track in rec['meta']['tracks']:
            x1, y1, x2, y2 = S.box_union(track['first'], track['last'])
            static[max(int(y1) - 2, 0):int(y2) + 2, max(int(x1) - 2, 0):int(x2) + 2] = False
            if track['direction'] is None:
                assert track['first'] == track['last']
                continue
            first, last = track['first'], track['last']
            dx = (last[0] + last[2] - first[0] - first[2]) / 2
            dy = (last[1] + last[3] - first[1] - first[3]) / 2
            assert {'east': dx > 8, 'west': dx < -8, 'south': dy > 8,
                    'north': dy < -8}[track['direction']]
            bx1, by1, bx2, by2 = (int(v) for v in track['last'])
            change = np.abs(frames[-1][by1:by2, bx1:bx2] - frames[0][by1:by2, bx1:bx2]).mean()
            assert change > 15, rec['id']
            moved += 1
        # nothing else changes between the first and the last frame
        assert np.abs(frames[-1] - frames[0])[static].mean() < 6, rec['id']
    assert moved > 0


def test_cli(tmp_path):
    paths = main([str(tmp_path / 'v2'), '--train', '3', '--test', '2', '--seed', '5',
                  '--no-progress'])
    assert len(_read_jsonl(paths['train'])) == 3
    with open(tmp_path / 'v2' / 'synth_config.json') as f:
        assert json.load(f)['seed'] == 5
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'bad'), '--train', '1', '--format', 'tif'])   # grounding-only flag
    paths = main([str(tmp_path / 'g'), '--suite', 'grounding', '--train', '2', '--test', '1'])
    assert _read_jsonl(paths['train'])[0]['id'] == 'synth-train-0'


def _scored_counts(records):
    from eov.datasets.synth.multimodal import scored_cells
    counts = collections.Counter()
    for rec in records:
        counts.update(scored_cells(rec))
    return counts


def test_balanced_test_split_gives_every_scoreboard_cell_n_records(tmp_path):
    """--test-per-cell: every (modality, cell) and every subset cell reaches N, twins included."""
    n = 4
    paths = generate_v2(str(tmp_path / 'a'), {}, seed=3, progress=False, per_cell={'test': n})
    recs = _read_jsonl(paths['test'])
    counts = _scored_counts(recs)
    base = {f'{m}/{c}' for m, cells in task_matrix().items() for c in cells}
    assert base <= set(counts)
    assert min(counts.values()) >= n, {k: v for k, v in counts.items() if v < n}
    subsets = {k for k in counts if k.count('/') >= 1 and k not in base}
    # the subsets of the demo: clouds (fusion and its optical twins) and non-visible bands
    assert any(k.startswith('fusion/') and k.endswith('/cloud') for k in subsets)
    assert any(k.startswith('optical/') and k.endswith('/cloud') for k in subsets)
    assert any(k.endswith('/nonvisible') for k in subsets)
    # round 0 builds N of every cell in turn, then short subsets are topped up
    built = [r for r in recs if 'twin_of' not in r['meta']]
    assert len({r['meta']['cell'] for r in built[:len(base)]}) == len(base)
    # parents hold round 0 alone (N records of every generator cell, their natural
    # subset share); top-up records and the optical twins count in their subset only
    first = [r for r in recs if int(r['id'].split('-')[2]) < n * len(base)]
    assert all(counts[k] == n for k in base), {k: counts[k] for k in base if counts[k] != n}
    extra = [r for r in recs if r not in first or 'twin_of' in r['meta']]
    assert extra and all(r['meta']['subset_only'] and r['meta']['subset'] for r in extra)
    assert not any(r['meta'].get('subset_only') for r in first if 'twin_of' not in r['meta'])
    assert counts['optical/grounding/obb'] == n and counts['optical/grounding/obb/cloud'] >= n
    # no files of dropped top-up records are left behind
    on_disk = {str(p.relative_to(tmp_path / 'a')) for p in (tmp_path / 'a').rglob('*')
               if p.is_file() and p.suffix in ('.tif', '.mp4', '.avi')}
    used = {e['path'] for r in recs for e in r['images']}
    assert on_disk <= used, sorted(on_disk - used)[:5]
    ids = [r['id'] for r in recs]
    assert len(ids) == len(set(ids))
    # deterministic: the same seed gives the same file
    again = generate_v2(str(tmp_path / 'b'), {}, seed=3, progress=False, per_cell={'test': n})
    with open(paths['test']) as f, open(again['test']) as g:
        assert f.read() == g.read()
    with open(tmp_path / 'a' / 'synth_config.json') as f:
        assert json.load(f)['per_cell'] == {'test': n}


def test_modality_subset_and_bad_arguments(tmp_path):
    paths = generate_v2(str(tmp_path / 'opt'), {'train': 30}, seed=1, progress=False,
                        modalities=['optical'])
    recs = _read_jsonl(paths['train'])
    assert {r['modality'] for r in recs} == {'optical'}
    assert {r['meta']['cell'] for r in recs} == {f'optical:{c}' for c in task_matrix()['optical']}
    with pytest.raises(ValueError, match="no modality entry lidar"):
        generate_v2(str(tmp_path / 'x'), {'train': 1}, modalities=['optical', 'lidar'])
    with pytest.raises(ValueError, match='both a record count and per_cell'):
        generate_v2(str(tmp_path / 'x'), {'test': 1}, per_cell={'test': 2})
    with pytest.raises(ValueError, match='at least 1 record per cell'):
        generate_v2(str(tmp_path / 'x'), {}, per_cell={'test': 0})
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'y'), '--train', '1', '--test', '2', '--test-per-cell', '2'])
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'y'), '--train', '1', '--modalities', 'radar'])
    paths = main([str(tmp_path / 'z'), '--train', '2', '--test-per-cell', '1',
                  '--modalities', 'sar', '--no-progress'])
    recs = _read_jsonl(paths['test'])
    assert {r['modality'] for r in recs} == {'sar'}
    assert set(_scored_counts(recs)) == {f'sar/{c}' for c in task_matrix()['sar']}


def test_on_the_fly_dataset_equals_the_written_split(synth2):
    """SynthV2Dataset builds record i as the generator writes it: same record, same pixels;
    its scratch files are removed once loaded."""
    import torch

    from eov.datasets import SynthV2Dataset
    from eov.datasets.samplers import MixtureSampler
    from eov.datasets.transforms import LoadImages
    from mmengine.registry import init_default_scope
    init_default_scope('eov')
    out, splits = synth2
    written = splits['train']
    ds = SynthV2Dataset(seed=0, length=len(written), modalities=list(MODALITY_CFGS),
                        pipeline=[dict(type='LoadImages', modalities=MODALITY_CFGS)])
    assert len(ds) == len(written)
    assert [ds.get_data_info(i)['modality'] for i in range(len(ds))] == \
        [r['modality'] for r in written]
    load = LoadImages(MODALITY_CFGS)
    for i in range(0, len(written), 7):
        ref = written[i]
        record = ds.build_record(i)
        for key in ('id', 'task', 'modality', 'conversations', 'targets', 'meta'):
            assert record[key] == ref[key], (i, key)
        shutil.rmtree(record['data_root'])          # build_record alone leaves its files
        os.makedirs(record['data_root'])
        got = ds[i]
        left = [os.path.join(dp, f) for dp, _, fs in os.walk(got['data_root']) for f in fs]
        assert not left, left
        disk = load.transform(dict(ref, data_root=out))
        torch.testing.assert_close(got['images'][0]['pixels'], disk['images'][0]['pixels'])
    # the mixture sampler groups sources from the stubs, without building records
    sampler = MixtureSampler(ds, weights={'sar/*': 1.0}, seed=0)
    drawn = [i for i, _ in zip(sampler, range(20))]
    assert {ds.get_data_info(i)['modality'] for i in drawn} == {'sar'}
    with pytest.raises(ValueError, match='length >= 1'):
        SynthV2Dataset(length=0)
    only = SynthV2Dataset(seed=1, length=40, entries=['infrared'])
    assert {only.get_data_info(i)['modality'] for i in range(40)} == {'infrared'}


def test_choice_answer_style_changes_only_the_choice_questions(tmp_path):
    """--choice-answer option: multiple-choice questions ask for the option, nothing else
    changes, the style is recorded, and SynthV2Dataset builds the same records."""
    from eov.datasets import SynthV2Dataset
    letter = _read_jsonl(main([str(tmp_path / 'l'), '--train', '60', '--test', '0',
                               '--seed', '2', '--no-progress'])['train'])
    option = _read_jsonl(main([str(tmp_path / 'o'), '--train', '60', '--test', '0', '--seed',
                               '2', '--choice-answer', 'option', '--no-progress'])['train'])
    choice = [i for i, r in enumerate(letter) if r['task'] == 'choice']
    assert choice
    for i, (a, b) in enumerate(zip(letter, option)):
        assert a['targets'] == b['targets'] and a['images'] == b['images'], i
        qa, qb = a['conversations'][0]['value'], b['conversations'][0]['value']
        if i not in choice:
            assert qa == qb, i
        else:
            assert 'letter' not in qb, qb
    assert any('letter' in letter[i]['conversations'][0]['value'] for i in choice)
    with open(tmp_path / 'o' / 'synth_config.json') as f:
        assert json.load(f)['choice_answer'] == 'option'
    ds = SynthV2Dataset(seed=2, length=60, choice_answer='option')
    record = ds.build_record(choice[0])
    shutil.rmtree(record['data_root'])
    os.makedirs(record['data_root'])
    assert record['conversations'] == option[choice[0]]['conversations']
    with pytest.raises(ValueError, match='choice_answer must be one of'):
        SynthV2Dataset(length=2, choice_answer='text')
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'x'), '--train', '1', '--choice-answer', 'text'])
