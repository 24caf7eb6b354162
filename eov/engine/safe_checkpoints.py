"""Kill-safe checkpoints: atomic writes, delete-after-save, resume from the last good one.

MMEngine's ``CheckpointHook`` removes the oldest checkpoint *before* writing
the new one and writes files in place, so a ``kill -9`` (or a full disk)
during a save with ``max_keep_ckpts=1`` leaves no usable checkpoint. eov's
rules:

- a checkpoint is written to ``<name>.partial`` and renamed when complete
  (:meth:`EOVRunner.save_checkpoint <eov.engine.EOVRunner.save_checkpoint>`);
  a failed write removes the partial file and names the file in the error;
- ``last_checkpoint`` is replaced atomically and only points at complete files;
- old checkpoints are removed only after the new one is complete
  (:class:`EOVCheckpointHook`);
- resuming from a work dir uses the newest checkpoint that is complete
  (:func:`latest_good_checkpoint`), logging what it skipped.
"""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
import zipfile

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from eov.registry import HOOKS

#: Suffix of a checkpoint being written.
PARTIAL = '.partial'
LAST_CHECKPOINT = 'last_checkpoint'


class ResumeError(RuntimeError):
    """A run cannot resume (no checkpoint, or none complete); names the files."""


def write_text_atomically(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (never a half-written file)."""
    tmp = path + PARTIAL
    with open(tmp, 'w') as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def checkpoint_problem(path: str) -> str | None:
    """Why ``path`` is not a complete checkpoint, or ``None`` when it is.

    Cheap: torch's zip format keeps its directory at the end of the file, so a
    truncated file has none; the tensors are not read.
    """
    if not osp.isfile(path):
        return 'missing'
    if osp.getsize(path) == 0:
        return 'empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        return f'truncated or not a checkpoint ({err})'
    if not any(n.endswith('data.pkl') for n in names):
        return 'not a torch checkpoint (no data.pkl)'
    return None


def _iteration(path: str) -> int:
    m = re.search(r'(\d+)\.pth$', osp.basename(path))
    return int(m.group(1)) if m else -1


def latest_good_checkpoint(work_dir: str) -> str | None:
    """The checkpoint a run in ``work_dir`` resumes from.

    ``last_checkpoint``'s file when it is complete; otherwise (a kill or a
    full disk during a save) the newest complete ``iter_*.pth`` / ``epoch_*.pth``,
    with one warning per skipped file.

    Returns:
        The path, or ``None`` when ``work_dir`` holds no checkpoint at all.

    Raises:
        ResumeError: when checkpoints exist but none is complete (each named).
    """
    named = None
    pointer = osp.join(work_dir, LAST_CHECKPOINT)
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip() or None
    candidates = sorted(glob.glob(osp.join(work_dir, 'iter_*.pth'))
                        + glob.glob(osp.join(work_dir, 'epoch_*.pth')), key=_iteration,
                        reverse=True)
    if named:
        candidates = [named] + [c for c in candidates if osp.abspath(c) != osp.abspath(named)]
    bad = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            for skipped, why in bad:
                print_log(f'resume: skipped {skipped} ({why})', logger='current',
                          level=logging.WARNING)
            return path
        bad.append((path, problem))
    if bad:
        raise ResumeError(f'{work_dir}: no complete checkpoint to resume from: ' + '; '.join(
            f'{p} is {why}' for p, why in bad))
    return None


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
            elif self.file_backend.isdir(path):   # DeepSpeed checkpoints are folders
                self.file_backend.rmtree(path)
