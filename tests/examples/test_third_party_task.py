"""A task eov does not ship (cloud cover, examples/third_party_task) validates, trains, is
scored and shows in the scoreboard -- with no change to eov."""
import json
import os
import sys

import numpy as np
import pytest

from ..conftest import ROOT
from ..helpers import run_tool, tiny_train_options

PLUGIN = os.path.join(ROOT, 'examples', 'third_party_task')
CONFIG = os.path.join(PLUGIN, 'configs', 'eov_tiny_cloud_cover.py')


@pytest.fixture(scope='module')
def cloud():
    """The example package, imported from its folder (not installed)."""
    sys.path.insert(0, PLUGIN)
    try:
        import eov_cloud
    finally:
        sys.path.remove(PLUGIN)
    return eov_cloud


@pytest.fixture(scope='module')
def cloud_data(cloud, tmp_path_factory):
    out = tmp_path_factory.mktemp('cloud_cover')
    cloud.generate_cloud_cover(str(out), train=12, test=8)
    return str(out)


def _records(data, split):
    with open(os.path.join(data, f'{split}.jsonl')) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_the_task_comes_from_the_package_alone():
    out = run_tool(['tools/list_plugins.py', '--json', '--import', 'eov_cloud'],
                   extra_pythonpath=[PLUGIN])
    assert 'cloud_cover' in json.loads(out.stdout)['HEADS']
    plain = run_tool(['tools/list_plugins.py', '--json'])
    assert 'cloud_cover' not in json.loads(plain.stdout)['HEADS']
    for folder, _, files in os.walk(os.path.join(ROOT, 'eov')):   # eov never names it
        for name in files:
            if name.endswith('.py'):
                with open(os.path.join(folder, name), encoding='utf-8') as f:
                    assert 'cloud_cover' not in f.read(), os.path.join(folder, name)


def test_records_validate_once_the_head_is_registered(cloud_data):
    check = ('import json, sys; from eov.datasets.schema import validate_record\n'
             'rec = json.loads(open(sys.argv[1]).readline())\n'
             'if sys.argv[2] == "import": import eov_cloud\n'
             'try:\n    validate_record(rec, "train.jsonl:1")\n'
             'except Exception as err:\n    print(err)\nelse:\n    print("valid")')
    path = os.path.join(cloud_data, 'train.jsonl')
    out = run_tool(['-c', check, path, 'import'], extra_pythonpath=[PLUGIN])
    assert out.stdout.strip() == 'valid'
    out = run_tool(['-c', check, path, 'no'], extra_pythonpath=[PLUGIN])
    assert "task 'cloud_cover' is not one of the registered tasks (classification" in out.stdout
    assert 'train.jsonl:1 (id cloud-train-0)' in out.stdout and 'custom_imports' in out.stdout


def test_head_scores_judges_and_gives_the_median_as_chance(cloud):
    head = cloud.CloudCoverHead()
    rows = [dict(targets=[{'type': 'cloud_cover', 'percent': p}], image_size=[64, 64],
                 prediction=a) for p, a in ((10, '12'), (40, 'about 55%'), (70, 'cloudy'))]
    metrics = head.score(rows)
    assert metrics['within_10'] == pytest.approx(1 / 3)
    assert metrics['mae'] == pytest.approx(8.5) and metrics['parse_rate'] == pytest.approx(2 / 3)
    assert [v['correct'] for v in head.verdicts(rows)] == [True, False, False]
    assert head.chance_answers(rows) == [['40'] * 3]
    chance = head.chance(rows, lambda m: 'within_10')
    assert chance['within_10'] == pytest.approx(1 / 3) and chance['mae'] == pytest.approx(20)
    assert head.lower_is_better('mae') and head.primary_metric() == 'within_10'
    assert head.record_stat('within_10', rows).tolist() == [True, False, False]
    assert head.parse('no idea') == {'percent': None, 'parsed': False}


@pytest.mark.slow
def test_train_test_and_the_scoreboard_show_the_new_task(cloud_data, tmp_path):
    work = str(tmp_path / 'work')
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work,
                     *tiny_train_options(cloud_data, 2, 2)], extra_pythonpath=[PLUGIN])
    assert 'Iter(train) [2/2]' in proc.stdout + proc.stderr
    run_tool(['tools/test.py', CONFIG, os.path.join(work, 'iter_2.pth'), '--work-dir', work,
              '--cfg-options', f'data_root={cloud_data}', 'test_dataloader.batch_size=4',
              'test_dataloader.num_workers=0'], extra_pythonpath=[PLUGIN])
    with open(os.path.join(work, 'metrics.json')) as f:
        metrics = json.load(f)
    with open(os.path.join(work, 'scoreboard.json')) as f:
        board = json.load(f)
    truth = [r['targets'][0]['percent'] for r in _records(cloud_data, 'test')]
    median = round(float(np.median(truth)))
    chance = np.mean([abs(median - p) <= 10 for p in truth])
    for key in ('within_10', 'mae', 'parse_rate', 'within_10_chance', 'mae_chance',
                'within_10_ci_low'):
        assert f'optical/cloud_cover/{key}' in metrics, key
    assert metrics['optical/cloud_cover/n'] == len(truth)
    assert metrics['optical/cloud_cover/within_10_chance'] == pytest.approx(chance)
    entry = board['optical']['cloud_cover']
    assert entry['metric'] == 'within_10' and entry['n'] == len(truth)
    assert entry['chance'] == pytest.approx(chance) and isinstance(entry['learned'], bool)
    with open(os.path.join(work, 'predictions.jsonl')) as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == len(truth)
    assert all(line['cell'] == 'cloud_cover' and isinstance(line['correct'], bool)
               for line in lines)
