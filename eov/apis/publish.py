"""Shipped weights with a model card: a trained work dir -> ``model.safetensors`` + card.

:func:`publish_weights` turns the final weights of a trained (and tested) chain
work dir into a folder that can live in a repository:

- ``model.safetensors``: the weights (fp32), the training config text and the
  provenance in the metadata, loadable by ``load_from`` and ``tools/test.py``;
- ``card.json``: config, data seed, commit, iterations, wall time, the sha256 of
  the weights, the losses of the first logged iterations (the *probe*: running
  ``tools/train.py CONFIG --stop-at N`` gives them again, so the file is known
  to come from that config) and the model's scoreboard;
- ``README.md``: the same as a human-readable model card.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess

#: Files of a published folder.
WEIGHTS_FILE = 'model.safetensors'
CARD_JSON = 'card.json'
CARD_MD = 'README.md'


class PublishError(RuntimeError):
    """A work dir that cannot be published (no final weights, too large, no log)."""


def sha256(path: str) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def git_commit(cwd: str | None = None) -> str:
    """The repository's HEAD commit, with ``+dirty`` when tracked files changed
    (``'unknown'`` outside a git checkout)."""
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=cwd, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=cwd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return head + ('+dirty' if dirty.strip() else '')


def _read_json(path: str):
    """A JSON file's content, or ``None`` when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _train_seed(cfg) -> int | None:
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    seed = dataset.get('seed')
    return int(seed) if isinstance(seed, int) else None


def publish_weights(work_dir: str, config: str, out_dir: str, name: str | None = None,
                    probe_iters: int = 30, wall_seconds: float | None = None,
                    max_mb: float = 20.0) -> str:
    """Write ``out_dir/{model.safetensors, card.json, README.md}`` from a trained work dir.

    Args:
        work_dir: The chain's work dir (``final.pth``, ``chain.json``, stage logs,
            ``scoreboard.json`` when tested).
        config: The config it was trained with (recorded, and checked to be the
            one saved in the weights).
        out_dir: Output folder.
        name: Model name (default: the folder name).
        probe_iters: Logged iterations (of the first stage) whose losses are recorded.
        wall_seconds: Wall time of the whole reproduction; default the training
            time of ``chain.json``.
        max_mb: Largest allowed weight file.

    Returns:
        The path of ``README.md``.

    Raises:
        PublishError: no final weights, no training log, or weights over ``max_mb``.
    """
    from eov.engine.config import load_config
    from eov.evaluation.report import read_stage_losses
    from eov.evaluation.scoreboard import learned_count, render_table
    from eov.models.weights import (SAFETENSORS_META, read_checkpoint, saved_config_text,
                                    write_safetensors)
    from eov.utils.io import write_json_atomically, write_text_atomically

    final = os.path.join(work_dir, 'final.pth')
    if not os.path.isfile(final):
        raise PublishError(f'{final} not found: train the chain first')
    ckpt = read_checkpoint(final)
    state = ckpt['state_dict']
    text = saved_config_text(ckpt)
    cfg = load_config(config)
    name = name or os.path.basename(os.path.normpath(out_dir))
    stages = (_read_json(os.path.join(work_dir, 'chain.json')) or {}).get('stages', [])
    losses = read_stage_losses(work_dir)
    if not losses or not next(iter(losses.values())):
        raise PublishError(f'{work_dir}: no training log (<stage>/<run>/vis_data/scalars.json)')
    first = next(iter(losses.values()))
    probe = [dict(iter=r['step'], loss=round(float(r['loss']), 4)) for r in first
             if r['step'] <= probe_iters]
    if not probe:
        raise PublishError(f'{work_dir}: nothing logged in the first {probe_iters} iterations '
                           '(log more often: default_hooks.logger.interval)')
    last = [rows[-1] for rows in losses.values() if rows]
    board = _read_json(os.path.join(work_dir, 'scoreboard.json'))
    train_seconds = sum(float(s.get('seconds', 0)) for s in stages)
    card = dict(
        name=name, config=os.path.relpath(config), commit=git_commit(os.path.dirname(config)),
        written=dt.datetime.now().strftime('%Y-%m-%d %H:%M'),
        data_seed=_train_seed(cfg),
        stages=[dict(name=s.get('stage'), iters=s.get('iters'), seconds=s.get('seconds'))
                for s in stages],
        iterations=sum(int(s.get('iters') or 0) for s in stages),
        train_seconds=round(train_seconds, 1),
        wall_seconds=round(float(wall_seconds), 1) if wall_seconds is not None else None,
        parameters=int(sum(v.numel() for v in state.values())),
        probe=dict(command=f'python tools/train.py {os.path.relpath(config)} --work-dir DIR '
                           f'--stop-at {probe[-1]["iter"]}', losses=probe),
        final_loss=round(float(last[-1]['loss']), 4) if last else None,
    )
    if board is not None:
        card['scoreboard'] = board
        card['learned'] = list(learned_count(board))
    weights = os.path.join(out_dir, WEIGHTS_FILE)
    meta = dict(ckpt.get('meta') or {})
    meta['cfg'] = text or meta.get('cfg')
    write_safetensors(state, weights, {SAFETENSORS_META: json.dumps(
        {k: meta[k] for k in ('cfg', 'iter', 'stage') if k in meta}),
        'eov_card': json.dumps({k: v for k, v in card.items() if k != 'scoreboard'})})
    size_mb = os.path.getsize(weights) / 1e6
    if size_mb > max_mb:
        os.remove(weights)
        raise PublishError(f'{weights}: {size_mb:.1f} MB is over the limit of {max_mb} MB')
    card['weights'] = dict(file=WEIGHTS_FILE, mb=round(size_mb, 2), sha256=sha256(weights))
    write_json_atomically(os.path.join(out_dir, CARD_JSON), card, indent=1)
    return write_text_atomically(os.path.join(out_dir, CARD_MD),
                                 card_markdown(card, render_table(board) if board else None))


def _minutes(seconds) -> str:
    return '\u2013' if seconds is None else f'{float(seconds) / 60:.1f} min'


def card_markdown(card: dict, table: str | None) -> str:
    """The model card of :func:`publish_weights` as Markdown."""
    lines = [f"# {card['name']}", '',
             f"Weights: `{card['weights']['file']}` ({card['weights']['mb']} MB, fp32, "
             f"{card['parameters']:,} parameters), sha256 `{card['weights']['sha256']}`.", '',
             '| | |', '|---|---|',
             f"| config | `{card['config']}` |",
             f"| training data seed | {card['data_seed']} |",
             f"| commit | `{card['commit']}` |",
             f"| iterations | {card['iterations']} ("
             + ', '.join(f"{s['name']}: {s['iters']}" for s in card['stages']) + ') |',
             f"| training time | {_minutes(card['train_seconds'])} |",
             f"| wall time of the reproduction | {_minutes(card['wall_seconds'])} |",
             f"| final training loss | {card['final_loss']} |",
             f"| written | {card['written']} |", '',
             '## Provenance', '',
             'The losses of the first logged iterations. Running',
             '', f"    {card['probe']['command']}", '',
             'gives them again (`tests/models/test_base_weights.py` checks it): the weights '
             'come from this config.', '',
             '| iteration | loss |', '|---:|---:|']
    lines += [f"| {row['iter']} | {row['loss']:.4f} |" for row in card['probe']['losses']]
    if table:
        got, judged = card.get('learned', [0, 0])
        lines += ['', '## Its own scoreboard', '',
                  f'{got} of {judged} cells learned (95% interval wholly beyond chance) on '
                  'the test split of its own seed:', '', '```', table, '```']
    return '\n'.join(lines) + '\n'
