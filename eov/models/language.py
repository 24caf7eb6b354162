"""Language models: any transformers causal LM, from a config or a local path."""
from __future__ import annotations

import os

from eov.registry import ATTENTION, build_from_any


def build_causal_lm(config: dict | None = None, pretrained: str | None = None,
                    attention='sdpa'):
    """Build a ``transformers`` causal LM without downloading anything.

    Args:
        config: Architecture as keyword arguments of ``AutoConfig.for_model``,
            including ``model_type`` (e.g. ``'qwen2'``); random init.
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
    hf_config = AutoConfig.for_model(cfg.pop('model_type'), **cfg)
    return AutoModelForCausalLM.from_config(hf_config, attn_implementation=backend.hf_name)
