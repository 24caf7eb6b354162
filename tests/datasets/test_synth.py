import json
import os

import numpy as np
from PIL import Image
import pytest

from eov.datasets import validate_record
from eov.datasets.synth import COLORS, SynthConfig, generate, main, make_scene


def _read(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    a = generate(str(tmp_path / 'a'), {'train': 6}, seed=3, progress=False)
    b = generate(str(tmp_path / 'b'), {'train': 6}, seed=3, progress=False)
    c = generate(str(tmp_path / 'c'), {'train': 6}, seed=4, progress=False)
    assert _read(a['train']) == _read(b['train'])
    assert _read(a['train']) != _read(c['train'])
    for rec in _read(a['train']):
        pa = np.asarray(Image.open(tmp_path / 'a' / rec['images'][0]['path']))
        pb = np.asarray(Image.open(tmp_path / 'b' / rec['images'][0]['path']))
        assert (pa == pb).all()


def test_records_follow_the_schema_and_box_the_named_object(tmp_path):
    cfg = SynthConfig(min_objects=2, max_objects=3)
    paths = generate(str(tmp_path), {'train': 20}, seed=0, cfg=cfg, progress=False)
    for i, rec in enumerate(_read(paths['train'])):
        validate_record(rec, f'train.jsonl:{i + 1}')
        scene = rec['meta']['scene']
        assert 2 <= len(scene) <= 3
        target = rec['targets'][0]
        color, shape = target['label'].split()
        assert target['label'] in rec['conversations'][0]['value']
        match = [o for o in scene if o['color'] == color and o['shape'] == shape]
        assert len(match) == 1 and match[0]['bbox'] == target['bbox']
        assert len({o['color'] for o in scene}) == len(scene)  # unique colours
        img = np.asarray(Image.open(tmp_path / rec['images'][0]['path']))
        x1, y1, x2, y2 = (int(v) for v in target['bbox'])
        # the target colour is present inside its box
        patch = img[y1:y2, x1:x2].reshape(-1, 3)
        assert (np.abs(patch.astype(int) - COLORS[color]).sum(1) == 0).mean() > 0.4


def test_objects_do_not_overlap():
    rng = np.random.default_rng(1)
    for _ in range(30):
        _, objs = make_scene(rng, SynthConfig(min_objects=3, max_objects=3))
        for i, a in enumerate(objs):
            for b in objs[i + 1:]:
                ab, bb = a['bbox'], b['bbox']
                assert ab[2] <= bb[0] or bb[2] <= ab[0] or ab[3] <= bb[1] or bb[3] <= ab[1]


def test_cli_writes_geotiff(tmp_path):
    main([str(tmp_path), '--suite', 'grounding', '--train', '2', '--test', '1', '--format', 'tif'])
    recs = _read(tmp_path / 'train.jsonl')
    assert recs[0]['images'][0]['path'].endswith('.tif')
    assert os.path.isfile(tmp_path / recs[0]['images'][0]['path'])
    assert len(_read(tmp_path / 'test.jsonl')) == 1


@pytest.mark.parametrize('argv, message', [
    (['--train', '-5', '--test', '2'], '--train -5: a record count must be >= 0'),
    (['--train', '2', '--test', '-1'], '--test -1: a record count must be >= 0'),
    (['--suite', 'grounding', '--train', '2', '--val', '-3'], '--val -3: a record count'),
    (['--train', '0', '--test', '0'], 'nothing to write'),
    (['--suite', 'grounding', '--train', '0', '--test', '0'], 'nothing to write'),
])
def test_cli_refuses_negative_counts(tmp_path, capsys, argv, message):
    """``--train -5`` used to write no train split and exit 0."""
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as info:
        main([str(out), *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
