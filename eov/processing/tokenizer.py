"""Tokenizers: eov's tiny built-in one, local HF ones, and SLIS special tokens.

Nothing here downloads: the default tokenizer is committed in
``eov/assets/tokenizer/tokenizer.json`` (a byte-level BPE trained on the
project's own text by ``tools/build_tokenizer.py``); other tokenizers load from
local directories only.
"""
from __future__ import annotations

import functools
import inspect
import os
from typing import Iterable

#: Directory of the committed default tokenizer.
DEFAULT_TOKENIZER_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                     'assets', 'tokenizer')
#: Control tokens of eov's conversation format.
PAD_TOKEN = '<|endoftext|>'
IM_START = '<|im_start|>'
IM_END = '<|im_end|>'
IMAGE_TOKEN = '<image>'
CONTROL_TOKENS = (PAD_TOKEN, IM_START, IM_END, IMAGE_TOKEN)


def add_special_tokens(tokenizer, tokens: Iterable[str], model=None) -> int:
    """Add ``tokens`` to any HF tokenizer (and grow ``model``'s embeddings).

    Args:
        tokenizer: A ``transformers`` tokenizer.
        tokens: Tokens that must each map to one id (e.g. a serializer's
            :meth:`special_tokens`).
        model: Optional HF model whose input/output embeddings are resized to
            the new vocabulary.

    Returns:
        Number of tokens that were new.
    """
    vocab = tokenizer.get_vocab()
    new = [t for t in dict.fromkeys(tokens) if t not in vocab]
    added = 0
    if new:
        # the keyword is replace_extra_special_tokens in transformers >= 5, else (4.x)
        # replace_additional_special_tokens
        keep = 'replace_extra_special_tokens' if 'replace_extra_special_tokens' in \
            inspect.signature(tokenizer.add_special_tokens).parameters \
            else 'replace_additional_special_tokens'
        added = tokenizer.add_special_tokens({'additional_special_tokens': new}, **{keep: False})
    if model is not None and model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return added


def add_serializer_tokens(tokenizer, serializer, model=None) -> int:
    """Add a SLIS serializer's special tokens to any HF tokenizer.

    Args:
        tokenizer: A ``transformers`` tokenizer (modified in place).
        serializer: Serializer object or config (``SERIALIZERS``).
        model: Optional HF model whose embeddings are resized to match.

    Returns:
        Number of tokens that were new (0 when called again).
    """
    from eov.registry import SERIALIZERS, build_from_any
    return add_special_tokens(tokenizer, build_from_any(serializer, SERIALIZERS).special_tokens(),
                              model=model)


def _quiet_auto_tokenizer(auto_cls, path: str):
    """``AutoTokenizer.from_pretrained`` of a local directory.

    An eov export keeps its ``config.json`` (model type ``earth_one_vision``,
    unknown to transformers) beside the tokenizer files; transformers reads it
    and warns that the model type does not match. That one warning is dropped.
    """
    import logging
    cfg_logger = logging.getLogger('transformers.configuration_utils')
    old = cfg_logger.level
    if os.path.isfile(os.path.join(path, 'processor_config.json')):
        cfg_logger.setLevel(logging.ERROR)
    try:
        return auto_cls.from_pretrained(path, local_files_only=True)
    finally:
        cfg_logger.setLevel(old)


@functools.lru_cache(maxsize=8)
def _cached_tokenizer(path: str | None, extra: tuple[str, ...]):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast
    if path is None or os.path.abspath(path) == os.path.abspath(DEFAULT_TOKENIZER_DIR):
        file = os.path.join(DEFAULT_TOKENIZER_DIR, 'tokenizer.json')
        tok = PreTrainedTokenizerFast(tokenizer_file=file, eos_token=IM_END,
                                      pad_token=PAD_TOKEN, bos_token=None,
                                      unk_token=None)
    else:
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f'tokenizer directory {path!r} does not exist (eov never downloads; '
                'give a local path)')
        tok = _quiet_auto_tokenizer(AutoTokenizer, path)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
    add_special_tokens(tok, CONTROL_TOKENS + extra)
    return tok


def clear_tokenizer_cache() -> None:
    """Forget the built tokenizers (after a tokenizer directory was rewritten)."""
    _cached_tokenizer.cache_clear()


def build_tokenizer(path: str | None = None, serializer=None,
                    extra_tokens: Iterable[str] = ()):
    """Build the tokenizer for a model/dataset pair.

    The same arguments always give the same vocabulary, so a dataset and a
    model built from one config agree on every id.

    Args:
        path: Local HF tokenizer directory; ``None`` for eov's tiny default.
        serializer: SLIS serializer (config or object) whose special tokens
            are added.
        extra_tokens: More tokens to add.

    Returns:
        A ``transformers`` fast tokenizer (shared, do not mutate).
    """
    tokens: tuple[str, ...] = ()
    if serializer is not None:
        from eov.registry import SERIALIZERS, build_from_any
        tokens += tuple(build_from_any(serializer, SERIALIZERS).special_tokens())
    tokens += tuple(extra_tokens)
    return _cached_tokenizer(path, tokens)
