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


def _missing_images(n):
    def edit(records):
        for rec in records[:n]:
            rec['images'][0]['path'] = 'images/missing.png'
        return records
    return edit


def test_bad_samples_are_counted_once_and_the_message_says_of_how_many(tiny_cfg, tmp_path):
    """It said "more than max_bad_records=100 bad records" for a file of 8 records."""
    keep = (lambda records: records[:8])
    ds = _dataset(tiny_cfg, tmp_path / 'all', lambda r: _missing_images(8)(keep(r)),
                  max_bad_records=100)
    np.random.seed(0)
    with pytest.raises(RecordError, match=r'train.jsonl: every one of its 8 records is bad '
                       r'\(first: .*train.jsonl:\d.*missing.png'):
        ds[0]
    assert len(ds.bad_records) == 8       # each record once, however often it was drawn
    ds = _dataset(tiny_cfg, tmp_path / 'some', lambda r: _missing_images(3)(keep(r)),
                  max_bad_records=2)
    np.random.seed(0)
    with pytest.raises(RecordError, match=r'\(3 bad records among the 8 records read from '
                       r'.*train.jsonl: more than max_bad_records=2\)'):
        for i in range(3):
            ds[i]


def test_a_test_record_with_a_missing_image_is_refused_by_name(tiny_cfg, tmp_path):
    """It ended in MMEngine's "Test time pipline should not get None data_sample"."""
    data = tmp_path / 'data'
    shutil.copytree(tiny_cfg.data_root, data)
    lines = (data / 'test.jsonl').read_text().splitlines()
    rec = json.loads(lines[1])
    rec['images'][0]['path'] = 'images/missing.png'
    lines[1] = json.dumps(rec)
    (data / 'test.jsonl').write_text('\n'.join(lines) + '\n')
    init_default_scope('eov')
    cfg = tiny_cfg.test_dataloader.dataset
    cfg.data_root, cfg.ann_file, cfg.max_bad_records = str(data), 'test.jsonl', 5
    ds = DATASETS.build(cfg)
    with pytest.raises(RecordError, match=r'test.jsonl:2.*missing.png.*a test record is not '
                       'skipped'):
        ds[1]
