"""The instruction-record schema and its validation.

One JSON object per line::

    {"id": "synth-train-0", "task": "grounding", "modality": "optical",
     "images": [{"path": "images/train_000000.png", "sensor": "rgb"}],
     "conversations": [{"from": "human", "value": "<image>\\nWhere is the red circle?"},
                       {"from": "assistant", "value": null}],
     "targets": [{"type": "hbb", "bbox": [3, 7, 21, 25], "label": "red circle"}]}

An assistant turn whose value is ``null`` (or missing) is answered from the
structured ``targets`` by the task head and the configured SLIS serializer.
A record's ``task`` is any task whose head is registered (:data:`eov.registry.HEADS`:
the nine built-in ones, and those of packages loaded with ``custom_imports``).
"""
from __future__ import annotations

from eov.heads.catalog import find_head, task_names
from eov.registry import MODALITIES as MODALITY_TYPES
from eov.slis.geometry import GEOMETRY_TYPES, check_object
from eov.utils.constants import IMAGE_PLACEHOLDER
from eov.utils.errors import RecordError  # noqa: F401 (re-exported)
#: Structured target types.
TARGET_TYPES = ('hbb', 'obb', 'quad', 'poly', 'point', 'mask', 'label', 'labels', 'count',
                'text', 'choice')
HUMAN_ROLES = ('human', 'user')
ASSISTANT_ROLES = ('assistant', 'gpt')


def _fail(where: str, msg: str):
    raise RecordError(f'{where}: {msg}')


def validate_target(target: dict, where: str, extra_types=()) -> None:
    """Check one structured target (geometry types are checked in depth).

    Args:
        target: The target.
        where: Names the record in errors.
        extra_types: Types the record's task head adds to :data:`TARGET_TYPES`
            (its ``extra_target_types``; the head checks their content).
    """
    if not isinstance(target, dict):
        _fail(where, f'a target must be an object, got {target!r}')
    kind = target.get('type')
    if kind not in TARGET_TYPES and kind not in extra_types:
        _fail(where, f'target type {kind!r} is not one of '
              f'{", ".join(TARGET_TYPES + tuple(extra_types))}')
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


def validate_record(record: dict, where: str, modalities=None, test: bool = False) -> dict:
    """Validate one instruction record.

    Args:
        record: The parsed JSON object.
        where: ``'file:line'`` used in error messages.
        modalities: Modality entry names accepted (a config's ``modalities`` keys;
            default: the registered modality types).
        test: The record is to be scored (a test split): a record of a task scored
            against its ``targets`` (grounding) must have them -- without, it would
            be scored 0 whatever the model answers.

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
    head = find_head(record['task'])
    if head is None:
        _fail(where, f"task {record['task']!r} is not one of the registered tasks "
              f"({', '.join(task_names())}); a task from another package must be imported "
              "first, e.g. custom_imports=dict(imports=['my_package']) in the config")
    allowed = tuple(modalities) if modalities is not None else tuple(
        MODALITY_TYPES.own_names())
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
        validate_target(target, where, head.extra_target_types)
    needs_targets = any(t.get('value') is None for t in conv[1::2])
    # an image with nothing to detect/segment/change is a valid answer ('none'): the
    # head says whether its task allows that
    if needs_targets and not targets and not head.allows_empty_targets:
        _fail(where, "an assistant turn is null but the record has no 'targets' to answer from")
    if test and not targets and getattr(head, 'scored_from_targets', False):
        _fail(where, f"a {record['task']} test record needs 'targets': it is scored against "
              "them (its reference answer text is not read), so without them every "
              'prediction would score 0; add the targets or leave the record out of the '
              'test split')
    return record


#: A ``\\uD800``-``\\uDFFF`` escape in JSON text: the only way a lone surrogate gets in.
