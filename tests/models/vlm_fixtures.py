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
