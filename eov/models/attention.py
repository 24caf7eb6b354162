"""Attention backends for the language model.

A backend names the attention implementation transformers runs and says
whether it works on a device/dtype. ``eager`` (the reference) and ``sdpa`` are
transformers' own implementations; packed variable-length backends plug in
through transformers' public ``AttentionInterface``.
"""
from __future__ import annotations

import torch

from eov.registry import ATTENTION


class AttentionBackend:
    """Base class: ``hf_name`` is what ``attn_implementation`` is set to."""

    name = 'base'
    hf_name = 'eager'

    def available(self, device: torch.device | str = 'cpu',
                  dtype: torch.dtype = torch.float32) -> tuple[bool, str]:
        """Return ``(usable, reason)`` for ``device`` and ``dtype``."""
        return True, 'always available'


@ATTENTION.register_module(name='eager')
class EagerAttention(AttentionBackend):
    """transformers' explicit matmul-softmax attention: the numerical reference."""

    name = 'eager'
    hf_name = 'eager'


@ATTENTION.register_module(name='sdpa')
class SDPAAttention(AttentionBackend):
    """``torch.nn.functional.scaled_dot_product_attention`` through transformers."""

    name = 'sdpa'
    hf_name = 'sdpa'
