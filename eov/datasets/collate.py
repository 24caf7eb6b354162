"""Batch collation for instruction samples."""
from __future__ import annotations

import torch

from eov.registry import FUNCTIONS

from .transforms import IGNORE_INDEX


def group_images(samples_images: list[list[dict]]) -> tuple[dict, list, dict]:
    """Stack images by modality, remembering their order in the batch.

    Args:
        samples_images: Per sample, its list of ``{'modality', 'pixels',
            'extras'?}``.

    Returns:
        ``(pixel_values, order, extras)``: ``{modality: (N_m, ...)}``, for
        every image in batch order ``(modality, index into its stack)``, and
        ``{modality: {name: (N_m, ...)}}`` of the adapters' extra inputs.
    """
    by_modality: dict[str, list[torch.Tensor]] = {}
    extras_by: dict[str, dict[str, list[torch.Tensor]]] = {}
    order = []
    for images in samples_images:
        for image in images:
            stack = by_modality.setdefault(image['modality'], [])
            order.append((image['modality'], len(stack)))
            stack.append(image['pixels'])
            for key, value in (image.get('extras') or {}).items():
                extras_by.setdefault(image['modality'], {}).setdefault(key, []).append(value)
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
