"""Instruction data: schema, datasets (JSONL; shards streamed at scale), transforms,
collation, EOV-Synth."""
from .collate import (eov_collate, first_fit_decreasing, group_images, instruction_collate,
                      packed_collate)
from .instruction_dataset import InstructionDataset
from .samplers import GroupedSampler, MixtureSampler
from .schema import RecordError, validate_record
from .streaming import StreamingInstructionDataset, streaming_collate
from .synth.dataset import SynthV2Dataset
from .transforms import BuildConversation, LoadImages, PackSample, TokenizeConversation

__all__ = ['BuildConversation', 'GroupedSampler', 'InstructionDataset', 'LoadImages',
           'MixtureSampler', 'PackSample', 'RecordError', 'StreamingInstructionDataset',
           'SynthV2Dataset',
           'TokenizeConversation', 'eov_collate', 'first_fit_decreasing', 'group_images',
           'instruction_collate', 'packed_collate', 'streaming_collate', 'validate_record']
