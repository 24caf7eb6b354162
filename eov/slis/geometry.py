"""The object schema shared by all serializers, and geometry helpers.

Objects are dicts in pixel coordinates of the image the model sees (origin
top-left, x right, y down):

- ``{'type': 'hbb', 'bbox': [x1, y1, x2, y2]}``
- ``{'type': 'obb', 'obb': [cx, cy, w, h, angle_deg]}``: long-side form
  (``w >= h``), ``angle`` in ``[-90, 90)`` measured from +x towards +y
  (clockwise on screen);
- ``{'type': 'quad', 'points': [[x, y]] * 4}``: the 4-corner form;
- ``{'type': 'poly', 'points': [[x, y], ...]}`` (>= 3 vertices; a multi-part
  region is several polys);
- ``{'type': 'point', 'point': [x, y]}``.

Any object may carry ``label`` (class name or referring phrase) and ``score``.
"""
from __future__ import annotations

import math
from typing import Sequence

#: Geometry types every serializer accepts.
GEOMETRY_TYPES = ('hbb', 'obb', 'quad', 'poly', 'point')
#: Ways to order several objects before serialization.
OBJECT_ORDERS = ('reading', 'area', 'given')


def _finite(values, what: str) -> list[float]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f'{what} must hold finite numbers, got {values!r}')
        out.append(float(v))
    return out


def _points(obj: dict, min_points: int, exact: int | None = None) -> list[list[float]]:
    pts = obj.get('points')
    kind = obj['type']
    if not isinstance(pts, (list, tuple)) or (exact is not None and len(pts) != exact) \
            or len(pts) < min_points:
        need = f'exactly {exact}' if exact is not None else f'at least {min_points}'
        raise ValueError(f"a {kind!r} object needs {need} [x, y] points, got {pts!r}")
    out = []
    for p in pts:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f'{kind!r} points must be [x, y] pairs, got {p!r}')
        out.append(_finite(p, f'{kind!r} points'))
    return out


def check_object(obj: dict) -> dict:
    """Validate one geometry object and return a clean copy.

    Args:
        obj: An object of the schema above.

    Returns:
        A new dict with float coordinates, an ``hbb`` with ordered corners,
        an ``obb`` in canonical long-side form, and a stripped ``label``.

    Raises:
        ValueError: naming the type or key that is wrong.
    """
    if not isinstance(obj, dict):
        raise ValueError(f'an object must be a dict, got {obj!r}')
    kind = obj.get('type')
    if kind not in GEOMETRY_TYPES:
        raise ValueError(f'object type {kind!r} is not one of {", ".join(GEOMETRY_TYPES)}')
    out = {'type': kind}
    if kind == 'hbb':
        box = obj.get('bbox')
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            raise ValueError(f"an 'hbb' object needs bbox [x1, y1, x2, y2], got {box!r}")
        x1, y1, x2, y2 = _finite(box, "'hbb' bbox")
        out['bbox'] = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
    elif kind == 'obb':
        params = obj.get('obb')
        if not isinstance(params, (list, tuple)) or len(params) != 5:
            raise ValueError(f"an 'obb' object needs obb [cx, cy, w, h, angle], got {params!r}")
        cx, cy, w, h, a = _finite(params, "'obb' obb")
        if w < 0 or h < 0:
            raise ValueError(f"'obb' width and height must be >= 0, got {params!r}")
        out['obb'] = normalize_obb([cx, cy, w, h, a])
    elif kind == 'quad':
        out['points'] = _points(obj, 4, exact=4)
    elif kind == 'poly':
        out['points'] = _points(obj, 3)
    else:
        pt = obj.get('point')
        if not isinstance(pt, (list, tuple)) or len(pt) != 2:
            raise ValueError(f"a 'point' object needs point [x, y], got {pt!r}")
        out['point'] = _finite(pt, "'point' point")
    if obj.get('label') is not None:
        out['label'] = str(obj['label']).strip()
    if obj.get('score') is not None:
        out['score'] = float(obj['score'])
    return out


def wrap_angle(angle: float) -> float:
    """Wrap an angle in degrees into ``[-90, 90)`` (a box is symmetric under 180°)."""
    a = math.fmod(angle + 90.0, 180.0)
    if a < 0:
        a += 180.0
    a -= 90.0
    # fmod can land exactly on +90 through rounding
    return -90.0 if a >= 90.0 else a


def normalize_obb(obb: Sequence[float]) -> list[float]:
    """Return the long-side form ``[cx, cy, w, h, angle]`` with ``w >= h``, angle in [-90, 90)."""
    cx, cy, w, h, a = (float(v) for v in obb)
    if h > w:
        w, h, a = h, w, a + 90.0
    return [cx, cy, w, h, wrap_angle(a)]


def obb_to_quad(obb: Sequence[float]) -> list[list[float]]:
    """Corners of an oriented box, in order around the box.

    The first corner is the one at ``-w/2, -h/2`` in the box's own frame; the
    order then follows the long side first.
    """
    cx, cy, w, h, a = (float(v) for v in obb)
    c, s = math.cos(math.radians(a)), math.sin(math.radians(a))
    ux, uy = c * w / 2, s * w / 2        # half long side
    vx, vy = -s * h / 2, c * h / 2       # half short side
    return [[cx - ux - vx, cy - uy - vy], [cx + ux - vx, cy + uy - vy],
            [cx + ux + vx, cy + uy + vy], [cx - ux + vx, cy - uy + vy]]


def quad_to_obb(points: Sequence[Sequence[float]]) -> list[float]:
    """Fit a long-side oriented box to four corners given in order around the box.

    Exact for rectangles; for other quadrilaterals the centre is the corners'
    mean, the side lengths the means of opposite sides, and the angle the mean
    direction of the first and third sides.
    """
    p = [(float(x), float(y)) for x, y in points]
    cx = sum(x for x, _ in p) / 4
    cy = sum(y for _, y in p) / 4
    e = [(p[(i + 1) % 4][0] - p[i][0], p[(i + 1) % 4][1] - p[i][1]) for i in range(4)]
    length = [math.hypot(dx, dy) for dx, dy in e]
    w = (length[0] + length[2]) / 2
    h = (length[1] + length[3]) / 2
    # side 0 and the reversed side 2 point the same way in a parallelogram
    dx, dy = e[0][0] - e[2][0], e[0][1] - e[2][1]
    if dx == 0 and dy == 0:
        dx, dy = e[3][1] - e[1][1], e[1][0] - e[3][0]  # side 1 turned back by 90°
        if dx == 0 and dy == 0:
            dx, dy = 1.0, 0.0
    return normalize_obb([cx, cy, w, h, math.degrees(math.atan2(dy, dx))])


def object_points(obj: dict) -> list[list[float]]:
    """The points that define an object (corners for boxes)."""
    kind = obj['type']
    if kind == 'hbb':
        x1, y1, x2, y2 = obj['bbox']
        return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]
    if kind == 'obb':
        return obb_to_quad(obj['obb'])
    if kind == 'point':
        return [list(obj['point'])]
    return [list(p) for p in obj['points']]


def object_bounds(obj: dict) -> tuple[float, float, float, float]:
    """Axis-aligned bounds ``(x1, y1, x2, y2)`` of any object."""
    pts = object_points(obj)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def object_area(obj: dict) -> float:
    """Area in square pixels (0 for points)."""
    kind = obj['type']
    if kind == 'point':
        return 0.0
    if kind == 'obb':
        return obj['obb'][2] * obj['obb'][3]
    pts = object_points(obj)
    twice = sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1]
                for i in range(len(pts)))
    return abs(twice) / 2


def sort_objects(objects: list[dict], order: str) -> list[dict]:
    """Order objects deterministically.

    Args:
        objects: Objects of the schema.
        order: ``'reading'`` (top to bottom, then left to right, by each
            object's bounds), ``'area'`` (largest first, ties in reading
            order) or ``'given'`` (unchanged).

    Returns:
        A new list.
    """
    if order == 'given':
        return list(objects)
    if order == 'reading':
        return sorted(objects, key=lambda o: (object_bounds(o)[1], object_bounds(o)[0]))
    if order == 'area':
        return sorted(objects, key=lambda o: (-object_area(o), object_bounds(o)[1],
                                              object_bounds(o)[0]))
    raise ValueError(f'object order must be one of {OBJECT_ORDERS}, got {order!r}')


#: Outcomes of :func:`fit_to_image`.
FIT_INSIDE, FIT_CLIPPED = 'inside', 'clipped'


def fit_to_image(obj: dict, image_size: Sequence[float]) -> tuple[dict, str]:
    """Apply eov's policy for a target that leaves its image.

    - inside: returned unchanged (``'inside'``);
    - partly outside: clipped to the image -- box corners / polygon, quad and
      point coordinates clamped to ``[0, W] x [0, H]``; an oriented box whose
      centre is inside keeps its size (the serializer clamps its corners)
      (``'clipped'``);
    - wholly outside, or of zero area (inside the image): ``ValueError``
      saying which -- a record that would otherwise train on ``<loc_31>`` x 4
      or ``<loc_0>`` x 4 targets.

    Args:
        obj: A geometry object (see the module docstring).
        image_size: ``(W, H)``.

    Returns:
        ``(object, outcome)``.
    """
    w, h = float(image_size[0]), float(image_size[1])
    kind = obj.get('type')
    if kind not in GEOMETRY_TYPES:
        return obj, FIT_INSIDE
    x1, y1, x2, y2 = object_bounds(obj)
    if kind == 'point':
        (x, y), = [obj['point']]
        if not (0 <= x <= w and 0 <= y <= h):
            raise ValueError(f'point {[x, y]} is outside the {w:g}x{h:g} image')
        return obj, FIT_INSIDE
    if x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
        raise ValueError(f'{kind} with bounds {[round(v, 2) for v in (x1, y1, x2, y2)]} lies '
                         f'wholly outside the {w:g}x{h:g} image')
    if object_area(obj) <= 0:
        raise ValueError(f'{kind} with bounds {[round(v, 2) for v in (x1, y1, x2, y2)]} has '
                         'zero area')
    if x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h:
        return obj, FIT_INSIDE
    out = dict(obj)
    if kind == 'hbb':
        bx1, by1, bx2, by2 = obj['bbox']
        out['bbox'] = [min(max(bx1, 0.0), w), min(max(by1, 0.0), h),
                       min(max(bx2, 0.0), w), min(max(by2, 0.0), h)]
    elif kind in ('quad', 'poly'):
        out['points'] = [[min(max(px, 0.0), w), min(max(py, 0.0), h)]
                         for px, py in obj['points']]
    elif kind == 'obb':
        cx, cy = obj['obb'][:2]
        if not (0 <= cx <= w and 0 <= cy <= h):
            raise ValueError(f'obb centre {[cx, cy]} is outside the {w:g}x{h:g} image')
        return obj, FIT_CLIPPED
    if object_area(out) <= 0:
        raise ValueError(f'{kind} has zero area inside the {w:g}x{h:g} image once clipped')
    return out, FIT_CLIPPED
