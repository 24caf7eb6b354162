"""predictions.jsonl carries each record's verdict, and the verdicts add up to the cell scores."""
import json
from collections import defaultdict

import numpy as np
import pytest

from eov.slis import obb_to_quad

from .test_task_metric import _box, mixed_samples, sample, score


def _quad(obb):
    return '<quad>' + ''.join(f'<loc_{int(round(v))}>' for p in obb_to_quad(obb)
                              for v in p) + '</quad>'


def more_samples():
    """Cells mixed_samples lacks: segmentation, oriented grounding, detection with a false
    positive and a class no ground truth has."""
    square = dict(type='poly', points=[[10, 10], [50, 10], [50, 50], [10, 50]])
    ship = dict(type='hbb', bbox=[10, 10, 30, 30], label='ship')
    return [
        sample(31, 'segmentation', 'optical', [square], '<poly>' + ''.join(
            f'<loc_{v}>' for v in (10, 10, 49, 10, 49, 49, 10, 49)) + '</poly>'),
        sample(32, 'segmentation', 'optical', [square], 'none'),
        sample(33, 'grounding', 'sar', [dict(type='obb', obb=[50, 50, 40, 10, 30])],
               _quad([50, 50, 40, 10, 30])),
        sample(34, 'grounding', 'sar', [dict(type='obb', obb=[50, 50, 40, 10, 30])],
               _box(30, 30, 70, 70)),
        sample(35, 'detection', 'optical', [ship],
               '<ref>ship</ref>' + _box(10, 10, 29, 29) + '<ref>ship</ref>' + _box(60, 60, 80, 80)
               + '<ref>plane</ref>' + _box(0, 0, 5, 5)),
        sample(36, 'detection', 'optical', [ship, dict(ship, bbox=[60, 10, 80, 30])],
               '<ref>ship</ref>' + _box(60, 10, 79, 29)),
    ]


@pytest.fixture(scope='module')
def scored(tmp_path_factory):
    path = tmp_path_factory.mktemp('verdicts') / 'predictions.jsonl'
    out = score(mixed_samples() + more_samples(), group_by='modality',
                predictions_file=str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    cells = defaultdict(list)
    for line in lines:
        cells[f"{line['modality']}/{line['cell']}"].append(line)
    return out, lines, cells


def test_every_record_has_a_verdict(scored):
    _, lines, _ = scored
    assert all(isinstance(line['correct'], bool) for line in lines)


def test_verdicts_add_up_to_the_cell_scores(scored):
    out, _, cells = scored
    checked = set()
    for cell, rows in cells.items():
        correct = np.mean([r['correct'] for r in rows])
        for metric in ('accuracy', 'count_exact', 'exact', 'Acc@0.5'):
            if f'{cell}/{metric}' in out:
                assert correct == pytest.approx(out[f'{cell}/{metric}']), (cell, metric)
                checked.add(cell)
        if f'{cell}/meanIoU' in out:
            assert np.mean([r['iou'] for r in rows]) == pytest.approx(out[f'{cell}/meanIoU'])
        if f'{cell}/mIoU' in out:
            assert np.mean([r['iou'] for r in rows]) == pytest.approx(out[f'{cell}/mIoU'])
            checked.add(cell)
        if f'{cell}/sample_f1' in out:
            assert np.mean([r['f1'] for r in rows]) == pytest.approx(out[f'{cell}/sample_f1'])
            assert all(r['correct'] == (r['f1'] == 1.0) for r in rows)
            checked.add(cell)
    assert {'optical/classification', 'optical/vqa/count', 'optical/grounding',
            'sar/grounding/obb', 'sar/choice', 'optical/region', 'infrared/captioning',
            'optical/segmentation', 'multispectral/classification/multilabel'} <= checked


def test_grounding_verdicts_are_the_clipped_polygon_iou(scored):
    _, lines, _ = scored
    rows = {r['id']: r for r in lines}
    assert rows['r33']['iou'] > 0.5 and rows['r33']['correct']
    assert rows['r34']['iou'] < 0.5 and not rows['r34']['correct']
    assert rows['r8'] == {**rows['r8'], 'box': None, 'iou': 0.0, 'correct': False}


def test_detection_verdicts_are_the_devkit_matching_in_the_cell(scored):
    """r35: one ship found, one false ship; its 'plane' is in no ground truth of the cell, so
    mAP ignores it and so does the verdict. r36: one of two ships found."""
    _, lines, _ = scored
    rows = {r['id']: r for r in lines}
    assert {k: rows['r35'][k] for k in ('tp', 'fp', 'gt', 'correct')} == dict(
        tp=1, fp=1, gt=1, correct=False)
    assert {k: rows['r36'][k] for k in ('tp', 'fp', 'gt', 'correct')} == dict(
        tp=1, fp=0, gt=2, correct=False)
    assert {k: rows['r19'][k] for k in ('tp', 'fp', 'gt', 'correct')} == dict(
        tp=1, fp=0, gt=1, correct=True)


def test_change_regions_get_a_mask_iou(scored):
    _, lines, _ = scored
    rows = {r['id']: r for r in lines}
    assert 0 < rows['r21']['iou'] < 0.5 and not rows['r21']['correct']
    assert rows['r22']['iou'] == 1.0 and rows['r22']['correct']      # no change, none said
