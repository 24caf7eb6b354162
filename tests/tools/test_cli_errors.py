"""tools/train.py and tools/test.py: bad input ends in one clear line (--debug: traceback)."""
import os
import shutil
import subprocess
import sys

import pytest

from ..conftest import ROOT, TINY_CONFIG
from ..helpers import load_tool, tiny_train_options



def _one_line_error(capsys, tool, argv):
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        load_tool(tool).main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith('error: ') and 'Traceback' not in '\n'.join(err), err
    return err[0]


def test_a_misspelt_override_key_is_refused_with_a_suggestion(synth_data, tmp_path, capsys):
    line = _one_line_error(capsys, 'train', [TINY_CONFIG, '--work-dir', str(tmp_path),
                                             '--cfg-options', 'trian_cfg.max_iters=2'])
    assert "has no key 'trian_cfg'; did you mean 'train_cfg'" in line
    # new keys inside an existing dict stay allowed (an argument left at its default)
    from eov.engine.config import load_config
    assert load_config(TINY_CONFIG, {'model.vision.checkpoint': None}).model.vision.checkpoint \
        is None


def test_a_bad_record_names_its_file_and_line(synth_data, tmp_path, capsys):
    data = tmp_path / 'data'
    shutil.copytree(synth_data, data)
    lines = (data / 'train.jsonl').read_text().splitlines()
    lines[2] = '{"id": "broken", "task": "grounding"'
    (data / 'train.jsonl').write_text('\n'.join(lines) + '\n')
    line = _one_line_error(capsys, 'train', [TINY_CONFIG, '--work-dir', str(tmp_path / 'w'),
                                             *tiny_train_options(str(data), 1, 1)])
    assert 'train.jsonl:3' in line


@pytest.mark.slow
def test_debug_keeps_the_traceback(synth_data, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    args = [sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path),
            '--cfg-options', 'trian_cfg.max_iters=2']
    plain = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 2 and 'Traceback' not in plain.stderr
    debug = subprocess.run(args + ['--debug'], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert debug.returncode != 0 and 'Traceback' in debug.stderr
    assert 'ConfigKeyError' in debug.stderr
