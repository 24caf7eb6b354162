"""Look at what a modality makes of a record: statistics and a quick-look image."""
from __future__ import annotations

from typing import Any

import numpy as np

from eov.registry import MODALITIES, build_from_any

#: Centre wavelengths (µm) of the false-colour composite: NIR, red, green (shown as R, G, B).
FALSE_COLOUR_UM = (0.842, 0.665, 0.560)
#: How far (µm) a band's centre may be from a wanted wavelength.
FALSE_COLOUR_TOLERANCE = 0.12


def false_colour_bands(wavelengths) -> list[int] | None:
    """Indices of the NIR, red and green bands of a sensor, picked by wavelength.

    Works for any sensor whose spec gives band wavelengths (Sentinel-2, Landsat, a
    user's own); ``None`` when one of the three has no band within
    :data:`FALSE_COLOUR_TOLERANCE` (the caller then shows the first three bands).
    """
    wl = [w for w in (wavelengths or ()) if w is not None]
    if len(wl) != len(wavelengths or ()) or len(wl) < 3:
        return None
    idx = []
    for target in FALSE_COLOUR_UM:
        best = min(range(len(wl)), key=lambda i: abs(wl[i] - target))
        if abs(wl[best] - target) > FALSE_COLOUR_TOLERANCE or best in idx:
            return None
        idx.append(best)
    return idx


def _member_specs(modality) -> list:
    """The sensor spec of every channel of ``modality``'s ``pixels``."""
    members = getattr(modality, 'members', None)
    if members:
        return [m.sensor for m in members.values() for _ in range(m.num_channels)]
    frame = getattr(modality, 'frame', modality)
    return [frame.sensor] * frame.num_channels


def physical(modality, pixels: np.ndarray) -> np.ndarray:
    """Undo the standardisation of ``pixels`` (``(..., C, H, W)``) channel by channel.

    The generic sensor standardises each image by itself: its values stay standardised.
    """
    specs = _member_specs(modality)
    out = pixels.astype(np.float64).copy()
    offsets = {}
    for c, spec in enumerate(specs):
        first = offsets.setdefault(spec.name, c)
        if spec.any_bands:
            continue
        k = c - first
        out[..., c, :, :] = pixels[..., c, :, :] * spec.std[k] + spec.mean[k]
    return out


def describe(record: dict, modality_cfg: dict | None = None,
             data_root: str | None = None) -> tuple[dict[str, Any], dict]:
    """Load one record's images and summarise them.

    Args:
        record: An instruction record.
        modality_cfg: Modality config (default ``dict(type=record['modality'])``).
        data_root: Directory relative paths are resolved against.

    Returns:
        ``(summary, loaded)``: a JSON-ready dict with ``id``, ``modality``,
        ``pixel_shape``, ``bands``, per-band ``min``/``max``/``mean`` (in the
        sensor's physical unit, over valid pixels), ``valid_fraction``, ``crs``
        -- and the modality's loaded dict.
    """
    modality = build_from_any(modality_cfg or dict(type=record['modality']), MODALITIES)
    loaded = modality.load(record['images'], data_root)
    pixels = loaded['pixels'].numpy()
    valid = loaded['valid_mask'].numpy()
    values = physical(modality, pixels)
    if values.ndim == 4:   # frames: statistics over all frames
        values = values.transpose(1, 0, 2, 3).reshape(values.shape[1], -1)
    else:
        values = values.reshape(values.shape[0], -1)
    mask = valid.reshape(-1)
    sel = values[:, mask] if mask.any() else values[:, :0]
    stat = (lambda f: [round(float(v), 6) for v in f(sel, axis=1)]) if sel.size else \
        (lambda f: [None] * values.shape[0])
    summary = dict(id=record.get('id'), modality=loaded['modality'],
                   pixel_shape=list(pixels.shape), bands=list(loaded.get('bands') or []),
                   min=stat(np.min), max=stat(np.max), mean=stat(np.mean),
                   valid_fraction=round(float(valid.mean()), 6), crs=loaded.get('crs'),
                   size=list(loaded.get('size') or []))
    if 'frame_mask' in loaded:
        summary['frames'] = int(loaded['frame_mask'].sum())
    return summary, dict(loaded, modality_obj=modality)


def _stretch(band: np.ndarray, valid: np.ndarray, low=None, high=None) -> np.ndarray:
    sel = band[valid] if valid.any() else band.reshape(-1)
    lo = np.percentile(sel, 2) if low is None else low
    hi = np.percentile(sel, 98) if high is None else high
    scaled = (band - lo) / max(hi - lo, 1e-9)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def render_frame(modality, pixels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` standardised pixels of one image -> ``(H, W, 3)`` uint8.

    8-bit RGB in its own colours, false colour (NIR, red, green by wavelength)
    for multispectral, dB grey for SAR, a percentile stretch otherwise;
    fusion members side by side.
    """
    values = physical(modality, pixels)
    members = getattr(modality, 'members', None)
    if members:   # fusion: members side by side
        parts, start = [], 0
        for m in members.values():
            parts.append(render_frame(m, pixels[start:start + m.num_channels], valid))
            start += m.num_channels
        return np.concatenate(parts, axis=1)
    frame = getattr(modality, 'frame', modality)
    spec = frame.sensor
    if spec.modality == 'optical' and spec.dtype == 'uint8' and frame.num_channels == 3 \
            and not spec.any_bands:
        # reflectance in [0, 1]: a per-band stretch would change the colours
        rgb = (np.clip(values[:3], 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
        rgb[~valid] = 0
        return rgb
    sar = spec.modality == 'sar' or spec.units == 'dB'
    if sar or values.shape[0] < 3:   # grey: SAR spans the spec's clip range
        grey = _stretch(values[0], valid, *((spec.clip or (None, None)) if sar else ()))
        return np.repeat(grey[:, :, None], 3, axis=2)
    idx = false_colour_bands(spec.wavelengths) or [0, 1, 2]
    rgb = [_stretch(values[i], valid) for i in idx]
    out = np.stack(rgb, axis=-1)
    out[~valid] = 0
    return out


def render(loaded: dict) -> np.ndarray:
    """A quick-look image: false colour for MS, dB grey for SAR, a strip for frames."""
    modality = loaded['modality_obj']
    pixels = loaded['pixels'].numpy()
    valid = loaded['valid_mask'].numpy()
    if pixels.ndim == 4:
        frames = [render_frame(modality, pixels[t], valid[t]) for t in range(pixels.shape[0])]
        return np.concatenate(frames, axis=1)
    return render_frame(modality, pixels, valid)
