"""eov: an open framework for Earth-OneVision-style remote-sensing multimodal LLMs.

Importing ``eov`` is light (no rasterio, xformers or model code); plugins are
imported on demand by the registries in :mod:`eov.registry`.
"""
from .version import __version__

__all__ = ['__version__']
