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

and split files (``train.txt``, ``val.txt``, ``test.txt``; OPT-RSVG's archive
unpacks them into ``split/``) that list *global object indices*: objects are
numbered over all objects of all XML files, the files taken in sorted
file-name order (MGVLF's loader sorts its file list; LPVA's takes
``os.walk``'s order). One record is written per listed object, ``id`` = that
index.

Scoring reproduces each official test pipeline's float32 arithmetic, so that
an IoU at a threshold gets the official verdict: see :func:`lpva_boxes` and
:func:`mgvlf_truth`.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import namedtuple

import numpy as np

from eov.heads.grounding import GROUNDING_TYPES, GroundingHead
from eov.registry import BENCHMARKS
from eov.slis.geometry import object_bounds

from .base import (BaseBenchmark, BenchmarkDataError, build_serializer, checked_objects,
                   count_missing)

#: IoU thresholds both protocols report.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Side of the square network input of both official test pipelines (LPVA's
#: ``--imsize``, MGVLF's ``--size``).
INPUT_SIZE = 640
_ARTICLES = ('a ', 'an ', 'the ')


def lpva_boxes(boxes, sizes) -> np.ndarray:
    """Pixel ``xyxy`` boxes as LPVA's test pipeline sees them: normalised ``xyxy``, float32.

    One float32 operation per step, in LPVA's order (``like413/OPT-RSVG``):
    ``datasets/transforms.py: resize_according_to_long_side`` scales x by
    ``640 / W`` and y by ``640 / H`` -- separately: the image is stretched to
    640x640, no letterbox --; ``NormalizeAndPad`` then pads nothing, converts
    to ``xywh`` (``utils/box_utils.py: xyxy2xywh``) and divides by 640;
    ``utils/eval_utils.py: trans_vg_eval_test`` converts back with
    ``xywh2xyxy``. This must match those files bit for bit (the rounding
    decides IoUs that fall exactly on a threshold).

    Args:
        boxes: ``(N, 4)`` pixel boxes ``[x1, y1, x2, y2]``.
        sizes: ``(N, 2)`` image sizes ``[W, H]``.
    """
    b = np.asarray(boxes, np.float32)
    sizes = np.asarray(sizes, np.float64)
    # ratio = float(size / float(w)) in float64; torch multiplies in float32
    rw = (INPUT_SIZE / sizes[:, 0]).astype(np.float32)
    rh = (INPUT_SIZE / sizes[:, 1]).astype(np.float32)
    x1, y1, x2, y2 = b[:, 0] * rw, b[:, 1] * rh, b[:, 2] * rw, b[:, 3] * rh
    two, half, side = np.float32(2), np.float32(0.5), np.float32(INPUT_SIZE)
    cx, cy = (x1 + x2) / two / side, (y1 + y2) / two / side
    w, h = (x2 - x1) / side, (y2 - y1) / side
    return np.stack([cx - half * w, cy - half * h, cx + half * w, cy + half * h], axis=1)


def mgvlf_truth(boxes, sizes) -> tuple[np.ndarray, np.ndarray]:
    """Truth boxes as MGVLF's test loop sees them, and the frame it clamps boxes to.

    ``ZhanYang-nwpu/RSVG-pytorch``: ``data_loader.py`` letterboxes the image to
    640x640 (``utils/transforms.py: letterbox``: ratio ``640 / max(W, H)``,
    padding ``dw, dh``) and stores ``x * ratio + dw`` into the box's
    **integer** array (truncated); ``main.py: Mytest_epoch`` clamps it to
    ``[0, 639]``, maps it back in float32 (``(x - dw) / ratio``) and clamps
    both boxes to the un-padded image resized back, ``round(new_w / ratio)``
    by ``round(new_h / ratio)`` (``W'``, ``H'``). On an 800-px image (ratio
    0.8) a truth edge moves by up to 1.25 px, and one on the right or bottom
    border ends at 798.75. This must match those files bit for bit.

    Args:
        boxes: ``(N, 4)`` pixel truth boxes.
        sizes: ``(N, 2)`` image sizes ``[W, H]``.

    Returns:
        ``(boxes, frame)``: the float32 ``(N, 4)`` truth boxes (before the
        image clamp) and the float32 ``(N, 2)`` frame ``[W', H']``.
    """
    sizes = np.asarray(sizes, np.float64)
    ratio = INPUT_SIZE / sizes.max(axis=1)
    new_wh = np.rint(sizes * ratio[:, None])              # Python's round(): half to even
    pad = np.tile((INPUT_SIZE - new_wh) / 2, 2)           # [dw, dh, dw, dh]
    # the loader reads integers (np.array(bbox, dtype=int)); float64 arithmetic,
    # truncated by the assignment into the int array
    scaled = np.trunc(np.trunc(np.asarray(boxes, np.float64)) * ratio[:, None] + pad)
    quantised = np.clip(scaled.astype(np.float32), np.float32(0), np.float32(INPUT_SIZE - 1))
    ratio32 = ratio.astype(np.float32)[:, None]
    truth = (quantised - pad.astype(np.float32)) / ratio32
    # the crop [round(d - 0.1), size - round(d + 0.1)) is new_w x new_h; it is
    # resized by round(new / float(ratio)), ratio being the float32 tensor
    frame = np.rint(new_wh / ratio32.astype(np.float64)).astype(np.float32)
    return truth, frame


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


#: One ``<object>`` of an XML file: the file, its index there, the element, the file's root.
_XmlObject = namedtuple('_XmlObject', 'xml index_in_file element root')


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
        'split_file': 'split file of global object indices, relative to SRC or absolute '
                      '(default: <split>.txt in SRC or SRC/split/, in the benchmark\'s order)',
    }
    metric_keys = tuple(f'Pr@{t:g}' for t in THRESHOLDS) + (
        'meanIoU', 'cumIoU', 'parse_rate', 'n', 'n_missing')

    # -- conversion -----------------------------------------------------------
    #: Folders of SRC searched in order for ``<split>.txt`` ('' is SRC itself).
    split_dirs: tuple[str, ...] = ('', 'split')

    def _split_path(self, src: str, split: str | None, split_file: str | None) -> str:
        if split_file:
            path = split_file if os.path.isabs(split_file) else os.path.join(src, split_file)
            if not os.path.isfile(path) and os.path.isfile(split_file):
                path = split_file                    # relative to the working directory
            if not os.path.isfile(path):
                raise BenchmarkDataError(f'{self.name}: split file not found: {path}')
            return path
        tried = [os.path.join(src, d, f'{split}.txt') for d in self.split_dirs]
        for path in tried:
            if os.path.isfile(path):
                return path
        found = sorted(os.path.relpath(os.path.join(d, f), src) for d in
                       (os.path.join(src, sub) for sub in self.split_dirs) if os.path.isdir(d)
                       for f in os.listdir(d) if f.endswith('.txt'))
        raise BenchmarkDataError(f'{self.name}: split file not found: looked for '
                                 f'{" and ".join(tried)} (split files in {src}: '
                                 f'{", ".join(found) or "none"}; -o split_file=... names one)')

    def _split_indices(self, src: str, split: str | None, split_file: str | None,
                       total: int) -> list[int] | None:
        if split_file is None and split is None:
            return None
        path = self._split_path(src, split, split_file)
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
        # the head's canonical phrasing (seed None), as every converter asks it
        question = head.question(phrase=grounding_phrase(description))
        return self.record(
            str(index), 'optical',
            [{'path': self.image_path(os.path.join(img_dir, filename)), 'sensor': 'rgb'}],
            question, [{'type': 'hbb', 'bbox': box, 'label': description}],
            {'image_size': size,
             'class': name.text.strip() if name is not None and name.text else None,
             'source': f'{os.path.basename(obj.xml)}#object{obj.index_in_file}'})

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
            found = checked_objects(pred['objects'], GROUNDING_TYPES)
            return list(object_bounds(found[0])) if found else None
        text = pred.get('prediction')
        if not isinstance(text, str):
            return None
        return head.parse(text, image_size)['box']

    def _arrays(self, records, predictions, serializer):
        head = GroundingHead(serializer=build_serializer(serializer))
        n = len(records)
        pred = np.zeros((n, 4), np.float32)
        gt = np.zeros((n, 4), np.float32)
        size = np.zeros((n, 2), np.float64)
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
        """The ``bbox_iou`` of both codes (the same function), in float32 like theirs.

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

    def _metrics(self, iou, inter, union, valid, n_missing) -> dict:
        n = len(iou)
        out = {f'Pr@{t:g}': float(np.mean(self.hit(iou, np.float32(t)))) if n else 0.0
               for t in THRESHOLDS}
        out['meanIoU'] = float(np.mean(iou, dtype=np.float64)) if n else 0.0
        total_union = float(np.sum(union, dtype=np.float64))
        out['cumIoU'] = float(np.sum(inter, dtype=np.float64)) / total_union \
            if total_union > 0 else 0.0
        out['parse_rate'] = float(np.mean(valid)) if n else 0.0
        out['n'] = n
        out['n_missing'] = n_missing
        return out

    def official_boxes(self, pred: np.ndarray, gt: np.ndarray, size: np.ndarray):
        """``(pred, truth)`` float32 boxes in the frame the official code compares them in."""
        raise NotImplementedError

    @staticmethod
    def hit(iou: np.ndarray, t: np.float32) -> np.ndarray:
        """Which IoUs count at threshold ``t`` (a float32, as torch and NumPy cast it)."""
        raise NotImplementedError

    def score(self, records, predictions, serializer=None):
        """Score with the official protocol (see the class docstring)."""
        pred, gt, size, valid = self._arrays(records, predictions, serializer)
        pred, gt = self.official_boxes(pred, gt, size)
        iou, inter, union, area_g = self._iou(pred, gt)
        # a missing or unreadable answer: IoU 0, and in cumIoU it adds nothing to
        # the intersections and the truth's area to the unions
        iou = np.where(valid, iou, np.float32(0))
        inter = np.where(valid, inter, np.float32(0))
        union = np.where(valid, union, area_g)
        return self._metrics(iou, inter, union, valid, count_missing(records, predictions))


@BENCHMARKS.register_module(name='opt_rsvg')
class OptRSVG(RSVGBenchmark):
    """OPT-RSVG (Li et al., LPVA, TGRS 2024), scored as LPVA's ``eval_utils.trans_vg_eval_test``.

    Layout: ``SRC/Annotations/*.xml``, ``SRC/Image/`` (``JPEGImages/``, what
    LPVA's loader reads, is accepted too) and the split lists in
    ``SRC/split/{train,val,test}.txt`` (the archive's ``split.zip``) or
    ``SRC/{train,val,test}.txt`` (LPVA's loader).

    Protocol: both boxes taken through LPVA's float32 pipeline
    (:func:`lpva_boxes`: x by ``640 / W``, y by ``640 / H``, ``xywh``, ``/ 640``,
    back to ``xyxy``); the prediction clamped to ``[0, 1]``, the truth not;
    IoU = inter / (union + 1e-16) in float32; a hit when IoU **>=** t. Keys:
    ``Pr@0.5`` ... ``Pr@0.9``, ``meanIoU``, ``cumIoU`` (sum of intersections
    / sum of unions, in normalised units), ``parse_rate``, ``n``,
    ``n_missing``. Unreadable or missing answers: IoU 0.
    """

    name = 'opt_rsvg'
    image_dirs = ('Image', 'JPEGImages', 'images')
    split_dirs = ('split', '')

    def official_boxes(self, pred, gt, size):
        """LPVA's normalised boxes; ``torch.clamp(pred_boxes, 0, 1)`` on the prediction."""
        return np.clip(lpva_boxes(pred, size), np.float32(0), np.float32(1)), lpva_boxes(gt, size)

    @staticmethod
    def hit(iou, t):
        """``iou >= t`` (``trans_vg_eval_test``)."""
        return iou >= t


@BENCHMARKS.register_module(name='dior_rsvg')
class DiorRSVG(RSVGBenchmark):
    """DIOR-RSVG (Zhan et al., MGVLF, TGRS 2023), scored as MGVLF's ``Mytest_epoch``.

    Layout: ``SRC/Annotations/*.xml``, ``SRC/JPEGImages/`` and
    ``SRC/{train,val,test}.txt`` (MGVLF's README; ``SRC/split/`` is accepted
    too).

    Protocol: pixel boxes; the truth quantised as MGVLF's loader and test loop
    do (:func:`mgvlf_truth`: integer at the letterboxed 640-px scale, clamped
    to 639, mapped back in float32); both boxes clamped the way MGVLF does it
    (``x1, y1`` raised to 0, ``x2`` lowered to ``W'``, ``y2`` to ``H'``); IoU =
    inter / (union + 1e-16) in float32; a hit when IoU **>** t (strictly).
    Same keys as ``opt_rsvg``; ``cumIoU`` in pixels.
    """

    name = 'dior_rsvg'
    image_dirs = ('JPEGImages', 'Image', 'images')
    split_dirs = ('', 'split')

    def official_boxes(self, pred, gt, size):
        """MGVLF's truth and one-sided clamp of both boxes to ``W' x H'``."""
        gt, frame = mgvlf_truth(gt, size)
        pred = pred.astype(np.float32, copy=True)
        for boxes in (pred, gt):
            boxes[:, :2] = np.maximum(boxes[:, :2], np.float32(0))
            boxes[:, 2] = np.minimum(boxes[:, 2], frame[:, 0])
            boxes[:, 3] = np.minimum(boxes[:, 3], frame[:, 1])
        return pred, gt

    @staticmethod
    def hit(iou, t):
        """``iou > t`` (``Mytest_epoch``)."""
        return iou > t
