"""Change detection and change captioning on bi-temporal image pairs."""
from __future__ import annotations

import numpy as np

from eov.registry import HEADS
from eov.scoring.stats import MeanStat, RatioStat

from .base import (BaseTaskHead, as_text, caption_cider_scores, caption_metrics, check_text,
                   f1_score, iou_verdict, is_empty_answer, mask_counts, most_frequent_text,
                   norm_answer, normalize, pixel_iou, target_types, whole_image)

#: Geometry of changed regions.
CHANGE_REGION_TYPES = ('poly', 'hbb', 'obb', 'quad')
#: All target types of a change record.
CHANGE_TYPES = CHANGE_REGION_TYPES + ('text',)
#: Answer of a change-detection record without changed regions.
NO_CHANGE_ANSWER = 'no change'
#: Texts (lower-case, without end punctuation) read as "nothing changed".
NO_CHANGE_PHRASES = frozenset({
    'no change', 'no changes', 'none', 'no', 'nothing', 'nothing changed', 'unchanged',
    'no change detected', 'no changes detected', 'there is no change', 'there are no changes',
    'no difference', 'there is no difference', 'the scene is the same as before',
    'the two images are the same', 'nothing has changed',
})
#: Parse modes.
CHANGE_MODES = ('regions', 'caption')


@HEADS.register_module(name='change')
class ChangeHead(BaseTaskHead):
    """Change detection (regions) and change captioning on a before/after image pair.

    The record holds two images (``temporal`` modality, or a pair given as
    one visual input); the head only deals with text. Its targets are one of:

    - **changed regions**: ``poly`` objects (e.g. from a change mask through
      ``MaskToPolygons``; ``hbb``/``obb``/``quad`` are accepted too), with
      optional labels. Answer: the serializer's text of the regions (its
      ``order``); no region -> ``'no change'`` (``no_change_answer``).
    - **change captions** (LEVIR-CC style): ``text`` targets; the first is the
      answer, :meth:`references` gives all.

    Mixing both kinds is an error. An empty target list means "no change".

    Questions: variant ``'regions'`` (default) or ``'caption'``
    (:meth:`question_fields` picks it for text targets).

    Parsing: ``{'mode', 'text', 'objects', 'changed', 'parsed', 'errors'}``.
    ``mode`` is ``'regions'`` or ``'caption'`` -- given, or found from the
    text (regions when a spatial fragment was decoded, a fragment failed, or
    the text says "no change"; else caption). ``changed`` is true when
    regions were read, false when the text says "no change" (``'no
    change'``, ``'there is no difference'`` ...), else ``None``. ``parsed``:
    regions mode -- regions read or "no change"; caption mode -- non-empty
    text.

    Scoring: ``f1``, ``iou`` of the changed pixels (pooled); ``change/caption``
    cells ``exact`` and the caption metrics. Chance: the better of ``no
    change`` and a whole-image polygon / the most frequent caption.

    Args:
        serializer: SLIS serializer config or object (needed for regions).
        no_change_answer: Answer when no region changed.
    """

    task = 'change'
    default_variant = 'regions'
    primary_metrics = {None: 'f1', 'caption': 'CIDEr'}
    allows_empty_targets = True
    spatial = True
    templates = (
        'Outline the regions that changed between the two images.',
        'Which areas changed between these two images? Give their polygons.',
        'Mark the changed areas between the two acquisitions.',
        'Detect the changes between the before and after images.',
    )
    variants = {
        'caption': (
            'Describe the changes between the two images.',
            'What changed between these two images?',
            'Summarize the differences between the before and after images.',
            'Write a sentence about what changed in this scene.',
        ),
    }

    def __init__(self, serializer=None, no_change_answer: str = NO_CHANGE_ANSWER):
        super().__init__(serializer)
        self.no_change_answer = check_text(no_change_answer, 'no_change_answer')
        self.no_change_phrases = NO_CHANGE_PHRASES | {normalize(self.no_change_answer)}

    def _split(self, targets) -> tuple[list[dict], list[dict]]:
        targets = self.check_targets(targets, CHANGE_TYPES)
        regions = [t for t in targets if t['type'] in CHANGE_REGION_TYPES]
        texts = [t for t in targets if t['type'] == 'text']
        if regions and texts:
            raise ValueError('a change record holds changed regions '
                             f'({"/".join(CHANGE_REGION_TYPES)}) or change captions (text), '
                             'not both')
        return regions, texts

    def question_fields(self, targets, image_size=None) -> dict:
        """``{'variant': 'caption'}`` for change captions."""
        _, texts = self._split(targets)
        return {'variant': 'caption'} if texts else {}

    def references(self, targets) -> list[str]:
        """Every reference change caption (for the caption metrics)."""
        _, texts = self._split(targets)
        if not texts:
            raise ValueError("a change record needs 'text' targets to have captions")
        return [check_text(t.get('text'), "change 'text' target") for t in texts]

    def answer_text(self, targets, image_size) -> str:
        """Serialized regions, ``'no change'``, or the first caption."""
        regions, texts = self._split(targets)
        if texts:
            return self.references(targets)[0]
        if not regions:
            return self.no_change_answer
        return self.encode(regions, image_size)

    def parse(self, text, image_size, mode: str | None = None) -> dict:
        """Read regions or a caption (see the class docstring); never raises."""
        raw = as_text(text)
        objects, errors = self.decode(raw, image_size, CHANGE_REGION_TYPES) \
            if self.serializer is not None else ([], [])
        no_change = not objects and is_empty_answer(raw, self.no_change_phrases)
        if mode not in CHANGE_MODES:
            mode = 'regions' if (objects or errors or no_change) else 'caption'
        changed = True if objects else (False if no_change else None)
        parsed = (bool(objects) or no_change) if mode == 'regions' else bool(raw.strip())
        return {'mode': mode, 'text': raw.strip(), 'objects': objects, 'changed': changed,
                'parsed': parsed, 'errors': errors}

    # -- scoring ------------------------------------------------------------------
    @classmethod
    def record_kind(cls, targets) -> str | None:
        """``'caption'`` for ``text`` targets (change captioning)."""
        return 'caption' if 'text' in target_types(targets) else None

    def parse_context(self, targets) -> dict:
        """``{'mode': 'caption' or 'regions'}`` from the record's kind."""
        return {'mode': 'caption' if self.record_kind(targets) == 'caption' else 'regions'}

    def _items(self, rows):
        """``(pixels, text hits, parsed, caption pairs)``; ``pixels``: ``(tp, fp, fn)``
        of the changed-region records."""
        pixels, text_hits, parsed, pairs = [], [], [], []
        for r in rows:
            p = self.read(r)
            texts = [t for t in r['targets'] if t.get('type') == 'text']
            if texts:
                text_hits.append(norm_answer(p.get('text'))
                                 in {norm_answer(t['text']) for t in texts})
                pairs.append(([t['text'] for t in texts], p.get('text')))
                parsed.append(bool(p.get('text')))
                continue
            parsed.append(bool(p.get('parsed')))
            pixels.append(mask_counts(r, p.get('objects')))
        return np.asarray(pixels, dtype=np.float64).reshape(-1, 3), text_hits, parsed, pairs

    def score(self, rows, **options) -> dict:
        """``f1``, ``iou`` (region rows); ``exact`` and the caption metrics (caption rows);
        ``parse_rate``."""
        pixels, text_hits, parsed, pairs = self._items(rows)
        tp, fp, fn = (int(v) for v in pixels.sum(0))
        out = {'parse_rate': np.mean(parsed)}
        if len(text_hits) < len(rows):
            out['f1'] = f1_score(tp, fp, fn)
            out['iou'] = pixel_iou(tp, fp, fn)
        if text_hits:
            out['exact'] = np.mean(text_hits)
            out.update(caption_metrics(pairs))
        return out

    def verdicts(self, rows, **options) -> list[dict]:
        """``{'iou', 'correct'}`` (regions) or ``{'correct'}`` (captions) per row."""
        out = []
        for r in rows:
            pixels, text_hits, _, _ = self._items([r])
            out.append({'correct': bool(text_hits[0])} if text_hits
                       else iou_verdict(pixel_iou(*pixels[0])))
        return out

    def chance_answers(self, rows) -> list[list[str]]:
        """Captions: the most frequent reference caption; regions: ``no change``, and one
        whole-image polygon."""
        caption = {'type': 'text', 'text': most_frequent_text(rows)}

        def answers(regions):
            return [self.answer_text([caption] if self.record_kind(r['targets']) == 'caption'
                                     else regions(r), tuple(r['image_size'])) for r in rows]
        if all(self.record_kind(r['targets']) == 'caption' for r in rows):
            return [answers(None)]
        return [answers(lambda r: []), answers(lambda r: [whole_image(r['image_size'])])]

    def record_stat(self, metric, rows, **options):
        """Pooled pixel F1 for ``f1``; per-record CIDEr-D / hits for caption cells."""
        pixels, text_hits, _, pairs = self._items(rows)
        if metric == 'f1' and not text_hits:
            tp, fp, fn = pixels.T
            return RatioStat(2 * tp, 2 * tp + fp + fn, empty=1.0)
        if metric == 'CIDEr' and len(pairs) == len(rows):
            return MeanStat(caption_cider_scores(pairs))
        if metric == 'exact' and len(text_hits) == len(rows):
            return np.asarray(text_hits, dtype=bool)
        return None
