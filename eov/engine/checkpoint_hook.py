"""Kill-safe checkpoint writing: a ``kill -9`` or a full disk never loses the last good one.

MMEngine's ``CheckpointHook`` removes the oldest checkpoint *before* writing
the new one and writes files in place, so a ``kill -9`` (or a full disk)
during a save with ``max_keep_ckpts=1`` leaves no usable checkpoint. eov's
rules:

- a checkpoint is written to ``<name>.partial`` and renamed when complete
  (:meth:`EOVRunner.save_checkpoint <eov.engine.runner.EOVRunner.save_checkpoint>`);
  a failed write removes the partial file and names the file in the error;
- ``last_checkpoint`` is replaced atomically and only points at complete files;
- old checkpoints are removed only after the new one is complete
  (:class:`EOVCheckpointHook`).

Which checkpoint a run resumes from is :mod:`eov.engine.resume`'s.
"""
from __future__ import annotations

import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from eov.registry import HOOKS
from eov.utils.io import write_text_atomically

#: File in the work dir naming the newest complete checkpoint.
LAST_CHECKPOINT = 'last_checkpoint'


@HOOKS.register_module()
class EOVCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook`` that never loses the last good checkpoint.

    Same options as ``CheckpointHook``. The new checkpoint is written (atomically,
    by the runner) *before* old ones beyond ``max_keep_ckpts`` are removed, and
    ``last_checkpoint`` is replaced atomically after the write.

    Args:
        save_safetensors: Also write the model weights as ``iter_N.safetensors``
            beside each ``iter_N.pth`` (no pickle at all; loads with
            ``load_from``, ``tools/test.py``, ``tools/infer.py``). Kept and removed
            together with their ``.pth``.
        **kwargs: ``CheckpointHook`` options.
    """

    def __init__(self, *args, save_safetensors: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.save_safetensors = bool(save_safetensors)

    def _save_checkpoint_with_step(self, runner, step, meta):
        drop = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            # (a deque with maxlen: appending drops the oldest, remembered here)
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                drop.append(self.keep_ckpt_ids[0])
            self.keep_ckpt_ids.append(step)
            # the checkpoint records which ones are kept, itself included
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               safetensors=self.save_safetensors, **self.args)
        if not is_main_process():
            return
        write_text_atomically(osp.join(runner.work_dir, LAST_CHECKPOINT), self.last_ckpt)
        for old in drop:   # only now that the new checkpoint is complete
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if path == self.last_ckpt:
                continue
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
                weights = osp.splitext(path)[0] + '.safetensors'
                if osp.isfile(weights):
                    os.remove(weights)
