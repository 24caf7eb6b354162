"""The web demo's server: one offline HTML page and a small JSON API over an inferencer.

    from eov.apis import EOVInferencer
    from eov.apis.web import create_app
    app = create_app(EOVInferencer(cfg, ckpt), examples_dir='examples/images')
    # uvicorn.run(app, host='127.0.0.1', port=7860)

Endpoints (all answers are JSON, except ``/`` and the example files):

- ``GET /`` -- the page (``static/index.html``; no external assets).
- ``GET /api/info`` -- ``modalities``, ``tasks``, ``examples`` (names), ``max_upload_mb``.
- ``GET /api/examples/{name}`` -- one bundled example file.
- ``POST /api/predict`` -- multipart form: ``file`` (one upload, or several for
  multi-image modalities / one file per band) or ``example`` (a name from
  ``/api/info``), ``prompt``, ``modality``, ``task`` (empty: any), optional
  ``sensor``, ``bands`` (comma separated), ``wgs84`` (``true``: GeoJSON in
  lon/lat when the image is georeferenced). Answers ``text``, ``objects``
  (pixels of the image), ``task``, ``parsed``, ``modality``, ``image_size``,
  ``crs``, ``transform``, ``object_texts`` (each object's geometry in words),
  ``georeferenced``, ``note``, ``geojson``
  (FeatureCollection), ``overlay`` (PNG data URL of a quick-look with the
  objects drawn, or ``null``) and ``overlay_scale`` (object pixels ->
  overlay pixels).
- ``GET /api/health`` -- ``{"status": "ok"}``.

A request the model cannot answer (no image, empty prompt, unknown modality
or task, an unreadable or malformed file ...) gets HTTP 400 with
``{"error": "<what is wrong>"}``; the server keeps serving.
"""

import base64
import html
import io
import logging
import os
import shutil
import tempfile
import threading
from typing import Sequence

import numpy as np

logger = logging.getLogger('eov.web')

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
#: Bundled examples (64 px EOV-Synth v2 GeoTIFFs in EPSG:32631: an optical harbour, a
#: SAR scene in linear backscatter, a thermal-infrared scene) offered by tools/serve.py.
BUNDLED_EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'examples')
#: File types the page takes (PIL images, GeoTIFF, JPEG 2000 and other rasters).
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.jp2', '.img', '.vrt')
#: Quick-looks smaller than this (longest side) are enlarged (nearest) so outlines show.
MIN_OVERLAY_SIZE = 512
MAX_OVERLAY_SIZE = 1024
PIXEL_NOTE = ('the image has no georeferencing: coordinates are pixels of the image '
              '(x to the right, y down from its top-left corner)')


def _num(value: float) -> str:
    """A coordinate for people: whole numbers bare, else one decimal."""
    value = round(float(value), 1)
    return str(int(value)) if value == int(value) else f'{value:.1f}'


def describe_object(obj: dict) -> str:
    """An object's pixel geometry in words (the page's table), e.g. for an oriented box
    ``centre (13, 16), 8.3 x 7.4 px, rotated 71.6°`` rather than ``[13,16,8.3,7.4,71.6]``."""
    kind = obj.get('type')
    if kind == 'hbb' and obj.get('bbox') is not None:
        x1, y1, x2, y2 = obj['bbox']
        return f'x {_num(x1)}–{_num(x2)}, y {_num(y1)}–{_num(y2)} (top-left to bottom-right)'
    if kind == 'obb' and obj.get('obb') is not None:
        cx, cy, w, h, angle = obj['obb']
        return f'centre ({_num(cx)}, {_num(cy)}), {_num(w)} × {_num(h)} px, rotated ' \
               f'{_num(angle)}°'
    if kind == 'point' and obj.get('point') is not None:
        x, y = obj['point']
        return f'({_num(x)}, {_num(y)})'
    if kind in ('quad', 'poly') and obj.get('points') is not None:
        points = [f'({_num(x)}, {_num(y)})' for x, y in obj['points']]
        shown = ' '.join(points[:6]) + (f' … ({len(points)} corners)' if len(points) > 6 else '')
        return f'corners {shown}'
    rest = {k: v for k, v in obj.items() if k not in ('type', 'label', 'score', 'tile')}
    return ', '.join(f'{k} {v}' for k, v in rest.items())


class BadRequest(Exception):
    """A request the demo answers with HTTP 400 (``status`` may say otherwise)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- examples
def list_examples(examples_dir: str | None) -> list[str]:
    """Image files directly inside ``examples_dir`` (sorted names; none without a folder)."""
    if not examples_dir or not os.path.isdir(examples_dir):
        return []
    return sorted(name for name in os.listdir(examples_dir)
                  if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                  and os.path.isfile(os.path.join(examples_dir, name))
                  and not name.startswith('.'))


# ----------------------------------------------------------------------------- quick-look
def overlay_png(path: str | Sequence[str], objects: Sequence[dict], image_size: Sequence[int]
                ) -> tuple[str, float]:
    """``(data URL of a PNG quick-look with ``objects`` drawn, object->PNG scale)``.

    ``path`` is the image's file, or its per-band files (true colour when given
    as red, green, blue).
    """
    from eov.apis.geo import draw_objects, quicklook, read_quicklook
    img, _ = quicklook(read_quicklook(path, max_size=MAX_OVERLAY_SIZE), max_size=MAX_OVERLAY_SIZE)
    h, w = img.shape[:2]
    if max(h, w) < MIN_OVERLAY_SIZE:
        k = MIN_OVERLAY_SIZE // max(h, w)
        if k > 1:
            img = np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    # objects are in pixels of the image as the model read it (``image_size``)
    scale = img.shape[1] / float(max(1, int(image_size[0])))
    width = max(2, round(img.shape[1] / 256))
    drawn = draw_objects(img, objects, scale=scale, width=width)
    buf = io.BytesIO()
    drawn.save(buf, format='PNG')
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii'), scale


# ----------------------------------------------------------------------------- the app
def create_app(inferencer, examples_dir: str | None = None, max_upload_mb: float = 1024.0,
               title: str = 'eov web demo'):
    """The demo's FastAPI app over a loaded :class:`~eov.apis.EOVInferencer`.

    Args:
        inferencer: The model (anything with ``modalities``, ``tasks`` and ``predict``).
        examples_dir: A folder whose image files the page offers as examples.
        max_upload_mb: Uploads larger than this (all files together) get HTTP 413.
        title: Title of the page.
    """
    from fastapi import FastAPI, File, Form, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from eov.apis.checks import InferenceError
    from eov.modalities import RasterReadError
    from eov.utils.io import jsonable

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    examples_dir = os.path.abspath(examples_dir) if examples_dir else None
    lock = threading.Lock()     # one generation at a time (the model is not thread-safe)
    max_bytes = int(max_upload_mb * 1024 * 1024)
    bad_input = (InferenceError, RasterReadError, ValueError)
    app.state.inferencer = inferencer
    app.state.examples_dir = examples_dir

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({'error': message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            where = '.'.join(str(p) for p in err.get('loc', ()) if p != 'body')
            parts.append(f'{where}: {err.get("msg")}' if where else str(err.get('msg')))
        return error('malformed request: ' + ('; '.join(parts) or 'cannot read the form'))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400 and not detail.startswith('malformed'):
            detail = f'malformed request: {detail}'
        return error(detail, exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        logger.exception('unexpected error answering %s', request.url.path)
        return error(f'internal error: {type(exc).__name__}: {exc}', 500)

    @app.get('/', response_class=HTMLResponse)
    def index():
        with open(os.path.join(STATIC_DIR, 'index.html'), encoding='utf-8') as f:
            page = f.read()
        return HTMLResponse(page.replace('{{title}}', html.escape(title)),
                            headers={'Cache-Control': 'no-store'})

    @app.get('/api/health')
    def health():
        return {'status': 'ok'}

    @app.get('/api/info')
    def info():
        return {'title': title, 'modalities': list(inferencer.modalities),
                'tasks': list(inferencer.tasks), 'examples': list_examples(examples_dir),
                'extensions': list(IMAGE_EXTENSIONS), 'max_upload_mb': max_upload_mb}

    def example_path(name: str) -> str:
        if name not in list_examples(examples_dir):
            raise BadRequest(f'unknown example {name!r}' + (
                f': the examples are {", ".join(list_examples(examples_dir))}'
                if list_examples(examples_dir) else ': this server has no examples'), 404)
        return os.path.join(examples_dir, name)

    @app.get('/api/examples/{name}')
    def example_file(name: str):
        try:
            return FileResponse(example_path(name))
        except BadRequest as err:
            return error(str(err), err.status)

    def save_uploads(files: list, tmpdir: str, names: dict) -> list[str]:
        paths, total = [], 0
        for i, upload in enumerate(files):
            name = os.path.basename(upload.filename or '')
            ext = os.path.splitext(name)[1].lower()
            if ext not in IMAGE_EXTENSIONS:
                raise BadRequest(f'unsupported file type {ext or "(no extension)"!r} of '
                                 f'{name or "the upload"!r}: give one of '
                                 f'{", ".join(IMAGE_EXTENSIONS)}')
            path = os.path.join(tmpdir, f'upload{i}{ext}')   # keep the extension (rasterio)
            with open(path, 'wb') as out:
                while True:
                    chunk = upload.file.read(1 << 20)
                    if not chunk:
                        break
                    total += len(chunk)
                    if total > max_bytes:
                        raise BadRequest(f'the upload is larger than {max_upload_mb:g} MB', 413)
                    out.write(chunk)
            names[path] = name
            if os.path.getsize(path) == 0:
                raise BadRequest(f'the uploaded file {name!r} is empty')
            paths.append(path)
        return paths

    @app.post('/api/predict')
    def predict(request: Request,
                file: list[UploadFile] | None = File(None), example: str = Form(''),
                prompt: str = Form(''), modality: str = Form(''), task: str = Form(''),
                sensor: str = Form(''), bands: str = Form(''), wgs84: bool = Form(False)):
        names: dict[str, str] = {}     # temporary path -> uploaded file name

        def message(err) -> str:      # errors name the upload, not its temporary copy
            text = str(err)
            for path, name in names.items():
                text = text.replace(path, name)
            return text

        kind = request.headers.get('content-type', '').split(';')[0].strip().lower()
        if kind not in ('multipart/form-data', 'application/x-www-form-urlencoded'):
            return error(f'send the request as multipart/form-data (got '
                         f'{kind or "no content type"}): fields file or example, prompt, '
                         'modality, task')
        tmpdir = tempfile.mkdtemp(prefix='eov-web-')
        try:
            uploads = [f for f in (file or []) if f is not None and (f.filename or '')]
            if uploads and example:
                raise BadRequest('give an uploaded file or an example, not both')
            if uploads:
                paths = save_uploads(uploads, tmpdir, names)
                source = ', '.join(os.path.basename(f.filename) for f in uploads)
            elif example:
                paths = [example_path(example)]
                source = example
            else:
                raise BadRequest('no image: upload a file or pick an example')
            if not prompt or not prompt.strip():
                raise BadRequest('the prompt is empty: ask a question')
            modality = modality or (inferencer.modalities[0] if inferencer.modalities
                                    else 'optical')
            band_list = [b.strip() for b in bands.split(',') if b.strip()] or None
            with lock:
                pred = inferencer.predict(paths if len(paths) > 1 else paths[0], prompt,
                                          modality=modality, task=task or None,
                                          sensor=sensor.strip() or None, bands=band_list)
            georef = pred.crs is not None and pred.transform is not None
            notes = [] if georef else [PIXEL_NOTE]
            if wgs84 and not georef:
                notes.append('WGS84 was asked for, but without georeferencing the GeoJSON '
                             'stays in pixels')
            geojson = pred.to_geojson(to_wgs84=bool(wgs84 and georef),
                                      properties={'source': source})
            overlay, scale = None, None
            try:
                first = inferencer.image_entries(paths, modality, sensor.strip() or None,
                                                 band_list)[0]   # all bands of one image
                overlay, scale = overlay_png(first['path'], pred.objects, pred.image_size)
            except Exception as err:   # the answer stands without a picture
                logger.warning('no quick-look of %s: %s', source, message(err))
                notes.append(f'no quick-look of the image: {message(err)}')
            out = pred.to_dict()
            out.update(object_texts=[describe_object(o) for o in pred.objects],
                       georeferenced=georef, note='; '.join(notes) or None, geojson=geojson,
                       overlay=overlay, overlay_scale=scale, source=source)
            return JSONResponse(jsonable(out))
        except BadRequest as err:
            return error(message(err), err.status)
        except bad_input as err:
            return error(message(err))
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    return app
