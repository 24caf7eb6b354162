"""Box and polygon geometry used by the metrics.

Boxes are ``[x1, y1, x2, y2]`` in pixels; polygons are lists of ``[x, y]``
points (either winding). :func:`clipped_iou` is the IoU of a predicted box
with a target box that every eov grounding score goes through: the
prediction is clipped to the image first, axis-aligned pairs use
:func:`box_iou`, and a pair with an oriented box (``obb``/``quad``) the exact
polygon IoU (:func:`polygon_iou`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def box_iou(a, b) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes (0 when the union is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def clip_box(box, width: float, height: float) -> list[float]:
    """Clamp a box to the image ``[0, W] x [0, H]``."""
    x1, y1, x2, y2 = box
    return [float(np.clip(x1, 0, width)), float(np.clip(y1, 0, height)),
            float(np.clip(x2, 0, width)), float(np.clip(y2, 0, height))]


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Unsigned area of a simple polygon (shoelace formula; 0 below 3 points)."""
    pts = [(float(x), float(y)) for x, y in points]
    if len(pts) < 3:
        return 0.0
    twice = sum(pts[i][0] * pts[i - 1][1] - pts[i - 1][0] * pts[i][1] for i in range(len(pts)))
    return abs(twice) / 2.0


def clip_polygon(points: Sequence[Sequence[float]], width: float,
                 height: float) -> list[tuple[float, float]]:
    """The part of a polygon inside the image ``[0, W] x [0, H]`` (Sutherland-Hodgman).

    Returns the clipped polygon's points, without repeats (empty when
    nothing is inside).
    """
    pts = [(float(x), float(y)) for x, y in points]
    # (axis, limit, keep the side where coordinate >= limit?)
    for axis, limit, above in ((0, 0.0, True), (0, float(width), False),
                               (1, 0.0, True), (1, float(height), False)):
        if not pts:
            break

        def inside(p, axis=axis, limit=limit, above=above):
            return p[axis] >= limit if above else p[axis] <= limit

        def cross(p, q, axis=axis, limit=limit):
            t = (limit - p[axis]) / (q[axis] - p[axis])
            other = 1 - axis
            point = [0.0, 0.0]
            point[axis] = limit
            point[other] = p[other] + t * (q[other] - p[other])
            return tuple(point)

        out = []
        for i, cur in enumerate(pts):
            prev = pts[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        # drop repeated points (a corner on the clipping line is met twice)
        pts = [p for i, p in enumerate(out) if i == 0 or p != out[i - 1]]
        while len(pts) > 1 and pts[-1] == pts[0]:
            pts.pop()
    return pts


def polygon_iou(p: Sequence[Sequence[float]], q: Sequence[Sequence[float]]) -> float:
    """Exact IoU of two simple polygons (any number of points, either winding).

    The intersection is the DOTA devkit's sum of signed triangle
    intersections fanned out from the origin (exact for simple polygons,
    convex or not); 0 when the union is empty or a polygon has < 3 points.
    """
    from .benchmarks.dota import _signed_area, _triangle_intersection
    ps = [(float(x), float(y)) for x, y in p]
    qs = [(float(x), float(y)) for x, y in q]
    if len(ps) < 3 or len(qs) < 3:
        return 0.0
    if _signed_area(ps) < 0:
        ps.reverse()
    if _signed_area(qs) < 0:
        qs.reverse()
    inter = 0.0
    for i in range(len(ps)):
        for j in range(len(qs)):
            inter += _triangle_intersection(ps[i], ps[(i + 1) % len(ps)],
                                            qs[j], qs[(j + 1) % len(qs)])
    union = abs(_signed_area(ps)) + abs(_signed_area(qs)) - inter
    return float(inter / union) if union > 0 else 0.0


def clipped_iou(pred: dict, truth: dict, image_size: Sequence[float]) -> float:
    """IoU of a predicted box (clipped to the image) with a target box.

    Args:
        pred: An ``hbb``/``obb``/``quad`` object (pixels), e.g. a parsed answer.
        truth: The target ``hbb``/``obb``/``quad`` object (not clipped).
        image_size: ``(W, H)``.

    Two ``hbb`` boxes: :func:`box_iou` of the clipped prediction; otherwise
    the exact :func:`polygon_iou` of the prediction's polygon clipped to the
    image and the target's corners.
    """
    from eov.slis.geometry import object_points
    width, height = float(image_size[0]), float(image_size[1])
    if pred.get('type') == 'hbb' and truth.get('type') == 'hbb':
        return box_iou(clip_box(pred['bbox'], width, height), truth['bbox'])
    return polygon_iou(clip_polygon(object_points(pred), width, height), object_points(truth))
