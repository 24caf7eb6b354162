"""SLIS: spatial-linguistic isomorphic serialization (geometry <-> tokens).

Serializers (registered in ``eov.registry.SERIALIZERS``):
``LocTokenSerializer``, ``GeoChatTextSerializer``, ``NormalizedTextSerializer``,
``QwenTextSerializer``. See ``docs/slis.md`` for the formats side by side.
"""
from .base import BaseSerializer, DecodeResult, Grid, GroupError
from .geochat import GeoChatTextSerializer
from .geometry import (GEOMETRY_TYPES, check_object, normalize_obb, obb_to_quad,
                       object_area, object_bounds, quad_to_obb, sort_objects)
from .loc_token import LocTokenSerializer
from .normalized import NormalizedTextSerializer
from .qwen import QwenTextSerializer

__all__ = ['BaseSerializer', 'DecodeResult', 'Grid', 'GroupError', 'GEOMETRY_TYPES',
           'check_object', 'normalize_obb', 'obb_to_quad', 'quad_to_obb', 'object_area',
           'object_bounds', 'sort_objects', 'LocTokenSerializer', 'GeoChatTextSerializer',
           'NormalizedTextSerializer', 'QwenTextSerializer']
