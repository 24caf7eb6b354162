"""The unified instruction dataset: JSONL records -> model inputs."""
from __future__ import annotations

import logging
import os

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from eov.modalities.io import RasterReadError
from eov.registry import DATASETS

from eov.utils.io import scan_jsonl

from .schema import RecordError, validate_record


@DATASETS.register_module()
class InstructionDataset(BaseDataset):
    """Instruction records of any task and modality, validated on load.

    Args:
        ann_file: JSONL file of records (see :mod:`eov.datasets.schema`).
        data_root: Directory that relative ``ann_file`` and image paths are
            resolved against.
        pipeline: Transforms (``TRANSFORMS`` configs) applied to each record.
        modalities: Modality names records may use (default: the built-in
            seven); a pipeline's ``LoadImages`` must know each of them.
        max_bad_records: Malformed records (at load) and unreadable samples
            (at training time) tolerated before failing; each one is logged
            with its file, line and reason. ``0`` fails on the first.
        max_records: Use only the first N valid records (``None``: all).
        only_modalities: Use only the records of these modality entries (e.g.
            ``['optical']`` to score the optical cells of a mixed test split);
            ``None``: all.
        **kwargs: Passed to MMEngine's ``BaseDataset``.
    """

    def __init__(self, ann_file: str, data_root: str = '', pipeline=(),
                 modalities=None, max_bad_records: int = 0,
                 max_records: int | None = None, only_modalities=None, **kwargs):
        self.modalities = tuple(modalities) if modalities is not None else None
        self.max_bad_records = int(max_bad_records)
        self.max_records = max_records
        self.only_modalities = None if only_modalities is None else tuple(only_modalities)
        self.bad_records: list[str] = []
        self._bad_keys: set[str] = set()
        self._bad_samples: set[str] = set()   # records whose sample failed (training)
        self._bad_at_load = 0
        super().__init__(ann_file=ann_file, data_root=data_root, pipeline=list(pipeline),
                         **kwargs)

    def _bad(self, message: str, key: str | None = None, total: int | None = None) -> None:
        """Count one bad record (once per ``key``: a record drawn again counts once);
        raise when there are more than ``max_bad_records``.

        Args:
            message: What is wrong, naming the file and line.
            key: The record (its source); ``None``: the message itself.
            total: Records in the file (``None`` while it is being read).
        """
        key = message if key is None else key
        if key in self._bad_keys:
            return
        self._bad_keys.add(key)
        self.bad_records.append(message)
        n = len(self.bad_records)
        if n > self.max_bad_records:
            if self.max_bad_records == 0:
                raise RecordError(message)
            among = (f'among the {total} records read from {self.ann_file}'
                     if total is not None else f'so far while reading {self.ann_file}')
            raise RecordError(f'{message} ({n} bad records {among}: more than '
                              f'max_bad_records={self.max_bad_records})')
        print_log(f'skipping bad record: {message}', logger='current',
                  level=logging.WARNING)

    def load_data_list(self) -> list[dict]:
        """Read, validate and return the records of :attr:`ann_file`."""
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(f'annotation file not found: {self.ann_file}')
        records = []
        seen: dict[str, str] = {}
        for lineno, rec in scan_jsonl(self.ann_file):
            where = f'{self.ann_file}:{lineno}'
            try:
                if isinstance(rec, Exception):
                    raise rec
                validate_record(rec, where, self.modalities, test=self.test_mode)
            except RecordError as err:
                self._bad(str(err))
                continue
            if self.only_modalities is not None and rec['modality'] not in self.only_modalities:
                continue
            rid = str(rec['id'])
            if rid in seen:   # predictions and scores are keyed by id: a repeat would be lost
                self._bad(f'{where}: id {rid!r} repeats {seen[rid]}')
                continue
            seen[rid] = where
            rec = dict(rec, data_root=self.data_root, source=where)
            records.append(rec)
            if self.max_records is not None and len(records) >= self.max_records:
                break
        if not records:
            which = (f' of modality {", ".join(self.only_modalities)}'
                     if self.only_modalities is not None else '')
            raise RecordError(f'{self.ann_file}: no valid records{which}')
        self._bad_at_load = len(self.bad_records)
        if self.bad_records:
            print_log(f'{self.ann_file}: skipped {len(self.bad_records)} bad records',
                      logger='current', level=logging.WARNING)
        return records

    def prepare_data(self, idx: int):
        """Run the pipeline on record ``idx``; a broken image is skipped or raised.

        A test record is never skipped (it would be missing from the scores without a
        word): its error is raised, naming the file. A training record is skipped and
        counted once (however often it is drawn) up to ``max_bad_records``; when every
        record is bad the error says so (instead of MMEngine's endless redraws).
        """
        try:
            return super().prepare_data(idx)
        except (RasterReadError, RecordError) as err:
            info = self.get_data_info(idx)
            source = str(info.get('source', idx))
            message = str(err) if str(err).startswith(source) else f'{source}: {err}'
            if self.test_mode:
                raise RecordError(f'{message} (a test record is not skipped: it would be '
                                  'missing from the scores; fix the record or remove it '
                                  'from the test split)') from err
            self._bad_samples.add(source)
            self._bad(message, key=source, total=len(self) + self._bad_at_load)
            if len(self._bad_samples) >= len(self):
                raise RecordError(f'{self.ann_file}: every one of its {len(self)} records '
                                  f'is bad (first: {self.bad_records[0]})') from err
            return None  # BaseDataset.__getitem__ then draws another sample
