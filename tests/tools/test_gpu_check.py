"""tools/gpu_check.sh --dry-run: the standing GPU check's plan runs on any CPU machine."""
import json
import os
import subprocess
import sys

import pytest

from ..conftest import ROOT


@pytest.mark.slow
def test_gpu_check_dry_run_builds_the_plan(tmp_path):
    out = tmp_path / 'gpu_check'
    proc = subprocess.run(['bash', 'tools/gpu_check.sh', '--dry-run', '--out', str(out),
                           '--python', sys.executable],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['dry_run'] is True and summary['ok'] is True
    assert set(summary['steps']) == {'env', 'synth_data', 'strategies', '2b_meta',
                                     'eov2b_meta', 'packing_collect', 'tiny_train_step'}
    plans = [json.loads(line) for line in (out / 'strategies.log').read_text().splitlines()]
    fsdp = next(p for p in plans if p['config'].endswith('eov_2b_fsdp_8gpu.py'))
    # 8 GPUs x 4 samples x 8 accumulation = the configs' global batch of 256
    assert (fsdp['type'], fsdp['processes'], fsdp['micro_batch_size'],
            fsdp['accumulation']) == ('fsdp', 8, 4, 8)
    meta = json.loads((out / '2b_meta.log').read_text().splitlines()[-1])
    assert 1.8e9 < meta['parameters'] < 2.0e9
    eov2b = json.loads((out / 'eov2b_meta.log').read_text().splitlines()[-1])
    assert 2.1e9 < eov2b['parameters'] < 2.25e9 and eov2b['image_tokens'] == 256
    rows = [json.loads(line) for line in (out / 'train_step.jsonl').read_text().splitlines()]
    assert {r['impl'] for r in rows} == {'packed', 'padded'}
    assert 'plan on a GPU:' in proc.stdout


def test_gpu_check_refuses_unknown_options():
    proc = subprocess.run(['bash', os.path.join('tools', 'gpu_check.sh'), '--gpus', '8'],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert 'gpu_check.sh: unknown option --gpus' in proc.stderr
