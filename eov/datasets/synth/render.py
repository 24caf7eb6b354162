"""EOV-Synth v2 renderers (one per sensor) and writers (GeoTIFF, video).

Each renderer turns a :class:`~eov.datasets.synth.scenes.Scene` into pixels
in the stored unit of its sensor (see :mod:`eov.modalities.sensors`):

- :func:`render_optical` -- ``rgb``: uint8 ``(3, H, W)``;
- :func:`render_sar` -- ``sentinel1_grd``: float32 ``(2, H, W)`` VV, VH in
  **linear power**, with multiplicative gamma speckle of ``looks`` looks
  (mean 1, coefficient of variation ``1 / sqrt(looks)``);
- :func:`render_thermal` -- ``thermal``: uint8 ``(1, H, W)`` scaled DN;
- :func:`render_multispectral` -- ``sentinel2_l2a``: uint16 ``(12, H, W)``
  DN = surface reflectance x 1e4, never 0 (0 is the product's nodata).
"""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from .scenes import (COLORS, MS_LANDCOVER, MS_SPECTRA, OPTICAL_LANDCOVER, OPTICAL_OBJECT,
                     SAR_LANDCOVER_DB, SAR_LOOKS, SAR_OBJECT_DB, THERMAL_HOT_SPOT,
                     THERMAL_LANDCOVER, THERMAL_OBJECT, Obj, Scene, pixel_centres)

#: The projected CRS of every GeoTIFF (WGS 84 / UTM zone 31N).
CRS_EPSG = 32631


def _lut(table: dict, n: int, width: int) -> np.ndarray:
    out = np.zeros((n, width), dtype=np.float32)
    for k, v in table.items():
        out[k] = v
    return out


_N_LC = 7
_OPT_LUT = _lut(OPTICAL_LANDCOVER, _N_LC, 3)
_SAR_LUT = _lut({k: [10 ** (d / 10) for d in v] for k, v in SAR_LANDCOVER_DB.items()}, _N_LC, 2)
_TH_LUT = _lut({k: [v] for k, v in THERMAL_LANDCOVER.items()}, _N_LC, 1)
_MS_LUT = _lut({k: MS_SPECTRA[v] for k, v in MS_LANDCOVER.items()}, _N_LC, 12)


def _along_across(obj: Obj, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel centre's offset from ``obj``'s centre along and across its heading."""
    xx, yy = pixel_centres(size)
    t = math.radians(obj.angle)
    dx, dy = xx - obj.cx, yy - obj.cy
    return dx * math.cos(t) + dy * math.sin(t), -dx * math.sin(t) + dy * math.cos(t)


def _hot_end(obj: Obj, size: int, frac: float = 0.3) -> np.ndarray:
    """The rear ``frac`` of an object (engine)."""
    return obj.mask & (_along_across(obj, size)[0] <= -obj.length / 2 + frac * obj.length)


def render_optical(scene: Scene, rng: np.random.Generator, gain: float = 1.0,
                   tint=(0.0, 0.0, 0.0), cloud: np.ndarray | None = None,
                   noise: float = 4.0) -> np.ndarray:
    """RGB uint8 ``(3, H, W)``: textured land cover, objects, optional opaque cloud.

    Args:
        scene: The scene.
        rng: Pixel noise source.
        gain: Illumination factor (acquisition-to-acquisition change).
        tint: Per-channel offsets (atmosphere), added after ``gain``.
        cloud: Mask of an opaque cloud (bright white, hides what is below).
        noise: Standard deviation of the pixel noise (DN).
    """
    size = scene.size
    lc = scene.landcover.astype(np.intp)
    img = _OPT_LUT[lc] * (1.0 + 0.09 * scene.texture)[..., None]      # (H, W, 3)
    for obj in scene.objects:
        if obj.label == 'building':
            # shadow to the south-east, then the roof
            shadow = np.zeros_like(obj.mask)
            shadow[2:, 2:] = obj.mask[:-2, :-2]
            img[shadow & ~obj.mask] *= 0.55
            img[obj.mask] = COLORS[obj.color or 'grey']
            edge = obj.mask & ~np.roll(obj.mask, 1, axis=0)
            img[edge] *= 0.85
        elif obj.label == 'vehicle':
            img[obj.mask] = COLORS[obj.color or 'white']
            img[_hot_end(obj, size, 0.25)] *= 0.75              # windscreen / rear
        elif obj.label == 'ship':
            img[obj.mask] = OPTICAL_OBJECT['ship']
            img[obj.mask & (np.abs(_along_across(obj, size)[1]) <= 0.6)] = (120, 120, 125)  # deck
        elif obj.label == 'storage tank':
            shadow = np.zeros_like(obj.mask)
            shadow[1:, 1:] = obj.mask[:-1, :-1]
            img[shadow & ~obj.mask] *= 0.5
            img[obj.mask] = OPTICAL_OBJECT['storage tank']
        elif obj.label in OPTICAL_OBJECT:
            img[obj.mask] = OPTICAL_OBJECT[obj.label]
        else:   # thermal-only classes seen in visible light: dark industrial grey
            img[obj.mask] = (95, 90, 88)
    img = img * gain + np.asarray(tint, dtype=np.float32)
    img += rng.normal(0.0, noise, img.shape).astype(np.float32)
    if cloud is not None and cloud.any():
        n = int(cloud.sum())
        img[cloud] = 246.0 + rng.normal(0.0, 2.0, (n, 3)).astype(np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8).transpose(2, 0, 1)


def render_sar(scene: Scene, rng: np.random.Generator, looks: int = SAR_LOOKS) -> np.ndarray:
    """Sentinel-1 GRD-like backscatter: float32 ``(2, H, W)`` VV, VH, linear power.

    The mean backscatter of each pixel comes from its land cover
    (:data:`~eov.datasets.synth.scenes.SAR_LANDCOVER_DB`, constant within a
    class) or its object (bright metal scatterers), and is multiplied by
    independent gamma speckle of ``looks`` looks in each polarisation.
    """
    sigma = _SAR_LUT[scene.landcover.astype(np.intp)]                   # (H, W, 2)
    for obj in scene.objects:
        vv, vh = SAR_OBJECT_DB.get(obj.label, (-4.0, -10.0))
        sigma[obj.mask] = (10 ** (vv / 10), 10 ** (vh / 10))
    speckle = rng.gamma(looks, 1.0 / looks, sigma.shape).astype(np.float32)
    out = np.maximum(sigma * speckle, np.float32(1e-6))
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def render_thermal(scene: Scene, rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    """Thermal infrared uint8 ``(1, H, W)``: cool water, warm engines, hot chimneys/furnaces."""
    size = scene.size
    img = _TH_LUT[scene.landcover.astype(np.intp), 0] + 7.0 * scene.texture
    xx, yy = pixel_centres(size)
    for obj in scene.objects:     # heat halos of hot industrial sites warm the ground
        if obj.label in ('chimney', 'furnace'):
            d2 = (xx - obj.cx) ** 2 + (yy - obj.cy) ** 2
            img = img + 45.0 * np.exp(-d2 / (2 * (obj.length * 0.6) ** 2))
    for obj in scene.objects:
        img[obj.mask] = THERMAL_OBJECT.get(obj.label, 150)
        if obj.label in THERMAL_HOT_SPOT:
            img[_hot_end(obj, size)] = THERMAL_HOT_SPOT[obj.label]
    img = img + rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0, 255).round().astype(np.uint8)[None]


def render_multispectral(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Sentinel-2 L2A-like uint16 ``(12, H, W)``: reflectance x 1e4 from class spectra.

    The texture is multiplicative and identical across bands (brightness
    varies, the spectral shape does not); pixel noise is 2 % plus 8 DN.
    Values are clipped to ``[1, 65535]`` so that no pixel is nodata (0).
    """
    refl = _MS_LUT[scene.landcover.astype(np.intp)] * (1.0 + 0.05 * scene.texture)[..., None]
    dn = refl * 1e4
    dn = dn * (1.0 + rng.normal(0.0, 0.02, dn.shape)) + rng.normal(0.0, 8.0, dn.shape)
    return np.clip(dn, 1, 65535).round().astype(np.uint16).transpose(2, 0, 1)


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------
def transform_for(rng: np.random.Generator, gsd: float) -> tuple[float, ...]:
    """A north-up geotransform at ``gsd`` metres with a random origin in UTM 31N.

    Returns:
        The affine coefficients ``(a, b, c, d, e, f)`` (rasterio's order):
        ``x = a col + b row + c``, ``y = d col + e row + f``.
    """
    x0 = 300000.0 + float(rng.integers(0, 40000)) * 10.0
    y0 = 4400000.0 + float(rng.integers(0, 60000)) * 10.0
    return (float(gsd), 0.0, x0, 0.0, -float(gsd), y0)


@functools.lru_cache(maxsize=1)
def _crs():
    from rasterio.crs import CRS
    return CRS.from_epsg(CRS_EPSG)


def write_geotiff(path: str, data: np.ndarray, transform, nodata=None,
                  band_names=None) -> None:
    """Write ``(C, H, W)`` ``data`` as a GeoTIFF in UTM 31N with ``transform``."""
    import rasterio
    from rasterio.transform import Affine
    count, height, width = data.shape
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, exist_ok=True)
    elif os.path.lexists(path):
        os.remove(path)     # GDAL would open the old file to delete it: slower
    with rasterio.open(path, 'w', driver='GTiff', width=width, height=height, count=count,
                       dtype=data.dtype.name, crs=_crs(), transform=Affine(*transform),
                       nodata=nodata) as dst:
        dst.write(data)
        if band_names:
            dst.descriptions = tuple(band_names)


#: Video container and codec (fallback: ``.avi`` with MJPG where mp4v cannot be written).
VIDEO_FORMATS = (('.mp4', 'mp4v'), ('.avi', 'MJPG'))


@functools.lru_cache(maxsize=1)
def video_format() -> tuple[str, str]:
    """``(extension, fourcc)`` this OpenCV build can write (checked once)."""
    import tempfile

    import cv2
    for ext, fourcc in VIDEO_FORMATS:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'probe' + ext)
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 4.0, (16, 16))
            ok = writer.isOpened()
            if ok:
                for _ in range(2):
                    writer.write(np.zeros((16, 16, 3), dtype=np.uint8))
            writer.release()
            if ok and os.path.getsize(path) > 0:
                cap = cv2.VideoCapture(path)
                ok = cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
                cap.release()
            if ok:
                return ext, fourcc
    raise RuntimeError('OpenCV can write neither mp4 (mp4v) nor avi (MJPG) here')


def write_video(path: str, frames: list[np.ndarray], fps: float = 4.0) -> None:
    """Write RGB ``(3, H, W)`` uint8 frames with the codec of :func:`video_format`."""
    import cv2
    _, fourcc = video_format()
    height, width = frames[0].shape[1:]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    try:
        if not writer.isOpened():
            raise RuntimeError(f'cannot open a video writer for {path}')
        for frame in frames:
            writer.write(np.ascontiguousarray(frame.transpose(1, 2, 0)[:, :, ::-1]))
    finally:
        writer.release()
