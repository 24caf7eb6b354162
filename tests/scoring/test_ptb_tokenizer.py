"""The PTB tokenizer of the caption metrics (LEVIR-CC, TaskMetric): eov's Python rendering against the Java program.

pycocoevalcap 1.2 tokenises captions with Stanford CoreNLP 3.4.1's Java
``PTBTokenizer`` (``-preserveLines -lowerCase``) and drops its ``PUNCTUATIONS``.
The expected token lists below were **produced by that Java tokenizer**: the
``stanford-corenlp-3.4.1.jar`` shipped in pycocoevalcap 1.2, run through
``pycocoevalcap.tokenizer.ptbtokenizer.PTBTokenizer`` on OpenJDK 17.0.15, on
2026-11-30. eov's Python rendering must reproduce them exactly; when Java and
pycocoevalcap are installed, the Java program is also run here.
"""
import random

import pytest

from eov.scoring import ptb
from eov.scoring.ptb import (PTB_PUNCTUATIONS, ptb_java_unavailable, ptb_lex, ptb_tokenize,
                             ptb_tokenize_batch)

# (caption, tokens) -- tokens as printed by the Java PTBTokenizer (see the module docstring)
JAVA_TOKENS = [
    ('The road is 3.5m wide.',
     ['the', 'road', 'is', '3.5', 'm', 'wide']),
    ('A 10m2 plot, 2km away and 12:30pm.',
     ['a', '10m2', 'plot', '2km', 'away', 'and', '12:30', 'pm']),
    ('Meet at 3:00, not 3:00pm.',
     ['meet', 'at', '3:00', 'not', '3:00', 'pm']),
    ('I cannot see it; Cannot!',
     ['i', 'can', 'not', 'see', 'it', 'can', 'not']),
    ("We're gonna build, wanna see? Gotta go, lemme look, gimme that.",
     ['we', "'re", 'gon', 'na', 'build', 'wan', 'na', 'see', 'got', 'ta', 'go', 'lem', 'me', 'look', 'gim', 'me', 'that']),
    ("'Tis the season, 'twas built.",
     ["'t", 'is', 'the', 'season', "'t", 'was', 'built']),
    ('Buildings (new ones) appear [left] and {right}.',
     ['buildings', '-lrb-', 'new', 'ones', '-rrb-', 'appear', '-lsb-', 'left', '-rsb-', 'and', '-lcb-', 'right', '-rcb-']),
    ('Houses, e.g. villas, i.e. big ones, etc. are built.',
     ['houses', 'e.g.', 'villas', 'i.e.', 'big', 'ones', 'etc.', 'are', 'built']),
    ('Roads etc. The end.',
     ['roads', 'etc.', 'the', 'end']),
    ('The U.S. army base, U.S.A. style.',
     ['the', 'u.s.', 'army', 'base', 'u.s.a.', 'style']),
    ('Dr. Smith and Mr. Jones at 5 p.m. today.',
     ['dr.', 'smith', 'and', 'mr.', 'jones', 'at', '5', 'p.m.', 'today']),
    ('Area I. The road.',
     ['area', 'i', 'the', 'road']),
    ('Zone b. the road.',
     ['zone', 'b.', 'the', 'road']),
    ('No. 5 road, Fig. 3 shows it, ca. 1990.',
     ['no.', '5', 'road', 'fig.', '3', 'shows', 'it', 'ca.', '1990']),
    ('Say no. It is fine.',
     ['say', 'no', 'it', 'is', 'fine']),
    ('"Quoted" words and "more quotes".',
     ['quoted', 'words', 'and', 'more', 'quotes']),
    ("'Single' quotes and it's the building's roof.",
     ['single', 'quotes', 'and', 'it', "'s", 'the', 'building', "'s", 'roof']),
    ("The cars' roofs aren't red; isn't it? Don't, won't, can't.",
     ['the', 'cars', 'roofs', 'are', "n't", 'red', 'is', "n't", 'it', 'do', "n't", 'wo', "n't", 'ca', "n't"]),
    ('Curly ‘quotes’ and “double” ones, don’t.',
     ['curly', 'quotes', 'and', 'double', 'ones', 'do', "n't"]),
    ('A two-story, well-known 10-story x-ray building.',
     ['a', 'two-story', 'well-known', '10-story', 'x-ray', 'building']),
    ('A 3.5-m road, a 1,000-meter runway and U.S.-based firms.',
     ['a', '3.5-m', 'road', 'a', '1,000-meter', 'runway', 'and', 'u.s.-based', 'firms']),
    ('1,000 houses and 1,000.5 m and 12,500 trees.',
     ['1,000', 'houses', 'and', '1,000.5', 'm', 'and', '12,500', 'trees']),
    ('About 50% of $5 and US$10 or €3 and £2.',
     ['about', '50', '%', 'of', '$', '5', 'and', 'us$', '10', 'or', '$', '3', 'and', '#', '2']),
    ('1/2 of the area, 3 1/2 km, 12/25/2009 and and/or km/h.',
     ['1/2', 'of', 'the', 'area', '3\xa01/2', 'km', '12/25/2009', 'and', 'and/or', 'km/h']),
    ('½ of the lake and ¼ of the forest.',
     ['1/2', 'of', 'the', 'lake', 'and', '1/4', 'of', 'the', 'forest']),
    ('Dashes -- like this --- and – and — here.',
     ['dashes', 'like', 'this', 'and', 'and', 'here']),
    ('Wait... and more.... and . . . dots!',
     ['wait', 'and', 'more', 'and', 'dots']),
    ('What?! Really!!! Yes?',
     ['what', '?!', 'really', '!!!', 'yes']),
    ('Email a@b.com or visit www.example.com or http://x.org/a.',
     ['email', 'a@b.com', 'or', 'visit', 'www.example.com', 'or', 'http://x.org/a']),
    ('At&T and R&D and S&P-500 and AT&T.',
     ['at', '&', 't', 'and', 'r&d', 'and', 's&p-500', 'and', 'at&t']),
    ("Rock 'n' roll, o'clock, y'all and ma'am.",
     ['rock', "'n'", 'roll', "o'clock", "y'", 'all', 'and', "ma'am"]),
    ("The 1990s and the '90s.",
     ['the', '1990s', 'and', 'the', "'90s"]),
    ('Temperature 5°C and m² area.',
     ['temperature', '5', '°', 'c', 'and', 'm', '²', 'area']),
    ('A.k.a. the U.K. and N.Y. roads.',
     ['a.k.a.', 'the', 'u.k.', 'and', 'n.y.', 'roads']),
    ('He said: "Yes." Then left.',
     ['he', 'said', 'yes', 'then', 'left']),
    ('Trees ( a few ) remain.',
     ['trees', '-lrb-', 'a', 'few', '-rrb-', 'remain']),
    ('-LRB- stays and -lrb- too.',
     ['-lrb-', 'stays', 'and', '-lrb-', 'too']),
    ('Co. Ltd and Inc. are companies.',
     ['co.', 'ltd', 'and', 'inc.', 'are', 'companies']),
    ('Smileys :) and :( and ;-) here.',
     ['smileys', ':-rrb-', 'and', ':-lrb-', 'and', ';--rrb-', 'here']),
    ('file.png and report.pdf, image.jpg.',
     ['file.png', 'and', 'report.pdf', 'image.jpg']),
    ('Tabs\tand\xa0non-breaking spaces.',
     ['tabs', 'and', 'non-breaking', 'spaces']),
    ('Numbers -5 and +3 and .5 and 5.',
     ['numbers', '-5', 'and', '+3', 'and', '.5', 'and', '5']),
    ('#tag @user c++ C# f#',
     ['#tag', '@user', 'c++', 'c#', 'f#']),
    ('<b>bold</b> text',
     ['<b>', 'bold', '</b>', 'text']),
    ('',
     []),
    ('...',
     []),
    ('the scene is the same as before .',
     ['the', 'scene', 'is', 'the', 'same', 'as', 'before']),
]


@pytest.mark.parametrize('caption,tokens', JAVA_TOKENS, ids=[c[:30] for c, _ in JAVA_TOKENS])
def test_python_tokens_equal_the_java_tokenizer(caption, tokens):
    assert ptb_tokenize(caption) == tokens


def test_batch_equals_single_captions_and_java_outputs():
    captions = [c for c, _ in JAVA_TOKENS]
    assert ptb_tokenize_batch(captions, backend='python') == [t for _, t in JAVA_TOKENS]


def test_raw_tokens_before_punctuation_removal():
    # Java: `` a '' ` b ' ` c ' `` d '' ( LaTeX quotes: left ones decided by what follows )
    assert [t.lower() for t in ptb_lex('"a" \'b\' \u2018c\u2019 \u201cd\u201d')] == [
        '``', 'a', "''", '`', 'b', "'", '`', 'c', "'", '``', 'd', "''"]
    # Java: mr. smith . the u.s. . the u.s. the  (a period after an abbreviation before a
    # capitalised word is repeated as a sentence end)
    assert [t.lower() for t in ptb_lex('Mr. Smith. The U.S. The u.s. the')] == [
        'mr.', 'smith', '.', 'the', 'u.s.', '.', 'the', 'u.s.', 'the']
    # bracket tokens stay: pycocoevalcap's list has -LRB-, the lower-cased token is -lrb-
    assert '-LRB-' in PTB_PUNCTUATIONS and ptb_tokenize('(a)') == ['-lrb-', 'a', '-rrb-']


def test_captions_are_tokenised_as_lines_of_one_text():
    # Java on the two lines "Area I." / "The road." gives area i . | the road . but on
    # "Area I." / "the road." gives area i. | the road . : the next caption decides
    assert ptb_tokenize_batch(['Area I.', 'The road.'], backend='python') == [
        ['area', 'i'], ['the', 'road']]
    assert ptb_tokenize_batch(['Area I.', 'the road.'], backend='python') == [
        ['area', 'i.'], ['the', 'road']]
    # a line break inside a caption is a space (Java would start a new line and shift
    # every later caption: it splits "x\u2028y" / "z" into x | y | z)
    assert ptb_tokenize_batch(['x\u2028y', 'a\r\nb', 'z'], backend='python') == [
        ['x', 'y'], ['a', 'b'], ['z']]
    assert ptb_tokenize_batch([], backend='python') == []
    assert ptb_tokenize(None) == []


def test_backend_choice(monkeypatch):
    monkeypatch.setattr(ptb.shutil, 'which', lambda name: None)
    assert ptb_java_unavailable() == 'no java on PATH'
    with pytest.raises(RuntimeError, match='Java PTBTokenizer cannot run: no java on PATH'):
        ptb_tokenize_batch(['a b'], backend='java')
    assert ptb_tokenize_batch(['A road.'], backend='auto') == [['a', 'road']]     # falls back
    with pytest.raises(ValueError, match='backend must be one of auto, java, python'):
        ptb_tokenize_batch(['a'], backend='perl')


def _random_caption(rng):
    pieces = ('the a two-story building buildings road 3.5m 10m2 12:30 1,000 e.g. etc. U.S. Dr. '
              "isn't can't it's cars' cannot gonna ( ) [ ] { } \" ' ` -- ... . , ; : ! ? % $ & "
              '/ and/or 1/2 x-ray No. 5 A. I. The They \u2019s \u201c \u201d \u2013 \u00bd '
              'www.a.com a@b.c :) o\'clock y\'all').split(' ')
    seps = [' '] * 6 + ['']
    return ''.join(rng.choice(pieces) + rng.choice(seps) for _ in range(rng.randint(1, 14)))


@pytest.mark.skipif(ptb_java_unavailable() is not None,
                    reason=f'Java PTBTokenizer not available: {ptb_java_unavailable()}')
def test_python_equals_java_on_random_captions():
    rng = random.Random(0)
    captions = [_random_caption(rng) for _ in range(400)] + [c for c, _ in JAVA_TOKENS]
    assert ptb_tokenize_batch(captions, backend='python') == \
        ptb_tokenize_batch(captions, backend='java')
