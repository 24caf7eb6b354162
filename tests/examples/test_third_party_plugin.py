import json
import os
import sys

import pytest

from ..conftest import ROOT
from ..helpers import run_tool, tiny_train_options

PLUGIN = os.path.join(ROOT, 'examples', 'third_party_plugin')
CONFIG = os.path.join(PLUGIN, 'configs', 'eov_tiny_dsm.py')


@pytest.fixture(scope='module')
def dsm_data(tmp_path_factory):
    sys.path.insert(0, PLUGIN)
    try:
        from eov_dsm import generate_dsm_grounding
    finally:
        sys.path.remove(PLUGIN)
    out = tmp_path_factory.mktemp('dsm')
    generate_dsm_grounding(str(out), 12)
    return str(out)


@pytest.mark.slow
def test_plugin_registers_modality_without_editing_eov():
    out = run_tool(['tools/list_plugins.py', '--json', '--import', 'eov_dsm'],
                   extra_pythonpath=[PLUGIN])
    assert 'dsm' in json.loads(out.stdout)['MODALITIES']
    plain = run_tool(['tools/list_plugins.py', '--json'])
    assert 'dsm' not in json.loads(plain.stdout)['MODALITIES']


@pytest.mark.slow
def test_train_one_iteration_with_the_plugin(dsm_data, tmp_path):
    work = str(tmp_path / 'work')
    proc = run_tool(['tools/train.py', CONFIG, '--work-dir', work,
                     *tiny_train_options(dsm_data, 1, 1)], extra_pythonpath=[PLUGIN])
    log = proc.stdout + proc.stderr
    assert 'Iter(train) [1/1]' in log
    assert os.path.isfile(os.path.join(work, 'iter_1.pth'))


def test_dsm_modality_reads_heights_and_masks_nodata(dsm_data):
    sys.path.insert(0, PLUGIN)
    try:
        from eov.registry import MODALITIES
        import eov_dsm  # noqa: F401  (registers 'dsm')
        rec = json.loads(open(os.path.join(dsm_data, 'train.jsonl')).readline())
        out = MODALITIES.build(dict(type='dsm')).load(rec['images'], dsm_data)
    finally:
        sys.path.remove(PLUGIN)
    assert out['pixels'].shape == (1, 64, 64)
    assert not out['valid_mask'][0, :4].any() and out['valid_mask'][1:].all()
    assert out['crs'] == 'EPSG:32632'
    assert float(out['pixels'][0, 0, :4].abs().max()) == 0.0  # nodata -> 0, not -9999


@pytest.mark.slow
def test_browse_dataset_reads_the_plugin_modality_through_the_config(dsm_data, tmp_path):
    """--config brings the plugin's modality before the record is validated."""
    data = os.path.join(dsm_data, 'train.jsonl')
    index = next(i for i, line in enumerate(open(data)) if '"modality": "dsm"' in line)
    out = run_tool(['tools/browse_dataset.py', data, '--index', str(index), '--json',
                    '--config', CONFIG, '--out', str(tmp_path / 'dsm.png')],
                   extra_pythonpath=[PLUGIN])
    summary = json.loads(out.stdout)
    assert summary['modality'] == 'dsm' and os.path.isfile(tmp_path / 'dsm.png')
    # without the config, the built-in modality list refuses the record, naming it
    with pytest.raises(AssertionError, match="modality 'dsm' is not one of"):
        run_tool(['tools/browse_dataset.py', data, '--index', str(index), '--json'])
