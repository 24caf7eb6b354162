"""The SLIS serializer protocol: structured geometry <-> answer text."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DecodeResult:
    """What a serializer could read back from model text.

    Attributes:
        objects: Decoded objects in eov's object schema (pixel coordinates).
        errors: One short message per fragment that looked spatial but did
            not parse (truncated, out of range, wrong arity, ...).
    """

    objects: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when at least one object parsed and nothing failed."""
        return bool(self.objects) and not self.errors


class BaseSerializer:
    """Turns structured spatial targets into text and back.

    Subclasses implement :meth:`encode`, :meth:`decode` and
    :meth:`special_tokens`. ``decode`` must never raise on arbitrary text.
    """

    def encode(self, objects: list[dict], image_size: tuple[int, int]) -> str:
        """Serialize objects (pixel coordinates of an image of ``(W, H)``)."""
        raise NotImplementedError

    def decode(self, text: str, image_size: tuple[int, int]) -> DecodeResult:
        """Parse model text back into objects in pixel coordinates."""
        raise NotImplementedError

    def special_tokens(self) -> list[str]:
        """Tokens that must be added to a tokenizer for this format."""
        return []
