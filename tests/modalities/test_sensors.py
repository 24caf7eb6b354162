"""The sensor catalogue: data invariants and the agencies' band lists."""
import pytest

from eov.modalities import BIGEARTHNET_BANDS, get_sensor, sensor_names

REQUIRED = ['sentinel2_l1c', 'sentinel2_l2a', 'landsat8', 'sentinel1_grd', 'rgb', 'thermal',
            'generic']


@pytest.mark.parametrize('name', sensor_names())
def test_every_spec_has_one_entry_per_band(name):
    spec = get_sensor(name)
    n = len(spec.bands)
    assert len(spec.wavelengths) == len(spec.gsd) == len(spec.mean) == len(spec.std) == n
    assert all(s > 0 for s in spec.std)
    for extra in (spec.thermal_k1, spec.thermal_k2):
        assert extra is None or len(extra) == n


def test_required_sensors_are_registered():
    assert set(REQUIRED) <= set(sensor_names())


def test_sentinel2_products_and_bigearthnet_order():
    l1c, l2a = get_sensor('sentinel2_l1c'), get_sensor('sentinel2_l2a')
    assert l1c.num_bands == 13 and l2a.num_bands == 12
    assert 'B10' in l1c.bands and 'B10' not in l2a.bands
    assert l2a.bands == BIGEARTHNET_BANDS
    assert l1c.bands.index('B8A') == l1c.bands.index('B08') + 1
    assert l1c.gsd[l1c.bands.index('B02')] == 10 and l1c.gsd[l1c.bands.index('B8A')] == 20
    assert l1c.gsd[l1c.bands.index('B09')] == 60
    assert l1c.wavelengths[l1c.bands.index('B8A')] == pytest.approx(0.865)
    assert l1c.modality == l2a.modality == 'multispectral'


def test_landsat_sar_and_thermal_specs():
    l8 = get_sensor('landsat8')
    assert l8.bands[-2:] == ('B10', 'B11') and l8.wavelengths[-1] > 10
    assert l8.thermal_k1[-2:] == (774.8853, 480.8883) and l8.thermal_k1[0] is None
    s1 = get_sensor('sentinel1_grd')
    assert s1.bands == ('VV', 'VH') and s1.units == 'dB' and s1.clip == (-25.0, 0.0)
    assert get_sensor('thermal').modality == 'infrared' and get_sensor('thermal').num_bands == 1


def test_subset_keeps_per_band_fields_aligned():
    l8 = get_sensor('landsat8').subset(['B11', 'B4'])
    assert l8.bands == ('B11', 'B4')
    assert l8.thermal_k1 == (480.8883, None)
    assert l8.mean[1] == get_sensor('landsat8').mean[3]
    with pytest.raises(KeyError, match="no band 'B13'.*B1, B2"):
        get_sensor('landsat8').subset(['B13'])


def test_generic_fallback_takes_any_band_count():
    g = get_sensor('generic').with_bands(5)
    assert g.bands == ('B1', 'B2', 'B3', 'B4', 'B5') and g.any_bands
    with pytest.raises(ValueError, match='fixed band list'):
        get_sensor('rgb').with_bands(4)


def test_unknown_sensor_lists_known_ones():
    with pytest.raises(KeyError, match='known sensors: .*sentinel2_l1c'):
        get_sensor('sentinel3')
