"""Multiple-choice reasoning (cross-modal included)."""
from __future__ import annotations

import re
import string
from typing import Sequence

import numpy as np

from eov.registry import HEADS

from .base import BaseTaskHead, as_text, normalize, strip_answer, with_predictions

#: Target type of a multiple-choice answer.
CHOICE_TYPES = ('choice',)
#: Option letters.
LETTERS = string.ascii_uppercase
# 'B', 'B.', '(B)', 'B)', '[B]', 'B:' alone or before the option text
_LEAD_RE = re.compile(r'^[\s*_"\'`]*[(\[]?([A-Z])(?:\s*[)\]]|\s*[.:](?!\w)|(?=[\s*_"\'`]*$)'
                      r'|(?=\s+is\b))')
_MARKER_RE = re.compile(r'^\s*[(\[]?([A-Z])\s*[.)\]:]\s*')
_SAID_RE = re.compile(r'(?i:\b(?:answer|option|choice))(?:\s+(?i:is|would be|should be))?'
                      r'\s*[:\-]?\s*(?i:option\s+)?[(\[*"\']*([A-Z])(?![A-Za-z0-9])')


def option_letter(index: int) -> str:
    """The letter of option ``index`` (0 -> ``'A'``)."""
    if not 0 <= index < len(LETTERS):
        raise ValueError(f'a choice question has at most {len(LETTERS)} options')
    return LETTERS[index]


def _marked(option: str, index: int) -> bool:
    match = _MARKER_RE.match(option)
    return bool(match) and match.group(1) == LETTERS[index]


def option_text(option: str, index: int | None = None) -> str:
    """An option without its leading letter marker (``'B. 2'`` -> ``'2'``).

    With ``index``, the marker is removed only when it is that option's letter.
    """
    match = _MARKER_RE.match(option)
    if match and (index is None or match.group(1) == LETTERS[index]):
        return option[match.end():].strip()
    return option.strip()


def format_choices(choices: Sequence[str]) -> str:
    """The options one a line, ``'A. first'``, ``'B. second'`` ...

    Options that already start with their own letter (``'A. 1'``, ``'(B) 2'``
    -- as some benchmarks ship them) are written unchanged, so a prompt stays
    the benchmark's own.
    """
    lines = []
    for i, option in enumerate(choices):
        letter = option_letter(i)
        option = str(option).strip()
        lines.append(option if _marked(option, i) else f'{letter}. {option}')
    return '\n'.join(lines)


@HEADS.register_module(name='choice')
class ChoiceHead(BaseTaskHead):
    """Multiple-choice questions: options in the question, a letter in the answer.

    Question: ``question(question=..., choices=[...])``; the options are
    listed by :func:`format_choices` one a line (``'A. ...'``). The default
    template is the question followed by the options (EarthMind-Bench's
    official prompt, used by its converter); the others add an instruction to
    answer with the letter (with ``answer='option'``, the ``'option'``
    variant's phrasings ask for the option instead). :meth:`question_fields`
    takes the options from the ``choice`` target.

    Target: one ``{'type': 'choice', 'choices': [options], 'answer': a}``
    where ``a`` is a letter (``'B'``, ``'B.'``, ``'(B)'``) or an option's text
    (with or without its letter). Answer: **the letter only**, e.g. ``'B'``
    (``answer='letter'``, the benchmarks' format), or the option's text, e.g.
    ``'bare soil'`` (``answer='option'``: the model names the content instead
    of binding it to a letter, which a small model learns far sooner; the
    parser maps the text back to its letter, so scores stay letter scores).

    Scoring: ``accuracy`` of the letter (the options go to the parser).
    Chance: a uniformly random option, as an exact expectation.

    Parsing: ``{'choice': 'B' or None, 'text': option text or None}``.
    Accepted: ``'B'``, ``'B.'``, ``'(B)'``, ``'B) 2'``, ``'The answer is
    B'``, ``'Answer: (B)'``, or the option's text itself (exactly, or the only
    option text found in the answer, whole words). With ``choices`` (given to
    ``parse`` or from the target), letters beyond the last option are
    rejected and ``text`` is filled.

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
        answer: ``'letter'`` (default) or ``'option'``: what the answer text is.
    """

    task = 'choice'
    primary_metrics = {None: 'accuracy'}
    templates = (
        '{question}\n{options}',
        '{question}\n{options}\nAnswer with the option\'s letter from the given choices '
        'directly.',
        'Question: {question}\nOptions:\n{options}\nAnswer with the letter of the correct '
        'option.',
    )
    #: ``answer='option'`` asks with these by default (no letter instruction).
    variants = {'option': (
        '{question}\n{options}',
        '{question}\n{options}\nAnswer with the correct option.',
        'Question: {question}\nOptions:\n{options}\nAnswer with the text of the correct option.',
    )}

    #: Answer styles: the option's letter, or its text.
    ANSWER_STYLES = ('letter', 'option')

    def __init__(self, serializer=None, answer: str = 'letter'):
        super().__init__(serializer)
        if answer not in self.ANSWER_STYLES:
            raise ValueError(f"choice head: answer must be one of {self.ANSWER_STYLES}, "
                             f'got {answer!r}')
        self.answer = answer

    def templates_for(self, variant: str | None = None) -> tuple[str, ...]:
        """As the base class; with ``answer='option'`` the default set is ``'option'``."""
        if variant is None and self.answer == 'option':
            variant = 'option'
        return super().templates_for(variant)

    def question(self, seed=None, variant=None, question: str | None = None,
                 choices: Sequence[str] | None = None, **fields) -> str:
        """A multiple-choice question (``choices`` become the ``options`` field)."""
        if question is not None:
            fields['question'] = str(question).strip()
        if choices is not None:
            fields['options'] = format_choices(choices)
        return super().question(seed, variant=variant, **fields)

    def question_fields(self, targets, image_size=None) -> dict:
        """``{'choices': [...]}`` of the ``choice`` target."""
        return {'choices': self.target_of(targets)['choices']}

    def target_of(self, targets) -> dict:
        """The one ``choice`` target, checked.

        Raises:
            ValueError: no ``choice`` target or several, fewer than 2 options,
                or an answer that is neither a valid letter nor an option.
        """
        targets = self.check_targets(targets, CHOICE_TYPES)
        if not targets:
            raise self.missing(CHOICE_TYPES)
        if len(targets) > 1:
            raise ValueError(f'a choice record has one choice target, got {len(targets)}')
        target = targets[0]
        choices = target.get('choices')
        if not isinstance(choices, (list, tuple)) or len(choices) < 2 \
                or not all(isinstance(c, str) and c.strip() for c in choices):
            raise ValueError(f"a 'choice' target needs 'choices': a list of at least 2 "
                             f'non-empty options, got {choices!r}')
        option_letter(len(choices) - 1)
        if not isinstance(target.get('answer'), str) or not target['answer'].strip():
            raise ValueError(f"a 'choice' target needs an 'answer' (letter or option text), "
                             f"got {target.get('answer')!r}")
        return target

    def answer_letter(self, targets) -> str:
        """The letter of the target's answer."""
        target = self.target_of(targets)
        choices, answer = target['choices'], target['answer']
        letter = self._letter(answer, choices, options_first=False)
        if letter is None:
            raise ValueError(f"choice answer {answer!r} is neither a letter "
                             f'A-{LETTERS[len(choices) - 1]} nor one of the options '
                             f'{list(choices)!r}')
        return letter

    def answer_text(self, targets, image_size=None) -> str:
        """The letter of the right option (``'B'``), or its text with ``answer='option'``."""
        letter = self.answer_letter(targets)
        if self.answer == 'letter':
            return letter
        index = LETTERS.index(letter)
        return option_text(self.target_of(targets)['choices'][index], index)

    @staticmethod
    def _letter(text: str, choices: Sequence[str] | None, options_first: bool) -> str | None:
        n = len(choices) if choices else len(LETTERS)

        def by_option():
            if not choices:
                return None
            said = normalize(strip_answer(text))
            bare = normalize(strip_answer(option_text(text)))
            opts = [normalize(strip_answer(option_text(c, i))) for i, c in enumerate(choices)]
            full = [normalize(strip_answer(c)) for c in choices]
            for i, (o, f) in enumerate(zip(opts, full)):
                if said and said in (o, f) or bare and bare == o:
                    return LETTERS[i]
            found = [i for i, o in enumerate(opts) if o and re.search(
                r'(?<!\w)' + re.escape(o) + r'(?!\w)', said)]
            # the longest option wins when one contains another ('2' in '12')
            found = [i for i in found if not any(
                j != i and opts[i] in opts[j] and len(opts[j]) > len(opts[i]) for j in found)]
            return LETTERS[found[0]] if len(found) == 1 else None

        if options_first:
            letter = by_option()
            if letter:
                return letter
        # a leading letter, else one the text says ('The answer is B'), within the options
        for match in (_LEAD_RE.match(text), _SAID_RE.search(text)):
            if match and LETTERS.index(match.group(1)) < n:
                return match.group(1)
        return None if options_first else by_option()

    def parse(self, text, image_size=None, choices: Sequence[str] | None = None) -> dict:
        """``{'choice': letter or None, 'text': option text or None}``; never raises.

        Args:
            text: Model answer.
            image_size: Unused.
            choices: The options (to check the letter and match option text).
        """
        text = as_text(text)
        if choices is not None and (not isinstance(choices, (list, tuple))
                                    or not all(isinstance(c, str) for c in choices)):
            choices = None
        choices = list(choices)[:len(LETTERS)] if choices else None
        letter = self._letter(text, choices, options_first=False) if text.strip() else None
        option = None
        if letter is not None and choices:
            index = LETTERS.index(letter)
            option = option_text(choices[index], index)
        return {'choice': letter, 'text': option}

    # -- scoring ------------------------------------------------------------------
    def parse_context(self, targets) -> dict:
        """``{'choices': the options of the record's choice target}``."""
        target = next((t for t in targets or () if t.get('type') == 'choice'), {})
        return {'choices': target.get('choices')}

    def _items(self, rows):
        """``(hits, parsed)`` per record."""
        hits, parsed = [], []
        for r in rows:
            p = self.read(r)
            target = next(t for t in r['targets'] if t.get('type') == 'choice')
            parsed.append(p.get('choice') is not None)
            hits.append(p.get('choice') == self.answer_letter([target]))
        return np.asarray(hits, dtype=bool), parsed

    def score(self, rows, **options) -> dict:
        """``accuracy`` and ``parse_rate`` (a letter was read)."""
        hits, parsed = self._items(rows)
        return {'accuracy': np.mean(hits), 'parse_rate': np.mean(parsed)}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'correct'}`` per row."""
        return [{'correct': bool(hit)} for hit in self._items(rows)[0]]

    def chance_answers(self, rows) -> list[list[str]]:
        """Each option in turn, one candidate per option letter (:meth:`chance` averages
        them per record instead of keeping the best)."""
        n = max(len(next(t for t in r['targets'] if t.get('type') == 'choice')['choices'])
                for r in rows)
        return [[self._option_answer(r, i) for r in rows] for i in range(n)]

    def _option_answer(self, r, index: int) -> str:
        target = next(t for t in r['targets'] if t.get('type') == 'choice')
        index = min(index, len(target['choices']) - 1)
        return self.answer_text([{**target, 'answer': chr(ord('A') + index)}],
                                tuple(r['image_size']))

    def chance(self, rows, primary=None, **options) -> dict:
        """``{'accuracy'}``: the exact expected accuracy of a uniformly random option,
        each option scored through the parser and scorer."""
        expected = []
        for r in rows:
            target = next(t for t in r['targets'] if t.get('type') == 'choice')
            hits = [self.score(with_predictions([r], [self._option_answer(r, i)]))['accuracy']
                    for i in range(len(target['choices']))]
            expected.append(float(np.mean(hits)))
        return {'accuracy': float(np.mean(expected))}

    def record_stat(self, metric, rows, **options):
        """Hits for ``accuracy``."""
        return self._items(rows)[0] if metric == 'accuracy' else None
