"""Qwen-VL coordinates: ``<box>(x1,y1),(x2,y2)</box>`` on a 0-1000 grid."""
from __future__ import annotations

import re

from eov.registry import SERIALIZERS

from .base import TAG_KINDS, TAG_OPEN_RE, BaseSerializer, GroupError, Grid, structure_tags

_PAIR_RE = re.compile(r'\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)')


@SERIALIZERS.register_module()
class QwenTextSerializer(BaseSerializer):
    """Integer ``(x,y)`` pairs on a 0-1000 grid inside tags, as Qwen-VL writes them.

    ========  ==========================================================
    ``hbb``   ``<box>(x1,y1),(x2,y2)</box>``
    ``obb``   ``<quad>(x1,y1),(x2,y2),(x3,y3),(x4,y4)</quad>`` (corners)
    ``quad``  as ``obb``
    ``poly``  ``<poly>(x1,y1),(x2,y2),(x3,y3),...</poly>``
    ``point`` ``<point>(x,y)</point>``
    ========  ==========================================================

    Labels are written as ``<ref>label</ref>``. Coordinates are rounded to the
    grid (a round trip is exact to half a step, ``W / 2000`` pixels) and
    clamped to the image.

    Args:
        grid: Grid resolution (1000 in Qwen-VL).
        **kwargs: ``order``, ``with_labels``, ``oriented_as`` of
            :class:`~eov.slis.base.BaseSerializer`.
    """

    def __init__(self, grid: int = 1000, **kwargs):
        super().__init__(**kwargs)
        self.grid = Grid(int(grid), mode='round')

    def special_tokens(self) -> list[str]:
        """The structure tags and ``<ref>``/``</ref>``."""
        return structure_tags()

    def encode_geometry(self, obj, width, height):
        """Serialize one object (see the class table)."""
        return self.encode_tagged(obj, lambda points: ','.join(
            f'({self.grid.to_index(x, width)},{self.grid.to_index(y, height)})'
            for x, y in points))

    def find_groups(self, text):
        """``<box>``/``<quad>``/``<poly>``/``<point>`` fragments."""
        return self.tagged_groups(text, TAG_OPEN_RE, _PAIR_RE)

    def parse_group(self, tag, body, width, height):
        """Read the ``(x,y)`` pairs of one fragment."""
        raw = [(float(x), float(y)) for x, y in _PAIR_RE.findall(body)]
        if not raw:
            raise GroupError(f'<{tag}> without (x,y) pairs')
        n = self.grid.steps
        bad = [p for p in raw if not (0 <= p[0] <= n and 0 <= p[1] <= n)]
        if bad:
            raise GroupError(f'<{tag}> coordinates outside 0..{n}: {bad}')
        points = [[self.grid.to_pixel(x, width), self.grid.to_pixel(y, height)] for x, y in raw]
        return [self.geometry_from_points(points, TAG_KINDS[tag], f'<{tag}>')]
