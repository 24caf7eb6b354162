"""The one atomic writer and the one JSONL reader."""
import json
import os

import pytest

from eov.utils import RecordError, atomic_write, iter_jsonl, scan_jsonl, write_json_atomically
from eov.utils.patterns import match_any


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / 'sub' / 'scoreboard.json'
    write_json_atomically(path, {'a': 1})                  # parent folder created
    assert json.loads(path.read_text()) == {'a': 1}
    with pytest.raises(KeyError):
        with atomic_write(path) as f:
            f.write('{"half')
            raise KeyError('killed mid-write')
    assert json.loads(path.read_text()) == {'a': 1}       # the old file, untouched
    assert os.listdir(path.parent) == ['scoreboard.json']  # no partial file left behind
    with atomic_write(path, 'wb') as f:
        f.write(b'\x00\x01')
    assert path.read_bytes() == b'\x00\x01'
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_write(path, 'a'):
            pass


def test_jsonl_readers_name_the_line(tmp_path):
    path = tmp_path / 'p.jsonl'
    path.write_bytes(b'{"id": 1}\n\n[1, 2]\n{"id": \n{"id": "\\ud800"}\n\xff\n')
    scanned = list(scan_jsonl(path))
    assert [n for n, _ in scanned] == [1, 3, 4, 5, 6]
    assert scanned[0][1] == {'id': 1} and scanned[1][1] == [1, 2]
    errors = {n: str(v) for n, v in scanned if isinstance(v, RecordError)}
    assert set(errors) == {4, 5, 6}
    assert 'p.jsonl:4: invalid JSON' in errors[4]
    assert 'unpaired surrogate U+D800' in errors[5] and 'not UTF-8' in errors[6]
    rows = iter_jsonl(path, error=LookupError)
    assert next(rows) == (1, {'id': 1})
    with pytest.raises(LookupError, match=r'p.jsonl:3: expected a JSON object, got list'):
        next(rows)
    rows = iter_jsonl(path, objects=False)
    assert [next(rows)[1], next(rows)[1]] == [{'id': 1}, [1, 2]]
    with pytest.raises(ValueError, match=r'p.jsonl:4: invalid JSON'):
        next(rows)
    with pytest.raises(FileNotFoundError, match='nope.jsonl: no such file'):
        list(iter_jsonl(tmp_path / 'nope.jsonl'))


def test_match_any_is_a_case_sensitive_glob():
    assert match_any('lm.layers.0.lora_A', ['adapters.*', '*.lora_*'])
    assert not match_any('lm.layers.0.Lora_A', ['*.lora_*'])
    assert not match_any('x', [])
