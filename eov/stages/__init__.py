"""PCMA: progressive cross-modality adaptation as a chain of training stages.

A stage (``STAGES``) says which parameters train, on which data mixture, for
how long and from which weights; a chain config lists them under ``stages``
and ``tools/train.py`` runs them in order (:mod:`eov.engine.chain`). A new
stage kind is a :class:`Stage` subclass registered in ``STAGES``.
"""
from .base import AlignmentStage, ImagingPhysicsStage, JointStage, Stage, ViewpointStage

__all__ = ['AlignmentStage', 'ImagingPhysicsStage', 'JointStage', 'Stage', 'ViewpointStage']
