"""The object schema shared by all serializers, and the one home of object geometry.

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

Areas (shoelace), box IoU and clipping to the image are written here once;
shapely does the general polygon work (:func:`object_polygon`,
:func:`shape_iou`; imported on first use). The DOTA devkit's hand-written
polygon IoU, which official scores must match bit for bit, is the one
exception: it lives in :mod:`eov.scoring.polyiou`.
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


def _fixed(obj: dict, key: str, form: str) -> list[float]:
    """``obj[key]``, a list of ``form``'s length, as finite floats."""
    value, kind = obj.get(key), obj['type']
    if not isinstance(value, (list, tuple)) or len(value) != form.count(',') + 1:
        article = 'a' if kind == 'point' else 'an'
        raise ValueError(f"{article} {kind!r} object needs {key} {form}, got {value!r}")
    return _finite(value, f"{kind!r} {key}")


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
        x1, y1, x2, y2 = _fixed(obj, 'bbox', '[x1, y1, x2, y2]')
        out['bbox'] = [min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)]
    elif kind == 'obb':
        cx, cy, w, h, a = _fixed(obj, 'obb', '[cx, cy, w, h, angle]')
        if w < 0 or h < 0:
            raise ValueError(f"'obb' width and height must be >= 0, got {obj['obb']!r}")
        out['obb'] = normalize_obb([cx, cy, w, h, a])
    elif kind == 'quad':
        out['points'] = _points(obj, 4, exact=4)
    elif kind == 'poly':
        out['points'] = _points(obj, 3)
    else:
        out['point'] = _fixed(obj, 'point', '[x, y]')
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
    xs, ys = zip(*object_points(obj))
    return min(xs), min(ys), max(xs), max(ys)


def object_area(obj: dict) -> float:
    """Area in square pixels (0 for points)."""
    kind = obj['type']
    if kind == 'point':
        return 0.0
    if kind == 'obb':
        return obj['obb'][2] * obj['obb'][3]
    return polygon_area(object_points(obj))


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


# -- areas, boxes, clipping -------------------------------------------------------
def signed_area(points: Sequence[Sequence[float]]) -> float:
    """Signed area of a polygon (shoelace formula): one winding positive, the other negative.

    0 for fewer than 3 points.
    """
    pts = [(float(x), float(y)) for x, y in points]
    n = len(pts)
    twice = 0.0
    for i in range(n):
        (x, y), (nx, ny) = pts[i], pts[(i + 1) % n]
        twice += x * ny - nx * y
    return twice / 2


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Unsigned area of a simple polygon (:func:`signed_area`; 0 below 3 points)."""
    return abs(signed_area(points))


def box_iou(a, b) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes (0 when the union is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def clip_box(box, width: float, height: float) -> list[float]:
    """Clamp a box to the image ``[0, W] x [0, H]``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = float(width), float(height)
    return [min(max(x1, 0.0), w), min(max(y1, 0.0), h), min(max(x2, 0.0), w), min(max(y2, 0.0), h)]


def clip_polygon(points: Sequence[Sequence[float]], width: float,
                 height: float) -> list[tuple[float, float]]:
    """The part of a polygon inside the image ``[0, W] x [0, H]`` (Sutherland-Hodgman).

    Returns the clipped polygon's points, without repeats (empty when
    nothing is inside). Hand-written rather than shapely's ``clip_by_rect``:
    eov's grounding IoU sums over these points in this order, and scores must
    not move by a rounding when shapely changes.
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


# -- shapely -------------------------------------------------------------------
def largest_polygon(geom):
    """The largest polygon of any shapely geometry (an empty Polygon if none)."""
    from shapely.geometry import Polygon
    if geom is None or geom.is_empty:
        return Polygon()
    if geom.geom_type == 'Polygon':
        return geom
    polys = []
    for g in getattr(geom, 'geoms', []):
        if g.geom_type == 'Polygon':
            polys.append(g)
        elif g.geom_type in ('MultiPolygon', 'GeometryCollection'):
            polys.append(largest_polygon(g))
    polys = [p for p in polys if not p.is_empty]
    return max(polys, key=lambda p: p.area) if polys else Polygon()


def object_polygon(obj: dict):
    """The shapely polygon of an object.

    ``hbb``/``obb``/``quad``/``poly`` give a Polygon (a self-intersecting ring
    is repaired with ``shapely.make_valid`` and its largest part kept; a
    degenerate one gives an empty Polygon). A ``point`` has no area and gives
    ``None``.

    Args:
        obj: An object of the schema.

    Returns:
        ``shapely.geometry.Polygon`` or ``None`` for points.
    """
    import shapely
    from shapely.geometry import Polygon
    kind = obj.get('type')
    if kind == 'point':
        return None
    if kind not in GEOMETRY_TYPES:
        raise ValueError(f'object type {kind!r} is not one of {", ".join(GEOMETRY_TYPES)}')
    pts = [(float(x), float(y)) for x, y in object_points(obj)]
    if len(pts) < 3:
        raise ValueError(f'a {kind!r} object needs at least 3 points, got {len(pts)}')
    poly = Polygon(pts)
    if not poly.is_valid:
        poly = largest_polygon(shapely.make_valid(poly))
    return poly


def shape_iou(a, b) -> float:
    """Intersection over union of two shapely polygons (0 when either is missing or empty)."""
    if a is None or b is None or a.is_empty or b.is_empty:
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union > 0 else 0.0


def overlap_of_smaller(a, b) -> float:
    """Intersection of two shapely polygons over the smaller one's area (0 when empty)."""
    if a is None or b is None or a.is_empty or b.is_empty:
        return 0.0
    smaller = min(a.area, b.area)
    return float(a.intersection(b).area / smaller) if smaller > 0 else 0.0
