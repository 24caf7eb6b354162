"""One multispectral entry serving Sentinel-2, Landsat-8 and a user's own sensor."""
import json

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.datasets import InstructionDataset, instruction_collate
from eov.engine.config import load_config
from eov.modalities import RasterReadError, SensorSpec, register_sensor
from eov.registry import MODALITIES, MODELS

from ..conftest import TINY_CONFIG
from .rasters import l8_entry, random_uint16, s2_entry, write_tif

SIZE = 32
L8_BANDS = ['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9', 'B10', 'B11']
ENTRY = dict(type='multispectral', image_size=SIZE,
             sensors=['sentinel2_l1c', 'landsat8', 'my_cubesat'],
             adapter=dict(type='wavelength_patch_embed'))


@pytest.fixture(scope='module', autouse=True)
def cubesat():
    return register_sensor(SensorSpec(
        name='my_cubesat', modality='multispectral', bands=('blue', 'green', 'red', 'nir'),
        wavelengths=(0.48, 0.55, 0.66, 0.81), gsd=(3, 3, 3, 3), scale=1e-4,
        mean=(0.1, 0.1, 0.1, 0.25), std=(0.05, 0.05, 0.05, 0.1), dtype='uint16'), force=True)


@pytest.fixture(scope='module')
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp('multisensor')
    own = write_tif(root / 'own.tif', random_uint16((4, 48, 48), seed=1))
    entries = [s2_entry(window=[0, 0, 40, 40]), l8_entry(L8_BANDS, window=[0, 0, 40, 40]),
               dict(path=own, sensor='my_cubesat')] * 2
    lines = [dict(id=f'r{i}', task='classification', modality='ms', images=[e],
                  conversations=[{'from': 'human', 'value': 'What is it?\n<image>'},
                                 {'from': 'assistant', 'value': None}],
                  targets=[dict(type='label', label=['water', 'forest'][i % 2])])
             for i, e in enumerate(entries)]
    (root / 'train.jsonl').write_text('\n'.join(json.dumps(r) for r in lines) + '\n')
    return str(root)


def test_each_image_is_read_with_its_own_sensor():
    ms = MODALITIES.build(ENTRY)
    s2 = ms.load([s2_entry(window=[0, 0, 40, 40])])
    l8 = ms.load([l8_entry(L8_BANDS, window=[0, 0, 40, 40])])
    assert s2['pixels'].shape == (13, SIZE, SIZE) and s2['sensor'] == 'sentinel2_l1c'
    assert l8['pixels'].shape == (11, SIZE, SIZE) and l8['sensor'] == 'landsat8'
    # Landsat's thermal bands went through its own physics (brightness temperature)
    assert l8['bands'] == L8_BANDS
    with pytest.raises(RasterReadError, match=r"serves the sensors sentinel2_l1c, landsat8, "
                                              r"my_cubesat.*got 'sentinel1_grd'"):
        ms.load([dict(path='x.tif', sensor='sentinel1_grd')])
    with pytest.raises(RasterReadError, match='must name one of them'):
        ms.load([dict(path='x.tif')])


def test_one_entry_several_sensors_trains_in_one_batch(records):
    cfg = load_config(TINY_CONFIG)
    cfg.model.vision.img_size = SIZE
    cfg.model.modalities = dict(ms=ENTRY)      # named by its key, typed by 'type'
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    n = model.num_image_tokens(modality='ms')
    ds = InstructionDataset(
        ann_file='train.jsonl', data_root=records, modalities=['ms'], pipeline=[
            dict(type='LoadImages', modalities=dict(ms=ENTRY)),
            dict(type='BuildConversation', heads=[dict(type='classification')],
                 serializer=cfg.serializer),
            dict(type='TokenizeConversation', image_tokens={'ms': n},
                 tokenizer=dict(path=None, serializer=cfg.serializer)),
            dict(type='PackSample')])
    batch = instruction_collate([ds[i] for i in range(len(ds))])
    assert set(batch['inputs']['pixel_values']) == {
        'ms@sentinel2_l1c', 'ms@landsat8', 'ms@my_cubesat'}
    assert batch['inputs']['pixel_values']['ms@landsat8'].shape == (2, 11, SIZE, SIZE)
    loss = model(**model.data_preprocessor(batch, True), mode='loss')['loss']
    assert torch.isfinite(loss)
    loss.backward()
    hyper = model.adapters['ms'].hypernet
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hyper.parameters())


def test_several_sensors_need_a_wavelength_adapter():
    cfg = load_config(TINY_CONFIG)
    cfg.model.vision.img_size = SIZE
    cfg.model.modalities = dict(ms=dict(ENTRY, adapter=dict(type='band_linear')))
    init_default_scope('eov')
    with pytest.raises(ValueError, match=r"adapter 'band_linear' takes one band set; use "
                                         r"adapter=dict\(type='wavelength_patch_embed'\)"):
        MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='either sensors'):
        MODALITIES.build(dict(type='multispectral', sensors=['landsat8'], sensor='landsat8'))
