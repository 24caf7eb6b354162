"""Tiny random InternVL / LLaVA-OneVision models written as local Hugging Face directories
(nothing downloaded)."""
import json
import os

import torch
from transformers import (InternVLConfig, InternVLForConditionalGeneration,
                          PreTrainedTokenizerFast)

from eov.processing.tokenizer import DEFAULT_TOKENIZER_DIR

#: Image tokens of one 32-px image: 8-px patches, 2x2 pixel shuffle.
PATCHES = 4


def _write_tokenizer(directory, *tokens):
    """eov's small byte-level BPE with chat tokens and ``tokens`` added, saved as the
    source's own tokenizer files."""
    tok = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(DEFAULT_TOKENIZER_DIR, 'tokenizer.json'),
        eos_token='<|im_end|>', pad_token='<|endoftext|>')
    tok.add_special_tokens({'additional_special_tokens': ['<|im_start|>', '<|im_end|>', *tokens]})
    tok.save_pretrained(str(directory))
    return tok


def write_tiny_internvl(directory):
    """Save a tiny InternVL (untied output layer, padded vocabulary) and its tokenizer.

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    tok = _write_tokenizer(directory, '<img>', '</img>', '<IMG_CONTEXT>')
    torch.manual_seed(0)
    config = InternVLConfig(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, image_size=32, patch_size=8,
                           use_mean_pooling=False),
        text_config=dict(model_type='qwen2', vocab_size=len(tok) + 6, hidden_size=64,
                         intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=1024,
                         tie_word_embeddings=False),
        image_token_id=tok.convert_tokens_to_ids('<IMG_CONTEXT>'), image_seq_length=PATCHES,
        tie_word_embeddings=False)
    model = InternVLForConditionalGeneration(config).eval()
    model.save_pretrained(str(directory))
    return model, tok


#: Tokens of one 32-px image in LLaVA-OneVision's layout: 4x4 base + 4 rows of 4 + newline.
LLAVA_TOKENS = 16 + 4 * 5


def write_tiny_llava_onevision(directory):
    """Save a tiny LLaVA-OneVision (SigLIP tower, untied output layer) and its tokenizer.

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration
    tok = _write_tokenizer(directory, '<image>', '<video>')
    torch.manual_seed(0)
    config = LlavaOnevisionConfig(
        vision_config=dict(model_type='siglip_vision_model', hidden_size=32,
                           intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        text_config=dict(model_type='qwen2', vocab_size=len(tok) + 6, hidden_size=64,
                         intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=False),
        image_grid_pinpoints=[[32, 32], [32, 64], [64, 32], [64, 64]],
        image_token_index=tok.convert_tokens_to_ids('<image>'),
        video_token_index=tok.convert_tokens_to_ids('<video>'), tie_word_embeddings=False)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    with torch.no_grad():                       # a newline token that is not zero
        model.model.image_newline.normal_()
    model.save_pretrained(str(directory))
    # SigLIP's normalisation, as the image processor of a real checkpoint writes it
    with open(os.path.join(str(directory), 'preprocessor_config.json'), 'w') as f:
        json.dump(dict(image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]), f)
    return model, tok


#: Merged tokens of one 64-px image in a tiny Qwen-VL: 8-px patches, 2x2 merge.
QWEN_TOKENS = 16


def write_tiny_qwen_vl(directory, family='qwen2_vl'):
    """Save a tiny Qwen2-VL, Qwen2.5-VL or Qwen3-VL (untied output layer, 3-D M-RoPE) and its
    tokenizer.

    Qwen2.5-VL's tower attends within 32-px windows (2x2 merge units of 2x2 8-px patches), so
    a 64-px image is held in four windows, and over the whole image in blocks 1 and 3.
    Qwen3-VL's tower has a 4x4 learned position table (interpolated to the image's grid) and
    DeepStack features from blocks 0 and 1, added after the LM's first two layers.

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    import transformers
    tok = _write_tokenizer(directory, '<|vision_start|>', '<|vision_end|>', '<|image_pad|>',
                           '<|video_pad|>')
    ids = {name: tok.convert_tokens_to_ids(f'<|{name}|>')
           for name in ('vision_start', 'vision_end', 'image_pad', 'video_pad')}
    text = dict(vocab_size=len(tok) + 6, hidden_size=64, intermediate_size=128,
                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                rope_parameters=dict(rope_type='default', rope_theta=10000.0,
                                     mrope_section=[2, 3, 3]))
    if family == 'qwen2_vl':
        config_class = transformers.Qwen2VLConfig
        model_class = transformers.Qwen2VLForConditionalGeneration
        vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=4, mlp_ratio=2,
                      patch_size=8, spatial_merge_size=2, temporal_patch_size=2)
    elif family == 'qwen3_vl':
        config_class = transformers.Qwen3VLConfig
        model_class = transformers.Qwen3VLForConditionalGeneration
        vision = dict(depth=3, hidden_size=32, out_hidden_size=64, intermediate_size=64,
                      num_heads=4, patch_size=8, spatial_merge_size=2, temporal_patch_size=2,
                      num_position_embeddings=16, deepstack_visual_indexes=[0, 1])
        text.update(head_dim=16, num_hidden_layers=3)
        text['rope_parameters']['mrope_interleaved'] = True
    else:
        config_class = transformers.Qwen2_5_VLConfig
        model_class = transformers.Qwen2_5_VLForConditionalGeneration
        vision = dict(depth=4, hidden_size=32, out_hidden_size=64, intermediate_size=64,
                      num_heads=4, patch_size=8, spatial_merge_size=2, temporal_patch_size=2,
                      window_size=32, fullatt_block_indexes=[1, 3])
    torch.manual_seed(0)
    config = config_class(
        vision_config=vision, text_config=text, image_token_id=ids['image_pad'],
        video_token_id=ids['video_pad'], vision_start_token_id=ids['vision_start'],
        vision_end_token_id=ids['vision_end'], tie_word_embeddings=False)
    model = model_class(config).eval()
    model.save_pretrained(str(directory))
    # CLIP's normalisation, as Qwen's image processor writes it
    with open(os.path.join(str(directory), 'preprocessor_config.json'), 'w') as f:
        json.dump(dict(image_mean=[0.48145466, 0.4578275, 0.40821073],
                       image_std=[0.26862954, 0.26130258, 0.27577711],
                       patch_size=8, merge_size=2, temporal_patch_size=2,
                       # a 64 x 64 px image at most: the importer's default side is 64
                       min_pixels=16 * 16, max_pixels=64 * 64), f)
    return model, tok


def qwen_pixels(images):
    """Qwen's own image processor cuts ``(N, 3, H, W)`` images into its flattened patches
    (no resizing or normalisation: eov's pixels as they are).

    Returns:
        ``(pixel_values, image_grid_thw)`` for the ``transformers`` model.
    """
    from transformers import Qwen2VLImageProcessor
    processor = Qwen2VLImageProcessor(do_resize=False, do_rescale=False, do_normalize=False,
                                      patch_size=8, merge_size=2, temporal_patch_size=2)
    cut = processor(images=[img.permute(1, 2, 0).numpy() for img in images],
                    return_tensors='pt', input_data_format='channels_last')
    return cut['pixel_values'], cut['image_grid_thw']
