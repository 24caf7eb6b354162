"""Location-token serialization: ``<box><loc_12><loc_40><loc_88><loc_97></box>``."""
from __future__ import annotations

import math
import re

from eov.registry import SERIALIZERS

from .base import BaseSerializer, DecodeResult

_BOX_RE = re.compile(r'<box>(.*?)(?:</box>|(?=<box>)|$)', re.S)
_LOC_RE = re.compile(r'<loc_(\d+)>')
_REF_RE = re.compile(r'<ref>(.*?)</ref>\s*$', re.S)


@SERIALIZERS.register_module()
class LocTokenSerializer(BaseSerializer):
    """Boxes as four quantised location tokens inside ``<box>…</box>``.

    Each coordinate is quantised to one of ``bins`` tokens ``<loc_0>`` …
    ``<loc_{bins-1}>`` along its axis (x by the image width, y by the height);
    a token decodes to the centre of its bin, so a round trip is exact to
    half a bin. A phrase (``label``) is written as ``<ref>phrase</ref>``
    before its box when ``with_ref`` is set.

    Args:
        bins: Number of location tokens per axis.
        with_ref: Write each object's ``label`` as a ``<ref>`` phrase.
    """

    def __init__(self, bins: int = 1000, with_ref: bool = False):
        if bins < 2:
            raise ValueError(f'LocTokenSerializer needs bins >= 2, got {bins}')
        self.bins = int(bins)
        self.with_ref = with_ref

    # -- quantisation -------------------------------------------------------
    def quantize(self, value: float, extent: float) -> int:
        """Map a pixel coordinate on an axis of length ``extent`` to a bin."""
        if not math.isfinite(value):
            raise ValueError(f'coordinate {value!r} is not finite')
        b = int(math.floor(value / extent * self.bins))
        return min(max(b, 0), self.bins - 1)

    def dequantize(self, index: int, extent: float) -> float:
        """Map a bin back to the pixel coordinate of its centre."""
        return (index + 0.5) / self.bins * extent

    def loc_token(self, index: int) -> str:
        """Return the token text of bin ``index``."""
        return f'<loc_{index}>'

    def loc_tokens(self) -> list[str]:
        """Return the location tokens in bin order (an ordinal vocabulary)."""
        return [self.loc_token(i) for i in range(self.bins)]

    # -- protocol -------------------------------------------------------------
    def special_tokens(self) -> list[str]:
        """Return ``<box>``, ``</box>``, ``<ref>``, ``</ref>`` and the loc tokens."""
        return ['<box>', '</box>', '<ref>', '</ref>'] + self.loc_tokens()

    def encode(self, objects: list[dict], image_size: tuple[int, int]) -> str:
        """Serialize ``hbb`` objects.

        Args:
            objects: Objects like ``{'type': 'hbb', 'bbox': [x1, y1, x2, y2]}``.
            image_size: ``(W, H)`` of the image the coordinates refer to.

        Returns:
            The answer text, objects concatenated in the given order.
        """
        width, height = image_size
        parts = []
        for obj in objects:
            kind = obj.get('type')
            if kind != 'hbb':
                raise ValueError(
                    f'LocTokenSerializer cannot encode object type {kind!r} yet '
                    "(supported: 'hbb')")
            x1, y1, x2, y2 = (float(v) for v in obj['bbox'])
            locs = (self.quantize(x1, width), self.quantize(y1, height),
                    self.quantize(x2, width), self.quantize(y2, height))
            ref = f"<ref>{obj['label']}</ref>" if self.with_ref and obj.get('label') else ''
            parts.append(ref + '<box>' + ''.join(self.loc_token(i) for i in locs) + '</box>')
        return ''.join(parts)

    def decode(self, text: str, image_size: tuple[int, int]) -> DecodeResult:
        """Parse every ``<box>`` group of ``text``; never raises.

        Args:
            text: Raw model output.
            image_size: ``(W, H)`` the boxes are scaled to.

        Returns:
            A :class:`DecodeResult`; a group with a wrong number of loc tokens
            or an out-of-range token is reported in ``errors`` and skipped.
        """
        result = DecodeResult()
        if not isinstance(text, str):
            result.errors.append(f'expected text, got {type(text).__name__}')
            return result
        width, height = image_size
        for match in _BOX_RE.finditer(text):
            body = match.group(1)
            idx = [int(m) for m in _LOC_RE.findall(body)]
            if len(idx) != 4:
                result.errors.append(f'box with {len(idx)} location tokens (need 4)')
                continue
            if any(i >= self.bins for i in idx):
                result.errors.append(f'location token out of range 0..{self.bins - 1}: {idx}')
                continue
            x1, x2 = sorted((self.dequantize(idx[0], width), self.dequantize(idx[2], width)))
            y1, y2 = sorted((self.dequantize(idx[1], height), self.dequantize(idx[3], height)))
            obj = {'type': 'hbb', 'bbox': [x1, y1, x2, y2]}
            ref = _REF_RE.search(text[:match.start()].rsplit('</box>', 1)[-1])
            if ref:
                obj['label'] = ref.group(1).strip()
            result.objects.append(obj)
        return result
