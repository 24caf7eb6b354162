import pytest

from eov.heads import GroundingHead
from eov.registry import HEADS


def test_question_templates_are_seeded():
    head = HEADS.build(dict(type='grounding', serializer=dict(type='LocTokenSerializer')))
    qs = {head.question(seed=s, phrase='red circle') for s in range(40)}
    assert len(qs) == len(GroundingHead.templates)
    assert head.question(seed=5, phrase='x') == head.question(seed=5, phrase='x')
    assert head.question(phrase='blue square') == 'Where is the blue square?'


def test_answer_uses_the_configured_serializer():
    a = GroundingHead(serializer=dict(type='LocTokenSerializer', bins=10))
    b = GroundingHead(serializer=dict(type='LocTokenSerializer', bins=100))
    target = [{'type': 'hbb', 'bbox': [10, 20, 30, 40]}]
    assert a.answer_text(target, (100, 100)) == '<box><loc_1><loc_2><loc_3><loc_4></box>'
    assert b.answer_text(target, (100, 100)) == '<box><loc_10><loc_20><loc_30><loc_40></box>'
    with pytest.raises(ValueError, match="needs at least one target of type hbb/obb/quad"):
        a.answer_text([{'type': 'label', 'label': 'x'}], (100, 100))


def test_phrase_labels_stay_out_of_the_answer():
    head = GroundingHead(serializer=dict(type='QwenTextSerializer'))
    target = [{'type': 'hbb', 'bbox': [10, 20, 30, 40], 'label': 'the red car'}]
    assert head.answer_text(target, (100, 100)) == '<box>(100,200),(300,400)</box>'


def test_oriented_boxes_are_grounded_and_parsed_to_bounds():
    head = GroundingHead(serializer=dict(type='GeoChatTextSerializer'))
    target = [{'type': 'obb', 'obb': [50, 50, 40, 10, 90]}]
    text = head.answer_text(target, (100, 100))
    assert text == '{<30><45><70><55>|<-90>}'
    out = head.parse(text, (100, 100))
    assert out['objects'][0]['type'] == 'obb'
    assert out['box'] == pytest.approx([45, 30, 55, 70])


def test_parse_takes_the_first_box_and_reports_errors():
    head = GroundingHead(serializer=dict(type='LocTokenSerializer', bins=10))
    out = head.parse('<box><loc_1><loc_2></box><box><loc_1><loc_2><loc_3><loc_4></box>',
                     (100, 100))
    assert out['parsed'] and out['box'] == [15.0, 25.0, 35.0, 45.0]
    assert len(out['errors']) == 1
    bad = head.parse('I do not know', (100, 100))
    assert bad == dict(objects=[], box=None, parsed=False, errors=[])


def test_head_requires_serializer():
    with pytest.raises(ValueError, match='needs a serializer'):
        GroundingHead(serializer=None)
