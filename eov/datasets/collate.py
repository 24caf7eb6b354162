"""Batch collation for instruction samples."""
from __future__ import annotations

import torch

from eov.registry import FUNCTIONS
from eov.utils.constants import IGNORE_INDEX


def group_images(samples_images: list[list[dict]]) -> tuple[dict, list, dict]:
    """Stack images by modality, remembering their order in the batch.

    Args:
        samples_images: Per sample, its list of ``{'modality', 'pixels',
            'extras'?, 'sensor'?}``.

    Returns:
        ``(pixel_values, order, extras)``: ``{modality: (N_m, ...)}``, for
        every image in batch order ``(modality, index into its stack)``, and
        ``{modality: {name: (N_m, ...)}}`` of the adapters' extra inputs.
        Images of a multi-sensor entry (with ``'sensor'``) are stacked per
        sensor under ``'<modality>@<sensor>'`` (their band counts differ).
    """
    by_modality: dict[str, list[torch.Tensor]] = {}
    extras_by: dict[str, dict[str, list[torch.Tensor]]] = {}
    order = []
    for images in samples_images:
        for image in images:
            key = image['modality'] + (f"@{image['sensor']}" if image.get('sensor') else '')
            stack = by_modality.setdefault(key, [])
            order.append((key, len(stack)))
            stack.append(image['pixels'])
            for name, value in (image.get('extras') or {}).items():
                extras_by.setdefault(key, {}).setdefault(name, []).append(value)
    pixel_values = {}
    for name, stack in by_modality.items():
        shapes = {tuple(p.shape) for p in stack}
        if len(shapes) > 1:
            raise ValueError(f'images of modality {name!r} in one batch have different '
                             f'shapes {sorted(shapes)}; set image_size in the modality config')
        pixel_values[name] = torch.stack(stack)
    extras = {name: {k: torch.stack(v) for k, v in items.items()}
              for name, items in extras_by.items()}
    return pixel_values, order, extras


@FUNCTIONS.register_module()
def instruction_collate(batch: list[dict], padding_side: str = 'right') -> dict:
    """Pad token sequences and group images of a list of packed samples.

    Args:
        batch: Outputs of :class:`~eov.datasets.transforms.PackSample`.
        padding_side: ``'right'`` for training, ``'left'`` for generation.

    Returns:
        ``{'inputs': {input_ids, labels, attention_mask, pixel_values,
        image_order}, 'data_samples': [...]}``.
    """
    if padding_side not in ('left', 'right'):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = [b['inputs']['input_ids'] for b in batch]
    labels = [b['inputs']['labels'] for b in batch]
    length = max(len(s) for s in seqs)
    input_ids = torch.zeros(len(batch), length, dtype=torch.long)
    label_ids = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros(len(batch), length, dtype=torch.long)
    for i, (s, lab) in enumerate(zip(seqs, labels)):
        sl = slice(0, len(s)) if padding_side == 'right' else slice(length - len(s), length)
        input_ids[i, sl] = s
        label_ids[i, sl] = lab
        mask[i, sl] = 1
    pixel_values, order, extras = group_images([b['inputs']['images'] for b in batch])
    inputs = dict(input_ids=input_ids, labels=label_ids, attention_mask=mask,
                  pixel_values=pixel_values, image_order=order, image_extras=extras)
    return dict(inputs=inputs, data_samples=[b['data_sample'] for b in batch])


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Pack item indices into bins of ``capacity`` (first-fit decreasing).

    Returns:
        Bins of indices; within a bin, items keep decreasing length order.

    Raises:
        ValueError: if one item is longer than ``capacity`` (samples are never split).
    """
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: -lengths[j]):
        if lengths[i] > capacity:
            raise ValueError(f'a sample of {lengths[i]} tokens does not fit max_tokens={capacity}')
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(capacity - lengths[i])
    return bins


@FUNCTIONS.register_module()
def packed_collate(batch: list[dict], max_tokens: int = 2048,
                   rows: list[list[int]] | None = None) -> dict:
    """Pack a batch into rows of at most ``max_tokens`` tokens for varlen attention.

    Samples are placed into rows by first-fit decreasing (or as ``rows`` says) and
    never split; each
    keeps its images. Rows are right-padded to the longest row; the padding of
    a row is its own segment. ``cu_seqlens`` (int32) and ``max_seqlen``
    describe every segment of the flattened ``(rows * length)`` sequence and
    ``position_ids`` restart at 0 in each sample.

    Args:
        batch: Outputs of :class:`~eov.datasets.transforms.PackSample`.
        max_tokens: Capacity of one row.
        rows: The samples of each row (indices into ``batch``), as a token-budget
            stream planned them; ``None``: first-fit decreasing. Planned rows are rows
            of a fixed budget: ``packing_efficiency`` (tokens / (rows * max_tokens)) is
            added to the inputs.

    Returns:
        ``{'inputs': {input_ids, labels, position_ids, cu_seqlens, max_seqlen,
        pixel_values, image_order, image_extras, padding_fraction},
        'data_samples': [...]}`` (samples in packed order).
    """
    lengths = [len(b['inputs']['input_ids']) for b in batch]
    planned = rows is not None
    if planned:
        placed = sorted(i for row in rows for i in row)
        if placed != list(range(len(batch))) or any(
                sum(lengths[i] for i in row) > max_tokens for row in rows):
            raise ValueError(f'packed_collate: rows {rows} do not place each of the {len(batch)} '
                             f'samples once within max_tokens={max_tokens}')
    else:
        try:
            rows = first_fit_decreasing(lengths, max_tokens)
        except ValueError as exc:
            longest = max(range(len(batch)), key=lambda i: lengths[i])
            raise ValueError(f"record {batch[longest]['data_sample'].get('id')}: {exc}") \
                from None
    width = max(sum(lengths[i] for i in row) for row in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros(len(rows), width, dtype=torch.long)
    bounds = [0]
    order = []
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = lengths[i]
            input_ids[r, at:at + n] = batch[i]['inputs']['input_ids']
            labels[r, at:at + n] = batch[i]['inputs']['labels']
            positions[r, at:at + n] = torch.arange(n)
            at += n
            bounds.append(r * width + at)
            order.append(i)
        if at < width:   # the row's padding: one segment of its own
            positions[r, at:] = torch.arange(width - at)
            bounds.append((r + 1) * width)
    packed = [batch[i] for i in order]
    pixel_values, image_order, extras = group_images([b['inputs']['images'] for b in packed])
    cu = torch.tensor(bounds, dtype=torch.int32)
    pad = len(rows) * width - sum(lengths)
    inputs = dict(input_ids=input_ids, labels=labels, position_ids=positions, cu_seqlens=cu,
                  max_seqlen=int((cu[1:] - cu[:-1]).max()), pixel_values=pixel_values,
                  image_order=image_order, image_extras=extras,
                  padding_fraction=pad / (len(rows) * width))
    if planned:
        inputs['packing_efficiency'] = sum(lengths) / (len(rows) * max_tokens)
    return dict(inputs=inputs, data_samples=[b['data_sample'] for b in packed])


@FUNCTIONS.register_module()
def eov_collate(batch: list[dict], packing: bool = False, max_tokens: int = 2048,
                padding_side: str = 'right', rows: list[list[int]] | None = None) -> dict:
    """One collate for configs: ``packing=True`` packs, ``False`` pads (for comparison).

    Args:
        batch: Outputs of :class:`~eov.datasets.transforms.PackSample`.
        packing: Pack into varlen rows (:func:`packed_collate`) or pad
            (:func:`instruction_collate`).
        max_tokens: Row capacity when packing.
        padding_side: Padding side when not packing.
        rows: Planned rows when packing (:func:`packed_collate`).
    """
    if packing:
        return packed_collate(batch, max_tokens=max_tokens, rows=rows)
    if rows is not None:
        raise ValueError('eov_collate: planned rows need packing=True')
    return instruction_collate(batch, padding_side=padding_side)
