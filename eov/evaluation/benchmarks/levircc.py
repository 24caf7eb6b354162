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

Model answers (free text) are tokenised with :func:`ptb_tokenize`, a Python
rendering of what pycocoevalcap's Stanford PTBTokenizer call
(``-preserveLines -lowerCase``, then punctuation tokens removed) does to a
plain English sentence. METEOR needs the Java ``meteor-1.5.jar``; see
:meth:`LevirCC.score`.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections import Counter, defaultdict

import numpy as np

from eov.heads.change import ChangeHead
from eov.registry import BENCHMARKS

from .base import (BaseBenchmark, BenchmarkDataError, _as_bool, count_missing, prediction_text,
                   read_json)

#: Tokens pycocoevalcap's ``PTBTokenizer`` drops after tokenising.
PTB_PUNCTUATIONS = frozenset(["''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?',
                              '!', ',', ':', '-', '--', '...', ';'])
#: Brackets and quotes, which the Java tokenizer turns into ``-LRB-`` ... and quote tokens.
_DROPPED = PTB_PUNCTUATIONS | {'(', ')', '[', ']', '{', '}', '"', '-lrb-', '-rrb-', '-lsb-',
                               '-rsb-', '-lcb-', '-rcb-'}
_CLITIC_RE = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'ll|'d|'m)(?!\w)")
_TOKEN_RE = re.compile(r"""
      n't | '(?:s|re|ve|ll|d|m)(?!\w)          # clitics split off by the rule above
    | \d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,])    # 1,000 and 12,500.5
    | \.{2,} | -{2,}                            # ellipsis, dashes
    | \w+(?:[-&/.'’]\w+)*                       # words, incl. two-story, 3.5m, and/or
    | \S                                        # any other character on its own
""", re.VERBOSE)

#: Metric keys (METEOR is added only when it can be computed).
CAPTION_KEYS = ('BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE_L', 'CIDEr')


def ptb_tokenize(text: str) -> list[str]:
    """Tokenise a caption as pycocoevalcap's PTB tokenizer does, then drop punctuation.

    Lower-cases; splits punctuation off words (``area.`` -> ``area``,
    ``.``), clitics off their word (``don't`` -> ``do n't``, ``building's``
    -> ``building 's``); keeps hyphenated words, decimals and thousands
    separators whole; removes the tokens of pycocoevalcap's ``PUNCTUATIONS``
    list, brackets and quotes. A Python rendering of the Java tokenizer's
    effect on plain sentences: abbreviations with periods (``e.g.``) and other
    unusual text may be cut differently from Java.
    """
    if not isinstance(text, str):
        return []
    text = _CLITIC_RE.sub(r' \1', text.lower().replace('\u2019', "'"))
    return [t for t in _TOKEN_RE.findall(text) if t not in _DROPPED]


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
        scores.append(score_avg)
    return float(np.mean(np.array(scores)))


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
    if shutil.which('java') is None:
        return 'no java on PATH'
    try:
        import pycocoevalcap.meteor.meteor  # noqa: F401
    except ImportError:
        return 'pycocoevalcap (which ships meteor-1.5.jar) is not installed'
    return None


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
    holds the split folders). ``--split test`` keeps the entries whose
    ``split`` is ``test``; without, every entry.

    Records: id = file name without extension (``test_000001``), task
    ``change``, modality ``temporal``, images ``[A, B]`` with sensor ``rgb``
    and placeholder times ``2000-01-01`` (A, before) and ``2000-01-02`` (B,
    after) -- LEVIR-CC publishes no acquisition dates; one ``<image>`` for the
    pair; the change head's caption question; targets ``{'type': 'text',
    'text': sentence}`` for every reference (whitespace tidied);
    ``meta.tokens`` the official token lists, ``meta.split``,
    ``meta.imgid``.

    Scoring (``-s`` options): ``word_map`` (RSICCformer's ``WORDMAP_*.json``,
    or ``LevirCCcaptions.json`` with ``min_word_freq``, default 5) maps words
    outside the vocabulary to ``<unk>`` in references and answers, as the
    official pipeline's word indices do; off by default. ``meteor`` (default
    true): compute METEOR when Java and pycocoevalcap are available.
    """

    name = 'levir_cc'
    task = 'change'
    convert_options = {
        'captions': 'captions JSON (default: SRC/LevirCCcaptions.json, or SRC if a file)',
        'images': 'folder holding <split>/A and <split>/B (default: SRC/images)',
    }
    metric_keys = CAPTION_KEYS + ('n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    def iter_records(self, src, split=None, captions=None, images=None):
        """Yield one change-captioning record per image pair."""
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
            folder = entry.get('filepath') or entry_split
            if not isinstance(folder, str) or not folder:
                raise BenchmarkDataError(f'{where} ({filename}): missing "filepath" and "split"')
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
                texts.append(tidy_caption(raw))
                tokens.append(list(toks) if toks is not None else ptb_tokenize(raw))
            rid = os.path.splitext(filename)[0]
            if rid in seen:
                raise BenchmarkDataError(f'{where}: file name {filename!r} repeats images'
                                         f'[{seen[rid]}]')
            seen[rid] = k
            pair = [os.path.join(img_root, folder, part, filename) for part in ('A', 'B')]
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
              meteor=True):
        """BLEU-1..4, ROUGE_L, CIDEr (and METEOR when possible); see the class docstring.

        A missing or empty answer is an empty hypothesis. METEOR (key
        ``METEOR``) is computed only where ``java`` is on PATH and
        pycocoevalcap (which ships ``meteor-1.5.jar``) is installed; otherwise
        the key is absent and a note goes to stderr.
        """
        vocab = load_word_map(word_map, min_word_freq) if word_map else None
        refs, hyps = [], []
        for rid, rec in records.items():
            r = self.references(rec)
            if not r:
                raise ValueError(f'record {rid}: no reference caption')
            h = ptb_tokenize(prediction_text(predictions.get(rid)) or '')
            if vocab is not None:
                r = [[w if w in vocab else '<unk>' for w in ref] for ref in r]
                h = [w if w in vocab else '<unk>' for w in h]
            refs.append(r)
            hyps.append(h)
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


def tidy_caption(raw: str) -> str:
    """A reference sentence as answer text: whitespace collapsed, no space before , . ; : ? !"""
    text = ' '.join(raw.split())
    return re.sub(r'\s+([,.;:?!])', r'\1', text)


__all__ = ['CAPTION_KEYS', 'LevirCC', 'bleu', 'caption_scores', 'cider_d', 'load_word_map',
           'meteor_available', 'meteor_score', 'ptb_tokenize', 'rouge_l', 'tidy_caption']
