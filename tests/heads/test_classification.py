import pytest
from hypothesis import given, settings, strategies as st

from eov.evaluation.benchmarks import BEN19_CLASSES
from eov.heads import ClassificationHead
from eov.registry import HEADS


def test_templates_are_seeded_per_variant():
    head = HEADS.build(dict(type='classification'))
    single = {head.question(seed=s) for s in range(60)}
    multi = {head.question(seed=s, variant='multi') for s in range(60)}
    assert single == set(ClassificationHead.templates)
    assert multi == set(ClassificationHead.variants['multi'])
    assert head.question(seed=7) == head.question(seed=7)
    assert head.question() == ClassificationHead.templates[0]
    assert head.question(variant='single') == head.question()
    assert head.question(classes=['forest', 'river']).endswith(' Choose from: forest; river.')
    with pytest.raises(ValueError, match="no question variant 'double'"):
        head.question(variant='double')


def test_question_fields_pick_the_variant():
    head = ClassificationHead()
    assert head.question_fields([{'type': 'label', 'label': 'forest'}], None) == {}
    multi = [{'type': 'labels', 'labels': ['forest']}]
    assert head.question_fields(multi, None) == {'variant': 'multi'}
    assert head.ask(multi, seed=3) == head.question(seed=3, variant='multi')


def test_answer_text_single_and_multi_label_order():
    head = ClassificationHead()
    assert head.answer_text([{'type': 'label', 'label': ' airport '}], None) == 'airport'
    multi = [{'type': 'labels', 'labels': ['river', 'Forest', 'river', 'beach']}]
    assert head.answer_text(multi, None) == 'river, Forest, beach'      # given order, no repeats
    assert ClassificationHead(order='sorted').answer_text(multi, None) == 'beach, Forest, river'
    # several label targets are one multi-label list
    two = [{'type': 'label', 'label': 'b'}, {'type': 'label', 'label': 'a'}]
    assert head.answer_text(two, None) == 'b, a'
    # with classes: canonical spelling, unknown names refused
    known = ClassificationHead(classes=['Forest', 'River'])
    assert known.answer_text([{'type': 'labels', 'labels': ['forest', 'RIVER']}], None) == \
        'Forest, River'
    with pytest.raises(ValueError, match=r"\['lake'\] not among the head's 2 classes"):
        known.answer_text([{'type': 'label', 'label': 'lake'}], None)


@pytest.mark.parametrize('targets, message', [
    ([], 'needs a target of type label/labels'),
    ([{'type': 'text', 'text': 'x'}], "targets of type label/labels; target 0 has type 'text'"),
    ([{'type': 'labels', 'labels': []}], "needs a non-empty 'labels' list"),
    ([{'type': 'label', 'label': ''}], 'class names must be non-empty text'),
    ([{'type': 'label'}], 'class names must be non-empty text'),
])
def test_answer_text_validates_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        ClassificationHead().answer_text(targets, None)


def test_bad_options():
    with pytest.raises(ValueError, match='order must be one of'):
        ClassificationHead(order='random')


def test_parse_without_classes_splits_the_list():
    head = ClassificationHead()
    assert head.parse('forest, river and beach.') == \
        {'labels': ['forest', 'river', 'beach'], 'parsed': True}
    assert head.parse('- Forest\n- river; forest') == \
        {'labels': ['Forest', 'river'], 'parsed': True}
    assert head.parse('  ') == {'labels': [], 'parsed': False}
    assert head.parse(None) == {'labels': [], 'parsed': False}


def test_parse_with_classes_matches_whole_names():
    head = ClassificationHead(classes=BEN19_CLASSES)
    out = head.parse('The image shows MIXED  forest and transitional woodland, shrub; '
                     'also some pastures.')
    assert out == {'labels': ['Mixed forest', 'Transitional woodland, shrub', 'Pastures'],
                   'parsed': True}
    assert head.parse('a lake') == {'labels': [], 'parsed': False}
    # classes given to parse override the head's
    assert ClassificationHead().parse('I see a River.', classes=['river', 'lake']) == \
        {'labels': ['river'], 'parsed': True}
    # longest name wins where names overlap
    assert ClassificationHead(classes=['forest', 'mixed forest']).parse('mixed forest') == \
        {'labels': ['mixed forest'], 'parsed': True}


def test_round_trip_with_commas_in_class_names():
    head = ClassificationHead(classes=BEN19_CLASSES)
    labels = ['Land principally occupied by agriculture, with significant areas of natural '
              'vegetation', 'Moors, heathland and sclerophyllous vegetation',
              'Beaches, dunes, sands', 'Inland waters']
    text = head.answer_text([{'type': 'labels', 'labels': labels}], None)
    assert head.parse(text)['labels'] == labels


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises(text):
    for head in (ClassificationHead(), ClassificationHead(classes=BEN19_CLASSES)):
        out = head.parse(text)
        assert set(out) == {'labels', 'parsed'} and isinstance(out['labels'], list)
