"""Importing a whole open VLM (InternVL, LLaVA-OneVision) as an EarthOneVision: the
``transformers`` model is the reference (tiny random instances written with
``save_pretrained``; nothing downloaded)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from eov.models import EarthOneVision
from eov.models.hf_vlm import import_hf_vlm

from ..conftest import ROOT
from .vlm_fixtures import (LLAVA_TOKENS, PATCHES, write_tiny_internvl,
                           write_tiny_llava_onevision)


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A tiny random InternVL (untied output layer, padded vocabulary) and its tokenizer."""
    directory = tmp_path_factory.mktemp('internvl')
    model, tok = write_tiny_internvl(directory)
    return str(directory), model, tok


@pytest.fixture(scope='module')
def imported(source):
    model, cfg = import_hf_vlm(source[0])
    return model, cfg


def prompt_ids(tok, question):
    """InternVL's prompt of one image: ``<img>`` + image tokens + ``</img>`` + question."""
    image = tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    head = tok('<|im_start|>user\n<img>', add_special_tokens=False)['input_ids']
    tail = tok(f'</img>\n{question}<|im_end|>\n<|im_start|>assistant\n',
               add_special_tokens=False)['input_ids']
    return torch.tensor([head + [image] * PATCHES + tail])


def eov_inputs(model, tok, ids, pixels):
    """The same tokens for eov: the image slots hold eov's image token."""
    ids = ids.clone()
    ids[ids == tok.convert_tokens_to_ids('<IMG_CONTEXT>')] = model.image_token_id
    return dict(input_ids=ids, pixel_values={'optical': pixels},
                image_order=[('optical', i) for i in range(pixels.shape[0])],
                attention_mask=torch.ones_like(ids))


def test_the_imported_model_gives_the_source_logits(source, imported):
    _, reference, tok = source
    model, _ = imported
    torch.manual_seed(1)
    pixels = torch.randn(1, 3, 32, 32)
    ids = prompt_ids(tok, 'What is here?')
    with torch.no_grad():
        want = reference(input_ids=ids, pixel_values=pixels).logits
        got = model(eov_inputs(model, tok, ids, pixels), mode='tensor')
    n = len(tok)             # the source's tokens (eov's own come after them)
    assert got.shape[-1] == len(model.tokenizer) > n
    assert float((got[..., :n] - want[..., :n]).abs().max()) <= 1e-4
    # the same greedy answer
    with torch.no_grad():
        hf = reference.generate(input_ids=ids, pixel_values=pixels, max_new_tokens=6,
                                do_sample=False, eos_token_id=None,
                                pad_token_id=0)[0, ids.shape[1]:]
        embeds = model.embed(eov_inputs(model, tok, ids, pixels))
        ours = model.greedy(embeds, torch.ones(ids.shape, dtype=torch.long), 6)[0]
    assert ours.tolist() == hf.tolist()


def test_the_imported_processor_writes_internvl_prompts(source, imported):
    """eov's own prompt for an image and a question is InternVL's token for token (the image
    slots hold eov's image token), so the logit parity above holds for eov's prompts."""
    _, reference, tok = source
    model, _ = imported
    assert model.processor.image_wrap == ('<img>', '</img>')
    ours = model.processor.encode_prompt('<image>\nWhat is here?', 'optical')['input_ids']
    theirs = eov_inputs(model, tok, prompt_ids(tok, 'What is here?'), torch.zeros(1))
    assert ours.tolist() == theirs['input_ids'][0].tolist()


def test_two_packed_samples_equal_two_separate_forwards(source, imported):
    _, reference, tok = source
    model, _ = imported
    torch.manual_seed(2)
    pixels = torch.randn(2, 3, 32, 32)
    first, second = prompt_ids(tok, 'What is here?'), prompt_ids(tok, 'Count the ships.')
    packed = eov_inputs(model, tok, torch.cat([first, second], 1), pixels)
    a, b = first.shape[1], second.shape[1]
    packed.update(cu_seqlens=torch.tensor([0, a, a + b], dtype=torch.int32), max_seqlen=max(a, b),
                  position_ids=torch.cat([torch.arange(a), torch.arange(b)])[None])
    packed.pop('attention_mask')
    n = len(tok)
    with torch.no_grad():
        got = model(packed, mode='tensor')[0, :, :n]
        want = [reference(input_ids=ids, pixel_values=pixels[i:i + 1]).logits[0, :, :n]
                for i, ids in enumerate((first, second))]
    assert float((got[:a] - want[0]).abs().max()) <= 1e-4
    assert float((got[a:] - want[1]).abs().max()) <= 1e-4


def test_new_token_rows_start_at_the_mean_of_the_source_rows(source, imported):
    _, reference, tok = source
    model, _ = imported
    n, added = len(tok), len(model.tokenizer)
    for table, ref in ((model.lm.get_input_embeddings().weight,
                        reference.get_input_embeddings().weight),
                       (model.lm.get_output_embeddings().weight,
                        reference.get_output_embeddings().weight)):
        torch.testing.assert_close(table[:n], ref[:n])
        torch.testing.assert_close(table[n:added], ref[:n].mean(0).expand(added - n, -1))


@pytest.mark.slow
def test_the_converter_writes_an_export_that_answers_the_same(source, tmp_path):
    """The command line, offline (a dead proxy: any download attempt would fail)."""
    directory, reference, tok = source
    out = tmp_path / 'eov'
    env = dict(os.environ, PYTHONPATH=ROOT, HTTPS_PROXY='http://127.0.0.1:9',
               HTTP_PROXY='http://127.0.0.1:9', HF_HUB_OFFLINE='0')
    proc = subprocess.run([sys.executable, 'tools/model_converters/hf_vlm_to_eov.py',
                           directory, str(out), '--bins', '100'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'-> {out}' in proc.stdout
    config = json.loads((out / 'config.json').read_text())
    assert config['eov']['model']['vision']['type'] == 'HFVisionTower'
    assert config['eov']['serializer'] == dict(type='LocTokenSerializer', bins=100)
    model = EarthOneVision.from_pretrained(str(out))
    torch.manual_seed(3)
    pixels = torch.randn(1, 3, 32, 32)
    ids = prompt_ids(tok, 'Where is the bridge?')
    with torch.no_grad():
        want = reference(input_ids=ids, pixel_values=pixels).logits[..., :len(tok)]
        got = model(eov_inputs(model, tok, ids, pixels), mode='tensor')[..., :len(tok)]
    assert float((got - want).abs().max()) <= 1e-4
    # a source that is not a supported VLM: one line naming the supported families
    lm_only = tmp_path / 'lm'
    reference.model.language_model.config.save_pretrained(str(lm_only))
    bad = subprocess.run([sys.executable, 'tools/model_converters/hf_vlm_to_eov.py',
                          str(lm_only), str(tmp_path / 'x')], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"error: {lm_only}/config.json: model_type 'qwen2' cannot be imported; "
        'supported: internvl, llava_onevision, qwen2_vl, qwen2_5_vl, qwen3_vl']


def test_a_tokenizer_larger_than_the_embedding_table_is_named(source, tmp_path):
    import shutil
    directory, reference, _ = source
    bad = tmp_path / 'bad'
    shutil.copytree(directory, bad)
    config = json.loads((bad / 'config.json').read_text())
    config['text_config']['vocab_size'] = 100
    (bad / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r'its tokenizer has \d+ tokens but the LM\'s embedding '
                                         r'table 100 rows \(text_config.vocab_size\)'):
        import_hf_vlm(str(bad))


@pytest.fixture(scope='module')
def llava(tmp_path_factory):
    directory = tmp_path_factory.mktemp('llava_onevision')
    reference, tok = write_tiny_llava_onevision(directory)
    model, _ = import_hf_vlm(str(directory))
    return str(directory), reference, tok, model


def test_llava_onevision_gives_the_source_logits_and_answer(llava):
    """One image at the tower's size: the base tokens, then one tile's rows, each closed by
    the newline token (LLaVA-OneVision's anyres layout with one tile)."""
    _, reference, tok, model = llava
    assert model.num_image_tokens(modality='optical') == LLAVA_TOKENS
    image = tok.convert_tokens_to_ids('<image>')
    assert model.image_token_id == image          # the source's <image> is eov's
    ids = torch.tensor([tok('<|im_start|>user\n', add_special_tokens=False)['input_ids'] +
                        [image] * LLAVA_TOKENS +
                        tok('\nWhat is here?<|im_end|>\n<|im_start|>assistant\n',
                            add_special_tokens=False)['input_ids']])
    torch.manual_seed(4)
    pixels = torch.randn(1, 3, 32, 32)
    tiles = pixels[:, None].expand(1, 2, 3, 32, 32).contiguous()   # base image + one tile
    n = len(tok)
    inputs = dict(input_ids=ids, pixel_values={'optical': pixels},
                  image_order=[('optical', 0)], attention_mask=torch.ones_like(ids))
    with torch.no_grad():
        want = reference(input_ids=ids, pixel_values=tiles,
                         image_sizes=torch.tensor([[32, 32]])).logits
        got = model(inputs, mode='tensor')
        assert float((got[..., :n] - want[..., :n]).abs().max()) <= 1e-4
        hf = reference.generate(input_ids=ids, pixel_values=tiles,
                                image_sizes=torch.tensor([[32, 32]]), max_new_tokens=6,
                                do_sample=False, eos_token_id=None,
                                pad_token_id=0)[0, ids.shape[1]:]
        ours = model.greedy(model.embed(inputs), torch.ones_like(ids), 6)[0]
    assert ours.tolist() == hf.tolist()


def test_llava_onevision_two_packed_samples_equal_two_separate_forwards(llava):
    _, reference, tok, model = llava
    image = tok.convert_tokens_to_ids('<image>')
    prompts = [torch.tensor([tok('<|im_start|>user\n', add_special_tokens=False)['input_ids'] +
                             [image] * LLAVA_TOKENS +
                             tok(f'\n{q}<|im_end|>\n<|im_start|>assistant\n',
                                 add_special_tokens=False)['input_ids']])
               for q in ('What is here?', 'How many ships are in the harbour?')]
    torch.manual_seed(5)
    pixels = torch.randn(2, 3, 32, 32)
    a, b = (p.shape[1] for p in prompts)
    packed = dict(input_ids=torch.cat(prompts, 1), pixel_values={'optical': pixels},
                  image_order=[('optical', 0), ('optical', 1)],
                  cu_seqlens=torch.tensor([0, a, a + b], dtype=torch.int32), max_seqlen=max(a, b),
                  position_ids=torch.cat([torch.arange(a), torch.arange(b)])[None])
    n = len(tok)
    with torch.no_grad():
        got = model(packed, mode='tensor')[0, :, :n]
        want = [reference(input_ids=ids, image_sizes=torch.tensor([[32, 32]]),
                          pixel_values=pixels[i:i + 1, None].expand(1, 2, 3, 32, 32)
                          .contiguous()).logits[0, :, :n]
                for i, ids in enumerate(prompts)]
    assert float((got[:a] - want[0]).abs().max()) <= 1e-4
    assert float((got[a:] - want[1]).abs().max()) <= 1e-4


def test_llava_onevision_layouts_eov_cannot_reproduce_are_named(llava, tmp_path):
    import shutil
    directory = tmp_path / 'bad'
    shutil.copytree(llava[0], directory)
    config = json.loads((directory / 'config.json').read_text())
    config['image_grid_pinpoints'] = [[64, 64]]
    (directory / 'config.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"one image of the tower's 32 px as one tile .*"
                                         r'\[32, 32\] among the image_grid_pinpoints'):
        import_hf_vlm(str(directory))


@pytest.mark.slow
def test_the_sources_normalisation_becomes_the_optical_sensor(llava, source, imported,
                                                             tmp_path):
    """LLaVA-OneVision's SigLIP normalises with 0.5 / 0.5: a sensor of those statistics,
    saved with the export; InternVL (no preprocessor file here) keeps eov's ImageNet 'rgb'."""
    model = llava[3]
    sensor = model.modalities['optical'].sensor
    assert sensor.name == 'rgb_mean0.5-0.5-0.5_std0.5-0.5-0.5'
    assert sensor.mean == (0.5,) * 3 and sensor.std == (0.5,) * 3
    assert imported[0].modalities['optical'].sensor.name == 'rgb'
    out = tmp_path / 'export'
    import_hf_vlm(llava[0], str(out))
    saved = json.loads((out / 'processor_config.json').read_text())['sensors']
    assert saved['rgb_mean0.5-0.5-0.5_std0.5-0.5-0.5']['mean'] == [0.5, 0.5, 0.5]
    # a fresh process (the sensor not registered there) reads it back from the export
    code = ('from eov.models import EarthOneVision; '
            f'm = EarthOneVision.from_pretrained({str(out)!r}); '
            "print(m.modalities['optical'].sensor.mean)")
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == '(0.5, 0.5, 0.5)'
