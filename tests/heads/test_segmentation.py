import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import SegmentationHead
from eov.registry import HEADS

LOC = dict(type='LocTokenSerializer', bins=100)
SIZE = (100, 100)
SQUARE = {'type': 'poly', 'points': [[10, 10], [40, 10], [40, 40], [10, 40]], 'label': 'building'}
TRI = {'type': 'poly', 'points': [[60, 70], [90, 70], [75, 95]]}


def test_templates_are_seeded():
    head = HEADS.build(dict(type='segmentation', serializer=LOC))
    assert {head.question(seed=s) for s in range(60)} == set(SegmentationHead.templates)
    assert head.question(seed=2) == head.question(seed=2)
    assert head.question(classes=['building']) == 'Segment all building in this image.'


def test_answer_is_the_serializers_polygons():
    head = SegmentationHead(serializer=LOC)
    assert head.answer_text([TRI, SQUARE], SIZE) == (
        '<ref>building</ref><poly><loc_10><loc_10><loc_40><loc_10><loc_40><loc_40>'
        '<loc_10><loc_40></poly><poly><loc_60><loc_70><loc_90><loc_70><loc_75><loc_95></poly>')
    assert head.answer_text([], SIZE) == 'none'


def test_switching_the_serializer_changes_the_answer():
    qwen = SegmentationHead(serializer=dict(type='QwenTextSerializer'))
    geochat = SegmentationHead(serializer=dict(type='GeoChatTextSerializer'))
    assert qwen.answer_text([TRI], SIZE) == '<poly>(600,700),(900,700),(750,950)</poly>'
    assert geochat.answer_text([TRI], SIZE) == '{<60><70><90><70><75><95>}'


@pytest.mark.parametrize('targets, message', [
    ([{'type': 'mask', 'path': 'm.png'}], 'add the MaskToPolygons transform'),
    ([{'type': 'hbb', 'bbox': [0, 0, 1, 1]}], "targets of type poly; target 0 has type 'hbb'"),
    ([{'type': 'poly', 'points': [[0, 0], [1, 1]]}], 'needs at least 3'),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        SegmentationHead(serializer=LOC).answer_text(targets, SIZE)


def test_mask_polygons_round_trip():
    from eov.slis.masks import mask_to_polygons
    mask = np.zeros((100, 100), np.uint8)
    mask[20:50, 30:70] = 1
    polys = mask_to_polygons(mask, max_vertices=16, label='field')
    head = SegmentationHead(serializer=dict(type='LocTokenSerializer'))
    out = head.parse(head.answer_text(polys, SIZE), SIZE)
    assert out['parsed'] and not out['errors']
    (got,), (want,) = out['objects'], polys
    assert got['label'] == 'field'
    assert np.allclose(got['points'], want['points'], atol=0.05 + 1e-6)   # half a bin


def test_parse_messy_and_malformed_text():
    head = SegmentationHead(serializer=LOC)
    out = head.parse('Here: <poly><loc_60><loc_70><loc_90><loc_70><loc_75><loc_95></poly>'
                     '<poly><loc_1><loc_2></poly> <box><loc_1><loc_2><loc_3><loc_4></box>', SIZE)
    assert out['parsed'] and len(out['objects']) == 1 and len(out['errors']) == 2
    assert head.parse('None.', SIZE) == {'objects': [], 'parsed': True, 'errors': []}
    assert head.parse('a building', SIZE)['parsed'] is False


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    for serializer in (LOC, dict(type='QwenTextSerializer'), dict(type='NormalizedTextSerializer')):
        out = SegmentationHead(serializer=serializer).parse(text, SIZE)
        assert all(o['type'] == 'poly' for o in out['objects'])
