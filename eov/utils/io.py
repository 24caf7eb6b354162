"""File I/O every room shares: atomic writes, the one line-numbered JSONL reader, jsonable.

A file eov writes (checkpoint, split, scoreboard, predictions, manifest) is
either the old one or the complete new one, never half-written: it is written
to ``PATH.partial``, flushed to disk, then renamed over ``PATH`` in one step.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from typing import IO, Iterator

import numpy as np

from .errors import RecordError

#: Suffix of a file being written; renamed over the target when complete.
PARTIAL = '.partial'


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = 'w',
                 encoding: str | None = 'utf-8') -> Iterator[IO]:
    """Open ``PATH.partial`` for writing; on a clean exit it replaces ``path``.

    On an exception the partial file is removed and ``path`` is left as it
    was. Parent folders are created.

    Args:
        path: The file to (re)write.
        mode: ``'w'`` (text) or ``'wb'`` (bytes).
        encoding: Text encoding (ignored for bytes).

    Yields:
        The open file.
    """
    path = os.fspath(path)
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + PARTIAL
    try:
        with open(tmp, mode, **({} if 'b' in mode else {'encoding': encoding})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def path_problem(path, what: str, expected: str) -> str | None:
    """Why ``path`` cannot be read as a ``what`` (``None``: a readable regular file).

    Args:
        path: The path given.
        what: What it was given as, e.g. ``'image file'``, ``'checkpoint'``.
        expected: What should be there, e.g. ``'a .pth file'``.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f'{what} {path} is a symbolic link to {os.readlink(path)}, which is not there'
        return f'{what} not found: {path}'
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f'{what} {path} is a symbolic link loop: expected {expected}'
        return f'{what} {path} cannot be opened: {err.strerror or err}'
    if stat.S_ISDIR(st.st_mode):
        return f'{what} {path} is a directory: expected {expected}'
    if not stat.S_ISREG(st.st_mode):
        return f'{what} {path} is not a regular file (a FIFO, socket or device): ' \
               f'expected {expected}'
    try:
        with open(path, 'rb'):
            pass
    except OSError as err:
        return f'{what} {path} cannot be read: {err.strerror or err}'
    return None


def write_text_atomically(path: str | os.PathLike, text: str) -> str:
    """Replace ``path`` with ``text`` in one rename; returns ``path``."""
    with atomic_write(path) as f:
        f.write(text)
    return os.fspath(path)


def jsonable(value):
    """``value`` with numpy scalars and torch tensors turned into plain Python (for JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if type(value).__module__ == 'torch' and hasattr(value, 'tolist'):   # a tensor
        return value.tolist()
    return value


def write_json_atomically(path: str | os.PathLike, obj, indent: int | None = 2) -> str:
    """Replace ``path`` with ``obj`` as JSON (and a final newline); returns ``path``."""
    return write_text_atomically(path, json.dumps(obj, indent=indent) + '\n')


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


def parse_jsonl_line(raw: bytes, path: str, lineno: int):
    """One JSONL line: its value, a :class:`RecordError` naming ``path:lineno`` (not UTF-8,
    not JSON, an unpaired surrogate), or ``None`` for a blank line."""
    try:
        line = raw.decode('utf-8')
    except UnicodeDecodeError as err:
        bad = raw[err.start:err.end]
        return RecordError(
            f'{path}:{lineno}: not UTF-8 at byte offset {err.start} of the line '
            f'({" ".join(f"0x{b:02x}" for b in bad)}); save the file as UTF-8')
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return RecordError(f'{path}:{lineno}: invalid JSON ({err.msg})')
    if _SURROGATE_ESCAPE.search(line):
        hit = find_lone_surrogate(record)
        if hit:
            return RecordError(f'{path}:{lineno}: unpaired surrogate {hit} (half of a UTF-16 '
                               'pair; UTF-8 cannot encode it)')
    return record


def scan_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, object]]:
    """Yield ``(line_number, record or parse error)`` for each non-blank line.

    Lines are decoded one by one, so a line that is not UTF-8 or holds an
    unpaired surrogate becomes a :class:`RecordError` for that line alone.
    """
    path = os.fspath(path)
    with open(path, 'rb') as f:
        for lineno, raw in enumerate(f, 1):
            item = parse_jsonl_line(raw, path, lineno)
            if item is not None:
                yield lineno, item


def iter_jsonl(path: str | os.PathLike, error: type[Exception] = ValueError,
               objects: bool = True) -> Iterator[tuple[int, object]]:
    """Yield ``(line number, value)`` for each non-blank line; raise at the first bad one.

    The strict form of :func:`scan_jsonl` (which yields the errors instead, so
    a dataset can skip and count bad lines).

    Args:
        path: The file.
        error: Exception class raised for a bad line (not UTF-8, not JSON, an
            unpaired surrogate, or not an object with ``objects``); its message
            names ``path:line``.
        objects: Require every line to be a JSON object.

    Raises:
        FileNotFoundError: no such file.
        error: a malformed line.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: no such file')
    for lineno, value in scan_jsonl(path):
        if isinstance(value, RecordError):
            raise error(str(value))
        if objects and not isinstance(value, dict):
            raise error(f'{path}:{lineno}: expected a JSON object, got {type(value).__name__}')
        yield lineno, value
