"""Binary masks <-> simplified polygons (segmentation and change-mask targets).

Polygons are in pixel coordinates with (0, 0) at the top-left *corner* of the
top-left pixel, so pixel ``(row, col)`` covers ``[col, col+1] x [row, row+1]``
and rasterizing a traced polygon gives back the same pixels. Holes are not
part of the object schema: a region with holes is written as its outer rings
(the IoU lost that way is what :func:`mask_round_trip_iou` reports).
"""
from __future__ import annotations

import math

import numpy as np

from .geometry import object_points, polygon_area

#: Identity affine transform (pixel coordinates) as rasterio's Affine arguments.
_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _rasterio_features():
    try:
        from affine import Affine
        from rasterio import features
    except ImportError as exc:  # pragma: no cover - rasterio is a core dependency
        raise ImportError('mask <-> polygon conversion needs rasterio '
                          '(pip install rasterio)') from exc
    return features, Affine(*_IDENTITY)


def _as_mask(mask) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f'a mask must be 2-D (H, W), got shape {arr.shape}')
    if arr.dtype.kind == 'f' and not np.isfinite(arr).all():
        raise ValueError('a mask must not contain NaN or inf')
    return arr != 0


def _perpendicular_distances(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    norm = math.hypot(*ab)
    if norm == 0:
        return np.hypot(*(points - a).T)
    return np.abs(ab[0] * (points[:, 1] - a[1]) - ab[1] * (points[:, 0] - a[0])) / norm


def _douglas_peucker(points: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify an open polyline, keeping both ends (iterative Douglas-Peucker)."""
    keep = np.zeros(len(points), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        d = _perpendicular_distances(points[i + 1:j], points[i], points[j])
        k = int(np.argmax(d))
        if d[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return points[keep]


def simplify_ring(ring: np.ndarray, tolerance: float) -> np.ndarray:
    """Simplify a closed ring (first point not repeated) with Douglas-Peucker.

    The ring is split at the vertex farthest from its first vertex so both
    halves are simplified as open polylines; collinear vertices always go.

    Args:
        ring: ``(N, 2)`` vertices.
        tolerance: Largest allowed distance (pixels) of a removed vertex from
            the simplified outline; 0 removes only collinear vertices.

    Returns:
        ``(M, 2)`` vertices, ``M <= N``.
    """
    ring = np.asarray(ring, dtype=float)
    if len(ring) <= 3:
        return ring
    far = int(np.argmax(np.hypot(*(ring - ring[0]).T)))
    first = _douglas_peucker(ring[:far + 1], tolerance)
    second = _douglas_peucker(np.vstack([ring[far:], ring[:1]]), tolerance)
    return np.vstack([first, second[1:-1]])


def mask_to_polygons(mask, max_vertices: int = 64, min_area: float = 1.0,
                     connectivity: int = 8, label: str | None = None) -> list[dict]:
    """Trace a binary mask into ``poly`` objects within a vertex budget.

    Args:
        mask: 2-D array (or ``(1, H, W)``); non-zero is foreground.
        max_vertices: Budget of vertices over all polygons. The outline is
            simplified with a growing tolerance until it fits; if even that
            leaves too many polygons, the smallest are dropped.
        min_area: Regions smaller than this (pixels) are dropped.
        connectivity: 4 or 8 (pixel connectivity of regions).
        label: Label put on every polygon.

    Returns:
        ``[{'type': 'poly', 'points': [[x, y], ...], 'label'?}]``, largest first.
    """
    if max_vertices < 3:
        raise ValueError(f'max_vertices must be >= 3, got {max_vertices}')
    features, identity = _rasterio_features()
    fg = _as_mask(mask)
    rings = []
    if fg.any():
        for geom, _ in features.shapes(fg.astype(np.uint8), mask=fg,
                                       connectivity=connectivity, transform=identity):
            outer = np.asarray(geom['coordinates'][0][:-1], dtype=float)
            area = polygon_area(outer)
            if area >= min_area:
                rings.append((area, outer))
    rings.sort(key=lambda r: -r[0])
    rings = rings[:max_vertices // 3]
    tolerance = 0.0
    while True:
        simplified = [simplify_ring(r, tolerance) for _, r in rings]
        simplified = [s for s in simplified if len(s) >= 3]
        total = sum(len(s) for s in simplified)
        if total <= max_vertices:
            break
        tolerance = 0.5 if tolerance == 0 else tolerance * 1.5
        if tolerance > max(fg.shape):      # cannot fit: drop the smallest region
            rings = rings[:-1]
            tolerance = 0.0
    extra = {} if label is None else {'label': label}
    return [{'type': 'poly', 'points': [[float(x), float(y)] for x, y in ring], **extra}
            for ring in simplified]


def polygons_to_mask(objects: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """Rasterize ``poly`` (and ``hbb``/``quad``/``obb``) objects into a mask.

    Args:
        objects: Objects of the SLIS schema in pixel coordinates.
        shape: ``(H, W)`` of the mask.

    Returns:
        ``uint8`` array, 1 where a pixel centre falls inside any object.
    """
    features, identity = _rasterio_features()
    geoms = []
    for obj in objects:
        if obj.get('type') == 'point':
            continue
        pts = [tuple(map(float, p)) for p in object_points(obj)]
        if len(pts) >= 3:
            geoms.append(({'type': 'Polygon', 'coordinates': [pts + [pts[0]]]}, 1))
    height, width = int(shape[0]), int(shape[1])
    if not geoms:
        return np.zeros((height, width), dtype=np.uint8)
    return features.rasterize(geoms, out_shape=(height, width), transform=identity,
                              fill=0, dtype='uint8')


def mask_iou(a, b) -> float:
    """Intersection over union of two binary masks (1.0 when both are empty)."""
    a, b = _as_mask(a), _as_mask(b)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def mask_round_trip_iou(mask, **kwargs) -> float:
    """IoU between a mask and the rasterized result of :func:`mask_to_polygons`."""
    fg = _as_mask(mask)
    return mask_iou(fg, polygons_to_mask(mask_to_polygons(fg, **kwargs), fg.shape))
