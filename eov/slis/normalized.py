"""Normalised decimal coordinates: ``[0.123, 0.456, 0.789, 0.900]`` (EarthGPT style)."""
from __future__ import annotations

import re

from eov.registry import SERIALIZERS

from .base import BaseSerializer, GroupError, Grid, written_points

_NUM_RE = re.compile(r'-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?')


def _bracket_groups(text: str):
    """Top-level ``[...]`` spans; an unclosed one runs to its last number."""
    i, n = 0, len(text)
    while i < n:
        start = text.find('[', i)
        if start < 0:
            return
        depth, j = 0, start
        while j < n:
            if text[j] == '[':
                depth += 1
            elif text[j] == ']':
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j < n:
            end, body = j + 1, text[start + 1:j]
        else:
            numbers = list(_NUM_RE.finditer(text, start))
            end = numbers[-1].end() if numbers else start + 1
            body = text[start + 1:end]
        yield start, end, 'nested' if '[' in body else 'flat', body
        i = end if j < n else n   # an unclosed span runs to the end of the text


@SERIALIZERS.register_module()
class NormalizedTextSerializer(BaseSerializer):
    """Coordinates as decimals in [0, 1] in square brackets.

    ========  ==========================================================
    ``hbb``   ``[x1, y1, x2, y2]``
    ``obb``   ``[x1, y1, x2, y2, x3, y3, x4, y4]`` (4 corners)
    ``quad``  as ``obb``
    ``poly``  ``[[x1, y1], [x2, y2], [x3, y3], ...]``
    ``point`` ``[x, y]``
    ========  ==========================================================

    x is divided by the image width, y by the height, and written with
    ``precision`` decimals (a round trip is exact to half a unit in the last
    decimal); values outside the image are clamped. Labels are written as
    ``<ref>label</ref>``; objects are separated by a space.

    Args:
        precision: Decimals per coordinate.
        **kwargs: ``order``, ``with_labels``, ``oriented_as`` of
            :class:`~eov.slis.base.BaseSerializer`.
    """

    separator = ' '

    def __init__(self, precision: int = 3, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= int(precision) <= 8:
            raise ValueError(f'precision must be in 1..8, got {precision}')
        self.precision = int(precision)
        self.grid = Grid(10 ** self.precision, mode='round')

    def _fmt(self, value: float, extent: float) -> str:
        return f'{self.grid.to_index(value, extent) / self.grid.steps:.{self.precision}f}'

    def _flat(self, points, width, height) -> str:
        return '[' + ', '.join(f'{self._fmt(x, width)}, {self._fmt(y, height)}'
                               for x, y in points) + ']'

    def encode_geometry(self, obj, width, height):
        """Serialize one object (see the class table)."""
        points = written_points(obj)
        if obj['type'] != 'poly':
            return self._flat(points, width, height)
        return '[' + ', '.join(self._flat([p], width, height) for p in points) + ']'

    def find_groups(self, text):
        """Top-level ``[...]`` fragments."""
        return _bracket_groups(text)

    def parse_group(self, tag, body, width, height):
        """Read the decimals of one ``[...]`` fragment."""
        values = [float(v) for v in _NUM_RE.findall(body)]
        if not values:
            raise GroupError('[...] without numbers')
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise GroupError(f'[...] values outside [0, 1]: {bad}')
        scaled = [v * (width if k % 2 == 0 else height) for k, v in enumerate(values)]
        points = self.pairs(scaled, '[...]')
        if tag == 'nested':
            return [self.geometry_from_points(points, 'poly', '[[x, y], ...]')]
        kind = {1: 'point', 2: 'hbb', 4: 'quad'}.get(len(points))
        if kind is None:
            raise GroupError(f'[...] with {len(values)} numbers (need 2, 4 or 8; '
                             'polygons are [[x, y], ...])')
        return [self.geometry_from_points(points, kind, '[...]')]
