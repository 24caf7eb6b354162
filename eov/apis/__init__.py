"""Using a trained model: the inferencer (Python API) and whole-scene georeferenced output.

- :class:`EOVInferencer` -- config + checkpoint (or an exported directory) ->
  answers with objects in pixels and in map coordinates;
- :mod:`eov.apis.geo` -- tiling, merging spatial answers across tiles,
  GeoJSON in the raster's CRS or WGS84, quick-looks with drawn objects.
"""
import importlib

__all__ = ['EOVInferencer', 'InferenceError', 'Prediction', 'load_model']


def __getattr__(name):
    # lazy: the command-line tools check their arguments (eov.apis.checks) before torch loads
    if name in __all__:
        return getattr(importlib.import_module('.inferencer', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
