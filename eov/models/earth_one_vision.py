"""EarthOneVision: sensor adapters -> ViT -> FGVLA aligner -> causal LM."""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import nn

from eov.registry import ALIGNERS, ATTENTION, MODALITIES, MODELS, build_from_any
from eov.utils.constants import IGNORE_INDEX

from .language import build_causal_lm

#: How answer tokens are weighted in the loss (:meth:`EarthOneVision.token_weights`).
LOSS_WEIGHTINGS = ('token', 'sample', 'sqrt')


@contextlib.contextmanager
def use_attention(lm, name: str):
    """Run ``lm`` with attention implementation ``name`` inside the block.

    transformers reads ``config._attn_implementation`` at every call (to pick
    the attention function and the mask factory), so packed batches can use
    eov's registered varlen function while generation keeps the padded one.
    """
    configs = {id(c): c for c in (lm.config, getattr(lm.config, 'get_text_config',
                                                       lambda: lm.config)())}.values()
    saved = [(c, c._attn_implementation) for c in configs]
    try:
        for c, _ in saved:
            c._attn_implementation = name
        yield
    finally:
        for c, old in saved:
            c._attn_implementation = old


@MODELS.register_module()
class EarthOneVision(BaseModel):
    """One autoregressive model for every sensor modality and task.

    Data flow: each modality's input adapter maps its bands to the backbone's
    input; the ViT returns features of several depths; the FGVLA aligner maps
    them into the LM embedding space, where they replace the ``<image>``
    tokens of the prompt; the LM predicts the answer text. The loss covers
    answer tokens only.

    Args:
        vision: Vision backbone config (``MODELS``, e.g. ``TimmViT``).
        aligner: FGVLA aligner config (``ALIGNERS``); ``in_dim``,
            ``num_levels`` and ``out_dim`` are filled in.
        language: ``dict(config=..., pretrained=...)`` for
            :func:`~eov.models.language.build_causal_lm`.
        modalities: ``{name: modality config}``; each brings its input adapter.
        serializer: SLIS serializer config; its special tokens are added to
            the tokenizer and the LM embeddings are resized.
        tokenizer: Local tokenizer directory (``None``: eov's tiny default).
        attention: Attention backend name or config (``ATTENTION``).
        loc_label_sigma: If > 0, location tokens are trained against a
            Gaussian over neighbouring bins (std in bins) instead of one-hot,
            so a near miss costs less than a far one.
        loc_embed_init: ``'sincos'`` starts the location-token embeddings as
            sine-cosine codes of their bin centres in the backbone's patch
            grid, the same family of codes as a ``pos_embed_init='sincos'``
            ViT (see :mod:`eov.models.pos_embed`); ``None`` keeps random init.
            Both location-token options are skipped (with one log line) when
            the serializer has no location tokens, so switching serializer is
            one config line.
        max_new_tokens: Generation budget at test time; ``'auto'`` sizes it
            to the serializer's text for ``max_objects`` boxes.
        max_objects: Objects an answer may hold when ``max_new_tokens='auto'``.
        loss_weighting: ``'token'`` (every answer token alike), ``'sample'``
            (every sample alike, so one-token answers -- yes/no, counts, choices
            -- are not drowned by captions and detections) or ``'sqrt'`` (a
            sample weighs the square root of its answer length).
        resize_embeddings: ``'exact'`` resizes the LM's embedding table to the
            tokenizer's length whenever they differ; ``'grow'`` resizes only
            when the tokenizer is larger, keeping a table padded beyond the
            tokenizer (as pretrained Qwen2.5 checkpoints have) and its
            ``vocab_size`` unchanged.
        modality_lora: ``None`` (every weight is shared as is), or
            ``dict(rank=32, alpha=32, frozen_modalities=('optical',),
            parts=('vision', 'aligner', 'lm'), embeddings=False)``: every
            linear layer of those parts gains a low-rank update (and, with
            ``embeddings=True``, the tied token embedding table a full-rank delta)
            that acts only on samples holding an image of a modality *not* in
            ``frozen_modalities`` (entry names), so the frozen modalities keep
            the pretrained model's outputs exactly while the others adapt
            (:mod:`eov.models.lora`; train ``'*.lora_*'`` -- and
            ``'lm.lm_head.delta'`` -- and the new adapters).
        image_wrap: ``(before, after)`` text around each image's tokens in prompts (an
            imported InternVL: ``('<img>', '</img>')``); see :class:`EOVProcessor`.
        loss_normalization: ``'global'``: with several processes each one's summed loss
            is divided by the weight (answer tokens, for ``'token'``) of *all* processes'
            batches (all-reduced), so N processes x b samples train as 1 x N*b whatever
            the answer lengths; ``'local'``: each process averages over its own batch (as
            HF / MMEngine do). One process: the same. With gradient accumulation,
            ``'global'`` also divides by the weight of all micro-batches of the optimizer
            step (:class:`~eov.engine.loops.EOVIterTrainLoop` reads their labels first).
        data_preprocessor: MMEngine data preprocessor config.
        init_cfg: MMEngine init config.
    """

    def __init__(self, vision: dict, aligner: dict, language: dict, modalities: dict,
                 serializer: dict, tokenizer: str | None = None, attention='sdpa',
                 loc_label_sigma: float = 0.0, loc_embed_init: str | None = None,
                 max_new_tokens: int | str = 'auto', max_objects: int = 1,
                 resize_embeddings: str = 'exact', loss_weighting: str = 'token',
                 modality_lora: dict | None = None, image_wrap=None,
                 loss_normalization: str = 'global',
                 data_preprocessor: dict | None = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.vision = MODELS.build(vision)
        self.lm = build_causal_lm(attention=attention, **language)
        self.attention = build_from_any(dict(type=attention) if isinstance(attention, str)
                                        else attention, ATTENTION)
        from eov.processing import EOVProcessor
        # one processor owns tokenizer + serializer + chat format + <image> expansion;
        # its visual-token counts are filled in once the adapters exist
        self.processor = EOVProcessor(tokenizer=tokenizer, serializer=serializer,
                                      image_wrap=image_wrap)
        self.serializer = self.processor.serializer
        self.tokenizer = self.processor.tokenizer
        if resize_embeddings not in ('exact', 'grow'):
            raise ValueError("resize_embeddings must be 'exact' or 'grow', "
                             f'got {resize_embeddings!r}')
        num_embeddings = self.lm.get_input_embeddings().num_embeddings
        if num_embeddings < len(self.tokenizer) or (
                resize_embeddings == 'exact' and num_embeddings != len(self.tokenizer)):
            self.lm.resize_token_embeddings(len(self.tokenizer), mean_resizing=False)
        self.aligner = ALIGNERS.build(aligner, default_args=dict(
            in_dim=self.vision.embed_dim, num_levels=len(self.vision.out_indices),
            out_dim=self.lm.config.get_text_config().hidden_size))
        vision_info = dict(out_chans=self.vision.in_chans, embed_dim=self.vision.embed_dim,
                           patch_size=self.vision.patch_size, shared={})
        self.modalities = {name: build_from_any(cfg, MODALITIES)
                           for name, cfg in modalities.items()}
        self._check_image_sizes()
        self.adapters = nn.ModuleDict({name: m.build_adapter(vision_info)
                                       for name, m in self.modalities.items()})
        counts = {}
        for name in self.adapters:
            try:
                counts[name] = self.num_image_tokens(modality=name)
            except ValueError:   # e.g. pooled frames + compression: raised again where used
                continue
        self.processor.image_tokens = counts
        self.image_token_id = self.processor.image_token_id
        self.eos_token_id = self.processor.eos_token_id
        self.pad_token_id = self.processor.pad_token_id
        self.loc_label_sigma = float(loc_label_sigma)
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f'loss_weighting must be one of {", ".join(LOSS_WEIGHTINGS)}, '
                             f'got {loss_weighting!r}')
        self.loss_weighting = loss_weighting
        if loss_normalization not in ('global', 'local'):
            raise ValueError("loss_normalization must be 'global' or 'local', "
                             f'got {loss_normalization!r}')
        self.loss_normalization = loss_normalization
        self.max_new_tokens = self._resolve_max_new_tokens(max_new_tokens, max_objects)
        loc_tokens = getattr(self.serializer, 'loc_tokens', None)
        ids = self.tokenizer.convert_tokens_to_ids(loc_tokens()) if loc_tokens else []
        self.register_buffer('loc_token_ids', torch.tensor(ids, dtype=torch.long),
                             persistent=False)
        if loc_embed_init not in (None, 'sincos'):
            raise ValueError(f"loc_embed_init must be None or 'sincos', got {loc_embed_init!r}")
        if not ids and (loc_embed_init or self.loc_label_sigma > 0):
            print_log(f'{type(self.serializer).__name__} has no location tokens: '
                      'loc_embed_init and loc_label_sigma are not used', logger='current')
        elif loc_embed_init == 'sincos':
            self._init_loc_embeddings()
        # Qwen VLM text models place tokens by M-RoPE (temporal, height, width) positions
        self.mrope = bool(getattr(self.lm, 'uses_mrope', False))
        self.lora_gate = None
        self.lora_frozen = frozenset()
        if modality_lora:
            self._add_modality_lora(dict(modality_lora))

    def _add_modality_lora(self, cfg: dict) -> None:
        """Give the vision, aligner and LM linear layers modality-gated LoRA updates."""
        from .lora import GatedEmbeddingDelta, LoRAGate, add_gated_lora
        known = {'rank', 'alpha', 'frozen_modalities', 'parts', 'exclude', 'embeddings'}
        if set(cfg) - known:
            raise ValueError(f'modality_lora: unknown keys {sorted(set(cfg) - known)} '
                             f'(known: {", ".join(sorted(known))})')
        frozen = cfg.get('frozen_modalities', ('optical',))
        frozen = (frozen,) if isinstance(frozen, str) else tuple(frozen)
        unknown = [m for m in frozen if m not in self.modalities]
        if unknown:
            raise ValueError(f'modality_lora: frozen_modalities {unknown} are not modality '
                             f'entries of this model ({", ".join(self.modalities)})')
        rank = cfg.get('rank', 32)
        self.lora_gate = LoRAGate()
        self.lora_frozen = frozenset(frozen)
        # the output embedding is tied to the input embedding: never adapted
        out = self.lm.get_output_embeddings()
        head = [f'lm.{n}' for n, m in self.lm.named_modules() if m is out]
        layers = add_gated_lora(self, tuple(cfg.get('parts', ('vision', 'aligner', 'lm'))),
                                rank, cfg.get('alpha', rank), self.lora_gate,
                                exclude=tuple(cfg.get('exclude', ())) + tuple(head))
        if cfg.get('embeddings', False):
            if len(head) != 1 or '.' in head[0][len('lm.'):]:
                raise ValueError('modality_lora embeddings: the LM output embedding must be a '
                                 f'direct child of the LM, found {head}')
            setattr(self.lm, head[0][len('lm.'):], GatedEmbeddingDelta(out, self.lora_gate))
            layers.append(f'{head[0]} (embedding delta)')
        print_log(f'modality_lora: {len(layers)} linear layers gain rank-{rank} updates '
                  f'acting on every modality but {", ".join(frozen)}', logger='current')

    @property
    def lora_embedding(self):
        """The LM's :class:`~eov.models.lora.GatedEmbeddingDelta` head, or ``None``."""
        from .lora import GatedEmbeddingDelta
        head = self.lm.get_output_embeddings()
        return head if isinstance(head, GatedEmbeddingDelta) else None

    def _lora_scope(self, value):
        """Context that sets the LoRA gate (a no-op without ``modality_lora``)."""
        return contextlib.nullcontext() if self.lora_gate is None \
            else self.lora_gate.scope(value)

    def _lora_token_gate(self, inputs: dict, slot_flags: torch.Tensor) -> torch.Tensor:
        """``(R, L)`` gate per token: 1 on every token of a sample holding an image of
        an adapted (not frozen) modality, 0 elsewhere."""
        input_ids = inputs['input_ids']
        sample = self.sample_ids(input_ids, inputs.get('cu_seqlens'))
        active = torch.zeros(int(sample.max()) + 1, dtype=torch.bool, device=input_ids.device)
        active[sample[slot_flags]] = True
        return active[sample].float()

    def _check_image_sizes(self) -> None:
        """A modality's ``image_size`` must be one the backbone takes (named in the error)."""
        for name, modality in self.modalities.items():
            size = getattr(modality, 'image_size', None)
            problem = None if size is None else self.vision.image_size_problem(tuple(size))
            if problem:
                raise ValueError(f'modality {name!r} has image_size={tuple(size)} but {problem}')

    def _resolve_max_new_tokens(self, max_new_tokens, max_objects: int) -> int:
        """``'auto'``: tokens of ``max_objects`` image-spanning boxes, their
        separators and the end token, measured with this tokenizer."""
        if max_new_tokens != 'auto':
            return int(max_new_tokens)
        size = (1000, 1000)
        box = {'type': 'hbb', 'bbox': [111.1, 222.2, 999.9, 888.8]}
        text = self.serializer.encode([box] * max(1, int(max_objects)), size)
        n = len(self.tokenizer(text, add_special_tokens=False)['input_ids'])
        return n + 1 + max(1, int(max_objects))  # end token, slack per object

    def _init_loc_embeddings(self) -> None:
        """Write sine-cosine codes into the location-token embedding rows (``__init__`` calls
        it only when the serializer has location tokens)."""
        from .pos_embed import location_codes
        grid = max(self.vision.native_grid)
        tables = [self.lm.get_input_embeddings().weight]
        out = self.lm.get_output_embeddings()
        if out is not None and out.weight is not tables[0]:
            tables.append(out.weight)
        with torch.no_grad():
            for table in tables:
                if table.is_meta:  # built without storage (e.g. under torch.device('meta'))
                    continue
                codes = location_codes(self.loc_token_ids.numel(), grid, table.shape[1])
                codes = codes * (table.std() / codes.std())
                table[self.loc_token_ids] = codes.to(table.dtype)

    def init_weights(self) -> None:
        """Apply ``init_cfg`` only; never re-initialise the parts.

        Every part is initialised when it is built (random init, local
        checkpoints, sine-cosine codes). MMEngine's default ``init_weights``
        would call the HF model's own ``init_weights`` again, silently erasing
        pretrained language-model weights and eov's location-token codes.
        """
        if self.init_cfg:
            from mmengine.model import initialize
            initialize(self, self.init_cfg)
        self._is_init = True

    def enable_activation_checkpointing(self) -> str:
        """Recompute activations in the backward pass (LM decoder layers, ViT blocks).

        Set by ``strategy.activation_checkpointing`` (:mod:`eov.engine.strategies`).

        Returns:
            What was switched on, for the log.

        Raises:
            ValueError: with ``modality_lora``, whose gate is set around each
                forward and would be gone when the backward pass recomputes it.
        """
        if self.lora_gate is not None:
            raise ValueError('activation checkpointing and modality_lora do not work together '
                             '(the recomputed forward would run without the LoRA gate); '
                             'switch one of them off')
        done = []
        if getattr(self.lm, 'supports_gradient_checkpointing', False):
            kwargs = {'use_reentrant': False}
            if hasattr(self.lm, 'activation_checkpointing_enable'):   # transformers >= 5.2x
                self.lm.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                self.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            done.append(f'{type(self.lm).__name__} layers')
        vit = getattr(self.vision, 'vit', None)
        if vit is not None and hasattr(vit, 'set_grad_checkpointing'):
            vit.set_grad_checkpointing(True)
            done.append('vision blocks')
        return ', '.join(done) or 'nothing supports it'

    # -- helpers --------------------------------------------------------------
    def num_image_tokens(self, image_size: tuple[int, int] | None = None,
                         modality: str | None = None) -> int:
        """Visual tokens one sample of ``modality`` becomes (its adapter decides).

        Args:
            image_size: ``(H, W)`` of one frame; default the modality's.
            modality: Configured modality name; default a plain single image.
        """
        if modality is not None:
            if modality not in self.adapters:
                raise KeyError(f'the model has no modality {modality!r} '
                               f'(configured: {", ".join(self.adapters)})')
            image_size = image_size or self.modalities[modality].image_size
        h, w = self.vision.grid_size(image_size)
        if modality is None:
            return self.aligner.num_tokens((h, w))
        adapter_tokens = self.adapters[modality].num_tokens(h * w)
        return self.aligner.num_tokens_for(adapter_tokens, (h, w))

    def encode_images(self, pixel_values: dict[str, torch.Tensor], image_order: list,
                      image_extras: dict | None = None, return_adapted: bool = False):
        """Turn every image of the batch into aligned visual tokens.

        Args:
            pixel_values: ``{modality: (N_m, ...)}`` (``(N, C, H, W)`` for one
                image, ``(N, T, C, H, W)`` for temporal stacks).
            image_order: ``(modality, index)`` for each image in batch order.
            image_extras: ``{modality: {name: (N_m, ...)}}`` extra inputs of
                the adapters (e.g. ``frame_days``, ``frame_mask``).
            return_adapted: Also return a ``(total_visual_tokens,)`` bool tensor:
                True where the token's modality is adapted by ``modality_lora``.

        Returns:
            ``(total_visual_tokens, d_lm)`` in batch order (and the flags).
        """
        per_modality = {}
        for key, pixels in pixel_values.items():
            name, _, sensor = key.partition('@')   # '<modality>@<sensor>': a multi-sensor entry
            if name not in self.adapters:
                raise KeyError(f'the model has no input adapter for modality {name!r} '
                               f'(configured: {", ".join(self.adapters)})')
            extras = dict((image_extras or {}).get(key, {}))
            modality = self.modalities[name]
            if sensor:
                spec = (modality.sensors or {}).get(sensor)
                if spec is None:
                    raise KeyError(f'modality {name!r} has no sensor {sensor!r} '
                                   f'(configured: {", ".join(modality.sensors or [])})')
                extras['wavelengths'] = spec.wavelengths
            with self._lora_scope(0.0 if name in self.lora_frozen else 1.0):
                levels = self.adapters[name](pixels, self.vision, **extras)
                image_size = modality.image_size or tuple(pixels.shape[-2:])
                per_modality[key] = self.aligner(levels, grid=self.vision.grid_size(image_size))
        tokens = [per_modality[name][int(i)] for name, i in image_order]
        visual = torch.cat(tokens, dim=0)
        if not return_adapted:
            return visual
        adapted = torch.cat([
            torch.full((t.shape[0],), key.partition('@')[0] not in self.lora_frozen,
                       dtype=torch.bool, device=visual.device)
            for (key, _), t in zip(image_order, tokens)])
        return visual, adapted

    def image_grids(self, pixel_values: dict, image_order: list) -> list:
        """The LM-token grid ``(t, h, w)`` of each image in ``image_order`` (``t`` frames or
        band groups of ``h x w`` aligned tokens), or its token count where the aligner's
        tokens form no grid (e.g. LLaVA-OneVision's newline-closed rows)."""
        grids = []
        for key, _ in image_order:
            name = key.partition('@')[0]
            size = self.modalities[name].image_size or tuple(pixel_values[key].shape[-2:])
            h, w = self.vision.grid_size(tuple(size))
            per = self.aligner.num_tokens((h, w))
            n = self.num_image_tokens(tuple(size), name)
            step = round((h * w / per) ** 0.5) if per else 0
            if step and h % step == 0 and w % step == 0 and \
                    (h // step) * (w // step) == per and n % per == 0:
                grids.append((n // per, h // step, w // step))
            else:
                grids.append(n)
        return grids

    def mrope_positions(self, inputs: dict) -> torch.Tensor:
        """M-RoPE position ids of a batch (:func:`~eov.models.language.mrope_position_ids`):
        ``(3, R, L)`` for a padded batch; ``(4, 1, R*L)`` for a packed one, computed per
        packed sample, with the plain text positions first (the form Qwen's text models
        take for packed sequences)."""
        from .language import mrope_position_ids
        ids = inputs['input_ids']
        grids = iter(self.image_grids(inputs.get('pixel_values') or {},
                                      inputs.get('image_order') or []))
        if inputs.get('cu_seqlens') is None:
            return mrope_position_ids(ids, self.image_token_id, grids,
                                      inputs.get('attention_mask'))
        flat = ids.reshape(1, -1)
        bounds = inputs['cu_seqlens'].tolist()
        spatial = torch.cat([mrope_position_ids(flat[:, a:b], self.image_token_id, grids)
                             for a, b in zip(bounds[:-1], bounds[1:])], dim=2)
        text = inputs['position_ids'].reshape(1, 1, -1).to(spatial.device)
        return torch.cat([text, spatial], dim=0)

    def embed(self, inputs: dict, return_gate: bool = False, lm_kwargs: dict | None = None):
        """Text embeddings with ``<image>`` positions replaced by visual tokens.

        Args:
            inputs: The batch's inputs.
            return_gate: Also return the ``(R, L)`` per-token gate of
                ``modality_lora`` (``None`` without it).
            lm_kwargs: A dict that receives what the LM takes besides the embeddings: with
                a DeepStack aligner (Qwen3-VL), ``visual_pos_masks`` ``(R, L)`` and
                ``deepstack_visual_embeds`` (one ``(n_visual, d)`` tensor per level).
        """
        input_ids = inputs['input_ids']
        embeds = self.lm.get_input_embeddings()(input_ids)
        if not inputs.get('image_order'):
            if self.lora_gate is not None and return_gate:
                return embeds, torch.zeros(input_ids.shape, device=input_ids.device)
            return (embeds, None) if return_gate else embeds
        visual = self.encode_images(inputs['pixel_values'], inputs['image_order'],
                                    inputs.get('image_extras'),
                                    return_adapted=self.lora_gate is not None)
        if self.lora_gate is not None:
            visual, adapted = visual
        slots = input_ids == self.image_token_id
        n_slots = int(slots.sum())
        if n_slots != visual.shape[0]:
            per = {name: self.num_image_tokens(modality=name)
                   for name in sorted({m.partition('@')[0] for m, _ in inputs['image_order']})}
            raise ValueError(
                f'the batch has {n_slots} <image> token slots but its images give '
                f'{visual.shape[0]} visual tokens; TokenizeConversation.image_tokens must '
                f"equal the model's visual tokens per sample, {per} (leave it 'auto' and "
                "eov's runner fills them in)")
        if visual.dim() == 3:     # tokens + DeepStack features (QwenDeepStackMerger)
            if lm_kwargs is None:
                raise ValueError('the aligner gives DeepStack features: embed() needs '
                                 'lm_kwargs to hand them to the LM')
            lm_kwargs.update(visual_pos_masks=slots,
                             deepstack_visual_embeds=list(visual[:, 1:].unbind(1)))
            visual = visual[:, 0]
        embeds = embeds.masked_scatter(slots[..., None], visual.to(embeds.dtype))
        if not return_gate:
            return embeds
        if self.lora_gate is None:
            return embeds, None
        slot_flags = torch.zeros_like(slots)
        slot_flags[slots] = adapted
        gate = self._lora_token_gate(inputs, slot_flags)
        if self.lora_embedding is not None:   # image slots hold visual tokens: no delta there
            text_gate = (gate * (~slots).float())[..., None]
            embeds = embeds + text_gate.to(embeds.dtype) * \
                self.lora_embedding.embed_delta(input_ids).to(embeds.dtype)
        return embeds, gate

    @staticmethod
    def sample_ids(labels: torch.Tensor, cu_seqlens: torch.Tensor | None = None) -> torch.Tensor:
        """The sample each position of ``labels`` ``(R, L)`` belongs to.

        A padded batch has one sample per row; a packed one is split by
        ``cu_seqlens`` over the flattened ``R * L`` positions.
        """
        rows, length = labels.shape
        if cu_seqlens is None:
            return torch.arange(rows, device=labels.device)[:, None].expand(rows, length)
        flat = torch.arange(rows * length, device=labels.device)
        bounds = cu_seqlens.to(labels.device, torch.long)[1:]
        return torch.searchsorted(bounds, flat, right=True).reshape(rows, length)

    def token_weights(self, sample: torch.Tensor) -> torch.Tensor | None:
        """Loss weight of each answer token from its sample (``None``: plain token mean).

        ``'token'``: every answer token counts the same, so long answers (captions,
        detections) dominate; ``'sample'``: every sample counts the same (its tokens
        share a weight of one); ``'sqrt'``: a sample of ``n`` answer tokens weighs
        ``sqrt(n)``. Not normalised (:meth:`answer_loss` divides by their sum).
        """
        if self.loss_weighting == 'token':
            return None
        _, inverse, counts = torch.unique(sample, return_inverse=True, return_counts=True)
        per = counts.float().reciprocal() if self.loss_weighting == 'sample' \
            else counts.float().rsqrt()
        return per[inverse]

    def loss_denominator(self, local: torch.Tensor, total: float | None = None
                         ) -> tuple[torch.Tensor | float, int]:
        """``(total, world)``: the weight sum the summed loss is divided by, and the
        factor that undoes the data-parallel gradient mean (:attr:`loss_normalization`).

        Args:
            local: This process's weight sum (all-reduced under ``'global'``).
            total: The sum already taken over every process (and micro-batch): used as is.
        """
        import torch.distributed as dist
        world = dist.get_world_size() if self.loss_normalization == 'global' and \
            dist.is_available() and dist.is_initialized() else 1
        if total is not None:
            return total, world
        if world == 1:
            return local, 1
        total = local.detach().clone()
        dist.all_reduce(total)
        return total, world

    def answer_weight_sum(self, inputs: dict) -> float:
        """The loss weight of a batch's answer tokens (:meth:`token_weights`; their count
        for ``'token'``), read from its labels without a forward pass."""
        labels = inputs['labels']
        select = labels[:, 1:] != IGNORE_INDEX
        weights = self.token_weights(
            self.sample_ids(labels, inputs.get('cu_seqlens'))[:, 1:][select])
        return float(select.sum()) if weights is None else float(weights.sum())

    def answer_loss(self, hidden: torch.Tensor, labels: torch.Tensor,
                    cu_seqlens: torch.Tensor | None = None,
                    gate: torch.Tensor | None = None,
                    denominator: float | None = None) -> dict:
        """Cross-entropy of the answer tokens (soft targets for loc tokens), weighted
        per :attr:`loss_weighting`; ``gate`` is ``modality_lora``'s ``(R, L)`` gate;
        ``denominator``: the weight sum to divide by, when the training loop computed it
        over every micro-batch of an accumulated step (:class:`eov.engine.EOVIterTrainLoop`)."""
        targets = labels[:, 1:]
        select = targets != IGNORE_INDEX
        if not select.any():
            raise ValueError('batch without answer tokens: nothing to learn from')
        h = hidden[:, :-1][select]
        tgt = targets[select]
        weights = None if self.loss_weighting == 'token' else \
            self.token_weights(self.sample_ids(labels, cu_seqlens)[:, 1:][select])
        with self._lora_scope(None if gate is None else gate[:, :-1][select][:, None]):
            logits = self.lm.get_output_embeddings()(h).float()
        logp = F.log_softmax(logits, dim=-1)
        nll = -logp.gather(1, tgt[:, None])[:, 0]
        losses = {}
        n_loc = self.loc_token_ids.numel()
        if n_loc and self.loc_label_sigma > 0:
            is_loc = torch.isin(tgt, self.loc_token_ids)
            if is_loc.any():
                # bin index of each loc target: position in loc_token_ids
                bins = (tgt[is_loc, None] == self.loc_token_ids[None]).float().argmax(1)
                grid = torch.arange(n_loc, device=tgt.device, dtype=torch.float32)
                soft = torch.exp(-0.5 * ((grid[None] - bins[:, None]) / self.loc_label_sigma) ** 2)
                soft = soft / soft.sum(1, keepdim=True)
                soft_nll = -(soft * logp[is_loc][:, self.loc_token_ids]).sum(1)
                nll = nll.clone()
                nll[is_loc] = soft_nll
        weights = torch.ones_like(nll) if weights is None else weights
        total, world = self.loss_denominator(weights.sum(), denominator)
        losses['loss'] = (nll * weights).sum() * world / total
        with torch.no_grad():
            losses['token_acc'] = (logits.argmax(-1) == tgt).float().mean()
        return losses

    # -- MMEngine entry points -------------------------------------------------
    def hidden_states(self, inputs: dict, return_gate: bool = False):
        """Last hidden states ``(R, L, d)`` of a padded or a packed batch (and, with
        ``return_gate``, the ``(R, L)`` gate of ``modality_lora`` or ``None``).

        A packed batch (``cu_seqlens`` in ``inputs``, from
        :func:`~eov.datasets.packed_collate`) is flattened into one row and
        run through the attention backend's packed function, with position
        ids restarting per sample and ``cu_seq_lens_q/k``/``max_length_q/k``
        passed explicitly; a padded batch uses ``attention_mask``.
        """
        extra = {}
        embeds, gate = self.embed(inputs, return_gate=True, lm_kwargs=extra)
        mrope = self.mrope_positions(inputs).to(embeds.device) if self.mrope else None
        if inputs.get('cu_seqlens') is None:
            with self._lora_scope(None if gate is None else gate[..., None]):
                out = self.lm.base_model(inputs_embeds=embeds, position_ids=mrope,
                                         attention_mask=inputs.get('attention_mask'), **extra)
            return (out.last_hidden_state, gate) if return_gate else out.last_hidden_state
        rows, length = embeds.shape[:2]
        cu = inputs['cu_seqlens'].to(embeds.device)
        max_len = int(inputs.get('max_seqlen') or (cu[1:] - cu[:-1]).max())
        name = self.attention.packed_name(embeds.device, embeds.dtype)
        positions = mrope if mrope is not None else \
            inputs['position_ids'].reshape(1, -1).to(embeds.device)
        if 'visual_pos_masks' in extra:
            extra['visual_pos_masks'] = extra['visual_pos_masks'].reshape(1, -1)
        with use_attention(self.lm, name), \
                self._lora_scope(None if gate is None else gate.reshape(1, -1, 1)):
            out = self.lm.base_model(
                inputs_embeds=embeds.reshape(1, rows * length, -1),
                position_ids=positions,
                cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max_len,
                max_length_k=max_len, **extra)
        hidden = out.last_hidden_state.reshape(rows, length, -1)
        return (hidden, gate) if return_gate else hidden

    def forward(self, inputs: dict, data_samples: list | None = None, mode: str = 'tensor'):
        """``mode='loss'`` -> loss dict; ``'predict'`` -> samples with text; ``'tensor'`` -> logits."""
        if mode == 'loss':
            hidden, gate = self.hidden_states(inputs, return_gate=True)
            losses = self.answer_loss(hidden, inputs['labels'], inputs.get('cu_seqlens'), gate,
                                      inputs.get('loss_denominator'))
            for key in ('padding_fraction', 'packing_efficiency'):   # logged, not summed
                if inputs.get(key) is not None:
                    losses[key] = torch.tensor(float(inputs[key]))
            return losses
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            hidden, gate = self.hidden_states(inputs, return_gate=True)
            with self._lora_scope(None if gate is None else gate[..., None]):
                return self.lm.get_output_embeddings()(hidden)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    @staticmethod
    def _left_align(embeds: torch.Tensor, mask: torch.Tensor, *extras):
        """Move padding to the left so generation continues every prompt; ``extras``
        (``(B, L, ...)`` tensors, or ``None``) move with it."""
        if bool((mask[:, -1] == 1).all()):
            return (embeds, mask, *extras)
        width = mask.shape[1]
        tensors = (embeds, mask, *extras)
        outs = [None if t is None else torch.zeros_like(t) for t in tensors]
        for i, n in enumerate(mask.sum(1).tolist()):
            keep = mask[i].bool()
            for src, dst in zip(tensors, outs):
                if src is not None:
                    dst[i, width - n:] = src[i, keep]
        return tuple(outs)

    @torch.no_grad()
    def generate(self, inputs: dict, max_new_tokens: int | None = None,
                 num_beams: int = 1) -> list[str]:
        """Greedy (or beam) generation with KV cache; returns answer texts."""
        extra = {}
        embeds, gate = self.embed(inputs, return_gate=True, lm_kwargs=extra)
        mask = inputs.get('attention_mask')
        if mask is None:
            mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        positions = self.mrope_positions(dict(inputs, attention_mask=mask)).to(embeds.device) \
            if self.mrope else None
        if (positions is not None or extra) and num_beams > 1:
            raise ValueError('beam search is not available for an M-RoPE / DeepStack language '
                             f'model ({type(self.lm).__name__}); use num_beams=1')
        embeds, mask, positions, slots = self._left_align(
            embeds, mask, None if positions is None else positions.permute(1, 2, 0),
            extra.get('visual_pos_masks'))
        positions = None if positions is None else positions.permute(2, 0, 1)
        if slots is not None:
            extra['visual_pos_masks'] = slots
        budget = max_new_tokens or self.max_new_tokens
        # one gate per row (a row is one sample), kept for every generated token
        row_gate = None if gate is None else gate.amax(1)[:, None, None]
        if num_beams > 1 and row_gate is not None:   # transformers repeats each row per beam
            row_gate = row_gate.repeat_interleave(num_beams, dim=0)
        with self._lora_scope(row_gate):
            if num_beams == 1:
                out = self.greedy(embeds, mask, budget, positions, **extra)
            else:
                out = self.lm.generate(
                    inputs_embeds=embeds, attention_mask=mask, max_new_tokens=budget,
                    do_sample=False, num_beams=num_beams, eos_token_id=self.eos_token_id,
                    pad_token_id=self.pad_token_id)
        return [self.processor.decode(row) for row in out.tolist()]

    @torch.no_grad()
    def greedy(self, embeds: torch.Tensor, mask: torch.Tensor,
               max_new_tokens: int, positions: torch.Tensor | None = None,
               **prompt_kwargs) -> torch.Tensor:
        """Greedy decoding with a KV cache: the tokens ``lm.generate(do_sample=False)``
        gives, without its per-step machinery (most of the time of a tiny model).

        Args:
            embeds: ``(B, L, d)`` left-padded prompt embeddings.
            mask: ``(B, L)`` attention mask (1 = token).
            max_new_tokens: Generation budget.
            positions: ``(3, B, L)`` M-RoPE positions of the prompt (an M-RoPE LM); new
                tokens go on from each row's largest position.
            prompt_kwargs: What the LM takes with the prompt besides its embeddings
                (:meth:`embed`'s ``lm_kwargs``: Qwen3-VL's DeepStack features).

        Returns:
            ``(B, T)`` new token ids, ``T <= max_new_tokens``; a row that ended
            is padded with the pad token after its end token.
        """
        import inspect

        from transformers import DynamicCache
        lm = self.lm
        # the cache is filled in place; transformers renamed its argument (past_key_values ->
        # cache, 5.2x), and eov runs on either side of that change
        name = 'cache' if 'cache' in inspect.signature(lm.base_model.forward).parameters \
            else 'past_key_values'
        cache = {name: DynamicCache(config=lm.config)}
        if positions is None:
            positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
            position = positions[:, -1:]
        else:   # M-RoPE: the next token's three positions are one past the prompt's largest
            position = positions.amax(dim=(0, 2))[None, :, None].expand(3, -1, 1)
        out = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                 use_cache=True, logits_to_keep=1, **cache, **prompt_kwargs)
        token = out.logits[:, -1].argmax(-1)
        tokens, done = [token], token == self.eos_token_id
        for _ in range(max_new_tokens - 1):
            if bool(done.all()):
                break
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            position = position + 1
            out = lm(input_ids=token[:, None], attention_mask=mask, position_ids=position,
                     use_cache=True, **cache)
            token = out.logits[:, -1].argmax(-1)
            token = torch.where(done, torch.full_like(token, self.pad_token_id), token)
            tokens.append(token)
            done = done | (token == self.eos_token_id)
        return torch.stack(tokens, dim=1)

    def predict(self, inputs: dict, data_samples: list | None) -> list[dict]:
        """Generate answers and attach them to the data samples."""
        texts = self.generate(inputs)
        data_samples = data_samples or [{} for _ in texts]
        return [dict(sample, prediction=text) for sample, text in zip(data_samples, texts)]

    # -- Hugging Face format ---------------------------------------------------------
    def save_pretrained(self, out_dir: str, cfg=None, dtype=None) -> str:
        """Write this model as a Hugging Face style directory (see :mod:`eov.models.hf_format`).

        Args:
            out_dir: Output directory.
            cfg: The config this model was built from (default: ``self.eov_config``
                of a model loaded with :meth:`from_pretrained`).
            dtype: Stored weight dtype (``'bfloat16'``, ...); ``None`` keeps the model's.
        """
        from .hf_format import save_pretrained
        cfg = cfg if cfg is not None else getattr(self, 'eov_config', None)
        if cfg is None:
            raise ValueError('save_pretrained needs the config the model was built from')
        return save_pretrained(self, cfg, out_dir, dtype=dtype)

    @classmethod
    def from_pretrained(cls, directory: str, device='cpu', **kwargs) -> 'EarthOneVision':
        """Load a directory written by :meth:`save_pretrained` (eval mode).

        The config it was rebuilt from (``model``, ``tasks``, ``modalities``,
        ``serializer``, ``tokenizer``) is ``model.eov_config``.
        """
        from .hf_format import load_pretrained
        model, cfg = load_pretrained(directory, device=device, **kwargs)
        if not isinstance(model, cls):
            raise TypeError(f'{directory} holds a {type(model).__name__}, not a {cls.__name__}')
        model.eov_config = cfg
        return model
