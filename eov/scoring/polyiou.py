"""Polygon IoU of the DOTA devkit: a line-by-line port of its ``polyiou.cpp``.

This is a hand-written port and must stay one: the DOTA benchmark's scores
must match the official code **bit for bit** (same operations in the same
order, double precision, the same ``1e-8`` sign tolerance, no epsilon in the
division), which no general geometry library guarantees. Do not replace it
with shapely or simplify the arithmetic; object geometry that needs no
official port lives in :mod:`eov.slis.geometry`.

- :func:`poly_iou`: ``polyiou.iou_poly`` of two quadrilaterals, as the devkit
  (``nan`` for two degenerate quads);
- :func:`polygon_iou`: the same computation for any two simple polygons, 0
  when a polygon has fewer than 3 points or the union is empty. eov's own
  oriented-box IoU (:func:`eov.scoring.iou.clipped_iou`) goes through it, so
  eov's grounding and detection cells measure overlap as the DOTA devkit does.
"""
from __future__ import annotations

import math
from typing import Sequence

_EPS = 1e-8


def _sig(d: float) -> int:
    return (d > _EPS) - (d < -_EPS)


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (b[0] - o[0]) * (a[1] - o[1])


def _area(ps: list) -> float:
    """``area()`` of polyiou.cpp: the signed area, summed in the devkit's order."""
    n = len(ps)
    res = 0.0
    for i in range(n):
        q = ps[i + 1] if i + 1 < n else ps[0]
        res += ps[i][0] * q[1] - ps[i][1] * q[0]
    return res / 2.0


def _same_point(p, q) -> bool:
    return _sig(p[0] - q[0]) == 0 and _sig(p[1] - q[1]) == 0


def _polygon_cut(p: list, a, b) -> list:
    """Keep the part of ``p`` left of the directed line ``a -> b`` (``polygon_cut``)."""
    n = len(p)
    pp = []
    for i in range(n):
        cur, nxt = p[i], p[i + 1] if i + 1 < n else p[0]
        s_cur, s_nxt = _sig(_cross(a, b, cur)), _sig(_cross(a, b, nxt))
        if s_cur > 0:
            pp.append(cur)
        if s_cur != s_nxt:
            # lineCross(a, b, cur, nxt)
            s1, s2 = _cross(a, b, cur), _cross(a, b, nxt)
            if _sig(s2 - s1) == 0:
                # the C++ code leaves this slot as it was (stale memory); the two points
                # lie within 1e-8 of the line, so either one is the crossing
                pp.append(cur)
            else:
                pp.append(((cur[0] * s2 - nxt[0] * s1) / (s2 - s1),
                           (cur[1] * s2 - nxt[1] * s1) / (s2 - s1)))
    out = []
    for i, q in enumerate(pp):
        if i == 0 or not _same_point(q, pp[i - 1]):
            out.append(q)
    while len(out) > 1 and _same_point(out[-1], out[0]):
        out.pop()
    return out


def _triangle_intersection(a, b, c, d) -> float:
    """Signed intersection area of triangles (O, a, b) and (O, c, d), O the origin."""
    o = (0.0, 0.0)
    s1 = _sig(_cross(o, a, b))
    s2 = _sig(_cross(o, c, d))
    if s1 == 0 or s2 == 0:
        return 0.0
    if s1 == -1:
        a, b = b, a
    if s2 == -1:
        c, d = d, c
    p = [o, a, b]
    p = _polygon_cut(p, o, c)
    p = _polygon_cut(p, c, d)
    p = _polygon_cut(p, d, o)
    res = abs(_area(p))
    return -res if s1 * s2 == -1 else res


def _inter_union(ps: list, qs: list) -> tuple[float, float]:
    """``(intersection, union)`` of two polygons (``intersectArea`` and ``iou_poly``)."""
    if _area(ps) < 0:
        ps.reverse()
    if _area(qs) < 0:
        qs.reverse()
    inter = 0.0
    for i in range(len(ps)):
        for j in range(len(qs)):
            inter += _triangle_intersection(ps[i], ps[(i + 1) % len(ps)],
                                            qs[j], qs[(j + 1) % len(qs)])
    return inter, abs(_area(ps)) + abs(_area(qs)) - inter


def poly_iou(p, q) -> float:
    """IoU of two quadrilaterals exactly as the DOTA devkit's ``polyiou.iou_poly``.

    Args:
        p, q: Eight numbers ``x1, y1, ..., x4, y4`` (or four ``[x, y]`` pairs).

    The intersection is the sum of signed intersections of the triangles
    that fan out from the coordinate origin (exact for any simple polygon,
    convex or not); ``iou = inter / (|area p| + |area q| - inter)`` in
    double precision, with no epsilon (``nan`` for two degenerate quads).
    """
    inter, union = _inter_union(_as_quad(p), _as_quad(q))
    if union == 0:
        return math.nan if inter == 0 else math.copysign(math.inf, inter)
    return inter / union


def _as_quad(values) -> list:
    values = list(values)
    if len(values) == 4 and all(isinstance(v, (list, tuple)) for v in values):
        return [(float(x), float(y)) for x, y in values]
    if len(values) != 8:
        raise ValueError(f'a quadrilateral needs 8 numbers or 4 [x, y] pairs, got {values!r}')
    return [(float(values[2 * i]), float(values[2 * i + 1])) for i in range(4)]


def polygon_iou(p: Sequence[Sequence[float]], q: Sequence[Sequence[float]]) -> float:
    """IoU of two simple polygons (any number of ``[x, y]`` points, either winding).

    The devkit's computation of :func:`poly_iou` on any polygons; 0 when the
    union is empty or a polygon has fewer than 3 points.
    """
    ps = [(float(x), float(y)) for x, y in p]
    qs = [(float(x), float(y)) for x, y in q]
    if len(ps) < 3 or len(qs) < 3:
        return 0.0
    inter, union = _inter_union(ps, qs)
    return float(inter / union) if union > 0 else 0.0
