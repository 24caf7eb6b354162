"""The full-size 2B config builds on the meta device with the intended shape."""
import os
import time

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine import fill_image_tokens, model_image_tokens
from eov.engine.config import load_config
from eov.registry import MODELS

from ..conftest import ROOT, TINY_CONFIG

CONFIG_2B = os.path.join(ROOT, 'configs', 'eov_2b.py')


@pytest.fixture(scope='module')
def model_2b():
    cfg = load_config(CONFIG_2B)
    assert cfg.model_size == '2b'
    init_default_scope('eov')
    start = time.perf_counter()
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    return cfg, model, time.perf_counter() - start


def test_2b_builds_on_meta_without_memory(model_2b):
    _, model, seconds = model_2b
    assert seconds < 60
    params = list(model.parameters())
    assert all(p.is_meta for p in params)
    n = sum(p.numel() for p in params)
    assert 1.8e9 <= n <= 2.3e9, n


def test_2b_shapes(model_2b):
    cfg, model, _ = model_2b
    text = model.lm.config.get_text_config()
    assert text.hidden_size == 1536 and text.num_hidden_layers == 28
    assert text.num_attention_heads == 12 and text.num_key_value_heads == 2
    assert len(model.lm.model.layers) == 28
    vit = model.vision.vit
    assert len(vit.blocks) == 24 and vit.embed_dim == 1024
    assert model.vision.out_indices == [7, 15, 23]
    assert model.vision.grid_size((448, 448)) == (32, 32)
    assert model.num_image_tokens(modality='optical') == 256
    # the data pipeline asks for as many <image> slots as the model produces
    assert model_image_tokens(model) == {'optical': 256}
    steps = cfg.train_dataloader.dataset.pipeline
    fill_image_tokens([cfg.train_dataloader], model_image_tokens(model))
    assert [s.image_tokens for s in steps if s.type == 'TokenizeConversation'] == \
        [{'optical': 256}]
    # pixel shuffle: 3 levels x 1024 channels x 4 neighbours into the aligner MLP
    assert model.aligner.mlp[0].in_features == 3 * 1024 * 4
    assert model.aligner.mlp[-1].out_features == 1536


def test_2b_keeps_the_padded_qwen_vocabulary(model_2b):
    _, model, _ = model_2b
    # the embedding table is only grown, never shrunk to the (small) default tokenizer
    assert model.lm.get_input_embeddings().num_embeddings == 151936
    assert len(model.tokenizer) < 151936
    assert max(model.tokenizer.convert_tokens_to_ids(model.serializer.loc_tokens())) < 151936
    assert model.lm.get_output_embeddings().weight is model.lm.get_input_embeddings().weight


def test_resize_embeddings_modes():
    cfg = load_config(TINY_CONFIG)
    init_default_scope('eov')
    exact = MODELS.build(cfg.model)          # the tiny default: table == tokenizer
    assert exact.lm.get_input_embeddings().num_embeddings == len(exact.tokenizer)
    cfg.model.resize_embeddings = 'grow'     # its config table (1024) is larger: kept
    grow = MODELS.build(cfg.model)
    assert grow.lm.get_input_embeddings().num_embeddings == 1024 > len(grow.tokenizer)
    cfg.model.language.config.vocab_size = 64   # smaller than the tokenizer: grown
    small = MODELS.build(cfg.model)
    assert small.lm.get_input_embeddings().num_embeddings == len(small.tokenizer)
    cfg.model.resize_embeddings = 'shrink'
    with pytest.raises(ValueError, match="resize_embeddings must be 'exact' or 'grow'"):
        MODELS.build(cfg.model)
