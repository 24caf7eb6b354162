"""Image captioning: one or several reference captions per image."""
from __future__ import annotations

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import MeanStat

from .base import (BaseTaskHead, as_text, caption_cider_scores, caption_metrics, check_text,
                   most_frequent_text, norm_answer)

#: Target type of a caption.
CAPTION_TYPES = ('text',)


@HEADS.register_module(name='captioning')
class CaptioningHead(BaseTaskHead):
    """Captioning: describe the whole image.

    Targets: one or more ``{'type': 'text', 'text': caption}`` -- several
    reference captions (UCM-Captions, RSICD: five per image) are allowed.
    The answer (training) is the **first** reference; :meth:`references`
    returns all of them for the caption metrics.

    Parsing: ``{'text': answer stripped of surrounding whitespace}``.

    Scoring: ``BLEU-1``..``BLEU-4``, ``ROUGE_L``, ``CIDEr`` (as the
    ``levir_cc`` scorer), ``exact``. Chance: the most frequent caption.

    Args:
        serializer: Unused (accepted so that every head takes the pipeline's
            serializer).
    """

    task = 'captioning'
    primary_metrics = {None: 'CIDEr'}
    templates = (
        'Describe this image.',
        'Write a short caption for this image.',
        'Briefly describe what this remote-sensing image shows.',
        'Give a one-sentence description of this image.',
        'What does this image show? Answer in one sentence.',
    )

    def references(self, targets) -> list[str]:
        """Every reference caption of the record (for BLEU / CIDEr ...)."""
        refs = [check_text(t.get('text'), f"{self.task} target {i} 'text'")
                for i, t in enumerate(self.check_targets(targets, CAPTION_TYPES))]
        if not refs:
            raise self.missing(CAPTION_TYPES)
        return refs

    def answer_text(self, targets, image_size=None) -> str:
        """The first reference caption.

        Raises:
            ValueError: no ``text`` target, an empty caption, or another target type.
        """
        return self.references(targets)[0]

    def parse(self, text, image_size=None) -> dict:
        """``{'text': stripped text}``; never raises."""
        return {'text': as_text(text).strip()}

    # -- scoring ------------------------------------------------------------------
    def _items(self, rows):
        """``((references, answer) pairs, exact hits)``."""
        pairs, hits = [], []
        for r in rows:
            refs = [t['text'] for t in r['targets'] if t.get('type') == 'text']
            answer = self.read(r).get('text')
            pairs.append((refs, answer))
            hits.append(norm_answer(answer) in {norm_answer(t) for t in refs})
        return pairs, np.asarray(hits, dtype=bool)

    def score(self, rows, **options) -> dict:
        """``exact``, ``parse_rate`` (non-empty answers) and the caption metrics."""
        pairs, hits = self._items(rows)
        return {'exact': np.mean(hits), 'parse_rate': np.mean(
            [bool(str(r['prediction'] or '').strip()) for r in rows]), **caption_metrics(pairs)}

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'correct'}``: the answer equals a reference."""
        return [{'correct': bool(hit)} for hit in self._items(rows)[1]]

    def chance_answers(self, rows) -> list[list[str]]:
        """The most frequent reference caption."""
        caption = {'type': 'text', 'text': most_frequent_text(rows)}
        return [[self.answer_text([caption], tuple(r['image_size'])) for r in rows]]

    def record_stat(self, metric, rows, **options):
        """Per-record CIDEr-D for ``CIDEr``; hits for ``exact``."""
        pairs, hits = self._items(rows)
        if metric == 'CIDEr':
            return MeanStat(caption_cider_scores(pairs))
        if metric == 'exact':
            return hits
        return None

