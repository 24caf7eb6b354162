import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from eov.engine.config import load_config, resolve_references
from eov.registry import MODELS

from ..conftest import ROOT

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                                      recursive=True) if '_base_' not in p)


def test_there_are_configs():
    assert any(p.endswith('eov_tiny_synth.py') for p in CONFIGS)


@pytest.fixture(scope='module')
def tiny_vlm_export(tmp_path_factory):
    """A tiny imported InternVL: what configs/vlm/ start from (their `vlm_dir`)."""
    from eov.models.hf_vlm import import_hf_vlm

    from ..models.vlm_fixtures import write_tiny_internvl
    source = tmp_path_factory.mktemp('internvl')
    write_tiny_internvl(source)
    out = str(tmp_path_factory.mktemp('vlm') / 'eov')
    import_hf_vlm(str(source), out, serializer=dict(type='LocTokenSerializer', bins=32))
    return out


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_dump_reload_and_build(path, tmp_path, request):
    raw = Config.fromfile(path)
    dumped = tmp_path / 'dumped.py'
    raw.dump(str(dumped))
    again = Config.fromfile(str(dumped))
    assert again.to_dict() == raw.to_dict()
    # configs/vlm/ start from an imported model named by `vlm_dir`
    options = {'vlm_dir': request.getfixturevalue('tiny_vlm_export'), 'image_size': 32} \
        if 'vlm_dir' in raw else None
    cfg = load_config(str(dumped), options)
    text = cfg.pretty_text
    assert '${' not in text  # every reference resolved
    init_default_scope('eov')
    big = cfg.get('model_size') != 'tiny'  # full-size models: no weight allocation
    with torch.device('meta') if big else torch.device('cpu'):
        model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_references_follow_overrides(tmp_path):
    cfg = load_config(os.path.join(ROOT, 'configs', 'eov_tiny_synth.py'),
                      {'serializer.bins': 64, 'data_root': '/data/x'})
    assert cfg.model.serializer.bins == 64
    assert cfg.test_evaluator.serializer.bins == 64
    steps = cfg.train_dataloader.dataset.pipeline
    assert steps[1].serializer.bins == 64 and steps[2].tokenizer.serializer.bins == 64
    assert cfg.train_dataloader.dataset.data_root == '/data/x'
    assert cfg.test_evaluator.baseline_ann_file == '/data/x/train.jsonl'


def test_one_line_child_config_changes_every_use(tmp_path):
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{ROOT}/configs/eov_tiny_synth.py']\n"
                     "serializer = dict(type='LocTokenSerializer', bins=16)\n")
    cfg = load_config(str(child))
    assert cfg.model.serializer.bins == 16
    assert cfg.test_dataloader.dataset.pipeline[1].serializer.bins == 16


def test_bad_references_are_explained():
    cfg = Config(dict(a='${missing.key}'))
    with pytest.raises(KeyError, match=r'\$\{missing.key\} at a'):
        resolve_references(cfg)
    cyc = Config(dict(a='${b}', b='${a}'))
    with pytest.raises(KeyError, match='cycle'):
        resolve_references(cyc)
    nested = resolve_references(Config(dict(x=dict(y=3), z=['${x.y}', 'n=${x.y}'])))
    assert nested.z == [3, 'n=3']


def test_runner_config_text_is_loadable_python(tmp_path):
    """EOVRunner logs, dumps and checkpoints the config as pprint text (no yapf)."""
    from eov.engine.config import PlainTextConfig, config_text
    cfg = load_config(os.path.join(ROOT, 'configs', 'eov_tiny_pcma.py'))
    path = tmp_path / 'dumped.py'
    path.write_text(config_text(cfg))
    again = load_config(str(path))
    assert again.to_dict() == cfg.to_dict()
    plain = cfg.copy()
    object.__setattr__(plain, '__class__', PlainTextConfig)
    assert plain.pretty_text == config_text(cfg)


def test_partial_settings_are_checked():
    from eov.engine.config import ConfigKeyError, partial_settings
    assert partial_settings(None) is None and partial_settings(False) is None
    assert partial_settings(True)['min_matched_fraction'] == 0.5
    assert partial_settings(dict(allow_unexpected=False)) == dict(
        allow_missing=True, allow_unexpected=False, allow_mismatched=True,
        min_matched_fraction=0.5)
    with pytest.raises(ConfigKeyError, match='load_from_partial.allow_mising: not a setting'):
        partial_settings(dict(allow_mising=True))
    with pytest.raises(ConfigKeyError, match='min_matched_fraction: a fraction in'):
        partial_settings(dict(min_matched_fraction=50))
    assert partial_settings(dict(allow_missing=['*.lora_A']))['allow_missing'] == ('*.lora_A',)
    for bad in ([], 'yes', [3]):
        with pytest.raises(ConfigKeyError, match='allow_missing: True, False or'):
            partial_settings(dict(allow_missing=bad))
