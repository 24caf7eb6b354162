"""EOV-Synth v2 made on the fly: a training set of any length, no generation step, no disk.

:class:`SynthV2Dataset` builds record ``i`` when it is drawn -- in the data
loader's worker -- from ``(seed, split, i)``, exactly as
``python -m eov.datasets.synth OUT --seed S`` writes record ``i`` of that
split: the same scene, question, targets and pixels. Its images are written
to a private scratch folder, read back through the configured modality
plugins (the same path as files on disk) and deleted again.

A model can therefore train on as many distinct records as it has
iterations, and the first iterations of a config need no data on disk. The
record's cell (modality, task) comes from the weighted round robin without
building the record, so :class:`~eov.datasets.samplers.MixtureSampler` groups
sources at start-up from a table, not from the records.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from mmengine.logging import print_log

from eov.modalities.io import RasterReadError
from eov.registry import DATASETS

from ..instruction_dataset import InstructionDataset
from ..schema import RecordError
from .multimodal import (WEIGHTS, build_heads, cell_for, cell_task, check_choice_answer,
                         make_record_v2, select_weights)

#: Per-process state: the scratch folder and the heads per choice-answer style
#: (built on first use).
_STATE: dict = {}


def _scratch() -> str:
    """This process's scratch folder (a forked data worker makes its own)."""
    if _STATE.get('pid') != os.getpid():
        _STATE.update(pid=os.getpid(), dir=tempfile.mkdtemp(prefix='eov-synth-'),
                      heads_by_style={})
        import atexit
        atexit.register(shutil.rmtree, _STATE['dir'], True)
    return _STATE['dir']


@DATASETS.register_module()
class SynthV2Dataset(InstructionDataset):
    """EOV-Synth v2 records built when drawn (see the module docstring).

    Args:
        seed: Generation seed (record ``i`` equals record ``i`` of the
            ``split`` that ``python -m eov.datasets.synth --seed SEED`` writes).
        length: Records in the dataset (indices ``0 .. length-1``).
        split: Split name (part of every record's random stream and id).
        entries: Modality entries to generate (default: every entry of
            ``modalities`` that EOV-Synth v2 has).
        image_size: Side of the generated images (pixels).
        modalities: Modality names records may use (as for
            :class:`~eov.datasets.InstructionDataset`).
        pipeline: Transforms applied to each record.
        max_bad_records: Records that fail to build or load, tolerated (each
            logged) before failing.
        choice_answer: ``'letter'`` or ``'option'``: how multiple-choice
            questions ask to be answered (as the generator's
            ``--choice-answer``; the pipeline's choice head answers in kind).
        **kwargs: Passed to MMEngine's ``BaseDataset`` (``ann_file`` is not used).
    """

    def __init__(self, seed: int = 0, length: int = 100_000, split: str = 'train',
                 entries=None, image_size: int = 64, modalities=None, pipeline=(),
                 max_bad_records: int = 0, choice_answer: str = 'letter', **kwargs):
        if int(length) < 1:
            raise ValueError(f'SynthV2Dataset needs length >= 1, got {length}')
        self.seed, self.length, self.split = int(seed), int(length), str(split)
        self.image_size = int(image_size)
        self.choice_answer = check_choice_answer(choice_answer, 'SynthV2Dataset: choice_answer')
        if entries is None:
            entries = [m for m in (modalities or WEIGHTS) if m in WEIGHTS]
        self.entries = list(select_weights(list(entries)))
        kwargs.pop('ann_file', None)
        kwargs.pop('data_root', None)
        super().__init__(ann_file='', data_root='', pipeline=pipeline, modalities=modalities,
                         max_bad_records=max_bad_records, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One stub per record: its id, modality and task (no record is built here)."""
        if self.modalities is not None:
            missing = [m for m in self.entries if m not in self.modalities]
            if missing:
                raise RecordError(f'SynthV2Dataset: entries {missing} are not among the '
                                  f'configured modalities {list(self.modalities)}')
        stubs = []
        for i in range(self.length):
            modality, cell = cell_for(i, self.split, self.seed, self.entries)
            stubs.append(dict(index=i, id=f'synth2-{self.split}-{i}', modality=modality,
                              task=cell_task(cell)[0],
                              source=f'EOV-Synth v2 seed {self.seed} {self.split}:{i}'))
        return stubs

    def build_record(self, idx: int) -> dict:
        """Build record ``idx`` (images written to this process's scratch folder)."""
        root = _scratch()
        heads = _STATE['heads_by_style']
        if self.choice_answer not in heads:
            heads[self.choice_answer] = build_heads(self.choice_answer)
        stub = self.get_data_info(idx)
        record = make_record_v2(stub['index'], self.split, self.seed, root, self.image_size,
                                heads[self.choice_answer], modalities=self.entries)[0]
        return dict(record, data_root=root, source=stub['source'])

    def prepare_data(self, idx: int):
        """Build record ``idx``, run the pipeline, delete its image files."""
        try:
            record = self.build_record(idx)
        except (RecordError, RuntimeError) as err:
            self._bad(f"{self.get_data_info(idx)['source']}: {err}")
            return None
        files = [os.path.join(record['data_root'], path) for image in record['images']
                 for path in (image['path'] if isinstance(image['path'], list)
                              else [image['path']])]   # the pipeline replaces 'images'
        try:
            return self.pipeline(record)
        except (RasterReadError, RecordError) as err:
            self._bad(f"{record['source']}: {err}")
            return None
        finally:
            for path in files:
                try:
                    os.remove(path)
                except OSError:
                    pass

    def full_init(self):
        super().full_init()
        print_log(f'SynthV2Dataset: {self.length} records of EOV-Synth v2 (seed {self.seed}, '
                  f'split {self.split!r}, entries {", ".join(self.entries)}), built when drawn',
                  logger='current')
