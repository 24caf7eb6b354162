"""Resuming a run: which checkpoint to resume from, and whether it may be resumed.

Checkpoints are written kill-safe (:mod:`eov.engine.checkpoint_hook`), yet a
file can still be cut short (a copy, a disk that filled up before eov's rules
applied). Resuming from a work dir therefore uses the newest checkpoint that is
*complete* (:func:`latest_good_checkpoint`), logging what it skipped; and a
resumed run continues the same model, so a checkpoint written with another
serializer or tokenizer is refused (:func:`check_resume`).
"""
from __future__ import annotations

import glob
import logging
import os.path as osp
import re
import zipfile

from mmengine.logging import print_log

from eov.models.weights import vocabulary_changes

from .checkpoint_hook import LAST_CHECKPOINT


class ResumeError(RuntimeError):
    """A run cannot resume (no checkpoint, none complete, another vocabulary); names the files."""


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


def check_resume(checkpoint: dict, cfg, filename: str) -> None:
    """Refuse to resume ``checkpoint`` with another serializer or tokenizer than its own.

    Args:
        checkpoint: The loaded checkpoint (its saved config is compared).
        cfg: The config of the resumed run.
        filename: The checkpoint's path, for the message.

    Raises:
        ResumeError: naming both settings, and how to start from the weights instead.
    """
    changes = '; '.join(f'{key}: {before} -> {after}'
                        for key, before, after in vocabulary_changes(checkpoint, cfg))
    if changes:
        raise ResumeError(
            f'--resume {filename}: the vocabulary changed since the checkpoint was '
            f'written ({changes}); a resumed run continues the same model -- resume '
            'without the change, or start a new run from these weights with load_from '
            'and load_from_partial=True')
