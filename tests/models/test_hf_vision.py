"""HFVisionTower: Hugging Face SigLIP / SigLIP-2 / CLIP towers from local directories.

The reference is always the ``transformers`` model itself (tiny random instances written with
``save_pretrained``; nothing is downloaded).
"""
import json
import os

import pytest
import torch
from mmengine.registry import init_default_scope
from transformers import AutoConfig, AutoModel, SiglipConfig, SiglipModel

from eov.engine.config import load_config
from eov.models.hf_vision import HFVisionTower
from eov.registry import MODELS

from ..conftest import ROOT

TOWER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
             patch_size=8)
FAMILIES = {'siglip_vision_model': dict(image_size=32),
            'clip_vision_model': dict(image_size=32),
            'siglip2_vision_model': dict(num_patches=16),
            'internvl_vision': dict(image_size=32, use_mean_pooling=False)}
SIGLIP_CONFIG = os.path.join(ROOT, 'configs', 'towers', 'eov_tiny_siglip.py')


def save_tower(directory, model_type, **overrides):
    """A random ``transformers`` tower saved as a local model directory."""
    torch.manual_seed(0)
    cfg = AutoConfig.for_model(model_type, **{**TOWER, **FAMILIES[model_type], **overrides})
    model = AutoModel.from_config(cfg).eval()
    model.save_pretrained(str(directory))
    return model


def reference_levels(model, model_type, pixels, grid):
    """Every layer's output of the ``transformers`` tower, class token dropped."""
    with torch.no_grad():
        if model_type == 'siglip2_vision_model':  # patches flattened as (row, column, channel)
            b, c = pixels.shape[:2]
            (h, w), p = grid, TOWER['patch_size']
            patches = pixels.reshape(b, c, h, p, w, p).permute(0, 2, 4, 3, 5, 1).reshape(
                b, h * w, -1)
            out = model(pixel_values=patches, spatial_shapes=torch.tensor([[h, w]] * b),
                        pixel_attention_mask=torch.ones(b, h * w, dtype=torch.long),
                        output_hidden_states=True)
        else:
            out = model(pixel_values=pixels, interpolate_pos_encoding=True,
                        output_hidden_states=True)
    prefix = 1 if model_type in ('clip_vision_model', 'internvl_vision') else 0
    levels = list(out.hidden_states[1:])
    if model_type == 'internvl_vision':      # its last level is HF's last_hidden_state
        levels[-1] = out.last_hidden_state
    return [h[:, prefix:] for h in levels]


@pytest.mark.parametrize('model_type', sorted(FAMILIES))
def test_features_equal_the_transformers_tower(tmp_path, model_type):
    source = save_tower(tmp_path, model_type)
    tower = HFVisionTower(path=str(tmp_path), out_indices=(0, -2, -1)).eval()
    assert (tower.embed_dim, tower.patch_size, tower.in_chans) == (32, 8, 3)
    sizes = [(32, 32)] if model_type == 'clip_vision_model' else [(32, 32), (48, 24)]
    for size in sizes:                        # native grid and another (interpolated) one
        pixels = torch.randn(2, 3, *size)
        with torch.no_grad():
            levels = tower(pixels)
        expected = reference_levels(source, model_type, pixels, (size[0] // 8, size[1] // 8))
        assert len(levels) == 3
        for got, want in zip(levels, expected):
            assert got.shape == want.shape == (2, size[0] * size[1] // 64, 32)
            assert float((got - want).abs().max()) <= 1e-5


def test_the_vision_half_of_a_two_tower_checkpoint(tmp_path):
    torch.manual_seed(1)
    config = SiglipConfig(vision_config={**TOWER, 'image_size': 32},
                          text_config=dict(hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=1, num_attention_heads=4,
                                           vocab_size=64, bos_token_id=1, eos_token_id=2,
                                           pad_token_id=0))
    source = SiglipModel(config).eval()
    source.save_pretrained(str(tmp_path))
    tower = HFVisionTower(path=str(tmp_path), out_indices=(-1,)).eval()
    pixels = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        want = source.vision_model(pixel_values=pixels, output_hidden_states=True)
        assert float((tower(pixels)[0] - want.hidden_states[-1]).abs().max()) <= 1e-5


def test_unused_layers_are_dropped_and_frozen_gets_no_gradients(tmp_path):
    save_tower(tmp_path, 'siglip_vision_model')
    tower = HFVisionTower(path=str(tmp_path), out_indices=(0,), frozen=True)
    assert len(tower.tower.encoder.layers) == 1
    assert not hasattr(tower.tower, 'post_layernorm')
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    tower(x)[0].sum().backward()
    assert x.grad is not None and all(p.grad is None for p in tower.parameters())


def test_gradient_checkpointing_gives_the_same_gradients(tmp_path):
    save_tower(tmp_path, 'clip_vision_model')
    plain = HFVisionTower(path=str(tmp_path), out_indices=(-1,))
    ckpt = HFVisionTower(path=str(tmp_path), out_indices=(-1,), grad_checkpointing=True)
    x = torch.randn(2, 3, 32, 32)
    a, b = plain(x)[0], ckpt(x)[0]
    torch.testing.assert_close(a, b)
    a.sum().backward()
    b.sum().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_siglip2_patch_projection_is_its_linear_layer_as_a_convolution(tmp_path):
    save_tower(tmp_path, 'siglip2_vision_model')
    tower = HFVisionTower(path=str(tmp_path))
    weight, bias = tower.patch_projection()
    assert weight.shape == (32, 3, 8, 8)
    patch = torch.randn(3, 8, 8)
    linear = tower.tower.embeddings.patch_embedding
    flat = patch.permute(1, 2, 0).reshape(-1)         # (row, column, channel)
    torch.testing.assert_close((weight * patch).sum((1, 2, 3)) + bias, linear(flat))


def test_bad_towers_are_named(tmp_path):
    with pytest.raises(ValueError, match='needs path= .* or config='):
        HFVisionTower()
    with pytest.raises(ValueError, match=r"model_type 'vit' is not supported; supported: "
                                         r'clip, clip_vision_model, internvl, '):
        HFVisionTower(config=dict(model_type='vit'))
    with pytest.raises(FileNotFoundError, match='not a directory'):
        HFVisionTower(path=str(tmp_path / 'nope'))
    with pytest.raises(FileNotFoundError, match='config.json: not found'):
        HFVisionTower(path=str(tmp_path))
    # a sharded checkpoint with a shard missing names the index and the shard
    sharded = tmp_path / 'sharded'
    save_tower(sharded, 'siglip_vision_model')
    model = AutoModel.from_pretrained(str(sharded), local_files_only=True)
    model.save_pretrained(str(sharded), max_shard_size='20KB')
    index = json.loads((sharded / 'model.safetensors.index.json').read_text())
    shards = sorted(set(index['weight_map'].values()))
    assert len(shards) > 1
    os.remove(sharded / shards[-1])
    with pytest.raises(FileNotFoundError,
                       match=rf'index.json lists {len(shards)} weight shards but 1 are '
                             rf'missing: {shards[-1]}'):
        HFVisionTower(path=str(sharded))
    # weights of another shape than the config says
    other = tmp_path / 'other'
    save_tower(other, 'siglip_vision_model')
    cfg = json.loads((other / 'config.json').read_text())
    (other / 'config.json').write_text(json.dumps({**cfg, 'intermediate_size': 48}))
    with pytest.raises(ValueError, match='weight shapes do not match its config'):
        HFVisionTower(path=str(other))
    with pytest.raises(ValueError, match="30x32 px is not a multiple of the tower's 8-px"):
        HFVisionTower(config=dict(model_type='siglip_vision_model', **TOWER,
                                  image_size=32))(torch.zeros(1, 3, 30, 32))


def test_the_tiny_model_on_a_siglip_tower():
    """Every modality adapter runs on the tower; the multispectral embedding starts from the
    tower's RGB kernels at their wavelengths."""
    init_default_scope('eov')
    cfg = load_config(SIGLIP_CONFIG)
    model = MODELS.build(cfg.model)
    assert isinstance(model.vision, HFVisionTower)
    weight, _ = model.vision.patch_projection()
    wl = torch.tensor([0.49, 0.56, 0.665, 0.842])      # blue, green, red, NIR
    kernels, _ = model.adapters['multispectral'].backbone_kernels(model.vision, wl)
    torch.testing.assert_close(kernels[:, :3], weight.flip(1))   # tower channels are R, G, B
    assert float(kernels[:, 3].detach().abs().max()) == 0.0       # NIR: learnt in PCMA
    for name, adapter in model.adapters.items():
        if name == 'fusion':
            continue                         # its members are the other entries' adapters
        info = model.modalities[name]
        frames = (info.num_frames,) if hasattr(info, 'num_frames') else ()
        pixels = torch.randn(1, *frames, info.num_channels, 64, 64)
        with torch.no_grad():
            levels = adapter(pixels, model.vision)
        assert [tuple(lvl.shape) for lvl in levels] == [(1, 64 * max(frames, default=1), 128)] * 2, name
    # a patch size the modalities' images cannot take is one line naming both
    with pytest.raises(ValueError, match=r"modality '\w+' has image_size=\(64, 64\) but 64x64 "
                                         r"px is not a multiple of the tower's 12-px patches"):
        MODELS.build(load_config(SIGLIP_CONFIG, {'model.vision.config.patch_size': 12}).model)


@pytest.mark.slow
def test_training_steps_on_a_siglip_tower_reach_the_tower(tmp_path):
    """Two iterations of the tiny multitask config (every modality in the data): the loss is
    finite and the optimizer moved the tower's patch embedding."""
    from ..helpers import run_tool, tiny_train_options
    data = tmp_path / 'data'
    run_tool(['-m', 'eov.datasets.synth', str(data), '--train', '48', '--test-per-cell', '1',
              '--seed', '5'])
    work = tmp_path / 'work'
    run_tool(['tools/train.py', SIGLIP_CONFIG, '--work-dir', str(work),
              *tiny_train_options(data, max_iters=2, interval=2)])
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu', weights_only=True)
    names = list(ckpt['state_dict'])
    key = 'vision.tower.embeddings.patch_embedding.weight'
    assert ckpt['state_dict'][key].shape == (128, 3, 8, 8)
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values()
               if v.is_floating_point())
    # AdamW's first moment of the tower's patch kernels is non-zero: gradients reached it
    moments = {i: s['exp_avg'] for i, s in ckpt['optimizer']['state'].items()}
    patch_moments = [m for m in moments.values() if tuple(m.shape) == (128, 3, 8, 8)]
    assert key in names and len(patch_moments) == 1
    assert float(patch_moments[0].abs().sum()) > 0


QWEN = dict(depth=3, embed_dim=32, hidden_size=64, num_heads=4, mlp_ratio=2, patch_size=8,
            spatial_merge_size=2, temporal_patch_size=2, in_channels=3)


QWEN2_5 = dict(model_type='qwen2_5_vl_vision', depth=3, hidden_size=32, out_hidden_size=64,
               intermediate_size=64, num_heads=4, patch_size=8, spatial_merge_size=2,
               temporal_patch_size=2, in_channels=3, window_size=32, fullatt_block_indexes=[1])


@pytest.mark.parametrize('family', ['qwen2_vl', 'qwen2_5_vl'])
def test_qwen_vl_tower_features_equal_the_transformers_tower(tmp_path, family):
    """Pixels cut by Qwen's own image processor into the tower's own forward, against eov's
    tower on the same image (row-major grid order on eov's side). Qwen2.5-VL: a 48 x 80 px
    image fills its 32-px attention windows only in part."""
    import numpy as np
    from transformers import AutoConfig, Qwen2VLImageProcessor

    from eov.models.hf_vision import QWEN_TOWERS, QwenVLVisionTower
    torch.manual_seed(0)
    fields = dict(QWEN if family == 'qwen2_vl' else QWEN2_5)
    config = AutoConfig.for_model(fields.pop('model_type', 'qwen2_vl_vision'), **fields)
    module, name = QWEN_TOWERS[config.model_type]
    import importlib
    source_class = getattr(importlib.import_module(
        f'transformers.models.{module}.modeling_{module}'), name)
    source = source_class._from_config(config).eval()
    source.save_pretrained(str(tmp_path))
    tower = QwenVLVisionTower(path=str(tmp_path), out_indices=(0, -1)).eval()
    assert (tower.embed_dim, tower.patch_size, tower.in_chans) == (32, 8, 3)
    assert len(tower.tower.blocks) == 3
    processor = Qwen2VLImageProcessor(do_resize=False, do_rescale=False, do_normalize=False,
                                      patch_size=8, merge_size=2, temporal_patch_size=2)
    height, width = (32, 48) if family == 'qwen2_vl' else (48, 80)
    h, w = height // 8, width // 8
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    cut = processor(images=[image], return_tensors='pt', input_data_format='channels_last')
    pixels = torch.from_numpy(image).permute(2, 0, 1)[None]
    with torch.no_grad():
        reference = source(hidden_states=cut['pixel_values'], grid_thw=cut['image_grid_thw'])
        levels = tower(pixels)
        # Qwen lays tokens out by 2x2 merge windows: row-major index of each of its tokens
        windows = torch.arange(h * w).reshape(h // 2, 2, w // 2, 2).permute(0, 2, 1, 3)
        windows = windows.reshape(-1, 4)
        if family == 'qwen2_5_vl':   # its tower holds merge units by attention window
            assert float((levels[-1][0, windows.reshape(-1)] -
                          reference.last_hidden_state).abs().max()) > 1e-3
        else:
            assert float((levels[-1][0, windows.reshape(-1)] -
                          reference.last_hidden_state).abs().max()) <= 1e-5
        # tokens of its own patch embedding, run through forward_tokens: the same levels
        weight, bias = tower.patch_projection()
        assert bias is None and weight.shape == (32, 3, 8, 8)
        tokens = torch.nn.functional.conv2d(pixels, weight, stride=8).flatten(2).transpose(1, 2)
        again = tower.forward_tokens(tokens, grid=(h, w))
    assert all(float((a - b).abs().max()) <= 1e-5 for a, b in zip(again, levels))
    with pytest.raises(ValueError, match=r'40x48 px is not a multiple of 16 px'):
        tower(torch.zeros(1, 3, 40, 48))
    # Qwen's patch merger as eov's aligner: the source's merged tokens (its pooler output, in
    # merge-window order) from eov's levels
    from eov.registry import ALIGNERS
    merger = ALIGNERS.build(dict(type='QwenPatchMerger', in_dim=32, num_levels=2, out_dim=64,
                                 norm='layer' if family == 'qwen2_vl' else 'rms'))
    merger.load_state_dict({'norm.' + k[5:] if k.startswith('ln_q.') else k: v
                            for k, v in source.merger.state_dict().items()})
    with torch.no_grad():
        ours = merger(levels, grid=(h, w))
    units = h * w // 4
    assert ours.shape == (1, units, 64) and merger.num_tokens((h, w)) == units
    # merged token k of eov (row-major over units) is Qwen's unit k
    assert float((ours[0] - reference.pooler_output).abs().max()) <= 1e-5


def test_the_tiny_model_on_a_qwen2_vl_tower():
    """Every modality adapter runs on the tower (multispectral from its RGB kernels)."""
    init_default_scope('eov')
    cfg = load_config(SIGLIP_CONFIG, {'model.vision': dict(
        type='QwenVLVisionTower', out_indices=(1, 3), image_size=64,
        config=dict(QWEN, depth=4, embed_dim=128, model_type='qwen2_vl_vision'))})
    model = MODELS.build(cfg.model)
    assert type(model.vision).__name__ == 'QwenVLVisionTower'
    assert model.vision.embed_dim == 128 and model.vision.out_indices == [1, 3]
    for name, adapter in model.adapters.items():
        if name == 'fusion':
            continue
        info = model.modalities[name]
        frames = (info.num_frames,) if hasattr(info, 'num_frames') else ()
        pixels = torch.randn(1, *frames, info.num_channels, 64, 64)
        with torch.no_grad():
            levels = adapter(pixels, model.vision)
        assert [tuple(lvl.shape) for lvl in levels] == \
            [(1, 64 * max(frames, default=1), 128)] * 2, name
