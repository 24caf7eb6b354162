"""The SLIS serializer protocol: structured geometry <-> answer text.

A serializer turns objects of the schema in :mod:`eov.slis.geometry` into
answer text (``encode``) and reads model text back (``decode``). Decoding never
raises: it returns a :class:`DecodeResult` -- the objects that parsed, plus one
message per fragment that looked spatial but did not parse.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterator

from .geometry import OBJECT_ORDERS, check_object, obb_to_quad, quad_to_obb, sort_objects

#: How decoded oriented boxes are returned.
ORIENTED_FORMS = ('obb', 'quad')
#: Structure tags of the tagged formats (LocToken, Qwen): geometry type -> tag.
GEOMETRY_TAGS = {'hbb': 'box', 'obb': 'quad', 'quad': 'quad', 'poly': 'poly', 'point': 'point'}
#: Tag -> the geometry type a decoded fragment becomes (oriented boxes as their corners).
TAG_KINDS = {'box': 'hbb', 'quad': 'quad', 'poly': 'poly', 'point': 'point'}
#: Opening structure tags of the tagged formats.
TAG_OPEN_RE = re.compile(r'<(box|quad|poly|point)>')


def structure_tags() -> list[str]:
    """Opening and closing structure tags plus ``<ref>``/``</ref>`` (tagged formats)."""
    return [tag for name in ('box', 'quad', 'poly', 'point', 'ref')
            for tag in (f'<{name}>', f'</{name}>')]


def written_points(obj: dict) -> list:
    """The points a format writes for an object: two corners of an ``hbb``, four of an
    ``obb``/``quad``, a polygon's vertices, the ``point``."""
    kind = obj['type']
    if kind == 'hbb':
        x1, y1, x2, y2 = obj['bbox']
        return [(x1, y1), (x2, y2)]
    if kind == 'obb':
        return obb_to_quad(obj['obb'])
    if kind == 'point':
        return [obj['point']]
    return obj['points']


class DecodeResult(list):
    """The objects a serializer read back, with the fragments it could not read.

    It is a ``list`` of objects (so ``decode(...)`` can be used as a list)
    with an ``errors`` attribute.

    Attributes:
        errors: One short message per fragment that looked spatial but did
            not parse (truncated, out of range, wrong arity, ...).
    """

    def __init__(self, objects=(), errors=()):
        super().__init__(objects)
        self.errors: list[str] = list(errors)

    @property
    def objects(self) -> list[dict]:
        """The decoded objects (the list itself)."""
        return self

    @property
    def ok(self) -> bool:
        """True when at least one object parsed and nothing failed."""
        return bool(self) and not self.errors

    @property
    def parse_rate(self) -> float:
        """Parsed fragments / all spatial fragments (1.0 when there were none)."""
        total = len(self) + len(self.errors)
        return len(self) / total if total else 1.0

    def __repr__(self) -> str:
        return f'DecodeResult(objects={list(self)!r}, errors={self.errors!r})'


class GroupError(ValueError):
    """One spatial fragment of model text could not be read."""


@dataclass
class Grid:
    """Quantisation of a pixel coordinate onto an integer grid along one axis.

    Args:
        steps: Grid resolution ``N``.
        mode: ``'bin'`` -- ``N`` bins, index ``floor(v / extent * N)`` in
            ``0..N-1``, decoded to the bin centre (location tokens);
            ``'round'`` -- ``N + 1`` grid points, index ``round(v / extent * N)``
            in ``0..N``, decoded to the grid point (text coordinates).
        Either way a round trip is exact to half a step, ``extent / (2 N)``.
    """

    steps: int
    mode: str = 'round'

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f'a grid needs at least 1 step, got {self.steps}')
        if self.mode not in ('bin', 'round'):
            raise ValueError(f"grid mode must be 'bin' or 'round', got {self.mode!r}")

    @property
    def max_index(self) -> int:
        """The largest valid index."""
        return self.steps - 1 if self.mode == 'bin' else self.steps

    def to_index(self, value: float, extent: float, clamp: bool = True) -> int:
        """Quantise a pixel coordinate on an axis of length ``extent``."""
        if not math.isfinite(value):
            raise ValueError(f'coordinate {value!r} is not finite')
        scaled = value / extent * self.steps
        index = math.floor(scaled) if self.mode == 'bin' else math.floor(scaled + 0.5)
        return min(max(index, 0), self.max_index) if clamp else index

    def to_pixel(self, index: float, extent: float) -> float:
        """Map an index back to a pixel coordinate."""
        return (index + 0.5) / self.steps * extent if self.mode == 'bin' \
            else index / self.steps * extent

    def half_step(self, extent: float) -> float:
        """The round-trip tolerance on an axis of length ``extent``."""
        return extent / (2 * self.steps)


def check_image_size(image_size) -> tuple[float, float]:
    """Validate ``(W, H)``; both must be finite and positive."""
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f'image_size must be (W, H), got {image_size!r}') from None
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        raise ValueError(f'image_size must be positive (W, H), got {image_size!r}')
    return width, height


class BaseSerializer:
    """Turns structured spatial targets into text and back.

    Subclasses write one object with :meth:`encode_geometry`, find spatial
    fragments with :meth:`find_groups` and read one with :meth:`parse_group`;
    this class handles validation, ordering, labels and error collection.

    Args:
        order: Order of several objects: ``'reading'`` (top-to-bottom, then
            left-to-right), ``'area'`` (largest first) or ``'given'``.
        with_labels: Write each object's ``label`` before its geometry.
        oriented_as: Return decoded oriented boxes as ``'obb'``
            (``[cx, cy, w, h, angle]``) or ``'quad'`` (4 corners).
    """

    #: Label markup (opening, closing); formats with no label markup leave it None.
    label_tags: tuple[str, str] | None = ('<ref>', '</ref>')
    #: String placed between serialized objects.
    separator = ''

    def __init__(self, order: str = 'reading', with_labels: bool = True,
                 oriented_as: str = 'obb'):
        if order not in OBJECT_ORDERS:
            raise ValueError(f'order must be one of {OBJECT_ORDERS}, got {order!r}')
        if oriented_as not in ORIENTED_FORMS:
            raise ValueError(f'oriented_as must be one of {ORIENTED_FORMS}, got {oriented_as!r}')
        self.order = order
        self.with_labels = with_labels
        self.oriented_as = oriented_as

    # -- to implement ---------------------------------------------------------
    def encode_geometry(self, obj: dict, width: float, height: float) -> str:
        """Serialize one validated object (no label)."""
        raise NotImplementedError

    def find_groups(self, text: str) -> Iterator[tuple[int, int, str, str]]:
        """Yield ``(start, end, tag, body)`` for each spatial fragment of ``text``."""
        raise NotImplementedError

    def parse_group(self, tag: str, body: str, width: float, height: float) -> list[dict]:
        """Read one fragment into objects; raise :class:`GroupError` if it is malformed."""
        raise NotImplementedError

    def special_tokens(self) -> list[str]:
        """Tokens that must be added to a tokenizer for this format."""
        return []

    # -- protocol -------------------------------------------------------------
    def encode(self, objects: list[dict], image_size: tuple[int, int]) -> str:
        """Serialize objects.

        Args:
            objects: Objects of the SLIS schema, in pixels of ``image_size``.
            image_size: ``(W, H)`` of the image the coordinates refer to.

        Returns:
            The answer text, objects in this serializer's ``order``.

        Raises:
            ValueError: naming the object index and what is wrong with it.
        """
        width, height = check_image_size(image_size)
        if isinstance(objects, dict):
            objects = [objects]
        checked = []
        for i, obj in enumerate(objects):
            try:
                checked.append(check_object(obj))
            except ValueError as exc:
                raise ValueError(f'{type(self).__name__}: object {i}: {exc}') from None
        return self.separator.join(self.encode_label(obj) + self.encode_geometry(obj, width, height)
                                   for obj in sort_objects(checked, self.order))

    def encode_tagged(self, obj: dict, write_points) -> str:
        """``<tag>`` + ``write_points(points)`` + ``</tag>`` (see :data:`GEOMETRY_TAGS`)."""
        tag = GEOMETRY_TAGS[obj['type']]
        return f'<{tag}>{write_points(written_points(obj))}</{tag}>'

    def encode_label(self, obj: dict) -> str:
        """The label markup for ``obj`` ('' when labels are off or absent)."""
        label = obj.get('label')
        if not (self.with_labels and label and self.label_tags):
            return ''
        opening, closing = self.label_tags
        if any(t in label for t in (opening, closing)) or '<' in label or '{' in label \
                or '[' in label:
            raise ValueError(f'{type(self).__name__}: label {label!r} contains markup '
                             'characters (<, {, [) that would break decoding')
        return f'{opening}{label}{closing}'

    def decode(self, text: str, image_size: tuple[int, int]) -> DecodeResult:
        """Parse every spatial fragment of ``text``; never raises.

        Args:
            text: Raw model output.
            image_size: ``(W, H)`` the coordinates are scaled to.

        Returns:
            A :class:`DecodeResult`; malformed fragments are skipped and
            reported in ``errors``.
        """
        result = DecodeResult()
        if not isinstance(text, str):
            result.errors.append(f'expected text, got {type(text).__name__}')
            return result
        try:
            width, height = check_image_size(image_size)
        except ValueError as exc:
            result.errors.append(str(exc))
            return result
        try:
            previous_end = 0
            for start, end, tag, body in self.find_groups(text):
                try:
                    objects = self.parse_group(tag, body, width, height)
                except GroupError as exc:
                    result.errors.append(str(exc))
                else:
                    label = self.find_label(text[previous_end:start])
                    for obj in objects:
                        obj = self._orient(obj)
                        if label is not None:
                            obj['label'] = label
                        result.append(obj)
                previous_end = max(previous_end, end)
        except Exception as exc:  # noqa: BLE001 -- decoding must never raise
            result.errors.append(f'decoder failure: {type(exc).__name__}: {exc}')
        return result

    # -- helpers for subclasses ----------------------------------------------
    def find_label(self, between: str) -> str | None:
        """The last complete label markup in ``between`` (text before a fragment)."""
        if not self.label_tags:
            return None
        opening, closing = self.label_tags
        end = between.rfind(closing)
        start = between.rfind(opening, 0, end) if end >= 0 else -1
        if start < 0:
            return None
        return between[start + len(opening):end].strip()

    def _orient(self, obj: dict) -> dict:
        if obj['type'] == 'quad' and self.oriented_as == 'obb':
            return {'type': 'obb', 'obb': quad_to_obb(obj['points'])}
        if obj['type'] == 'obb' and self.oriented_as == 'quad':
            return {'type': 'quad', 'points': obb_to_quad(obj['obb'])}
        return obj

    @staticmethod
    def tagged_groups(text: str, open_re: re.Pattern, number_re: re.Pattern,
                      closing: str | None = None) -> Iterator[tuple[int, int, str, str]]:
        """Find fragments that start with ``open_re`` and end with a closer.

        A fragment's body runs to its closer (``closing``, or ``'</tag>'``
        when ``open_re`` captures a tag name); when the closer is missing
        (truncated output, nested openers), it runs to the last number token
        before the next opener or the end of the text.
        """
        openers = list(open_re.finditer(text))
        for i, match in enumerate(openers):
            tag = match.group(1) if match.groups() else ''
            close = closing if closing is not None else f'</{tag}>'
            stop = openers[i + 1].start() if i + 1 < len(openers) else len(text)
            at = text.find(close, match.end(), stop)
            if at >= 0:
                yield match.start(), at + len(close), tag, text[match.end():at]
                continue
            numbers = list(number_re.finditer(text, match.end(), stop))
            end = numbers[-1].end() if numbers else match.end()
            yield match.start(), end, tag, text[match.end():end]

    @staticmethod
    def pairs(values: list[float], what: str) -> list[list[float]]:
        """Group a flat list ``[x, y, x, y, ...]`` into points."""
        if len(values) % 2:
            raise GroupError(f'{what} with an odd number of coordinates ({len(values)})')
        return [[values[i], values[i + 1]] for i in range(0, len(values), 2)]

    @staticmethod
    def geometry_from_points(points: list[list[float]], kind: str, what: str) -> dict:
        """Build a hbb/quad/poly/point object from decoded points, checking arity."""
        need = {'hbb': 2, 'quad': 4, 'point': 1}
        if kind in need and len(points) != need[kind]:
            raise GroupError(f'{what} with {2 * len(points)} coordinates '
                             f'(need {2 * need[kind]})')
        if kind == 'hbb':
            (xa, ya), (xb, yb) = points
            return {'type': 'hbb', 'bbox': [min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)]}
        if kind == 'point':
            return {'type': 'point', 'point': points[0]}
        if kind == 'poly' and len(points) < 3:
            raise GroupError(f'{what} with {len(points)} vertices (need at least 3)')
        return {'type': kind, 'points': points}
