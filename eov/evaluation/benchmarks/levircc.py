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
``tokens``) and hypotheses, without the PTB tokenizer. eov reimplements
those scorers exactly (:mod:`eov.scoring.caption`):

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
pycocoevalcap are installed, else with eov's Python rendering, which gives
the same tokens (:func:`eov.scoring.ptb.ptb_tokenize_batch`).
METEOR needs the Java ``meteor-1.5.jar``; see :meth:`LevirCC.score`.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

from eov.heads.change import ChangeHead
from eov.registry import BENCHMARKS
from eov.scoring.caption import CAPTION_KEYS, caption_scores, meteor_available, meteor_score
from eov.scoring.ptb import PTB_BACKENDS, ptb_tokenize, ptb_tokenize_batch

from .base import (BaseBenchmark, BenchmarkDataError, OptionError, as_bool, check_choice,
                   count_missing, prediction_text, read_json)

#: ``max_len`` and ``captions_per_image`` of RSICCformer's ``create_input_files.py`` call.
RSICC_MAX_LEN = 50
RSICC_CAPTIONS_PER_IMAGE = 5


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
        path = self.find_file(src, captions, ('LevirCCcaptions.json',), 'captions')
        base = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
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
            yield self.record(
                rid, 'temporal',
                [{'path': self.image_path(p), 'sensor': 'rgb', 'time': time}
                 for p, time in zip(pair, ('2000-01-01', '2000-01-02'))],
                question, [{'type': 'text', 'text': t} for t in texts],
                {'tokens': tokens, 'split': entry_split, 'imgid': entry.get('imgid'),
                 'source': f'{os.path.basename(path)}#images[{k}]'})
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
        check_choice(tokenizer, 'tokenizer', PTB_BACKENDS)
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
        if as_bool(meteor, 'meteor'):
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


__all__ = ['LevirCC', 'RSICC_MAX_LEN', 'load_word_map', 'tidy_caption']
