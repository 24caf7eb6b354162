"""A local web demo of a trained model (FastAPI app + one offline HTML page).

    from eov.apis import EOVInferencer
    from eov.apis.web import create_app
    app = create_app(EOVInferencer('configs/eov_tiny_pcma.py', 'final.pth'))

Started from the command line with ``tools/serve.py`` (see docs/web_demo.md).
Needs the ``serve`` extra: ``pip install -e '.[serve]'``.
"""
from .server import create_app

__all__ = ['create_app']
