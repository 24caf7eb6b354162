"""Instruction data: schema, dataset, transforms, collation, EOV-Synth."""
from .collate import group_images, instruction_collate
from .instruction_dataset import InstructionDataset
from .schema import RecordError, validate_record
from .transforms import BuildConversation, LoadImages, PackSample, TokenizeConversation

__all__ = ['BuildConversation', 'InstructionDataset', 'LoadImages', 'PackSample',
           'RecordError', 'TokenizeConversation', 'group_images', 'instruction_collate',
           'validate_record']
