"""`--cfg-options` that cannot take effect are refused, naming the key and why."""
import os
import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import (ConfigError, ConfigKeyError, config_for_checkpoint, config_text,
                               load_config)
from eov.registry import DATASETS, MODELS

from ..conftest import ROOT, TINY_CONFIG


def test_image_size_and_patch_size_overrides_reach_the_model_and_the_data(synth_data):
    """`image_size=128` resizes the ViT, the modality and the data together; the model
    trains a step on the 64-px EOV-Synth images read at 128 px."""
    from eov.datasets import instruction_collate
    from eov.engine import fill_config_image_tokens
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG, {'image_size': 128, 'data_root': synth_data})
    assert cfg.model.vision.img_size == 128 and cfg.modalities.optical.image_size == 128
    assert fill_config_image_tokens(cfg) == {'optical': 64}   # (128 / 16)^2
    model = MODELS.build(cfg.model)
    sample = DATASETS.build(cfg.train_dataloader.dataset)[0]
    batch = model.data_preprocessor(instruction_collate([sample]), True)
    assert tuple(batch['inputs']['pixel_values']['optical'].shape[-2:]) == (128, 128)
    assert torch.isfinite(model(**batch, mode='loss')['loss'])

    cfg = load_config(TINY_CONFIG, {'patch_size': 8})
    assert cfg.model.vision.patch_size == 8
    with torch.device('meta'):
        assert MODELS.build(cfg.model).num_image_tokens(modality='optical') == 64


@pytest.mark.parametrize('override, key', [
    ({'modalities.optical.image_size': 128},
     '--cfg-options modalities.optical.image_size=128: modalities.optical.image_size=128 but '
     'model.vision.img_size=64'),
    ({'model.vision.img_size': 128},
     '--cfg-options model.vision.img_size=128: modalities.optical.image_size=64 but '
     'model.vision.img_size=128'),
])
def test_a_modality_size_the_vit_cannot_take_is_a_config_error(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(TINY_CONFIG, override)
    assert str(info.value).startswith(key)
    assert 'Set both to the same size, or build the ViT with ' \
           'model.vision.dynamic_img_size=True' in str(info.value)
    # a ViT that takes any size accepts it
    load_config(TINY_CONFIG, {**override, 'model.vision.dynamic_img_size': True})


def test_overriding_a_value_copied_at_parse_time_is_refused(tmp_path):
    """A config written with Python variables (`patch_size=patch_size`) copies the value:
    overriding the top-level name would change nothing, so it is an error naming the copy."""
    child = tmp_path / 'copies.py'
    child.write_text(f"_base_ = ['{TINY_CONFIG}']\n"
                     'image_size = 64\npatch_size = 16\n'
                     'model = dict(vision=dict(img_size=image_size, patch_size=patch_size))\n')
    with pytest.raises(ConfigKeyError) as info:
        load_config(str(child), {'patch_size': 8})
    assert str(info.value) == (
        f'--cfg-options patch_size=8 would change nothing: no "${{patch_size}}" in {child} '
        "refers to 'patch_size'; its value was copied into model.vision.patch_size when the "
        'config was written or parsed. Override model.vision.patch_size instead (or write '
        "'${patch_size}' there in the config)")
    # image_size is still referenced by the modality, so it half-applies: the sizes disagree
    with pytest.raises(ConfigError, match=r'^--cfg-options image_size=128: '
                       r'modalities.optical.image_size=128 but model.vision.img_size=64'):
        load_config(str(child), {'image_size': 128})
    # the same for a pipeline copied into its dataloader
    with pytest.raises(ConfigKeyError, match=r'train_pipeline.1.predict=True would change '
                       r'nothing.*copied into train_dataloader.dataset.pipeline.*Override '
                       r'train_dataloader.dataset.pipeline.1.predict instead'):
        load_config(TINY_CONFIG, {'train_pipeline.1.predict': True})
    # keys the runner reads, and referenced ones, stay free to override
    assert load_config(TINY_CONFIG, {'serializer.bins': 64}).model.serializer.bins == 64
    assert load_config(TINY_CONFIG, {'randomness.seed': 3}).randomness.seed == 3


def test_an_image_size_override_on_a_checkpoints_saved_model_is_refused(tmp_path):
    """tools/test.py rebuilds the model from the checkpoint's (resolved) config, where
    `image_size` was already copied into the ViT and the modality."""
    cfg = load_config(TINY_CONFIG)
    path = tmp_path / 'saved.pth'
    torch.save({'meta': {'cfg': config_text(cfg)}, 'state_dict': {}}, path)
    with pytest.raises(ConfigKeyError, match=r"--cfg-options image_size=128 would change "
                       r"nothing: .*copied into model.vision.img_size, "
                       r"model.modalities.optical.image_size, modalities.optical.image_size"):
        config_for_checkpoint(TINY_CONFIG, str(path), {'image_size': 128})
    assert config_for_checkpoint(TINY_CONFIG, str(path))[0].model.vision.img_size == 64


def test_tools_train_prints_one_line_for_a_size_the_model_cannot_take(synth_data, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir',
                           str(tmp_path), '--cfg-options', f'data_root={synth_data}',
                           'modalities.optical.image_size=128'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert proc.stderr.startswith('error: --cfg-options modalities.optical.image_size=128: '
                                  'modalities.optical.image_size=128 but '
                                  'model.vision.img_size=64: the vision backbone takes 64x64 '
                                  'images')
