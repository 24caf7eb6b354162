"""Instruction records as shards for streaming: JSONL -> Arrow datasets (Hugging Face
``datasets``), one per data source (``modality/task``) and part of the input.

Layout of a shard directory::

    manifest.json                      what is there (counts per source, modality, task)
    parts/<part>/<modality>__<task>/   a ``datasets`` dataset (``save_to_disk``): columns
                                       ``record`` (the record as JSON) and ``where``
                                       (``file:line`` it came from); with embedded images
                                       also ``files`` (``[{path, data}]``: the bytes of
                                       every file the record names)
    parts/<part>/done.json             the part's counts and input byte range (written last)
    bad_records.txt                    every invalid record, named by file and line

A part is a run of input lines (``part_records``); a finished part is never rebuilt, so an
interrupted build resumes where it stopped and a repeated build over the same inputs changes
nothing. Records are validated with :func:`~eov.datasets.schema.validate_record` as the JSONL
dataset validates them. Images stay where the records point (paths relative to ``data_root``,
which the manifest keeps), or, with ``embed_images``, travel inside the shards: a record's
image files (one or one per band) and mask rasters are stored as bytes beside it, so a shard
set is self-contained (one directory to copy or mount; no small-file reads at train time).

Why Arrow through ``datasets`` and not another engine: docs/data.md (measured).
"""
from __future__ import annotations

import json
import os
import shutil

from eov.utils.io import parse_jsonl_line, write_text_atomically

from .schema import RecordError, validate_record

FORMAT = 'eov-shards/1'
MANIFEST = 'manifest.json'


class ShardError(RuntimeError):
    """A shard directory cannot be built or read; names the file."""


def source_dirname(source: str) -> str:
    """Directory name of a ``modality/task`` source."""
    return source.replace('/', '__')


def map_record_files(record: dict, fn) -> list[str]:
    """Every file a record names, as written -- its images' paths (one, or one per band)
    and its mask targets' paths --, each replaced in the record by ``fn(path)``.

    Returns:
        The paths as they were, in record order.
    """
    files = []

    def visit(path):
        files.append(path)
        return fn(path)

    for image in record.get('images') or []:
        path = image.get('path') if isinstance(image, dict) else None
        if isinstance(path, list):
            image['path'] = [visit(p) for p in path]
        elif path:
            image['path'] = visit(path)
    for target in record.get('targets') or []:
        if isinstance(target, dict) and target.get('type') == 'mask' and target.get('path'):
            target['path'] = visit(target['path'])
    return files


def record_files(record: dict) -> list[str]:
    """Every file a record names (:func:`map_record_files`; the record is left as it is)."""
    return map_record_files(record, lambda path: path)


def _read_files(record: dict, where: str, data_root: str) -> list[dict]:
    """``[{path, data}]`` of :func:`record_files` (a file that cannot be read: RecordError)."""
    from eov.utils.io import path_problem
    out = []
    for path in dict.fromkeys(record_files(record)):
        full = path if os.path.isabs(path) or not data_root else os.path.join(data_root, path)
        problem = path_problem(full, 'image file', 'an image file to embed')
        if problem:
            raise RecordError(f'{where}: {problem}')
        with open(full, 'rb') as f:
            out.append(dict(path=path, data=f.read()))
    return out


def _require_datasets():
    try:
        import datasets
    except ImportError as err:   # pragma: no cover - the test extra installs it
        raise ImportError("streaming shards need Hugging Face 'datasets' "
                          "(pip install 'eov[stream]')") from err
    datasets.disable_progress_bars()
    return datasets


def _inputs_fingerprint(paths: list[str]) -> list[dict]:
    return [dict(path=os.path.abspath(p), size=os.path.getsize(p),
                 mtime=int(os.path.getmtime(p))) for p in paths]


def _read_part(path: str, start: int, max_records: int, first_line: int):
    """Yield ``(lineno, record or error, the line, end_offset)`` for up to ``max_records``
    non-blank lines of ``path`` from byte ``start``."""
    n = 0
    with open(path, 'rb') as f:
        f.seek(start)
        lineno = first_line
        while n < max_records:
            raw = f.readline()
            if not raw:
                break
            lineno += 1
            item = parse_jsonl_line(raw, path, lineno)
            if item is None:
                continue
            n += 1
            yield lineno, item, raw, f.tell()


def build_shards(inputs, out_dir: str, data_root: str = '', part_records: int = 1_000_000,
                 modalities=None, max_bad_records: int | None = None, progress: bool = True,
                 overwrite: bool = False, embed_images: bool = False) -> dict:
    """Write (or finish writing) the shards of JSONL instruction files.

    Args:
        inputs: JSONL paths (one or a list).
        out_dir: Shard directory (created; an unfinished one is resumed).
        data_root: Directory the records' image paths are relative to (kept in the
            manifest; the streaming dataset resolves images against it).
        part_records: Input lines per part (the unit of resumption).
        modalities: Modality names records may use (default: the built-in seven).
        max_bad_records: Invalid records tolerated before the build stops (``None``: any
            number); each is named in ``bad_records.txt``.
        progress: Show a progress bar over the input bytes.
        overwrite: Start over when ``out_dir`` holds shards of other inputs.
        embed_images: Store the bytes of every file a record names (images, masks) in the
            shards (a record whose file cannot be read is bad); choose ``part_records`` so
            that one part's files fit in memory.

    Returns:
        The manifest (also written to ``out_dir/manifest.json``).

    Raises:
        ShardError: an input is missing, ``out_dir`` holds shards of other inputs, there
            are more bad records than ``max_bad_records``, or none is valid.
    """
    from tqdm import tqdm
    datasets = _require_datasets()
    inputs = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    inputs = [os.fspath(p) for p in inputs]
    for path in inputs:
        if not os.path.isfile(path):
            raise ShardError(f'input not found: {path}')
    if part_records < 1:
        raise ShardError(f'part_records must be at least 1, got {part_records}')
    fingerprint = _inputs_fingerprint(inputs)
    state_path = os.path.join(out_dir, 'build.json')
    build = dict(format=FORMAT, inputs=fingerprint, part_records=int(part_records),
                 data_root=os.path.abspath(data_root) if data_root else '')
    if embed_images:
        build['embed_images'] = True
    if os.path.isfile(state_path):
        with open(state_path, encoding='utf-8') as f:
            previous = json.load(f)
        if previous != build:
            if not overwrite:
                raise ShardError(
                    f'{out_dir} holds shards of other inputs or settings ({state_path}); '
                    'give another directory or overwrite=True (--overwrite)')
            shutil.rmtree(out_dir)
    os.makedirs(os.path.join(out_dir, 'parts'), exist_ok=True)
    write_text_atomically(state_path, json.dumps(build, indent=1))
    total_bytes = sum(f['size'] for f in fingerprint)
    bar = tqdm(total=total_bytes, unit='B', unit_scale=True, desc='shards',
               disable=not progress)
    bad_total = 0
    for file_index, path in enumerate(inputs):
        start, first_line, part = 0, 0, 0
        while start < fingerprint[file_index]['size']:
            name = f'{file_index:03d}-{part:06d}'
            part_dir = os.path.join(out_dir, 'parts', name)
            done_path = os.path.join(part_dir, 'done.json')
            if os.path.isfile(done_path):
                with open(done_path, encoding='utf-8') as f:
                    done = json.load(f)
            else:
                done = _build_part(datasets, path, start, first_line, part_records,
                                   part_dir, modalities,
                                   build['data_root'] if embed_images else None)
            bad_total += len(done['bad'])
            if max_bad_records is not None and bad_total > max_bad_records:
                raise ShardError(f'{bad_total} bad records (more than max_bad_records='
                                 f'{max_bad_records}); first: {done["bad"][0]}')
            bar.update(done['end'] - start)
            start, first_line, part = done['end'], done['last_line'], part + 1
    bar.close()
    manifest = write_manifest(out_dir)
    if not manifest['records']:
        raise ShardError(f'{", ".join(inputs)}: no valid records ({manifest["bad_records"]} '
                         f'bad, named in {os.path.join(out_dir, "bad_records.txt")})')
    return manifest


def _build_part(datasets, path, start, first_line, part_records, part_dir, modalities,
                embed_root: str | None = None):
    """Validate one part's records and save one dataset per source (then ``done.json``);
    ``embed_root`` (not ``None``): embed their files, resolved against it."""
    groups: dict[str, dict[str, list]] = {}
    bad, seen = [], {}
    end, last_line = start, first_line
    for lineno, item, raw, end in _read_part(path, start, part_records, first_line):
        last_line = lineno
        where = f'{path}:{lineno}'
        try:
            if isinstance(item, Exception):
                raise item
            validate_record(item, where, modalities)
            rid = str(item['id'])
            if rid in seen:
                raise RecordError(f'{where}: id {rid!r} repeats {seen[rid]}')
            files = _read_files(item, where, embed_root) if embed_root is not None else None
        except RecordError as err:
            bad.append(str(err))
            continue
        seen[rid] = where
        source = f"{item['modality']}/{item['task']}"
        group = groups.setdefault(source, {'record': [], 'where': [], 'files': []})
        group['record'].append(raw.decode('utf-8').strip())   # the line as given
        group['where'].append(where)
        group['files'].append(files)
    shutil.rmtree(part_dir, ignore_errors=True)   # a half-written part from a kill
    os.makedirs(part_dir)
    features = dict(record=datasets.Value('string'), where=datasets.Value('string'))
    if embed_root is not None:     # large_binary: a part's files may pass 2 GB
        features['files'] = datasets.List({'path': datasets.Value('string'),
                                           'data': datasets.Value('large_binary')})
    for source, columns in sorted(groups.items()):
        if embed_root is None:
            columns.pop('files')
        datasets.Dataset.from_dict(columns, features=datasets.Features(features)).save_to_disk(
            os.path.join(part_dir, source_dirname(source)))
    done = dict(input=os.path.abspath(path), start=start, end=end, first_line=first_line,
                last_line=last_line, sources={s: len(c['record']) for s, c in groups.items()},
                bad=bad)
    write_text_atomically(os.path.join(part_dir, 'done.json'), json.dumps(done, indent=1))
    return done


def write_manifest(out_dir: str) -> dict:
    """Gather the finished parts into ``manifest.json`` (and ``bad_records.txt``)."""
    with open(os.path.join(out_dir, 'build.json'), encoding='utf-8') as f:
        build = json.load(f)
    parts_dir = os.path.join(out_dir, 'parts')
    sources: dict[str, dict] = {}
    bad: list[str] = []
    for name in sorted(os.listdir(parts_dir)):
        done_path = os.path.join(parts_dir, name, 'done.json')
        if not os.path.isfile(done_path):
            continue
        with open(done_path, encoding='utf-8') as f:
            done = json.load(f)
        bad.extend(done['bad'])
        for source, n in sorted(done['sources'].items()):
            entry = sources.setdefault(source, {'records': 0, 'parts': []})
            entry['records'] += n
            entry['parts'].append([f'parts/{name}/{source_dirname(source)}', n])
    modalities: dict[str, int] = {}
    tasks: dict[str, int] = {}
    for source, entry in sources.items():
        modality, task = source.split('/', 1)
        modalities[modality] = modalities.get(modality, 0) + entry['records']
        tasks[task] = tasks.get(task, 0) + entry['records']
    import datasets
    manifest = dict(format=FORMAT, engine=f'datasets {datasets.__version__} (Arrow)',
                    data_root=build['data_root'], inputs=build['inputs'],
                    embedded_images=bool(build.get('embed_images')),
                    records=sum(e['records'] for e in sources.values()), bad_records=len(bad),
                    modalities=dict(sorted(modalities.items())), tasks=dict(sorted(tasks.items())),
                    sources=dict(sorted(sources.items())))
    write_text_atomically(os.path.join(out_dir, 'bad_records.txt'),
                      ''.join(line + '\n' for line in bad))
    write_text_atomically(os.path.join(out_dir, MANIFEST), json.dumps(manifest, indent=1))
    return manifest


def read_manifest(shards: str) -> dict:
    """The manifest of a shard directory (named in the error when it is missing or
    another format)."""
    path = os.path.join(shards, MANIFEST)
    if not os.path.isfile(path):
        raise ShardError(f'{shards}: no {MANIFEST} (build it with tools/build_shards.py)')
    with open(path, encoding='utf-8') as f:
        manifest = json.load(f)
    if manifest.get('format') != FORMAT:
        raise ShardError(f'{path}: format {manifest.get("format")!r}, expected {FORMAT!r}')
    return manifest
