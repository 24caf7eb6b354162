"""Task heads: one per task category (prompts, answer text, answer parsing)."""
from .base import BaseTaskHead
from .grounding import GroundingHead

__all__ = ['BaseTaskHead', 'GroundingHead']
