"""The instruction-record schema and its validation.

One JSON object per line::

    {"id": "synth-train-0", "task": "grounding", "modality": "optical",
     "images": [{"path": "images/train_000000.png", "sensor": "rgb"}],
     "conversations": [{"from": "human", "value": "<image>\\nWhere is the red circle?"},
                       {"from": "assistant", "value": null}],
     "targets": [{"type": "hbb", "bbox": [3, 7, 21, 25], "label": "red circle"}]}

An assistant turn whose value is ``null`` (or missing) is answered from the
structured ``targets`` by the task head and the configured SLIS serializer.
"""
from __future__ import annotations

import json
import math
import re
from typing import Iterator

from eov.slis.geometry import GEOMETRY_TYPES, check_object

#: The nine task categories.
TASKS = ('classification', 'captioning', 'vqa', 'grounding', 'detection', 'region',
         'segmentation', 'change', 'choice')
#: Built-in modalities (plugins may add more; a dataset checks against its own list).
MODALITIES = ('optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video', 'fusion')
#: Structured target types.
TARGET_TYPES = ('hbb', 'obb', 'quad', 'poly', 'point', 'mask', 'label', 'labels', 'count',
                'text', 'choice')
#: Tasks whose answer may be "nothing" (no objects, no change): empty targets allowed.
EMPTY_TARGET_TASKS = ('detection', 'segmentation', 'change')
HUMAN_ROLES = ('human', 'user')
ASSISTANT_ROLES = ('assistant', 'gpt')
IMAGE_PLACEHOLDER = '<image>'
#: Label of tokens that carry no loss (prompt, padding).
IGNORE_INDEX = -100


class RecordError(ValueError):
    """A record breaks the schema; the message names the file, line and key."""


def _fail(where: str, msg: str):
    raise RecordError(f'{where}: {msg}')


def validate_target(target: dict, where: str) -> None:
    """Check one structured target (geometry types are checked in depth)."""
    if not isinstance(target, dict):
        _fail(where, f'a target must be an object, got {target!r}')
    kind = target.get('type')
    if kind not in TARGET_TYPES:
        _fail(where, f'target type {kind!r} is not one of {", ".join(TARGET_TYPES)}')
    if kind in GEOMETRY_TYPES:
        try:
            check_object(target)
        except ValueError as exc:
            _fail(where, f'targets[]: {exc}')
        if kind == 'hbb':
            x1, y1, x2, y2 = target['bbox']
            if x2 < x1 or y2 < y1:
                _fail(where, f'targets[].bbox must be [x1, y1, x2, y2] with x1<=x2, y1<=y2, '
                      f'got {target["bbox"]!r}')
    elif kind == 'mask' and (not isinstance(target.get('path'), str) or not target['path']):
        _fail(where, f"a 'mask' target needs a 'path' to a single-band raster, got {target!r}")


def validate_record(record: dict, where: str, modalities=None) -> dict:
    """Validate one instruction record.

    Args:
        record: The parsed JSON object.
        where: ``'file:line'`` used in error messages.
        modalities: Modality names accepted (default: the built-in ones).

    Returns:
        The record, unchanged.

    Raises:
        RecordError: naming ``where`` and the offending key.
    """
    if not isinstance(record, dict):
        _fail(where, f'a record must be a JSON object, got {type(record).__name__}')
    for key in ('id', 'task', 'modality', 'images', 'conversations'):
        if key not in record:
            _fail(where, f'missing key {key!r}')
    if not isinstance(record['id'], str) or not record['id']:
        _fail(where, f"'id' must be a non-empty string, got {record['id']!r}")
    where = f"{where} (id {record['id']})"
    if record['task'] not in TASKS:
        _fail(where, f"task {record['task']!r} is not one of {', '.join(TASKS)}")
    allowed = tuple(modalities) if modalities is not None else MODALITIES
    if record['modality'] not in allowed:
        _fail(where, f"modality {record['modality']!r} is not one of {', '.join(allowed)}")
    images = record['images']
    if not isinstance(images, list) or not images:
        _fail(where, "'images' must be a non-empty list")
    for img in images:
        if not isinstance(img, dict) or not isinstance(img.get('path'), (str, list)) \
                or not img.get('path'):
            _fail(where, f"every entry of 'images' needs a 'path', got {img!r}")
    conv = record['conversations']
    if not isinstance(conv, list) or not conv:
        _fail(where, "'conversations' is empty: a record needs at least one human turn")
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or 'from' not in turn:
            _fail(where, f'conversations[{i}] must be an object with "from" and "value"')
        expected = HUMAN_ROLES if i % 2 == 0 else ASSISTANT_ROLES
        if turn['from'] not in expected:
            _fail(where, f'conversations[{i}] is from {turn["from"]!r}; turns must alternate '
                  'human/assistant, starting with human')
        value = turn.get('value')
        if i % 2 == 0 and (not isinstance(value, str) or not value.strip()):
            _fail(where, f'conversations[{i}] (human) has no text')
        if i % 2 == 1 and value is not None and not isinstance(value, str):
            _fail(where, f'conversations[{i}] (assistant) value must be text or null')
    n_placeholders = sum(t['value'].count(IMAGE_PLACEHOLDER) for t in conv[::2])
    # one placeholder per image, or one for the whole list (a multi-image
    # modality -- temporal, video, fusion -- reads it as one visual input)
    if n_placeholders != len(images) and n_placeholders != 1:
        _fail(where, f'{n_placeholders} {IMAGE_PLACEHOLDER} placeholders for '
              f'{len(images)} images')
    targets = record.get('targets', [])
    if not isinstance(targets, list):
        _fail(where, "'targets' must be a list")
    for target in targets:
        validate_target(target, where)
    needs_targets = any(t.get('value') is None for t in conv[1::2])
    # an image with nothing to detect/segment/change is a valid answer ('none')
    if needs_targets and not targets and record['task'] not in EMPTY_TARGET_TASKS:
        _fail(where, "an assistant turn is null but the record has no 'targets' to answer from")
    return record


#: A ``\\uD800``-``\\uDFFF`` escape in JSON text: the only way a lone surrogate gets in.
_SURROGATE_ESCAPE = re.compile(r'\\u[dD][89a-fA-F][0-9a-fA-F]{2}')
_SURROGATE = re.compile('[\ud800-\udfff]')


def find_lone_surrogate(value, key: str = '') -> str | None:
    """Find a string holding an unpaired UTF-16 surrogate (``"\\ud800"`` in JSON).

    ``json.loads`` accepts such escapes, but UTF-8 cannot encode the result,
    so tokenizers and writers fail on it later, far from the record.

    Args:
        value: A parsed JSON value.
        key: Where ``value`` sits in the record (used in the answer).

    Returns:
        ``'U+D800 in conversations[0].value'`` for the first one found, else ``None``.
    """
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return f'U+{ord(found.group()):04X} in {key or "the record"}' if found else None
    if isinstance(value, dict):
        for k, v in value.items():
            where = f'{key}.{k}' if key else str(k)
            hit = find_lone_surrogate(k, f'the key {where!r}') or find_lone_surrogate(v, where)
            if hit:
                return hit
    elif isinstance(value, list):
        for i, v in enumerate(value):
            hit = find_lone_surrogate(v, f'{key}[{i}]')
            if hit:
                return hit
    return None


def iter_jsonl(path: str) -> Iterator[tuple[int, dict | Exception]]:
    """Yield ``(line_number, record or parse error)`` for each non-blank line.

    Lines are decoded one by one, so a line that is not UTF-8 or holds an
    unpaired surrogate becomes a :class:`RecordError` for that line alone.
    """
    with open(path, 'rb') as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode('utf-8')
            except UnicodeDecodeError as err:
                bad = raw[err.start:err.end]
                yield lineno, RecordError(
                    f'{path}:{lineno}: not UTF-8 at byte offset {err.start} of the line '
                    f'({" ".join(f"0x{b:02x}" for b in bad)}); save the file as UTF-8')
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                yield lineno, RecordError(f'{path}:{lineno}: invalid JSON ({err.msg})')
                continue
            if _SURROGATE_ESCAPE.search(line):
                hit = find_lone_surrogate(record)
                if hit:
                    yield lineno, RecordError(
                        f'{path}:{lineno}: unpaired surrogate {hit} (half of a UTF-16 pair; '
                        'UTF-8 cannot encode it)')
                    continue
            yield lineno, record
