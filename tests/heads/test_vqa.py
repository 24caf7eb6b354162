import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import VQAHead, first_number
from eov.registry import HEADS


def test_templates_are_seeded_and_the_canonical_one_is_the_question():
    head = HEADS.build(dict(type='vqa', serializer=dict(type='LocTokenSerializer')))
    qs = {head.question(seed=s, question='Is there a river?') for s in range(60)}
    assert qs == {t.format(question='Is there a river?') for t in VQAHead.templates}
    assert head.question(question='  Is there a river? ') == 'Is there a river?'
    counts = {head.question(seed=s, variant='count', object='ships') for s in range(60)}
    assert len(counts) == len(VQAHead.variants['count'])
    assert head.question(variant='count', object='ships') == \
        'How many ships are there in this image?'
    with pytest.raises(ValueError, match="needs the field 'question'"):
        head.question()


def test_answer_text():
    head = VQAHead()
    assert head.answer_text([{'type': 'text', 'text': ' yes '}], None) == 'yes'
    assert head.answer_text([{'type': 'count', 'count': 12}], None) == '12'
    assert head.answer_text([{'type': 'count', 'count': 0}], None) == '0'
    assert head.answer_text([{'type': 'count', 'count': 3.0}], None) == '3'


@pytest.mark.parametrize('targets, message', [
    ([], 'needs a target of type text/count'),
    ([{'type': 'hbb', 'bbox': [0, 0, 1, 1]}], "target 0 has type 'hbb'"),
    ([{'type': 'count', 'count': -1}], 'non-negative integer'),
    ([{'type': 'count', 'count': 2.5}], 'non-negative integer'),
    ([{'type': 'count', 'count': True}], 'non-negative integer'),
    ([{'type': 'count', 'count': '3'}], 'non-negative integer'),
    ([{'type': 'text', 'text': ''}], "vqa 'text' target must be non-empty text"),
    ([{'type': 'text', 'text': 'a'}, {'type': 'text', 'text': 'b'}], 'one answer target'),
])
def test_answer_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        VQAHead().answer_text(targets, None)


@pytest.mark.parametrize('text, number', [
    ('3', 3), ('There are 12 ships.', 12), ('twelve', 12), ('Zero.', 0),
    ('about 1,250 cars', 1250), ('3.0', 3), ('2.5 or 4', 4), ('one of them, 5 in all', 1),
    ('yes', None), ('', None), ('-3', -3), ('B-52s: 4', 4),
])
def test_first_number(text, number):
    assert first_number(text) == number
    assert VQAHead().parse(text)['number'] == number


def test_parse_and_round_trip():
    head = VQAHead()
    assert head.parse(' Yes. ') == {'text': 'Yes.', 'number': None}
    assert head.parse(None) == {'text': '', 'number': None}
    for target in ({'type': 'count', 'count': 17}, {'type': 'text', 'text': 'residential'}):
        out = head.parse(head.answer_text([target], None))
        assert out['number'] == target.get('count') and out['text'] == \
            str(target.get('count', target.get('text')))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    out = VQAHead().parse(text)
    assert out['number'] is None or isinstance(out['number'], int)


@given(st.integers(0, 10 ** 6))
def test_counts_round_trip(n):
    head = VQAHead()
    assert head.parse(head.answer_text([{'type': 'count', 'count': n}], None))['number'] == n
