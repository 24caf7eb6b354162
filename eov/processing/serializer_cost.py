"""Token cost and speed of the SLIS serializers (``python tools/benchmark.py slis``).

Each serializer x geometry type is measured on the same seeded random objects:
mean tokens per object under eov's tiny tokenizer and under an ordinary
English byte-level BPE (trained offline on Python's reference prose, the way
GPT-2-style tokenizers are trained on web text), both with the serializer's
special tokens added, and encode/decode throughput in objects per second.
"""
from __future__ import annotations

import copy
import functools
import math
import random
import time
from typing import Iterator

from eov.slis.geometry import GEOMETRY_TYPES, obb_to_quad

#: Vertices of the benchmark polygons.
POLY_VERTICES = 8


def english_corpus() -> list[str]:
    """Ordinary English prose available offline: the Python reference's topic texts."""
    import pydoc_data.topics
    return list(pydoc_data.topics.topics.values())


@functools.lru_cache(maxsize=2)
def build_english_bpe(vocab_size: int = 8192):
    """Train a GPT-2-style byte-level BPE on :func:`english_corpus` (a few seconds).

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` (shared: copy before adding tokens).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=['<|endoftext|>'],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(english_corpus(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token='<|endoftext|>')


def random_objects(kind: str, n: int, image_size: tuple[int, int], seed: int = 0) -> list[dict]:
    """``n`` seeded random objects of one geometry type inside the image."""
    rng = random.Random(f'{kind}-{seed}')
    width, height = image_size
    out = []
    for _ in range(n):
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        w, h = rng.uniform(0.02, 0.3) * width, rng.uniform(0.02, 0.3) * height
        if kind == 'hbb':
            out.append({'type': 'hbb', 'bbox': [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]})
        elif kind in ('obb', 'quad'):
            obb = [cx, cy, max(w, h), min(w, h), rng.uniform(-90, 90)]
            out.append({'type': 'obb', 'obb': obb} if kind == 'obb'
                       else {'type': 'quad', 'points': obb_to_quad(obb)})
        elif kind == 'poly':
            angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(POLY_VERTICES))
            out.append({'type': 'poly', 'points': [
                [cx + w / 2 * math.cos(a), cy + h / 2 * math.sin(a)] for a in angles]})
        else:
            out.append({'type': 'point', 'point': [cx, cy]})
    return out


def _rate(fn, items, min_seconds: float) -> float:
    """Items per second of ``fn`` over ``items``, repeated for at least ``min_seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        for item in items:
            fn(item)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def benchmark_serializers(serializers: dict[str, dict], n: int = 200,
                          image_size: tuple[int, int] = (1024, 1024),
                          min_seconds: float = 0.2, seed: int = 0) -> Iterator[dict]:
    """Measure every serializer x geometry type.

    Args:
        serializers: ``{display name: serializer config}``.
        n: Objects per geometry type.
        image_size: ``(W, H)`` the objects live in.
        min_seconds: Minimum timing window per throughput figure.
        seed: Seed of the random objects.

    Yields:
        One flat dict per serializer x geometry type.
    """
    from eov.processing.tokenizer import add_serializer_tokens, build_tokenizer
    from eov.registry import SERIALIZERS, build_from_any
    english_base = build_english_bpe()
    for name, cfg in serializers.items():
        serializer = build_from_any(cfg, SERIALIZERS)
        tiny = build_tokenizer(None, serializer=cfg)
        english = copy.deepcopy(english_base)
        add_serializer_tokens(english, serializer)
        for kind in GEOMETRY_TYPES:
            objects = random_objects(kind, n, image_size, seed)
            texts = [serializer.encode([o], image_size) for o in objects]
            tokens = {label: sum(len(tok(t, add_special_tokens=False)['input_ids'])
                                 for t in texts) / n
                      for label, tok in (('tiny', tiny), ('english_bpe', english))}
            decoded = [serializer.decode(t, image_size) for t in texts]
            yield {
                'bench': 'slis', 'serializer': name, 'geometry': kind,
                'tokens_per_object_tiny': round(tokens['tiny'], 3),
                'tokens_per_object_english_bpe': round(tokens['english_bpe'], 3),
                'chars_per_object': round(sum(map(len, texts)) / n, 2),
                'parse_rate': sum(len(d) == 1 and not d.errors for d in decoded) / n,
                'encode_objects_per_s': round(_rate(
                    lambda o: serializer.encode([o], image_size), objects, min_seconds)),
                'decode_objects_per_s': round(_rate(
                    lambda t: serializer.decode(t, image_size), texts, min_seconds)),
                'n_objects': n, 'image_size': list(image_size),
                'english_bpe_vocab': len(english_base),
            }


#: The serializers ``tools/benchmark.py slis`` measures by default.
DEFAULT_SERIALIZERS = {
    'LocTokenSerializer': dict(type='LocTokenSerializer', bins=1000),
    'GeoChatTextSerializer': dict(type='GeoChatTextSerializer'),
    'NormalizedTextSerializer': dict(type='NormalizedTextSerializer'),
    'QwenTextSerializer': dict(type='QwenTextSerializer'),
}
