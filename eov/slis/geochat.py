"""GeoChat / MiniGPT-v2 text coordinates: ``{<x1><y1><x2><y2>|<θ>}`` on a 0-100 grid."""
from __future__ import annotations

import re

from eov.registry import SERIALIZERS

from .base import BaseSerializer, GroupError, Grid, written_points
from .geometry import normalize_obb, quad_to_obb, wrap_angle

_NUM_RE = re.compile(r'<\s*(-?\d+(?:\.\d+)?)\s*>')
_OPEN_RE = re.compile(r'\{')


@SERIALIZERS.register_module()
class GeoChatTextSerializer(BaseSerializer):
    """Integer coordinates on a 0-100 grid in braces, as GeoChat and MiniGPT-v2 write them.

    ========  ==========================================================
    ``hbb``   ``{<x1><y1><x2><y2>}`` (MiniGPT-v2)
    ``obb``   ``{<x1><y1><x2><y2>|<θ>}`` (GeoChat): the box's extents
              before rotation about its centre, and the angle in degrees
    ``quad``  fitted to a rectangle and written as ``obb``
    ``poly``  ``{<x1><y1><x2><y2><x3><y3>...}`` (>= 3 vertices)
    ``point`` ``{<x><y>}``
    ========  ==========================================================

    Labels are written as ``<p>label</p>`` before the braces (MiniGPT-v2).
    x is scaled by the image width, y by the height, and rounded to the grid,
    so a round trip is exact to half a grid step (``W / 200`` pixels); an
    oriented box keeps its centre and side lengths to half a step each and its
    angle to half a degree. Its extents may leave ``0..100`` near the image
    border and are written as they are.

    Args:
        grid: Grid resolution (100 in GeoChat).
        **kwargs: ``order``, ``with_labels``, ``oriented_as`` of
            :class:`~eov.slis.base.BaseSerializer`.
    """

    label_tags = ('<p>', '</p>')
    separator = ' '

    def __init__(self, grid: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.grid = Grid(int(grid), mode='round')

    def encode_geometry(self, obj, width, height):
        """Serialize one object (see the class table)."""
        kind = obj['type']
        if kind in ('obb', 'quad'):
            cx, cy, w, h, angle = obj['obb'] if kind == 'obb' else quad_to_obb(obj['points'])
            n = self.grid.steps
            # Round the side lengths first, then place them about the centre:
            # centre and size then each stay within half a step.
            wq, hq = round(w / width * n), round(h / height * n)
            x1 = round(cx / width * n - wq / 2)
            y1 = round(cy / height * n - hq / 2)
            theta = int(wrap_angle(round(angle)))
            return f'{{<{x1}><{y1}><{x1 + wq}><{y1 + hq}>|<{theta}>}}'
        return '{' + ''.join(f'<{self.grid.to_index(x, width)}><{self.grid.to_index(y, height)}>'
                             for x, y in written_points(obj)) + '}'

    def find_groups(self, text):
        """``{...}`` fragments (an unclosed one runs to its last ``<n>``)."""
        return self.tagged_groups(text, _OPEN_RE, _NUM_RE, closing='}')

    def parse_group(self, tag, body, width, height):
        """Read the numbers (and the ``|<θ>`` angle) of one ``{...}`` fragment."""
        coords, bar, rest = body.partition('|')
        values = [float(v) for v in _NUM_RE.findall(coords)]
        n = self.grid.steps
        if bar:
            angles = _NUM_RE.findall(rest)
            if len(values) != 4 or len(angles) != 1:
                raise GroupError(f'oriented box {{...|...}} with {len(values)} coordinates and '
                                 f'{len(angles)} angles (need 4 and 1)')
            angle = float(angles[0])
            if not -90 <= angle <= 90:
                raise GroupError(f'angle {angle:g} outside [-90, 90]')
            x1, y1, x2, y2 = values
            cx, cy = (x1 + x2) / 2 / n * width, (y1 + y2) / 2 / n * height
            w, h = abs(x2 - x1) / n * width, abs(y2 - y1) / n * height
            return [{'type': 'obb', 'obb': normalize_obb([cx, cy, w, h, angle])}]
        if not values:
            raise GroupError('{...} without coordinates')
        bad = [v for v in values if not 0 <= v <= n]
        if bad:
            raise GroupError(f'{{...}} coordinates outside 0..{n}: {bad}')
        kind = {2: 'point', 4: 'hbb'}.get(len(values), 'poly')
        scaled = [self.grid.to_pixel(v, width if k % 2 == 0 else height)
                  for k, v in enumerate(values)]
        return [self.geometry_from_points(self.pairs(scaled, '{...}'), kind, '{...}')]
