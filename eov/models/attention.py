"""Attention backends for the language model.

A backend has two faces:

* ``hf_name`` -- the transformers implementation used for padded batches and
  for generation with a KV cache (``eager`` or ``sdpa``);
* ``packed_name`` -- an attention function eov registers through transformers'
  public ``AttentionInterface`` (and a matching ``AttentionMaskInterface``
  entry that builds no dense mask). It runs packed variable-length batches:
  all samples back to back in one row, described by ``cu_seq_lens_q/k`` and
  ``max_length_q/k`` passed explicitly in the model call (transformers forwards
  them to the attention function); position ids restart per sample.

``eager`` is the numerical reference, ``sdpa`` loops over the samples with
``scaled_dot_product_attention``, ``flash_varlen`` calls
``torch.nn.attention.varlen.varlen_attn`` (CUDA, fp16/bf16), ``xformers`` uses
``memory_efficient_attention`` with a block-diagonal causal mask, and ``auto``
picks the fastest that works on the device and dtype, logging once why.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from eov.registry import ATTENTION


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """``(B, H_kv, T, D)`` -> ``(B, H_kv * groups, T, D)`` for grouped-query attention."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def check_cu_seqlens(cu: torch.Tensor, total: int) -> list[int]:
    """Validate cumulative sequence lengths against the token count.

    Raises:
        ValueError: if they do not start at 0, decrease, or do not sum to ``total``.
    """
    bounds = [int(v) for v in cu.tolist()]
    if not bounds or bounds[0] != 0 or any(b < a for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f'cu_seqlens must start at 0 and never decrease, got {bounds[:8]}...')
    if bounds[-1] != total:
        raise ValueError(f'packed sequence lengths sum to {bounds[-1]} but the batch holds '
                         f'{total} tokens')
    return bounds


def _segments(query, kwargs):
    cu = kwargs.get('cu_seq_lens_q')
    total = query.shape[2]
    if cu is None:
        return [0, total]
    if query.shape[0] != 1:
        raise ValueError(f'packed attention expects one packed row, got batch {query.shape[0]}')
    return check_cu_seqlens(cu, total)


def _per_sample(query, key, value, kwargs):
    """Sample bounds of the packed row, and ``key``/``value`` repeated for every query head."""
    groups = query.shape[1] // key.shape[1]
    return _segments(query, kwargs), _repeat_kv(key, groups), _repeat_kv(value, groups)


def packed_eager(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Reference: explicit causal softmax attention inside each packed sample."""
    bounds, key, value = _per_sample(query, key, value, kwargs)
    out = torch.empty_like(query)
    for s, e in zip(bounds, bounds[1:]):
        if e == s:
            continue
        scores = torch.matmul(query[:, :, s:e], key[:, :, s:e].transpose(2, 3)) * scaling
        causal = torch.ones(e - s, e - s, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~causal, float('-inf'))
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        probs = F.dropout(probs, p=dropout, training=module.training)
        out[:, :, s:e] = torch.matmul(probs, value[:, :, s:e])
    return out.transpose(1, 2).contiguous(), None


def packed_sdpa(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """``scaled_dot_product_attention`` (causal) over each packed sample in turn."""
    bounds, key, value = _per_sample(query, key, value, kwargs)
    out = torch.empty_like(query)
    p = dropout if module.training else 0.0
    for s, e in zip(bounds, bounds[1:]):
        if e > s:
            out[:, :, s:e] = F.scaled_dot_product_attention(
                query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], is_causal=True,
                dropout_p=p, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def packed_flash_varlen(module, query, key, value, attention_mask, scaling, dropout=0.0,
                        **kwargs):
    """``torch.nn.attention.varlen.varlen_attn`` over the packed row (CUDA).

    The kernel needs fp16/bf16: under autocast RoPE can hand it fp32 q/k, so
    inputs are cast to bf16 (or the value dtype when that is half precision)
    and the output cast back.
    """
    from torch.nn.attention.varlen import varlen_attn
    total = query.shape[2]
    cu = kwargs.get('cu_seq_lens_q')
    if cu is None:
        cu = torch.tensor([0, total], device=query.device)
    check_cu_seqlens(cu, total)
    max_len = int(kwargs.get('max_length_q') or (cu[1:] - cu[:-1]).max())
    dtype = value.dtype if value.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
    groups = query.shape[1] // key.shape[1]
    q = query[0].transpose(0, 1).to(dtype)                      # (T, H, D)
    k = _repeat_kv(key, groups)[0].transpose(0, 1).to(dtype)
    v = _repeat_kv(value, groups)[0].transpose(0, 1).to(dtype)
    cu32 = cu.to(device=query.device, dtype=torch.int32)
    params = inspect.signature(varlen_attn).parameters
    causal = dict(is_causal=True) if 'is_causal' in params else dict(window_size=(-1, 0))
    out = varlen_attn(q, k, v, cu32, cu32, max_len, max_len, scale=scaling, **causal)
    return out.to(query.dtype)[None].contiguous(), None


def packed_xformers(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """``xformers.ops.memory_efficient_attention`` with a block-diagonal causal mask."""
    from xformers.ops import fmha   # imported only here: it warns loudly without CUDA
    bounds, key, value = _per_sample(query, key, value, kwargs)
    lengths = [e - s for s, e in zip(bounds, bounds[1:]) if e > s]
    q, k, v = (t.transpose(1, 2) for t in (query, key, value))
    bias = fmha.attn_bias.BlockDiagonalCausalMask.from_seqlens(lengths)
    out = fmha.memory_efficient_attention(q, k, v, attn_bias=bias, scale=scaling,
                                          p=dropout if module.training else 0.0)
    return out.contiguous(), None


def _no_dense_mask(*args, **kwargs):
    """Mask factory of the packed functions: sample boundaries come from cu_seqlens."""
    from transformers.masking_utils import flash_attention_mask
    return flash_attention_mask(*args, **kwargs)


_REGISTERED: set[str] = set()


def register_packed(name: str, fn) -> str:
    """Register ``fn`` (and a no-dense-mask factory) with transformers under ``name``."""
    if name not in _REGISTERED:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface
        AttentionInterface.register(name, fn)
        AttentionMaskInterface.register(name, _no_dense_mask)
        _REGISTERED.add(name)
    return name


class AttentionUnavailableError(RuntimeError):
    """The configured attention backend cannot run on this device / dtype (a setting
    of the config, not an eov bug: the tools print it as one error line)."""


class AttentionBackend:
    """Base class of attention backends.

    Attributes:
        name: Registry name.
        hf_name: transformers implementation for padded batches and generation.
        packed_fn: Attention function for packed batches.
    """

    name = 'base'
    hf_name = 'sdpa'
    packed_fn = staticmethod(packed_sdpa)

    def available(self, device: torch.device | str = 'cpu',
                  dtype: torch.dtype = torch.float32) -> tuple[bool, str]:
        """Return ``(usable, reason)`` for ``device`` and ``dtype``."""
        return True, 'always available'

    def packed_name(self, device=None, dtype=None) -> str:
        """The registered transformers name of this backend's packed function.

        Availability is checked once per device type and dtype (the check may
        run a test kernel; this is called on every packed forward).
        """
        key = (torch.device(device or 'cpu').type, dtype or torch.float32)
        checked = self.__dict__.setdefault('_availability', {})
        if key not in checked:
            checked[key] = self.available(*key)
        ok, reason = checked[key]
        if not ok:
            raise AttentionUnavailableError(
                f'attention backend {self.name!r} cannot run here: {reason} (the config\'s '
                f"model.attention={self.name!r}; 'auto' picks the fastest backend that runs "
                "here, 'sdpa' runs everywhere)")
        return register_packed(f'eov_{self.name}', self.packed_fn)


@ATTENTION.register_module(name='eager')
class EagerAttention(AttentionBackend):
    """Explicit matmul-softmax attention: the numerical reference."""

    name = 'eager'
    hf_name = 'eager'
    packed_fn = staticmethod(packed_eager)


@ATTENTION.register_module(name='sdpa')
class SDPAAttention(AttentionBackend):
    """``torch.nn.functional.scaled_dot_product_attention``; loops over packed samples."""

    name = 'sdpa'
    hf_name = 'sdpa'
    packed_fn = staticmethod(packed_sdpa)


@ATTENTION.register_module(name='flash_varlen')
class FlashVarlenAttention(AttentionBackend):
    """PyTorch's variable-length flash attention (CUDA only, computes in fp16/bf16)."""

    name = 'flash_varlen'
    hf_name = 'sdpa'
    packed_fn = staticmethod(packed_flash_varlen)

    def available(self, device='cpu', dtype=torch.float32):
        """Needs ``torch.nn.attention.varlen`` and a CUDA device."""
        try:
            from torch.nn.attention.varlen import varlen_attn  # noqa: F401
        except ImportError:
            return False, f'torch {torch.__version__} has no torch.nn.attention.varlen'
        if torch.device(device).type != 'cuda':
            return False, 'varlen_attn runs on CUDA only'
        return True, 'CUDA varlen flash attention'


@ATTENTION.register_module(name='xformers')
class XFormersAttention(AttentionBackend):
    """xformers' memory-efficient attention with a block-diagonal causal mask."""

    name = 'xformers'
    hf_name = 'sdpa'
    packed_fn = staticmethod(packed_xformers)

    def available(self, device='cpu', dtype=torch.float32):
        """Needs xformers with kernels for this torch and a CUDA device."""
        if torch.device(device).type != 'cuda':
            return False, 'xformers has no CPU kernels'
        import importlib.util
        if importlib.util.find_spec('xformers') is None:
            return False, 'xformers is not installed (pip install eov[xformers])'
        try:
            from xformers.ops import fmha
            q = torch.zeros(1, 8, 1, 64, device=device, dtype=torch.bfloat16)
            fmha.memory_efficient_attention(q, q, q)
        except Exception as exc:  # noqa: BLE001 -- any failure means "not usable here"
            return False, f'xformers kernels do not run: {type(exc).__name__}: {exc}'[:200]
        return True, 'xformers kernels run'


@ATTENTION.register_module(name='auto')
class AutoAttention(AttentionBackend):
    """Pick the fastest backend that works on the device and dtype; log the choice once.

    Order: ``flash_varlen``, ``xformers``, ``sdpa``.
    """

    name = 'auto'
    hf_name = 'sdpa'
    order = ('flash_varlen', 'xformers', 'sdpa')

    def __init__(self):
        self._chosen: dict[tuple[str, str], AttentionBackend] = {}

    def resolve(self, device='cpu', dtype=torch.float32) -> AttentionBackend:
        """The backend ``auto`` uses on ``device``/``dtype`` (logged the first time)."""
        key = (str(torch.device(device).type), str(dtype))
        if key not in self._chosen:
            skipped = []
            for name in self.order:
                backend = ATTENTION.build(dict(type=name))
                ok, reason = backend.available(device, dtype)
                if ok:
                    self._chosen[key] = backend
                    why = '; '.join(f'{n}: {r}' for n, r in skipped) or 'first choice'
                    print_log(f'attention auto -> {name} on {key[0]}/{dtype} '
                              f'(skipped {why})', logger='current')
                    break
                skipped.append((name, reason))
        return self._chosen[key]

    def packed_name(self, device=None, dtype=None) -> str:
        """The packed function of the resolved backend."""
        return self.resolve(device or 'cpu', dtype or torch.float32).packed_name(device, dtype)

