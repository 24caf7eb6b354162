"""Sensor specifications: the physics a modality needs to read and normalise pixels.

A :class:`SensorSpec` is data, not code. Modalities look specs up by name with
:func:`get_sensor`; third-party packages add their own with
:func:`register_sensor`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


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
    notes: str = field(default='', compare=False)

    def __post_init__(self):
        n = len(self.bands)
        for attr in ('wavelengths', 'gsd', 'mean', 'std'):
            if len(getattr(self, attr)) != n:
                raise ValueError(
                    f'SensorSpec {self.name!r}: {attr} has {len(getattr(self, attr))} '
                    f'entries but there are {n} bands')

    @property
    def num_bands(self) -> int:
        """Number of bands."""
        return len(self.bands)


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


# Generic 8-bit RGB aerial/satellite imagery. Mean/std are the ImageNet
# statistics (torchvision's reference values), the usual choice for RGB
# remote-sensing imagery fed to natural-image backbones.
register_sensor(SensorSpec(
    name='rgb', modality='optical', bands=('R', 'G', 'B'),
    wavelengths=(0.665, 0.560, 0.490), gsd=(None, None, None), scale=1 / 255,
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), dtype='uint8'))
