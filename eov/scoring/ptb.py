"""pycocoevalcap's PTB tokenizer (:func:`ptb_tokenize_batch`): its Java program when ``java``
and pycocoevalcap are installed, else :func:`ptb_lex`, eov's Python rendering (same tokens)."""
from __future__ import annotations

import importlib
import os
import re
import shutil

# A Python rendering of Stanford CoreNLP 3.4.1's ``edu.stanford.nlp.process.PTBTokenizer``
# (the ``stanford-corenlp-3.4.1.jar`` that pycocoevalcap 1.2 ships and runs with
# ``-preserveLines -lowerCase``, default PTB3 normalisations), written for eov from the
# tokenizer's documented behaviour and checked token for token against that jar
# (tests/scoring/test_ptb_tokenizer.py holds the jar's outputs). It must match the
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


def java_tool(module: str, jar: str):
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
    ptbtokenizer, why = java_tool('pycocoevalcap.tokenizer.ptbtokenizer',
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
