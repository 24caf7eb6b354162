"""tools/test.py never leaves an earlier run's metrics beside a new run's predictions."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import load_tool, run_tool

RESULTS = ('metrics.json', 'predictions.jsonl', 'scoreboard.json')


def _options(data, batch_size=4, **more):
    return ['--cfg-options', f'data_root={data}', f'test_dataloader.batch_size={batch_size}',
            'test_dataloader.num_workers=0', 'default_hooks.logger.interval=1',
            *[f'{k}={v}' for k, v in more.items()]]


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """The tiny model at its initialisation, saved as eov saves weights (config inside)."""
    import torch
    from mmengine.registry import init_default_scope

    from eov.engine.config import config_text, load_config
    from eov.registry import MODELS
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG)
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('init_ckpt') / 'init.pth')
    torch.save({'meta': {'cfg': config_text(cfg)},
                'state_dict': MODELS.build(cfg.model).state_dict()}, path)
    return path


@pytest.fixture(scope='module')
def finished_eval(synth_data, checkpoint, tmp_path_factory):
    """A work dir where tools/test.py finished: metrics.json and predictions.jsonl."""
    work = tmp_path_factory.mktemp('finished_eval')
    run_tool(['tools/test.py', TINY_CONFIG, checkpoint, '--work-dir', str(work),
              *_options(synth_data)])
    metrics = json.loads((work / 'metrics.json').read_text())
    assert metrics['grounding/n'] == 8
    assert len((work / 'predictions.jsonl').read_text().splitlines()) == 8
    assert not list(work.glob('*.partial'))   # written whole, then renamed
    return work


@pytest.mark.slow
def test_a_run_that_fails_mid_test_leaves_no_earlier_metrics(synth_data, checkpoint,
                                                            finished_eval, tmp_path):
    """Record 6 of the test split names a missing image: the run stops after five
    predictions with one line, and the earlier run's results are gone."""
    work = tmp_path / 'work'
    shutil.copytree(finished_eval, work)
    (work / 'scoreboard.json').write_text('{}')   # a board from a run with group_by
    data = tmp_path / 'data'
    shutil.copytree(synth_data, data)
    lines = (data / 'test.jsonl').read_text().splitlines()
    record = json.loads(lines[5])
    record['images'][0]['path'] = 'images/missing.png'
    lines[5] = json.dumps(record)
    (data / 'test.jsonl').write_text('\n'.join(lines) + '\n')
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/test.py', TINY_CONFIG, checkpoint,
                           '--work-dir', str(work), *_options(str(data), batch_size=1)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    log = proc.stdout + proc.stderr
    assert re.search(r'Iter\(test\) \[\s*5/8\]', log)   # it failed mid-test, not at start
    assert proc.stderr.startswith(f'error: {data}/test.jsonl:6: image file not found')
    assert 'removed the results of an earlier run' in proc.stdout
    for name in RESULTS:
        assert not (work / name).exists(), name
    assert not list(work.glob('*.partial'))


def test_sigkill_mid_test_leaves_no_earlier_metrics(synth_data, checkpoint,
                                                    finished_eval, tmp_path):
    """Killed (SIGKILL) once predictions are being generated: neither the earlier run's
    metrics nor its predictions remain, and nothing half-written."""
    work = tmp_path / 'work'
    shutil.copytree(finished_eval, work)
    (work / 'scoreboard.json').write_text('{}')   # a board from a run with group_by
    env = dict(os.environ, PYTHONPATH=ROOT)
    # the 48 training records as the test split: long enough to be killed mid-run
    proc = subprocess.Popen([sys.executable, 'tools/test.py', TINY_CONFIG,
                             checkpoint, '--work-dir', str(work),
                             *_options(synth_data, batch_size=1,
                                       **{'test_dataloader.dataset.ann_file': 'train.jsonl'})],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if re.search(r'Iter\(test\) \[\s*2/48\]', line):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, ''.join(seen[-20:])
    assert any('removed the results of an earlier run' in line for line in seen)
    for name in RESULTS:
        assert not (work / name).exists(), name
    assert not list(work.glob('*.partial'))


@pytest.mark.slow
def test_the_tool_writes_the_scoreboard_of_a_per_modality_metric(synth_data, checkpoint,
                                                                  tmp_path):
    """tools/test.py (not the metric) writes scoreboard.json from the metrics the test
    returned, and predictions.jsonl carries each record's verdict."""
    from eov.evaluation import scoreboard_from_metrics
    work = tmp_path / 'work'
    proc = run_tool(['tools/test.py', TINY_CONFIG, checkpoint, '--work-dir', str(work),
                     *_options(synth_data, **{'test_evaluator.group_by': 'modality'})])
    metrics = json.loads((work / 'metrics.json').read_text())
    board = json.loads((work / 'scoreboard.json').read_text())
    assert board == scoreboard_from_metrics(metrics) and list(board) == ['optical']
    assert f"scoreboard written to {work / 'scoreboard.json'}" in proc.stdout
    lines = [json.loads(line) for line in (work / 'predictions.jsonl').read_text().splitlines()]
    assert all(isinstance(line['correct'], bool) and 'iou' in line for line in lines)
    hits = [line['correct'] for line in lines if line['cell'] == 'grounding']
    assert sum(hits) / len(hits) == pytest.approx(metrics['optical/grounding/Acc@0.5'])


def test_a_scoreboard_file_in_the_config_names_where_the_board_goes(tmp_path):
    """A metric's `scoreboard_file` and its key prefix are honoured by the tool."""
    from types import SimpleNamespace
    tool = load_tool('test')
    metric = SimpleNamespace(prefix='tm', primary_metrics={}, group_by='modality')
    flat = {'tm/sar/vqa/accuracy': 0.5, 'tm/sar/vqa/n': 4.0, 'tm/sar/vqa/parse_rate': 1.0,
            'other/x': 1.0}
    path = tmp_path / 'boards' / 'tm.json'
    tool.write_scoreboards(flat, [str(path), None], [metric, SimpleNamespace(prefix=None)])
    assert json.loads(path.read_text()) == {
        'sar': {'vqa': dict(metric='accuracy', value=0.5, chance=None, n=4)}}
    assert os.listdir(tmp_path) == ['boards']
