"""LEVIR-CC change captioning, scored with the COCO caption metrics as its official code does.

LEVIR-CC (Liu et al., "Remote Sensing Image Change Captioning With Dual-Branch
Transformers: A New Method and a Large Scale Dataset", TGRS 2022) ships
``LevirCCcaptions.json`` (Karpathy-style: ``images`` entries with ``filepath``,
``filename``, ``split``, ``sentences`` of ``raw`` text and ``tokens``) and the
image pairs ``images/<split>/A/<filename>`` (before) and
``images/<split>/B/<filename>`` (after).

The official evaluation (``eval.py`` + ``utils.get_eval_score`` of
RSICCformer, ``Chen-Yang-Liu/RSICC``) runs the pycocoevalcap scorers (its copy
in ``eval_func/``) on the already tokenised references (the JSON's
``tokens``) and hypotheses, without the PTB tokenizer. This module
reimplements those scorers exactly:

- ``Bleu(4)``: n-gram counts clipped by the maximum count in any reference,
  summed over the corpus; the brevity penalty uses, per sentence, the
  reference length closest to the hypothesis (``option='closest'``, ties to
  the shorter), summed over the corpus; ``tiny = 1e-15`` / ``small = 1e-9``
  guards as in ``bleu_scorer.py`` (so an exact match scores 1 - O(1e-9));
- ``Rouge``: ROUGE-L from the longest common subsequence, best precision and
  best recall over the references, ``beta = 1.2``, averaged over images;
- ``Cider``: CIDEr-D -- tf-idf n-gram vectors (n = 1..4, document
  frequencies over the references of the evaluated set, ``log`` of the
  number of images as the idf numerator), similarity clipped by the
  reference's values, a Gaussian length penalty with ``sigma = 6`` on the
  difference of the *bigram* counts (the original's quirk), averaged over n
  and references, ``x 10``; RSICC's copy skips the division for a zero norm
  and uses ``ref_len = 1`` when the set has a single image.

References keep RSICCformer's ``create_input_files.py`` rules: the JSON's
``tokens``, those longer than ``max_len = 50`` dropped. Model answers (free
text) are tokenised as pycocoevalcap's ``PTBTokenizer`` does (Stanford
CoreNLP 3.4.1's Java PTBTokenizer, ``-preserveLines -lowerCase``, then its
punctuation tokens removed): with that Java program when Java and
pycocoevalcap are installed, else with :func:`ptb_lex`, eov's Python
rendering, which gives the same tokens (see :func:`ptb_tokenize_batch`).
METEOR needs the Java ``meteor-1.5.jar``; see :meth:`LevirCC.score`.
"""
from __future__ import annotations

import importlib
import math
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np

from eov.heads.change import ChangeHead
from eov.registry import BENCHMARKS

from .base import (BaseBenchmark, BenchmarkDataError, OptionError, _as_bool, count_missing,
                   prediction_text, read_json)

# -- the PTB tokenizer -------------------------------------------------------------
# A Python rendering of Stanford CoreNLP 3.4.1's ``edu.stanford.nlp.process.PTBTokenizer``
# (the ``stanford-corenlp-3.4.1.jar`` that pycocoevalcap 1.2 ships and runs with
# ``-preserveLines -lowerCase``, default PTB3 normalisations), written for eov from the
# tokenizer's documented behaviour and checked token for token against that jar
# (tests/evaluation/test_ptb_tokenizer.py holds the jar's outputs). It must match the
# Java program exactly. A longest-match lexer: at each position every rule is tried, the
# longest match wins (a rule's right context counts in its length), ties go to the
# earlier rule; some rules emit part of their match and scan the rest again.
# Java's Character.isLetter / isDigit: \w less the numerics that are not decimal digits
# (superscripts, fractions, ...; '%N' is replaced by them when the rules are compiled)
_L = '(?:[^\\W\\d_%N]|[\u00AD\u0300-\u036F])'   # a letter (incl. soft hyphen, accents)
_LD = '(?:[^\\W_%N]|[\u0300-\u036F])'           # a letter or digit
_LDX = '[^\\W_%N]'                               # a letter or digit (no soft hyphen)
_APOS = "(?:['\u0092\u2019]|(?i:&apos;))"
_APOSX = "(?:['\u0092\u2019`\u0091\u2018\u201B]|(?i:&apos;))"
_SP = '[ \t\u00A0\u2000-\u200A\u3000]'
_NL = '(?:\r\n|[\r\n\u2028\u2029\x0b\x0c\x85])'
_SPNL = f'(?:{_SP}|{_NL})'
_WORD = f'{_L}(?:{_L}|\\d)*(?:[.!?]{_L}(?:{_L}|\\d)*)*'
_REDAUX = f'{_APOS}(?:[msdMSD]|(?i:re|ve|ll))'
_SREDAUX = f'(?i:n){_APOSX}(?i:t)'
_SGML = (r'<(?:[!?][A-Za-z-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:.-]*(?:[ ]+(?:[A-Za-z][A-Za-z0-9_:.-]*'
         r"[ ]*=[ ]*(?:'[^']*'|\"[^\"]*\")|[A-Za-z][A-Za-z0-9_:.-]*))*[ ]*/?|/[A-Za-z][A-Za-z0-9_:.-]*)"
         r'[ ]*>')
_ACRO_ALTS = [r'(?i:canada|sino|korean|eu|japan|non)-(?i:u\.s)', r'(?i:u\.s\.-(?:u\.k|u\.s\.s\.r))',
              r'[A-Za-z](?:\.[A-Za-z])*']
_ACRO2 = r'(?:(?i:canada|sino|korean|eu|japan|non)-(?i:u\.s)|(?i:u\.s\.-(?:u\.k|u\.s\.s\.r))|[A-Za-z](?:\.[A-Za-z])+)'
_ABBREV1 = ('(?:' + '|'.join([
    '(?i:jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)',
    '(?i:mon|tues|tue|wed|thurs|thu|fri)',
    '(?i:ala|ariz|calif|colo|conn|ct|dak|fla|ga|ind|kans|kan|ky|md|mich|minn|mo|mont|neb|nev|okla'
    '|penn|tenn|va|vt|wisc|wis|wyo)',
    'A(?i:z|rk)', 'D(?i:el)', 'I(?i:ll)', 'L(?i:a)', 'M(?i:ass|iss)', 'O(?i:re)', 'P(?i:a)',
    'T(?i:ex)', 'W(?i:ash)',
    '(?i:inc|cos|co|corp|ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys)',
    '(?i:pp|p)(?i:t)[ye](?i:s)?',
    '(?i:tel|est|ext|sq)', '(?i:jr|sr|bros|ed\\.d|ph\\.d|blvd|rd|esq)',
    '(?i:etc|al|seq|bldg)']) + r')\.')
_ABBREV4_ALTS = [
    '(?i:mrs|mr|ms|drs|dr|profs|prof|sens|sen|reps|rep|attys|atty|lt|col|gen|messrs|govs|gov|adm|rev'
    '|maj|sgt|cpl|pvt|capt|ste|st|ave|pres|lieut|hon|brig|comdr|cmdr|pfc|spc|supts|supt|det|mt|ft'
    '|adj|adv|asst|assoc|ens|insp|mlle|mme|msgr|sfc)', 'M(?i:iss)',
    '(?i:vs|alex|wm|jos|cie|a\\.k\\.a|cf|treas|ph)', *_ACRO_ALTS,
    '(?i:invt|elec|natl|mfg|mtg|dept)']
_ACRO_NEXT = ('(?:A(?i:bout|ccording|dditionally|fter|n|s|t)|A|B(?i:ut)|E(?i:arlier)|H(?i:e|er|ere|owever)'
              '|I(?i:f|n|t)|L(?i:ast)|M(?i:any|ore|r\\.|s\\.)|N(?i:ow)|O(?i:nce|ne|ther|ur)'
              '|S(?i:he|ince|o|ome|uch)|T(?i:hat|he|heir|hen|here|hese|hey|his)'
              '|W(?i:e|hen|hile|hat)|Y(?i:et|ou)|' + _SGML + ')')
_FILE_EXT = ('(?i:docx|doc|class|cgi|cpp|c|bat|bmp|dll|exe|gif|gz|html|htm|h|jar|java|jpeg|jpg|mov|mp3'
             '|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|xml|x|zip)')
_THINGPART = f"(?:[dDoOlL]{_APOSX}{_LDX})?{_LDX}+"
_HYPHEN = '[-_\u058A\u2010\u2011]'
_THING = f'{_THINGPART}(?:{_HYPHEN}{_THINGPART})*'
_HTHING = f'[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:{_ACRO2}\\.|[A-Za-z0-9\u00AD]+))+'
_THINGA = r'[A-Z]+(?:(?:[+&]|(?i:&amp;))[A-Z]+)+'
_NUM = r'\d*(?:[.:,\u00AD\u066B\u066C]\d+)+|\d+'
_PHONE = (r'(?:\([0-9]{2,3}\)[ \u00A0]?|(?:\+\+?)?(?:[0-9]{2,4}[- \u00A0])?[0-9]{2,4}[- \u00A0])'
          r'[0-9]{3,4}[- \u00A0]?[0-9]{3,5}'
          r'|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}')
_MISC = ('[+%&~^|\\\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7'
         '\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B'
         '\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u1FBD\u2016\u2017'
         '\u2020-\u2023\u2030-\u2038\u203B\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E'
         '\u2100-\u214F\u2190-\u21FF\u2200-\u2BFF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20'
         '\uFF3B-\uFF40\uFF5B-\uFF65]')
_QUOTE_CHARS = '[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]'
_URLSTOP = '[^ \t\n\f\r"<>|(){}]'
_URLEND = '[^ \t\n\f\r"<>|.!?(){},-]'
_LIKELYURL = ('(?:(?:(?i:www)\\.(?:[^ \t\n\f\r"<>|.!?(){},]+\\.)+[a-zA-Z]{2,4})'
              '|(?:(?:[^ \t\n\f\r"`\'<>|.!?(){}\u002C-\u005F$]+\\.)+(?i:com|net|org|edu)))'
              f'(?:/[^ \t\n\f\r"<>|()]+{_URLEND})?')
_EMAIL = ('(?:(?i:&lt;)|<)?[a-zA-Z0-9][^ \t\n\f\r"<>|()\u00A0{}]*@'
          '(?:[^ \t\n\f\r"<>|(){}.\u00A0]+\\.)*[^ \t\n\f\r"<>|(){}.\u00A0]+(?:(?i:&gt;)|>)?')
_ASIAN = ("[-^x=~<>']_[-^x=~<>']|\\([-^x=~<>'][_.]?[-^x=~<>']\\)|\\([\\^x=~<>']-[\\^x=~<>'`]\\)")

# normalisations
_BRACKETS = {'(': '-LRB-', ')': '-RRB-', '[': '-LSB-', ']': '-RSB-', '{': '-LCB-', '}': '-RCB-'}


def _latex_quotes(tok, left):
    tok = re.sub("&apos;|'", '`' if left else "'", tok)           # case-sensitive, as Java's
    tok = re.sub('"|&quot;', '``' if left else "''", tok)
    tok = re.sub('[\u0091\u2018\u201B\u2039]', '`', tok)
    tok = re.sub('[\u0092\u2019\u203A]', "'", tok)
    tok = re.sub('[\u0093\u201C\u00AB]', '``', tok)
    return re.sub('[\u0094\u201D\u00BB]', "''", tok)


def _no_soft_hyphen(tok):
    out = tok.replace('\u00AD', '')
    return out if out or not tok else '-'


def _amp(tok):
    return re.sub('(?i:&amp;)', '&', tok)


def _nbsp(tok):
    return tok.replace(' ', '\u00A0')


def _phone(tok):
    return _nbsp(tok).replace('(', '-LRB-').replace(')', '-RRB-')


_FRACTIONS = {'\u00BC': '1/4', '\u00BD': '1/2', '\u00BE': '3/4', '\u2153': '1/3', '\u2154': '2/3'}
_CURRENCY = {'\u00A2': 'cents', '\u00A3': '#', '\u0080': '$', '\u00A4': '$', '\u20A0': '$', '\u20AC': '$'}

# Each rule: (pattern, context pattern or None, action). An action gets the token text
# and returns (tokens, consumed): tokens to emit and how much of the token is consumed
# (the rest is scanned again). ``None`` as the token list: nothing emitted (space).
KEEP = 'keep'


def _split(n):
    return lambda t: ([t[:len(t) - n]], len(t) - n)


def _dup_period(t):          # the abbreviation with its period, and the period again
    return [t], len(t) - 1


def _acronym(t):
    if len(t) == 2:          # "I." before "The": the letter, then the period
        return [t[:1]], 1
    return [t], len(t) - 1


def _hyphens(t):
    return ['--' if 3 <= len(t) <= 4 else t], len(t)


_RULES = [
    (r'(?i:c\+\+|[cf]#)', None, KEEP),
    (r'(?i:cannot)', None, _split(3)),
    (r"(?i:'twas)", None, _split(3)),
    (r"(?i:'tis)", None, _split(2)),
    (r'(?i:gonna|gotta|lemme|gimme|wanna)', None, _split(2)),
    (_SGML, None, lambda t: ([_nbsp(t)], len(t))),
    ('(?i:&(?:md|mdash|ndash);)|[\u0096\u0097\u2013\u2014\u2015]', None, lambda t: (['--'], len(t))),
    (r'(?i:&amp;)', None, lambda t: ([_amp(t)], len(t))),
    (r'&(?i:ht|tl|ur|lr|qc|ql|qr|odq|cdq|#[0-9]+);', None, KEEP),
    (_WORD, _REDAUX, lambda t: ([_no_soft_hyphen(t)], len(t))),
    ('[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*', _SREDAUX, lambda t: ([_no_soft_hyphen(t)], len(t))),
    (_WORD, None, lambda t: ([_no_soft_hyphen(t)], len(t))),
    # APOWORD (alternatives as separate rules of the same rank: the longest wins)
    ([f"{_APOS}(?i:n){_APOS}?", f'[lLdDjJ]{_APOS}', f'(?i:dunkin|somethin|ol){_APOS}',
      f'{_APOS}(?i:em)', f'[A-HJ-XZn]{_APOSX}{_L}{{2}}{_L}*', f'{_APOS}[2-9]0(?i:s)',
      f'{_APOS}(?i:till|til)', f'{_L}+[aeiouyAEIOUY]{_APOSX}[aeiouA-Z]{_L}*', f'{_APOS}(?i:cause)',
      r"(?i:cont'd\.?|'twas|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)", f'(?i:o){_APOSX}(?i:o)'],
     None, KEEP),
    (f'(?i:y){_APOS}', _L, KEEP),
    (f'(?i:https?)://{_URLSTOP}+{_URLEND}', None, KEEP),
    (_LIKELYURL, None, KEEP),
    (_EMAIL, None, KEEP),
    (f'@[a-zA-Z_][a-zA-Z_0-9]*|#{_L}+', None, KEEP),
    (_REDAUX, '[^A-Za-z]', lambda t: ([_latex_quotes(t, False)], len(t))),
    (_SREDAUX, '[^A-Za-z]', lambda t: ([_latex_quotes(t, False)], len(t))),
    (r'\d{1,2}[-/]\d{1,2}[-/]\d{2,4}', None, KEEP),
    (f'[-+]?(?:{_NUM})', None, lambda t: ([_no_soft_hyphen(t)], len(t))),
    ('[\u207A\u207B\u208A\u208B]?(?:[\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)', None, KEEP),
    ('(?:\\d{1,4}[- \u00A0])?\\d{1,4}(?:\\\\?/|\u2044)\\d{1,4}', None, lambda t: ([_nbsp(t)], len(t))),
    ('[\u00BC\u00BD\u00BE\u2153-\u215E]', None, lambda t: ([_FRACTIONS.get(t, t)], len(t))),
    (f'-(?i:rrb|lrb|rcb|lcb|rsb|lsb)-|(?i:c\\.d\\.s|pro-|anti-|s(?:&|&amp;)p-500|s(?:&|&amp;)ls'
     f'|cap{_APOS}n|c{_APOS}est)', None, lambda t: ([_amp(t)], len(t))),
    (r'[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}', None, KEEP),
    (r'[A-Z]*\$|#', None, KEEP),
    ('[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]', None,
     lambda t: ([''.join(_CURRENCY.get(c, c) for c in t)], len(t))),
    ([f'{a}\\.' for a in _ACRO_ALTS], f'{_SPNL}+{_ACRO_NEXT}{_SPNL}', _acronym),
    (r'(?i:ca|figs|fig|prop|nos|no|art|bldg|pp|op)\.', f'{_SPNL}?\\d', KEEP),
    (r'(?i:pt[ey]|co)\.', f'{_SP}(?i:ltd|lim)', KEEP),
    (_ABBREV1, 'SENTEND', _dup_period),
    (_ABBREV1, r'[\s\S][\s\S]', KEEP),
    (_ABBREV1, None, _dup_period),
    ([f'{a}\\.' for a in _ABBREV4_ALTS], None, KEEP),
    (_ABBREV4_ALTS, _SP, KEEP),
    (_ACRO_ALTS, _SPNL, KEEP),
    (f'{_APOS}[0-9][0-9]', _SPNL, KEEP),
    (f'{_LD}+(?:\\.{_LD}+)*\\.{_FILE_EXT}', f'(?:{_SPNL}|[.?!,])', KEEP),
    (f'{_WORD}\\.', '[,;:\u3001]', lambda t: ([_no_soft_hyphen(t)], len(t))),
    (_PHONE, None, lambda t: ([_phone(t)], len(t))),
    ('"|(?i:&quot;)', '[A-Za-z0-9$]', lambda t: ([_latex_quotes(t, True)], len(t))),
    ('"|(?i:&quot;)', None, lambda t: ([_latex_quotes(t, False)], len(t))),
    ('\x7f', None, lambda t: (None, len(t))),
    ('<|(?i:&lt;)', None, lambda t: (['<'], len(t))),
    ('>|(?i:&gt;)', None, lambda t: (['>'], len(t))),
    (r"[<>]?[:;=][-o*']?[()DPdpO\\{@|\[\]]", '[^A-Za-z0-9]',
     lambda t: ([t.replace('(', '-LRB-').replace(')', '-RRB-')], len(t))),
    (_ASIAN, None, lambda t: ([t.replace('(', '-LRB-').replace(')', '-RRB-')], len(t))),
    (r'[{}\[\]()]', None, lambda t: ([_BRACKETS[t]], 1)),
    (r'-+', None, _hyphens),
    ('\\.{3,5}|(?:\\.[ \u00A0]){2,4}\\.|[\u0085\u2026]', None, lambda t: (['...'], len(t))),
    (r'@+|#+|_+', None, KEEP),
    (r'\*+|(?:\\\*){1,3}', None, KEEP),
    ('[,;:\u3001]', None, KEEP),
    (r'[?!]+', None, KEEP),
    ('[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]', None, KEEP),
    ('=', None, KEEP),
    ('/', None, KEEP),
    (f'{_HTHING}\\.', '[,;:\u3001]', lambda t: ([_no_soft_hyphen(t)], len(t))),
    (_HTHING, None, lambda t: ([_no_soft_hyphen(t)], len(t))),
    (f'{_THING}\\.', '[,;:\u3001]', KEEP),
    (_THING, None, KEEP),
    (f'{_THINGA}\\.', '[,;:\u3001]', lambda t: ([_amp(t)], len(t))),
    (_THINGA, None, lambda t: ([_amp(t)], len(t))),
    ("'", '[A-Za-z][^ \t\n\r\u00A0]', lambda t: ([_latex_quotes(t, True)], len(t))),
    (_REDAUX, None, lambda t: ([_latex_quotes(t, False)], len(t))),
    (_SREDAUX, None, lambda t: ([_latex_quotes(t, False)], len(t))),
    (f"''|{_QUOTE_CHARS}{{1,2}}|{_APOS}", None, lambda t: ([_latex_quotes(t, False)], len(t))),
    (r'<<|>>', None, KEEP),
    (_MISC, None, KEEP),
    (f'\\x00|{_SP}+|[\u200B\u200E\u200F\uFEFF]', None, lambda t: (None, len(t))),
    (_NL, None, lambda t: (['\n'], len(t))),
    (r'(?i:&nbsp;)', None, lambda t: (None, len(t))),
    (r'[^\n]', None, lambda t: (None, len(t))),            # untokenizable: deleted
]
_SPNL_RX = re.compile(_SPNL)
_SGML_RX = re.compile(_SGML)     # has no %N


class _SentEnd:
    """Right context 'space or newline, then space, newline, an upper-case letter or a tag'."""

    @staticmethod
    def match(text, pos):
        m = _SPNL_RX.match(text, pos)
        if m is None:
            return None
        nxt = _SPNL_RX.match(text, m.end()) or _SGML_RX.match(text, m.end())
        if nxt is not None:
            return nxt
        if m.end() < len(text) and text[m.end()].isupper():
            return _Span(m.end() + 1)
        return None


class _Span:
    def __init__(self, end):
        self._end = end

    def end(self):
        return self._end


_sentend = _SentEnd()
_COMPILED = []


def _lexer() -> list:
    """The compiled rules ``(pattern, context, action)``, built on first use."""
    if not _COMPILED:
        numeric = ''.join(c for c in map(chr, range(0x80, 0x10000))
                          if c.isnumeric() and not c.isdecimal())
        for pat, ctx, act in _RULES:
            for p in (pat if isinstance(pat, list) else [pat]):
                if ctx == 'SENTEND':
                    _COMPILED.append((re.compile(p.replace('%N', numeric)), _sentend, act))
                elif ctx:
                    # the token and its right context in one pattern: they backtrack together
                    _COMPILED.append((re.compile(f'(?P<t>{p})(?:{ctx})'.replace('%N', numeric)),
                                      True, act))
                else:
                    _COMPILED.append((re.compile(p.replace('%N', numeric)), None, act))
    return _COMPILED


def ptb_lex(text: str) -> list[str]:
    """Raw PTB tokens of ``text`` (original case); a line break is the token ``'\\n'``."""
    rules = _lexer()
    out = []
    pos, n = 0, len(text)
    while pos < n:
        best = None
        for rx, ctx, act in rules:
            m = rx.match(text, pos)
            if m is None:
                continue
            if ctx is True:
                tok = m.group('t')
                total = m.end() - pos
            else:
                tok = m.group()
                total = len(tok)
                if ctx is not None:
                    c = ctx.match(text, m.end())
                    if c is None:
                        continue
                    total = c.end() - pos
            if best is None or total > best[0]:
                best = (total, tok, act)
        total, tok, act = best
        if act == KEEP:
            toks, used = [tok], len(tok)
        else:
            toks, used = act(tok)
        if toks:
            out.extend(toks)
        pos += used
    return out


#: pycocoevalcap's ``PUNCTUATIONS`` (``tokenizer/ptbtokenizer.py``), removed after
#: tokenising. Compared with the lower-cased tokens, so ``-lrb-`` ... stay (the list's
#: ``-LRB-`` never matches): pycocoevalcap keeps bracket tokens, and so does eov.
PTB_PUNCTUATIONS = frozenset(["''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?',
                              '!', ',', ':', '-', '--', '...', ';'])
#: ``max_len`` and ``captions_per_image`` of RSICCformer's ``create_input_files.py`` call.
RSICC_MAX_LEN = 50
RSICC_CAPTIONS_PER_IMAGE = 5
#: Metric keys (METEOR is added only when it can be computed).
CAPTION_KEYS = ('BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE_L', 'CIDEr')
#: Tokenizer backends of :func:`ptb_tokenize_batch`.
PTB_BACKENDS = ('auto', 'java', 'python')
# the line breaks of the Java lexer (U+0085 is an ellipsis there, not a break)
_LINE_BREAK_RE = re.compile('\r\n|[\r\n\u2028\u2029\x0b\x0c]')


def ptb_tokenize(text: str) -> list[str]:
    """One caption tokenised as pycocoevalcap's ``PTBTokenizer`` does, in Python (no Java).

    Lower-cased PTB tokens less :data:`PTB_PUNCTUATIONS`: ``3.5m`` -> ``3.5 m``,
    ``cannot`` -> ``can not``, ``gonna`` -> ``gon na``, ``isn't`` -> ``is n't``,
    ``(a)`` -> ``-lrb- a -rrb-``; ``e.g.``, ``3:00`` and ``two-story`` stay whole.
    """
    if not isinstance(text, str):
        return []
    return ptb_tokenize_batch([text], backend='python')[0]


def _java_tool(module: str, jar: str):
    """``(pycocoevalcap module, None)``, or ``(None, why)`` when Java or the module is missing.

    Args:
        module: Dotted module of pycocoevalcap that runs a jar.
        jar: What the package ships, for the message.
    """
    if shutil.which('java') is None:
        return None, 'no java on PATH'
    try:
        return importlib.import_module(module), None
    except ImportError:
        return None, f'pycocoevalcap (which ships {jar}) is not installed'


def ptb_java_unavailable() -> str | None:
    """Why pycocoevalcap's Java ``PTBTokenizer`` cannot run here (``None`` when it can)."""
    ptbtokenizer, why = _java_tool('pycocoevalcap.tokenizer.ptbtokenizer',
                                   'the Stanford PTBTokenizer jar')
    if why:
        return why
    jar = os.path.join(os.path.dirname(os.path.abspath(ptbtokenizer.__file__)),
                       ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
    if not os.path.isfile(jar):
        return f'{jar} is missing'
    return None


def ptb_tokenize_batch(texts: list[str], backend: str = 'auto') -> list[list[str]]:
    """Captions tokenised as pycocoevalcap's ``PTBTokenizer`` does, one token list each.

    Args:
        texts: The captions, in order. As pycocoevalcap does, they are
            tokenised as the lines of one text, so a caption's last token may
            depend on the next caption's first word (``I.`` before ``The``).
            Line breaks inside a caption become spaces (pycocoevalcap replaces
            only ``\\n``; any other break would shift the later captions).
        backend: ``'java'``: pycocoevalcap's own ``PTBTokenizer`` (needs
            ``java`` and pycocoevalcap); ``'python'``: eov's rendering
            (identical tokens, checked against the jar); ``'auto'``: Java when
            it is available, else Python.
    """
    if backend not in PTB_BACKENDS:
        raise ValueError(f'tokenizer backend must be one of {", ".join(PTB_BACKENDS)}, '
                         f'got {backend!r}')
    texts = [_LINE_BREAK_RE.sub(' ', t if isinstance(t, str) else '') for t in texts]
    if not texts:
        return []
    if backend != 'python':
        reason = ptb_java_unavailable()
        if reason is None:
            return _java_tokenize(texts)
        if backend == 'java':
            raise RuntimeError(f'the Java PTBTokenizer cannot run: {reason}')
    out, line = [], []
    for tok in ptb_lex('\n'.join(texts)):
        if tok == '\n':
            out.append(line)
            line = []
            continue
        tok = tok.lower()
        if tok not in PTB_PUNCTUATIONS:
            line.append(tok)
    out.append(line)
    return out


def _java_tokenize(texts: list[str]) -> list[list[str]]:
    """pycocoevalcap's ``PTBTokenizer().tokenize`` on ``texts`` (one caption per image)."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    result = PTBTokenizer().tokenize({i: [{'caption': t}] for i, t in enumerate(texts)})
    if len(result) != len(texts):
        raise RuntimeError(f'the Java PTBTokenizer returned {len(result)} lines for '
                           f'{len(texts)} captions')
    return [result[i][0].split(' ') if result[i][0] else [] for i in range(len(texts))]


# -- the pycocoevalcap scorers -----------------------------------------------------
def _ngrams(words: list[str], n: int = 4) -> dict:
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def bleu(references: list[list[str]], hypotheses: list[str], n: int = 4) -> list[float]:
    """Corpus BLEU-1..n as pycocoevalcap's ``Bleu(4)`` (``option='closest'``).

    Args:
        references: Per image, its reference sentences (space-joined tokens).
        hypotheses: Per image, one hypothesis (space-joined tokens).
    """
    small, tiny = 1e-9, 1e-15
    testlen_total = 0
    reflen_total = 0
    guess = [0] * n
    correct = [0] * n
    for refs, hyp in zip(references, hypotheses):
        reflens = []
        maxcounts: dict = {}
        for ref in refs:
            words = ref.split()
            reflens.append(len(words))
            for ngram, count in _ngrams(words, n).items():
                maxcounts[ngram] = max(maxcounts.get(ngram, 0), count)
        words = hyp.split()
        testlen = len(words)
        reflen_total += min((abs(length - testlen), length) for length in reflens)[1]
        testlen_total += testlen
        for k in range(1, n + 1):
            guess[k - 1] += max(0, testlen - k + 1)
        for ngram, count in _ngrams(words, n).items():
            correct[len(ngram) - 1] += min(maxcounts.get(ngram, 0), count)
    scores = []
    for nn in range(1, n + 1):
        value = 1.
        for k in range(nn):
            value *= float(correct[k] + tiny) / (guess[k] + small)
        value = value ** (1. / nn)
        ratio = (testlen_total + tiny) / (reflen_total + small)
        if ratio < 1:
            value *= math.exp(1 - 1 / ratio)
        scores.append(value)
    return scores


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[len(b)]


def rouge_l(references: list[list[str]], hypotheses: list[str], beta: float = 1.2) -> float:
    """Mean ROUGE-L as pycocoevalcap's ``Rouge`` (tokens split on single spaces)."""
    scores = []
    for refs, hyp in zip(references, hypotheses):
        token_c = hyp.split(' ')
        prec, rec = [], []
        for ref in refs:
            token_r = ref.split(' ')
            lcs = _lcs(token_r, token_c)
            prec.append(lcs / float(len(token_c)))
            rec.append(lcs / float(len(token_r)))
        p, r = max(prec), max(rec)
        scores.append(((1 + beta ** 2) * p * r) / float(r + beta ** 2 * p)
                      if p != 0 and r != 0 else 0.0)
    return float(np.mean(np.array(scores)))


def cider_d(references: list[list[str]], hypotheses: list[str], n: int = 4,
            sigma: float = 6.0) -> float:
    """CIDEr-D as the ``Cider`` scorer of RSICC's ``eval_func`` (pycocoevalcap's, guarded)."""
    return float(np.mean(np.array(cider_d_scores(references, hypotheses, n, sigma))))


def cider_d_scores(references: list[list[str]], hypotheses: list[str], n: int = 4,
                   sigma: float = 6.0) -> list[float]:
    """Per-image CIDEr-D scores (their mean is :func:`cider_d`), with the document
    frequencies of all ``references``."""
    crefs = [[_ngrams(ref.split(), n) for ref in refs] for refs in references]
    ctest = [_ngrams(hyp.split(), n) for hyp in hypotheses]
    document_frequency = defaultdict(float)
    for refs in crefs:
        for ngram in set(ngram for ref in refs for ngram in ref):
            document_frequency[ngram] += 1
    ref_len = np.log(float(len(crefs)))
    if len(crefs) == 1:
        ref_len = 1

    def counts2vec(cnts):
        vec = [defaultdict(float) for _ in range(n)]
        length = 0
        norm = [0.0 for _ in range(n)]
        for ngram, term_freq in cnts.items():
            df = np.log(max(1.0, document_frequency[ngram]))
            k = len(ngram) - 1
            vec[k][ngram] = float(term_freq) * (ref_len - df)
            norm[k] += pow(vec[k][ngram], 2)
            if k == 1:
                length += term_freq
        return vec, [np.sqrt(v) for v in norm], length

    def sim(vec_hyp, vec_ref, norm_hyp, norm_ref, length_hyp, length_ref):
        delta = float(length_hyp - length_ref)
        val = np.array([0.0 for _ in range(n)])
        for k in range(n):
            for ngram in vec_hyp[k]:
                val[k] += min(vec_hyp[k][ngram], vec_ref[k][ngram]) * vec_ref[k][ngram]
            if norm_hyp[k] != 0 and norm_ref[k] != 0:
                val[k] /= (norm_hyp[k] * norm_ref[k])
            val[k] *= np.e ** (-(delta ** 2) / (2 * sigma ** 2))
        return val

    scores = []
    for test, refs in zip(ctest, crefs):
        vec, norm, length = counts2vec(test)
        score = np.array([0.0 for _ in range(n)])
        for ref in refs:
            vec_ref, norm_ref, length_ref = counts2vec(ref)
            score += sim(vec, vec_ref, norm, norm_ref, length, length_ref)
        score_avg = np.mean(score)
        score_avg /= len(refs)
        score_avg *= 10.0
        scores.append(float(score_avg))
    return scores


def caption_scores(references: list[list[list[str]]], hypotheses: list[list[str]]) -> dict:
    """BLEU-1..4, ROUGE_L and CIDEr of tokenised captions (one hypothesis per image).

    Args:
        references: Per image, its reference token lists (at least one).
        hypotheses: Per image, the hypothesis tokens (may be empty).
    """
    if len(references) != len(hypotheses):
        raise ValueError(f'{len(references)} reference sets for {len(hypotheses)} hypotheses')
    if not references:
        return {k: 0.0 for k in CAPTION_KEYS}
    for i, refs in enumerate(references):
        if not refs:
            raise ValueError(f'image {i} has no reference caption')
    refs = [[' '.join(r) for r in rs] for rs in references]
    hyps = [' '.join(h) for h in hypotheses]
    b = bleu(refs, hyps)
    return {'BLEU-1': b[0], 'BLEU-2': b[1], 'BLEU-3': b[2], 'BLEU-4': b[3],
            'ROUGE_L': rouge_l(refs, hyps), 'CIDEr': cider_d(refs, hyps)}


def load_word_map(path: str, min_word_freq: int = 5) -> dict[str, int]:
    """RSICCformer's word map ``{word: index}`` (with ``<unk>``).

    ``path`` is the ``WORDMAP_*.json`` that RSICCformer's
    ``create_input_files`` writes, or ``LevirCCcaptions.json`` itself: then
    the map is built as ``create_input_files`` builds it -- the words of all
    sentences of every split, in order of first appearance, that occur
    **more than** ``min_word_freq`` times, numbered from 1; ``<unk>`` next.
    """
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get('images'), list):
        freq = Counter()
        for img in data['images']:
            for sentence in img.get('sentences', []):
                freq.update(sentence.get('tokens') or ptb_tokenize(sentence.get('raw', '')))
        words = [w for w in freq if freq[w] > int(min_word_freq)]
        word_map = {w: i + 1 for i, w in enumerate(words)}
        word_map['<unk>'] = len(word_map) + 1
        return word_map
    if isinstance(data, dict) and all(isinstance(v, int) for v in data.values()):
        word_map = dict(data)
        word_map.setdefault('<unk>', max(word_map.values(), default=0) + 1)
        return word_map
    raise BenchmarkDataError(f'{path}: expected a word map (JSON object word -> index) or '
                             'LevirCCcaptions.json')


def meteor_available() -> str | None:
    """Why METEOR cannot be computed here (``None`` when it can)."""
    return _java_tool('pycocoevalcap.meteor.meteor', 'meteor-1.5.jar')[1]


def meteor_score(references: list[list[list[str]]], hypotheses: list[list[str]],
                 word_map: dict[str, int] | None = None) -> float:
    """Corpus METEOR 1.5 through pycocoevalcap's Java wrapper.

    Words are replaced by integer indices first, as RSICCformer feeds word
    indices to METEOR, so only exact matches count (no stems, synonyms or
    paraphrases). The indices are ``word_map``'s (the official ones), else
    numbers in order of first appearance.
    """
    from pycocoevalcap.meteor.meteor import Meteor
    ids: dict[str, str] = {w: str(i) for w, i in (word_map or {}).items()}
    free = max((int(i) for i in ids.values()), default=0)

    def encode(tokens):
        nonlocal free
        out = []
        for t in tokens:
            if t not in ids:
                free += 1
                ids[t] = str(free)
            out.append(ids[t])
        return ' '.join(out)

    gts = {i: [encode(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [encode(h)] for i, h in enumerate(hypotheses)}
    scorer = Meteor()
    try:
        score, _ = scorer.compute_score(gts, res)
    finally:
        del scorer
    return float(score)


@BENCHMARKS.register_module(name='levir_cc')
class LevirCC(BaseBenchmark):
    """LEVIR-CC image pairs -> change-captioning records; BLEU, ROUGE_L, CIDEr as RSICCformer.

    Layout: ``SRC/LevirCCcaptions.json`` (or SRC is that file; ``captions``
    names another) and ``SRC/images/<split>/A/<filename>``,
    ``SRC/images/<split>/B/<filename>`` (``--images`` names the folder that
    holds the split folders). As RSICCformer's ``create_input_files``, the
    image paths are built from each entry's ``split`` (its ``filepath`` is
    not used). ``--split test`` keeps the entries whose ``split`` is
    ``test``; without, every entry. ``max_len`` (default 50, the value
    RSICCformer's ``create_input_files.py`` passes): references with more
    tokens are dropped, and a pair left without reference is skipped (both
    noted); ``max_len=0`` keeps every reference.

    Records: id = file name without extension (``test_000001``), task
    ``change``, modality ``temporal``, images ``[A, B]`` with sensor ``rgb``
    and placeholder times ``2000-01-01`` (A, before) and ``2000-01-02`` (B,
    after) -- LEVIR-CC publishes no acquisition dates; one ``<image>`` for the
    pair; the change head's caption question; targets ``{'type': 'text',
    'text': sentence}`` for every kept reference (whitespace tidied);
    ``meta.tokens`` the official token lists, ``meta.split``,
    ``meta.imgid``.

    Scoring (``-s`` options): ``tokenizer`` (``auto``: pycocoevalcap's Java
    PTBTokenizer when Java and pycocoevalcap are present, else eov's
    identical Python rendering; ``java``; ``python``) tokenises the answers;
    ``word_map`` (RSICCformer's ``WORDMAP_*.json``, or
    ``LevirCCcaptions.json`` with ``min_word_freq``, default 5) maps words
    outside the vocabulary to ``<unk>`` in references and answers, as the
    official pipeline's word indices do; off by default. ``meteor`` (default
    true): compute METEOR when Java and pycocoevalcap are available.
    """

    name = 'levir_cc'
    task = 'change'
    convert_options = {
        'captions': 'captions JSON (default: SRC/LevirCCcaptions.json, or SRC if a file)',
        'images': 'folder holding <split>/A and <split>/B (default: SRC/images)',
        'max_len': 'drop references longer than this many tokens, as RSICCformer '
                   '(default 50; 0 keeps all)',
    }
    metric_keys = CAPTION_KEYS + ('n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    def iter_records(self, src, split=None, captions=None, images=None, max_len=RSICC_MAX_LEN):
        """Yield one change-captioning record per image pair."""
        max_len = _max_len(max_len)
        base = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
        if captions:
            path = captions if os.path.isfile(captions) else os.path.join(base, captions)
        elif os.path.isfile(src):
            path = src
        else:
            path = os.path.join(src, 'LevirCCcaptions.json')
        if not os.path.isfile(path):
            raise BenchmarkDataError(f'{self.name}: captions file not found: {path}')
        img_root = self.resolve_dir(src, images) if images else os.path.join(base, 'images')
        data = read_json(path)
        entries = data.get('images') if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise BenchmarkDataError(f'{path}: expected an object with an "images" list')
        head = ChangeHead()
        question = head.question(variant='caption')
        seen: dict[str, int] = {}
        dropped = skipped = short = 0
        for k, entry in enumerate(self.progress(entries, 'image pairs')):
            where = f'{path}: images[{k}]'
            if not isinstance(entry, dict):
                raise BenchmarkDataError(f'{where}: an entry must be an object')
            entry_split = entry.get('split')
            if split is not None and entry_split != split:
                continue
            filename = entry.get('filename')
            if not isinstance(filename, str) or not filename:
                raise BenchmarkDataError(f'{where}: missing "filename"')
            if not isinstance(entry_split, str) or not entry_split:
                raise BenchmarkDataError(f'{where} ({filename}): missing "split" (the image '
                                         'folder images/<split>/A|B)')
            sentences = entry.get('sentences')
            if not isinstance(sentences, list) or not sentences:
                raise BenchmarkDataError(f'{where} ({filename}): no "sentences"')
            texts, tokens = [], []
            for j, sentence in enumerate(sentences):
                raw = sentence.get('raw') if isinstance(sentence, dict) else None
                toks = sentence.get('tokens') if isinstance(sentence, dict) else None
                if toks is not None and (not isinstance(toks, list)
                                         or not all(isinstance(t, str) for t in toks)):
                    raise BenchmarkDataError(f'{where} ({filename}): sentences[{j}].tokens must '
                                             'be a list of strings')
                if not isinstance(raw, str) or not raw.strip():
                    if not toks:
                        raise BenchmarkDataError(f'{where} ({filename}): sentences[{j}] has no '
                                                 '"raw" text or "tokens"')
                    raw = ' '.join(toks)
                toks = list(toks) if toks is not None else ptb_tokenize(raw)
                if max_len and len(toks) > max_len:
                    dropped += 1           # create_input_files: len(c['tokens']) <= max_len
                    continue
                texts.append(tidy_caption(raw))
                tokens.append(toks)
            rid = os.path.splitext(filename)[0]
            if rid in seen:
                raise BenchmarkDataError(f'{where}: file name {filename!r} repeats images'
                                         f'[{seen[rid]}]')
            seen[rid] = k
            if not texts:
                skipped += 1               # create_input_files: `if len(captions) == 0: continue`
                continue
            short += len(texts) < RSICC_CAPTIONS_PER_IMAGE
            # create_input_files.py: os.path.join(image_folder, img['split'], 'A'|'B', filename)
            pair = [os.path.join(img_root, entry_split, part, filename) for part in ('A', 'B')]
            yield {
                'id': rid, 'task': 'change', 'modality': 'temporal',
                'images': [{'path': self.image_path(pair[0]), 'sensor': 'rgb',
                            'time': '2000-01-01'},
                           {'path': self.image_path(pair[1]), 'sensor': 'rgb',
                            'time': '2000-01-02'}],
                'conversations': self.conversation(self.prompt(question)),
                'targets': [{'type': 'text', 'text': t} for t in texts],
                'meta': {'tokens': tokens, 'split': entry_split, 'imgid': entry.get('imgid'),
                         'source': f'{os.path.basename(path)}#images[{k}]'},
            }
        if dropped:
            self.note(f'dropped {dropped} references longer than {max_len} tokens (RSICCformer\'s '
                      'max_len; -o max_len=0 keeps them)')
        if skipped:
            self.note(f'skipped {skipped} image pairs left without a reference')
        if short and dropped:
            self.note(f'{short} image pairs keep fewer than {RSICC_CAPTIONS_PER_IMAGE} references '
                      '(RSICCformer pads them with random repeats, which changes CIDEr only; eov '
                      'keeps them as they are)')

    # -- scoring --------------------------------------------------------------
    @staticmethod
    def references(rec: dict) -> list[list[str]]:
        """The reference token lists of a record (``meta.tokens``, else tokenised texts)."""
        tokens = (rec.get('meta') or {}).get('tokens')
        if isinstance(tokens, list) and tokens:
            return [list(t) for t in tokens]
        return [ptb_tokenize(t['text']) for t in rec.get('targets', [])
                if t.get('type') == 'text' and isinstance(t.get('text'), str)]

    def score(self, records, predictions, serializer=None, word_map=None, min_word_freq=5,
              meteor=True, tokenizer='auto'):
        """BLEU-1..4, ROUGE_L, CIDEr (and METEOR when possible); see the class docstring.

        A missing or empty answer is an empty hypothesis. The answers are
        tokenised together, in record order (:func:`ptb_tokenize_batch`).
        METEOR (key ``METEOR``) is computed only where ``java`` is on PATH and
        pycocoevalcap (which ships ``meteor-1.5.jar``) is installed;
        otherwise the key is absent and a note goes to stderr.
        """
        if tokenizer not in PTB_BACKENDS:
            raise OptionError(f'option tokenizer must be one of {", ".join(PTB_BACKENDS)}, '
                              f'got {tokenizer!r}')
        vocab = load_word_map(word_map, min_word_freq) if word_map else None
        refs = []
        for rid, rec in records.items():
            r = self.references(rec)
            if not r:
                raise ValueError(f'record {rid}: no reference caption')
            refs.append(r)
        answers = [prediction_text(predictions.get(rid)) or '' for rid in records]
        try:
            hyps = ptb_tokenize_batch(answers, backend=tokenizer)
        except (OSError, RuntimeError, subprocess.SubprocessError) as err:
            if tokenizer == 'java':
                raise
            print(f'note: {self.name}: the Java PTBTokenizer failed ({err}); using eov\'s '
                  'Python rendering (identical tokens)', file=sys.stderr)
            hyps = ptb_tokenize_batch(answers, backend='python')
        if vocab is not None:
            refs = [[[w if w in vocab else '<unk>' for w in ref] for ref in r] for r in refs]
            hyps = [[w if w in vocab else '<unk>' for w in h] for h in hyps]
        out = caption_scores(refs, hyps)
        if _as_bool(meteor, 'meteor'):
            reason = meteor_available()
            if reason is None:
                out['METEOR'] = meteor_score(refs, hyps, vocab)
            else:
                print(f'note: {self.name}: METEOR not computed ({reason}); the official '
                      'LEVIR-CC tables include it', file=sys.stderr)
        out['n'] = len(records)
        out['n_missing'] = count_missing(records, predictions)
        return out


def _max_len(value) -> int:
    """The ``max_len`` option as an int (0 or ``none``: no limit)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ('', 'none')):
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or isinstance(value, bool):
        raise OptionError(f'option max_len expects a number of tokens (0: no limit), got {value!r}')
    return number


def tidy_caption(raw: str) -> str:
    """A reference sentence as answer text: whitespace collapsed, no space before , . ; : ? !"""
    text = ' '.join(raw.split())
    return re.sub(r'\s+([,.;:?!])', r'\1', text)


__all__ = ['CAPTION_KEYS', 'LevirCC', 'PTB_PUNCTUATIONS', 'bleu', 'caption_scores', 'cider_d',
           'load_word_map', 'meteor_available', 'meteor_score', 'ptb_java_unavailable', 'ptb_lex',
           'ptb_tokenize', 'ptb_tokenize_batch', 'rouge_l', 'tidy_caption']
