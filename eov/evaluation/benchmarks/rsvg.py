"""Remote-sensing visual grounding: OPT-RSVG (LPVA's protocol) and DIOR-RSVG (MGVLF's).

Both datasets ship one VOC-style XML file per image::

    <annotation>
      <filename>00001.jpg</filename>
      <size><width>800</width><height>800</height><depth>3</depth></size>
      <object>
        <name>golffield</name><pose>Unspecified</pose>
        <bndbox><xmin>133</xmin><ymin>237</ymin><xmax>684</xmax><ymax>672</ymax></bndbox>
        <description>A green and brown golf field</description>
      </object>
      ...
    </annotation>

and split files (``train.txt``, ``val.txt``, ``test.txt``) that list *global
object indices*: objects are numbered over all objects of all XML files, the
files taken in sorted file-name order (the official loaders walk the folder
with ``os.walk``; the authors ran them on Windows, whose listings are sorted).
One record is written per listed object, ``id`` = that index.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np

from eov.heads.grounding import GROUNDING_TYPES, GroundingHead
from eov.registry import BENCHMARKS
from eov.slis.geometry import check_object, object_bounds

from .base import BaseBenchmark, BenchmarkDataError, build_serializer, count_missing

#: IoU thresholds both protocols report.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
_ARTICLES = ('a ', 'an ', 'the ')


def grounding_phrase(description: str) -> str:
    """The referring expression as it goes into a question.

    Lower-cased (the official loaders lower-case phrases too), without a
    trailing period or a leading article, so that templates such as
    ``'Where is the {phrase}?'`` read naturally.
    """
    phrase = ' '.join(description.split()).rstrip('.').strip().lower()
    for article in _ARTICLES:
        if phrase.startswith(article) and len(phrase) > len(article):
            phrase = phrase[len(article):]
            break
    return phrase


class _XmlObject:
    __slots__ = ('xml', 'index_in_file', 'element', 'root')

    def __init__(self, xml, index_in_file, element, root):
        self.xml = xml
        self.index_in_file = index_in_file
        self.element = element
        self.root = root


def _text(element, path: str, where: str) -> str:
    node = element.find(path)
    if node is None or node.text is None or not node.text.strip():
        raise BenchmarkDataError(f'{where}: missing <{path}>')
    return node.text.strip()


def _number(element, path: str, where: str) -> float:
    text = _text(element, path, where)
    try:
        return float(text)
    except ValueError:
        raise BenchmarkDataError(f'{where}: <{path}> is not a number: {text!r}') from None


class RSVGBenchmark(BaseBenchmark):
    """Shared converter and scorer of the RSVG-style grounding benchmarks."""

    task = 'grounding'
    #: Image folders tried in order when ``images`` is not given.
    image_dirs: tuple[str, ...] = ('JPEGImages', 'Image', 'images')
    convert_options = {
        'images': 'image folder, relative to SRC or absolute (default: the first of '
                  'the benchmark\'s usual names that exists)',
        'annotations': 'XML folder, relative to SRC or absolute (default: Annotations)',
        'split_file': 'split file of global object indices (default: SRC/<split>.txt)',
    }
    metric_keys = tuple(f'Pr@{t:g}' for t in THRESHOLDS) + (
        'meanIoU', 'cumIoU', 'parse_rate', 'n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    def _split_indices(self, src: str, split: str | None, split_file: str | None,
                       total: int) -> list[int] | None:
        if split_file is None and split is None:
            return None
        path = split_file or os.path.join(src, f'{split}.txt')
        if split_file and not os.path.isabs(path) and not os.path.isfile(path):
            path = os.path.join(src, split_file)
        if not os.path.isfile(path):
            found = sorted(f for f in os.listdir(src) if f.endswith('.txt'))
            raise BenchmarkDataError(f'{self.name}: split file not found: {path} (split files '
                                     f'in {src}: {", ".join(found) or "none"})')
        indices = set()
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    index = int(line)
                except ValueError:
                    raise BenchmarkDataError(f'{path}:{lineno}: not an object index: '
                                             f'{line!r}') from None
                if not 0 <= index < total:
                    raise BenchmarkDataError(
                        f'{path}:{lineno}: object index {index} is out of range: the '
                        f'annotations hold {total} objects (indices 0..{total - 1})')
                indices.add(index)
        return sorted(indices)

    def _objects(self, ann_dir: str) -> list[_XmlObject]:
        files = sorted(f for f in os.listdir(ann_dir) if f.endswith('.xml'))
        if not files:
            raise BenchmarkDataError(f'{self.name}: no .xml files in {ann_dir}')
        objects = []
        for name in self.progress(files, 'reading XML'):
            path = os.path.join(ann_dir, name)
            try:
                root = ET.parse(path).getroot()
            except ET.ParseError as err:
                raise BenchmarkDataError(f'{path}: malformed XML ({err})') from None
            for k, element in enumerate(root.findall('object')):
                objects.append(_XmlObject(path, k, element, root))
        return objects

    def iter_records(self, src, split=None, images=None, annotations=None, split_file=None):
        """Yield one grounding record per object listed in the split."""
        if not os.path.isdir(src):
            raise BenchmarkDataError(f'{self.name}: SRC must be the dataset folder, got {src}')
        ann_dir = self.find_folder(src, annotations, ('Annotations',), 'annotations')
        img_dir = self.find_folder(src, images, self.image_dirs, 'images')
        objects = self._objects(ann_dir)
        indices = self._split_indices(src, split, split_file, len(objects))
        if indices is None:
            indices = range(len(objects))
        head = GroundingHead(serializer=build_serializer())
        for index in self.progress(indices, 'writing records'):
            yield self._record(index, objects[index], img_dir, head)

    def _record(self, index: int, obj: _XmlObject, img_dir: str, head: GroundingHead) -> dict:
        where = f'{obj.xml}: object {obj.index_in_file}'
        filename = _text(obj.root, 'filename', obj.xml)
        width = _number(obj.root, 'size/width', obj.xml)
        height = _number(obj.root, 'size/height', obj.xml)
        if width <= 0 or height <= 0:
            raise BenchmarkDataError(f'{obj.xml}: image size must be positive, got '
                                     f'{width:g}x{height:g}')
        box = [_number(obj.element, f'bndbox/{k}', where)
               for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        if box[2] < box[0] or box[3] < box[1]:
            raise BenchmarkDataError(f'{where}: <bndbox> has xmax < xmin or ymax < ymin: {box}')
        description = ' '.join(_text(obj.element, 'description', where).split())
        name = obj.element.find('name')
        size = [int(width) if width.is_integer() else width,
                int(height) if height.is_integer() else height]
        question = head.question(seed=index, phrase=grounding_phrase(description))
        return {
            'id': str(index),
            'task': 'grounding',
            'modality': 'optical',
            'images': [{'path': self.image_path(os.path.join(img_dir, filename)),
                        'sensor': 'rgb'}],
            'conversations': self.conversation(self.prompt(question)),
            'targets': [{'type': 'hbb', 'bbox': box, 'label': description}],
            'meta': {'image_size': size,
                     'class': name.text.strip() if name is not None and name.text else None,
                     'source': f'{os.path.basename(obj.xml)}#object{obj.index_in_file}'},
        }

    # -- scoring --------------------------------------------------------------
    @staticmethod
    def predicted_box(pred: dict | None, image_size, head: GroundingHead) -> list[float] | None:
        """The first predicted box in pixels (``None``: missing or unreadable).

        ``objects`` lines give boxes directly; ``prediction`` text is decoded
        with the head's serializer in the original image's frame. An oriented
        box counts by its axis-aligned bounds.
        """
        if pred is None:
            return None
        if isinstance(pred.get('objects'), list):
            for obj in pred['objects']:
                if isinstance(obj, dict) and obj.get('type') in GROUNDING_TYPES:
                    try:
                        return list(object_bounds(check_object(obj)))
                    except ValueError:
                        continue
            return None
        text = pred.get('prediction')
        if not isinstance(text, str):
            return None
        return head.parse(text, image_size)['box']

    def _arrays(self, records, predictions, serializer):
        head = GroundingHead(serializer=build_serializer(serializer))
        n = len(records)
        pred = np.zeros((n, 4), np.float32)
        gt = np.zeros((n, 4), np.float32)
        size = np.zeros((n, 2), np.float32)
        valid = np.zeros(n, bool)
        for i, (rid, rec) in enumerate(records.items()):
            image_size = (rec.get('meta') or {}).get('image_size')
            if not image_size:
                raise ValueError(f'record {rid}: meta.image_size is missing (convert the data '
                                 f'with tools/convert_dataset.py {self.name})')
            target = next((t for t in rec.get('targets', []) if t.get('type') == 'hbb'), None)
            if target is None:
                raise ValueError(f'record {rid}: no hbb target')
            size[i] = image_size
            gt[i] = target['bbox']
            box = self.predicted_box(predictions.get(rid), tuple(image_size), head)
            if box is not None:
                pred[i] = box
                valid[i] = True
        return pred, gt, size, valid

    @staticmethod
    def _iou(pred: np.ndarray, gt: np.ndarray):
        """The ReSC/TransVG ``bbox_iou`` of both codes, in float32 like theirs.

        ``inter / (area1 + area2 - inter + 1e-16)``; areas are not clamped.
        float32 matters: the 1e-16 vanishes against a float32 union, so an IoU
        of exactly t stays exactly t.
        """
        ix = np.clip(np.minimum(pred[:, 2], gt[:, 2]) - np.maximum(pred[:, 0], gt[:, 0]), 0, None)
        iy = np.clip(np.minimum(pred[:, 3], gt[:, 3]) - np.maximum(pred[:, 1], gt[:, 1]), 0, None)
        inter = ix * iy
        area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
        area_g = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
        union = area_p + area_g - inter
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = inter / (union + np.float32(1e-16))
        iou = np.where(np.isfinite(iou), iou, np.float32(0)).astype(np.float32)
        return iou, inter, union, area_g

    def _metrics(self, iou, inter, union, valid, n_missing, hit) -> dict:
        n = len(iou)
        out = {f'Pr@{t:g}': float(np.mean(hit(iou, np.float32(t)))) if n else 0.0
               for t in THRESHOLDS}
        out['meanIoU'] = float(np.mean(iou, dtype=np.float64)) if n else 0.0
        total_union = float(np.sum(union, dtype=np.float64))
        out['cumIoU'] = float(np.sum(inter, dtype=np.float64)) / total_union \
            if total_union > 0 else 0.0
        out['parse_rate'] = float(np.mean(valid)) if n else 0.0
        out['n'] = n
        out['n_missing'] = n_missing
        return out

    def _score(self, records, predictions, serializer, normalise: bool, hit) -> dict:
        pred, gt, size, valid = self._arrays(records, predictions, serializer)
        if normalise:
            scale = np.concatenate([size, size], axis=1)
            pred = np.clip(pred / scale, np.float32(0), np.float32(1))
            gt = gt / scale
        else:
            width, height = size[:, 0], size[:, 1]
            pred[:, :2] = np.maximum(pred[:, :2], np.float32(0))
            pred[:, 2] = np.minimum(pred[:, 2], width)
            pred[:, 3] = np.minimum(pred[:, 3], height)
            gt[:, :2] = np.maximum(gt[:, :2], np.float32(0))
            gt[:, 2] = np.minimum(gt[:, 2], width)
            gt[:, 3] = np.minimum(gt[:, 3], height)
        iou, inter, union, area_g = self._iou(pred, gt)
        # a missing or unreadable answer: IoU 0, and in cumIoU it adds nothing to
        # the intersections and the truth's area to the unions
        iou = np.where(valid, iou, np.float32(0))
        inter = np.where(valid, inter, np.float32(0))
        union = np.where(valid, union, area_g)
        return self._metrics(iou, inter, union, valid, count_missing(records, predictions), hit)


@BENCHMARKS.register_module(name='opt_rsvg')
class OptRSVG(RSVGBenchmark):
    """OPT-RSVG (Li et al., LPVA, TGRS 2024), scored as LPVA's ``eval_utils.trans_vg_eval_test``.

    Layout: ``SRC/Annotations/*.xml``, ``SRC/Image/`` (``JPEGImages/`` is
    accepted too; LPVA's loader reads ``opt_rsvg/JPEGImages``) and
    ``SRC/{train,val,test}.txt``.

    Protocol: prediction and truth boxes divided by the image size (to
    ``[0, 1]``); the prediction clamped to ``[0, 1]``, the truth not; IoU =
    inter / (union + 1e-16) in float32; a hit when IoU **>=** t. Keys:
    ``Pr@0.5`` ... ``Pr@0.9``, ``meanIoU``, ``cumIoU`` (sum of intersections
    / sum of unions, in normalised units), ``parse_rate``, ``n``,
    ``n_missing``. Unreadable or missing answers: IoU 0.
    """

    name = 'opt_rsvg'
    image_dirs = ('Image', 'JPEGImages', 'images')

    def score(self, records, predictions, serializer=None):
        """See the class docstring."""
        return self._score(records, predictions, serializer, normalise=True,
                           hit=lambda iou, t: iou >= t)


@BENCHMARKS.register_module(name='dior_rsvg')
class DiorRSVG(RSVGBenchmark):
    """DIOR-RSVG (Zhan et al., MGVLF, TGRS 2023), scored as MGVLF's ``test_epoch``.

    Layout: ``SRC/Annotations/*.xml``, ``SRC/JPEGImages/`` and
    ``SRC/{train,val,test}.txt``.

    Protocol: pixel boxes; both boxes clamped to the image the way MGVLF
    does it (``x1, y1`` raised to 0, ``x2`` lowered to W, ``y2`` lowered to
    H); IoU = inter / (union + 1e-16) in float32; a hit when IoU **>** t
    (strictly). Same keys as ``opt_rsvg``; ``cumIoU`` in pixels.
    """

    name = 'dior_rsvg'
    image_dirs = ('JPEGImages', 'Image', 'images')

    def score(self, records, predictions, serializer=None):
        """See the class docstring."""
        return self._score(records, predictions, serializer, normalise=False,
                           hit=lambda iou, t: iou > t)
