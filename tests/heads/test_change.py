import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import ChangeHead
from eov.registry import HEADS

LOC = dict(type='LocTokenSerializer', bins=100)
SIZE = (100, 100)
REGION = {'type': 'poly', 'points': [[10, 10], [40, 10], [40, 40]], 'label': 'building'}
CAPTIONS = [{'type': 'text', 'text': 'A row of houses appears on the bare land.'},
            {'type': 'text', 'text': 'Many buildings were built.'}]


def test_templates_are_seeded():
    head = HEADS.build(dict(type='change', serializer=LOC))
    assert {head.question(seed=s) for s in range(60)} == set(ChangeHead.templates)
    assert {head.question(seed=s, variant='caption') for s in range(60)} == \
        set(ChangeHead.variants['caption'])
    assert head.ask(CAPTIONS, SIZE) == 'Describe the changes between the two images.'
    assert head.ask([REGION], SIZE) == ChangeHead.templates[0]


def test_answer_regions_no_change_and_captions():
    head = ChangeHead(serializer=LOC)
    assert head.answer_text([REGION], SIZE) == \
        '<ref>building</ref><poly><loc_10><loc_10><loc_40><loc_10><loc_40><loc_40></poly>'
    assert head.answer_text([], SIZE) == 'no change'
    assert head.answer_text(CAPTIONS, SIZE) == 'A row of houses appears on the bare land.'
    assert head.references(CAPTIONS) == [c['text'] for c in CAPTIONS]
    qwen = ChangeHead(serializer=dict(type='QwenTextSerializer'))
    assert qwen.answer_text([REGION], SIZE) == \
        '<ref>building</ref><poly>(100,100),(400,100),(400,400)</poly>'


@pytest.mark.parametrize('targets, message', [
    ([REGION, CAPTIONS[0]], 'not both'),
    ([{'type': 'mask', 'path': 'change.png'}], 'MaskToPolygons'),
    ([{'type': 'label', 'label': 'x'}], "target 0 has type 'label'"),
    ([{'type': 'text', 'text': ''}], "change 'text' target must be non-empty text"),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        ChangeHead(serializer=LOC).answer_text(targets, SIZE)


def test_regions_need_a_serializer_captions_do_not():
    head = ChangeHead()
    assert head.answer_text(CAPTIONS, SIZE) == CAPTIONS[0]['text']
    with pytest.raises(ValueError, match='the change head needs a serializer'):
        head.answer_text([REGION], SIZE)
    assert head.parse('no change', SIZE)['changed'] is False


def test_parse_round_trips_and_modes():
    head = ChangeHead(serializer=LOC)
    out = head.parse(head.answer_text([REGION], SIZE), SIZE)
    assert out['mode'] == 'regions' and out['changed'] and out['parsed']
    assert out['objects'][0]['label'] == 'building'
    assert out['objects'][0]['points'] == [[10.5, 10.5], [40.5, 10.5], [40.5, 40.5]]
    none = head.parse(head.answer_text([], SIZE), SIZE)
    assert (none['mode'], none['changed'], none['parsed'], none['objects']) == \
        ('regions', False, True, [])
    cap = head.parse(' Many buildings were built. ', SIZE)
    assert (cap['mode'], cap['text'], cap['changed'], cap['parsed']) == \
        ('caption', 'Many buildings were built.', None, True)
    # LEVIR-CC's unchanged pairs read as "no change" in either mode
    same = head.parse('There is no difference.', SIZE, mode='caption')
    assert (same['mode'], same['changed'], same['parsed']) == ('caption', False, True)
    bad = head.parse('<poly><loc_1><loc_2></poly>', SIZE)
    assert (bad['mode'], bad['parsed'], len(bad['errors'])) == ('regions', False, 1)
    assert head.parse('', SIZE, mode='caption')['parsed'] is False


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    for head in (ChangeHead(serializer=LOC), ChangeHead()):
        out = head.parse(text, SIZE)
        assert out['mode'] in ('regions', 'caption')
