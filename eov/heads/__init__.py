"""Task heads: one per task (prompts, answer text, answer parsing, scoring).

Registered in :data:`eov.registry.HEADS` under their task names; the registry
*is* the task list (:mod:`eov.heads.catalog`), so a package that registers a
head adds a task. eov ships ``classification``, ``captioning``, ``vqa``,
``grounding``, ``detection``, ``region``, ``segmentation``, ``change`` and
``choice``; see :mod:`eov.heads.base` for the protocol.
"""
from .base import (EMPTY_ANSWER, BaseTaskHead, ObjectListHead, find_classes, first_number,
                   split_list)
from .captioning import CaptioningHead
from .catalog import (BUILTIN_TASKS, cell_of, find_head, lower_is_better, primary_metric,
                      record_kind, task_names)
from .change import NO_CHANGE_ANSWER, ChangeHead
from .choice import ChoiceHead, format_choices, option_text
from .classification import ClassificationHead
from .detection import DetectionHead
from .grounding import GroundingHead
from .region import RegionHead
from .segmentation import SegmentationHead
from .vqa import VQAHead

__all__ = ['BUILTIN_TASKS', 'BaseTaskHead', 'CaptioningHead', 'ChangeHead', 'ChoiceHead',
           'ClassificationHead', 'DetectionHead', 'EMPTY_ANSWER', 'GroundingHead',
           'NO_CHANGE_ANSWER', 'ObjectListHead', 'RegionHead', 'SegmentationHead', 'VQAHead',
           'cell_of', 'find_classes', 'find_head', 'first_number', 'format_choices',
           'lower_is_better', 'option_text', 'primary_metric', 'record_kind', 'split_list',
           'task_names']
