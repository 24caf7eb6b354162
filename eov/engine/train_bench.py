"""Training-step throughput: eov's packed path against a padded HF-style baseline.

Both run the same model on the same variable-length synthetic samples in the
same process: ``packed`` packs them into varlen rows (first-fit decreasing,
the attention backend's packed function with ``cu_seqlens``), ``padded`` pads
them into one batch and runs transformers' SDPA attention with a mask -- the
way a plain timm ViT + MLP + HF LM training loop does it.
"""
from __future__ import annotations

import random
import time
from typing import Iterator

import torch


def synthetic_samples(model, n_tokens: int, min_len: int, max_len: int,
                      rng: random.Random, modality: str = 'optical') -> list[dict]:
    """Samples (as ``PackSample`` gives them) whose lengths are drawn in ``[min_len, max_len]``.

    Each holds one image (its visual tokens count towards the length), random
    prompt tokens and an answer of 8 tokens; lengths are drawn until they sum
    to at least ``n_tokens``.
    """
    n_img = model.num_image_tokens(modality=modality)
    m = model.modalities[modality]
    vocab = len(model.tokenizer)
    out, total = [], 0
    while total < n_tokens:
        length = rng.randint(max(min_len, n_img + 16), max(max_len, n_img + 16))
        prompt = length - n_img - 8
        ids = [rng.randrange(8, vocab - 8) for _ in range(prompt)] + \
            [model.image_token_id] * n_img + [rng.randrange(8, vocab - 8) for _ in range(8)]
        labels = [-100] * (length - 8) + ids[-8:]
        pixels = torch.randn(m.num_channels, *m.image_size)
        out.append(dict(inputs=dict(input_ids=torch.tensor(ids), labels=torch.tensor(labels),
                                    images=[dict(modality=modality, pixels=pixels)]),
                        data_sample=dict(id=f'synthetic-{len(out)}')))
        total += length
    return out


def _peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of known GPUs (for MFU), else None."""
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in (('H200', 989e12), ('H100', 989e12), ('A100', 312e12))
                 if key in name), None)


def benchmark_train_step(model, device: str = 'cpu', steps: int = 5, warmup: int = 2,
                         min_len: int = 32, max_len: int = 256, tokens_per_step: int = 2048,
                         seed: int = 0) -> Iterator[dict]:
    """Measure ``packed`` and ``padded`` training steps on identical samples.

    Args:
        model: An :class:`~eov.models.EarthOneVision` (moved to ``device`` here).
        device: ``'cpu'`` or ``'cuda'``.
        steps: Timed steps per implementation.
        warmup: Untimed steps first.
        min_len: Shortest sample (tokens, image included).
        max_len: Longest sample; also the packed row capacity.
        tokens_per_step: Real tokens per step (samples are drawn until reached).
        seed: Seed of the sample lengths and contents.

    Yields:
        One dict per implementation: ``impl``, ``tokens_per_s``,
        ``padding_fraction``, ``step_ms``, ``peak_mem_gb`` and ``mfu`` (CUDA).
    """
    from eov.datasets import instruction_collate, packed_collate
    dev = torch.device(device)
    model = model.to(dev).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
    n_params = sum(p.numel() for p in model.parameters())
    autocast = torch.autocast('cuda', dtype=torch.bfloat16) if dev.type == 'cuda' \
        else torch.autocast('cpu', enabled=False)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else lambda: None
    rng = random.Random(seed)
    batches = [synthetic_samples(model, tokens_per_step, min_len, max_len, rng)
               for _ in range(warmup + steps)]
    for impl in ('packed', 'padded'):
        sync()
        if dev.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(dev)
        elapsed, tokens, pad_fracs = 0.0, 0, []
        for i, samples in enumerate(batches):
            data = packed_collate(samples, max_tokens=max_len) if impl == 'packed' \
                else instruction_collate(samples)
            inputs = model.data_preprocessor(data, True)['inputs']
            real = sum(len(s['inputs']['input_ids']) for s in samples)
            cells = inputs['input_ids'].numel()
            sync()
            start = time.perf_counter()
            with autocast:
                loss = model(inputs, mode='loss')['loss']
            loss.backward()
            optim.step()
            optim.zero_grad(set_to_none=True)
            sync()
            if i >= warmup:
                elapsed += time.perf_counter() - start
                tokens += real
                pad_fracs.append(1 - real / cells)
        tps = tokens / elapsed
        peak = _peak_flops(dev)
        yield {'bench': 'train-step', 'impl': impl, 'device': str(dev),
               'attention': model.attention.name if impl == 'packed' else 'sdpa (padded, mask)',
               'tokens_per_s': round(tps, 1), 'step_ms': round(1000 * elapsed / steps, 1),
               'padding_fraction': round(sum(pad_fracs) / len(pad_fracs), 4),
               'peak_mem_gb': round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
               if dev.type == 'cuda' else None,
               'mfu': round(6 * n_params * tps / peak, 4) if peak else None,
               'params': n_params, 'steps': steps, 'lengths': [min_len, max_len],
               'tokens_per_step': tokens_per_step}
