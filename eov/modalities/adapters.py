"""Input adapters: turn a modality's pixels into tokens of the shared backbone.

Every adapter follows one protocol, so one model serves all modalities:

* ``forward(pixels, vision, **extras) -> list of (N, L, D)`` -- the backbone's
  levels for a batch of ``N`` samples of its modality (``extras`` carries e.g.
  frame times for temporal stacks);
* ``num_tokens(grid_tokens) -> int`` -- tokens per sample ``L`` when one image
  through the backbone gives ``grid_tokens`` patch tokens.

Adapters are built with ``in_chans`` (channels of one frame), ``out_chans``
(the backbone's input channels), ``wavelengths`` (µm per band), ``embed_dim``
and ``patch_size`` of the backbone, and ``shared`` (a dict in which adapters
of several modalities may share sub-modules).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from eov.registry import ADAPTERS


class BaseAdapter(nn.Module):
    """Defaults of the adapter protocol: one backbone pass, its tokens unchanged."""

    def num_tokens(self, grid_tokens: int) -> int:
        """Tokens per sample for a backbone grid of ``grid_tokens`` patches."""
        return grid_tokens

    def to_backbone_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels -> what the backbone's patch embedding takes."""
        return pixels

    def forward(self, pixels: torch.Tensor, vision: nn.Module, **extras) -> list[torch.Tensor]:
        """Backbone levels for ``(N, C, H, W)`` pixels."""
        return vision(self.to_backbone_input(pixels))


@ADAPTERS.register_module(name='rgb')
class RGBPassThrough(BaseAdapter):
    """Hand 3-band pixels to the backbone unchanged.

    Args:
        in_chans: Bands of the modality (must equal ``out_chans``).
        out_chans: Channels of the backbone's patch embedding.
    """

    def __init__(self, in_chans: int = 3, out_chans: int = 3, **unused):
        super().__init__()
        if in_chans != out_chans:
            raise ValueError(f"the 'rgb' adapter passes pixels through, so the sensor's "
                             f'{in_chans} bands must equal the backbone\'s {out_chans} '
                             "input channels; use 'band_linear' for other band counts")


@ADAPTERS.register_module(name='band_linear')
class BandLinear(BaseAdapter):
    """Learned linear mixing of C bands into the backbone's input channels.

    Initialised so every output channel starts as the mean of the bands, which
    keeps a freshly added sensor in the range the backbone was trained on.

    Args:
        in_chans: Bands of the modality.
        out_chans: Channels of the backbone's patch embedding.
    """

    def __init__(self, in_chans: int, out_chans: int = 3, **unused):
        super().__init__()
        self.mix = nn.Conv2d(in_chans, out_chans, kernel_size=1)
        with torch.no_grad():
            self.mix.weight.fill_(1.0 / in_chans)
            self.mix.bias.zero_()

    def to_backbone_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """Mix ``(N, C, H, W)`` bands into ``(N, out_chans, H, W)``."""
        return self.mix(pixels)


def wavelength_features(wavelengths: torch.Tensor, dim: int) -> torch.Tensor:
    """Sine-cosine code of log-wavelength (µm), ``(C,) -> (C, dim)``.

    Log scale spreads 0.4 µm (blue) to 5.5 cm (C-band SAR) over the code.
    """
    half = dim // 2
    freqs = torch.exp(torch.linspace(0, math.log(1000.0), half, device=wavelengths.device))
    angle = torch.log(wavelengths.float())[:, None] * freqs[None]
    return torch.cat([angle.sin(), angle.cos()], dim=1)


class WavelengthHypernet(nn.Module):
    """Generates one patch-embedding kernel (and bias share) per band from its wavelength."""

    def __init__(self, embed_dim: int, patch_size: int, feat_dim: int = 64, hidden: int = 128,
                 zero_init: bool = False):
        super().__init__()
        self.embed_dim, self.patch_size, self.feat_dim = embed_dim, patch_size, feat_dim
        self.mlp = nn.Sequential(nn.Linear(feat_dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, embed_dim * patch_size * patch_size))
        self.bias = nn.Linear(feat_dim, embed_dim)
        with torch.no_grad():
            if zero_init:   # a residual on the backbone's own kernels: starts at zero
                for param in (*self.mlp[-1].parameters(), *self.bias.parameters()):
                    param.zero_()
            else:           # start at the scale of a default conv init
                self.mlp[-1].weight.mul_(0.1)

    def forward(self, wavelengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(C,)`` µm -> conv weight ``(D, C, p, p)`` and bias ``(D,)``."""
        feats = wavelength_features(wavelengths, self.feat_dim)
        c, p = wavelengths.numel(), self.patch_size
        weight = self.mlp(feats).view(c, self.embed_dim, p, p).transpose(0, 1)
        return weight / math.sqrt(c), self.bias(feats).mean(0)


@ADAPTERS.register_module(name='wavelength_patch_embed')
class WavelengthPatchEmbed(BaseAdapter):
    """DOFA-style patch embedding whose weights are generated from band wavelengths.

    One hypernetwork (shared by every modality that uses this adapter in a
    model) turns each band's centre wavelength into its patch kernel, so any
    band subset of any sensor maps into the same backbone token space.

    With ``backbone_wavelengths`` (the centre wavelengths of the backbone's
    own input channels, e.g. ``(0.665, 0.560, 0.490)`` for an RGB ViT), a band
    within ``tolerance`` µm of one of them starts from that channel's patch
    kernel (read live from the backbone), and the generated kernels are added
    to those (the hypernetwork's output layer starts at zero): a new sensor
    first sees its visible bands exactly as the pretrained backbone sees RGB and
    learns what its other bands add.

    Args:
        in_chans: Bands of the modality.
        wavelengths: Centre wavelength of each band in µm (all required).
        embed_dim: Backbone token width.
        patch_size: Backbone patch size.
        shared: Dict shared by the adapters of one model (holds the hypernetwork).
        backbone_wavelengths: Wavelengths (µm) of the backbone's input channels,
            or ``None`` (kernels come from the hypernetwork alone).
        tolerance: Largest distance (µm) between a band and a backbone channel
            for the band to start from that channel's kernel.
    """

    def __init__(self, in_chans: int, wavelengths, embed_dim: int, patch_size: int,
                 shared: dict | None = None, backbone_wavelengths=None,
                 tolerance: float = 0.03, **unused):
        super().__init__()
        if wavelengths is None or len(wavelengths) != in_chans or any(
                w is None for w in wavelengths):
            raise ValueError('wavelength_patch_embed needs a wavelength for every band, '
                             f'got {wavelengths!r}; use band_linear for bands without one')
        shared = shared if shared is not None else {}
        key = ('wavelength_hypernet', embed_dim, patch_size, backbone_wavelengths is not None)
        if key not in shared:
            shared[key] = WavelengthHypernet(embed_dim, patch_size,
                                             zero_init=backbone_wavelengths is not None)
        self.hypernet = shared[key]
        self.patch_size = patch_size
        self.tolerance = float(tolerance)
        self.backbone_wavelengths = None if backbone_wavelengths is None else \
            tuple(float(w) for w in backbone_wavelengths)
        self.register_buffer('wavelengths', torch.tensor(list(wavelengths), dtype=torch.float32),
                             persistent=False)

    def backbone_kernels(self, vision, wavelengths: torch.Tensor):
        """``(weight (D, C, p, p), bias (D,))`` of the backbone's patch embedding for these
        bands: a band's kernel is that of the backbone channel at its wavelength, else 0."""
        proj_weight, proj_bias = vision.patch_projection()
        base = proj_weight.new_zeros((proj_weight.shape[0], wavelengths.numel(),
                                      *proj_weight.shape[2:]))
        if len(self.backbone_wavelengths) != proj_weight.shape[1]:
            raise ValueError(f'wavelength_patch_embed: {len(self.backbone_wavelengths)} '
                             f'backbone_wavelengths for a backbone of {proj_weight.shape[1]} '
                             'input channels')
        ref = torch.tensor(self.backbone_wavelengths, device=wavelengths.device)
        dist = (wavelengths[:, None].float() - ref[None]).abs()
        nearest = dist.argmin(1)
        for band, channel in enumerate(nearest.tolist()):
            if float(dist[band, channel]) <= self.tolerance:
                base[:, band] = proj_weight[:, channel]
        bias = proj_bias if proj_bias is not None else base.new_zeros(base.shape[0])
        return base, bias

    #: Serves a modality entry of several sensors (kernels come from each batch's wavelengths).
    multi_sensor = True

    def forward(self, pixels, vision, wavelengths=None, **extras):
        """Embed ``(N, C, H, W)`` with generated kernels, then run the backbone blocks.

        Args:
            pixels: ``(N, C, H, W)``.
            vision: The backbone.
            wavelengths: ``(C,)`` µm of these pixels' bands (a multi-sensor
                entry passes its sensor's); default the bands it was built for.
        """
        wl = self.wavelengths if wavelengths is None else \
            torch.as_tensor(wavelengths, dtype=torch.float32, device=pixels.device)
        if wl.numel() != pixels.shape[1]:
            raise ValueError(f'wavelength_patch_embed got {pixels.shape[1]} bands but '
                             f'{wl.numel()} wavelengths')
        weight, bias = self.hypernet(wl)
        if self.backbone_wavelengths is not None:
            base, base_bias = self.backbone_kernels(vision, wl)
            weight, bias = weight + base, bias + base_bias
        tokens = F.conv2d(pixels, weight.to(pixels.dtype), bias.to(pixels.dtype),
                          stride=self.patch_size)
        return vision.forward_tokens(tokens.flatten(2).transpose(1, 2), grid=tokens.shape[-2:])


@ADAPTERS.register_module(name='pseudo_rgb_groups')
class PseudoRGBGroups(BaseAdapter):
    """Bands split into 3-band groups, each through the unchanged RGB backbone.

    The EarthDial / EarthMind approach, kept as the ablation baseline: a
    C-band image becomes ``ceil(C / 3)`` pseudo-RGB images (the last group is
    padded by repeating its last band) whose tokens are concatenated.

    Args:
        in_chans: Bands of the modality.
        out_chans: Backbone input channels (must be 3).
        groups: Explicit band index groups, e.g. ``[[3, 2, 1], [7, 10, 11]]``.
    """

    def __init__(self, in_chans: int, out_chans: int = 3, groups=None, **unused):
        super().__init__()
        if out_chans != 3:
            raise ValueError(f'pseudo_rgb_groups needs a 3-channel backbone, got {out_chans}')
        if groups is None:
            groups = [list(range(i, min(i + 3, in_chans))) for i in range(0, in_chans, 3)]
        groups = [list(g) + [g[-1]] * (3 - len(g)) for g in groups]
        if any(len(g) != 3 or not all(0 <= b < in_chans for b in g) for g in groups):
            raise ValueError(f'pseudo_rgb_groups: every group needs 3 band indices in '
                             f'0..{in_chans - 1}, got {groups}')
        self.register_buffer('index', torch.tensor(groups, dtype=torch.long).flatten(),
                             persistent=False)
        self.num_groups = len(groups)

    def num_tokens(self, grid_tokens):
        """One backbone grid per group."""
        return grid_tokens * self.num_groups

    def forward(self, pixels, vision, **extras):
        """``(N, C, H, W)`` -> ``(N, G*L, D)`` per level."""
        n, _, h, w = pixels.shape
        grouped = pixels[:, self.index].view(n * self.num_groups, 3, h, w)
        return [lvl.reshape(n, -1, lvl.shape[-1]) for lvl in vision(grouped)]


def _pooled_side(length: int, keep: int) -> int | None:
    """Side of the grid a square grid of ``length`` tokens is pooled to for at most ``keep``
    tokens; ``None``: left as it is (not square, or already small enough)."""
    side = int(math.isqrt(length))
    target = max(1, int(math.isqrt(max(1, keep))))
    return None if side * side != length or target >= side else target


def _pool_tokens(level: torch.Tensor, keep: int) -> torch.Tensor:
    """Average-pool a square token grid ``(B, L, D)`` down to at most ``keep`` tokens."""
    b, length, d = level.shape
    target = _pooled_side(length, keep)
    if target is None:
        return level
    side = int(math.isqrt(length))
    grid = level.transpose(1, 2).reshape(b, d, side, side)
    return F.adaptive_avg_pool2d(grid, target).flatten(2).transpose(1, 2)


@ADAPTERS.register_module(name='temporal')
class TemporalAdapter(BaseAdapter):
    """Per-frame encoding + learned frame and time embeddings + a token budget.

    Each of the ``T`` frames goes through ``frame_adapter``; its tokens get a
    learned frame-index embedding plus a projection of a sine-cosine code of
    the frame's time (days since the first frame), then the frames' tokens are
    concatenated. With ``token_budget``, each frame's token grid is average-
    pooled so that ``T`` frames fit the budget. Padding frames (beyond a
    short series) are zeroed.

    Args:
        in_chans: Channels of one frame.
        out_chans: Backbone input channels.
        num_frames: ``T``.
        embed_dim: Backbone token width.
        frame_adapter: Adapter config for one frame (default ``rgb`` for 3
            bands, else ``band_linear``).
        token_budget: Maximum tokens per sample, or ``None``.
        difference: Hand the LM the first frame's tokens and, for every later
            frame, its difference to the first (per level, before the frame
            and time embeddings), as Siamese change detectors do: what changed
            and where is then in the tokens themselves (a static scene gives
            zeros) instead of left to the LM to compare. No parameters: the
            same weights load either way.
        **kwargs: Passed to the frame adapter (``wavelengths``, ``patch_size``,
            ``shared``).
    """

    def __init__(self, in_chans: int, out_chans: int, num_frames: int, embed_dim: int,
                 frame_adapter: dict | None = None, token_budget: int | None = None,
                 difference: bool = False, **kwargs):
        super().__init__()
        self.difference = bool(difference)
        cfg = dict(frame_adapter or dict(type='rgb' if in_chans == out_chans else 'band_linear'))
        self.frame = ADAPTERS.build(cfg, default_args=dict(
            in_chans=in_chans, out_chans=out_chans, embed_dim=embed_dim, **kwargs))
        self.num_frames = int(num_frames)
        self.token_budget = token_budget
        self.frame_embed = nn.Parameter(torch.randn(self.num_frames, embed_dim) * 0.02)
        self.time_proj = nn.Linear(32, embed_dim)
        nn.init.zeros_(self.time_proj.weight)
        nn.init.zeros_(self.time_proj.bias)

    def _per_frame(self, grid_tokens: int) -> int:
        if self.token_budget is None:
            return grid_tokens
        target = _pooled_side(grid_tokens, self.token_budget // self.num_frames)
        return grid_tokens if target is None else target * target

    def num_tokens(self, grid_tokens):
        """``T`` frames, each pooled to fit the budget."""
        return self.num_frames * self._per_frame(self.frame.num_tokens(grid_tokens))

    def forward(self, pixels, vision, frame_days=None, frame_mask=None, **extras):
        """``(N, T, C, H, W)`` -> ``(N, T*L_f, D)`` per level."""
        n, t = pixels.shape[:2]
        if t != self.num_frames:
            raise ValueError(f'temporal adapter built for {self.num_frames} frames, got {t}')
        levels = self.frame(pixels.flatten(0, 1), vision)
        days = frame_days if frame_days is not None else \
            torch.arange(t, device=pixels.device, dtype=torch.float32).expand(n, t)
        half = 16
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=pixels.device) / half)
        angle = days.float().reshape(n * t, 1) * freqs[None]
        time_code = self.time_proj(torch.cat([angle.sin(), angle.cos()], dim=1))
        embed = self.frame_embed.repeat(n, 1) + time_code            # (N*T, D)
        out = []
        for lvl in levels:
            lvl = _pool_tokens(lvl, self.token_budget // t if self.token_budget else lvl.shape[1])
            if self.difference and t > 1:
                frames = lvl.reshape(n, t, *lvl.shape[1:])
                frames = torch.cat([frames[:, :1], frames[:, 1:] - frames[:, :1]], dim=1)
                lvl = frames.reshape(n * t, *lvl.shape[1:])
            lvl = lvl + embed[:, None].to(lvl.dtype)
            if frame_mask is not None:
                lvl = lvl * frame_mask.reshape(n * t, 1, 1).to(lvl.dtype)
            out.append(lvl.reshape(n, t * lvl.shape[1], lvl.shape[2]))
        return out


@ADAPTERS.register_module(name='fusion')
class FusionAdapter(BaseAdapter):
    """Several co-registered sensors in one sample: per-member adapters, type embeddings.

    The channels of a fusion sample are its members' channels concatenated
    (in member order); each slice goes through its member's adapter, gets a
    learned per-modality type embedding, and the token sequences are
    concatenated.

    Args:
        members: ``{name: (channels, adapter config, wavelengths)}`` in order.
        out_chans: Backbone input channels.
        embed_dim: Backbone token width.
        **kwargs: Passed to member adapters (``patch_size``, ``shared``).
    """

    def __init__(self, members: dict, out_chans: int, embed_dim: int, **kwargs):
        super().__init__()
        kwargs.pop('in_chans', None)
        kwargs.pop('wavelengths', None)
        self.names = list(members)
        self.channels = [int(members[m][0]) for m in self.names]
        self.members = nn.ModuleDict({
            name: ADAPTERS.build(dict(cfg), default_args=dict(
                in_chans=c, out_chans=out_chans, embed_dim=embed_dim, wavelengths=wl, **kwargs))
            for name, (c, cfg, wl) in members.items()})
        self.type_embed = nn.Parameter(torch.randn(len(self.names), embed_dim) * 0.02)

    def num_tokens(self, grid_tokens):
        """The members' tokens, concatenated."""
        return sum(self.members[m].num_tokens(grid_tokens) for m in self.names)

    def forward(self, pixels, vision, **extras):
        """``(N, sum C_m, H, W)`` -> concatenated member tokens per level."""
        parts = torch.split(pixels, self.channels, dim=1)
        per_member = [self.members[m](p, vision) for m, p in zip(self.names, parts)]
        return [torch.cat([levels[k] + self.type_embed[i].to(levels[k].dtype)
                           for i, levels in enumerate(per_member)], dim=1)
                for k in range(len(per_member[0]))]
