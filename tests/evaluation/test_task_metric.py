"""TaskMetric: every task category scored through its head, numbers by hand."""
import math

import pytest

from eov.evaluation.benchmarks.dota import poly_iou, voc_ap
from eov.evaluation.metrics import TaskMetric, detection_map
from eov.slis import obb_to_quad

LOC = dict(type='LocTokenSerializer', bins=100)


def _run(rows, **kwargs):
    metric = TaskMetric(serializer=LOC, **kwargs)
    samples = [dict(id=str(i), task=r[0], targets=r[1], image_size=(100, 100), prediction=r[2])
               for i, r in enumerate(rows)]
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


def test_classification_single_and_multi_label():
    out = _run([
        ('classification', [dict(type='label', label='forest')], 'Forest'),
        ('classification', [dict(type='label', label='river')], 'lake'),
        ('classification', [dict(type='labels', labels=['a', 'b'])], 'a, c'),
        ('classification', [dict(type='labels', labels=['b'])], 'b'),
    ], classes=dict(classification=['forest', 'river', 'lake', 'a', 'b', 'c']))
    assert out['classification/accuracy'] == 0.5
    # multi-label: tp=2 (a, b), fp=1 (c), fn=1 (b of the first) -> micro F1 = 4 / 6
    assert out['classification/micro_f1'] == pytest.approx(4 / 6)
    # per class: a: F1 1; b: tp1 fn1 -> 2/3; c: fp1 -> 0  => macro (1 + 2/3 + 0) / 3
    assert out['classification/macro_f1'] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # per sample: {a,b} vs {a,c}: 2/4 ; {b} vs {b}: 1  => 0.75
    assert out['classification/sample_f1'] == pytest.approx(0.75)
    assert out['classification/n'] == 4


def test_vqa_text_and_counts():
    out = _run([
        ('vqa', [dict(type='text', text='Yes')], 'yes.'),
        ('vqa', [dict(type='text', text='no')], 'maybe'),
        ('vqa', [dict(type='count', count=3)], 'There are 3 ships'),
        ('vqa', [dict(type='count', count=4)], 'two'),
        ('vqa', [dict(type='count', count=5)], 'many'),
    ])
    assert out['vqa/accuracy'] == 0.5
    assert out['vqa/count_exact'] == pytest.approx(1 / 3)
    assert out['vqa/count_mae'] == pytest.approx((0 + 2) / 2)
    assert out['vqa/count_parse_rate'] == pytest.approx(2 / 3)


def test_choice_and_region():
    choice = dict(type='choice', choices=['urban', 'forest', 'water'], answer='forest')
    out = _run([('choice', [choice], 'B'), ('choice', [choice], 'The answer is (C)'),
                ('choice', [choice], '???'),
                ('region', [dict(type='hbb', bbox=[1, 1, 5, 5]), dict(type='label', label='ship')],
                 'Ship.')])
    assert out['choice/accuracy'] == pytest.approx(1 / 3)
    assert out['choice/parse_rate'] == pytest.approx(2 / 3)
    assert out['region/accuracy'] == 1.0


def test_grounding_and_segmentation_by_hand():
    box = dict(type='hbb', bbox=[10, 10, 50, 50])
    square = dict(type='poly', points=[[0, 0], [20, 0], [20, 20], [0, 20]])
    out = _run([
        ('grounding', [box], '<box><loc_10><loc_10><loc_49><loc_49></box>'),   # ~exact
        ('grounding', [box], '<box><loc_30><loc_10><loc_69><loc_49></box>'),   # IoU ~1/3
        ('grounding', [box], 'no idea'),
        ('segmentation', [square], '<poly><loc_0><loc_0><loc_9><loc_0><loc_9><loc_19>'
                                   '<loc_0><loc_19></poly>'),
    ])
    assert out['grounding/Pr@0.5'] == pytest.approx(1 / 3)
    assert out['grounding/parse_rate'] == pytest.approx(2 / 3)
    # segmentation: predicted polygon spans x 0.5..9.5 (loc centres), y 0.5..19.5
    assert 0.4 < out['segmentation/mIoU'] < 0.5


def test_change_mask_f1_pooled_over_pixels():
    region = dict(type='hbb', bbox=[0, 0, 10, 10])
    out = _run([('change', [region], '<box><loc_0><loc_0><loc_9><loc_4></box>'),
                ('change', [], 'no change')])
    # truth 100 px; prediction covers x 0.5..9.5, y 0.5..4.5: pixel centres rows 1-3? -> by
    # rasterisation: 9 columns x 4 rows = 36 px, all inside the truth
    assert out['change/iou'] == pytest.approx(36 / 100)
    assert out['change/f1'] == pytest.approx(2 * 36 / (2 * 36 + 0 + 64))


def test_detection_map_and_polygon_iou():
    a = obb_to_quad([50, 50, 20, 20, 0])
    b = obb_to_quad([50, 50, 20, 20, 45])
    # two squares of side 20, one turned 45 degrees: intersection is a regular octagon
    octagon = 8 * (10 ** 2) * math.tan(math.pi / 8)       # area of the octagon of inradius 10
    assert poly_iou(a, b) == pytest.approx(octagon / (800 - octagon), rel=1e-9)
    gt = [dict(type='hbb', bbox=[0, 0, 10, 10], label='car'),
          dict(type='hbb', bbox=[20, 20, 30, 30], label='car')]
    preds = [dict(type='hbb', bbox=[0, 0, 10, 10], label='car', score=0.9),     # TP
             dict(type='hbb', bbox=[0, 0, 10, 10], label='car', score=0.8),     # duplicate: FP
             dict(type='hbb', bbox=[20, 20, 30, 30], label='car', score=0.7)]   # TP
    aps = detection_map([dict(gt=gt, pred=preds)])
    assert detection_map([dict(gt=gt, pred=preds[:1])])['car'] == pytest.approx(0.5)
    # precision/recall: (1, .5), (.5, .5), (2/3, 1) -> all-point AP = .5*1 + .5*(2/3)
    assert aps['car'] == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert voc_ap([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_detection_task_through_the_head():
    gt = [dict(type='hbb', bbox=[10, 10, 20, 20], label='ship')]
    out = _run([('detection', gt, '<ref>ship</ref><box><loc_10><loc_10><loc_19><loc_19></box>'),
                ('detection', gt, 'none')])
    assert out['detection/AP/ship'] == pytest.approx(0.5)
    assert out['detection/mAP@0.5'] == pytest.approx(0.5)
    assert out['detection/parse_rate'] == 1.0


def test_unknown_task_and_predictions_file(tmp_path):
    path = tmp_path / 'p.jsonl'
    out = _run([('captioning', [dict(type='text', text='A bridge.'),
                                dict(type='text', text='a long bridge')], 'a bridge')],
               predictions_file=str(path))
    assert out['captioning/exact'] == 1.0 and path.read_text().count('\n') == 1
    metric = TaskMetric(serializer=LOC)
    metric.process(None, [dict(id='x', task='weather', targets=[], image_size=(1, 1),
                               prediction='')])
    with pytest.raises(KeyError, match="no scorer for task 'weather'"):
        metric.compute_metrics(metric.results)


def test_caption_metrics_for_captioning_and_change_text():
    refs = [dict(type='text', text='a new building appears in the top left corner'),
            dict(type='text', text='a building is built at the top left')]
    out = _run([('captioning', refs, 'a new building appears in the top left corner'),
                ('change', refs, 'the scene is unchanged')])
    assert out['captioning/BLEU-4'] == pytest.approx(1.0, abs=1e-6)
    assert out['captioning/ROUGE_L'] == pytest.approx(1.0)
    assert 0 <= out['change/BLEU-1'] < 0.5 and out['change/exact'] == 0.0
