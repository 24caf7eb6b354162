"""DOTA v1.0 oriented object detection, scored as the DOTA devkit's ``dota_evaluation_task1.py``.

DOTA ships one label file per image (``labelTxt/P0001.txt``)::

    imagesource:GoogleEarth
    gsd:0.146343590398
    2753 2408 2861 2385 2888 2468 2805 2502 plane 0
    ...

``x1 y1 ... x4 y4 category difficult``: the four corners of an oriented box in
pixels of the original image (clockwise), the class, and a difficulty flag.
The devkit's evaluation (``voc_eval`` of ``dota_evaluation_task1.py``, with the
polygon IoU of its ``polyiou.cpp``) is reproduced here:

- per class, the detections of all images ordered by ``np.argsort(-confidence)``,
  exactly the devkit's call: highest confidence first, and equal confidences in
  the order numpy's default (unstable) sort leaves them, which depends on the
  numpy version and CPU; eov lists the detections in the predictions file's
  order, then answer order, before that call -- the order of the devkit's
  ``Task1_<class>.txt`` lines when they are written from that file
  (``tie_order='stable'`` keeps that order for ties);
- each detection matched to the ground truth of its image with the largest
  polygon IoU (ground truths whose axis-aligned bounds do not overlap, in the
  devkit's ``+1`` pixel convention, are left out first); a true positive when
  that IoU is **strictly greater** than 0.5 and the ground truth is not yet
  taken, a false positive when it is taken (a duplicate) or the IoU is too
  low; a match with a *difficult* ground truth counts neither way, and
  difficult ground truths are not in the recall's denominator;
- AP by the VOC rule; the devkit's ``main()`` calls ``voc_eval`` with
  ``use_07_metric=True`` (11-point interpolation), which is eov's default
  (``use_07_metric=False`` gives the all-point area);
- ``mAP@0.5`` = the mean over the 15 DOTA v1.0 classes.
"""
from __future__ import annotations

import math
import os
import struct

import numpy as np

from eov.heads.detection import DETECTION_TYPES, DetectionHead
from eov.registry import BENCHMARKS
from eov.scoring import class_ap
from eov.slis.geometry import check_object, object_points

from .base import (BaseBenchmark, BenchmarkDataError, OptionError, PredictionError, as_bool,
                   as_names, build_serializer, check_choice, checked_objects, count_missing)

#: The 15 classes of DOTA v1.0, in the devkit's order.
DOTA_V1_CLASSES = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle',
                   'large-vehicle', 'ship', 'tennis-court', 'basketball-court', 'storage-tank',
                   'soccer-ball-field', 'roundabout', 'harbor', 'swimming-pool', 'helicopter')

#: Label folders tried in order, the first holding ``.txt`` files wins: ``labelTxt`` (the
#: devkit's examples), ``labelTxt-v1.0/labelTxt`` (the DOTA v1.0 download unpacked),
#: ``annotations/version1.0`` (the Hugging Face ``isaaccorley/dota`` archives that
#: torchgeo's ``DOTA`` dataset reads), ``annotations``.
LABEL_DIRS = ('labelTxt', os.path.join('labelTxt-v1.0', 'labelTxt'), 'labelTxt-v1.0',
              os.path.join('annotations', 'version1.0'), 'annotations')
#: Image folders tried in order; images are also looked for in an ``images/`` folder
#: inside the image folder (an ``images.zip`` / ``part1.zip`` unpacked in place).
IMAGE_DIRS = ('images', os.path.join('images', 'images'))
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


#: ``tie_order`` values: ``numpy`` -- the devkit's ``np.argsort(-confidence)``; ``stable`` --
#: equal confidences keep record order, then answer order.
TIE_ORDERS = ('numpy', 'stable')


def rank_detections(scores, tie_order: str = 'numpy') -> np.ndarray:
    """Indices of ``scores`` in ranking order (highest first).

    ``'numpy'`` is ``np.argsort(-confidence)`` on a float64 array, the call of
    the devkit's ``voc_eval`` (``dota_evaluation_task1.py``), so equal scores
    come out in the order numpy's default sort gives -- not stable, and not
    the same on every numpy version or CPU (SIMD sorts), but the devkit's on
    the same machine. ``'stable'`` keeps equal scores in input order.
    """
    confidence = np.array([float(v) for v in scores], dtype=np.float64)
    if tie_order == 'stable':
        return np.argsort(-confidence, kind='stable')
    return np.argsort(-confidence)   # as dota_evaluation_task1.py: default (quicksort) kind


# -- reading DOTA files ------------------------------------------------------------
def parse_label_file(path: str) -> tuple[list[dict], dict]:
    """Objects and header of a DOTA ``labelTxt`` file.

    Returns:
        ``(objects, header)``: objects ``{'points', 'label', 'difficult'}``;
        the header holds ``imagesource`` and ``gsd`` when present. Like the
        devkit's ``parse_gt``, lines with fewer than 9 fields are skipped and
        a 9-field line is not difficult.

    Raises:
        BenchmarkDataError: a non-numeric coordinate or flag, or more than 10
            fields, naming the file and line.
    """
    try:
        with open(path, encoding='utf-8-sig') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        with open(path, encoding='latin-1') as f:
            lines = f.read().splitlines()
    objects, header = [], {}
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if len(fields) < 9:
            key, sep, value = line.strip().partition(':')
            if sep and key.strip().lower() in ('imagesource', 'gsd') and value.strip():
                value = value.strip()
                if key.strip().lower() == 'gsd':
                    try:
                        value = float(value)
                    except ValueError:
                        pass
                header[key.strip().lower()] = value
            continue
        where = f'{path}:{lineno}'
        if len(fields) > 10:
            raise BenchmarkDataError(f'{where}: expected "x1 y1 ... x4 y4 category difficult", '
                                     f'got {len(fields)} fields')
        try:
            coords = [float(v) for v in fields[:8]]
        except ValueError:
            raise BenchmarkDataError(f'{where}: corner coordinates must be numbers: '
                                     f'{" ".join(fields[:8])!r}') from None
        if not all(math.isfinite(v) for v in coords):
            raise BenchmarkDataError(f'{where}: corner coordinates must be finite')
        difficult = 0
        if len(fields) == 10:
            try:
                difficult = int(fields[9])
            except ValueError:
                raise BenchmarkDataError(f'{where}: the difficult flag must be an integer, '
                                         f'got {fields[9]!r}') from None
        objects.append({'points': [[coords[2 * i], coords[2 * i + 1]] for i in range(4)],
                        'label': fields[8], 'difficult': difficult})
    return objects, header


def read_image_size(path: str) -> tuple[int, int]:
    """``(W, H)`` from the image header (PNG read directly; other formats with Pillow).

    The PNG header is parsed here because Pillow refuses images above its
    decompression-bomb limit (~179 Mpx), which large DOTA scenes approach.
    """
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR':
        width, height = struct.unpack('>II', head[16:24])
        return int(width), int(height)
    import warnings

    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return tuple(int(v) for v in img.size)
    except Exception as err:  # noqa: BLE001 -- any unreadable header is a data error
        raise BenchmarkDataError(f'{path}: cannot read the image size ({err})') from None


def _class_key(name: str) -> str:
    return '-'.join(str(name).strip().lower().replace('_', ' ').split())


#: ``label_match`` values: ``loose`` -- a label is its class whatever its case and with ``_`` or
#: spaces for ``-`` (eov's own rule: ``PLANE``, ``storage_tank`` count; the number of labels
#: mapped so is reported as ``n_mapped``); ``strict`` -- only the official name counts, as the
#: devkit, which opens ``Task1_<official name>.txt`` files only.
LABEL_MATCHES = ('loose', 'strict')


@BENCHMARKS.register_module(name='dota')
class DOTA(BaseBenchmark):
    """DOTA v1.0 oriented boxes -> detection records; the devkit's Task-1 (OBB) mAP.

    Layout: ``SRC/images/P0001.png`` (or ``SRC/images/images/``, an image
    archive unpacked in place) and ``SRC/labelTxt/P0001.txt`` (also
    ``labelTxt-v1.0/labelTxt``, as the v1.0 download unpacks, and
    ``annotations/version1.0``, the Hugging Face / torchgeo layout; see
    :data:`LABEL_DIRS`; ``--images`` / ``--annotations`` override).
    ``--split val`` reads ``SRC/val/...`` when that folder exists;
    ``split_file`` lists image names (the devkit's ``imagesetfile``);
    otherwise every label file. One record per label file.

    Records: task ``detection``, modality ``optical``, sensor ``rgb``, the
    detection head's question naming the 15 classes, targets ``{'type':
    'quad', 'points': [[x, y]] * 4, 'label': category, 'difficult': 0|1}``
    (all objects, difficult ones included), ``meta.image_size`` read from the
    image header (``image_size=W,H`` is used when the image is absent and
    ``check_images=false``), ``meta.gsd``, ``meta.imagesource``.

    Scoring: see the module docstring. Keys ``mAP@0.5``, ``AP/<class>`` for
    the evaluated classes, ``n``, ``n_missing``, ``parse_rate``, ``n_det``.
    Options: ``use_07_metric`` (default true, as the devkit's ``main()``),
    ``iou_thr`` (0.5), ``classes`` (default the 15 v1.0 classes),
    ``tie_order`` (``numpy``, the devkit's ``np.argsort``; ``stable``: ties in
    the predictions file's order, then answer order, the same on every machine),
    ``label_match`` (``loose``, default: labels matched to the class names
    ignoring case, ``_`` and spaces, the number so mapped reported as
    ``n_mapped``; ``strict``: the official names only, as the devkit).
    """

    name = 'dota'
    task = 'detection'
    convert_options = {
        'images': 'image folder, relative to SRC or absolute (default: images); an images/ '
                  'folder inside it is searched too',
        'annotations': 'label folder, relative to SRC or absolute (default: the first of '
                       'labelTxt, labelTxt-v1.0/labelTxt, labelTxt-v1.0, annotations/version1.0, '
                       'annotations that holds .txt files)',
        'split_file': 'text file of image names to convert, one a line (the devkit\'s '
                      'imagesetfile)',
        'image_size': 'W,H used when an image file is absent (with check_images=false)',
    }
    metric_keys = ('mAP@0.5',) + tuple(f'AP/{c}' for c in DOTA_V1_CLASSES) + (
        'n', 'n_missing', 'parse_rate', 'n_det', 'n_mapped')

    # -- conversion -----------------------------------------------------------
    def _root(self, src: str, split: str | None) -> str:
        if split and os.path.isdir(os.path.join(src, split)):
            return os.path.join(src, split)
        if split:
            self.note(f'no {split}/ folder in {src}: converting {src} itself as split {split!r}')
        return src

    def _names(self, label_dir: str, root: str, split_file: str | None) -> list[str]:
        if not split_file:
            names = sorted(os.path.splitext(f)[0] for f in os.listdir(label_dir)
                           if f.endswith('.txt'))
            if not names:
                raise BenchmarkDataError(f'{self.name}: no .txt label files in {label_dir}')
            return names
        path = split_file
        if not os.path.isfile(path) and not os.path.isabs(path):
            path = os.path.join(root, split_file)
        if not os.path.isfile(path):
            raise BenchmarkDataError(f'{self.name}: split file not found: {split_file}')
        with open(path, encoding='utf-8') as f:
            names = [os.path.splitext(os.path.basename(line.strip()))[0] for line in f
                     if line.strip()]
        if not names:
            raise BenchmarkDataError(f'{path}: no image names')
        return names

    @staticmethod
    def _parse_size(value) -> list[int] | None:
        if value is None:
            return None
        parts = value if isinstance(value, (list, tuple)) else str(value).replace('x', ',') \
            .split(',')
        try:
            size = [int(float(v)) for v in parts]
        except (TypeError, ValueError):
            size = []
        if len(size) != 2 or min(size) <= 0:
            raise OptionError(f'option image_size expects W,H (positive), got {value!r}')
        return size

    def _label_dir(self, root: str, annotations: str | None) -> str:
        """``--annotations``, else the first of :data:`LABEL_DIRS` that holds ``.txt`` files."""
        if annotations:
            return self.find_folder(root, annotations, LABEL_DIRS, 'annotations')
        for name in LABEL_DIRS:
            path = os.path.join(root, name)
            if os.path.isdir(path) and any(f.endswith('.txt') for f in os.listdir(path)):
                return path
        versions = os.path.join(root, 'annotations')
        other = sorted(d for d in os.listdir(versions) if d.startswith('version')) \
            if os.path.isdir(versions) else []
        raise BenchmarkDataError(
            f'{self.name}: no label folder with .txt files in {root} (looked for '
            f'{", ".join(LABEL_DIRS)}' + (f'; annotations/ holds {", ".join(other)}, not the '
                                         f'v1.0 labels' if other else '')
            + '; pass --annotations to name it)')

    def _image(self, img_dir: str, name: str) -> str | None:
        for ext in IMAGE_EXTENSIONS:
            for candidate in (ext, ext.upper()):
                path = os.path.join(img_dir, name + candidate)
                if os.path.isfile(path):
                    return path
        return None

    def iter_records(self, src, split=None, images=None, annotations=None, split_file=None,
                     image_size=None):
        """Yield one detection record per label file (image)."""
        if not os.path.isdir(src):
            raise BenchmarkDataError(f'{self.name}: SRC must be the dataset folder, got {src}')
        fallback_size = self._parse_size(image_size)
        root = self._root(src, split)
        label_dir = self._label_dir(root, annotations)
        if images or self._check_images:
            img_dir = self.find_folder(root, images, IMAGE_DIRS, 'images')
        else:
            img_dir = next((os.path.join(root, d) for d in IMAGE_DIRS
                            if os.path.isdir(os.path.join(root, d))), os.path.join(root, 'images'))
        img_dirs = [img_dir] + ([os.path.join(img_dir, 'images')]
                                if os.path.isdir(os.path.join(img_dir, 'images')) else [])
        head = DetectionHead(serializer=build_serializer())
        question = head.question(classes=DOTA_V1_CLASSES)
        unknown: dict[str, int] = {}
        for name in self.progress(self._names(label_dir, root, split_file), 'label files'):
            label_path = os.path.join(label_dir, f'{name}.txt')
            if not os.path.isfile(label_path):
                raise BenchmarkDataError(f'{self.name}: label file not found: {label_path}')
            objects, header = parse_label_file(label_path)
            image = next((p for p in (self._image(d, name) for d in img_dirs) if p), None)
            if image is not None:
                size = list(read_image_size(image))
            elif self._check_images:
                raise BenchmarkDataError(f'{self.name}: image file not found for {label_path} '
                                         f'(looked for {name}.png/.jpg/.tif in '
                                         f'{" and ".join(img_dirs)}; pass check_images=false '
                                         'to convert without images)')
            else:
                image = os.path.join(img_dir, f'{name}.png')
                size = fallback_size
            for obj in objects:
                if obj['label'] not in DOTA_V1_CLASSES:
                    unknown[obj['label']] = unknown.get(obj['label'], 0) + 1
            meta = {'source': os.path.relpath(label_path, src)}
            if size:
                meta['image_size'] = size
            meta.update({k: header[k] for k in ('gsd', 'imagesource') if k in header})
            yield self.record(name, 'optical', [{'path': self.image_path(image), 'sensor': 'rgb'}],
                              question, [{'type': 'quad', **obj} for obj in objects], meta)
        if unknown:
            listed = ', '.join(f'{k} ({v})' for k, v in sorted(unknown.items()))
            self.note(f'labels outside the 15 DOTA v1.0 classes kept in the records but not '
                      f'scored by default: {listed}')

    # -- scoring --------------------------------------------------------------
    def _objects(self, rid: str, rec: dict, pred: dict | None, head) -> tuple[list, bool]:
        """The predicted objects of one record (checked) and whether the answer was read."""
        if pred is None:
            return [], False
        if isinstance(pred.get('objects'), list):
            return checked_objects(pred['objects'], DETECTION_TYPES), True
        text = pred.get('prediction')
        if not isinstance(text, str):
            return [], False
        image_size = (rec.get('meta') or {}).get('image_size')
        if not image_size:
            raise ValueError(f'record {rid}: meta.image_size is missing, needed to decode a text '
                             f'answer (convert with the images, or -o image_size=W,H)')
        parsed = head.parse(text, tuple(image_size))
        return parsed['objects'], parsed['parsed']

    def score(self, records, predictions, serializer=None, use_07_metric=True, iou_thr=0.5,
              classes=None, tie_order='numpy', label_match='loose'):
        """DOTA Task-1 mAP; see the module docstring."""
        use_07_metric = as_bool(use_07_metric, 'use_07_metric')
        check_choice(tie_order, 'tie_order', TIE_ORDERS)
        check_choice(label_match, 'label_match', LABEL_MATCHES)
        iou_thr = float(iou_thr)
        classes = DOTA_V1_CLASSES if classes is None else tuple(as_names(classes))
        if not classes:
            raise OptionError('option classes needs at least one class name')
        keys = {_class_key(c): c for c in classes}
        mapped: dict[str, int] = {}

        def class_of(label) -> str | None:
            label = '' if label is None else str(label)
            if label in classes:
                return label
            cls = keys.get(_class_key(label)) if label_match == 'loose' else None
            if cls is not None:
                mapped[label] = mapped.get(label, 0) + 1
            return cls

        head = DetectionHead(serializer=build_serializer(serializer))
        index = {rid: i for i, rid in enumerate(records)}
        gts = {c: [[] for _ in records] for c in classes}
        for i, rec in enumerate(records.values()):
            for t in rec.get('targets', []):
                cls = class_of(t.get('label'))
                if cls is None or t.get('type') not in DETECTION_TYPES:
                    continue
                quad = [v for p in object_points(check_object(t)) for v in p]
                gts[cls][i].append((quad, t.get('difficult', 0)))
        # per class: (image index, quad8, confidence or None, rank in class), listed in the
        # predictions file's order -- the order of the devkit's Task1_<class>.txt lines
        dets = {c: [] for c in classes}
        parsed = 0
        with_score = without_score = None
        for rid, pred in predictions.items():
            if rid not in index:
                continue
            objects, ok = self._objects(rid, records[rid], pred, head)
            parsed += bool(ok)
            ranks = {c: 0 for c in classes}
            for obj in objects:
                cls = class_of(obj.get('label'))
                if cls is None:
                    continue
                if obj.get('score') is None:
                    without_score = without_score or rid
                else:
                    with_score = with_score or rid
                quad = [v for p in object_points(obj) for v in p]
                dets[cls].append((index[rid], quad, obj.get('score'), ranks[cls]))
                ranks[cls] += 1
        if with_score is not None and without_score is not None:
            raise PredictionError(
                f'{self.name}: some predicted objects have a "score" (e.g. id {with_score}) and '
                f'some do not (e.g. id {without_score}); give every object a score, or none '
                '(then objects rank by their order in each answer)')
        if mapped:
            listed = ', '.join(f'{k} ({v})' for k, v in sorted(mapped.items()))
            self.note(f'labels matched to a class by case / "_" / spaces (label_match=strict '
                      f'scores only the official names, as the devkit): {listed}')
        out = {}
        aps = []
        for c in classes:
            found = dets[c]
            if with_score is not None:
                order = rank_detections([found[k][2] for k in range(len(found))], tie_order)
            else:
                # no confidences: each answer's first object of the class ranks first
                order = sorted(range(len(found)), key=lambda k: found[k][3])
            result = class_ap(gts[c], [(found[k][0], found[k][1]) for k in order],
                              ovthresh=iou_thr, use_07_metric=use_07_metric)
            out[f'AP/{c}'] = result['ap']
            aps.append(result['ap'])
        n = len(records)
        return {
            'mAP@0.5' if iou_thr == 0.5 else f'mAP@{iou_thr:g}': float(np.mean(aps)),
            **out,
            'n': n,
            'n_missing': count_missing(records, predictions),
            'parse_rate': parsed / n if n else 0.0,
            'n_det': sum(len(v) for v in dets.values()),
            'n_mapped': sum(mapped.values()),
        }
