"""Targets that leave their image: clipped (partly), or a skippable bad record (wholly / empty)."""
import json
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from eov.datasets.schema import RecordError
from eov.datasets.transforms import BuildConversation
from eov.registry import DATASETS
from eov.slis import LocTokenSerializer
from eov.slis.geometry import FIT_CLIPPED, FIT_INSIDE, fit_to_image

SIZE = (64, 64)


@pytest.mark.parametrize('obj, expected', [
    ({'type': 'hbb', 'bbox': [10, 10, 20, 20]}, ('inside', [10, 10, 20, 20])),
    ({'type': 'hbb', 'bbox': [-5, 50, 20, 70]}, ('clipped', [0.0, 50.0, 20.0, 64.0])),
    ({'type': 'poly', 'points': [[60, 60], [70, 60], [70, 70]]},
     ('clipped', [[60.0, 60.0], [64.0, 60.0], [64.0, 64.0]])),
])
def test_partly_outside_is_clipped(obj, expected):
    out, outcome = fit_to_image(obj, SIZE)
    assert outcome == {'inside': FIT_INSIDE, 'clipped': FIT_CLIPPED}[expected[0]]
    assert out.get('bbox', out.get('points')) == expected[1]


@pytest.mark.parametrize('obj, message', [
    ({'type': 'hbb', 'bbox': [70, 70, 90, 90]}, 'wholly outside the 64x64 image'),
    ({'type': 'hbb', 'bbox': [-30, -30, -1, -1]}, 'wholly outside'),
    ({'type': 'hbb', 'bbox': [10, 10, 10, 30]}, 'zero area'),
    ({'type': 'point', 'point': [65, 3]}, 'outside the 64x64 image'),
    ({'type': 'obb', 'obb': [80, 30, 10, 4, 0]}, 'outside'),
])
def test_wholly_outside_or_empty_is_an_error(obj, message):
    with pytest.raises(ValueError, match=message):
        fit_to_image(obj, SIZE)


def test_the_answer_is_the_clipped_box_not_clamped_loc_tokens():
    conv = BuildConversation(heads=[dict(type='grounding')],
                             serializer=dict(type='LocTokenSerializer', bins=32))
    rec = dict(task='grounding', source='t.jsonl:1', image_size=SIZE,
               conversations=[{'from': 'human', 'value': 'Where is it?\n<image>'},
                              {'from': 'assistant', 'value': None}],
               targets=[{'type': 'hbb', 'bbox': [40, 40, 90, 90]}])
    out = conv.transform(dict(rec))
    clipped = LocTokenSerializer(bins=32, with_labels=False).encode(
        [{'type': 'hbb', 'bbox': [40, 40, 64, 64]}], SIZE)
    assert out['messages'][1][1] == clipped
    with pytest.raises(RecordError, match=r't.jsonl:1: target 0 \(hbb\): .* wholly outside'):
        conv.transform(dict(rec, targets=[{'type': 'hbb', 'bbox': [70, 70, 90, 90]}]))


def test_a_dataset_skips_and_counts_records_with_targets_outside(tiny_cfg, tmp_path):
    data = tmp_path / 'data'
    shutil.copytree(tiny_cfg.data_root, data)
    lines = (data / 'train.jsonl').read_text().splitlines()
    rec = json.loads(lines[0])
    rec['targets'][0]['bbox'] = [100, 100, 120, 120]
    lines[0] = json.dumps(rec)
    (data / 'train.jsonl').write_text('\n'.join(lines) + '\n')
    init_default_scope('eov')
    cfg = tiny_cfg.train_dataloader.dataset
    cfg.data_root, cfg.ann_file, cfg.max_bad_records = str(data), 'train.jsonl', 1
    ds = DATASETS.build(cfg)
    np.random.seed(0)   # BaseDataset draws the replacement with numpy: not record 0 again
    sample = ds[0]     # record 0 is bad: another one is drawn, and it is counted
    assert sample['data_sample']['id'] != rec['id']
    assert len(ds.bad_records) == 1 and 'wholly outside' in ds.bad_records[0]
    assert 'train.jsonl:1' in ds.bad_records[0]
