"""Which samples each training iteration saw: one JSON line per iteration and rank."""
from __future__ import annotations

import json
import os

from mmengine.dist import get_dist_info
from mmengine.hooks import Hook

from eov.registry import HOOKS


@HOOKS.register_module()
class SampleLogHook(Hook):
    """Write ``{"iter": i, "rank": r, "ids": [...]}`` for every training iteration to
    ``<work_dir>/samples_rank<r>.jsonl`` (appended: a resumed run continues the file).

    Use it to check what a run trained on (``custom_hooks=[dict(type='SampleLogHook')]``),
    e.g. that a resumed stream continues where it stopped.
    """

    priority = 'VERY_LOW'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not data_batch:
            return
        rank, _ = get_dist_info()
        ids = [str(s.get('id')) for s in data_batch.get('data_samples', [])]
        path = os.path.join(runner.work_dir, f'samples_rank{rank}.jsonl')
        with open(path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, rank=rank, ids=ids)) + '\n')
