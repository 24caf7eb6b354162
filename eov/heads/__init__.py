"""Task heads: one per task category (prompts, answer text, answer parsing).

Registered in :data:`eov.registry.HEADS` under the task names
``classification``, ``captioning``, ``vqa``, ``grounding``, ``detection``,
``region``, ``segmentation``, ``change`` and ``choice``; see
:mod:`eov.heads.base` for the protocol.
"""
from .base import (EMPTY_ANSWER, BaseTaskHead, ObjectListHead, find_classes, first_number,
                   split_list)
from .captioning import CaptioningHead
from .change import NO_CHANGE_ANSWER, ChangeHead
from .choice import ChoiceHead, format_choices, option_text
from .classification import ClassificationHead
from .detection import DetectionHead
from .grounding import GroundingHead
from .region import RegionHead
from .segmentation import SegmentationHead
from .vqa import VQAHead

__all__ = ['BaseTaskHead', 'CaptioningHead', 'ChangeHead', 'ChoiceHead', 'ClassificationHead',
           'DetectionHead', 'EMPTY_ANSWER', 'GroundingHead', 'NO_CHANGE_ANSWER',
           'ObjectListHead', 'RegionHead', 'SegmentationHead', 'VQAHead', 'find_classes',
           'first_number', 'format_choices', 'option_text', 'split_list']
