"""Location-token serialization: ``<box><loc_12><loc_40><loc_88><loc_97></box>``."""
from __future__ import annotations

import re

from eov.registry import SERIALIZERS

from .base import TAG_KINDS, TAG_OPEN_RE, BaseSerializer, GroupError, Grid, structure_tags

_LOC_RE = re.compile(r'<loc_(\d+)>')


@SERIALIZERS.register_module()
class LocTokenSerializer(BaseSerializer):
    """Geometry as quantised location tokens inside structure tags.

    ========  ==========================================================
    ``hbb``   ``<box><loc_x1><loc_y1><loc_x2><loc_y2></box>``
    ``obb``   ``<quad>`` + 8 locs (4 corners) + ``</quad>``
    ``quad``  as ``obb``
    ``poly``  ``<poly>`` + 2 locs per vertex + ``</poly>``; ``<sep>`` inside
              one ``<poly>`` also separates the parts of a region
    ``point`` ``<point><loc_x><loc_y></point>``
    ========  ==========================================================

    A label is written as ``<ref>label</ref>`` before its geometry. Each
    coordinate is quantised to one of ``bins`` tokens along its axis (x by the
    image width, y by the height) and decodes to the centre of its bin, so a
    round trip is exact to half a bin; coordinates outside the image are
    clamped to it.

    Args:
        bins: Number of location tokens per axis.
        **kwargs: ``order``, ``with_labels``, ``oriented_as`` of
            :class:`~eov.slis.base.BaseSerializer`.
    """

    def __init__(self, bins: int = 1000, **kwargs):
        super().__init__(**kwargs)
        if bins < 2:
            raise ValueError(f'LocTokenSerializer needs bins >= 2, got {bins}')
        self.bins = int(bins)
        self.grid = Grid(self.bins, mode='bin')

    # -- vocabulary -----------------------------------------------------------
    def loc_token(self, index: int) -> str:
        """Return the token text of bin ``index``."""
        return f'<loc_{index}>'

    def loc_tokens(self) -> list[str]:
        """Return the location tokens in bin order (an ordinal vocabulary)."""
        return [self.loc_token(i) for i in range(self.bins)]

    def special_tokens(self) -> list[str]:
        """Structure tags, ``<ref>``/``</ref>``, ``<sep>`` and the loc tokens."""
        return structure_tags() + ['<sep>'] + self.loc_tokens()

    # -- encoding -------------------------------------------------------------
    def encode_geometry(self, obj: dict, width: float, height: float) -> str:
        """Serialize one object (see the class table)."""
        return self.encode_tagged(obj, lambda points: ''.join(
            self.loc_token(self.grid.to_index(x, width))
            + self.loc_token(self.grid.to_index(y, height)) for x, y in points))

    # -- decoding -------------------------------------------------------------
    def find_groups(self, text):
        """``<box>``/``<quad>``/``<poly>``/``<point>`` fragments."""
        return self.tagged_groups(text, TAG_OPEN_RE, _LOC_RE)

    def parse_group(self, tag, body, width, height):
        """Read the loc tokens of one fragment (``<sep>`` splits polygons)."""
        parts = body.split('<sep>') if tag == 'poly' else [body]
        objects = []
        for part in parts:
            idx = [int(m) for m in _LOC_RE.findall(part)]
            bad = [i for i in idx if i >= self.bins]
            if bad:
                raise GroupError(f'<{tag}> with location tokens out of range '
                                 f'0..{self.bins - 1}: {bad}')
            if not idx:
                raise GroupError(f'<{tag}> without location tokens')
            values = [self.grid.to_pixel(i, width if k % 2 == 0 else height)
                      for k, i in enumerate(idx)]
            objects.append(self.geometry_from_points(
                self.pairs(values, f'<{tag}>'), TAG_KINDS[tag], f'<{tag}>'))
        return objects
