"""Importing Qwen2-VL, Qwen2.5-VL and Qwen3-VL as an EarthOneVision: the ``transformers`` model (its own
image processor, its own M-RoPE positions) is the reference; tiny random instances written
with ``save_pretrained``, nothing downloaded."""
import pytest
import torch

from eov.models.hf_vlm import import_hf_vlm

from .vlm_fixtures import QWEN_TOKENS, qwen_pixels, write_tiny_qwen_vl

FAMILIES = ('qwen2_vl', 'qwen2_5_vl', 'qwen3_vl')


@pytest.fixture(scope='module', params=FAMILIES)
def pair(request, tmp_path_factory):
    """``(reference, tokenizer, imported model, family)``: 64-px images."""
    directory = tmp_path_factory.mktemp(request.param)
    reference, tok = write_tiny_qwen_vl(directory, request.param)
    model, _ = import_hf_vlm(str(directory))     # 64 px: the processor's max_pixels
    return reference, tok, model, request.param


def prompt_ids(tok, question, images=1):
    """Qwen's prompt: each image as ``<|vision_start|>`` + its pad tokens + ``<|vision_end|>``
    (eov's user text puts a newline after the image)."""
    pad = tok.convert_tokens_to_ids('<|image_pad|>')
    ids = tok('<|im_start|>user\n', add_special_tokens=False)['input_ids']
    for _ in range(images):
        ids += tok('<|vision_start|>', add_special_tokens=False)['input_ids'] + \
            [pad] * QWEN_TOKENS + tok('<|vision_end|>', add_special_tokens=False)['input_ids']
    ids += tok(f'\n{question}<|im_end|>\n<|im_start|>assistant\n',
               add_special_tokens=False)['input_ids']
    return torch.tensor([ids])


def reference_logits(reference, tok, ids, images):
    pixels, grid = qwen_pixels(images)
    types = (ids == tok.convert_tokens_to_ids('<|image_pad|>')).int()
    return reference(input_ids=ids, pixel_values=pixels, image_grid_thw=grid,
                     mm_token_type_ids=types)


def eov_inputs(model, tok, ids, images):
    ids = ids.clone()
    ids[ids == tok.convert_tokens_to_ids('<|image_pad|>')] = model.image_token_id
    return dict(input_ids=ids, pixel_values={'optical': images},
                image_order=[('optical', i) for i in range(images.shape[0])],
                attention_mask=torch.ones_like(ids))


def test_the_imported_model_gives_the_source_logits_and_greedy_answer(pair):
    reference, tok, model, family = pair
    assert type(model.lm).__name__ == {'qwen2_vl': 'Qwen2VLTextForCausalLM',
                                       'qwen2_5_vl': 'Qwen2_5_VLTextForCausalLM',
                                       'qwen3_vl': 'Qwen3VLTextForCausalLM'}[family]
    assert type(model.aligner).__name__ == ('QwenDeepStackMerger' if family == 'qwen3_vl'
                                            else 'QwenPatchMerger')
    assert model.mrope and model.num_image_tokens(modality='optical') == QWEN_TOKENS
    torch.manual_seed(1)
    images = torch.rand(2, 3, 64, 64)
    ids = prompt_ids(tok, 'What is here?', images=2)
    n = len(tok)
    inputs = eov_inputs(model, tok, ids, images)
    with torch.no_grad():
        want = reference_logits(reference, tok, ids, images).logits[..., :n]
        got = model(inputs, mode='tensor')[..., :n]
        # the same tokens at plain 1-D positions: M-RoPE is what makes them equal
        extra = {}    # Qwen3-VL: its DeepStack features
        embeds = model.embed(inputs, lm_kwargs=extra)
        plain = model.lm(inputs_embeds=embeds, **extra).logits[..., :n]
    assert float((got - want).abs().max()) <= 1e-4
    assert float((plain - want).abs().max()) > 1e-3
    if family == 'qwen3_vl':   # and the DeepStack features are what the LM adds
        assert [tuple(t.shape) for t in extra['deepstack_visual_embeds']] == \
            [(2 * QWEN_TOKENS, 64)] * 2
        with torch.no_grad():
            alone = model.lm(inputs_embeds=embeds,
                             position_ids=model.mrope_positions(inputs)).logits[..., :n]
        assert float((alone - want).abs().max()) > 1e-3
    pixels, grid = qwen_pixels(images)
    with torch.no_grad():
        hf = reference.generate(
            input_ids=ids, pixel_values=pixels, image_grid_thw=grid,
            mm_token_type_ids=(ids == tok.convert_tokens_to_ids('<|image_pad|>')).int(),
            max_new_tokens=6, do_sample=False, eos_token_id=None, pad_token_id=0)
        ours = model.greedy(embeds, inputs['attention_mask'], 6, model.mrope_positions(inputs),
                            **extra)
    assert ours[0].tolist() == hf[0, ids.shape[1]:].tolist()


def test_the_imported_processor_writes_qwen_prompts(pair):
    _, tok, model, _ = pair
    assert model.processor.image_wrap == ('<|vision_start|>', '<|vision_end|>')
    ours = model.processor.encode_prompt('<image>\nWhat is here?', 'optical')['input_ids']
    theirs = eov_inputs(model, tok, prompt_ids(tok, 'What is here?'), torch.zeros(1))
    assert ours.tolist() == theirs['input_ids'][0].tolist()


def test_packed_and_padded_batches_equal_separate_forwards(pair):
    """M-RoPE positions per packed sample (text positions first) and per padded row (the
    padding not counted): each sample's logits are those of its own forward."""
    reference, tok, model, _ = pair
    torch.manual_seed(2)
    images = torch.rand(3, 3, 64, 64)
    first = prompt_ids(tok, 'What is here?')
    second = prompt_ids(tok, 'Count the ships in both images, please.', images=2)
    a, b = first.shape[1], second.shape[1]
    n = len(tok)
    with torch.no_grad():
        want = [reference_logits(reference, tok, first, images[:1]).logits[0, :, :n],
                reference_logits(reference, tok, second, images[1:]).logits[0, :, :n]]
        packed = eov_inputs(model, tok, torch.cat([first, second], 1), images)
        packed.pop('attention_mask')
        packed.update(cu_seqlens=torch.tensor([0, a, a + b], dtype=torch.int32),
                      max_seqlen=max(a, b),
                      position_ids=torch.cat([torch.arange(a), torch.arange(b)])[None])
        got = model(packed, mode='tensor')[0, :, :n]
        pad = torch.cat([first, first.new_full((1, b - a), model.pad_token_id)], 1)
        padded = eov_inputs(model, tok, torch.cat([pad, second]), images)
        padded['attention_mask'][0, a:] = 0
        rows = model(padded, mode='tensor')[..., :n]
    assert float((got[:a] - want[0]).abs().max()) <= 1e-4
    assert float((got[a:] - want[1]).abs().max()) <= 1e-4
    assert float((rows[0, :a] - want[0]).abs().max()) <= 1e-4
    assert float((rows[1] - want[1]).abs().max()) <= 1e-4


def test_generate_continues_each_padded_row_as_its_own_prompt(pair):
    """``generate`` on a right-padded batch of two prompts: each row's answer is the one the
    ``transformers`` model gives that prompt alone."""
    reference, tok, model, _ = pair
    torch.manual_seed(3)
    images = torch.rand(2, 3, 64, 64)
    first, second = prompt_ids(tok, 'Where?'), prompt_ids(tok, 'Is there a bridge here?')
    a, b = first.shape[1], second.shape[1]
    batch = eov_inputs(model, tok, torch.cat(
        [torch.cat([first, first.new_full((1, b - a), model.pad_token_id)], 1), second]),
        images)
    batch['attention_mask'][0, a:] = 0
    eos, model.eos_token_id = model.eos_token_id, -1     # no early end: compare 5 tokens
    try:
        with torch.no_grad():
            texts = model.generate(batch, max_new_tokens=5)
            for i, ids in enumerate((first, second)):
                pixels, grid = qwen_pixels(images[i:i + 1])
                hf = reference.generate(
                    input_ids=ids, pixel_values=pixels, image_grid_thw=grid,
                    mm_token_type_ids=(ids == tok.convert_tokens_to_ids('<|image_pad|>')).int(),
                    max_new_tokens=5, do_sample=False, eos_token_id=None, pad_token_id=0)
                assert texts[i] == model.processor.decode(hf[0, ids.shape[1]:].tolist())
        with pytest.raises(ValueError, match='beam search is not available for an M-RoPE'):
            model.generate(batch, max_new_tokens=2, num_beams=2)
    finally:
        model.eos_token_id = eos


def test_the_default_side_follows_the_sources_pixel_range(tmp_path):
    import json

    from eov.models.hf_vlm import qwen_default_side
    assert qwen_default_side(str(tmp_path), 28) == 448          # no processor file
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(
        dict(size=dict(shortest_edge=56 * 56, longest_edge=28 * 28 * 1280))))
    assert qwen_default_side(str(tmp_path), 28) == 448          # Qwen2.5-VL's range holds it
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(dict(max_pixels=300 * 300)))
    assert qwen_default_side(str(tmp_path), 28) == 280          # capped, a multiple of 28
    (tmp_path / 'preprocessor_config.json').write_text(json.dumps(dict(min_pixels=600 * 600)))
    assert qwen_default_side(str(tmp_path), 28) == 616          # raised, at least 600 x 600


def test_image_sizes_the_qwen_tower_cannot_take_are_refused(pair, tmp_path):
    reference, _, model, family = pair
    source = tmp_path / 'src'
    write_tiny_qwen_vl(source, family)
    with pytest.raises(ValueError, match=r'config.json: image_size=72 is not a multiple of '
                       r'16 px \(patch_size 8 x spatial_merge_size 2\)'):
        import_hf_vlm(str(source), image_size=72)
