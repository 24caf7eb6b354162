import json
import subprocess
import sys

import pytest

from eov.registry import (ALIGNERS, HEADS, MODALITIES, MODELS, PLUGIN_REGISTRIES,
                          SERIALIZERS, UnknownPluginError)

from ..conftest import ROOT

REQUIRED = ['MODELS', 'MODALITIES', 'ALIGNERS', 'SERIALIZERS', 'HEADS', 'STAGES',
            'ATTENTION', 'DATASETS', 'TRANSFORMS', 'METRICS', 'BENCHMARKS', 'HOOKS']


def test_locations_import_plugins_in_a_fresh_interpreter():
    # Only eov.registry is imported; building by name must import the plugin modules.
    code = (
        'import sys\n'
        'from eov.registry import MODALITIES, SERIALIZERS\n'
        "assert 'eov.modalities' not in sys.modules\n"
        "m = MODALITIES.build(dict(type='optical'))\n"
        "s = SERIALIZERS.build(dict(type='LocTokenSerializer', bins=7))\n"
        "print(type(m).__name__, s.bins)\n")
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ['OpticalModality', '7']


def test_import_eov_is_light():
    code = ('import sys, eov\n'
            "heavy = [m for m in ('rasterio', 'xformers', 'transformers', 'timm') "
            'if m in sys.modules]\n'
            'print(heavy)\n')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == '[]'


def test_unknown_name_lists_names_and_closest_match():
    with pytest.raises(UnknownPluginError) as info:
        SERIALIZERS.build(dict(type='LocTokenSerialiser'))
    err = info.value
    assert err.close_matches[0] == 'LocTokenSerializer'
    assert "Did you mean 'LocTokenSerializer'" in str(err)
    assert 'LocTokenSerializer' in err.known
    assert "'serializer'" in str(err)


def test_unknown_name_through_mmengine_root_registry():
    # The Runner builds models through MMEngine's root registry with scope 'eov'.
    from mmengine.registry import MODELS as ROOT_MODELS, DefaultScope
    with DefaultScope.overwrite_default_scope('eov'):
        with pytest.raises(UnknownPluginError, match="Did you mean 'EarthOneVision'"):
            ROOT_MODELS.build(dict(type='EarthOneVison'))


def test_unknown_name_without_close_match_still_lists_names():
    with pytest.raises(UnknownPluginError) as info:
        HEADS.build(dict(type='zzzz'))
    assert info.value.close_matches == []
    assert 'grounding' in str(info.value)


def test_child_registries_find_mmengine_parents():
    # eov registries are children of MMEngine's roots, so MMEngine's plugins resolve too.
    assert MODELS.parent is not None and MODELS.scope == 'eov'
    assert MODELS.get('BaseDataPreprocessor') is not None
    assert ALIGNERS.scope == 'eov' and MODALITIES.scope == 'eov'


def test_list_plugins_json_lists_every_registry():
    out = subprocess.run([sys.executable, 'tools/list_plugins.py', '--json'], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    plugins = json.loads(out.stdout)
    for name in REQUIRED:
        assert name in plugins
    assert set(plugins) == set(PLUGIN_REGISTRIES)
    assert 'EarthOneVision' in plugins['MODELS']
    assert 'optical' in plugins['MODALITIES']
    assert 'LocTokenSerializer' in plugins['SERIALIZERS']
    assert 'MultiLevelConcat' in plugins['ALIGNERS']
    assert 'grounding' in plugins['HEADS']
    assert 'GroundingMetric' in plugins['METRICS']


def test_list_plugins_table():
    out = subprocess.run([sys.executable, 'tools/list_plugins.py'], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert 'optical' in lines['MODALITIES']
