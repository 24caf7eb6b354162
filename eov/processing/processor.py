"""The processor: one object owns tokenizer, SLIS serializer, chat template and ``<image>`` expansion.

The training pipeline (:class:`~eov.datasets.transforms.TokenizeConversation`),
the model (:class:`~eov.models.EarthOneVision` holds one as ``model.processor``),
the inferencer and the Hugging Face export all go through an
:class:`EOVProcessor`, so the token ids of a prompt are made in one place.

Chat format (ChatML without a system turn)::

    <|im_start|>user\\n{question with <image> placeholders}<|im_end|>\\n
    <|im_start|>assistant\\n{answer}<|im_end|>\\n

Each ``<image>`` placeholder becomes ``image_tokens[modality]`` copies of the
image token, which the model replaces with the aligned visual features.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Sequence

import torch

from eov.utils.constants import IGNORE_INDEX, IMAGE_PLACEHOLDER
from eov.utils.errors import RecordError

from .tokenizer import IM_END, IM_START, IMAGE_TOKEN, PAD_TOKEN, build_tokenizer

#: File the processor's settings are saved in (next to the tokenizer files).
PROCESSOR_CONFIG = 'processor_config.json'
#: Jinja chat template equal to :meth:`EOVProcessor.chat_text` (for HF tools).
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


class ProcessorError(RecordError):
    """A conversation the processor cannot turn into tokens (names the record)."""


class EOVProcessor:
    """Tokenizer + SLIS serializer + chat template + ``<image>`` expansion.

    Args:
        tokenizer: Local HF tokenizer directory, ``None`` for eov's committed
            tiny tokenizer, or a tokenizer object.
        serializer: SLIS serializer config or object; its special tokens are
            part of the vocabulary.
        image_tokens: Visual tokens per image: ``{modality: n}``, an int for
            every modality, or ``'auto'`` (filled in from the model: the
            model's own processor and eov's runner do it).
        max_length: Longest token sequence allowed; longer ones are an error
            naming the record (never silently truncated).
        image_wrap: ``(before, after)`` text around each image's tokens, as the model was
            trained to see them (InternVL: ``('<img>', '</img>')``); ``None`` reads it from
            the tokenizer directory's ``processor_config.json`` (an export), else none.
    """

    def __init__(self, tokenizer=None, serializer=None, image_tokens: int | dict | str = 'auto',
                 max_length: int = 2048, image_wrap=None):
        from eov.registry import SERIALIZERS, build_from_any
        self.serializer_cfg = serializer
        self.serializer = build_from_any(serializer, SERIALIZERS) if serializer is not None \
            else None
        if isinstance(tokenizer, (str, os.PathLike)) or tokenizer is None:
            self.tokenizer_path = None if tokenizer is None else os.fspath(tokenizer)
            self._tok = None
        else:
            self.tokenizer_path, self._tok = getattr(tokenizer, 'name_or_path', None), tokenizer
        if isinstance(image_tokens, dict):
            image_tokens = {str(k): int(v) for k, v in image_tokens.items()}
        elif image_tokens != 'auto':
            image_tokens = int(image_tokens)
        self.image_tokens = image_tokens
        self.max_length = int(max_length)
        if image_wrap is None and self.tokenizer_path is not None:
            saved = os.path.join(self.tokenizer_path, PROCESSOR_CONFIG)
            if os.path.isfile(saved):
                with open(saved, encoding='utf-8') as f:
                    image_wrap = json.load(f).get('image_wrap')
        if image_wrap is not None and (len(image_wrap) != 2 or
                                       not all(isinstance(t, str) for t in image_wrap)):
            raise ValueError(f'image_wrap must be two strings (before, after), got {image_wrap!r}')
        self.image_wrap = None if image_wrap is None else tuple(image_wrap)

    # -- parts ------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The HF tokenizer (built lazily, so the processor pickles cheaply into workers)."""
        if self._tok is None:
            self._tok = build_tokenizer(self.tokenizer_path, serializer=self.serializer_cfg)
        return self._tok

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.tokenizer_path is not None or state['_tok'] is None or \
                self.serializer_cfg is not None:
            state['_tok'] = None   # rebuilt from path + serializer (the shared cached one)
        return state

    def token_id(self, token: str) -> int:
        """Id of one special token (``<image>``, ``<|im_end|>`` ...)."""
        return self.tokenizer.convert_tokens_to_ids(token)

    @property
    def image_token_id(self) -> int:
        return self.token_id(IMAGE_TOKEN)

    @property
    def eos_token_id(self) -> int:
        return self.token_id(IM_END)

    @property
    def pad_token_id(self) -> int:
        return self.token_id(PAD_TOKEN)

    def __len__(self) -> int:
        return len(self.tokenizer)

    def tokens_for(self, modality: str | None, source=None) -> int:
        """Visual tokens one sample of ``modality`` becomes.

        Raises:
            ProcessorError: when the counts are still ``'auto'`` or lack ``modality``.
        """
        if self.image_tokens == 'auto':
            raise ProcessorError(
                f"{source or 'processor'}: image_tokens='auto' takes the model's "
                "visual-token counts, filled in by eov's runner (runner_type='EOVRunner'); "
                'outside a runner call eov.engine.fill_config_image_tokens(cfg) first, or '
                'give the counts ({modality: n})')
        if isinstance(self.image_tokens, int):
            return self.image_tokens
        if modality not in self.image_tokens:
            raise ProcessorError(f'{source or "processor"}: no image_tokens for modality '
                                 f'{modality!r} (given: {", ".join(self.image_tokens)})')
        return self.image_tokens[modality]

    # -- text -------------------------------------------------------------------
    @staticmethod
    def chat_text(messages: Sequence[tuple[str, str]], add_generation_prompt: bool = False) -> str:
        """The conversation as text in eov's chat format (what :data:`CHAT_TEMPLATE` renders)."""
        text = ''.join(f'{IM_START}{role}\n{content}{IM_END}\n' for role, content in messages)
        return text + (f'{IM_START}assistant\n' if add_generation_prompt else '')

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)['input_ids']

    def _ids_with_images(self, text: str, n_tokens: int | None, source) -> list[int]:
        pieces = text.split(IMAGE_PLACEHOLDER)
        ids: list[int] = []
        before, after = (self._ids(t) for t in self.image_wrap or ('', ''))
        for i, piece in enumerate(pieces):
            if i:
                ids.extend(before + [self.image_token_id] * n_tokens + after)
            if piece:
                ids.extend(self._ids(piece))
        return ids

    def encode(self, messages: Sequence[tuple[str, str]], modality: str | None = None,
               add_generation_prompt: bool = False, source=None) -> dict[str, torch.Tensor]:
        """Tokenize a conversation, with loss labels on the assistant answers only.

        Args:
            messages: ``(role, text)`` pairs, roles ``user``/``assistant``,
                alternating and starting with ``user``.
            modality: Picks the visual-token count of the ``<image>`` placeholders.
            add_generation_prompt: End with ``<|im_start|>assistant\\n`` (generation).
            source: Name of the record (file:line or id) used in errors.

        Returns:
            ``{'input_ids': (L,) long, 'labels': (L,) long}``.

        Raises:
            ProcessorError: an empty conversation, a turn that is not text, a
                sequence over ``max_length``, or nothing to learn from.
        """
        if not messages:
            raise ProcessorError(f'{source or "conversation"}: no messages to encode')
        start, end = self.token_id(IM_START), self.eos_token_id
        newline = self._ids('\n')
        input_ids: list[int] = []
        labels: list[int] = []
        for i, (role, text) in enumerate(messages):
            if not isinstance(text, str):
                raise ProcessorError(f'{source or "conversation"}: message {i} ({role}) is '
                                     f'not text: {text!r}')
            header = [start] + self._ids(role) + newline
            if role == 'user':
                n = self.tokens_for(modality, source) if IMAGE_PLACEHOLDER in text else None
                body = self._ids_with_images(text, n, source) + [end] + newline
                input_ids += header + body
                labels += [IGNORE_INDEX] * (len(header) + len(body))
            elif role == 'assistant':
                answer = self._ids(text) + [end]
                input_ids += header + answer + newline
                labels += [IGNORE_INDEX] * len(header) + answer + [IGNORE_INDEX] * len(newline)
            else:
                raise ProcessorError(f'{source or "conversation"}: message {i} has role '
                                     f"{role!r}; roles are 'user' and 'assistant'")
        if add_generation_prompt:
            header = [start] + self._ids('assistant') + newline
            input_ids += header
            labels += [IGNORE_INDEX] * len(header)
        if len(input_ids) > self.max_length:
            raise ProcessorError(f'{source or "conversation"}: {len(input_ids)} tokens exceed '
                                 f'max_length={self.max_length}')
        if not add_generation_prompt and all(v == IGNORE_INDEX for v in labels):
            raise ProcessorError(f'{source or "conversation"}: no assistant answer to learn from')
        return dict(input_ids=torch.tensor(input_ids, dtype=torch.long),
                    labels=torch.tensor(labels, dtype=torch.long))

    def encode_prompt(self, question: str, modality: str | None = None, source=None) -> dict:
        """Tokens of one user question ready for generation (an :meth:`encode` shortcut)."""
        return self.encode([('user', question)], modality=modality, add_generation_prompt=True,
                           source=source)

    def decode(self, ids: Iterable[int]) -> str:
        """Generated ids -> answer text: cut at the end token, padding dropped."""
        ids = [int(t) for t in ids]
        if self.eos_token_id in ids:
            ids = ids[:ids.index(self.eos_token_id)]
        ids = [t for t in ids if t != self.pad_token_id]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    # -- persistence ----------------------------------------------------------------
    def to_dict(self) -> dict:
        """The processor's settings (JSON-serialisable), without the tokenizer files."""
        serializer = self.serializer_cfg
        if serializer is not None and not isinstance(serializer, dict):
            raise TypeError('a processor built from a serializer object cannot be saved; '
                            'build it from a serializer config')
        return dict(processor_class=type(self).__name__,
                    serializer=None if serializer is None else dict(serializer),
                    image_tokens=self.image_tokens, max_length=self.max_length,
                    chat_template=CHAT_TEMPLATE, image_placeholder=IMAGE_PLACEHOLDER,
                    image_wrap=None if self.image_wrap is None else list(self.image_wrap))

    def save_pretrained(self, directory: str, extra: dict | None = None) -> str:
        """Write the tokenizer (HF ``save_pretrained``) and ``processor_config.json``.

        Args:
            directory: Output directory (created).
            extra: More settings stored in ``processor_config.json`` (the
                model's modalities and sensor specs, say).

        Returns:
            The path of ``processor_config.json``.
        """
        os.makedirs(directory, exist_ok=True)
        tok = self.tokenizer
        old_template = getattr(tok, 'chat_template', None)
        tok.chat_template = CHAT_TEMPLATE
        try:
            tok.save_pretrained(directory)
        finally:
            tok.chat_template = old_template
        path = os.path.join(directory, PROCESSOR_CONFIG)
        with open(path, 'w', encoding='utf-8') as f:
            json.dump({**self.to_dict(), **(extra or {})}, f, indent=2)
        return path

    @classmethod
    def from_pretrained(cls, directory: str) -> 'EOVProcessor':
        """Load a processor written by :meth:`save_pretrained` (local directory only).

        Raises:
            FileNotFoundError: naming the missing directory or file.
        """
        path = os.path.join(directory, PROCESSOR_CONFIG)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{directory}: no {PROCESSOR_CONFIG} (not an eov export; '
                                    'write one with tools/export_hf.py)')
        with open(path, encoding='utf-8') as f:
            cfg = json.load(f)
        return cls(tokenizer=directory, serializer=cfg.get('serializer'),
                   image_tokens=cfg.get('image_tokens', 'auto'),
                   max_length=cfg.get('max_length', 2048), image_wrap=cfg.get('image_wrap'))
