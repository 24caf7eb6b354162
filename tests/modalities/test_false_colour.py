"""False-colour quick-looks pick NIR, red and green by wavelength, for any sensor."""
from eov.modalities import SensorSpec, get_sensor, register_sensor
from eov.modalities.browse import false_colour_bands


def _names(sensor, idx):
    return [sensor.bands[i] for i in idx]


def test_sentinel2_and_landsat_by_wavelength():
    for name, expect in [('sentinel2_l1c', ['B08', 'B04', 'B03']),
                         ('sentinel2_l2a', ['B08', 'B04', 'B03']),
                         ('landsat8', ['B5', 'B4', 'B3'])]:
        spec = get_sensor(name)
        assert _names(spec, false_colour_bands(spec.wavelengths)) == expect, name
    # a band subset keeps working (indices into the subset)
    sub = get_sensor('sentinel2_l2a').subset(['B02', 'B03', 'B04', 'B8A'])
    assert _names(sub, false_colour_bands(sub.wavelengths)) == ['B8A', 'B04', 'B03']


def test_a_users_own_sensor_gets_false_colour():
    spec = register_sensor(SensorSpec(
        name='my_cubesat', modality='multispectral', bands=('blue', 'green', 'red', 'nir'),
        wavelengths=(0.48, 0.55, 0.66, 0.81), gsd=(3, 3, 3, 3), scale=1e-4,
        mean=(0.1,) * 4, std=(0.1,) * 4, dtype='uint16'), force=True)
    assert _names(spec, false_colour_bands(spec.wavelengths)) == ['nir', 'red', 'green']


def test_no_nir_band_means_no_false_colour():
    assert false_colour_bands(get_sensor('rgb').wavelengths) is None
    assert false_colour_bands(()) is None
    assert false_colour_bands((0.49, 0.56)) is None
