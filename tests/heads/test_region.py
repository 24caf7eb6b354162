import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import RegionHead
from eov.registry import HEADS

LOC = dict(type='LocTokenSerializer', bins=100)
SIZE = (200, 100)
BOX = {'type': 'hbb', 'bbox': [20, 10, 60, 50], 'role': 'input', 'label': 'hidden'}
CAPTION = [BOX, {'type': 'text', 'text': 'A white ship at the pier.'},
           {'type': 'text', 'text': 'A moored ship.'}]
CLASS = [dict(BOX), {'type': 'label', 'label': 'ship'}]


def test_templates_are_seeded():
    head = HEADS.build(dict(type='region', serializer=LOC))
    assert {head.question(seed=s, region='R') for s in range(60)} == \
        {t.format(region='R') for t in RegionHead.templates}
    assert {head.question(seed=s, variant='class', region='R') for s in range(60)} == \
        {t.format(region='R') for t in RegionHead.variants['class']}
    with pytest.raises(ValueError, match="needs the field 'region'"):
        head.question(seed=1)


def test_question_shows_the_serialized_region_without_its_label():
    head = RegionHead(serializer=LOC)
    region = '<box><loc_10><loc_10><loc_30><loc_50></box>'
    assert head.question_fields(CAPTION, SIZE) == {'region': region}
    assert head.ask(CAPTION, SIZE) == f'Describe the region {region}.'
    assert head.question_fields(CLASS, SIZE) == {'region': region, 'variant': 'class'}
    assert head.ask(CLASS, SIZE, seed=5) == head.question(seed=5, variant='class', region=region)
    assert 'hidden' not in head.ask(CLASS, SIZE)
    qwen = RegionHead(serializer=dict(type='QwenTextSerializer'))
    assert qwen.ask(CAPTION, SIZE) == 'Describe the region <box>(100,100),(300,500)</box>.'


def test_answer_is_the_text_or_the_class():
    head = RegionHead(serializer=LOC)
    assert head.answer_text(CAPTION, SIZE) == 'A white ship at the pier.'
    assert head.references(CAPTION) == ['A white ship at the pier.', 'A moored ship.']
    assert head.answer_text(CLASS, SIZE) == 'ship'
    # the role is optional
    assert head.answer_text([{'type': 'point', 'point': [5, 5]},
                             {'type': 'text', 'text': 'a car'}], SIZE) == 'a car'


@pytest.mark.parametrize('targets, message', [
    ([{'type': 'text', 'text': 'x'}], 'needs one input region target'),
    ([BOX, BOX, {'type': 'text', 'text': 'x'}], 'one input region, got 2'),
    ([BOX], 'needs a target of type text/label'),
    ([dict(BOX, role='output'), {'type': 'text', 'text': 'x'}], "role must be 'input'"),
    ([BOX, {'type': 'count', 'count': 2}], "target 1 has type 'count'"),
    ([BOX, {'type': 'text', 'text': 'x'}, {'type': 'label', 'label': 'y'}], 'not both'),
    ([BOX, {'type': 'text', 'text': ' '}], 'must be non-empty text'),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        RegionHead(serializer=LOC).answer_text(targets, SIZE)


def test_parse_and_round_trip():
    head = RegionHead(serializer=LOC)
    assert head.parse(' Ship. ') == {'text': 'Ship.', 'label': 'Ship'}
    assert head.parse('') == {'text': '', 'label': None}
    classes = RegionHead(serializer=LOC, classes=['ship', 'storage tank'])
    assert classes.parse('It is a Storage  Tank.') == {'text': 'It is a Storage  Tank.',
                                                        'label': 'storage tank'}
    assert classes.parse('no idea')['label'] is None
    assert classes.parse(classes.answer_text(CLASS, SIZE))['label'] == 'ship'
    assert head.parse(head.answer_text(CAPTION, SIZE))['text'] == 'A white ship at the pier.'


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    for head in (RegionHead(serializer=LOC), RegionHead(serializer=LOC, classes=['ship'])):
        assert set(head.parse(text)) == {'text', 'label'}
