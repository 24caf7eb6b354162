"""Processing: the processor that turns conversations into token ids and back.

:class:`EOVProcessor` owns the tokenizer, the SLIS serializer, the chat
template and the ``<image>`` expansion; the pipeline, the model, the
inferencer and the Hugging Face export share it.
"""
from .processor import (CHAT_TEMPLATE, IGNORE_INDEX, IMAGE_PLACEHOLDER, PROCESSOR_CONFIG,
                        EOVProcessor, ProcessorError)

__all__ = ['CHAT_TEMPLATE', 'EOVProcessor', 'IGNORE_INDEX', 'IMAGE_PLACEHOLDER',
           'PROCESSOR_CONFIG', 'ProcessorError']
