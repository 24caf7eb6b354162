"""reBEN (BigEarthNet v2.0) Sentinel-2 multi-label classification in the 19-class nomenclature.

reBEN (Clasen et al., "reBEN: Refined BigEarthNet Dataset for Remote Sensing
Image Analysis", 2024) ships ``metadata.parquet`` -- one row per patch:
``patch_id``, ``labels`` (the 19-class names), ``split`` (``train``,
``validation``, ``test``), ``country``, ``s1_name``, ``s2v1_name``, ... --
and the Sentinel-2 patches as
``BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_B01.tif`` ... ``_B12.tif``
(12 bands incl. ``B8A``, no ``B10``), ``<tile>`` being the patch id without
its last two ``_``-separated parts.

Records and scoring are those of ``bigearthnet_v1``
(:class:`eov.evaluation.benchmarks.bigearthnet.BigEarthNetV1`).
"""
from __future__ import annotations

import csv
import os
import re

from eov.registry import BENCHMARKS

from .base import BenchmarkDataError
from .bigearthnet import BEN19_CLASSES, BEN43_TO_19, BigEarthNetV1, to_19_classes

#: ``--split`` names accepted for reBEN's ``validation`` split.
SPLIT_ALIASES = {'val': 'validation', 'valid': 'validation'}
#: Patch folders tried under the image root, in order.
S2_DIRS = ('BigEarthNet-S2', 'BigEarthNet-S2-v2.0')
_QUOTED_RE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")


def parse_labels(value, where: str = '') -> list[str]:
    """The label names of one metadata row.

    Accepts a list (parquet), or the text a CSV export holds: a JSON list, a
    Python or NumPy list repr (``['Arable land' 'Pastures']``), or names
    separated by ``;`` or ``|``; without quotes or separators the 19-class
    names are found in the text.
    """
    if value is None:
        return []
    if not isinstance(value, str):
        try:
            return [str(v) for v in value]
        except TypeError:
            raise BenchmarkDataError(f'{where}: labels must be a list, got {value!r}') from None
    text = value.strip()
    if not text:
        return []
    if text.startswith('['):
        # a JSON list, a Python list repr, or a NumPy array repr (``['a' 'b']``, whose
        # adjacent literals Python would concatenate): read the quoted names one by one
        quoted = [a if a else b for a, b in _QUOTED_RE.findall(text)]
        if quoted:
            return [q.replace("\\'", "'").replace('\\"', '"') for q in quoted]
        text = text.strip('[]')
    for sep in (';', '|'):
        if sep in text:
            return [p.strip() for p in text.split(sep) if p.strip()]
    from eov.heads.base import find_classes
    found = find_classes(text, list(BEN19_CLASSES) + list(BEN43_TO_19))
    if not found:
        raise BenchmarkDataError(f'{where}: cannot read labels from {value!r}')
    return found


def to_19(labels: list[str], where: str = '') -> list[str]:
    """reBEN labels (19-class names; 43-class names are mapped) in official order."""
    return to_19_classes(labels, where, names_19=True)


def read_metadata(path: str) -> list[dict]:
    """Rows of ``metadata.parquet`` (needs pyarrow or pandas) or of a CSV export.

    Raises:
        BenchmarkDataError: a missing column, or a parquet file without a reader.
    """
    if path.lower().endswith(('.csv', '.tsv')):
        with open(path, encoding='utf-8-sig', newline='') as f:
            sample = f.read(4096)
            f.seek(0)
            delimiter = '\t' if path.lower().endswith('.tsv') or \
                ('\t' in sample and ',' not in sample.split('\n', 1)[0]) else ','
            rows = list(csv.DictReader(f, delimiter=delimiter))
    else:
        rows = _read_parquet(path)
    if not rows:
        raise BenchmarkDataError(f'{path}: no rows')
    missing = [c for c in ('patch_id', 'labels') if c not in rows[0]]
    if missing:
        raise BenchmarkDataError(f'{path}: missing column(s) {", ".join(missing)} (columns: '
                                 f'{", ".join(map(str, rows[0]))})')
    return rows


def _read_parquet(path: str) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:
        return pq.read_table(path).to_pylist()
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        try:
            frame = pd.read_parquet(path)
        except ImportError as err:
            raise BenchmarkDataError(f'{path}: pandas cannot read parquet here ({err}); '
                                     'pip install pyarrow') from None
        return [{k: (list(v) if k == 'labels' and not isinstance(v, str) else v)
                 for k, v in row.items()} for row in frame.to_dict('records')]
    raise BenchmarkDataError(
        f'{path}: reading parquet needs pyarrow (pip install pyarrow) or pandas with a '
        'parquet engine; or export the table to CSV once (e.g. python -c "import pandas as '
        "pd; pd.read_parquet('metadata.parquet').to_csv('metadata.csv', index=False)\") and "
        'pass that file (-o metadata=metadata.csv)')


@BENCHMARKS.register_module(name='bigearthnet_v2')
class BigEarthNetV2(BigEarthNetV1):
    """reBEN (BigEarthNet v2.0) Sentinel-2 patches -> 19-class multi-label records.

    Input: SRC holds ``metadata.parquet`` (or a CSV export of it,
    ``metadata.csv``; ``-o metadata=`` names the file; SRC may be the file)
    and the patch folders ``BigEarthNet-S2/<tile>/<patch_id>/`` (``--images``
    names the folder that holds the tile folders; flat
    ``<root>/<patch_id>/`` folders are found too). ``--split test`` keeps
    the rows whose ``split`` is ``test`` (``val`` means ``validation``);
    without, every row. Patches without a 19-class label are skipped (noted).

    Records: as ``bigearthnet_v1``, with ``meta.split`` and, when present,
    ``meta.country``, ``meta.s1_name``, ``meta.s2v1_name``. Scoring: the
    same as ``bigearthnet_v1``.
    """

    name = 'bigearthnet_v2'
    convert_options = {
        'metadata': 'metadata table: metadata.parquet (needs pyarrow or pandas) or a CSV '
                    'export with the same columns (default: SRC/metadata.parquet, else '
                    'SRC/metadata.csv)',
        'images': 'folder of the tile folders (default: SRC/BigEarthNet-S2)',
    }

    def _image_root(self, src: str, images: str | None) -> str:
        base = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
        if images:
            root = self.resolve_dir(src, images)
            if not os.path.isdir(root) and self._check_images:
                raise BenchmarkDataError(f'{self.name}: image folder not found: {root}')
            return root
        for name in S2_DIRS:
            if os.path.isdir(os.path.join(base, name)):
                return os.path.join(base, name)
        return base

    @staticmethod
    def patch_folder(root: str, patch_id: str) -> str:
        """``<root>/<tile>/<patch_id>``, or ``<root>/<patch_id>`` when only that exists."""
        nested = os.path.join(root, patch_id.rsplit('_', 2)[0], patch_id)
        flat = os.path.join(root, patch_id)
        return flat if not os.path.isdir(nested) and os.path.isdir(flat) else nested

    def patches(self, src, split=None, metadata=None, images=None):
        """Yield ``(folder, patch, 19-class labels, meta)`` of every metadata row of the split."""
        path = self.find_file(src, metadata, ('metadata.parquet', 'metadata.csv'), 'metadata')
        root = self._image_root(src, images)
        rows = read_metadata(path)
        wanted = SPLIT_ALIASES.get(split, split) if split is not None else None
        if wanted is not None and 'split' not in rows[0]:
            raise BenchmarkDataError(f'{path}: no "split" column to select split {split!r}')
        splits = sorted({str(r.get('split')) for r in rows})
        if wanted is not None and wanted not in splits:
            raise BenchmarkDataError(f'{path}: no rows with split {wanted!r} (splits: '
                                     f'{", ".join(splits)})')
        for k, row in enumerate(self.progress(rows, 'patches')):
            if wanted is not None and str(row.get('split')) != wanted:
                continue
            where = f'{path}: row {k + 1}'
            patch = str(row.get('patch_id') or '').strip()
            if not patch:
                raise BenchmarkDataError(f'{where}: empty patch_id')
            classes = to_19(parse_labels(row.get('labels'), f'{where} ({patch})'),
                            f'{where} ({patch})')
            meta = {'split': row.get('split'), 'source': f'{os.path.basename(path)}#row{k + 1}'}
            for key in ('country', 's1_name', 's2v1_name'):
                if row.get(key) not in (None, ''):
                    meta[key] = str(row[key])
            yield self.patch_folder(root, patch), patch, classes, meta
