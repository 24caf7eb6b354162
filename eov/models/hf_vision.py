"""Vision backbones from Hugging Face transformers: SigLIP, SigLIP-2, CLIP, InternViT, Qwen2-VL.

The tower is built by ``transformers`` itself from a local model directory (or a config dict
for a random tower) and its own modules run every step; eov only reads features from several
depths (for FGVLA) and lets the modality adapters feed their own patch tokens (the
wavelength-aware multispectral embedding). Image and patch size come from the tower's config.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from eov.registry import MODELS

#: ``model_type`` of a two-tower / vision-only config -> the vision config's ``model_type``.
_TOWERS = {'siglip': 'siglip_vision_model', 'siglip_vision_model': 'siglip_vision_model',
           'siglip2': 'siglip2_vision_model', 'siglip2_vision_model': 'siglip2_vision_model',
           'clip': 'clip_vision_model', 'clip_vision_model': 'clip_vision_model',
           'internvl': 'internvl_vision', 'internvl_vision': 'internvl_vision'}
#: Where each family keeps its parts (``transformers`` module paths inside the tower).
_LAYOUT = {
    'siglip_vision_model': dict(layers='encoder.layers', patch='embeddings.patch_embedding',
                                unused=('post_layernorm', 'head')),
    'siglip2_vision_model': dict(layers='encoder.layers', patch='embeddings.patch_embedding',
                                 unused=('post_layernorm', 'head')),
    'clip_vision_model': dict(layers='encoder.layers', patch='embeddings.patch_embedding',
                              unused=('post_layernorm',)),
    # InternViT: HF's last_hidden_state is the last layer through `layernorm` (an identity
    # with mean pooling): kept for the last layer only
    'internvl_vision': dict(layers='encoder.layer', patch='embeddings.patch_embeddings.projection',
                            unused=()),
}


def _part(module: nn.Module, path: str):
    for name in path.split('.'):
        module = getattr(module, name)
    return module


def square_side(value) -> int:
    """A square size given as an int or an ``(h, w)`` pair (configs write both)."""
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def load_tower_weights(tower: nn.Module, path: str, anchor: str) -> None:
    """Load a tower's weights from a local model directory, strictly.

    Args:
        tower: The ``transformers`` tower (unused parts already dropped).
        path: The directory (the tower alone, or a checkpoint holding it).
        anchor: The tower's patch-embedding weight name, which locates its prefix.
    """
    from .hf_local import read_weights, strip_prefix
    own = tower.state_dict()
    state = strip_prefix(read_weights(path), anchor, path)
    missing = [k for k in own if k not in state]
    if missing:
        raise KeyError(f'{path}: the tower misses {len(missing)} weights the config asks '
                       f'for, e.g. {missing[:3]}')
    wrong = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise ValueError(f'{path}: weight shapes do not match its config: {wrong[:3]}')
    tower.load_state_dict({k: state[k] for k in own}, strict=True)


def _check_tower_type(model_type) -> None:
    if model_type not in _TOWERS:
        raise ValueError(f'HFVisionTower: model_type {model_type!r} is not supported; '
                         f'supported: {", ".join(sorted(_TOWERS))}')


def tower_config(config):
    """The vision config of a tower (``config.vision_config`` of a two-tower model).

    Args:
        config: A ``PretrainedConfig`` (vision-only or two-tower).

    Returns:
        The vision ``PretrainedConfig``.
    """
    model_type = getattr(config, 'model_type', None)
    _check_tower_type(model_type)
    if _TOWERS[model_type] != model_type:
        config = config.vision_config
    return config


@MODELS.register_module()
class HFVisionTower(nn.Module):
    """A ``transformers`` vision tower returning patch tokens of several layers.

    Args:
        path: Local model directory (``config.json`` + safetensors) of the tower alone, of
            a two-tower model (SigLIP / CLIP) or of a whole VLM (InternVL), whose vision
            tower is taken. Takes precedence over ``config`` (as ``language.pretrained``
            over ``language.config``), so a config can name the architecture and a run
            the weights.
        config: Without ``path``: a ``transformers`` config dict (``model_type`` plus its
            fields) for a randomly initialised tower (tests, tiny models, meta builds).
        out_indices: Encoder layers whose outputs are returned (negative counts from the
            end), fine to coarse. LLaVA-style models use the penultimate layer, ``(-2,)``.
        frozen: Freeze every tower parameter.
        grad_checkpointing: Recompute each layer in the backward pass.
    """

    def __init__(self, path: str | None = None, config: dict | None = None,
                 out_indices=(-1,), frozen: bool = False, grad_checkpointing: bool = False):
        super().__init__()
        from transformers import AutoConfig, AutoModel
        if path is None and config is None:
            raise ValueError('HFVisionTower needs path= (a local model directory) or '
                             'config= (a transformers config dict)')
        if path is not None:
            from .hf_local import load_local_config
            cfg = tower_config(load_local_config(path))
        else:
            config = dict(config)
            model_type = config.pop('model_type', None)
            _check_tower_type(model_type)   # before transformers sees an unknown type
            cfg = tower_config(AutoConfig.for_model(model_type, **config))
        self.model_type = cfg.model_type
        self.layout = _LAYOUT[cfg.model_type]
        self.tower = AutoModel.from_config(cfg)
        parent, _, attr = self.layout['layers'].rpartition('.')
        layers = _part(self.tower, self.layout['layers'])
        depth = len(layers)
        self.out_indices = [i % depth for i in out_indices]
        # layers after the deepest requested level, the post-norm and the pooling head are
        # never used: drop them (no wasted compute; DDP sees no parameter without gradient)
        setattr(_part(self.tower, parent), attr, layers[:max(self.out_indices) + 1])
        self.final_norm = self.model_type == 'internvl_vision' and \
            depth - 1 in self.out_indices
        unused = list(self.layout['unused'])
        if self.model_type == 'internvl_vision' and not self.final_norm:
            unused.append('layernorm')
        for name in unused:
            if hasattr(self.tower, name):
                delattr(self.tower, name)
        if path is not None:
            load_tower_weights(self.tower, path, self.layout['patch'] + '.weight')
        self.grad_checkpointing = grad_checkpointing
        if frozen:
            self.requires_grad_(False)

    @property
    def config(self):
        """The tower's ``transformers`` vision config."""
        return self.tower.config

    @property
    def embed_dim(self) -> int:
        """Channel width of every returned level."""
        return self.config.hidden_size

    @property
    def in_chans(self) -> int:
        """Channels the patch embedding takes."""
        return self.config.num_channels

    @property
    def patch_size(self) -> int:
        """Side of a patch in pixels."""
        return square_side(self.config.patch_size)

    @property
    def native_grid(self) -> tuple[int, int]:
        """Patch grid of the position table the tower was trained with."""
        if self.model_type == 'siglip2_vision_model':
            side = int(round(self.config.num_patches ** 0.5))
        else:
            side = square_side(self.config.image_size) // self.patch_size
        return side, side

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Patch grid ``(h, w)`` for an input of ``(H, W)`` pixels."""
        return image_size[0] // self.patch_size, image_size[1] // self.patch_size

    def image_size_problem(self, image_size) -> str | None:
        """Why the tower cannot take ``(H, W)`` pixels, or ``None`` (any multiple of the
        patch size: the position table is interpolated as ``transformers`` does)."""
        h, w = (int(s) for s in image_size)
        if h % self.patch_size or w % self.patch_size:
            return (f'{h}x{w} px is not a multiple of the tower\'s {self.patch_size}-px patches '
                    f'(its config: image_size={getattr(self.config, "image_size", None)})')
        return None

    def patch_projection(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The patch embedding as a convolution: ``(weight (D, C, p, p), bias (D,) or None)``.

        SigLIP-2 embeds patches flattened as (row, column, channel) with a linear layer;
        its weight is returned in the same convolution layout.
        """
        proj = _part(self.tower, self.layout['patch'])
        if isinstance(proj, nn.Linear):
            p, c = self.patch_size, self.in_chans
            return proj.weight.view(-1, p, p, c).permute(0, 3, 1, 2), proj.bias
        return proj.weight, proj.bias

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return ``len(out_indices)`` tensors of shape ``(B, h*w, D)`` for ``(B, C, H, W)``."""
        problem = self.image_size_problem(x.shape[-2:])
        if problem:
            raise ValueError(f'HFVisionTower: {problem}')
        weight, bias = self.patch_projection()
        tokens = F.conv2d(x.to(weight.dtype), weight, bias, stride=self.patch_size)
        return self.forward_tokens(tokens.flatten(2).transpose(1, 2), grid=tokens.shape[-2:])

    def forward_tokens(self, tokens: torch.Tensor, grid=None) -> list[torch.Tensor]:
        """Run the layers on patch tokens made elsewhere (e.g. a wavelength-aware embedding).

        Args:
            tokens: ``(B, h*w, D)`` patch tokens in row-major grid order, as the tower's own
                patch embedding would give (no position yet).
            grid: ``(h, w)``; default a square grid.

        Returns:
            The same levels as :meth:`forward`.
        """
        n = tokens.shape[1]
        h, w = (int(g) for g in grid) if grid is not None else (int(n ** 0.5),) * 2
        if h * w != n:
            raise ValueError(f'HFVisionTower: {n} tokens do not fill a {h}x{w} grid')
        emb = self.tower.embeddings
        prefix = 0
        if self.model_type == 'siglip2_vision_model':
            side = self.native_grid[0]
            table = emb.position_embedding.weight.reshape(side, side, -1)
            shapes = torch.tensor([[h, w]], device=tokens.device).expand(tokens.shape[0], 2)
            x = tokens + emb.resize_positional_embeddings(table, shapes, max_length=n)
        elif self.model_type in ('clip_vision_model', 'internvl_vision'):
            cls = emb.class_embedding.expand(tokens.shape[0], 1, -1) \
                if self.model_type == 'clip_vision_model' \
                else emb.cls_token.expand(tokens.shape[0], -1, -1)
            x = torch.cat([cls.to(tokens.dtype), tokens], dim=1)
            if self.model_type == 'clip_vision_model' or emb.position_embeddings is not None:
                x = x + emb.interpolate_pos_encoding(x, h * self.patch_size, w * self.patch_size)
            if self.model_type == 'clip_vision_model':
                x = self.tower.pre_layrnorm(x)
            prefix = 1
        else:
            x = tokens + emb.interpolate_pos_encoding(tokens, h * self.patch_size,
                                                      w * self.patch_size)
        # InternViT layers take no attention mask
        args = () if self.model_type == 'internvl_vision' else (None,)
        layers = _part(self.tower, self.layout['layers'])
        outs = []
        for i, layer in enumerate(layers):
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(layer, x, *args, use_reentrant=False)
            else:
                x = layer(x, *args)
            if isinstance(x, tuple):   # transformers 4.x layers return a tuple
                x = x[0]
            if i in self.out_indices:
                last = self.final_norm and i == len(layers) - 1
                outs.append((self.tower.layernorm(x) if last else x)[:, prefix:])
        return outs


class _GivenTokens(nn.Module):
    """Stands in for a tower's patch embedding: returns tokens made elsewhere."""

    def __init__(self, tokens: torch.Tensor):
        super().__init__()
        self.tokens = tokens

    def forward(self, hidden_states):
        return self.tokens


#: Qwen vision transformers (``model_type`` of their vision config) -> (module, class).
QWEN_TOWERS = {
    'qwen2_vl_vision': ('qwen2_vl', 'Qwen2VisionTransformerPretrainedModel'),
    'qwen2_5_vl_vision': ('qwen2_5_vl', 'Qwen2_5_VisionTransformerPretrainedModel'),
    'qwen3_vl_vision': ('qwen3_vl', 'Qwen3VLVisionModel'),
}
_QWEN_VLMS = {'qwen2_vl', 'qwen2_5_vl', 'qwen3_vl'}


def qwen_window_units(h: int, w: int, window: int) -> torch.Tensor:
    """The order in which Qwen2.5-VL's vision tower holds the merge units of one image.

    Units (2x2 merge windows) of an ``h x w`` unit grid are grouped into ``window x window``
    attention windows (the last ones cut short), windows in row-major order, units in
    row-major order within each. (eov's own, checked against the tower's features.)

    Returns:
        ``(h*w,)`` row-major unit index of each unit the tower holds.
    """
    pad_h, pad_w = -h % window, -w % window
    index = torch.full((h + pad_h, w + pad_w), -1, dtype=torch.long)
    index[:h, :w] = torch.arange(h * w).reshape(h, w)
    index = index.reshape((h + pad_h) // window, window, (w + pad_w) // window, window)
    index = index.permute(0, 2, 1, 3).reshape(-1)
    return index[index >= 0]


@MODELS.register_module()
class QwenVLVisionTower(nn.Module):
    """The Qwen2-VL / Qwen2.5-VL / Qwen3-VL vision transformer (``transformers``' own)
    returning patch tokens of several blocks in row-major grid order; its 2x2 patch merger
    (and Qwen3-VL's DeepStack mergers) are left to the aligner
    (:class:`~eov.models.aligners.QwenPatchMerger`, :class:`~eov.models.aligners.QwenDeepStackMerger`).

    Images go in as ``(B, C, H, W)``; they are cut into the tower's flattened patches in
    Qwen's order (2x2 merge windows, the frame repeated ``temporal_patch_size`` times, as
    its image processor does for a still image), with 2-D rotary positions and attention
    within each image (Qwen2.5-VL: within its attention windows but in its full-attention
    blocks), and any size that is a multiple of ``patch_size * spatial_merge_size``.

    Args:
        path: Local directory of the tower or of a whole Qwen2-VL / 2.5-VL / 3-VL checkpoint
            (its ``vision_config`` and ``visual`` weights). Takes precedence over ``config``.
        config: Vision config fields for a random tower, with ``model_type``
            (``'qwen2_vl_vision'``, the default, ``'qwen2_5_vl_vision'`` or
            ``'qwen3_vl_vision'``).
        out_indices: Blocks whose outputs are returned (negative from the end).
        frozen: Freeze every tower parameter.
        image_size: The side images are used at (the grid of sine-cosine location codes).
    """

    def __init__(self, path: str | None = None, config: dict | None = None,
                 out_indices=(-1,), frozen: bool = False, image_size: int = 448):
        super().__init__()
        import importlib

        from transformers import AutoConfig
        if path is None and config is None:
            raise ValueError('QwenVLVisionTower needs path= (a local model directory) or '
                             'config= (Qwen2-VL / Qwen2.5-VL vision config fields)')
        if path is not None:
            from .hf_local import load_local_config
            cfg = load_local_config(path)
            if cfg.model_type in _QWEN_VLMS:
                cfg = cfg.vision_config
        else:
            config = dict(config)
            cfg = AutoConfig.for_model(config.pop('model_type', 'qwen2_vl_vision'), **config)
        if cfg.model_type not in QWEN_TOWERS:
            raise ValueError(f'QwenVLVisionTower: model_type {cfg.model_type!r} is not a Qwen '
                             f'vision transformer; supported: {", ".join(QWEN_TOWERS)}')
        module, name = QWEN_TOWERS[cfg.model_type]
        tower = getattr(importlib.import_module(f'transformers.models.{module}.modeling_{module}'),
                        name)
        self.tower = tower._from_config(cfg)
        depth = len(self.tower.blocks)
        self.out_indices = [i % depth for i in out_indices]
        self.tower.blocks = self.tower.blocks[:max(self.out_indices) + 1]
        self.tower.merger = nn.Identity()      # the aligner's part (QwenPatchMerger)
        if hasattr(self.tower, 'deepstack_merger_list'):   # Qwen3-VL: the aligner's too
            self.tower.deepstack_merger_list = nn.ModuleList()
            self.tower.deepstack_visual_indexes = []
        self.image_size = int(image_size)
        if path is not None:
            load_tower_weights(self.tower, path, 'patch_embed.proj.weight')
        if frozen:
            self.requires_grad_(False)

    @property
    def config(self):
        """The tower's ``transformers`` vision config."""
        return self.tower.config

    @property
    def embed_dim(self) -> int:
        """Channel width of every returned level."""
        return getattr(self.config, 'embed_dim', None) or self.config.hidden_size

    @property
    def in_chans(self) -> int:
        """Channels of one frame."""
        return getattr(self.config, 'in_channels', None) or self.config.in_chans

    @property
    def patch_size(self) -> int:
        """Side of a patch in pixels."""
        return self.config.patch_size

    @property
    def native_grid(self) -> tuple[int, int]:
        """Patch grid at ``image_size`` (Qwen's towers have no fixed position table)."""
        side = self.image_size // self.patch_size
        return side, side

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Patch grid ``(h, w)`` for an input of ``(H, W)`` pixels."""
        return image_size[0] // self.patch_size, image_size[1] // self.patch_size

    def image_size_problem(self, image_size) -> str | None:
        """Why the tower cannot take ``(H, W)`` pixels, or ``None``."""
        step = self.patch_size * self.config.spatial_merge_size
        h, w = (int(s) for s in image_size)
        if h % step or w % step:
            return (f'{h}x{w} px is not a multiple of {step} px (the tower\'s '
                    f'{self.patch_size}-px patches merged {self.config.spatial_merge_size}x'
                    f'{self.config.spatial_merge_size})')
        return None

    def patch_projection(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The patch embedding as a 2-D convolution ``(D, C, p, p)`` and its bias (Qwen3-VL;
        ``None`` before): a still image fills every temporal slice, so the temporal kernels
        add up."""
        proj = self.tower.patch_embed.proj
        return proj.weight.sum(2), proj.bias

    def _order(self, h: int, w: int):
        """Row-major grid index of each token in Qwen's merge-window order."""
        m = self.config.spatial_merge_size
        index = torch.arange(h * w).reshape(h // m, m, w // m, m)
        return index.permute(0, 2, 1, 3).reshape(-1)

    def _run(self, patches: torch.Tensor, b: int, h: int, w: int) -> list[torch.Tensor]:
        grid = torch.tensor([[1, h, w]] * b, device=patches.device)
        blocks = self.tower.blocks
        outs = {}
        hooks = [blocks[i].register_forward_hook(
            lambda mod, args, out, i=i: outs.__setitem__(i, out[0] if isinstance(out, tuple)
                                                          else out))
            for i in self.out_indices]
        try:
            self.tower(hidden_states=patches, grid_thw=grid)
        finally:
            for hook in hooks:
                hook.remove()
        m = self.config.spatial_merge_size
        order = self._order(h, w)
        window = getattr(self.config, 'window_size', None)
        if window:   # Qwen2.5-VL holds merge units in attention-window order
            units = qwen_window_units(h // m, w // m, window // m // self.patch_size)
            order = order.reshape(-1, m * m)[units].reshape(-1)
        order = order.to(patches.device)
        levels = []
        for i in self.out_indices:
            x = outs[i].reshape(b, h * w, -1)
            levels.append(torch.empty_like(x).index_copy_(1, order, x))
        return levels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return ``len(out_indices)`` tensors ``(B, h*w, D)`` in row-major grid order."""
        problem = self.image_size_problem(x.shape[-2:])
        if problem:
            raise ValueError(f'QwenVLVisionTower: {problem}')
        b, c = x.shape[:2]
        p, t = self.patch_size, self.config.temporal_patch_size
        h, w = x.shape[-2] // p, x.shape[-1] // p
        patches = x.reshape(b, c, h, p, w, p).permute(0, 2, 4, 1, 3, 5)   # b, h, w, c, p, p
        patches = patches.reshape(b, h * w, c, 1, p, p)[:, self._order(h, w).to(x.device)]
        patches = patches.expand(-1, -1, -1, t, -1, -1).reshape(b * h * w, c * t * p * p)
        return self._run(patches.to(self.tower.patch_embed.proj.weight.dtype), b, h, w)

    def forward_tokens(self, tokens: torch.Tensor, grid=None) -> list[torch.Tensor]:
        """Run the blocks on patch tokens ``(B, h*w, D)`` (row-major) made elsewhere."""
        b, n, d = tokens.shape
        h, w = (int(g) for g in grid) if grid is not None else (int(n ** 0.5),) * 2
        ordered = tokens[:, self._order(h, w).to(tokens.device)].reshape(b * n, d)
        embed = self.tower.patch_embed
        self.tower.patch_embed = _GivenTokens(ordered)
        try:
            return self._run(ordered.new_zeros(b * n, 1), b, h, w)
        finally:
            self.tower.patch_embed = embed
