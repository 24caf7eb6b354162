"""Vision backbone: a timm ViT giving features from several depths (for FGVLA)."""
from __future__ import annotations

import os

import torch
from torch import nn

from eov.registry import MODELS


def load_local_state_dict(path: str) -> dict:
    """Load a state dict from a local ``.safetensors``/``.pth`` file (never a download).

    ``.pth``/``.bin`` files load with ``weights_only=True``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path} (eov loads weights '
                                'only from local paths)')
    from .weights import CheckpointError
    try:
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            return load_file(path)
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:   # a pure read failed: the file is unusable (or unsafe)
        if isinstance(err, (MemoryError, KeyboardInterrupt)):
            raise
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        unsafe = [line for line in lines if 'GLOBAL' in line or 'global' in line.lower()
                  and 'unsupported' in line.lower()]
        if unsafe:
            raise CheckpointError(
                f'{path}: refused: the file holds Python objects, not only weights, and '
                f'loading it would run code ({unsafe[0]}); eov loads weights only '
                '(weights_only=True). Use a plain state dict or a .safetensors file') from err
        raise CheckpointError(f'{path}: not a readable weights file (truncated or '
                              f'corrupt?): {lines[0] if lines else type(err).__name__}') from err
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


@MODELS.register_module()
class TimmViT(nn.Module):
    """A timm Vision Transformer returning patch tokens of several blocks.

    Args:
        model_name: timm architecture name (e.g. ``'vit_large_patch14_clip_336'``);
            ``None`` builds ``VisionTransformer(**kwargs)`` directly.
        out_indices: Blocks whose outputs are returned (negative counts from
            the end), fine to coarse.
        checkpoint: Local weights file; ``None`` keeps random init.
        frozen: Freeze all backbone parameters.
        grad_checkpointing: Trade compute for memory in the blocks.
        pos_embed_init: ``'sincos'`` starts the (learnable) position embedding
            as a 2-D sine-cosine code scaled by ``pos_embed_scale`` (useful from
            scratch; ignored when ``checkpoint`` is given).
        pos_embed_scale: Scale of the sine-cosine initialisation.
        **kwargs: Architecture arguments (``img_size``, ``patch_size``,
            ``embed_dim``, ``depth``, ``num_heads``, ``dynamic_img_size``, ...).
    """

    def __init__(self, model_name: str | None = None, out_indices=(-1,),
                 checkpoint: str | None = None, frozen: bool = False,
                 grad_checkpointing: bool = False, pos_embed_init: str = 'random',
                 pos_embed_scale: float = 0.5, **kwargs):
        super().__init__()
        import timm
        from timm.models.vision_transformer import VisionTransformer
        kwargs.setdefault('num_classes', 0)
        kwargs.setdefault('global_pool', '')
        if model_name is None:
            self.vit = VisionTransformer(**kwargs)
        else:
            self.vit = timm.create_model(model_name, pretrained=False, **kwargs)
        depth = len(self.vit.blocks)
        self.out_indices = [i % depth for i in out_indices]
        if pos_embed_init == 'sincos' and not checkpoint:
            self._init_sincos_pos_embed(pos_embed_scale)
        elif pos_embed_init not in ('random', 'sincos'):
            raise ValueError(f"pos_embed_init must be 'random' or 'sincos', got {pos_embed_init!r}")
        if checkpoint:
            missing, unexpected = self.vit.load_state_dict(
                load_local_state_dict(checkpoint), strict=False)
            if [k for k in missing if not k.startswith('head')]:
                raise KeyError(f'{checkpoint}: missing backbone weights {missing[:5]}...')
        # Blocks after the deepest requested level, the final norm and the
        # classifier are never used: drop them (no wasted compute, and DDP
        # sees no parameters without gradients).
        self.vit.prune_intermediate_layers(self.out_indices, prune_norm=True, prune_head=True)
        if grad_checkpointing:
            self.vit.set_grad_checkpointing(True)
        if frozen:
            self.vit.requires_grad_(False)

    def _init_sincos_pos_embed(self, scale: float) -> None:
        from .pos_embed import sincos_2d
        pe = self.vit.pos_embed
        if pe is None:
            raise ValueError("pos_embed_init='sincos' needs a ViT with a position embedding")
        grid_h, grid_w = self.vit.patch_embed.grid_size
        prefix = pe.shape[1] - grid_h * grid_w
        with torch.no_grad():
            pe[:, prefix:] = scale * sincos_2d(grid_h, grid_w, pe.shape[-1])

    @property
    def embed_dim(self) -> int:
        """Channel width of every returned level."""
        return self.vit.embed_dim

    @property
    def in_chans(self) -> int:
        """Channels the patch embedding takes."""
        return self.vit.patch_embed.proj.in_channels

    @property
    def patch_size(self) -> int:
        """Side of a patch in pixels."""
        return self.vit.patch_embed.patch_size[0]

    @property
    def native_grid(self) -> tuple[int, int]:
        """Patch grid of the position embedding the ViT was built with."""
        return tuple(self.vit.patch_embed.grid_size)

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Patch grid ``(h, w)`` for an input of ``(H, W)`` pixels."""
        return image_size[0] // self.patch_size, image_size[1] // self.patch_size

    def image_size_problem(self, image_size) -> str | None:
        """Why the ViT cannot take ``(H, W)`` pixels, or ``None``."""
        vit_size = tuple(self.vit.patch_embed.img_size or ())
        if not vit_size or getattr(self.vit, 'dynamic_img_size', False) or \
                tuple(image_size) == vit_size:
            return None
        return (f'the vision backbone takes img_size={vit_size}: set the modality\'s image_size '
                f'to {vit_size[0]}, or build the ViT with dynamic_img_size=True')

    def patch_projection(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The patch embedding: ``(weight (D, C, p, p), bias (D,) or None)``."""
        proj = self.vit.patch_embed.proj
        return proj.weight, proj.bias

    def forward_tokens(self, tokens: torch.Tensor, grid=None) -> list[torch.Tensor]:
        """Run the blocks on patch tokens made elsewhere (e.g. a wavelength-aware embedding).

        Args:
            tokens: ``(B, h*w, D)`` patch tokens in row-major grid order, as the
                backbone's own patch embedding would give.
            grid: ``(h, w)`` (unused: timm's position embedding knows its grid).

        Returns:
            The same levels as :meth:`forward`.
        """
        vit = self.vit
        x = vit._pos_embed(tokens)
        x = vit.patch_drop(x)
        x = vit.norm_pre(x)
        outs = []
        for i, block in enumerate(vit.blocks[:max(self.out_indices) + 1]):
            x = block(x)
            if i in self.out_indices:
                outs.append(x[:, vit.num_prefix_tokens:])
        return outs

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return ``len(out_indices)`` tensors of shape ``(B, h*w, D)``."""
        return self.vit.forward_intermediates(
            x, indices=self.out_indices, output_fmt='NLC', intermediates_only=True)
