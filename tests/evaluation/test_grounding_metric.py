"""Grounding through the one scorer (TaskMetric; GroundingMetric is its alias)."""
import json

import pytest

from eov.evaluation.metrics import GroundingMetric, TaskMetric
from eov.evaluation.metrics.tasks import training_baselines
from eov.registry import METRICS
from eov.scoring import polygon_iou
from eov.slis.geometry import box_iou, clip_box, clip_polygon

SER = dict(type='LocTokenSerializer', bins=10)


def test_box_iou_and_clip():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    assert box_iou([1, 1, 1, 1], [1, 1, 1, 1]) == 0.0  # empty union
    assert clip_box([-5, 3, 120, 50], 100, 40) == [0.0, 3.0, 100.0, 40.0]


def test_polygon_clip_and_iou():
    # a diamond around (0, 0) keeps its quarter inside the image
    diamond = [[-10, 0], [0, -10], [10, 0], [0, 10]]
    assert sorted(clip_polygon(diamond, 100, 100)) == [(0.0, 0.0), (0.0, 10.0), (10.0, 0.0)]
    assert clip_polygon([[-5, -5], [-1, -5], [-1, -1]], 10, 10) == []
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    assert polygon_iou(square, [[5, 0], [15, 0], [15, 10], [5, 10]]) == pytest.approx(50 / 150)
    assert polygon_iou(square, square[::-1]) == pytest.approx(1.0)   # either winding
    assert polygon_iou(square, [[0, 0], [1, 1]]) == 0.0


def _sample(i, prediction, gt, task='grounding'):
    return dict(id=str(i), task=task, modality='optical', prediction=prediction,
                image_size=(100, 100), meta={}, targets=[{'type': 'hbb', 'bbox': gt}])


def _score(samples, **kwargs):
    metric = METRICS.build(dict(type='TaskMetric', serializer=SER, **kwargs))
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


SAMPLES = [
    _sample(0, '<box><loc_1><loc_1><loc_3><loc_3></box>', [10, 10, 40, 40]),  # IoU 4/9
    _sample(1, '<box><loc_0><loc_0><loc_9><loc_9></box>', [0, 0, 100, 100]),  # IoU .81
    _sample(2, 'no box here', [0, 0, 50, 50]),                                  # unparsed
    _sample(3, '<box><loc_2><loc_2><loc_4><loc_4></box>', [20, 20, 50, 50]),  # IoU 4/9
]


def test_metric_numbers(tmp_path):
    out = _score(SAMPLES, iou_thrs=(0.5, 0.75), predictions_file=str(tmp_path / 'p.jsonl'))
    # decoded boxes: [15,15,35,35] vs [10,10,40,40] -> 400/900; [5,5,95,95] -> .81;
    # [25,25,45,45] vs [20,20,50,50] -> 400/900
    assert out['grounding/Acc@0.5'] == pytest.approx(0.25)
    assert out['grounding/Acc@0.75'] == pytest.approx(0.25)
    assert out['grounding/meanIoU'] == pytest.approx((4 / 9 + 0.81 + 0 + 4 / 9) / 4)
    assert out['grounding/parse_rate'] == pytest.approx(0.75)
    assert out['grounding/n'] == 4
    rows = [json.loads(line) for line in open(tmp_path / 'p.jsonl')]
    assert {k: rows[2][k] for k in ('id', 'task', 'cell', 'prediction', 'box', 'iou')} == dict(
        id='2', task='grounding', cell='grounding', prediction='no box here', box=None, iou=0.0)


def test_grounding_metric_is_a_thin_alias(tmp_path):
    """The old name gives TaskMetric's keys and numbers; samples without a task are grounding."""
    alias = METRICS.build(dict(type='GroundingMetric', serializer=SER, iou_thrs=(0.5, 0.75)))
    assert isinstance(alias, TaskMetric)
    alias.process({}, [{k: v for k, v in s.items() if k != 'task'} for s in SAMPLES])
    assert alias.compute_metrics(alias.results) == _score(SAMPLES, iou_thrs=(0.5, 0.75))


def test_iou_exactly_at_threshold_is_a_hit():
    # decodes to [5, 5, 15, 95] (area 900); the target has twice the area
    out = _score([_sample(0, '<box><loc_0><loc_0><loc_1><loc_9></box>', [5, 5, 25, 95])])
    assert out['grounding/meanIoU'] == 0.5
    assert out['grounding/Acc@0.5'] == 1.0


def test_baseline_from_training_file(tmp_path):
    ann = tmp_path / 'train.jsonl'
    recs = [dict(task='grounding', images=[{'path': 'x'}], meta=dict(image_size=[100, 200]),
                 targets=[{'type': 'hbb', 'bbox': b}]) for b in ([0, 0, 50, 100], [50, 100, 100, 200])]
    ann.write_text('\n'.join(json.dumps(r) for r in recs))
    metric = GroundingMetric(serializer=SER, baseline_ann_file=str(ann))
    assert training_baselines(str(ann), metric.head)['grounding'] == pytest.approx(
        [0.25, 0.25, 0.75, 0.75])
    metric.process({}, [_sample(0, '', [25, 25, 75, 75]), _sample(1, '', [0, 0, 10, 10])])
    out = metric.compute_metrics(metric.results)
    # the mean box [25, 25, 75, 75] goes through the serializer like an answer (exact here)
    assert out['grounding/Acc@0.5_baseline'] == 0.5
    assert out['grounding/meanIoU_baseline'] == pytest.approx(0.5)


def test_accuracy_by_group():
    hit = '<box><loc_0><loc_0><loc_9><loc_9></box>'
    rows = [(1, hit), (1, 'x'), (2, hit), (2, hit), (3, 'x')]
    samples = [dict(_sample(i, p, [0, 0, 100, 100]), meta=dict(num_objects=n))
               for i, (n, p) in enumerate(rows)]
    out = _score(samples, split_by='num_objects')
    assert out['grounding/num_objects=1/Acc@0.5'] == 0.5
    assert out['grounding/num_objects=2/Acc@0.5'] == 1.0
    assert out['grounding/num_objects=3/Acc@0.5'] == 0.0
    assert out['grounding/num_objects=2/n'] == 2
    assert out['grounding/Acc@0.5'] == pytest.approx(0.6)
    # the alias's group_by is split_by
    alias = GroundingMetric(serializer=SER, group_by='num_objects')
    alias.process({}, samples)
    assert alias.compute_metrics(alias.results) == out
