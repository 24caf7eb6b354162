"""configs/eov_2b_siglip2_qwen3.py: Earth-OneVision's reported shape (SigLIP-2 so400m +
Qwen3-1.7B) builds on the meta device, and loads local directories when given."""
import os

import torch
from mmengine.registry import init_default_scope
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from eov.engine.config import load_config
from eov.models.hf_vision import HFVisionTower
from eov.registry import MODELS

from ..conftest import ROOT

CONFIG = os.path.join(ROOT, 'configs', 'eov_2b_siglip2_qwen3.py')


def test_the_reported_shape_builds_on_meta():
    init_default_scope('eov')
    with torch.device('meta'):
        model = MODELS.build(load_config(CONFIG).model)
    count = lambda module: sum(p.numel() for p in module.parameters())   # noqa: E731
    print(f'eov_2b_siglip2_qwen3: {count(model) / 1e9:.3f} B parameters (tower '
          f'{count(model.vision) / 1e9:.3f} B, LM {count(model.lm) / 1e9:.3f} B)')
    assert all(p.is_meta for p in model.parameters())
    assert 2.1e9 <= count(model) <= 2.25e9
    assert 0.40e9 <= count(model.vision) <= 0.42e9          # SigLIP-2 so400m
    assert 1.70e9 <= count(model.lm) <= 1.74e9             # Qwen3-1.7B (tied embeddings)
    assert isinstance(model.vision, HFVisionTower)
    assert type(model.vision.tower).__name__ == 'Siglip2VisionModel'
    assert model.vision.out_indices == [8, 17, 26] and model.vision.embed_dim == 1152
    text = model.lm.config
    assert (text.model_type, text.hidden_size, text.num_hidden_layers, text.head_dim) == \
        ('qwen3', 2048, 28, 128)
    assert model.num_image_tokens(modality='optical') == 256   # 32x32 patches, 2x2 shuffle
    assert model.aligner.mlp[0].in_features == 3 * 1152 * 4


def test_local_directories_are_loaded_when_given(tmp_path):
    """Tiny random stand-ins written with save_pretrained: their weights, not random ones."""
    torch.manual_seed(0)
    tower = AutoModel.from_config(AutoConfig.for_model(
        'siglip2_vision_model', hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, patch_size=16, num_patches=16))
    tower.save_pretrained(str(tmp_path / 'siglip2'))
    lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(
        'qwen3', vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        tie_word_embeddings=True))
    lm.save_pretrained(str(tmp_path / 'qwen3'))
    init_default_scope('eov')
    cfg = load_config(CONFIG, {'siglip2_path': str(tmp_path / 'siglip2'),
                               'qwen3_path': str(tmp_path / 'qwen3'),
                               'model.vision.out_indices': [0, 1, 2]})
    model = MODELS.build(cfg.model)
    assert model.vision.embed_dim == 32 and model.lm.config.hidden_size == 64
    torch.testing.assert_close(model.vision.tower.embeddings.patch_embedding.weight,
                               tower.embeddings.patch_embedding.weight)
    torch.testing.assert_close(model.lm.model.layers[1].mlp.up_proj.weight,
                               lm.model.layers[1].mlp.up_proj.weight)
