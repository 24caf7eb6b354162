import copy
import json

import pytest

from eov.datasets import InstructionDataset, RecordError, validate_record

GOOD = {
    'id': 'r1', 'task': 'grounding', 'modality': 'optical',
    'images': [{'path': 'a.png', 'sensor': 'rgb'}],
    'conversations': [{'from': 'human', 'value': '<image>\nWhere is the red circle?'},
                      {'from': 'assistant', 'value': None}],
    'targets': [{'type': 'hbb', 'bbox': [1, 2, 3, 4]}],
}


def _with(**changes):
    rec = copy.deepcopy(GOOD)
    rec.update(changes)
    return rec


def test_good_record_passes():
    assert validate_record(copy.deepcopy(GOOD), 'f.jsonl:1') == GOOD


@pytest.mark.parametrize('record, message', [
    (_with(conversations=[]), "'conversations' is empty"),
    (_with(task='segmentaton'), "task 'segmentaton' is not one of"),
    (_with(modality='lidar'), "modality 'lidar' is not one of"),
    (_with(images=[]), "'images' must be a non-empty list"),
    (_with(targets=[{'type': 'hbb', 'bbox': [5, 5, 1, 1]}]), 'x1<=x2'),
    (_with(targets=[{'type': 'hbb', 'bbox': [0, 0, float('nan'), 1]}]), 'finite numbers'),
    (_with(targets=[{'type': 'blob'}]), "target type 'blob'"),
    (_with(targets=[]), 'no \'targets\' to answer from'),
    (_with(conversations=[{'from': 'assistant', 'value': 'hi'}]), 'must alternate'),
    (_with(conversations=[{'from': 'human', 'value': '   '}]), 'has no text'),
    (_with(conversations=[{'from': 'human', 'value': 'no placeholder'},
                          {'from': 'assistant', 'value': None}]), '0 <image> placeholders'),
    ({k: v for k, v in GOOD.items() if k != 'images'}, "missing key 'images'"),
])
def test_bad_records_name_file_line_and_key(record, message):
    with pytest.raises(RecordError) as info:
        validate_record(record, 'data.jsonl:7')
    assert 'data.jsonl:7' in str(info.value)
    assert message in str(info.value)


def test_dataset_error_names_file_and_line(tmp_path):
    ann = tmp_path / 'd.jsonl'
    ann.write_text(json.dumps(GOOD) + '\n' + '{"id": broken\n')
    with pytest.raises(RecordError, match=r'd.jsonl:2: invalid JSON'):
        InstructionDataset(ann_file=str(ann))


def test_dataset_skips_and_counts_up_to_the_limit(tmp_path):
    ann = tmp_path / 'd.jsonl'
    lines = [GOOD, _with(id='r2', conversations=[]), _with(id='r3'), _with(id='r4', task='x')]
    ann.write_text('\n'.join(json.dumps(x) for x in lines) + '\n')
    ds = InstructionDataset(ann_file=str(ann), max_bad_records=2)
    assert len(ds) == 2
    assert len(ds.bad_records) == 2 and 'd.jsonl:2' in ds.bad_records[0]
    with pytest.raises(RecordError, match='more than max_bad_records=1'):
        InstructionDataset(ann_file=str(ann), max_bad_records=1)


def test_third_party_modalities_are_accepted_when_configured(tmp_path):
    ann = tmp_path / 'd.jsonl'
    ann.write_text(json.dumps(_with(modality='dsm')) + '\n')
    with pytest.raises(RecordError, match="modality 'dsm'"):
        InstructionDataset(ann_file=str(ann))
    assert len(InstructionDataset(ann_file=str(ann), modalities=['dsm'])) == 1


def test_detection_records_may_have_no_objects():
    from eov.datasets.schema import validate_record
    rec = dict(GOOD, task='detection', targets=[])
    assert validate_record(rec, 'x.jsonl:1') is rec
    with pytest.raises(RecordError, match="no 'targets' to answer from"):
        validate_record(dict(GOOD, task='vqa', targets=[]), 'x.jsonl:2')


def test_a_grounding_test_record_without_targets_is_refused(tmp_path):
    """It used to be scored IoU 0 without a word, even for a perfect prediction."""
    answered = _with(id='r2', targets=[], conversations=[
        {'from': 'human', 'value': '<image>\nWhere is the red circle?'},
        {'from': 'assistant', 'value': '<box><loc_1><loc_2><loc_3><loc_4></box>'}])
    validate_record(copy.deepcopy(answered), 'f.jsonl:2')            # fine to train on
    with pytest.raises(RecordError, match=r"f.jsonl:2 \(id r2\): a grounding test record "
                       r"needs 'targets'"):
        validate_record(copy.deepcopy(answered), 'f.jsonl:2', test=True)
    ann = tmp_path / 'test.jsonl'
    ann.write_text(json.dumps(GOOD) + '\n' + json.dumps(answered) + '\n')
    assert len(InstructionDataset(ann_file=str(ann))) == 2          # a training split
    with pytest.raises(RecordError, match=r"test.jsonl:2 \(id r2\): a grounding test record "
                       r"needs 'targets'.*every prediction would score 0"):
        InstructionDataset(ann_file=str(ann), test_mode=True)
    # skipped and counted like any bad record when the config tolerates some
    ds = InstructionDataset(ann_file=str(ann), test_mode=True, max_bad_records=1)
    assert len(ds) == 1 and 'test.jsonl:2' in ds.bad_records[0]
