"""Small shared utilities at the bottom of the import layers (no eov imports).

- :mod:`eov.utils.io` -- the one atomic writer, the one JSONL reader, ``jsonable``;
- :mod:`eov.utils.constants` -- ``IMAGE_PLACEHOLDER``, ``IGNORE_INDEX``;
- :mod:`eov.utils.errors` -- ``RecordError``;
- :mod:`eov.utils.patterns` -- ``match_any`` (globs over names).
"""
from .constants import IGNORE_INDEX, IMAGE_PLACEHOLDER
from .errors import RecordError
from .io import (atomic_write, iter_jsonl, jsonable, scan_jsonl, write_json_atomically,
                 write_text_atomically)

__all__ = ['IGNORE_INDEX', 'IMAGE_PLACEHOLDER', 'RecordError', 'atomic_write', 'iter_jsonl',
           'jsonable', 'scan_jsonl', 'write_json_atomically', 'write_text_atomically']
