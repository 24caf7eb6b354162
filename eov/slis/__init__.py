"""SLIS: spatial-linguistic isomorphic serialization (geometry <-> tokens)."""
from .base import BaseSerializer, DecodeResult
from .loc_token import LocTokenSerializer

__all__ = ['BaseSerializer', 'DecodeResult', 'LocTokenSerializer']
