"""The IoU of a predicted box with a target box that every eov grounding score goes through."""
from __future__ import annotations

from typing import Sequence

from eov.slis.geometry import box_iou, clip_box, clip_polygon, object_points

from .polyiou import polygon_iou


def clipped_iou(pred: dict, truth: dict, image_size: Sequence[float]) -> float:
    """IoU of a predicted box (clipped to the image) with a target box.

    Args:
        pred: An ``hbb``/``obb``/``quad`` object (pixels), e.g. a parsed answer.
        truth: The target ``hbb``/``obb``/``quad`` object (not clipped).
        image_size: ``(W, H)``.

    Two ``hbb`` boxes: :func:`~eov.slis.geometry.box_iou` of the clipped
    prediction; otherwise the DOTA devkit's polygon IoU
    (:func:`~eov.scoring.polyiou.polygon_iou`) of the prediction's polygon
    clipped to the image and the target's corners.
    """
    width, height = float(image_size[0]), float(image_size[1])
    if pred.get('type') == 'hbb' and truth.get('type') == 'hbb':
        return box_iou(clip_box(pred['bbox'], width, height), truth['bbox'])
    return polygon_iou(clip_polygon(object_points(pred), width, height), object_points(truth))
