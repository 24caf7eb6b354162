import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import CaptioningHead
from eov.registry import HEADS


def test_templates_are_seeded():
    head = HEADS.build(dict(type='captioning', serializer=dict(type='LocTokenSerializer')))
    assert {head.question(seed=s) for s in range(80)} == set(CaptioningHead.templates)
    assert head.question(seed=11) == head.question(seed=11)
    assert head.question() == 'Describe this image.'


def test_answer_is_the_first_reference_and_all_are_kept():
    head = CaptioningHead()
    targets = [{'type': 'text', 'text': ' Many planes are parked. '},
               {'type': 'text', 'text': 'An airport with planes.'}]
    assert head.answer_text(targets, (10, 10)) == 'Many planes are parked.'
    assert head.references(targets) == ['Many planes are parked.', 'An airport with planes.']


@pytest.mark.parametrize('targets, message', [
    ([], "needs a target of type text"),
    ([{'type': 'label', 'label': 'x'}], "target 0 has type 'label'"),
    ([{'type': 'text', 'text': '  '}], "captioning target 0 'text' must be non-empty text"),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        CaptioningHead().answer_text(targets, None)


def test_parse_and_round_trip():
    head = CaptioningHead()
    assert head.parse('  A river crosses the town.\n') == {'text': 'A river crosses the town.'}
    assert head.parse(None) == {'text': ''}
    target = [{'type': 'text', 'text': 'Two tennis courts.'}]
    assert head.parse(head.answer_text(target, None))['text'] == 'Two tennis courts.'


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    assert CaptioningHead().parse(text) == {'text': text.strip()}
