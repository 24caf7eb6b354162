"""eov-cloud-cover: a task eov does not ship, added by a package of its own.

Importing it registers the ``cloud_cover`` head in ``eov.registry.HEADS``; from then
on records with ``"task": "cloud_cover"`` validate, train and are scored like any
built-in task (configs import it with ``custom_imports``).
"""
from .head import CLOUD_COVER_TYPE, CloudCoverHead
from .synth import generate_cloud_cover

__all__ = ['CLOUD_COVER_TYPE', 'CloudCoverHead', 'generate_cloud_cover']
