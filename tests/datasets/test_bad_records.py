"""Records that would give a silently wrong run: repeated ids, several images for one."""
import json
import shutil

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from eov.datasets.schema import RecordError
from eov.registry import DATASETS


def _dataset(tiny_cfg, tmp_path, edit, max_bad_records=0):
    data = tmp_path / 'data'
    shutil.copytree(tiny_cfg.data_root, data)
    lines = (data / 'train.jsonl').read_text().splitlines()
    lines = edit([json.loads(line) for line in lines])
    (data / 'train.jsonl').write_text('\n'.join(json.dumps(r) for r in lines) + '\n')
    init_default_scope('eov')
    cfg = tiny_cfg.train_dataloader.dataset
    cfg.data_root, cfg.ann_file, cfg.max_bad_records = str(data), 'train.jsonl', max_bad_records
    return DATASETS.build(cfg)


def _repeat_id(records):
    records[5]['id'] = records[1]['id']
    return records


def test_a_repeated_id_names_both_lines(tiny_cfg, tmp_path):
    with pytest.raises(RecordError, match=r"train.jsonl:6: id 'synth-train-1' repeats "
                       r'.*train.jsonl:2'):
        _dataset(tiny_cfg, tmp_path, _repeat_id)
    ds = _dataset(tiny_cfg, tmp_path / 'skip', _repeat_id, max_bad_records=1)
    assert len(ds) == 47 and len(ds.bad_records) == 1


def test_several_images_for_a_one_image_modality_is_a_skippable_bad_record(tiny_cfg, tmp_path):
    def two_images(records):
        records[0]['images'] = records[0]['images'] * 2
        records[0]['conversations'][0]['value'] += '\n<image>'
        return records
    ds = _dataset(tiny_cfg, tmp_path, two_images, max_bad_records=1)
    np.random.seed(0)   # BaseDataset draws the replacement with numpy: not record 0 again
    sample = ds[0]   # record 0 is skipped, counted, and another sample drawn
    assert sample['data_sample']['id'] != 'synth-train-0'
    assert len(ds.bad_records) == 1
    assert "takes exactly one image per record, got 2" in ds.bad_records[0]
