"""The COCO caption metrics on tokenised captions: BLEU, ROUGE-L and CIDEr-D exactly as
pycocoevalcap 1.2 (and RSICCformer's copy) compute them, METEOR through its Java jar.
The rules: :mod:`eov.evaluation.benchmarks.levircc`."""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .ptb import java_tool

#: Metric keys (METEOR is added only when it can be computed).
CAPTION_KEYS = ('BLEU-1', 'BLEU-2', 'BLEU-3', 'BLEU-4', 'ROUGE_L', 'CIDEr')


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


def meteor_available() -> str | None:
    """Why METEOR cannot be computed here (``None`` when it can)."""
    return java_tool('pycocoevalcap.meteor.meteor', 'meteor-1.5.jar')[1]


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
