"""Hugging Face format: an export reloads as the very same model, from Python and the tool.

Covers ``eov.models.hf_format`` (save/load), ``EarthOneVision.save_pretrained`` /
``from_pretrained``, ``tools/export_hf.py``, pretrained parts from local directories (an
LM with a vocabulary padded beyond the tokenizer, a timm ViT state dict) and custom sensors
that travel inside the export.
"""
import json
import os

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.engine import fill_config_image_tokens
from eov.engine.config import config_text, load_config
from eov.models import EarthOneVision
from eov.models.hf_format import load_pretrained, save_pretrained, sensor_specs
from eov.models.weights import CheckpointError
from eov.registry import DATASETS, MODALITIES, MODELS, build_from_any

from ..conftest import TINY_CONFIG
from ..helpers import load_tool, run_tool

# the tiny model's LM, as a transformers config (for a "pretrained" LM directory)
LM_ARCH = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=4,
               num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
               tie_word_embeddings=True)
# the tiny model's ViT, as timm arguments (for a "pretrained" backbone file)
VIT_ARCH = dict(img_size=64, patch_size=16, embed_dim=128, depth=4, num_heads=4,
                class_token=False, num_classes=0, global_pool='')


def _config(synth_data, **options):
    cfg = load_config(TINY_CONFIG, {'data_root': synth_data, 'test_dataloader.batch_size': 2,
                                    'test_dataloader.num_workers': 0, **options})
    fill_config_image_tokens(cfg)
    return cfg


def _build(cfg, seed=0):
    init_default_scope('eov')
    torch.manual_seed(seed)
    return MODELS.build(cfg.model).eval()


def _batch(cfg, model, n=2):
    test = DATASETS.build(cfg.test_dataloader.dataset)
    data = instruction_collate([test[i] for i in range(n)], padding_side='left')
    return model.data_preprocessor(data, False)['inputs']


def _assert_same_outputs(model, loaded, inputs, max_new_tokens=6):
    with torch.no_grad():
        logits, again = model(inputs, mode='tensor'), loaded(inputs, mode='tensor')
    assert torch.equal(logits, again), (logits - again).abs().max()
    assert model.generate(inputs, max_new_tokens) == loaded.generate(inputs, max_new_tokens)


def _assert_same_weights(model, loaded):
    want, got = model.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want), \
        [k for k in want if not torch.equal(want[k], got[k])][:5]


@pytest.fixture
def exported(tiny_cfg, tmp_path):
    model = _build(tiny_cfg)
    out = str(tmp_path / 'hf')
    assert model.save_pretrained(out, tiny_cfg) == out
    return tiny_cfg, model, out


def test_export_reloads_as_the_same_model(exported):
    cfg, model, out = exported
    for name in ('model.safetensors', 'config.json', 'generation_config.json', 'README.md',
                 'tokenizer.json', 'tokenizer_config.json', 'processor_config.json'):
        assert os.path.isfile(os.path.join(out, name)), name
    config = json.load(open(os.path.join(out, 'config.json')))
    assert config['architectures'] == ['EarthOneVision']
    assert config['model_type'] == 'earth_one_vision' and config['torch_dtype'] == 'float32'
    saved = config['eov']['model']
    assert saved['tokenizer'] is None and 'pretrained' not in saved['language']
    assert saved['language']['config']['model_type'] == 'qwen2'
    assert saved['language']['config']['vocab_size'] == len(model.tokenizer)
    assert config['eov']['tasks'] == [{'type': 'grounding'}]
    assert 'from_pretrained' in open(os.path.join(out, 'README.md')).read()

    loaded = EarthOneVision.from_pretrained(out)
    assert not loaded.training
    _assert_same_weights(model, loaded)
    # the tied LM head is stored once and tied again on load
    assert loaded.lm.get_output_embeddings().weight is loaded.lm.get_input_embeddings().weight
    assert loaded.eov_config.tokenizer == out
    assert loaded.eov_config.tasks == [{'type': 'grounding'}]
    assert loaded.processor.image_tokens == model.processor.image_tokens
    _assert_same_outputs(model, loaded, _batch(cfg, model))
    # a loaded model exports again without its config file
    again = EarthOneVision.from_pretrained(loaded.save_pretrained(out + '_again'))
    _assert_same_weights(model, again)


def test_exported_tokenizer_loads_with_transformers(exported):
    from transformers import AutoTokenizer

    from eov.processing import EOVProcessor
    _, model, out = exported
    tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
    locs = model.serializer.loc_tokens()
    prompt = f'<image>\nWhere is the plane? <box>{locs[3]}{locs[7]}{locs[20]}{locs[31]}</box>'
    want = model.tokenizer(prompt, add_special_tokens=False)['input_ids']
    assert tok(prompt, add_special_tokens=False)['input_ids'] == want
    assert model.image_token_id in want and model.loc_token_ids[3].item() in want
    assert len(tok) == len(model.tokenizer)
    chat = tok.apply_chat_template([{'role': 'user', 'content': 'hi'}], tokenize=False,
                                   add_generation_prompt=True)
    assert chat == EOVProcessor.chat_text([('user', 'hi')], add_generation_prompt=True)


def test_bfloat16_export(exported, tmp_path):
    cfg, model, _ = exported
    out = save_pretrained(model, cfg, str(tmp_path / 'bf16'), dtype='bfloat16')
    assert json.load(open(os.path.join(out, 'config.json')))['torch_dtype'] == 'bfloat16'
    assert os.path.getsize(os.path.join(out, 'model.safetensors')) < 0.6 * os.path.getsize(
        os.path.join(os.path.dirname(out), 'hf', 'model.safetensors'))
    loaded, loaded_cfg = load_pretrained(out)
    assert next(loaded.parameters()).dtype == torch.bfloat16
    # buffers that are not stored keep their dtype (as in a model built in bfloat16)
    assert loaded.lm.model.rotary_emb.inv_freq.dtype == torch.float32
    want = model.state_dict()
    for key, value in loaded.state_dict().items():
        ref = want[key].to(torch.bfloat16) if want[key].is_floating_point() else want[key]
        assert torch.equal(value, ref), key
    upcast, _ = load_pretrained(out, dtype='float32')
    assert next(upcast.parameters()).dtype == torch.float32
    assert set(loaded_cfg) >= {'model', 'tasks', 'modalities', 'serializer', 'tokenizer'}


def test_bad_export_directories_are_explained(exported, tmp_path):
    from safetensors.torch import load_file, save_file
    _, _, out = exported
    with pytest.raises(FileNotFoundError, match='not a directory'):
        load_pretrained(str(tmp_path / 'nothing'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no config.json'):
        load_pretrained(str(empty))
    (empty / 'config.json').write_text(json.dumps({'model_type': 'qwen2'}))
    with pytest.raises(ValueError, match="model_type 'qwen2' is not an eov export"):
        load_pretrained(str(empty))
    weights = os.path.join(out, 'model.safetensors')
    state = load_file(weights)
    os.rename(weights, weights + '.bak')
    with pytest.raises(FileNotFoundError, match='no model.safetensors'):
        load_pretrained(out)
    state['aligner.extra.weight'] = torch.zeros(2)
    del state['vision.vit.patch_embed.proj.weight']
    save_file(state, weights)
    with pytest.raises(CheckpointError, match='model.safetensors does not fit the model: '
                       r'.* missing, 1 unexpected, 0 size-mismatched') as info:
        load_pretrained(out)
    assert 'missing vision.vit.patch_embed.proj.weight' in str(info.value)
    assert 'unexpected aligner.extra.weight' in str(info.value)



@pytest.fixture
def depth2_checkpoint(synth_data, tmp_path):
    """A checkpoint trained with a non-default model option (a 2-block ViT), config saved."""
    cfg = _config(synth_data, **{'model.vision.depth': 2, 'model.vision.out_indices': (0, 1)})
    model = _build(cfg, seed=3)
    ckpt = str(tmp_path / 'depth2.pth')
    torch.save({'meta': {'cfg': config_text(cfg)},
                'state_dict': {f'module.{k}': v for k, v in model.state_dict().items()}}, ckpt)
    return model, ckpt


def test_export_tool_uses_the_checkpoint_config(depth2_checkpoint, tmp_path, capsys):
    """Exported with the bare config path, the model is the trained one; bad input is
    one clear error."""
    model, ckpt = depth2_checkpoint
    tool = load_tool('export_hf')
    out = str(tmp_path / 'hf')
    tool.main([TINY_CONFIG, ckpt, out, '--dtype', 'float32'])
    printed = capsys.readouterr().out
    assert 'model settings from the config saved in' in printed
    assert 'model.safetensors' in printed and 'parameters' in printed
    loaded = EarthOneVision.from_pretrained(out)
    assert len(loaded.vision.vit.blocks) == 2
    _assert_same_weights(model, loaded)

    with pytest.raises(SystemExit, match='does not fit the model') as info:
        tool.main([TINY_CONFIG, ckpt, str(tmp_path / 'x'), '--model-from-config'])
    assert 'missing vision.vit.blocks.2.' in str(info.value)   # counted, a few named
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(SystemExit, match='not a readable eov/MMEngine checkpoint'):
        tool.main([TINY_CONFIG, str(bad), str(tmp_path / 'y')])
    with pytest.raises(SystemExit, match='checkpoint not found'):
        tool.main([TINY_CONFIG, str(tmp_path / 'none.pth'), str(tmp_path / 'z')])
    with pytest.raises(SystemExit, match='config file not found'):
        tool.main([str(tmp_path / 'none.py'), ckpt, str(tmp_path / 'z')])
    # a directory where a file belongs is said to be one; status 2, as tools/infer.py
    (tmp_path / 'a_dir').mkdir()
    with pytest.raises(SystemExit, match='checkpoint .*a_dir is a directory: expected a '
                       'checkpoint file') as info:
        tool.main([TINY_CONFIG, str(tmp_path / 'a_dir'), str(tmp_path / 'z')])
    assert info.value.code == 2
    with pytest.raises(SystemExit, match='config file .*a_dir is a directory') as info:
        tool.main([str(tmp_path / 'a_dir'), ckpt, str(tmp_path / 'z')])
    assert info.value.code == 2
    with pytest.raises(SystemExit, match='output .*cut.pth is a file: give a directory'):
        tool.main([TINY_CONFIG, ckpt, str(bad)])
    assert not any(os.path.exists(tmp_path / d) for d in ('x', 'y', 'z'))


@pytest.mark.slow
def test_export_tool_command_line(depth2_checkpoint, tmp_path):
    model, ckpt = depth2_checkpoint
    out = str(tmp_path / 'hf')
    proc = run_tool(['tools/export_hf.py', TINY_CONFIG, ckpt, out, '--dtype', 'bfloat16'])
    assert 'model settings from the config saved in' in proc.stdout
    assert 'weights stored as bfloat16' in proc.stdout
    loaded = EarthOneVision.from_pretrained(out)
    assert len(loaded.vision.vit.blocks) == 2
    assert next(loaded.parameters()).dtype == torch.bfloat16
    # buffers that are not stored keep their dtype (as in a model built in bfloat16)
    assert loaded.lm.model.rotary_emb.inv_freq.dtype == torch.float32
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(b'PK\x03\x04 truncated')
    with pytest.raises(AssertionError) as info:
        run_tool(['tools/export_hf.py', TINY_CONFIG, str(bad), str(tmp_path / 'y')])
    assert 'error: ' in str(info.value) and 'not a readable' in str(info.value)
    assert 'Traceback' not in str(info.value)


@pytest.mark.filterwarnings('ignore:Passing `repetition_penalty`:UserWarning')
def test_pretrained_lm_with_padded_vocabulary(synth_data, tmp_path):
    """A local LM whose table (1100) is larger than the tokenizer, as Qwen2.5's is."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from eov.processing.tokenizer import build_tokenizer
    torch.manual_seed(1)
    lm = Qwen2ForCausalLM(Qwen2Config(vocab_size=1100, **LM_ARCH))
    lm.generation_config.repetition_penalty = 1.05   # as Qwen2.5's generation_config.json
    lm.save_pretrained(str(tmp_path / 'lm'))
    build_tokenizer(None).save_pretrained(str(tmp_path / 'tok'))

    cfg = _config(synth_data, tokenizer=str(tmp_path / 'tok'),
                  **{'model.resize_embeddings': 'grow'})
    cfg.model.language = dict(pretrained=str(tmp_path / 'lm'))
    model = _build(cfg)
    table = model.lm.get_input_embeddings().weight
    assert table.shape[0] == 1100 > len(model.tokenizer)
    loc_ids = model.loc_token_ids
    assert int(loc_ids.max()) < 1100
    first = int(loc_ids.min())   # rows past it hold the location codes (loc_embed_init)
    assert torch.equal(table[:first], lm.get_input_embeddings().weight[:first])
    assert torch.equal(model.lm.model.layers[1].mlp.up_proj.weight,
                       lm.model.layers[1].mlp.up_proj.weight)
    assert model.lm.generation_config.repetition_penalty == 1.05

    out = model.save_pretrained(str(tmp_path / 'hf'), cfg)
    saved = json.load(open(os.path.join(out, 'config.json')))['eov']['model']['language']
    assert saved['config']['vocab_size'] == 1100 and 'pretrained' not in saved
    loaded = EarthOneVision.from_pretrained(out)
    assert loaded.lm.get_input_embeddings().num_embeddings == 1100
    assert loaded.lm.generation_config.repetition_penalty == 1.05
    _assert_same_weights(model, loaded)
    _assert_same_outputs(model, loaded, _batch(cfg, model))


def test_pretrained_vit_file_is_loaded_and_exported(tiny_cfg, tmp_path):
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(2)
    vit = VisionTransformer(**VIT_ARCH)
    path = tmp_path / 'vit.pth'
    torch.save(vit.state_dict(), path)
    tiny_cfg.model.vision.checkpoint = str(path)
    model = _build(tiny_cfg)
    for key in ('pos_embed', 'patch_embed.proj.weight', 'blocks.3.attn.qkv.weight'):
        assert torch.equal(model.vision.vit.state_dict()[key], vit.state_dict()[key]), key
    out = model.save_pretrained(str(tmp_path / 'hf'), tiny_cfg)
    assert 'checkpoint' not in json.load(open(os.path.join(out, 'config.json')))['eov'][
        'model']['vision']
    path.unlink()   # the export does not need the backbone file
    _assert_same_weights(model, EarthOneVision.from_pretrained(out))


def test_sensor_specs_cover_multi_sensor_entries_and_fusion_members():
    modalities = {
        'ms': build_from_any(dict(type='multispectral', sensors=['sentinel2_l2a', 'landsat8'],
                                  adapter=dict(type='wavelength_patch_embed')), MODALITIES),
        'fusion': build_from_any(dict(type='fusion', image_size=64, members=dict(
            optical=dict(type='optical'), sar=dict(type='sar'))), MODALITIES),
        'sub': build_from_any(dict(type='multispectral', bands=['B04', 'B08']), MODALITIES),
    }
    specs = sensor_specs(modalities)
    assert set(specs) == {'sentinel2_l2a', 'landsat8', 'rgb', 'sentinel1_grd'}
    # the registered spec, not the band subset one modality reads
    assert len(specs['sentinel2_l2a']['bands']) == 12
    json.dumps(specs)


def test_custom_sensor_travels_with_the_export(tiny_cfg, tmp_path):
    from eov.modalities import sensors
    from eov.modalities.sensors import SensorSpec, get_sensor, register_sensor
    spec = SensorSpec(name='hf_test_2band', modality='multispectral', bands=('NIR', 'SWIR'),
                      wavelengths=(0.842, 1.61), gsd=(10, 20), scale=1e-4, mean=(0.25, 0.18),
                      std=(0.11, 0.09), dtype='uint16', nodata=0, units='reflectance')
    register_sensor(spec)
    try:
        tiny_cfg.model.modalities['nir'] = dict(type='multispectral', sensor=spec.name,
                                                image_size=64)
        model = _build(tiny_cfg)
        out = model.save_pretrained(str(tmp_path / 'hf'), tiny_cfg)
        saved = json.load(open(os.path.join(out, 'processor_config.json')))['sensors']
        assert set(saved) == {'rgb', spec.name} and saved[spec.name]['bands'] == ['NIR', 'SWIR']
        config = json.load(open(os.path.join(out, 'config.json')))
        assert set(config['eov']['modalities']) == {'optical', 'nir'}

        del sensors._SENSORS[spec.name]   # a fresh process without the plugin
        loaded = EarthOneVision.from_pretrained(out)
        assert get_sensor(spec.name) == spec
        assert loaded.modalities['nir'].sensor == spec
        _assert_same_weights(model, loaded)

        # a different sensor under the same name is refused, not silently used
        sensors._SENSORS[spec.name] = SensorSpec(**{**spec.__dict__, 'mean': (0.3, 0.2)})
        with pytest.raises(ValueError, match="sensor 'hf_test_2band' is registered here"):
            EarthOneVision.from_pretrained(out)
    finally:
        sensors._SENSORS.pop(spec.name, None)
