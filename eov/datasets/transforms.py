"""Transforms from a validated record to model inputs (mmcv ``BaseTransform``s)."""
from __future__ import annotations

import logging

from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from eov.registry import HEADS, MODALITIES, SERIALIZERS, TRANSFORMS, build_from_any

from .schema import ASSISTANT_ROLES, RecordError

#: Per-image tensors besides the pixels that adapters take (temporal stacks).
ADAPTER_EXTRAS = ('frame_days', 'frame_mask')


@TRANSFORMS.register_module()
class LoadImages(BaseTransform):
    """Read and normalise a record's images through its modality plugin.

    Args:
        modalities: ``{name: modality config}`` (``MODALITIES``); a record's
            ``modality`` picks one.

    Adds ``images`` (list of loaded image dicts) and ``image_size`` (``(W, H)``
    of the first image file, the frame spatial targets refer to).
    """

    def __init__(self, modalities: dict):
        self.modalities = {name: build_from_any(cfg, MODALITIES)
                           for name, cfg in modalities.items()}

    def transform(self, results: dict) -> dict:
        name = results['modality']
        if name not in self.modalities:
            raise RecordError(f"{results.get('source', results.get('id'))}: modality "
                              f'{name!r} is not configured in LoadImages '
                              f'(configured: {", ".join(self.modalities)})')
        loaded = self.modalities[name].load(results['images'], results.get('data_root'))
        # the config key names the entry (and the model's adapter), whatever its type
        loaded['modality'] = name
        results['images'] = [loaded]
        results['image_size'] = tuple(loaded['size'])
        return results


@TRANSFORMS.register_module()
class MaskToPolygons(BaseTransform):
    """Turn ``mask`` targets into simplified ``poly`` targets (SLIS polygons).

    A target ``{'type': 'mask', 'path': 'masks/x.png', 'label'?: ...}``
    (single-band raster; non-zero is foreground; relative to ``data_root``)
    becomes one ``poly`` target per region, simplified to fit
    ``max_vertices`` over the whole mask. An empty mask yields no polygons.

    Args:
        max_vertices: Vertex budget per mask target.
        min_area: Regions smaller than this many pixels are dropped.
        connectivity: 4 or 8.
    """

    def __init__(self, max_vertices: int = 64, min_area: float = 1.0, connectivity: int = 8):
        self.max_vertices = max_vertices
        self.min_area = min_area
        self.connectivity = connectivity

    def transform(self, results: dict) -> dict:
        from eov.modalities.io import read_raster, resolve_path
        from eov.slis.masks import mask_to_polygons
        targets = []
        for target in results.get('targets', []):
            if target.get('type') != 'mask':
                targets.append(target)
                continue
            path = resolve_path(target['path'], results.get('data_root'))
            raster = read_raster(path)
            if raster.data.shape[0] != 1:
                raise RecordError(f'{path}: a mask must have 1 band, it has '
                                  f'{raster.data.shape[0]}')
            targets += mask_to_polygons(raster.data[0], max_vertices=self.max_vertices,
                                        min_area=self.min_area,
                                        connectivity=self.connectivity,
                                        label=target.get('label'))
        results['targets'] = targets
        return results


@TRANSFORMS.register_module()
class BuildConversation(BaseTransform):
    """Fill null assistant turns from the record's targets via its task head.

    Args:
        heads: Head configs (``HEADS``); each record's ``task`` picks one.
        serializer: SLIS serializer given to every head, so one config line
            switches the answer format of every task.
        predict: Drop the last assistant turn (the one the model must write)
            instead of filling it; used for generation at test time. A record
            that ends with the question needs no assistant turn (and no targets).

    Adds ``messages``: a list of ``(role, text)`` with role ``user``/``assistant``.
    """

    def __init__(self, heads, serializer, predict: bool = False):
        self.serializer = build_from_any(serializer, SERIALIZERS)
        if isinstance(heads, dict) and 'type' not in heads:
            heads = list(heads.values())
        heads = [heads] if isinstance(heads, dict) else list(heads)
        built = [build_from_any(h, HEADS, serializer=self.serializer) for h in heads]
        self.heads = {h.task: h for h in built}
        self.predict = predict

    @staticmethod
    def fill_fields(head, text: str, results: dict) -> str:
        """Write the question fields the head takes from the targets into ``{name}`` slots.

        A record may keep e.g. the region of a region question as a ``{region}``
        slot; it is then written by the configured serializer at load time, as
        the answers are, so a serializer swap re-serializes the question too.
        """
        if '{' not in text:
            return text
        fields = head.question_fields(results.get('targets', []), results['image_size'])
        for name, value in fields.items():
            if isinstance(value, str):
                text = text.replace('{' + name + '}', value)
        return text

    #: Targets clipped to their image so far (partly outside; see :meth:`fit_targets`).
    clipped = 0

    @classmethod
    def fit_targets(cls, results: dict) -> list:
        """The record's targets under eov's out-of-image policy (:func:`fit_to_image`).

        Partly outside: clipped, counted in :attr:`clipped` and logged (the first
        five). Wholly outside or of zero area: a ``RecordError`` naming the
        record and target, which ``max_bad_records`` can skip and count.
        """
        from eov.slis.geometry import FIT_CLIPPED, fit_to_image
        out = []
        for i, target in enumerate(results.get('targets') or []):
            try:
                fitted, outcome = fit_to_image(target, results['image_size'])
            except ValueError as err:
                raise RecordError(f"{results.get('source', results.get('id'))}: target {i} "
                                  f'({target.get("type")}): {err}') from None
            if outcome == FIT_CLIPPED:
                cls.clipped += 1
                if cls.clipped <= 5:
                    print_log(f"{results.get('source', results.get('id'))}: target {i} "
                              f"({target.get('type')}) leaves the image: clipped to it",
                              logger='current', level=logging.WARNING)
            out.append(fitted)
        return out

    def transform(self, results: dict) -> dict:
        task = results['task']
        results['targets'] = self.fit_targets(results)
        head = self.heads.get(task)
        if head is None:
            raise RecordError(f"{results.get('source')}: no head configured for task "
                              f'{task!r} (configured: {", ".join(self.heads)})')
        turns = results['conversations']
        if self.predict and turns[-1]['from'] in ASSISTANT_ROLES:
            turns = turns[:-1]   # the answer to predict (a record may also end with the question)
        messages = []
        for i, turn in enumerate(turns):
            if i % 2 == 0:
                messages.append(('user', self.fill_fields(head, turn['value'], results)))
                continue
            text = turn.get('value')
            if text is None:
                try:
                    text = head.answer_text(results.get('targets', []), results['image_size'])
                except ValueError as err:   # a target the serializer cannot write (a label
                    # with markup, a bad box...): the record's fault, named by file and line
                    raise RecordError(f"{results.get('source')} (id {results.get('id')}): "
                                      f"cannot write the {task} answer from 'targets': "
                                      f'{err}') from err
            messages.append(('assistant', text))
        results['messages'] = messages
        results['head'] = task
        return results


@TRANSFORMS.register_module()
class TokenizeConversation(BaseTransform):
    """Tokenize ``messages`` with the processor, with loss on answers only.

    A thin transform around :class:`~eov.processing.EOVProcessor`, which owns
    the chat format (``<|im_start|>user\\n{text}<|im_end|>\\n<|im_start|>
    assistant\\n{answer}<|im_end|>\\n``) and the ``<image>`` expansion.

    Args:
        tokenizer: ``dict(path=..., serializer=...)``: the processor's
            tokenizer directory (``None``: eov's tiny default) and SLIS serializer.
        image_tokens: Visual tokens per image: ``'auto'`` (the default:
            eov's runner fills in the model's own per-modality counts, see
            :class:`~eov.engine.EOVRunner`), an int, or ``{modality: int}``.
        max_length: Longest sequence allowed; longer samples are an error
            naming the record (never silently truncated).
        add_generation_prompt: End with ``<|im_start|>assistant\\n`` (for
            generation at test time).
    """

    def __init__(self, tokenizer: dict, image_tokens: int | dict | str = 'auto',
                 max_length: int = 2048, add_generation_prompt: bool = False):
        from eov.processing import EOVProcessor
        cfg = dict(tokenizer)
        self.processor = EOVProcessor(tokenizer=cfg.pop('path', None),
                                      serializer=cfg.pop('serializer', None),
                                      image_tokens=image_tokens, max_length=max_length)
        if cfg:
            raise TypeError(f'TokenizeConversation: unknown tokenizer keys {sorted(cfg)} '
                            "(give path and serializer)")
        self.add_generation_prompt = add_generation_prompt

    def transform(self, results: dict) -> dict:
        out = self.processor.encode(results['messages'], modality=results.get('modality'),
                                    add_generation_prompt=self.add_generation_prompt,
                                    source=results.get('source', results.get('id')))
        results.update(out)
        return results


@TRANSFORMS.register_module()
class PackSample(BaseTransform):
    """Split a transformed record into model ``inputs`` and a ``data_sample``.

    ``data_sample`` keeps what metrics need (id, task, targets, image size,
    record source), never pixels.
    """

    def transform(self, results: dict) -> dict:
        # an image of a multi-sensor entry keeps its 'sensor': batches group by sensor
        images = [dict(modality=im['modality'], pixels=im['pixels'],
                       extras={k: im[k] for k in ADAPTER_EXTRAS if k in im},
                       **({'sensor': im['sensor']} if im.get('sensor') else {}))
                  for im in results['images']]
        inputs = dict(input_ids=results['input_ids'], labels=results['labels'], images=images)
        sample = dict(id=results['id'], task=results['task'], modality=results['modality'],
                      targets=results.get('targets', []), image_size=results['image_size'],
                      source=results.get('source'), meta=results.get('meta') or {},
                      geo=dict(crs=results['images'][0].get('crs'),
                               transform=results['images'][0].get('transform')))
        return dict(inputs=inputs, data_sample=sample)
