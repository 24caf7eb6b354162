"""The shipped PCMA chain configs and the multi-modality checks made at build time."""
import os

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine import fill_config_image_tokens
from eov.engine.chain import build_stages
from eov.engine.config import load_config
from eov.engine.image_tokens import check_pipeline_modalities
from eov.engine.runner import cpu_threads
from eov.registry import MODELS

from ..conftest import ROOT

PCMA = os.path.join(ROOT, 'configs', 'eov_tiny_pcma.py')
SINGLE = os.path.join(ROOT, 'configs', 'ablations', 'eov_tiny_single_stage.py')
SCRATCH = os.path.join(ROOT, 'configs', 'ablations', 'eov_tiny_pcma_scratch.py')
FULL = os.path.join(ROOT, 'configs', 'ablations', 'eov_tiny_pcma_full.py')
MODALITIES = ['optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video', 'fusion']


def test_tiny_chain_starts_from_the_base_and_closes_the_imaging_physics_gap_first():
    cfg = load_config(PCMA)
    stages = build_stages(cfg)
    assert cfg.load_from == 'weights/eov_tiny_base/model.safetensors'
    assert [s.name for s in stages] == ['physics', 'joint']
    assert set(stages[0].mixture) == {'sar/*', 'infrared/*', 'multispectral/*'}
    assert set(stages[1].mixture) == {'sar/*', 'infrared/*', 'multispectral/*', 'temporal/*',
                                      'video/*', 'fusion/*'}
    assert list(cfg.modalities) == MODALITIES
    # frame stacks as Siamese differences to the first frame
    assert all(cfg.modalities[m].adapter.difference is True for m in ('temporal', 'video'))
    # training records are built on the fly from the demo seed
    assert cfg.train_dataloader.dataset.type == 'SynthV2Dataset'
    assert load_config(PCMA, {'demo_seed': 2}).train_dataloader.dataset.seed == 2


def test_demo_asks_and_answers_multiple_choice_in_one_style():
    """The demo trains option-text answers; the Makefile writes its test split alike."""
    import re
    cfg = load_config(PCMA)
    assert cfg.choice_answer == 'option'
    assert cfg.train_dataloader.dataset.choice_answer == 'option'
    assert [t for t in cfg.tasks if t['type'] == 'choice'] == [dict(type='choice',
                                                                     answer='option')]
    with open(os.path.join(ROOT, 'Makefile'), encoding='utf-8') as f:
        make = f.read()
    assert re.search(r'^DEMO_CHOICE_ANSWER := (\w+)$', make, re.M).group(1) == cfg.choice_answer
    assert '--choice-answer $(DEMO_CHOICE_ANSWER)' in make
    # the base learnt letters (the benchmarks' format), and its config says so
    assert load_config(os.path.join(ROOT, 'configs', 'eov_tiny_base.py')).choice_answer == \
        'letter'


def test_scratch_ablation_is_the_paper_chain_without_the_base():
    cfg = load_config(SCRATCH)
    stages = build_stages(cfg)
    assert cfg.load_from is None and cfg.model.modality_lora is None
    assert [s.name for s in stages] == ['alignment', 'viewpoint', 'physics', 'joint']
    assert stages[0].trainable == ('aligner.*', 'adapters.*')
    assert sum(s.iters for s in stages) == sum(s.iters for s in build_stages(load_config(PCMA)))


def test_single_stage_ablation_has_the_same_data_and_length():
    chain, single = build_stages(load_config(PCMA)), build_stages(load_config(SINGLE))
    assert load_config(SINGLE).load_from == load_config(PCMA).load_from
    assert len(single) == 1 and single[0].trainable == chain[0].trainable
    assert single[0].iters == sum(s.iters for s in chain)
    assert single[0].mixture == chain[1].mixture


@pytest.mark.parametrize('path', [PCMA, SINGLE])
def test_the_demo_keeps_the_base_frozen_and_trains_only_new_weights(path):
    """Modality-gated LoRA: the optical base is never trained nor replayed."""
    cfg = load_config(path)
    stages = build_stages(cfg)
    assert cfg.model.modality_lora.frozen_modalities == ('optical',)
    assert not any(m.startswith('optical') or m.startswith('*') for s in stages
                   for m in s.mixture)
    init_default_scope('eov')
    model = MODELS.build(cfg.model)
    for stage in stages:
        stage.freeze(model)
        trained = {n for n, p in model.named_parameters() if p.requires_grad}
        assert trained and all(n.startswith('adapters.') or '.lora_' in n for n in trained)


def test_full_fine_tuning_ablation_is_the_chain_without_lora_and_with_optical_replayed():
    cfg, demo = load_config(FULL), load_config(PCMA)
    stages = build_stages(cfg)
    assert cfg.model.modality_lora is None and cfg.load_from == demo.load_from
    assert [s.iters for s in stages] == [s.iters for s in build_stages(demo)]
    assert stages[0].trainable == ('*',) and stages[0].mixture['optical/*'] == 0.5
    assert stages[1].trainable == ('*',) and stages[1].mixture['*/*'] == 1.0


def test_tiny_multimodal_model_gives_the_pipeline_its_token_counts():
    cfg = load_config(PCMA)
    counts = fill_config_image_tokens(cfg)
    # 8-px patches, merged 2x2 by the aligner's pixel shuffle: 16 tokens per 64-px image
    grid = (cfg.image_size // cfg.patch_size) ** 2 // 4
    assert grid == 16
    assert counts == dict(optical=grid, sar=grid, infrared=grid, multispectral=grid,
                          temporal=4 * grid, video=4 * grid, fusion=2 * grid)
    for loader in ('train_dataloader', 'test_dataloader'):
        steps = cfg[loader].dataset.pipeline
        assert [s.image_tokens for s in steps if s.type == 'TokenizeConversation'] == [counts]


def test_every_stage_pattern_names_parameters_of_the_models():
    init_default_scope('eov')
    for path in (PCMA, os.path.join(ROOT, 'configs', 'eov_2b_pcma.py')):
        cfg = load_config(path)
        with torch.device('meta'):
            model = MODELS.build(cfg.model)
        for stage in build_stages(cfg):
            counts = stage.freeze(model)
            assert counts['trainable'] > 0, (path, stage.name)
            if stage.trainable == ('*',):
                assert counts['frozen'] == 0, (path, stage.name)
            if stage.name in ('alignment', 'viewpoint'):   # the ViT (at least) stays frozen
                assert counts['frozen'] > 0, (path, stage.name)


def test_a_modality_size_the_vit_cannot_take_fails_at_build_time():
    # refused when the config loads (eov.engine.config.check_image_sizes) ...
    with pytest.raises(ValueError, match=r'--cfg-options modalities.multispectral.image_size='
                                         r'224: modalities.multispectral.image_size=224 but '
                                         r'model.vision.img_size=64'):
        load_config(PCMA, {'modalities.multispectral.image_size': 224})
    # ... and by the model itself, for a config changed after loading
    cfg = load_config(PCMA)
    cfg.model.modalities.multispectral.image_size = 224
    with pytest.raises(ValueError, match=r"'multispectral' has image_size=\(224, 224\) but the "
                                         r'vision backbone takes img_size=\(64, 64\)'):
        fill_config_image_tokens(cfg)


def test_data_of_a_modality_the_model_lacks_fails_at_build_time():
    cfg = load_config(PCMA)
    cfg.train_dataloader.dataset.modalities = MODALITIES + ['hyperspectral']
    with pytest.raises(ValueError, match=r"'hyperspectral' of the dataset .* no input adapter"):
        check_pipeline_modalities([cfg.train_dataloader], MODALITIES)


def test_cpu_threads():
    assert cpu_threads(None) is None and cpu_threads(3) == 3
    cores = len(os.sched_getaffinity(0))
    assert cpu_threads('auto', num_workers=1) == max(1, cores - 1)
    assert cpu_threads('auto', num_workers=8, world_size=2) == 1
    with pytest.raises(ValueError):
        cpu_threads(0)


def test_pseudo_rgb_ablation_changes_one_adapter_and_its_token_count():
    path = os.path.join(ROOT, 'configs', 'ablations', 'eov_tiny_pcma_pseudo_rgb.py')
    cfg = load_config(path)
    assert cfg.modalities.multispectral.adapter == {'type': 'pseudo_rgb_groups'}
    assert [s.name for s in build_stages(cfg)] == [s.name for s in build_stages(load_config(PCMA))]
    counts = fill_config_image_tokens(cfg)
    # 8-px patches, merged 2x2 by the aligner's pixel shuffle: 16 tokens per 64-px image
    grid = (cfg.image_size // cfg.patch_size) ** 2 // 4
    assert grid == 16
    assert counts['multispectral'] == 4 * grid and counts['optical'] == grid   # 12 bands / 3
