"""The report of a trained and tested work dir: ``report.md`` plus two PNGs.

After a PCMA chain has been trained (one MMEngine work dir per stage,
``WORK/<index>_<name>/``) and tested (``WORK/scoreboard.json``,
``WORK/metrics.json``, ``WORK/predictions.jsonl``), :func:`write_report`
writes

- ``WORK/report.md``: the scoreboard (value, 95% interval, chance, n,
  whether the cell is learned), the stages with their iteration counts and
  final losses, and links to the figures;
- ``WORK/scoreboard.png``: the whole scoreboard at a glance, a modality x
  cell grid coloured by the margin over chance, learned cells framed
  (:func:`plot_scoreboard`); the report opens with it;
- ``WORK/loss_curves.png``: loss and token accuracy of every stage on one
  global iteration axis (:func:`plot_losses`);
- ``WORK/predictions.png``: one test example per (modality, cell) -- the
  image as a quick-look, the target geometry in green and the predicted one
  in red, question / answer / truth under it, marked right or wrong as the
  test's metric judged it (:func:`plot_predictions`).

The report judges nothing itself: the marks are the verdicts ``TaskMetric``
wrote into ``predictions.jsonl``, and the modalities and serializer come from
the config the run saved in the work dir (:func:`saved_config`) unless given.
Everything runs offline with matplotlib's Agg backend; nothing here trains
or runs a model. ``python tools/report.py WORK [--data DATA_ROOT] [--config CFG]``
is the command line.
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import math
import os
import re
import textwrap
from collections import OrderedDict
from typing import Iterable, Mapping, Sequence

import numpy as np

from eov.heads.catalog import cell_of, task_names
from eov.utils.io import scan_jsonl, write_text_atomically

from .scoreboard import beats_chance as _entry_beats_chance
from .scoreboard import learned_summary

#: A stage folder of a PCMA chain: ``<index>_<name>``.
STAGE_DIR_RE = re.compile(r'^(\d+)_(.+)$')
#: MMEngine's run folders: ``YYYYmmdd_HHMMSS``.
TIMESTAMP_RE = re.compile(r'^\d{8}_\d{6}$')
#: Drawing colours.
TRUTH_COLOR = '#22c55e'
PRED_COLOR = '#ef4444'
INPUT_COLOR = '#22d3ee'
#: Characters kept of each text field under a panel.
MAX_TEXT = 150


# ---------------------------------------------------------------------------
# training logs
# ---------------------------------------------------------------------------
def stage_dirs(work_dir: str) -> list[tuple[int, str, str]]:
    """The stage folders of ``work_dir`` as ``(index, name, path)``, by index.

    A work dir without ``<index>_<name>`` folders but with MMEngine run
    folders of its own (a plain ``tools/train.py`` run) is one stage named
    ``train``.
    """
    found = []
    for entry in sorted(os.listdir(work_dir)) if os.path.isdir(work_dir) else []:
        path = os.path.join(work_dir, entry)
        match = STAGE_DIR_RE.match(entry)
        if match and os.path.isdir(path) and not TIMESTAMP_RE.match(entry):
            found.append((int(match.group(1)), match.group(2), path))
    if not found and _scalar_files(work_dir):
        found.append((1, 'train', work_dir))
    return sorted(found, key=lambda s: (s[0], s[1]))


def _scalar_files(run_dir: str) -> list[str]:
    """``<timestamp>/vis_data/scalars.json`` files of ``run_dir``, oldest first."""
    files = [p for p in glob.glob(os.path.join(run_dir, '*', 'vis_data', 'scalars.json'))
             if TIMESTAMP_RE.match(os.path.basename(os.path.dirname(os.path.dirname(p))))]
    return sorted(files, key=lambda p: os.path.basename(os.path.dirname(os.path.dirname(p))))


def _read_rows(path: str) -> list[dict]:
    """Training rows (those with a ``loss`` and a ``step``) of one scalars.json, by step
    (a line cut short by a killed run is skipped)."""
    rows = read_jsonl(path)[0]
    return sorted((r for r in rows if 'loss' in r and isinstance(r.get('step'), int)),
                  key=lambda r: r['step'])


def read_stage_losses(work_dir: str) -> 'OrderedDict[str, list[dict]]':
    """The training log rows of every stage of ``work_dir``, stages in index order.

    Each stage folder may hold several MMEngine runs (``<timestamp>/``), e.g.
    a stage that was stopped and resumed. They are read in time order and
    every run replaces the rows of the earlier ones from its first step on:
    a resumed run keeps the older rows before it (de-duplicated by step, the
    newest value wins), a run started over replaces them all. Only training
    rows count (MMEngine also writes validation metrics to scalars.json).

    Args:
        work_dir: The chain's work dir (``WORK/<index>_<name>/<timestamp>/
            vis_data/scalars.json``), or one plain training work dir.

    Returns:
        ``{stage folder name: rows}``; each row is MMEngine's dict (``loss``,
        ``token_acc``, ``lr``, ``step``: the stage's own iteration, ...) plus
        ``stage`` (the folder name) and ``global_step``: the iteration
        counted over the chain, stages one after another (a stage's
        iterations are offset by the last logged iteration of the stages
        before it).
    """
    out: 'OrderedDict[str, list[dict]]' = OrderedDict()
    offset = 0
    for _, stage, path in stage_dirs(work_dir):
        same = os.path.normpath(path) == os.path.normpath(work_dir)
        name = stage if same else os.path.basename(os.path.normpath(path))
        merged: list[dict] = []
        for scalars in _scalar_files(path):
            rows = _read_rows(scalars)
            if not rows:
                continue
            first = rows[0]['step']
            merged = [r for r in merged if r['step'] < first] + rows
        merged = list({r['step']: r for r in merged}.values())   # a step logged twice
        for row in merged:
            row['stage'] = name
            row['global_step'] = offset + row['step']
        out[name] = merged
        if merged:
            offset += merged[-1]['step']
    return out


def _stage_label(name: str) -> str:
    match = STAGE_DIR_RE.match(name)
    return f'{match.group(1)}. {match.group(2)}' if match else name


def plot_losses(work_dir: str, out_png: str) -> str:
    """Plot every stage's loss and token accuracy against the global iteration.

    Stages follow each other on one x axis (see :func:`read_stage_losses`),
    each in its own colour, with dashed lines and names at the boundaries.
    The loss is drawn on a log scale when it spans more than a decade.

    Returns:
        ``out_png``.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    stages = read_stage_losses(work_dir)
    fig = Figure(figsize=(10, 6), dpi=100)
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw=dict(height_ratios=[3, 2], hspace=0.08))
    colours = colormaps['tab10'].colors
    start, any_rows, any_acc, losses = 0, False, False, []
    for i, (name, rows) in enumerate(stages.items()):
        colour = colours[i % len(colours)]
        label = _stage_label(name)
        if rows:
            any_rows = True
            xs = [r['global_step'] for r in rows]
            ys = [_number(r.get('loss')) for r in rows]
            losses += [y for y in ys if y is not None and y > 0]
            style = dict(color=colour, lw=1.4, marker='.' if len(rows) < 30 else None)
            ax_loss.plot(xs, [np.nan if y is None else y for y in ys], label=label, **style)
            acc = [_number(r.get('token_acc')) for r in rows]
            if any(a is not None for a in acc):
                any_acc = True
                ax_acc.plot(xs, [np.nan if a is None else a for a in acc], **style)
            end = rows[-1]['global_step']
        else:
            end = start
        if i > 0:
            for ax in (ax_loss, ax_acc):
                ax.axvline(start, color='0.45', ls='--', lw=0.9)
        ax_loss.text(start, 1.01, f' {label}', transform=ax_loss.get_xaxis_transform(),
                     ha='left', va='bottom', fontsize=9, color=colour, clip_on=False)
        start = end
    if losses and max(losses) / min(losses) > 10:
        ax_loss.set_yscale('log')
        plain = FuncFormatter(lambda v, _: f'{v:g}')
        ax_loss.yaxis.set_major_formatter(plain)
        ax_loss.yaxis.set_minor_formatter(FuncFormatter(
            lambda v, _: f'{v:g}' if v > 0 and round(v / 10 ** math.floor(math.log10(v)))
            in (2, 3, 5) else ''))
    ax_loss.set_ylabel('loss')
    ax_acc.set_ylabel('token accuracy')
    ax_acc.set_xlabel('iteration (stages one after another)')
    if any_acc:
        ax_acc.set_ylim(-0.02, 1.02)
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
    if any_rows:
        ax_loss.legend(loc='upper right', fontsize=8, frameon=True)
    else:
        _say(ax_loss, f'no training logs (*/vis_data/scalars.json) in {work_dir}', fontsize=10)
    if not any_acc:
        _say(ax_acc, 'no token_acc logged', fontsize=9, color='0.4')
    fig.suptitle('Training: loss and token accuracy per PCMA stage', y=0.99)
    fig.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.09)
    _save(fig, out_png)
    return out_png


def _say(ax, text: str, **kwargs) -> None:
    """Write a message in the middle of ``ax``."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha='center', va='center', **kwargs)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _save(fig, out_png: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    fig.savefig(out_png, facecolor='white')


# ---------------------------------------------------------------------------
# test examples
# ---------------------------------------------------------------------------
def read_jsonl(path: str) -> tuple[list[dict], int]:
    """``(objects, bad lines)`` of a JSON-lines file (bad lines are counted, not raised)."""
    rows, bad = [], 0
    for _, row in scan_jsonl(path):
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad += 1
    return rows, bad


def saved_config(work_dir: str):
    """The config the latest run in ``work_dir`` saved, or ``None``.

    MMEngine saves each run's config as ``<work_dir>/<config name>.py`` and
    ``<work_dir>/<timestamp>/vis_data/config.py``; the newest file wins (after
    ``tools/test.py``: the config the predictions were made with).
    """
    files = glob.glob(os.path.join(work_dir, '*.py')) + glob.glob(
        os.path.join(work_dir, '*', 'vis_data', 'config.py'))
    if not files:
        return None
    from mmengine.config import Config
    return Config.fromfile(max(files, key=os.path.getmtime))


def record_cell(record: dict, prediction: dict | None = None) -> str:
    """The scoreboard cell of a test record: the prediction's ``cell``, else
    :func:`~eov.heads.catalog.cell_of` (or the task name)."""
    if prediction and isinstance(prediction.get('cell'), str) and prediction['cell']:
        return prediction['cell']
    try:
        return cell_of(record)
    except Exception:   # noqa: BLE001 - an older TaskMetric, or an odd record
        return str(record.get('task', '?'))


def _to_dict(cfg) -> dict:
    """A plain dict of a config dict (MMEngine ``ConfigDict`` included)."""
    if hasattr(cfg, 'to_dict'):
        return cfg.to_dict()
    return {k: _to_dict(v) if isinstance(v, Mapping) else v for k, v in dict(cfg).items()}


class _Examples:
    """Builds modalities and heads once and turns one record into a panel's content."""

    def __init__(self, data_root: str, modalities: dict | None, serializer: dict):
        self.data_root = data_root
        self.modality_cfgs = _to_dict(modalities or {})
        self.serializer = _to_dict(serializer)
        self._modalities: dict = {}
        self._heads: dict = {}

    def modality(self, name: str):
        from eov.registry import MODALITIES
        if name not in self._modalities:
            cfg = self.modality_cfgs.get(name) or dict(type=name)
            self._modalities[name] = MODALITIES.build(dict(cfg))
        return self._modalities[name]

    def head(self, task: str):
        from eov.registry import HEADS
        if task not in self._heads:
            self._heads[task] = HEADS.build(dict(type=task, serializer=self.serializer))
        return self._heads[task]

    def image(self, record: dict) -> tuple[np.ndarray, tuple[int, int], int]:
        """``(quick-look (H, W', 3) uint8, file size (W, H), number of tiles side by side)``."""
        from eov.modalities.browse import render_frame
        modality = self.modality(record['modality'])
        loaded = modality.load(record['images'], self.data_root)
        pixels = loaded['pixels'].numpy()
        valid = loaded['valid_mask'].numpy()
        if pixels.ndim == 4:   # frames: the first and the last real one
            real = loaded.get('frame_mask')
            n = int(real.sum()) if real is not None else pixels.shape[0]
            picks = [0] if n <= 1 else [0, n - 1]
            tiles = [render_frame(modality, pixels[t], valid[t]) for t in picks]
        else:
            tiles = [render_frame(modality, pixels, valid)]
        image = np.concatenate(tiles, axis=1)
        parts = len(tiles) * max(1, len(getattr(modality, 'members', None) or {}))
        w, h = loaded['size']
        return image, (int(w), int(h)), parts


def _question(record: dict) -> str:
    for turn in record.get('conversations') or []:
        if isinstance(turn, dict) and turn.get('from') in ('human', 'user'):
            return ' '.join(str(turn.get('value') or '').replace('<image>', ' ').split())
    return ''


def _truth_text(record: dict, head, size) -> str:
    conv = record.get('conversations') or []
    if len(conv) > 1 and isinstance(conv[1], dict) and isinstance(conv[1].get('value'), str):
        return conv[1]['value']
    try:
        return head.answer_text(record.get('targets') or [], size)
    except Exception as exc:   # noqa: BLE001 - a report shows what it can
        return f'(no answer text: {exc})'


def _fallback_truth(helper: '_Examples', record: dict) -> str:
    """The truth of a record whose image could not be read (its size unknown)."""
    size = (record.get('meta') or {}).get('image_size')
    try:
        head = helper.head(str(record.get('task')))
        return head.answer_text(record.get('targets') or [], tuple(size) if size else None)
    except Exception:   # noqa: BLE001 - spatial answers need the image size
        return '\u2013'


def _parse(head, text, size, record: dict) -> dict:
    """The head's parse with the record's context (never raises by contract; guarded all
    the same)."""
    try:
        targets = [t for t in record.get('targets') or [] if isinstance(t, dict)]
        return head.parse(text, size, **head.parse_context(targets))
    except Exception as exc:   # noqa: BLE001
        return {'errors': [f'parse failed: {exc}']}


def _geometry(objects) -> list[dict]:
    from eov.slis.geometry import GEOMETRY_TYPES, check_object
    out = []
    for obj in objects or []:
        if isinstance(obj, dict) and obj.get('type') in GEOMETRY_TYPES:
            try:
                out.append(check_object(obj) | {'role': obj.get('role')})
            except ValueError:
                continue
    return out


def _verdict(pred: Mapping) -> tuple[str, bool] | None:
    """``(text, correct)`` of the verdict TaskMetric wrote for a record, or ``None``."""
    correct = pred.get('correct')
    if not isinstance(correct, bool):
        return None
    if _number(pred.get('iou')) is not None:
        return f"IoU {pred['iou']:.2f}", correct
    if _number(pred.get('f1')) is not None:
        return f"F1 {pred['f1']:.2f}", correct
    if all(_number(pred.get(k)) is not None for k in ('tp', 'fp', 'gt')):
        return f"{pred['tp']} of {pred['gt']} found, {pred['fp']} false", correct
    return ('right' if correct else 'wrong'), correct


def _short(text, limit: int = MAX_TEXT) -> str:
    text = ' '.join(str(text if text is not None else '').split())
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def _wrapped(label: str, text, width: int, lines: int) -> list[str]:
    wrapped = textwrap.wrap(f'{label} {_short(text)}', width=width, subsequent_indent='   ',
                            break_long_words=True, break_on_hyphens=False) or [label]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][:width - 1].rstrip() + '\u2026'
    return wrapped


def _draw_objects(ax, objects: list[dict], sx: float, sy: float, parts: int, part_w: float,
                  colour: str, style: str = '-') -> None:
    from matplotlib.patches import Polygon
    from eov.slis.geometry import object_points
    for obj in objects:
        pts = np.asarray(object_points(obj), dtype=float)
        pts[:, 0] *= sx
        pts[:, 1] *= sy
        for k in range(parts):
            shifted = pts + [k * part_w, 0]
            if obj['type'] == 'point':
                ax.plot(shifted[0, 0], shifted[0, 1], marker='x', ms=8, mew=2, color=colour)
            else:
                ax.add_patch(Polygon(shifted, closed=True, fill=False, ec=colour, lw=1.8,
                                     ls=style))


def _draw_panel(fig, ax, tax, helper: _Examples, record: dict, pred: dict) -> bool:
    """Draw one example into ``ax`` (image) and ``tax`` (text); False if its image is unreadable."""
    from matplotlib.transforms import ScaledTranslation
    task = str(record.get('task', ''))
    text = pred.get('prediction')
    text = text if isinstance(text, str) else ('' if text is None else json.dumps(text))
    lines: list[str] = []
    try:
        image, size, parts = helper.image(record)
    except Exception as exc:   # noqa: BLE001 - a missing or broken file: say so in the panel
        ax.set_facecolor('0.9')
        _say(ax, '\n'.join(textwrap.wrap(f'cannot read the image: {exc}', 40)[:6]), fontsize=7,
             parse_math=False)
        image, size, parts = None, None, 1
    verdict = _verdict(pred)
    if image is not None:
        h, w = image.shape[:2]
        ax.imshow(image, extent=(0, w, h, 0), interpolation='nearest')
        part_w = w / parts
        sx, sy = part_w / max(size[0], 1), h / max(size[1], 1)
        try:
            head = helper.head(task)
        except Exception as exc:   # noqa: BLE001 - an unknown task: show the text only
            head, truth = None, f'(no head for task {task!r}: {exc})'
        if head is not None:
            truth = _truth_text(record, head, size)
            parsed = pred.get('parsed')   # TaskMetric's reading, else the head's
            if not isinstance(parsed, Mapping):
                parsed = _parse(head, text, size, record)
            targets = _geometry(record.get('targets'))
            inputs = [t for t in targets if head.is_input(t)]
            for objects, colour, style in (
                    ([t for t in targets if t not in inputs], TRUTH_COLOR, '-'),
                    (inputs, INPUT_COLOR, '--'),
                    (_geometry(parsed.get('objects')), PRED_COLOR, '-')):
                _draw_objects(ax, objects, sx, sy, parts, part_w, colour, style)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        for k in range(1, parts):
            ax.axvline(k * part_w, color='white', lw=1.5)
    else:
        truth = _fallback_truth(helper, record)
    width = 50
    if verdict is not None:
        lines.append(_short(('\u2713 ' if verdict[1] else '\u2717 ') + verdict[0], width))
    lines += _wrapped('Q:', _question(record), width, 3)
    lines += _wrapped('A:', text if text.strip() else '(empty)', width, 3)
    lines += _wrapped('T:', truth, width, 2)
    lines.append(_short(f'id {record.get("id")}', width))
    first = 1 if verdict is not None else 0
    shift = ScaledTranslation(0, -7 * 1.15 * first / 72, fig.dpi_scale_trans)
    mono = dict(ha='left', va='top', fontsize=7, family='DejaVu Sans Mono', parse_math=False)
    if first:
        tax.text(0.0, 1.0, lines[0], transform=tax.transAxes, fontweight='bold',
                 color='#15803d' if verdict[1] else '#b91c1c', **mono)
    tax.text(0.0, 1.0, '\n'.join(lines[first:]), transform=tax.transAxes + shift,
             linespacing=1.15, **mono)
    return image is not None


def select_examples(records: Sequence[dict], predictions, per_cell: int = 1,
                    modalities: Iterable[str] | None = None) -> tuple[list, dict]:
    """Pick ``per_cell`` test records per (modality, cell) that have a prediction.

    Args:
        records: Test records (``id``, ``task``, ``modality`` ...).
        predictions: ``predictions.jsonl`` rows (``{"id", "prediction", "cell"?}``),
            or ``{id: row or text}``.
        per_cell: Examples per (modality, cell).
        modalities: Order of the modalities (others follow, sorted).

    Returns:
        ``(examples, counts)``: ``[(modality, cell, record, prediction row)]``
        in modality order, then cell; ``counts`` has ``predictions``,
        ``missing`` (predictions whose id is not a test record) and
        ``unpredicted`` (test records without a prediction).
    """
    if isinstance(predictions, Mapping):
        rows = [dict(v, id=k) if isinstance(v, Mapping) else dict(id=k, prediction=v)
                for k, v in predictions.items()]
    else:
        rows = [p for p in predictions if isinstance(p, Mapping)]
    by_id = {}
    for row in rows:
        if isinstance(row.get('id'), str):
            by_id.setdefault(row['id'], row)
    record_ids = {r.get('id') for r in records}
    groups: 'OrderedDict[tuple[str, str], list]' = OrderedDict()
    for record in records:
        pred = by_id.get(record.get('id'))
        if pred is None:
            continue
        key = (str(record.get('modality', pred.get('modality', '?'))), record_cell(record, pred))
        group = groups.setdefault(key, [])
        if len(group) < per_cell:
            group.append((key[0], key[1], record, pred))
    order = list(modalities or [])
    rank = {m: i for i, m in enumerate(order)}
    keys = sorted(groups, key=lambda k: (rank.get(k[0], len(order)), k[0], k[1]))
    examples = [e for k in keys for e in groups[k]]
    counts = dict(predictions=len(by_id),
                  missing=sum(1 for i in by_id if i not in record_ids),
                  unpredicted=sum(1 for r in records if r.get('id') not in by_id))
    return examples, counts


def plot_predictions(records: Sequence[dict], predictions, data_root: str, out_png: str,
                     modalities: dict | None = None, per_cell: int = 1, max_panels: int = 28,
                     serializer: dict | None = None, columns: int = 4) -> dict:
    """Draw test examples with their target and predicted geometry.

    One panel per chosen example (:func:`select_examples`): the image as a
    quick-look (:func:`~eov.modalities.browse.render_frame`: RGB for optical, dB grey for SAR, false
    colour for multispectral, first | last frame for temporal/video, optical |
    SAR for fusion), the target geometry in green (the input region of a
    region question in cyan, dashed) and the predicted geometry in red (the
    row's ``parsed`` objects, else the task's head's reading of its text),
    drawn on every tile of the panel; under it the question, the answer, the
    truth and the row's verdict (``correct``, ``iou`` ... as TaskMetric wrote
    them; no mark without one). Malformed predictions are shown as they are
    (the heads never raise); an image that cannot be read gives a panel
    saying why.

    Args:
        records: Test records.
        predictions: ``predictions.jsonl`` rows or ``{id: row or text}``.
        data_root: Root of the records' relative image paths.
        out_png: Output file.
        modalities: ``{name: modality config}``: the config's ``modalities`` (a
            modality it does not name is built with its defaults).
        per_cell: Examples per (modality, cell).
        max_panels: At most this many panels (the first ones in order).
        serializer: SLIS serializer config of the heads (the config's; required).
        columns: Panels per row.

    Returns:
        ``{'panels', 'predictions', 'missing', 'unpredicted', 'unreadable',
        'out', 'marks'}``; ``marks``: per drawn record id, its mark (``True``
        right, ``False`` wrong, ``None`` no verdict).
    """
    from matplotlib.figure import Figure

    if serializer is None:
        raise ValueError('plot_predictions needs the serializer of the config the model was '
                         'tested with')
    helper = _Examples(data_root, modalities, serializer)
    examples, counts = select_examples(records, predictions, per_cell,
                                       modalities=list(helper.modality_cfgs))
    truncated = max(0, len(examples) - max_panels)
    examples = examples[:max_panels]
    n = max(1, len(examples))
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    panel_w, img_h, text_h = 3.3, 2.6, 1.25
    fig = Figure(figsize=(cols * panel_w, rows * (img_h + text_h) + 0.7), dpi=100)
    grid = fig.add_gridspec(rows * 2, cols, height_ratios=[img_h, text_h] * rows,
                            left=0.01, right=0.99, bottom=0.005,
                            top=1 - 0.7 / (rows * (img_h + text_h) + 0.7),
                            wspace=0.06, hspace=0.12)
    unreadable, marks = 0, {}
    for i, (modality, cell, record, pred) in enumerate(examples):
        marks[record.get('id')] = (_verdict(pred) or ('', None))[1]
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * r, c])
        tax = fig.add_subplot(grid[2 * r + 1, c])
        tax.axis('off')
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(_short(f'{modality} \u00b7 {cell}', 44), fontsize=9, pad=3)
        try:
            unreadable += not _draw_panel(fig, ax, tax, helper, record, pred)
        except Exception as exc:   # noqa: BLE001 - one odd example must not stop the report
            tax.text(0.0, 1.0, '\n'.join(textwrap.wrap(f'panel failed: {exc}', 50)[:6]),
                     transform=tax.transAxes, ha='left', va='top', fontsize=7,
                     parse_math=False, color='#b91c1c')
    if not examples:
        ax = fig.add_subplot(grid[0, 0])
        ax.axis('off')
        _say(ax, 'no test record has a prediction')
    head_line = (f'Test examples, {"one" if per_cell == 1 else f"up to {per_cell}"} per '
                 '(modality, cell): green = truth, red = prediction, cyan dashed = region '
                 'asked about')
    notes = []
    if truncated:
        notes.append(f'{truncated} more not shown')
    if counts['missing']:
        notes.append(f'{counts["missing"]} prediction id{"s" if counts["missing"] > 1 else ""} '
                     'not in the test file (skipped)')
    if notes:
        head_line += '\n' + '; '.join(notes)
    fig.suptitle(head_line, fontsize=9 if cols < 3 else 10, y=0.998, va='top')
    _save(fig, out_png)
    return dict(panels=len(examples), unreadable=unreadable, not_shown=truncated,
                out=out_png, marks=marks, **counts)


# ---------------------------------------------------------------------------
# the scoreboard as a picture
# ---------------------------------------------------------------------------
#: Best possible value of a metric where it is not 1 (CIDEr-D tops out at 10).
METRIC_TOP = {'CIDEr': 10.0}
#: Modality rows of the grid, in this order when present (others follow, sorted).
GRID_MODALITIES = ('optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video',
                   'fusion')


def chance_margin(entry: Mapping) -> float | None:
    """How far a cell is beyond chance, as a share of the room chance leaves: in [-1, 1].

    ``(value - chance) / (top - chance)`` above chance (``top`` is 1, or 10 for
    CIDEr), ``(value - chance) / chance`` below it; mirrored for lower-is-better
    metrics (0 is their best). ``None`` without a value or chance score.
    """
    value, chance = _number(entry.get('value')), _number(entry.get('chance'))
    if value is None or chance is None:
        return None
    if entry.get('lower_is_better'):
        gain, room_up, room_down = chance - value, chance, max(chance, 1e-12)
    else:
        top = METRIC_TOP.get(entry.get('metric') or '', 1.0)
        gain, room_up, room_down = value - chance, top - chance, chance
    room = room_up if gain >= 0 else room_down
    if room <= 1e-12:
        return 0.0
    return float(max(-1.0, min(1.0, gain / room)))


def _grid_order(names: Iterable[str], order: Sequence[str]) -> list[str]:
    def key(name):
        head = name.split('/')[0]
        return (order.index(head) if head in order else len(order), name)
    return sorted(set(names), key=key)


def plot_scoreboard(board: Mapping, out_png: str, title: str | None = None) -> str:
    """Draw a scoreboard as a modality x cell grid coloured by the margin over chance.

    Each square shows the cell's value; its colour is :func:`chance_margin`
    (red below chance, yellow at chance, green above); a thick dark frame and
    a check mark mean *learned* (the 95% interval wholly beyond chance);
    cells a modality does not have are left blank. The title counts the
    learned cells.

    Returns:
        ``out_png``.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    modalities = _grid_order([m for m in board if isinstance(board[m], Mapping)],
                             GRID_MODALITIES)
    columns = _grid_order([c for m in modalities for c in board[m]], task_names())
    width = max(6.0, 1.6 + 0.55 * len(columns))
    grid_h = 0.55 * max(1, len(modalities))
    label_h = 0.15 + 0.04 * max([len(c) for c in columns] + [10])   # rotated cell names
    height = grid_h + label_h + 0.9
    fig = Figure(figsize=(width, height), dpi=110)
    ax = fig.add_axes([1.2 / width, label_h / height, 1 - 2.1 / width, grid_h / height])
    cmap, norm = colormaps['RdYlGn'], Normalize(-1, 1)
    for i, modality in enumerate(modalities):
        for j, cell in enumerate(columns):
            entry = board[modality].get(cell)
            if not isinstance(entry, Mapping):
                continue
            margin = chance_margin(entry)
            face = '0.85' if margin is None else cmap(norm(margin))
            done = entry.get('learned')
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=face,
                                   edgecolor='0.1' if done else 'white',
                                   lw=2.2 if done else 0.8))
            value = _number(entry.get('value'))
            text = '\u2013' if value is None else (f'{value:.2f}' if abs(value) < 10
                                                    else f'{value:.0f}')
            if done:
                text += '\n\u2713'
            ax.text(j + 0.5, i + 0.5, text, ha='center', va='center', fontsize=6.5,
                    color='0.05', linespacing=0.95)
    ax.set_xlim(0, max(1, len(columns)))
    ax.set_ylim(max(1, len(modalities)), 0)
    ax.set_xticks([j + 0.5 for j in range(len(columns))], columns, rotation=55, ha='right',
                  fontsize=7)
    ax.set_yticks([i + 0.5 for i in range(len(modalities))], modalities, fontsize=8)
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    from matplotlib.cm import ScalarMappable
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.025, pad=0.01)
    bar.set_label('margin over chance\n(share of the room left)', fontsize=7)
    bar.ax.tick_params(labelsize=6)
    summary = learned_summary(board) if board else 'empty scoreboard'
    fig.suptitle(title or 'Scoreboard', fontsize=11, y=1 - 0.12 / height)
    fig.text(0.5, 1 - 0.42 / height, summary + '  (framed \u2713: learned)', ha='center',
             fontsize=8, color='0.25')
    _save(fig, out_png)
    return out_png


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------
def _fmt(value) -> str:
    if value is None:
        return '\u2013'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return 'n/a'
        return f'{value:.4f}' if abs(value) < 1000 else f'{value:.1f}'
    return str(value)


def beats_chance(value, chance, lower_is_better: bool = False) -> bool | None:
    """Whether ``value`` is better than ``chance`` (``None`` when either is missing)."""
    return _entry_beats_chance(dict(value=_number(value), chance=_number(chance),
                                    lower_is_better=lower_is_better))


def scoreboard_rows(scoreboard: dict) -> list[dict]:
    """Flatten ``{modality: {cell: {metric, value, chance, n, ci?, learned?,
    lower_is_better?}}}``."""
    rows = []
    for modality, cells in (scoreboard or {}).items():
        if not isinstance(cells, Mapping):
            continue
        for cell, entry in cells.items():
            if not isinstance(entry, Mapping):
                continue
            lower = bool(entry.get('lower_is_better', False))
            ci = entry.get('ci')
            rows.append(dict(modality=modality, cell=cell, metric=entry.get('metric') or '',
                             value=entry.get('value'), chance=entry.get('chance'),
                             baseline=entry.get('baseline'), n=entry.get('n'),
                             lower_is_better=lower,
                             ci=list(ci) if isinstance(ci, (list, tuple)) else None,
                             learned=entry.get('learned'),
                             beats=beats_chance(entry.get('value'), entry.get('chance'), lower)))
    return rows


def _read_json(path: str):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _md(text) -> str:
    return str(text).replace('|', '\\|')


def _scoreboard_md(work_dir: str) -> list[str]:
    path = os.path.join(work_dir, 'scoreboard.json')
    metrics_path = os.path.join(work_dir, 'metrics.json')
    lines = ['## Scoreboard', '']
    if os.path.isfile(path):
        rows = scoreboard_rows(_read_json(path))
        baseline = any(r['baseline'] is not None for r in rows)
        with_ci = any(r['ci'] is not None for r in rows)
        judge = 'learned' if with_ci else 'beats'   # the verdict column
        columns = ['modality', 'cell', 'metric', 'value'] + ['95% CI'] * with_ci + ['chance'] \
            + ['baseline'] * baseline + ['n', 'learned' if with_ci else 'beats chance']
        lines += ['| ' + ' | '.join(columns) + ' |',
                  '|---|---|---|' + '---:|' * (len(columns) - 4) + ':---:|']
        for r in rows:
            low, high = (r['ci'] or [None, None])[:2]
            cells = [_md(r['modality']), _md(r['cell']),
                     _md(r['metric'] + (' (lower is better)' if r['lower_is_better'] else '')),
                     _fmt(_number(r['value']))]
            cells += ['\u2013' if _number(low) is None or _number(high) is None
                      else f'[{_number(low):.3f}, {_number(high):.3f}]'] * with_ci
            cells += [_fmt(_number(r['chance']))] + [_fmt(_number(r['baseline']))] * baseline
            lines.append('| ' + ' | '.join(cells + [_fmt(r['n']), _fmt(r[judge])]) + ' |')
        if baseline:
            lines += ['', 'baseline: the mean training box (grounding), where the test '
                          'reported one.']
        if not rows:
            lines += ['', 'The scoreboard is empty.']
        else:
            judged = [r for r in rows if r[judge] is not None]
            what = ('learned: their 95% interval lies wholly beyond chance' if with_ci
                    else 'beat chance')
            lines += ['', f"{sum(bool(r[judge]) for r in judged)} of {len(judged)} cells {what} "
                          f'({len(rows)} cells in all).']
    elif os.path.isfile(metrics_path):
        metrics = _read_json(metrics_path)
        lines += ['No `scoreboard.json`; the flat metrics of `metrics.json`:', '',
                  '| metric | value | chance |', '|---|---:|---:|']
        for key in sorted(k for k in metrics if not k.endswith(('_chance', '_baseline'))):
            chance = metrics.get(f'{key}_chance', metrics.get(f'{key}_baseline'))
            lines.append(f'| {_md(key)} | {_fmt(_number(metrics[key]))} | '
                         f'{_fmt(_number(chance))} |')
    else:
        lines.append('No `scoreboard.json` or `metrics.json` in the work dir (not tested yet).')
    return lines


#: Folder of a work dir holding the starting model's test of the same split (``make demo``
#: tests the pretrained base on the optical cells there).
START_DIR = 'base'
#: How far a cell may fall below the starting model and still count as kept.
FORGET_TOLERANCE = 0.05


def forgetting_rows(start: Mapping, end: Mapping, modality: str = 'optical',
                    tolerance: float = FORGET_TOLERANCE) -> list[dict]:
    """The cells of ``modality`` in two scoreboards: before (``start``) and after (``end``).

    Returns:
        Rows ``{cell, metric, start, start_ci, end, end_ci, change, kept}``; ``kept``
        is true when the end value is at least the start value minus ``tolerance``
        (for a lower-is-better metric: at most the start plus ``tolerance``).
    """
    rows = []
    before, after = start.get(modality) or {}, end.get(modality) or {}
    for cell in sorted(set(before) & set(after)):
        a, b = before[cell], after[cell]
        va, vb = _number(a.get('value')), _number(b.get('value'))
        if va is None or vb is None:
            continue
        lower = bool(b.get('lower_is_better'))
        kept = vb <= va + tolerance if lower else vb >= va - tolerance
        rows.append(dict(cell=cell, metric=b.get('metric'), start=va, start_ci=a.get('ci'),
                         end=vb, end_ci=b.get('ci'), change=vb - va, kept=kept))
    return rows


def _ci(ci) -> str:
    if not isinstance(ci, (list, tuple)) or len(ci) < 2 or _number(ci[0]) is None:
        return ''
    return f' [{_number(ci[0]):.2f}, {_number(ci[1]):.2f}]'


def _forgetting_md(work_dir: str) -> list[str]:
    start_path = os.path.join(work_dir, START_DIR, 'scoreboard.json')
    end_path = os.path.join(work_dir, 'scoreboard.json')
    if not (os.path.isfile(start_path) and os.path.isfile(end_path)):
        return []
    rows = forgetting_rows(_read_json(start_path), _read_json(end_path))
    if not rows:
        return []
    lines = ['## Forgetting: the optical cells before and after the chain', '',
             f'The starting model (`{START_DIR}/`: the pretrained base tested on the same '
             'split) against the final model; a cell is kept when it ends no more than '
             f'{FORGET_TOLERANCE} below where it started.', '',
             '| cell | metric | start [95% CI] | end [95% CI] | change | kept |',
             '|---|---|---:|---:|---:|:---:|']
    for r in rows:
        lines.append(f"| {_md(r['cell'])} | {_md(r['metric'])} | {r['start']:.3f}"
                     f"{_ci(r['start_ci'])} | {r['end']:.3f}{_ci(r['end_ci'])} | "
                     f"{r['change']:+.3f} | {_fmt(r['kept'])} |")
    kept = sum(r['kept'] for r in rows)
    return lines + ['', f'{kept} of {len(rows)} optical cells kept.', '']


def _stages_md(work_dir: str, stages: Mapping[str, list[dict]]) -> list[str]:
    lines = ['## Training stages', '']
    if not stages:
        return lines + ['No stage folders (`<index>_<name>/`) with training logs.']
    lines += ['| # | stage | iterations | final loss | final token acc | global iterations |',
              '|---:|---|---:|---:|---:|---|']
    total = 0
    for i, (name, rows) in enumerate(stages.items()):
        match = STAGE_DIR_RE.match(name)
        index, label = (match.group(1), match.group(2)) if match else (str(i + 1), name)
        if rows:
            last = rows[-1]
            span = f"{rows[0]['global_step']}\u2013{last['global_step']}"
            total = last['global_step']
            lines.append(f"| {index} | {_md(label)} | {last['step']} | "
                         f"{_fmt(_number(last.get('loss')))} | "
                         f"{_fmt(_number(last.get('token_acc')))} | {span} |")
        else:
            lines.append(f'| {index} | {_md(label)} | 0 | \u2013 | \u2013 | no log |')
    return lines + ['', f'{len(stages)} stage(s), {total} iterations in all '
                        '(iterations: the last logged iteration of the stage).']


def write_report(work_dir: str, data_root: str, test_file: str = 'test.jsonl',
                 serializer: dict | None = None, modalities: dict | None = None,
                 per_cell: int = 1, max_panels: int = 28) -> str:
    """Write ``WORK/report.md``, ``WORK/scoreboard.png``, ``WORK/loss_curves.png`` and
    ``WORK/predictions.png``.

    Args:
        work_dir: The trained and tested work dir.
        data_root: Root of the test data (the records' relative image paths).
        test_file: The test records, relative to ``data_root`` (or absolute).
        serializer: SLIS serializer config (default: that of :func:`saved_config`).
        modalities: ``{name: modality config}`` (default: those of :func:`saved_config`).
        per_cell: Test examples per (modality, cell) in the figure.
        max_panels: At most this many panels.

    Returns:
        The path of ``report.md``.
    """
    saved = saved_config(work_dir) if serializer is None or modalities is None else None
    if saved is not None:
        serializer = serializer or saved.get('serializer') or saved.get('model', {}).get(
            'serializer')
        modalities = saved.get('modalities') if modalities is None else modalities
    stages = read_stage_losses(work_dir)
    loss_png = plot_losses(work_dir, os.path.join(work_dir, 'loss_curves.png'))
    lines = [f'# eov report: {os.path.basename(os.path.abspath(work_dir))}', '',
             f'Work dir `{os.path.abspath(work_dir)}`, test data '
             f'`{os.path.join(data_root, test_file)}`; written '
             f'{dt.datetime.now().strftime("%Y-%m-%d %H:%M")}.', '']
    board_path = os.path.join(work_dir, 'scoreboard.json')
    if os.path.isfile(board_path):   # the report opens with the picture of the whole board
        grid = plot_scoreboard(_read_json(board_path), os.path.join(work_dir, 'scoreboard.png'),
                               title=f'{os.path.basename(os.path.abspath(work_dir))}: '
                                     'what the model learned')
        lines += [f'![scoreboard: modality x cell, coloured by the margin over chance]'
                  f'({os.path.basename(grid)})', '']
    lines += _scoreboard_md(work_dir) + ['']
    lines += _forgetting_md(work_dir)
    lines += _stages_md(work_dir, stages) + ['']
    lines += [f'Loss curves: [{os.path.basename(loss_png)}]({os.path.basename(loss_png)})', '',
              f'![loss and token accuracy per stage]({os.path.basename(loss_png)})', '']
    lines += ['## Test examples', '']
    test_path = test_file if os.path.isabs(test_file) else os.path.join(data_root, test_file)
    pred_path = os.path.join(work_dir, 'predictions.jsonl')
    if not os.path.isfile(test_path):
        lines.append(f'No test file `{test_path}`: no examples drawn.')
    elif not os.path.isfile(pred_path):
        lines.append('No `predictions.jsonl` in the work dir: no examples drawn.')
    elif serializer is None:
        lines.append('No config saved in the work dir to take the serializer and modalities '
                     'from (give --config): no examples drawn.')
    else:
        records, bad_records = read_jsonl(test_path)
        predictions, bad_predictions = read_jsonl(pred_path)
        out = plot_predictions(records, predictions, data_root,
                               os.path.join(work_dir, 'predictions.png'),
                               modalities=modalities, per_cell=per_cell,
                               max_panels=max_panels, serializer=serializer)
        name = os.path.basename(out['out'])
        lines += [f'Examples: [{name}]({name}) \u2013 {out["panels"]} panel(s), {per_cell} '
                  'per (modality, cell); green = truth, red = prediction.', '',
                  f'![test examples]({name})', '']
        notes = [f"{out['predictions']} predictions for {len(records)} test records"]
        notes += [f'{out[key]} {what}' for key, what in (
            ('missing', 'prediction id(s) not in the test file, skipped'),
            ('unpredicted', 'test record(s) without a prediction'),
            ('unreadable', 'example image(s) could not be read'),
            ('not_shown', 'more example(s) not shown')) if out[key]]
        if bad_records or bad_predictions:
            notes.append(f'{bad_records + bad_predictions} unreadable JSON line(s) skipped')
        lines.append('; '.join(notes) + '.')
    return write_text_atomically(os.path.join(work_dir, 'report.md'),
                                 '\n'.join(lines).rstrip() + '\n')
