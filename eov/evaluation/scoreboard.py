"""The scoreboard: one headline number per modality and cell, next to its chance level.

:class:`~eov.evaluation.metrics.TaskMetric` reports flat keys
``<modality>/<cell>/<metric>`` (with ``group_by='modality'``; without it
``<cell>/<metric>``), every cell with ``n`` and ``parse_rate`` and, with
``chance=True``, ``<metric>_chance``. This module turns them into::

    {"optical": {"classification": {"metric": "accuracy", "value": 0.91,
                                    "chance": 0.12, "n": 500,
                                    "ci": [0.88, 0.93], "learned": true},
                 "vqa/count": {"metric": "count_exact", ...}},
     "multispectral": {"classification/nonvisible": {...}}}

using each cell's primary metric, as the head of the cell's task declares it
(:func:`eov.heads.catalog.primary_metric`; a subset cell such as
``classification/nonvisible`` uses its parent's). An entry has
``"lower_is_better": true`` when the head says lower is better for that metric
(``count_mae``) and ``"baseline"`` when the metric has a
``_baseline`` twin (the mean-training-box grounding baseline). ``"ci"`` is
the 95% interval of the value (``<metric>_ci_low`` / ``_ci_high`` of
TaskMetric: Wilson or bootstrap, :mod:`eov.evaluation.intervals`), and
``"learned"`` is true only when that interval lies wholly on the good side
of ``"chance"`` (``null`` without an interval or chance score). Values that
are missing or not finite are ``null``. Without modality grouping the one
modality is ``"all"``.

- :func:`scoreboard_from_metrics` builds the board;
- :func:`render_table` writes it as a plain-text table for the console,
  ending with :func:`learned_summary` (``"71 of 80 cells learned ..."``);
- :func:`save_scoreboard` / :func:`write_scoreboard` write it as JSON.

``tools/test.py`` writes ``scoreboard.json`` from the metrics the test
returned (the metric itself only returns them).
"""
from __future__ import annotations

import json
import math
import os

from eov.heads.catalog import lower_is_better, primary_metric, task_names
from eov.utils.io import write_text_atomically

from .intervals import learned

#: Modality name of a board built from keys without a modality.
ALL_MODALITIES = 'all'
#: File name :func:`write_scoreboard` writes.
SCOREBOARD_FILE = 'scoreboard.json'


def _number(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def split_cells(metrics: dict) -> dict[str, dict[str, float]]:
    """``{cell prefix: {metric: value}}`` of flat TaskMetric keys.

    A cell prefix is a key's part before ``/n`` that also has a
    ``/parse_rate`` (every cell reports both); each other key goes to its
    longest cell prefix. Keys of no cell are left out.
    """
    prefixes = sorted({k[:-2] for k in metrics if k.endswith('/n')
                       and f'{k[:-2]}/parse_rate' in metrics}, key=len, reverse=True)
    cells: dict[str, dict[str, float]] = {p: {} for p in prefixes}
    for key, value in metrics.items():
        prefix = next((p for p in prefixes if key.startswith(p + '/')), None)
        if prefix is not None:
            cells[prefix][key[len(prefix) + 1:]] = value
    return cells


def scoreboard_from_metrics(metrics: dict, primary: dict | None = None,
                            grouped: bool | None = None) -> dict:
    """``{modality: {cell: {"metric", "value", "chance", "n"}}}`` from flat metric keys.

    Args:
        metrics: Flat ``[<modality>/]<cell>/<metric>`` keys (TaskMetric's output
            or ``metrics.json`` of ``tools/test.py``).
        primary: ``{cell: metric}`` overriding the primary-metric table.
        grouped: Whether keys start with a modality (default: guessed -- they
            do when a first component is not a registered task).

    Returns:
        The board, modalities and cells in sorted order (see the module
        docstring for the entries).
    """
    cells = split_cells(metrics)
    if grouped is None:
        parts = [p.split('/') for p in cells]
        tasks = set(task_names())
        grouped = bool(parts) and all(len(p) >= 2 for p in parts) \
            and any(p[0] not in tasks for p in parts)
    board: dict[str, dict[str, dict]] = {}
    for prefix in sorted(cells):
        values = cells[prefix]
        if grouped:
            modality, _, cell = prefix.partition('/')
            if not cell:
                continue
        else:
            modality, cell = ALL_MODALITIES, prefix
        name = primary_metric(cell, values, primary)
        entry = {'metric': name,
                 'value': _number(values.get(name)) if name else None,
                 'chance': _number(values.get(f'{name}_chance')) if name else None,
                 'n': int(_number(values.get('n')) or 0)}
        if lower_is_better(name, cell):
            entry['lower_is_better'] = True
        if name and f'{name}_baseline' in values:
            entry['baseline'] = _number(values[f'{name}_baseline'])
        if name and f'{name}_ci_low' in values:
            entry['ci'] = [_number(values[f'{name}_ci_low']),
                           _number(values.get(f'{name}_ci_high'))]
            entry['learned'] = is_learned(entry)
        board.setdefault(modality, {})[cell] = entry
    return {m: dict(sorted(board[m].items())) for m in sorted(board)}


def is_learned(entry: dict) -> bool | None:
    """Whether an entry's 95% interval lies wholly on the good side of its chance score.

    ``None`` when the entry has no interval or no chance score.
    """
    low, high = (entry.get('ci') or (None, None))[:2]
    return learned(low, high, entry.get('chance'), bool(entry.get('lower_is_better')))


def learned_count(board: dict) -> tuple[int, int]:
    """``(learned cells, cells with an interval and a chance score)`` of a board."""
    judged = [e.get('learned') for cells in board.values() for e in cells.values()
              if isinstance(e, dict) and e.get('learned') is not None]
    return sum(bool(v) for v in judged), len(judged)


def learned_summary(board: dict) -> str:
    """``'71 of 80 cells learned'`` (a cell is learned when its 95% interval clears
    chance; cells without an interval are named as such)."""
    got, judged = learned_count(board)
    total = sum(len(cells) for cells in board.values())
    text = f'{got} of {judged} cells learned (95% interval wholly beyond chance)'
    if total > judged:
        text += f'; {total - judged} cell(s) without an interval or chance score'
    return text


def beats_chance(entry: dict) -> bool | None:
    """Whether an entry's value beats its chance value (``None`` when either is missing)."""
    value, chance = entry.get('value'), entry.get('chance')
    if value is None or chance is None:
        return None
    return value < chance if entry.get('lower_is_better') else value > chance


def _mark(flag: bool | None) -> str:
    return '-' if flag is None else ('✓' if flag else '✗')


def render_table(board: dict, digits: int = 4) -> str:
    """The board as a plain-text table: modality, task, metric, value, 95% CI, chance, n,
    learned, and a last line counting the learned cells.

    Lower-is-better metrics are marked ``(lower)``. ``learned`` is ``✓`` when
    the 95% interval lies wholly beyond chance, ``✗`` when not, ``-`` without
    an interval or chance score; boards without intervals (older runs) show
    whether the value beats chance instead.
    """
    def fmt(value):
        return '-' if value is None else f'{value:.{digits}f}'

    with_ci = any('ci' in e for cells in board.values() for e in cells.values())
    header = ('modality', 'task', 'metric', 'value', '95% CI', 'chance', 'n',
              'learned' if with_ci else 'beats chance')
    keep = [i for i in range(len(header)) if with_ci or i != 4]
    rows = []
    for modality, cells in board.items():
        for cell, entry in cells.items():
            metric = entry.get('metric') or '-'
            if entry.get('lower_is_better'):
                metric += ' (lower)'
            low, high = (entry.get('ci') or (None, None))[:2]
            ci = '-' if low is None or high is None else f'[{fmt(low)}, {fmt(high)}]'
            flag = is_learned(entry) if with_ci else beats_chance(entry)
            rows.append((modality, cell, metric, fmt(entry.get('value')), ci,
                         fmt(entry.get('chance')), str(entry.get('n', 0)), _mark(flag)))
    header, rows = [header[i] for i in keep], [[r[i] for i in keep] for r in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    right = {i for i, name in enumerate(header) if name in ('value', '95% CI', 'chance', 'n')}

    def line(cols):
        return '  '.join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cols, widths))).rstrip()
    lines = [line(header), line(['-' * w for w in widths]), *map(line, rows)]
    if with_ci:
        lines.append(learned_summary(board))
    else:
        beat = [beats_chance(e) for cells in board.values() for e in cells.values()]
        lines.append(f'{sum(bool(b) for b in beat)} of {sum(b is not None for b in beat)} '
                     'cells beat chance (no intervals in this board)')
    return '\n'.join(lines)


def print_table(path: str) -> bool:
    """Print the board saved at ``path`` as :func:`render_table` writes it.

    Returns:
        Whether there was a board to print.
    """
    if not os.path.isfile(path):
        return False
    with open(path) as f:
        print(render_table(json.load(f)))
    return True


def save_scoreboard(board: dict, path: str) -> str:
    """Write a board as JSON to ``path`` (folders made as needed, written whole: a
    temporary file renamed); returns ``path``."""
    return write_text_atomically(path, json.dumps(board, indent=2, ensure_ascii=False) + '\n')


def write_scoreboard(metrics: dict, out_dir: str, primary: dict | None = None,
                     grouped: bool | None = None) -> dict:
    """Build the board of ``metrics`` and write it to ``out_dir/scoreboard.json``.

    Returns:
        The board (see :func:`scoreboard_from_metrics`).
    """
    board = scoreboard_from_metrics(metrics, primary=primary, grouped=grouped)
    save_scoreboard(board, os.path.join(out_dir, SCOREBOARD_FILE))
    return board
