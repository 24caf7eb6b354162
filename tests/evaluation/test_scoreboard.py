"""The scoreboard: primary metric per modality and cell, next to chance."""
import json
import math

import pytest

from eov.evaluation import (render_table, save_scoreboard, scoreboard_from_metrics,
                            write_scoreboard)
from eov.evaluation.metrics import TaskMetric
from eov.evaluation.scoreboard import beats_chance, split_cells

from .test_task_metric import LOC, mixed_samples

FLAT = {
    'optical/classification/accuracy': 0.9,
    'optical/classification/parse_rate': 1.0,
    'optical/classification/n': 10.0,
    'optical/classification/accuracy_chance': 0.5,
    'optical/vqa/count/count_exact': 0.4,
    'optical/vqa/count/count_mae': 1.5,
    'optical/vqa/count/count_parse_rate': 0.8,
    'optical/vqa/count/parse_rate': 1.0,
    'optical/vqa/count/n': 5.0,
    'optical/vqa/count/count_exact_chance': 0.6,
    'optical/vqa/count/count_mae_chance': 2.0,
    'multispectral/classification/accuracy': 0.7,
    'multispectral/classification/parse_rate': 1.0,
    'multispectral/classification/n': 8.0,
    'multispectral/classification/accuracy_chance': 0.25,
    'multispectral/classification/nonvisible/accuracy': 0.3,
    'multispectral/classification/nonvisible/parse_rate': 0.5,
    'multispectral/classification/nonvisible/n': 4.0,
    'multispectral/classification/nonvisible/accuracy_chance': 0.5,
    'sar/detection/mAP@0.5': 0.5,
    'sar/detection/AP/ship': 0.5,
    'sar/detection/parse_rate': 1.0,
    'sar/detection/n': 2.0,
    'sar/detection/mAP@0.5_chance': 0.0,
    'sar/detection/AP/ship_chance': 0.0,
    'sar/grounding/Acc@0.5': 0.8,
    'sar/grounding/meanIoU': 0.6,
    'sar/grounding/parse_rate': 1.0,
    'sar/grounding/n': 3.0,
    'sar/grounding/Acc@0.5_baseline': 0.1,
}


def test_board_from_flat_keys():
    board = scoreboard_from_metrics(FLAT)
    assert board == {
        'multispectral': {
            'classification': dict(metric='accuracy', value=0.7, chance=0.25, n=8),
            'classification/nonvisible': dict(metric='accuracy', value=0.3, chance=0.5, n=4),
        },
        'optical': {
            'classification': dict(metric='accuracy', value=0.9, chance=0.5, n=10),
            'vqa/count': dict(metric='count_exact', value=0.4, chance=0.6, n=5),
        },
        'sar': {
            'detection': dict(metric='mAP@0.5', value=0.5, chance=0.0, n=2),
            'grounding': dict(metric='Acc@0.5', value=0.8, chance=None, n=3, baseline=0.1),
        },
    }
    assert list(board) == ['multispectral', 'optical', 'sar']
    assert isinstance(board['optical']['classification']['n'], int)
    cells = split_cells(FLAT)
    assert cells['sar/detection'] == {'mAP@0.5': 0.5, 'AP/ship': 0.5, 'parse_rate': 1.0, 'n': 2.0,
                                      'mAP@0.5_chance': 0.0, 'AP/ship_chance': 0.0}


def test_lower_is_better_primary_and_beats_chance():
    board = scoreboard_from_metrics(FLAT, primary={'vqa/count': 'count_mae'})
    entry = board['optical']['vqa/count']
    assert entry == dict(metric='count_mae', value=1.5, chance=2.0, n=5, lower_is_better=True)
    assert beats_chance(entry) is True                    # 1.5 < 2.0
    assert beats_chance(dict(value=0.4, chance=0.6)) is False
    assert beats_chance(dict(value=0.5, chance=0.5)) is False   # a tie does not beat chance
    assert beats_chance(board['sar']['grounding']) is None


def test_keys_without_modality_and_missing_values():
    board = scoreboard_from_metrics({'classification/accuracy': 0.5,
                                     'classification/parse_rate': 1.0, 'classification/n': 2,
                                     'classification/cloud/accuracy': float('nan'),
                                     'classification/cloud/parse_rate': 0.0,
                                     'classification/cloud/n': 1, 'other/key': 3.0})
    assert board == {'all': {
        'classification': dict(metric='accuracy', value=0.5, chance=None, n=2),
        'classification/cloud': dict(metric='accuracy', value=None, chance=None, n=1)}}
    assert scoreboard_from_metrics({}) == {}


def test_render_table():
    board = {'optical': {
                 'classification': dict(metric='accuracy', value=0.9, chance=0.5, n=10),
                 'vqa/count': dict(metric='count_mae', value=1.5, chance=2.0, n=5,
                                   lower_is_better=True)},
             'sar': {'choice': dict(metric='accuracy', value=0.25, chance=0.5, n=4),
                     'grounding': dict(metric='Acc@0.5', value=0.8, chance=None, n=3)}}
    assert render_table(board) == '\n'.join([
        'modality  task            metric              value  chance   n  beats chance',
        '--------  --------------  -----------------  ------  ------  --  ------------',
        'optical   classification  accuracy           0.9000  0.5000  10  ✓',
        'optical   vqa/count       count_mae (lower)  1.5000  2.0000   5  ✓',
        'sar       choice          accuracy           0.2500  0.5000   4  ✗',
        'sar       grounding       Acc@0.5            0.8000       -   3  -',
        '2 of 3 cells beat chance (no intervals in this board)',
    ])


def test_render_table_with_intervals_counts_learned_cells():
    board = {'optical': {
                 'classification': dict(metric='accuracy', value=0.9, chance=0.5, n=10,
                                        ci=[0.6, 0.98], learned=True),
                 'vqa/count': dict(metric='count_mae', value=1.5, chance=2.0, n=5,
                                   lower_is_better=True, ci=[0.9, 2.4], learned=False)},
             'sar': {'choice': dict(metric='accuracy', value=0.25, chance=0.5, n=4,
                                    ci=[0.05, 0.7], learned=False),
                     'grounding': dict(metric='Acc@0.5', value=0.8, chance=None, n=3,
                                       ci=[0.3, 0.96], learned=None)}}
    assert render_table(board, digits=2) == '\n'.join([
        'modality  task            metric             value        95% CI  chance   n  learned',
        '--------  --------------  -----------------  -----  ------------  ------  --  -------',
        'optical   classification  accuracy            0.90  [0.60, 0.98]    0.50  10  ✓',
        'optical   vqa/count       count_mae (lower)   1.50  [0.90, 2.40]    2.00   5  ✗',
        'sar       choice          accuracy            0.25  [0.05, 0.70]    0.50   4  ✗',
        'sar       grounding       Acc@0.5             0.80  [0.30, 0.96]       -   3  -',
        '1 of 3 cells learned (95% interval wholly beyond chance); 1 cell(s) without an '
        'interval or chance score',
    ])


def test_write_scoreboard(tmp_path):
    board = write_scoreboard(FLAT, str(tmp_path / 'out'))
    assert json.loads((tmp_path / 'out' / 'scoreboard.json').read_text()) == board
    assert board == scoreboard_from_metrics(FLAT)


def test_the_scoreboard_of_task_metric_output(tmp_path):
    """The metric returns its metrics and writes no board; save_scoreboard writes it
    (as tools/test.py does)."""
    path = tmp_path / 'board' / 'scoreboard.json'
    metric = TaskMetric(serializer=LOC, group_by='modality', chance=True)
    metric.process(None, mixed_samples())
    out = metric.compute_metrics(metric.results)
    assert not list(tmp_path.iterdir())
    save_scoreboard(scoreboard_from_metrics(out, grouped=True), str(path))
    board = json.loads(path.read_text())
    assert board == scoreboard_from_metrics(out)
    assert sorted(board) == ['infrared', 'multispectral', 'optical', 'sar', 'temporal']
    assert sorted(board['multispectral']) == ['classification', 'classification/multilabel',
                                              'classification/nonvisible']
    # 3 of 3 right: Wilson's 95% interval [0.4385, 1] does not clear chance 2/3
    assert board['optical']['classification'] == dict(
        metric='accuracy', value=1.0, chance=pytest.approx(2 / 3), n=3,
        ci=[pytest.approx(0.43850297, abs=1e-8), 1.0], learned=False)
    assert board['optical']['vqa/count']['metric'] == 'count_exact'
    assert beats_chance(board['optical']['vqa/count']) is False
    assert board['multispectral']['classification/multilabel']['metric'] == 'sample_f1'
    assert board['multispectral']['classification/nonvisible'] == dict(
        metric='accuracy', value=1.0, chance=0.5, n=2,
        ci=[pytest.approx(0.3423802, abs=1e-7), 1.0], learned=False)
    # every cell has an interval that holds its value
    for cells in board.values():
        for entry in cells.values():
            low, high = entry['ci']
            assert low - 1e-9 <= entry['value'] <= high + 1e-9, entry
    assert board['sar']['choice']['chance'] == pytest.approx(5 / 12)
    assert board['optical']['grounding']['metric'] == 'Acc@0.5'
    assert board['infrared']['captioning']['metric'] == 'CIDEr'
    assert board['temporal']['change']['metric'] == 'f1'
    assert all(math.isfinite(e['value']) for cells in board.values() for e in cells.values())
