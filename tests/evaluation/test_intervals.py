"""95% intervals of scoreboard cells: Wilson, the bootstrap statistics, the learned rule."""
import math

import numpy as np
import pytest

from eov.evaluation.intervals import bootstrap_interval, is_proportion, learned, wilson_interval
from eov.evaluation.metrics import TaskMetric
from eov.heads.detection import detection_ap_stat, detection_map
from eov.scoring import cider_d, cider_d_scores
from eov.scoring.stats import APStat, MeanStat, RatioStat

from .test_task_metric import LOC


def test_wilson_matches_published_values():
    # Wilson (1927) / Newcombe (1998) table: 8 of 10 -> 0.4902-0.9433; 0 of 10 -> 0-0.2775
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    assert wilson_interval(10, 10)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_wilson_covers_the_true_share_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    for p in (0.3, 0.7):
        hits = rng.binomial(50, p, size=4000)
        covered = np.mean([lo <= p <= hi for lo, hi in (wilson_interval(k, 50) for k in hits)])
        assert 0.93 <= covered <= 0.97, (p, covered)


def test_bootstrap_of_a_mean_covers_and_narrows():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        values = rng.uniform(0, 1, size=50)
        low, high = bootstrap_interval(MeanStat(values), n_boot=500, seed=trial)
        covered += low <= 0.5 <= high
    assert 0.88 <= covered / 200 <= 0.99
    small = bootstrap_interval(MeanStat(rng.uniform(size=20)))
    large = bootstrap_interval(MeanStat(rng.uniform(size=500)))
    assert large[1] - large[0] < (small[1] - small[0]) / 3
    # deterministic for a seed
    values = rng.uniform(size=30)
    assert bootstrap_interval(MeanStat(values)) == bootstrap_interval(MeanStat(values))
    assert all(math.isnan(v) for v in bootstrap_interval(MeanStat([])))


def test_statistics_with_unit_weights_give_the_cell_value():
    values = np.array([0.2, 0.5, 0.9])
    assert MeanStat(values)(np.ones((1, 3)))[0] == pytest.approx(values.mean())
    tp, fp, fn = np.array([3., 0, 1]), np.array([1., 2, 0]), np.array([0., 1, 4])
    f1 = RatioStat(2 * tp, 2 * tp + fp + fn)(np.ones((1, 3)))[0]
    assert f1 == pytest.approx(2 * 4 / (2 * 4 + 3 + 5))
    assert RatioStat([0.0], [0.0], empty=1.0)(np.ones((1, 1)))[0] == 1.0
    # doubling a record is a weight of 2
    assert MeanStat(values)(np.array([[2.0, 1.0, 0.0]]))[0] == pytest.approx(0.3)


def _box(x, y, label, score=None):
    out = dict(type='hbb', bbox=[x, y, x + 10, y + 10], label=label)
    if score is not None:
        out['score'] = score
    return out


def detection_samples():
    """Three classes, misses, duplicates, false positives and tied scores."""
    return [
        dict(gt=[_box(0, 0, 'ship'), _box(30, 30, 'plane')],
             pred=[_box(0, 0, 'ship', 0.9), _box(1, 1, 'ship', 0.9), _box(50, 50, 'plane', 0.5)]),
        dict(gt=[_box(10, 10, 'ship')], pred=[_box(10, 11, 'ship', 0.4), _box(40, 0, 'tank', 0.9)]),
        dict(gt=[_box(5, 5, 'tank'), _box(20, 20, 'ship')],
             pred=[_box(5, 5, 'tank', 0.9), _box(20, 20, 'ship', 0.1), _box(0, 40, 'ship', 0.9)]),
        dict(gt=[_box(0, 0, 'plane')], pred=[]),
    ]


def test_ap_statistic_equals_the_devkit_map_and_follows_resampling():
    samples = detection_samples()
    stat = detection_ap_stat(samples)
    official = np.mean(list(detection_map(samples).values()))
    assert 0 < official < 1
    assert stat(np.ones((1, len(samples))))[0] == pytest.approx(official, abs=1e-12)
    # a resample with image 1 twice and image 3 left out equals scoring that data set
    resample = [samples[0], samples[1], samples[1], samples[2]]
    expected = np.mean(list(detection_map(resample).values()))
    got = stat(np.array([[1.0, 2.0, 1.0, 0.0]]))[0]
    assert got == pytest.approx(expected, abs=1e-12)
    # a class whose images are all left out is not averaged
    only_first = np.mean(list(detection_map([samples[0]]).values()))
    assert stat(np.array([[1.0, 0, 0, 0]]))[0] == pytest.approx(only_first)
    assert isinstance(stat, APStat)


def test_cider_per_image_scores_average_to_the_cell_value():
    refs = [['a ship in a harbour'], ['two planes at an airport', 'an airport with planes'],
            ['farmland']]
    hyps = ['a ship in the harbour', 'an airport with two planes', 'a lake']
    scores = cider_d_scores(refs, hyps)
    assert len(scores) == 3 and scores[0] > scores[2]
    assert np.mean(scores) == pytest.approx(cider_d(refs, hyps), abs=1e-12)


def test_learned_needs_the_whole_interval_beyond_chance():
    assert learned(0.55, 0.8, 0.5) is True
    assert learned(0.45, 0.8, 0.5) is False
    assert learned(0.5, 0.8, 0.5) is False              # touching chance is not beyond it
    assert learned(0.9, 1.4, 2.0, lower_is_better=True) is True
    assert learned(0.9, 2.4, 2.0, lower_is_better=True) is False
    assert learned(None, 0.8, 0.5) is None and learned(0.1, 0.8, None) is None
    assert is_proportion('Acc@0.5') and is_proportion('accuracy')
    assert not is_proportion('mIoU') and not is_proportion('CIDEr')


def _grounding_rows(n, hit_every):
    """Boxes spread over the image (so the mean box is a poor answer); every
    ``hit_every``-th answer is the truth, the others a box in a far corner."""
    from eov.registry import SERIALIZERS
    serializer = SERIALIZERS.build(LOC)
    rows = []
    for i in range(n):
        x, y = (i % 5) * 10, (i // 5 % 5) * 10
        truth = dict(type='hbb', bbox=[x, y, x + 12, y + 12])
        far = dict(type='hbb', bbox=[60 - x, 60 - y, 64 - x, 64 - y])
        pred = serializer.encode([truth if i % hit_every == 0 else far], (64, 64))
        rows.append(dict(id=f'g{i}', task='grounding', modality='optical', targets=[truth],
                         image_size=(64, 64), prediction=pred))
    return rows


def test_task_metric_reports_intervals_and_the_board_marks_learned_cells():
    from eov.evaluation import scoreboard_from_metrics
    metric = TaskMetric(serializer=LOC, group_by='modality', chance=True)
    metric.process(None, _grounding_rows(50, 1))
    out = metric.compute_metrics(metric.results)
    low, high = out['optical/grounding/Acc@0.5_ci_low'], out['optical/grounding/Acc@0.5_ci_high']
    assert out['optical/grounding/Acc@0.5'] == 1.0
    assert (round(low, 4), high) == (round(wilson_interval(50, 50)[0], 4), 1.0)
    board = scoreboard_from_metrics(out)
    entry = board['optical']['grounding']
    assert entry['ci'] == [pytest.approx(low), 1.0] and entry['learned'] is True

    # 2 hits in 50 against a mean-box chance of the same cell: not learned
    metric = TaskMetric(serializer=LOC, group_by='modality', chance=True)
    metric.process(None, _grounding_rows(50, 25))
    board = scoreboard_from_metrics(metric.compute_metrics(metric.results))
    assert board['optical']['grounding']['value'] == pytest.approx(0.04)
    assert board['optical']['grounding']['learned'] is False

    # intervals can be switched off: the board then has no "ci" / "learned"
    metric = TaskMetric(serializer=LOC, group_by='modality', chance=True, intervals=False)
    metric.process(None, _grounding_rows(10, 1))
    board = scoreboard_from_metrics(metric.compute_metrics(metric.results))
    assert 'ci' not in board['optical']['grounding']
    assert 'learned' not in board['optical']['grounding']


def test_every_cell_of_a_mixed_test_set_gets_an_interval_around_its_value():
    from .test_task_metric import mixed_samples
    metric = TaskMetric(serializer=LOC, group_by='modality', chance=True, n_boot=300)
    metric.process(None, mixed_samples())
    from eov.evaluation import scoreboard_from_metrics
    board = scoreboard_from_metrics(metric.compute_metrics(metric.results))
    for modality, cells in board.items():
        for cell, entry in cells.items():
            low, high = entry['ci']
            assert low - 1e-9 <= entry['value'] <= high + 1e-9, (modality, cell, entry)
            assert isinstance(entry['learned'], bool)
