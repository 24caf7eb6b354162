"""The inferencer: a trained model, a scene, a question -> text and georeferenced objects.

    from eov.apis import EOVInferencer
    inf = EOVInferencer('configs/eov_tiny_pcma.py', 'work_dirs/demo/final.pth')
    pred = inf.predict('scene.tif', 'Where is the ship?', modality='optical', task='grounding')
    pred.text, pred.objects          # answer text; geometry in pixels of the image
    pred.to_geojson()                # the objects in the raster's CRS

The model comes from a config + checkpoint (the config saved in the
checkpoint decides the model, see
:func:`~eov.engine.config.config_for_checkpoint`) or from a Hugging Face
export directory (``tools/export_hf.py``). Images go through the model's own
modality plugins and its processor, exactly as in training.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from eov.utils.constants import IMAGE_EXPECTED
from eov.utils.io import jsonable

from .checks import InferenceError, check_file, plural


@dataclass
class Prediction:
    """One answer.

    Attributes:
        text: The model's answer text.
        objects: Spatial objects (SLIS geometry dicts) in pixels of the image
            as read (of the whole scene for tiled inference), with ``label``
            and ``score`` where the answer has them, and ``tile`` (tiled).
        task: Task whose head parsed the answer (``None``: geometry only).
        parsed: The head's whole reading (labels, count, choice ...).
        prompt: The question asked.
        modality: The model modality that read the images.
        image_size: ``(W, H)`` of the image (scene) the objects refer to.
        crs: CRS of the image (``None`` without georeferencing).
        transform: Affine pixel->map transform, GDAL order (``None`` likewise).
        tiles: Per-tile answers of tiled inference (window, text, objects).
    """

    text: str
    objects: list[dict]
    task: str | None
    parsed: dict
    prompt: str
    modality: str
    image_size: tuple[int, int]
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    tiles: list[dict] = field(default_factory=list)

    def to_geojson(self, to_wgs84: bool = False, properties: dict | None = None) -> dict:
        """The objects as a GeoJSON FeatureCollection in the image's CRS (or WGS84).

        A raster without georeferencing gives pixel coordinates, marked
        ``"eov:coordinates": "pixel"``.
        """
        from .geo import to_feature_collection
        props = dict(prompt=self.prompt, answer=self.text if not self.tiles else None,
                     task=self.task, modality=self.modality)
        props.update(properties or {})
        props = {k: v for k, v in props.items() if v is not None}
        georef = self.crs is not None and self.transform is not None
        return to_feature_collection(self.objects, self.transform if georef else None,
                                     self.crs if georef else None, properties=props,
                                     to_wgs84=to_wgs84)

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        return jsonable(dict(text=self.text, objects=self.objects, task=self.task,
                              parsed=self.parsed, prompt=self.prompt, modality=self.modality,
                              image_size=list(self.image_size), crs=self.crs,
                              transform=self.transform, tiles=self.tiles))


def load_model(model: str, checkpoint: str | None = None, device: str = 'cpu',
               cfg_options: dict | None = None, use_saved_config: bool = True):
    """Build a trained model and the config that describes it.

    Args:
        model: A Python config file, or a Hugging Face export directory.
        checkpoint: Weights (``.pth``) for a config; ``None`` keeps random
            init (or, with ``model=None``, see ``config_for_checkpoint``).
        device: Torch device.
        cfg_options: ``--cfg-options`` style overrides of the config.
        use_saved_config: Let the config saved in the checkpoint decide the model.

    Returns:
        ``(model, cfg)``: the model in eval mode on ``device`` and its config
        (``model``, ``tasks``, ``serializer``, ``modalities`` ...).

    Raises:
        FileNotFoundError, CheckpointError: naming the file.
    """
    from mmengine.registry import init_default_scope

    from eov.engine.config import config_for_checkpoint
    from eov.models.weights import load_weights, read_checkpoint
    from eov.registry import MODELS
    init_default_scope('eov')
    if model is not None and os.path.isdir(model):   # tools/export_hf.py's directory
        if checkpoint is not None:
            raise InferenceError(f'{model} is an exported model directory: it holds its '
                                 'weights, give no checkpoint')
        from eov.models.hf_format import load_pretrained
        return load_pretrained(model, device=device)   # in eval mode on device
    if model is not None and not os.path.isfile(model):
        raise FileNotFoundError(f'config not found: {model} (give a config file or an '
                                'exported model directory)')
    ckpt = read_checkpoint(checkpoint) if checkpoint is not None else None   # read once
    cfg, _ = config_for_checkpoint(model, checkpoint, cfg_options, use_saved=use_saved_config,
                                   loaded=ckpt)
    net = MODELS.build(cfg.model)
    if ckpt is not None:
        load_weights(net, ckpt, checkpoint, cfg=cfg)   # strict; a mismatch is counted and named
    elif model is not None:
        from mmengine.logging import print_log
        print_log(f'{model}: no checkpoint, the model keeps its random initial weights (its '
                  'answers mean nothing)', logger='current', level=logging.WARNING)
    return net.to(device).eval(), cfg


class EOVInferencer:
    """Answer questions about images with a trained EarthOneVision.

    Args:
        model: Config file or Hugging Face export directory.
        checkpoint: Weights for a config file.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'`` ...
        cfg_options: Overrides of the config.
        use_saved_config: The checkpoint's saved config decides the model (default).
        batch_size: Requests generated together (KV-cache generation, left padding).
        max_new_tokens: Default generation budget (``None``: the model's).
    """

    def __init__(self, model: str, checkpoint: str | None = None, device: str = 'cpu',
                 cfg_options: dict | None = None, use_saved_config: bool = True,
                 batch_size: int = 8, max_new_tokens: int | None = None):
        self.model, self.cfg = load_model(model, checkpoint, device, cfg_options,
                                          use_saved_config)
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.processor = self.model.processor
        floating = [p.dtype for p in self.model.parameters() if p.is_floating_point()]
        self.dtype = max(set(floating), key=floating.count) if floating else torch.float32
        from eov.datasets.transforms import BuildConversation
        tasks = self.cfg.get('tasks')
        if not tasks:
            raise InferenceError('the config names no tasks (heads): cannot parse answers')
        self._conversation = BuildConversation(heads=tasks, serializer=self.processor.serializer,
                                               predict=True)
        self.heads = self._conversation.heads

    # -- what the model takes ------------------------------------------------------
    @property
    def modalities(self) -> list[str]:
        """Modalities the model reads (its configured entries)."""
        return list(self.model.modalities)

    @property
    def tasks(self) -> list[str]:
        """Tasks whose answers the inferencer parses."""
        return list(self.heads)

    def _modality(self, name: str):
        if name not in self.model.modalities:
            raise InferenceError(f'unknown modality {name!r}: this model reads '
                                 f'{", ".join(self.model.modalities)}')
        return self.model.modalities[name]

    def _head(self, task: str | None):
        if task is None:
            return None
        if task not in self.heads:
            raise InferenceError(f'unknown task {task!r}: this model answers '
                                 f'{", ".join(self.heads)}')
        return self.heads[task]

    # -- requests -> model inputs --------------------------------------------------
    def image_entries(self, images, modality: str, sensor: str | None = None,
                      bands: Sequence[str] | None = None) -> list:
        """Record image entries (or arrays) of a request.

        ``images`` is one path, several paths (one file per band when
        ``bands`` names as many bands, else one image each: frames of a time
        series or video, members of a fusion pair), a ``(C, H, W)`` /
        ``(H, W, C)`` array, a list of arrays, or ready entries
        (``{'path', 'sensor', 'bands', 'modality', 'time', 'window'}``).
        """
        multi_image = self._modality(modality).multi_image   # by the entry's type, not name
        if isinstance(images, (str, os.PathLike, np.ndarray, dict)):
            images = [images]
        images = list(images or [])
        if not images:
            raise InferenceError('no image given')
        if all(isinstance(i, (str, os.PathLike)) for i in images):
            paths = [os.fspath(i) for i in images]
            extra = {k: v for k, v in (('sensor', sensor),
                                       ('bands', list(bands) if bands else None)) if v}
            if len(paths) > 1 and not multi_image:   # the bands of one image
                if not bands:
                    raise InferenceError(
                        f'{len(paths)} files for one {modality} image: name one band per file '
                        'with bands=[...] (--bands), or use a multi-image modality')
                if len(paths) != len(bands):
                    raise InferenceError(
                        f'{plural(len(paths), "image file")} but '
                        f'{plural(len(bands), "band name")} for one {modality} image: name one '
                        'band per file (--bands / bands=[...]), or give one file that holds all '
                        'the bands')
                return [dict(path=paths, **extra)]
            return [dict(path=p, **extra) for p in paths]
        if all(isinstance(i, dict) for i in images):
            return [dict(i) for i in images]
        if all(isinstance(i, np.ndarray) for i in images):
            return list(images)
        raise InferenceError('images must be paths, arrays or entry dicts (not a mix): got '
                             f'{[type(i).__name__ for i in images]}')

    def load_images(self, images, modality: str, sensor=None, bands=None, window=None,
                    from_record: bool = False) -> dict:
        """Read and normalise a request's images with the model's modality plugin.

        ``from_record``: the images are a JSONL record's entries (errors then speak of
        the record, else of the request's arguments).
        """
        plugin = self._modality(modality)
        entries = self.image_entries(images, modality, sensor, bands)
        if isinstance(entries[0], np.ndarray):
            return self._load_arrays(plugin, modality, entries, sensor, bands)
        if window is not None:
            entries = [dict(e, window=list(window)) for e in entries]
        for entry in entries:
            for path in entry['path'] if isinstance(entry['path'], list) else [entry['path']]:
                check_file(path, 'image file', IMAGE_EXPECTED)
        from eov.modalities import RasterReadError
        try:
            loaded = plugin.load(entries)
        except (RasterReadError, ValueError) as err:
            raise InferenceError(str(err) if from_record else
                                 _request_terms(str(err), plugin, modality)) from None
        loaded['modality'] = modality
        return loaded

    def _load_arrays(self, plugin, modality, arrays, sensor, bands) -> dict:
        from eov.modalities.base import BaseModality
        from eov.modalities.io import Raster
        if plugin.multi_image or type(plugin).load is not BaseModality.load:
            raise InferenceError(f'arrays are taken for single-image modalities; give '
                                 f'{modality!r} images as files or entry dicts')
        if len(arrays) != 1:
            raise InferenceError(f'one array per {modality} image, got {len(arrays)}')
        data = np.asarray(arrays[0])
        if data.ndim == 2:
            data = data[None]
        elif data.ndim == 3 and data.shape[-1] in (1, 3, 4) and data.shape[0] not in (1, 3, 4):
            data = np.ascontiguousarray(data.transpose(2, 0, 1))   # (H, W, C) -> (C, H, W)
        if data.ndim != 3:
            raise InferenceError(f'an image array must be (C, H, W) or (H, W, C), got shape '
                                 f'{tuple(np.shape(arrays[0]))}')
        entry = {k: v for k, v in (('sensor', sensor), ('bands', list(bands) if bands else None),
                                   ('path', '<array>')) if v}
        reader = plugin.for_record_sensor(entry) if sensor else plugin
        if reader.sensors is not None:
            reader = reader.for_sensor(sensor)
        if data.shape[0] != reader.num_channels and not reader.sensor.any_bands:
            raise InferenceError(f'the array has {data.shape[0]} bands but modality '
                                 f'{modality!r} ({reader.sensor.name}) takes '
                                 f'{reader.num_channels}')
        valid = np.isfinite(data).all(0) if np.issubdtype(data.dtype, np.floating) \
            else np.ones(data.shape[1:], bool)
        from eov.modalities import RasterReadError
        try:
            loaded = reader.prepare(Raster(data=data, path='<array>'), valid, entry)
        except RasterReadError as err:
            raise InferenceError(str(err)) from None
        loaded['modality'] = modality
        return loaded

    def _sample(self, loaded: dict, prompt: str, task: str | None) -> dict:
        prompt = self.check_prompt(prompt)
        if '<image>' not in prompt:
            prompt = prompt + '\n<image>'   # eov's data puts the image after the question
        encoded = self.processor.encode_prompt(prompt, modality=loaded['modality'])
        return self._pack(loaded, encoded, dict(task=task, prompt=prompt))

    @staticmethod
    def check_prompt(prompt) -> str:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InferenceError('the prompt is empty: ask a question')
        return prompt.strip()

    @staticmethod
    def _pack(loaded: dict, encoded: dict, info: dict) -> dict:
        from eov.datasets.transforms import ADAPTER_EXTRAS
        image = dict(modality=loaded['modality'], pixels=loaded['pixels'],
                     extras={k: loaded[k] for k in ADAPTER_EXTRAS if k in loaded})
        if loaded.get('sensor'):
            image['sensor'] = loaded['sensor']
        sample = dict(info, image_size=tuple(loaded['size']), crs=loaded.get('crs'),
                      transform=loaded.get('transform'), modality=loaded['modality'])
        return dict(inputs=dict(input_ids=encoded['input_ids'], labels=encoded['labels'],
                                images=[image]), data_sample=sample)

    def _to_model_dtype(self, inputs: dict) -> dict:
        """Pixels (and adapter extras) in the model's floating dtype.

        Images are read as float32; a reduced-precision model (a ``bfloat16``
        or ``float16`` export) takes its inputs in its own dtype.
        """
        if self.dtype == torch.float32:
            return inputs

        def cast(value):
            if isinstance(value, torch.Tensor):
                return value.to(self.dtype) if value.is_floating_point() else value
            if isinstance(value, dict):
                return {k: cast(v) for k, v in value.items()}
            return value
        return dict(inputs, **{k: cast(inputs[k]) for k in ('pixel_values', 'image_extras')
                               if k in inputs})

    @torch.no_grad()
    def _generate(self, samples: list[dict], max_new_tokens: int | None = None) -> list[str]:
        from eov.datasets.collate import instruction_collate
        texts = []
        for start in range(0, len(samples), self.batch_size):
            chunk = samples[start:start + self.batch_size]
            batch = self.model.data_preprocessor(
                instruction_collate(chunk, padding_side='left'), False)
            batch['inputs'] = self._to_model_dtype(batch['inputs'])
            texts += self.model.generate(batch['inputs'],
                                         max_new_tokens=max_new_tokens or self.max_new_tokens)
        return texts

    def parse(self, text: str, task: str | None, image_size, **context) -> tuple[list, dict]:
        """``(objects, parsed)`` of an answer; never raises on malformed text."""
        head = self._head(task)
        if head is None:
            result = self.processor.serializer.decode(text, image_size=tuple(image_size))
            return list(result), dict(objects=list(result), errors=list(result.errors))
        try:
            parsed = head.parse(text, tuple(image_size), **context)
        except TypeError:
            parsed = head.parse(text, tuple(image_size))
        objects = parsed.get('objects') if isinstance(parsed, dict) else None
        if not objects and head.spatial:   # answers that may hold geometry
            objects = list(self.processor.serializer.decode(text, image_size=tuple(image_size)))
        return list(objects or []), parsed

    # -- public API ------------------------------------------------------------------
    def predict(self, images, prompt: str, modality: str = 'optical', task: str | None = None,
                sensor: str | None = None, bands: Sequence[str] | None = None,
                max_new_tokens: int | None = None) -> Prediction:
        """Answer one question about one image (or one multi-image input).

        Args:
            images: Path(s), array(s) or entry dicts (see :meth:`image_entries`).
            prompt: The question (``<image>`` follows it when missing, as in eov's data).
            modality: One of :attr:`modalities`.
            task: One of :attr:`tasks`: its head parses the answer (labels,
                objects ...). ``None`` decodes any geometry in the text.
            sensor: Sensor of the files when it is not the configured one
                (e.g. ``'sentinel2_l2a'`` with ``bands=['B04', 'B03', 'B02']``
                for an optical model: a true-colour composite).
            bands: Band names, one per file when several files make one image.
            max_new_tokens: Generation budget (default: the model's).

        Returns:
            A :class:`Prediction`.
        """
        return self.predict_many([dict(images=images, prompt=prompt, modality=modality,
                                       task=task, sensor=sensor, bands=bands)],
                                 max_new_tokens=max_new_tokens)[0]

    def predict_many(self, requests: Iterable[dict],
                     max_new_tokens: int | None = None) -> list[Prediction]:
        """Answer many requests (dicts of :meth:`predict`'s arguments), batched."""
        samples = []
        for req in requests:
            modality = req.get('modality', 'optical')
            self._head(req.get('task'))
            loaded = self.load_images(req['images'], modality, req.get('sensor'),
                                      req.get('bands'), req.get('window'))
            samples.append(self._sample(loaded, req.get('prompt'), req.get('task')))
        texts = self._generate(samples, max_new_tokens)
        out = []
        for sample, text in zip(samples, texts):
            info = sample['data_sample']
            objects, parsed = self.parse(text, info['task'], info['image_size'])
            out.append(Prediction(text=text, objects=objects, task=info['task'], parsed=parsed,
                                  prompt=info['prompt'], modality=info['modality'],
                                  image_size=tuple(info['image_size']), crs=info['crs'],
                                  transform=info['transform']))
        return out

    def predict_scene(self, images, prompt: str, modality: str = 'optical',
                      task: str | None = None, sensor: str | None = None, bands=None,
                      tile: int = 512, overlap: int = 64, iou_thr: float = 0.5,
                      max_new_tokens: int | None = None, progress: bool = True) -> Prediction:
        """Answer a whole scene tile by tile and merge the spatial answers.

        Each ``tile`` x ``tile`` window (``overlap`` pixels shared with its
        neighbours) is read on its own (window reads: the scene is never in
        memory whole), answered, and its objects moved into scene pixels;
        objects found in several tiles are merged (class-aware NMS at
        ``iou_thr``, rotated for oriented boxes, plus the tile-border rule;
        duplicate polygons are unioned, polygons below both thresholds stay
        apart: :func:`eov.apis.geo.merge_objects`). ``tile`` must be > 0.

        Returns:
            A :class:`Prediction` whose objects are in scene pixels (each with
            its ``tile``), georeferenced with the scene's CRS and transform,
            and whose ``tiles`` hold every tile's window and answer.
        """
        from tqdm import tqdm

        from .geo import merge_objects, offset_object, tile_windows
        if self._modality(modality).multi_image:
            raise InferenceError(f'tiled inference reads single-image modalities; '
                                 f'{modality!r} is not one')
        self._head(task)
        prompt = self.check_prompt(prompt)
        entries = self.image_entries(images, modality, sensor, bands)
        if not all(isinstance(e, dict) and 'path' in e for e in entries) or len(entries) != 1:
            raise InferenceError('tiled inference takes one image given as file(s)')
        width, height = scene_size(entries[0], self._modality(modality))
        windows = tile_windows(width, height, tile, overlap)
        results, objects = [], []
        bar = tqdm(total=len(windows), desc='tiles', unit='tile', disable=not progress)
        scene_crs = scene_transform = None
        for start in range(0, len(windows), self.batch_size):
            chunk = windows[start:start + self.batch_size]
            preds = self.predict_many(
                [dict(images=entries, prompt=prompt, modality=modality, task=task,
                      window=w) for w in chunk], max_new_tokens=max_new_tokens)
            for index, (window, pred) in enumerate(zip(chunk, preds), start):
                if index == 0:
                    scene_crs, scene_transform = pred.crs, pred.transform
                moved = [dict(offset_object(o, window[0], window[1]), tile=index)
                         for o in pred.objects]
                objects += moved
                results.append(dict(tile=index, window=list(window), text=pred.text,
                                    objects=len(moved)))
            bar.update(len(chunk))
        bar.close()
        merged = merge_objects(objects, iou_thr=iou_thr, windows=windows)
        return Prediction(text=f'{len(merged)} objects from {len(windows)} tiles',
                          objects=merged, task=task, parsed=dict(objects=merged),
                          prompt=prompt, modality=modality, image_size=(width, height),
                          crs=scene_crs, transform=scene_transform, tiles=results)

    # -- batch mode over records -------------------------------------------------------
    def predict_records(self, records, data_root: str | None = None,
                        out_file: str | None = None, progress: bool = True,
                        max_new_tokens: int | None = None) -> list[dict]:
        """Answer eov instruction records; lines in the form ``tools/evaluate.py`` reads.

        Args:
            records: A JSONL path (relative image paths resolve against its
                folder, or ``data_root``) or a list of record dicts.
            data_root: Directory relative image paths resolve against.
            out_file: Write the lines here as they are made (JSONL).
            progress: Show a progress bar.
            max_new_tokens: Generation budget.

        Returns:
            One dict per record: ``id``, ``task``, ``modality``, ``prediction``
            (raw text), ``question``, ``reference`` (the record's answer when it
            has one), ``image_size``, ``objects`` (parsed, pixels) -- or
            ``error`` (and ``prediction: null``) for a record whose image
            cannot be read; the others are still answered.

        Raises:
            RecordError: a malformed record, naming the file and line
                (checked before anything runs).
        """
        from tqdm import tqdm

        from eov.datasets.schema import RecordError, validate_record
        from eov.utils.io import iter_jsonl
        if isinstance(records, (str, os.PathLike)):
            path = os.fspath(records)
            if not os.path.isfile(path):
                raise FileNotFoundError(f'records file not found: {path}')
            data_root = data_root if data_root is not None else os.path.dirname(path)
            items = [(f'{path}:{lineno}', rec)   # a malformed line: RecordError naming it
                     for lineno, rec in iter_jsonl(path, RecordError, objects=False)]
        else:
            items = [(f'record {i}', rec) for i, rec in enumerate(records)]
        for where, rec in items:
            validate_record(rec, where, tuple(self.model.modalities))
            if rec['task'] not in self.heads:
                raise RecordError(f'{where}: task {rec["task"]!r} has no head in this model '
                                  f'({", ".join(self.heads)})')
        sink = None
        if out_file:
            os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
            sink = open(out_file, 'w', encoding='utf-8')
        lines: list[dict] = []
        bar = tqdm(total=len(items), desc='records', unit='rec', disable=not progress)
        try:
            for start in range(0, len(items), self.batch_size):
                chunk = items[start:start + self.batch_size]
                batch_lines = self._answer_records(chunk, data_root, max_new_tokens)
                if sink:
                    sink.writelines(json.dumps(jsonable(line)) + '\n' for line in batch_lines)
                    sink.flush()
                lines += batch_lines
                bar.update(len(chunk))
        finally:
            bar.close()
            if sink:
                sink.close()
        return lines

    def _answer_records(self, chunk, data_root, max_new_tokens) -> list[dict]:
        samples, lines, slots = [], [], []
        for where, rec in chunk:
            line = dict(id=rec['id'], task=rec['task'], modality=rec['modality'])
            try:
                results = self._record_messages(rec, where, data_root)
            except (InferenceError, ValueError, OSError) as err:
                lines.append(dict(line, prediction=None, error=f'{where}: {err}'))
                continue
            question = results['messages'][-1][1]
            line.update(question=question, image_size=list(results['image_size']))
            reference = self._reference(rec, results)
            if reference is not None:
                line['reference'] = reference
            encoded = self.processor.encode(results['messages'], modality=rec['modality'],
                                            add_generation_prompt=True, source=where)
            samples.append(self._pack(results['images'][0], encoded,
                                      dict(task=rec['task'], prompt=question)))
            slots.append((len(lines), rec))
            lines.append(line)
        texts = self._generate(samples, max_new_tokens) if samples else []
        for (slot, rec), sample, text in zip(slots, samples, texts):
            # what the record tells the parse (e.g. a choice question's options)
            context = self.heads[rec['task']].parse_context(rec.get('targets', []))
            objects, parsed = self.parse(text, rec['task'], sample['data_sample']['image_size'],
                                         **context)
            lines[slot].update(prediction=text, objects=objects)
        return lines

    def _record_messages(self, rec: dict, where: str, data_root) -> dict:
        loaded = self.load_images([dict(e) for e in rec['images']] if data_root is None else
                                  [dict(e, path=_join(data_root, e['path']))
                                   for e in rec['images']], rec['modality'],
                                  from_record=True)
        results = dict(rec, source=where, images=[loaded], image_size=tuple(loaded['size']))
        return self._conversation.transform(results)

    def _reference(self, rec: dict, results: dict):
        turns = rec['conversations']
        if len(turns) % 2 == 0:
            value = turns[-1].get('value')
            if value is not None:
                return value
        if rec.get('targets'):
            try:
                return self.heads[rec['task']].answer_text(rec['targets'],
                                                           results['image_size'])
            except (ValueError, KeyError):
                return None
        return None


def _request_terms(message: str, plugin, modality: str) -> str:
    """A modality plugin's message in the terms of a request (not of a JSONL record).

    Plugins speak of records (``"bands" in the record``); a request names its bands with
    ``bands=[...]`` (``--bands``). SAR with a single polarisation gets what the model
    needs and how a single-polarisation model is configured.
    """
    import re
    message = re.sub(r'\b1 bands\b', '1 band', message)
    message = message.replace('with "bands" in the record', 'with bands=[...] (--bands)')
    message = message.replace('bands but the record names', 'bands but the request names')
    message = message.replace(
        'takes exactly one image per record', 'takes exactly one image per request')
    message = message.replace('give them as one entry, "path": [...] with "bands"',
                              'name one band per file with bands=[...] (--bands)')
    from eov.modalities.sar import SARModality
    bands = tuple(getattr(plugin, 'bands', None) or ())
    if isinstance(plugin, SARModality) and len(bands) > 1 and 'bands' in message:
        message += (f'; this model\'s {modality!r} entry reads dual-polarisation SAR '
                    f'({" + ".join(bands)}): give {"both" if len(bands) == 2 else "all"} '
                    f'polarisations (one '
                    f'{len(bands)}-band file, or one file per polarisation with bands '
                    f'{" ".join(bands)}); a single-polarisation (e.g. VV-only) model needs '
                    f"a config entry dict(type='sar', bands=['VV']), trained that way")
    return message


def _join(root: str, path):
    if isinstance(path, list):
        return [_join(root, p) for p in path]
    return path if os.path.isabs(path) or not root else os.path.join(root, path)


def scene_size(entry: dict, plugin) -> tuple[int, int]:
    """``(W, H)`` of the grid an image entry is read onto (without reading pixels).

    The finest file's grid (or the modality's ``target_gsd``), as
    :func:`~eov.modalities.io.read_stack` builds it; PNG/JPEG: their size.
    """
    from eov.modalities.io import PIL_EXTENSIONS, RasterReadError, open_raster, output_grid
    paths = entry['path'] if isinstance(entry['path'], list) else [entry['path']]
    for p in paths:
        check_file(p, 'image file', IMAGE_EXPECTED)
    if len(paths) == 1 and os.path.splitext(paths[0])[1].lower() in PIL_EXTENSIONS:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(paths[0]) as img:
                return img.size
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
            raise InferenceError(f'cannot read image {paths[0]}: {err}') from None
    try:
        sources = [open_raster(p) for p in paths]
    except RasterReadError as err:
        raise InferenceError(str(err)) from None
    try:
        return output_grid(sources, getattr(plugin, 'target_gsd', None))[3:]
    finally:
        for s in sources:
            s.close()
