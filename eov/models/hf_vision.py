"""Vision backbone: a Hugging Face ``transformers`` vision tower (SigLIP, SigLIP-2, CLIP, InternViT).

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


def _side(value) -> int:
    """A square size given as an int or an ``(h, w)`` pair."""
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def tower_config(config):
    """The vision config of a tower (``config.vision_config`` of a two-tower model).

    Args:
        config: A ``PretrainedConfig`` (vision-only or two-tower).

    Returns:
        The vision ``PretrainedConfig``.
    """
    model_type = getattr(config, 'model_type', None)
    if model_type not in _TOWERS:
        raise ValueError(f'HFVisionTower: model_type {model_type!r} is not supported; '
                         f'supported: {", ".join(sorted(_TOWERS))}')
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
            if model_type not in _TOWERS:
                raise ValueError(f'HFVisionTower: model_type {model_type!r} is not supported; '
                                 f'supported: {", ".join(sorted(_TOWERS))}')
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
        unused = self.layout['unused'] + (() if self.final_norm or
                                          self.model_type != 'internvl_vision'
                                          else ('layernorm',))
        for name in unused:
            if hasattr(self.tower, name):
                delattr(self.tower, name)
        if path is not None:
            self._load(path)
        self.grad_checkpointing = grad_checkpointing
        if frozen:
            self.requires_grad_(False)

    def _load(self, path: str) -> None:
        from .hf_local import read_weights, strip_prefix
        own = self.tower.state_dict()
        anchor = self.layout['patch'] + '.weight'
        state = strip_prefix(read_weights(path), anchor, path)
        missing = [k for k in own if k not in state]
        if missing:
            raise KeyError(f'{path}: the tower misses {len(missing)} weights the config asks '
                           f'for, e.g. {missing[:3]}')
        wrong = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}' for k, v in own.items()
                 if tuple(state[k].shape) != tuple(v.shape)]
        if wrong:
            raise ValueError(f'{path}: weight shapes do not match its config: {wrong[:3]}')
        self.tower.load_state_dict({k: state[k] for k in own}, strict=True)

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
        return _side(self.config.patch_size)

    @property
    def native_grid(self) -> tuple[int, int]:
        """Patch grid of the position table the tower was trained with."""
        if self.model_type == 'siglip2_vision_model':
            side = int(round(self.config.num_patches ** 0.5))
        else:
            side = _side(self.config.image_size) // self.patch_size
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
