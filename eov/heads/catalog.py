"""The task list is the head registry: a task exists when a head is registered under its name.

Everything that used to list the nine task names asks here instead: the
record schema (:func:`find_head`), the cells of a record (:func:`cell_of`),
the headline metric of a cell (:func:`primary_metric`), which metrics are
lower-is-better (:func:`lower_is_better`) and the order tasks are shown in
(:func:`task_names`). A head registered by another package (``custom_imports``)
is a task like the built-in ones.
"""
from __future__ import annotations

from typing import Iterable

from eov.registry import HEADS

#: The tasks eov ships, in the order tables and pictures show them (others follow, sorted).
BUILTIN_TASKS = ('classification', 'captioning', 'vqa', 'grounding', 'detection', 'region',
                 'segmentation', 'change', 'choice')


def find_head(task) -> type | None:
    """The head class registered under ``task``, or ``None`` (no error)."""
    if not isinstance(task, str):
        return None
    HEADS.import_from_location()
    return HEADS.module_dict.get(task)


def task_names() -> list[str]:
    """The registered tasks: the built-in ones in :data:`BUILTIN_TASKS` order, then the
    others sorted."""
    names = HEADS.own_names()
    return [t for t in BUILTIN_TASKS if t in names] + sorted(set(names) - set(BUILTIN_TASKS))


def record_kind(task: str, targets) -> str | None:
    """The answer kind of a record of ``task`` (its head's ``record_kind``; ``None`` for
    a task without a head)."""
    head = find_head(task)
    return head.record_kind(targets or []) if head is not None else None


def cell_of(record: dict) -> str:
    """The cell a record is scored in: ``<task>/<meta.variant>``, else ``<task>/<kind>``
    with its head's kind, else the task."""
    task = record['task']
    variant = (record.get('meta') or {}).get('variant')
    if variant:
        return f'{task}/{variant}'
    kind = record_kind(task, record.get('targets') or [])
    return f'{task}/{kind}' if kind else task


def primary_metrics() -> dict[str, str]:
    """``{cell: headline metric}`` of every registered head's cells (``<task>`` and
    ``<task>/<kind>``)."""
    table = {}
    for task in task_names():
        for kind, metric in HEADS.module_dict[task].primary_metrics.items():
            table[task if kind is None else f'{task}/{kind}'] = metric
    return table


def primary_metric(cell: str, available: Iterable[str] | None = None,
                   table: dict | None = None) -> str | None:
    """The headline metric of ``cell``.

    The longest prefix of ``cell`` in the table (the heads' :func:`primary_metrics`,
    updated with ``table``) decides, so ``classification/multilabel/cloud`` is
    scored by ``sample_f1``. With ``available`` (the cell's metric names), the
    first candidate that is available -- the exact entries, then those of the
    same task -- or ``None``.
    """
    table = {**primary_metrics(), **(table or {})}
    parts = cell.split('/')
    names = [table['/'.join(parts[:i])] for i in range(len(parts), 0, -1)
             if '/'.join(parts[:i]) in table]
    names += [v for k, v in table.items() if k.split('/')[0] == parts[0]]
    if available is None:
        return names[0] if names else None
    available = set(available)
    return next((n for n in names if n in available), None)


def lower_is_better(metric: str | None, cell: str | None = None) -> bool:
    """Whether a lower value of ``metric`` is better: as the head of ``cell``'s task says,
    or (without a cell, or for a task without a head) as any registered head says."""
    head = find_head(cell.split('/')[0]) if cell else None
    heads = [head] if head is not None else [HEADS.module_dict[t] for t in task_names()]
    return any(h.lower_is_better(metric) for h in heads)
