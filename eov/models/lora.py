"""Modality-gated low-rank adaptation: new sensors learn, the pretrained modality stays exact.

Adapting a pretrained optical model to SAR, infrared, multispectral, temporal, video and
fused inputs by fine-tuning every weight moves the optical model too: the tiny demo lost
6-9 of its 19 optical cells by more than 0.05 that way (docs/benchmarks.md), whatever the
learning rate. Here every chosen ``nn.Linear`` of the ViT, the aligner and the LM keeps its
pretrained weight frozen and gains a low-rank update ``B @ A`` (LoRA) that is *gated per
sample*: it acts on the samples that hold an image of a new modality and is zero on the
samples of the frozen ones (``frozen_modalities``, e.g. ``('optical',)``). An optical
sample therefore runs the pretrained weights bit for bit -- no forgetting by construction --
while one model (one set of weights, one LM) learns every other sensor.

The gate is one shared :class:`LoRAGate` the model sets around each call: a scalar while a
modality's images go through the ViT and the aligner, one value per token (padded or
packed batches) or per row (generation) while the LM runs. Where the gate is on for every
token (a batch without a frozen modality's sample: every batch of a chain that does not
replay optical), a layer adds its update to the weight and runs one matmul: ``(W + s B A) x``
costs a small ``out x rank x in`` product instead of two low-rank matmuls and the gating
over every token -- the LoRA chain's training steps were ~30 % slower than full
fine-tuning's without it (docs/benchmarks.md).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from eov.utils.patterns import match_any


class LoRAGate:
    """Where the low-rank updates act: ``None`` (nowhere), a float, or a tensor that
    broadcasts against a linear layer's output (``(..., 1)``)."""

    def __init__(self):
        self.value = None
        self.all_on = False

    @contextmanager
    def scope(self, value):
        """Set the gate for the calls inside the ``with`` block, then restore the one
        before."""
        previous = self.value, self.all_on
        self.value = value
        # checked once here, not in every layer (a tensor check would sync a GPU per layer)
        self.all_on = value is not None and (
            bool((value == 1).all()) if isinstance(value, torch.Tensor) else value == 1)
        try:
            yield
        finally:
            self.value, self.all_on = previous


def _gated_linear(layer: nn.Linear, x: torch.Tensor, update, merged) -> torch.Tensor:
    """``layer``'s own output plus ``update(x)`` times the layer's gate (skipped where off;
    where on everywhere, one matmul with the weight ``merged()``)."""
    gate = layer.gate.value
    if gate is None or (isinstance(gate, (int, float)) and gate == 0):
        return F.linear(x, layer.weight, layer.bias)
    if layer.gate.all_on:
        return F.linear(x, merged(), layer.bias)
    out = F.linear(x, layer.weight, layer.bias)
    delta = update(x)
    if isinstance(gate, torch.Tensor):
        gate = gate.to(delta.dtype)
    return out + delta * gate


class GatedLoRALinear(nn.Linear):
    """``nn.Linear`` plus a gated low-rank update; its ``weight`` / ``bias`` keep their names,
    so pretrained checkpoints load unchanged (``lora_A`` / ``lora_B`` are new keys).

    Args:
        linear: The layer to adapt (its parameters are reused, not copied).
        rank: Rank of the update.
        alpha: Scale numerator: the update is ``(alpha / rank) * B @ A``.
        gate: The model's shared :class:`LoRAGate`.
    """

    def __init__(self, linear: nn.Linear, rank: int, alpha: float, gate: LoRAGate):
        nn.Module.__init__(self)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        factory = dict(device=linear.weight.device, dtype=linear.weight.dtype)
        self.lora_A = nn.Parameter(torch.empty(rank, self.in_features, **factory))
        # B starts at zero: before training the adapted model *is* the pretrained one
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = float(alpha) / rank
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gated_linear(
            self, x, lambda h: F.linear(F.linear(h, self.lora_A), self.lora_B) * self.scaling,
            lambda: torch.addmm(self.weight, self.lora_B, self.lora_A, alpha=self.scaling))

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, rank={self.lora_A.shape[0]}, '
                f'scaling={self.scaling:g}')


class GatedEmbeddingDelta(nn.Linear):
    """The LM's (tied) output embedding plus a gated full-rank delta of the embedding table.

    Words the pretrained model never produced (a video caption's "parked", a change
    caption's "appeared") have untrained embedding rows that a low-rank update of the
    layers cannot reach; ``delta`` (zeros at start) moves any row, for the adapted samples
    only. The same delta is added to the *input* embeddings of those samples
    (:meth:`embed_delta`), as the table is tied. Off by default: in the demo's tuning
    (seed 7) it garbled the captions of every new modality at the LoRA's LR and learned
    fewer cells at a twentieth of it (64 vs 68 of 80 without it).

    Args:
        head: The LM's output embedding (its weight is reused).
        gate: The model's shared :class:`LoRAGate`.
    """

    def __init__(self, head: nn.Linear, gate: LoRAGate):
        nn.Module.__init__(self)
        self.in_features, self.out_features = head.in_features, head.out_features
        self.weight = head.weight
        self.bias = head.bias
        self.delta = nn.Parameter(torch.zeros_like(head.weight))
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _gated_linear(self, x, lambda h: F.linear(h, self.delta),
                             lambda: self.weight + self.delta)

    def embed_delta(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``delta`` rows of ``input_ids`` (to add, gated, to the input embeddings)."""
        return F.embedding(input_ids, self.delta)


def add_gated_lora(model: nn.Module, parts: tuple[str, ...], rank: int, alpha: float,
                   gate: LoRAGate, exclude: tuple[str, ...] = ()) -> list[str]:
    """Replace every ``nn.Linear`` under ``parts`` of ``model`` by a :class:`GatedLoRALinear`.

    Args:
        model: The model whose sub-modules are adapted in place.
        parts: Attribute names of the adapted sub-modules (e.g. ``('vision', 'lm')``).
        rank: LoRA rank (``>= 1``).
        alpha: LoRA scale numerator.
        gate: The shared gate.
        exclude: Glob patterns over module names (relative to ``model``) left alone.

    Returns:
        The names of the adapted layers.

    Raises:
        ValueError: on a bad rank, an unknown part, or a part without linear layers.
    """
    if int(rank) < 1:
        raise ValueError(f'modality_lora rank must be >= 1, got {rank!r}')
    adapted = []
    for part in parts:
        root = getattr(model, part, None)
        if not isinstance(root, nn.Module):
            raise ValueError(f'modality_lora: the model has no part {part!r} '
                             '(parts are attributes such as vision, aligner, lm)')
        found = 0
        for name, module in list(root.named_modules()):
            full = f'{part}.{name}' if name else part
            if type(module) is not nn.Linear or match_any(full, exclude):
                continue
            parent_name, _, child = name.rpartition('.')
            parent = root.get_submodule(parent_name) if parent_name else root
            setattr(parent, child, GatedLoRALinear(module, int(rank), alpha, gate))
            adapted.append(full)
            found += 1
        if not found:
            raise ValueError(f'modality_lora: part {part!r} has no nn.Linear layer to adapt')
    return adapted
