"""Using a trained model: the inferencer (Python API) and whole-scene georeferenced output.

- :class:`EOVInferencer` -- config + checkpoint (or an exported directory) ->
  answers with objects in pixels and in map coordinates;
- :mod:`eov.apis.geo` -- tiling, merging spatial answers across tiles,
  GeoJSON in the raster's CRS or WGS84, quick-looks with drawn objects.
"""
from .inferencer import EOVInferencer, InferenceError, Prediction, load_model

__all__ = ['EOVInferencer', 'InferenceError', 'Prediction', 'load_model']
