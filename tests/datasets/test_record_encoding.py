"""Record lines that are not UTF-8 or hold an unpaired surrogate: bad records, one line each."""
import json
import shutil

import pytest
from mmengine.registry import init_default_scope

from eov.datasets.schema import RecordError
from eov.utils.io import scan_jsonl
from eov.registry import DATASETS


def _write_records(tiny_cfg, tmp_path, edit):
    """Copy the synth data; ``edit(encoded lines) -> lines`` rewrites train.jsonl (bytes)."""
    data = tmp_path / 'data'
    shutil.copytree(tiny_cfg.data_root, data)
    lines = (data / 'train.jsonl').read_bytes().splitlines()
    (data / 'train.jsonl').write_bytes(b'\n'.join(edit(lines)) + b'\n')
    return data


def _build(tiny_cfg, data, max_bad_records):
    init_default_scope('eov')
    cfg = tiny_cfg.train_dataloader.dataset
    cfg.data_root, cfg.ann_file, cfg.max_bad_records = str(data), 'train.jsonl', max_bad_records
    return DATASETS.build(cfg)


def _latin1_and_surrogate(lines):
    # line 3: a caption typed in Latin-1 (0xe9 'é' is not UTF-8 on its own)
    lines[2] = lines[2].replace(b'"value": "', b'"value": "caf\xe9 ', 1)
    # line 5: a JSON escape for half of a UTF-16 pair
    record = json.loads(lines[4])
    record['conversations'][0]['value'] += ' \ud800'
    lines[4] = json.dumps(record).encode()   # ensure_ascii writes it as "\ud800"
    assert b'\\ud800' in lines[4]
    return lines


def test_bad_bytes_and_a_lone_surrogate_are_skippable_bad_records(tiny_cfg, tmp_path):
    data = _write_records(tiny_cfg, tmp_path, _latin1_and_surrogate)
    with pytest.raises(RecordError, match=r'train.jsonl:3: not UTF-8 at byte offset \d+ of the '
                                          r'line \(0xe9\); save the file as UTF-8'):
        _build(tiny_cfg, data, max_bad_records=0)
    ds = _build(tiny_cfg, data, max_bad_records=2)
    assert len(ds) == 46   # the other 46 lines of the file still load
    offset = (data / 'train.jsonl').read_bytes().splitlines()[2].index(b'\xe9')
    assert [m.split('train.jsonl')[1] for m in ds.bad_records] == [
        f':3: not UTF-8 at byte offset {offset} of the line (0xe9); save the file as UTF-8',
        ':5: unpaired surrogate U+D800 in conversations[0].value (half of a UTF-16 pair; '
        'UTF-8 cannot encode it)']
    for i in range(len(ds)):   # every kept text encodes (a tokenizer would not crash)
        json.dumps(ds.get_data_info(i), ensure_ascii=False).encode('utf-8')
    with pytest.raises(RecordError, match='more than max_bad_records=1'):
        _build(tiny_cfg, data, max_bad_records=1)


def test_scan_jsonl_names_the_line_and_the_key(tmp_path):
    path = tmp_path / 'r.jsonl'
    path.write_bytes(b'{"id": "a", "x": "ok \\ud83d\\ude00"}\r\n'   # a valid pair: one character
                     b'\n'
                     b'{"id": "b\xff\xfe"}\n'
                     b'{"id": "c", "targets": [{"type": "text", "text": "\\udc00"}]}\n'
                     b'{"id": "d", "meta": {"k\\udfff": 1}}\n'
                     + '{"id": "é"}\n'.encode())
    got = list(scan_jsonl(str(path)))
    assert [n for n, _ in got] == [1, 3, 4, 5, 6]
    assert got[0][1] == {'id': 'a', 'x': 'ok \U0001f600'}
    assert str(got[1][1]) == f'{path}:3: not UTF-8 at byte offset 9 of the line (0xff); ' \
                             'save the file as UTF-8'
    assert str(got[2][1]) == f'{path}:4: unpaired surrogate U+DC00 in targets[0].text ' \
                             '(half of a UTF-16 pair; UTF-8 cannot encode it)'
    assert 'unpaired surrogate U+DFFF in the key ' in str(got[3][1])
    assert got[4][1] == {'id': 'é'}
