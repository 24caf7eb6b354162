"""TaskMetric: every task category scored through its head, numbers by hand."""
import json
import math

import pytest

from eov.scoring import clipped_iou, poly_iou, voc_ap
from eov.evaluation.metrics import (TaskMetric, cell_of, detection_map, lower_is_better,
                                    primary_metric)
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
    # multi-label records form their own cell
    # multi-label: tp=2 (a, b), fp=1 (c), fn=1 (b of the first) -> micro F1 = 4 / 6
    assert out['classification/multilabel/micro_f1'] == pytest.approx(4 / 6)
    # per class: a: F1 1; b: tp1 fn1 -> 2/3; c: fp1 -> 0  => macro (1 + 2/3 + 0) / 3
    assert out['classification/multilabel/macro_f1'] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # per sample: {a,b} vs {a,c}: 2/4 ; {b} vs {b}: 1  => 0.75
    assert out['classification/multilabel/sample_f1'] == pytest.approx(0.75)
    assert out['classification/n'] == 2 and out['classification/multilabel/n'] == 2
    assert 'classification/micro_f1' not in out and 'classification/multilabel/accuracy' not in out


def test_vqa_text_and_counts():
    out = _run([
        ('vqa', [dict(type='text', text='Yes')], 'yes.'),
        ('vqa', [dict(type='text', text='no')], 'maybe'),
        ('vqa', [dict(type='count', count=3)], 'There are 3 ships'),
        ('vqa', [dict(type='count', count=4)], 'two'),
        ('vqa', [dict(type='count', count=5)], 'many'),
    ])
    assert out['vqa/accuracy'] == 0.5
    assert out['vqa/count/count_exact'] == pytest.approx(1 / 3)
    assert out['vqa/count/count_mae'] == pytest.approx((0 + 2) / 2)
    assert out['vqa/count/count_parse_rate'] == pytest.approx(2 / 3)
    assert out['vqa/n'] == 2 and out['vqa/count/n'] == 3


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
    assert out['grounding/Acc@0.5'] == pytest.approx(1 / 3)
    assert 'grounding/Pr@0.5' not in out
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
    assert 0 <= out['change/caption/BLEU-1'] < 0.5 and out['change/caption/exact'] == 0.0


# -- a multi-modality, multi-task test set: cells, subsets, chance ------------------------
def sample(i, task, modality, targets, prediction, meta=None, size=(100, 100)):
    """A data_sample as PackSample makes it, plus the model's prediction."""
    return dict(id=f'r{i}', task=task, modality=modality, targets=targets, image_size=size,
                source=None, meta=meta or {}, geo=dict(crs=None, transform=None),
                prediction=prediction)


def _label(name):
    return [dict(type='label', label=name)]


def _box(*locs):
    return '<box>' + ''.join(f'<loc_{v}>' for v in locs) + '</box>'


def mixed_samples():
    """24 samples over five modalities and ten cells (numbers worked out in the tests)."""
    choice3 = dict(type='choice', choices=['ship', 'harbour', 'bridge'], answer='ship')
    choice2 = dict(type='choice', choices=['yes', 'no'], answer='no')
    return [
        sample(1, 'classification', 'optical', _label('forest'), 'forest'),
        sample(2, 'classification', 'optical', _label('forest'), 'Forest.'),
        sample(3, 'classification', 'optical', _label('river'), 'river'),
        sample(4, 'vqa', 'optical', [dict(type='count', count=3)], '3'),
        sample(5, 'vqa', 'optical', [dict(type='count', count=3)], 'four'),
        sample(6, 'vqa', 'optical', [dict(type='count', count=5)], 'no idea'),
        sample(7, 'grounding', 'optical', [dict(type='hbb', bbox=[10, 10, 50, 50])],
               _box(10, 10, 49, 49)),
        sample(8, 'grounding', 'optical', [dict(type='hbb', bbox=[50, 50, 90, 90])], 'no idea'),
        sample(9, 'region', 'optical', [dict(type='hbb', bbox=[1, 1, 5, 5]),
                                        dict(type='label', label='ship')], 'Ship.'),
        sample(10, 'region', 'optical', [dict(type='hbb', bbox=[1, 1, 5, 5]),
                                         dict(type='label', label='car')], 'ship'),
        sample(11, 'classification', 'multispectral', _label('water'), 'water',
               dict(subset='nonvisible')),
        sample(12, 'classification', 'multispectral', _label('water'), 'forest'),
        sample(13, 'classification', 'multispectral', _label('forest'), 'forest',
               dict(subset='nonvisible')),
        sample(14, 'classification', 'multispectral',
               [dict(type='labels', labels=['water', 'forest'])], 'water'),
        sample(15, 'classification', 'multispectral',
               [dict(type='labels', labels=['water', 'forest'])], 'water, forest'),
        sample(16, 'classification', 'multispectral', [dict(type='labels', labels=['forest'])],
               'forest'),
        sample(17, 'choice', 'sar', [choice3], 'A'),
        sample(18, 'choice', 'sar', [choice2], 'yes'),
        sample(19, 'detection', 'sar', [dict(type='hbb', bbox=[10, 10, 30, 30], label='ship')],
               '<ref>ship</ref>' + _box(10, 10, 29, 29)),
        sample(20, 'detection', 'sar', [dict(type='hbb', bbox=[50, 50, 90, 90], label='ship')],
               'none'),
        sample(21, 'change', 'temporal', [dict(type='hbb', bbox=[0, 0, 10, 10])],
               _box(0, 0, 9, 4)),
        sample(22, 'change', 'temporal', [], 'no change'),
        sample(23, 'captioning', 'infrared', [dict(type='text', text='a bridge over a river'),
                                              dict(type='text', text='a long bridge')],
               'a bridge over a river'),
        sample(24, 'captioning', 'infrared', [dict(type='text', text='a harbour with boats')],
               'boats'),
    ]


def score(samples, **kwargs):
    metric = TaskMetric(serializer=LOC, **kwargs)
    metric.process(None, samples)
    return metric.compute_metrics(metric.results)


@pytest.fixture(scope='module')
def mixed():
    return score(mixed_samples(), group_by='modality', chance=True)


def test_cells_are_named_by_modality_task_and_kind(mixed):
    cells = sorted(k[:-2] for k in mixed if k.endswith('/n'))
    assert cells == ['infrared/captioning', 'multispectral/classification',
                     'multispectral/classification/multilabel',
                     'multispectral/classification/nonvisible', 'optical/classification',
                     'optical/grounding', 'optical/region', 'optical/vqa/count', 'sar/choice',
                     'sar/detection', 'temporal/change']
    for cell in cells:
        assert 0.0 <= mixed[f'{cell}/parse_rate'] <= 1.0
    assert mixed['optical/classification/n'] == 3
    assert mixed['multispectral/classification/n'] == 3      # subset records stay in their cell
    assert mixed['multispectral/classification/nonvisible/n'] == 2


def test_classification_values_and_majority_chance(mixed):
    assert mixed['optical/classification/accuracy'] == 1.0
    # majority class 'forest' (2 of 3) -> 2/3
    assert mixed['optical/classification/accuracy_chance'] == pytest.approx(2 / 3)
    assert mixed['multispectral/classification/accuracy'] == pytest.approx(2 / 3)
    assert mixed['multispectral/classification/accuracy_chance'] == pytest.approx(2 / 3)
    # the subset cell: its own records (water, forest), both right; chance: the tie
    # water/forest goes to the first name in sorted order, 'forest' -> 1/2
    assert mixed['multispectral/classification/nonvisible/accuracy'] == 1.0
    assert mixed['multispectral/classification/nonvisible/accuracy_chance'] == 0.5
    # multi-label: per-sample F1 2/3, 1, 1; chance answers the most frequent set
    # {water, forest} (2 of 3): F1 1, 1, 2/3
    assert mixed['multispectral/classification/multilabel/sample_f1'] == pytest.approx(8 / 9)
    assert mixed['multispectral/classification/multilabel/sample_f1_chance'] == \
        pytest.approx(8 / 9)
    # chance micro F1: tp 5, fp 1 (water of the last), fn 0 -> 10 / 11
    assert mixed['multispectral/classification/multilabel/micro_f1_chance'] == \
        pytest.approx(10 / 11)


def test_counting_values_and_chance(mixed):
    assert mixed['optical/vqa/count/count_exact'] == pytest.approx(1 / 3)
    assert mixed['optical/vqa/count/count_mae'] == pytest.approx(0.5)     # |3-3|, |3-4|
    assert mixed['optical/vqa/count/count_parse_rate'] == pytest.approx(2 / 3)
    # the most frequent count, 3, for every question
    assert mixed['optical/vqa/count/count_exact_chance'] == pytest.approx(2 / 3)
    assert mixed['optical/vqa/count/count_mae_chance'] == pytest.approx(2 / 3)
    assert 'optical/vqa/count/parse_rate_chance' not in mixed


def test_grounding_values_and_mean_box_chance(mixed):
    assert mixed['optical/grounding/Acc@0.5'] == 0.5
    assert mixed['optical/grounding/meanIoU'] == pytest.approx((39 ** 2 / 40 ** 2 + 0) / 2)
    assert mixed['optical/grounding/parse_rate'] == 0.5
    # mean normalised box [.3, .3, .7, .7] -> <loc_30>..<loc_70> -> [30.5, 30.5, 70.5, 70.5]
    ious = [19.5 ** 2 / (3200 - 19.5 ** 2), 20.5 ** 2 / (3200 - 20.5 ** 2)]
    assert mixed['optical/grounding/Acc@0.5_chance'] == 0.0
    assert mixed['optical/grounding/meanIoU_chance'] == pytest.approx(sum(ious) / 2)


def test_region_choice_detection_change_captioning_chance(mixed):
    assert mixed['optical/region/accuracy'] == 0.5
    assert mixed['optical/region/accuracy_chance'] == 0.5        # tie car/ship -> 'car'
    assert mixed['sar/choice/accuracy'] == 0.5                   # 'yes' is read as option A
    # uniform choice, exactly: (1/3 + 1/2) / 2
    assert mixed['sar/choice/accuracy_chance'] == pytest.approx(5 / 12)
    # detection: one TP of two ships -> AP 0.5; the mean box [30.5, 30.5, 60.5, 60.5]
    # labelled 'ship' matches neither ship
    assert mixed['sar/detection/mAP@0.5'] == pytest.approx(0.5)
    assert mixed['sar/detection/AP/ship_chance'] == 0.0
    assert mixed['sar/detection/mAP@0.5_chance'] == 0.0
    assert mixed['temporal/change/f1'] == pytest.approx(72 / 136)
    # 'no change' everywhere has F1 0; one whole-image polygon does better
    whole = '<poly><loc_0><loc_0><loc_99><loc_0><loc_99><loc_99><loc_0><loc_99></poly>'
    changes = [dict(s, prediction=whole) for s in mixed_samples() if s['task'] == 'change']
    assert mixed['temporal/change/f1_chance'] == pytest.approx(score(changes)['change/f1'])
    assert 0 < mixed['temporal/change/f1_chance'] < 0.05
    # the most frequent reference caption (a tie: the first in sorted order)
    assert mixed['infrared/captioning/exact'] == 0.5
    assert mixed['infrared/captioning/exact_chance'] == 0.5
    const = [dict(s, prediction='a bridge over a river') for s in mixed_samples()
             if s['task'] == 'captioning']
    assert mixed['infrared/captioning/CIDEr_chance'] == pytest.approx(
        score(const)['captioning/CIDEr'])


def test_without_group_by_keys_are_cell_metric():
    out = score(mixed_samples(), chance=False)
    assert out['classification/n'] == 6 and out['classification/nonvisible/n'] == 2
    assert out['classification/accuracy'] == pytest.approx(5 / 6)
    assert not any(k.endswith('_chance') for k in out)
    assert not any(k.startswith('optical/') for k in out)


def test_meta_variant_names_the_cell_and_split_by_adds_cells():
    samples = [sample(1, 'vqa', 'sar', [dict(type='text', text='yes')], 'yes',
                      dict(variant='yesno', num_objects=1)),
               sample(2, 'vqa', 'sar', [dict(type='text', text='no')], 'yes',
                      dict(variant='yesno', num_objects=2)),
               sample(3, 'vqa', 'sar', [dict(type='text', text='two')], 'two',
                      dict(num_objects=2, subset=['cloud', 'night']))]
    out = score(samples, split_by='num_objects', chance=True)
    assert out['vqa/yesno/accuracy'] == 0.5 and out['vqa/yesno/n'] == 2
    assert out['vqa/yesno/accuracy_chance'] == 0.5               # tie no/yes -> 'no'
    assert out['vqa/yesno/num_objects=2/n'] == 1
    assert out['vqa/num_objects=2/accuracy'] == 1.0
    assert out['vqa/cloud/n'] == 1 and out['vqa/night/n'] == 1


def test_subset_only_records_score_in_their_subset_cells_alone():
    samples = [sample(1, 'vqa', 'optical', [dict(type='text', text='two')], 'two'),
               sample(2, 'vqa', 'optical', [dict(type='text', text='one')], 'two',
                      dict(subset='cloud', subset_only=True)),
               sample(3, 'vqa', 'optical', [dict(type='text', text='three')], 'three',
                      dict(subset='cloud', num_objects=3))]
    out = score(samples, split_by='num_objects', chance=False)
    # the parent: records 1 and 3 (3 is a natural cloud record); 2 only in 'cloud'
    assert out['vqa/n'] == 2 and out['vqa/accuracy'] == 1.0
    assert out['vqa/cloud/n'] == 2 and out['vqa/cloud/accuracy'] == 0.5
    assert out['vqa/num_objects=3/n'] == 1


def test_grounding_clips_to_the_image_and_hits_at_exactly_half():
    # GeoChat's oriented box may leave the image: x -40..60, y 0..40 (4000 px^2)
    truth = [dict(type='hbb', bbox=[0, 0, 40, 40])]
    geochat = dict(type='GeoChatTextSerializer')
    metric = TaskMetric(serializer=geochat)
    metric.process(None, [sample(1, 'grounding', 'optical', truth, '{<-40><0><60><40>|<0>}')])
    out = metric.compute_metrics(metric.results)
    # unclipped 1600/4000 = 0.4 would miss; clipped to x 0..60: 1600/2400
    assert out['grounding/meanIoU'] == pytest.approx(2 / 3)
    assert out['grounding/Acc@0.5'] == 1.0
    assert clipped_iou(dict(type='hbb', bbox=[-10, -10, 40, 40]), truth[0], (100, 100)) == 1.0
    # IoU exactly 0.5 is a hit: [10.5, 10.5, 30.5, 50.5] (800 px^2) in a 1600 px^2 box
    out = score([sample(2, 'grounding', 'optical', [dict(type='hbb', bbox=[10.5, 10.5, 50.5,
                                                                             50.5])],
                        _box(10, 10, 30, 50))], iou_thrs=(0.5, 0.75))
    assert out['grounding/meanIoU'] == 0.5
    assert out['grounding/Acc@0.5'] == 1.0 and out['grounding/Acc@0.75'] == 0.0


def test_oriented_grounding_cell_uses_polygon_iou():
    square = dict(type='obb', obb=[50, 50, 20, 20, 0])
    turned = '<quad>' + ''.join(f'<loc_{int(v)}>' for p in obb_to_quad([50, 50, 20, 20, 45])
                                for v in p) + '</quad>'
    out = score([sample(1, 'grounding', 'optical', [square], turned)])
    assert 'grounding/obb/Acc@0.5' in out and 'grounding/Acc@0.5' not in out
    assert 0.5 < out['grounding/obb/meanIoU'] < 0.9


def test_predictions_file_lines(tmp_path):
    path = tmp_path / 'pred.jsonl'
    score(mixed_samples(), group_by='modality', predictions_file=str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line['id'] for line in lines] == [f'r{i}' for i in range(1, 25)]
    assert lines[0]['cell'] == 'classification' and lines[0]['modality'] == 'optical'
    assert lines[0]['task'] == 'classification' and lines[0]['prediction'] == 'forest'
    assert lines[0]['parsed']['labels'] == ['forest']
    assert lines[10]['subset'] == 'nonvisible'
    assert lines[13]['cell'] == 'classification/multilabel'
    assert lines[6]['box'] == [10.5, 10.5, 49.5, 49.5]
    assert lines[6]['iou'] == pytest.approx(39 ** 2 / 40 ** 2)
    assert lines[7]['box'] is None and lines[7]['iou'] == 0.0
    assert lines[18]['parsed']['objects'][0]['label'] == 'ship'


def test_primary_metric_table():
    assert primary_metric('classification') == 'accuracy'
    assert primary_metric('classification/multilabel') == 'sample_f1'
    assert primary_metric('classification/multilabel/cloud') == 'sample_f1'
    assert primary_metric('classification/nonvisible') == 'accuracy'
    assert primary_metric('vqa/count') == 'count_exact'
    assert primary_metric('grounding/obb') == 'Acc@0.5'
    assert primary_metric('grounding/num_objects=2') == 'Acc@0.5'
    assert primary_metric('detection') == 'mAP@0.5'
    assert primary_metric('segmentation') == 'mIoU'
    assert primary_metric('change') == 'f1' and primary_metric('change/caption') == 'CIDEr'
    assert primary_metric('captioning') == 'CIDEr' and primary_metric('choice') == 'accuracy'
    # a variant cell of multi-label records falls back to what the cell has
    assert primary_metric('classification/multi', ['micro_f1', 'sample_f1']) == 'sample_f1'
    assert primary_metric('vqa/count', table={'vqa/count': 'count_mae'}) == 'count_mae'
    assert lower_is_better('count_mae') and not lower_is_better('count_exact')
    assert cell_of(sample(1, 'change', 'temporal', [dict(type='text', text='x')], '')) == \
        'change/caption'
