"""Language models: any transformers causal LM, from a config or a local path.

The text models of Qwen's VLMs (``qwen2_vl_text``, ``qwen2_5_vl_text``, ``qwen3_vl_text``)
have no causal-LM class in ``transformers``; :func:`build_causal_lm` gives them one
(:func:`text_causal_lm_class`: the text model and an output layer). They read 3-D M-RoPE
position ids (:func:`mrope_position_ids`).
"""
from __future__ import annotations

import os

from eov.registry import ATTENTION, build_from_any

#: Text model ``model_type`` -> (module, class) of a ``transformers`` text model without a
#: causal-LM class; their positions are M-RoPE's (temporal, height, width).
MROPE_TEXT_MODELS = {
    'qwen2_vl_text': ('qwen2_vl', 'Qwen2VLTextModel'),
    'qwen2_5_vl_text': ('qwen2_5_vl', 'Qwen2_5_VLTextModel'),
    'qwen3_vl_text': ('qwen3_vl', 'Qwen3VLTextModel'),
}
_CLASSES = {}


def text_causal_lm_class(model_type: str):
    """A causal-LM class (``model`` + ``lm_head``, as ``Qwen2ForCausalLM``) around the text
    model of ``model_type`` (a key of :data:`MROPE_TEXT_MODELS`).

    Its ``forward`` takes ``position_ids`` of shape ``(3, B, L)`` (M-RoPE) or ``(4, B, L)``
    (plain text positions first, for packed sequences), as the text model does.
    """
    if model_type in _CLASSES:
        return _CLASSES[model_type]
    import importlib

    from torch import nn
    from transformers import GenerationMixin, Qwen2ForCausalLM
    from transformers.modeling_outputs import CausalLMOutputWithPast
    module, name = MROPE_TEXT_MODELS[model_type]
    text_model = getattr(importlib.import_module(f'transformers.models.{module}.modeling_{module}'),
                         name)

    class TextForCausalLM(text_model.__mro__[1], GenerationMixin):
        config_class = text_model.config_class
        base_model_prefix = 'model'
        # the tying rule in whichever form this transformers version writes it
        _tied_weights_keys = Qwen2ForCausalLM._tied_weights_keys
        uses_mrope = True

        def __init__(self, config):
            super().__init__(config)
            self.model = text_model(config)
            self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
            self.post_init()

        def get_input_embeddings(self):
            return self.model.embed_tokens

        def set_input_embeddings(self, value):
            self.model.embed_tokens = value

        def get_output_embeddings(self):
            return self.lm_head

        def set_output_embeddings(self, value):
            self.lm_head = value

        def forward(self, input_ids=None, attention_mask=None, position_ids=None,
                    inputs_embeds=None, use_cache=None, logits_to_keep: int = 0, **kwargs):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids, inputs_embeds=inputs_embeds,
                             use_cache=use_cache, **kwargs)
            hidden = out.last_hidden_state
            if logits_to_keep:
                hidden = hidden[:, -logits_to_keep:]
            return CausalLMOutputWithPast(logits=self.lm_head(hidden))

    TextForCausalLM.__name__ = TextForCausalLM.__qualname__ = \
        name.replace('TextModel', 'TextForCausalLM')
    _CLASSES[model_type] = TextForCausalLM
    return TextForCausalLM


def mrope_position_ids(input_ids, image_token_id: int, grids: list, mask=None):
    """M-RoPE positions ``(3, B, L)`` of a padded batch, as Qwen2-VL computes them.

    Text tokens count up on all three axes; the tokens of an image (a run of
    ``image_token_id``) take its ``(t, h, w)`` grid offset by the position it starts at,
    and the text after it goes on from that start plus ``max(h, w)``. A run whose token count
    is not ``t * h * w`` counts up as text.

    Args:
        input_ids: ``(B, L)`` token ids.
        image_token_id: The image slot token.
        grids: ``(t, h, w)`` of each image, in order over the batch's rows.
        mask: ``(B, L)`` attention mask; padding gets position 0 and does not count.

    Returns:
        ``(3, B, L)`` long tensor.
    """
    import torch
    rows, length = input_ids.shape
    out = torch.zeros(3, rows, length, dtype=torch.long, device=input_ids.device)
    grids = iter(grids)
    for r in range(rows):
        keep = torch.ones(length, dtype=torch.bool, device=input_ids.device) if mask is None \
            else mask[r].bool()
        ids = input_ids[r][keep].tolist()
        pos, start, parts = 0, 0, []
        while start < len(ids):
            end = start
            is_image = ids[start] == image_token_id
            while end < len(ids) and (ids[end] == image_token_id) == is_image:
                end += 1
            n = end - start
            while is_image and n:          # consecutive images: one grid each
                t, h, w = next(grids)
                if t * h * w > n:
                    raise ValueError(f'row {r}: an image of {t}x{h}x{w} tokens but only {n} '
                                     'image slots left')
                grid = torch.stack(torch.meshgrid(torch.arange(t), torch.arange(h),
                                                  torch.arange(w), indexing='ij'))
                parts.append(grid.reshape(3, -1) + pos)
                pos += max(t, h, w)
                n -= t * h * w
            if not is_image:
                parts.append(torch.arange(pos, pos + n).expand(3, -1))
                pos += n
            start = end
        if parts:
            out[:, r, keep] = torch.cat(parts, 1).to(out.device)
    return out


def build_causal_lm(config: dict | None = None, pretrained: str | None = None,
                    attention='sdpa'):
    """Build a ``transformers`` causal LM without downloading anything.

    Args:
        config: Architecture as keyword arguments of ``AutoConfig.for_model``,
            including ``model_type`` (e.g. ``'qwen2'``, or a Qwen VLM's text model
            ``'qwen2_vl_text'``); random init.
        pretrained: Local directory of an HF model (weights + config); takes
            precedence over ``config``.
        attention: Backend name or ``ATTENTION`` config.

    Returns:
        The model (``transformers.PreTrainedModel``).
    """
    from transformers import AutoConfig, AutoModelForCausalLM
    if isinstance(attention, str):
        attention = dict(type=attention)
    backend = build_from_any(attention, ATTENTION)
    if pretrained:
        if not os.path.isdir(pretrained):
            raise FileNotFoundError(f'language model directory {pretrained!r} does not exist '
                                    '(eov never downloads; give a local path)')
        return AutoModelForCausalLM.from_pretrained(
            pretrained, local_files_only=True, attn_implementation=backend.hf_name)
    if not config or 'model_type' not in config:
        raise ValueError("language model config needs 'model_type' (e.g. 'qwen2') "
                         'or a local pretrained path')
    cfg = dict(config)
    model_type = cfg.pop('model_type')
    hf_config = AutoConfig.for_model(model_type, **cfg)
    if model_type in MROPE_TEXT_MODELS:
        return text_causal_lm_class(model_type)._from_config(
            hf_config, attn_implementation=backend.hf_name)
    return AutoModelForCausalLM.from_config(hf_config, attn_implementation=backend.hf_name)
