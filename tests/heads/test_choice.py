import pytest
from hypothesis import given, settings, strategies as st

from eov.heads import ChoiceHead, format_choices
from eov.registry import HEADS

CHOICES = ['a harbor', 'an airport', 'a farmland']
TARGET = [{'type': 'choice', 'choices': CHOICES, 'answer': 'an airport'}]


def test_templates_are_seeded():
    head = HEADS.build(dict(type='choice', serializer=dict(type='LocTokenSerializer')))
    qs = {head.question(seed=s, question='What is it?', choices=CHOICES) for s in range(60)}
    assert len(qs) == len(ChoiceHead.templates)
    assert head.question(seed=9, question='Q?', choices=CHOICES) == \
        head.question(seed=9, question='Q?', choices=CHOICES)
    assert head.question(question=' What is it? ', choices=CHOICES) == \
        'What is it?\nA. a harbor\nB. an airport\nC. a farmland'
    assert head.ask(TARGET, None, seed=4, question='What is it?') == \
        head.question(seed=4, question='What is it?', choices=CHOICES)


def test_format_choices_keeps_existing_letters():
    assert format_choices(['1', '2']) == 'A. 1\nB. 2'
    assert format_choices(['A. 1', '(B) 2', 'C) 3']) == 'A. 1\n(B) 2\nC) 3'
    # a letter that is not the option's own is text, not a marker
    assert format_choices(['B. x', 'y']) == 'A. B. x\nB. y'
    with pytest.raises(ValueError, match='at most 26 options'):
        format_choices([str(i) for i in range(27)])


@pytest.mark.parametrize('answer, letter', [
    ('B', 'B'), ('B.', 'B'), ('(B)', 'B'), ('an airport', 'B'), ('An Airport.', 'B'),
    ('C', 'C'), ('a harbor', 'A'),
])
def test_answer_is_the_letter_only(answer, letter):
    target = [{'type': 'choice', 'choices': CHOICES, 'answer': answer}]
    assert ChoiceHead().answer_text(target, None) == letter


def test_answer_with_lettered_options():
    target = [{'type': 'choice', 'choices': ['A. 1', 'B. 2', 'C. 3'], 'answer': '2'}]
    assert ChoiceHead().answer_text(target, None) == 'B'
    target[0]['answer'] = 'C. 3'
    assert ChoiceHead().answer_text(target, None) == 'C'


@pytest.mark.parametrize('target, message', [
    ({'type': 'choice', 'choices': CHOICES, 'answer': 'D'}, "'D' is neither a letter A-C"),
    ({'type': 'choice', 'choices': CHOICES, 'answer': 'a lake'}, 'nor one of the options'),
    ({'type': 'choice', 'choices': ['only'], 'answer': 'A'}, 'at least 2'),
    ({'type': 'choice', 'choices': CHOICES}, "needs an 'answer'"),
    ({'type': 'text', 'text': 'B'}, "target 0 has type 'text'"),
])
def test_answer_validates_targets(target, message):
    with pytest.raises(ValueError, match=message):
        ChoiceHead().answer_text([target], None)
    with pytest.raises(ValueError, match='needs a target of type choice'):
        ChoiceHead().answer_text([], None)


@pytest.mark.parametrize('text, letter', [
    ('B', 'B'), ('B.', 'B'), ('(B)', 'B'), ('B) an airport', 'B'), ('[B]', 'B'),
    ('**B**', 'B'), ('The answer is B', 'B'), ('The answer is (B).', 'B'),
    ('Answer: B', 'B'), ('I think the correct option is B.', 'B'), ('B is correct', 'B'),
    ('an airport', 'B'), ('It is an airport.', 'B'), ('  b.  ', None),
    ('D', None), ('The answer is D', None), ('A large field', None), ('', None),
    ('an airport or a harbor', None), ('no idea', None),
])
def test_parse(text, letter):
    out = ChoiceHead().parse(text, choices=CHOICES)
    assert out['choice'] == letter
    assert out['text'] == (None if letter is None else CHOICES['ABC'.index(letter)])


def test_parse_without_choices_reads_letters_only():
    head = ChoiceHead()
    assert head.parse('The answer is D.') == {'choice': 'D', 'text': None}
    assert head.parse('an airport') == {'choice': None, 'text': None}
    assert head.parse(None) == {'choice': None, 'text': None}
    # lettered options give their text without the letter
    assert head.parse('B', choices=['A. 1', 'B. 2']) == {'choice': 'B', 'text': '2'}
    assert head.parse('2', choices=['A. 1', 'B. 2']) == {'choice': 'B', 'text': '2'}


def test_round_trip():
    head = ChoiceHead()
    for i, option in enumerate(CHOICES):
        target = [{'type': 'choice', 'choices': CHOICES, 'answer': option}]
        assert head.parse(head.answer_text(target, None), choices=CHOICES) == \
            {'choice': 'ABC'[i], 'text': option}


@settings(max_examples=300, deadline=None)
@given(st.text(), st.one_of(st.none(), st.lists(st.text(), max_size=30)))
def test_parse_never_raises(text, choices):
    out = ChoiceHead().parse(text, choices=choices)
    assert out['choice'] is None or out['choice'] in 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'


def test_option_answer_style_names_the_option_and_scores_as_its_letter():
    head = HEADS.build(dict(type='choice', answer='option'))
    for i, option in enumerate(CHOICES):
        target = [{'type': 'choice', 'choices': CHOICES, 'answer': 'ABC'[i]}]
        assert head.answer_text(target, None) == option
        assert head.parse(head.answer_text(target, None), choices=CHOICES)['choice'] == 'ABC'[i]
    lettered = [{'type': 'choice', 'choices': ['A. 1', 'B. 2'], 'answer': 'B'}]
    assert head.answer_text(lettered, None) == '2'
    # its questions do not ask for a letter; the letter phrasings stay one variant away
    qs = {head.question(seed=s, question='Q?', choices=CHOICES) for s in range(60)}
    assert len(qs) == len(ChoiceHead.variants['option'])
    assert not any('letter' in q for q in qs)
    assert head.question(question='Q?', choices=CHOICES) == ChoiceHead().question(
        question='Q?', choices=CHOICES)
    assert any('letter' in head.question(seed=s, variant='default', question='Q?',
                                         choices=CHOICES) for s in range(20))
    with pytest.raises(ValueError, match="answer must be one of"):
        ChoiceHead(answer='text')
