"""Pure scoring functions shared by the task metric and the official benchmarks.

A bottom-layer package: it imports only :mod:`eov.slis.geometry` (object
geometry), ``eov.registry`` / ``eov.utils`` and third-party libraries, never
``eov.evaluation``, ``eov.heads``, ``eov.datasets`` or ``eov.models`` -- so
task heads can score with it without importing the evaluation package.

- :mod:`~eov.scoring.polyiou`: the DOTA devkit's polygon IoU (a bit-for-bit
  port of ``polyiou.cpp``);
- :mod:`~eov.scoring.voc`: VOC AP and the devkit's per-class matching;
- :mod:`~eov.scoring.iou`: :func:`clipped_iou`, eov's grounding IoU;
- :mod:`~eov.scoring.caption`: BLEU, ROUGE-L, CIDEr-D (METEOR through Java)
  as pycocoevalcap;
- :mod:`~eov.scoring.ptb`: pycocoevalcap's PTB tokenizer;
- :mod:`~eov.scoring.stats`: the resampling statistics of the intervals.
"""
from .caption import (CAPTION_KEYS, bleu, caption_scores, cider_d, cider_d_scores,
                      meteor_available, meteor_score, rouge_l)
from .iou import clipped_iou
from .polyiou import poly_iou, polygon_iou
from .ptb import (PTB_BACKENDS, PTB_PUNCTUATIONS, ptb_java_unavailable, ptb_lex, ptb_tokenize,
                  ptb_tokenize_batch)
from .stats import APStat, MeanStat, RatioStat
from .voc import class_ap, voc_ap

__all__ = ['APStat', 'CAPTION_KEYS', 'MeanStat', 'PTB_BACKENDS', 'PTB_PUNCTUATIONS',
           'RatioStat', 'bleu', 'caption_scores', 'cider_d', 'cider_d_scores', 'class_ap',
           'clipped_iou', 'meteor_available', 'meteor_score', 'poly_iou', 'polygon_iou',
           'ptb_java_unavailable', 'ptb_lex', 'ptb_tokenize', 'ptb_tokenize_batch', 'rouge_l',
           'voc_ap']
