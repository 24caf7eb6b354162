"""Whole-scene helpers: tiling, merging per-tile answers, GeoJSON and quick-looks.

All functions are pure (no model, no torch). Objects follow the schema of
:mod:`eov.slis.geometry` (pixel coordinates, origin top-left, x right, y down;
pixel coordinates refer to pixel *corners*: ``x = 0`` is the left edge of the
first pixel, as in rasterio's ``transform * (col, row)``).

Typical use by whole-scene inference::

    wins = tile_windows(W, H, tile=512, overlap=64)
    objs = []
    for i, (c, r, w, h) in enumerate(wins):
        for o in answer_for(c, r, w, h):
            objs.append(dict(offset_object(o, c, r), tile=i))
    objs = merge_objects(objs, iou_thr=0.5, windows=wins)
    fc = to_feature_collection(objs, raster.transform, raster.crs)
    write_geojson(fc, 'out/scene.geojson')
"""
from __future__ import annotations

import colorsys
import copy
import hashlib
import json
import math
import os
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from eov.slis.geometry import (GEOMETRY_TYPES, largest_polygon, object_area, object_bounds,
                               object_points, object_polygon, overlap_of_smaller, shape_iou,
                               signed_area)

__all__ = [
    'tile_windows', 'offset_object', 'object_polygon', 'merge_objects',
    'as_affine', 'object_to_geometry', 'crs_member', 'to_feature_collection', 'write_geojson',
    'draw_objects', 'quicklook', 'read_quicklook', 'label_color',
]

#: Intersection over the smaller area above which two objects from different
#: tiles are the same object (one of them cut by a tile border).
CONTAINMENT_THR = 0.8
#: Points of the same label closer than this (pixels) are one point.
POINT_DEDUPE_PX = 1.0
CRS84_URN = 'urn:ogc:def:crs:OGC:1.3:CRS84'


# --------------------------------------------------------------------------- tiling
def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def tile_windows(width: int, height: int, tile: int, overlap: int
                 ) -> list[tuple[int, int, int, int]]:
    """Windows covering a ``width`` x ``height`` image with overlapping tiles.

    Tiles are ``tile`` x ``tile`` (smaller only along a side where the image is
    smaller than ``tile``), placed with stride ``tile - overlap``; the last
    column/row is shifted back so it ends exactly at the border (its overlap
    with the previous one may then exceed ``overlap``).

    Args:
        width: Image width in pixels (> 0).
        height: Image height in pixels (> 0).
        tile: Tile side in pixels (> 0).
        overlap: Overlap between neighbouring tiles in pixels (0 <= overlap < tile).

    Returns:
        ``(col, row, w, h)`` windows, row-major (top row first, left to right).

    Raises:
        ValueError: for a bad tile, overlap or image size.
    """
    for name, v in (('width', width), ('height', height), ('tile', tile), ('overlap', overlap)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f'{name} must be an integer, got {v!r}')
    if tile <= 0:
        raise ValueError(f'tile must be > 0 pixels, got {tile}')
    if overlap < 0:
        raise ValueError(f'overlap must be >= 0 pixels, got {overlap}')
    if overlap >= tile:
        raise ValueError(f'overlap ({overlap}) must be smaller than tile ({tile}), '
                         'otherwise the tiles never advance')
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    stride = tile - overlap
    tw, th = min(tile, width), min(tile, height)
    return [(int(c), int(r), int(tw), int(th))
            for r in _starts(height, tile, stride) for c in _starts(width, tile, stride)]


def offset_object(obj: dict, dx: float, dy: float) -> dict:
    """A copy of ``obj`` moved by ``(dx, dy)`` (e.g. tile pixels -> scene pixels).

    Args:
        obj: An object of the schema (any geometry type; other keys are kept).
        dx: Shift along x (the tile's column offset).
        dy: Shift along y (the tile's row offset).

    Returns:
        A new dict; the input is not modified.
    """
    out = copy.deepcopy(obj)
    kind = obj.get('type')
    dx, dy = float(dx), float(dy)
    if kind == 'hbb':
        x1, y1, x2, y2 = obj['bbox']
        out['bbox'] = [x1 + dx, y1 + dy, x2 + dx, y2 + dy]
    elif kind == 'obb':
        cx, cy, w, h, a = obj['obb']
        out['obb'] = [cx + dx, cy + dy, w, h, a]
    elif kind in ('quad', 'poly'):
        out['points'] = [[x + dx, y + dy] for x, y in obj['points']]
    elif kind == 'point':
        x, y = obj['point']
        out['point'] = [x + dx, y + dy]
    else:
        raise ValueError(f'object type {kind!r} is not one of {", ".join(GEOMETRY_TYPES)}')
    return out


# --------------------------------------------------------------------------- polygons
def _poly_points(poly) -> list[list[float]]:
    coords = list(poly.exterior.coords)[:-1]
    return [[float(x), float(y)] for x, y in coords]


# --------------------------------------------------------------------------- merging
def _tile_index(obj: dict, windows) -> int | None:
    t = obj.get('tile')
    if windows is None or isinstance(t, bool) or not isinstance(t, (int, np.integer)):
        return None
    return int(t) if 0 <= t < len(windows) else None


def _near_inner_border(obj: dict, win, scene_w: float, scene_h: float, margin: float) -> bool:
    """Whether ``obj`` lies within ``margin`` of a border of ``win`` inside the scene."""
    c, r, w, h = win
    x1, y1, x2, y2 = object_bounds(obj)
    return ((c > 0 and x1 <= c + margin) or (r > 0 and y1 <= r + margin)
            or (c + w < scene_w and x2 >= c + w - margin)
            or (r + h < scene_h and y2 >= r + h - margin))


def merge_objects(objects: Iterable[dict], iou_thr: float = 0.5,
                  edge_margin: float | None = None,
                  windows: Sequence[Sequence[int]] | None = None) -> list[dict]:
    """Merge the answers of overlapping tiles (class-aware greedy NMS).

    Rules:

    * Objects are ranked by ``score`` (highest first); objects without a score
      come after scored ones, larger area first. Only objects with the same
      ``label`` (or both without one) are compared.
    * Areas (``hbb``/``obb``/``quad``/``poly``): IoU is computed on the
      polygons, so oriented boxes get rotated NMS. A candidate whose IoU with a
      kept object is ``>= iou_thr`` is a duplicate: it is dropped, except that
      two ``poly`` objects are replaced by the union of both (the largest part
      if the union is a MultiPolygon; holes are dropped).
    * Tile-border rule: when ``windows`` is given and both objects carry a
      ``tile`` index (into ``windows``) of *different* tiles, an
      intersection over the smaller area ``>= 0.8`` also makes a duplicate
      (one of them was cut by its tile border). If ``edge_margin`` (pixels) is
      given, the smaller object must moreover lie within ``edge_margin`` of a
      border of its own tile that is inside the scene. The larger of the two
      survives (polys: the union), carrying the higher score of the two.
    * Points: points with the same label closer than 1 px are one point (the
      highest ranked one is kept).

    Every kept object keeps its other keys (e.g. ``tile``).

    Args:
        objects: Objects in scene pixel coordinates.
        iou_thr: IoU threshold of duplicates.
        edge_margin: Optional distance (pixels) to a tile border for the tile-border rule.
        windows: ``(col, row, w, h)`` per tile index, as from :func:`tile_windows`.

    Returns:
        The merged objects (new dicts), highest ranked first.
    """
    objs = [o for o in objects]
    if windows is not None:
        windows = [tuple(float(v) for v in w) for w in windows]
        scene_w = max((w[0] + w[2] for w in windows), default=0.0)
        scene_h = max((w[1] + w[3] for w in windows), default=0.0)
    areas = [object_area(o) if o.get('type') != 'point' else 0.0 for o in objs]

    def rank(i):
        s = objs[i].get('score')
        return (0, -float(s), 0.0) if s is not None else (1, 0.0, -areas[i])

    order = sorted(range(len(objs)), key=rank)
    # per label: kept entries [object dict, polygon]; numpy bounds for a cheap pre-test
    kept: dict[Any, list[list]] = {}
    out_order: list[list] = []
    for i in order:
        obj = objs[i]
        label = obj.get('label')
        group = kept.setdefault(label, [])
        if obj.get('type') == 'point':
            x, y = (float(v) for v in obj['point'])
            dup = any(k[0].get('type') == 'point'
                      and math.hypot(k[0]['point'][0] - x, k[0]['point'][1] - y)
                      < POINT_DEDUPE_PX for k in group)
            if not dup:
                entry = [copy.deepcopy(obj), None]
                group.append(entry)
                out_order.append(entry)
            continue
        poly = object_polygon(obj)
        bx = poly.bounds if not poly.is_empty else None
        for entry in group:
            kobj, kpoly = entry
            if kpoly is None or bx is None or kpoly.is_empty:
                continue
            kb = kpoly.bounds
            if bx[0] > kb[2] or bx[2] < kb[0] or bx[1] > kb[3] or bx[3] < kb[1]:
                continue
            both_poly = kobj.get('type') == 'poly' and obj.get('type') == 'poly'
            ti, tk = _tile_index(obj, windows), _tile_index(kobj, windows)
            cut = False
            if ti is not None and tk is not None and ti != tk \
                    and overlap_of_smaller(poly, kpoly) >= CONTAINMENT_THR:
                cut = True
                if edge_margin is not None:
                    small, win = (obj, windows[ti]) if poly.area <= kpoly.area \
                        else (kobj, windows[tk])
                    cut = _near_inner_border(small, win, scene_w, scene_h, float(edge_margin))
            if cut or shape_iou(poly, kpoly) >= iou_thr:   # a duplicate
                if both_poly:
                    _union_into(entry, poly)
                elif cut and poly.area > kpoly.area:   # the larger survives a tile border
                    new = copy.deepcopy(obj)
                    scores = [s for s in (kobj.get('score'), obj.get('score')) if s is not None]
                    if scores:
                        new['score'] = max(scores)
                    entry[0], entry[1] = new, poly
                break
        else:   # no kept object is the same: keep this one
            entry = [copy.deepcopy(obj), poly]
            group.append(entry)
            out_order.append(entry)
    return [e[0] for e in out_order]


def _union_into(entry: list, poly) -> None:
    """Replace a kept ``poly`` entry by its union with ``poly``."""
    from shapely.ops import unary_union
    union = largest_polygon(unary_union([entry[1], poly]))
    if not union.is_empty:
        # drop the collinear vertices left where the two outlines met
        union = largest_polygon(union.simplify(0, preserve_topology=True))
    if union.is_empty:
        return
    entry[0]['points'] = _poly_points(union)
    entry[1] = union


# --------------------------------------------------------------------------- GeoJSON
def as_affine(transform):
    """An ``affine.Affine`` from a transform given in any of eov's forms.

    Args:
        transform: An ``affine.Affine``; 6 numbers in GDAL order
            ``(c, a, b, f, d, e)`` as eov stores ``Raster.transform``; or 9
            numbers in ``Affine`` order (``tuple(Affine)``).

    Returns:
        ``affine.Affine``.
    """
    from affine import Affine
    if isinstance(transform, Affine):
        return transform
    vals = [float(v) for v in transform]
    if len(vals) == 6:
        return Affine.from_gdal(*vals)
    if len(vals) == 9:
        return Affine(*vals[:6])
    raise ValueError('a transform must be an affine.Affine, 6 GDAL-order numbers or '
                     f'9 Affine-order numbers, got {len(vals)} numbers')


def _ring_ccw(ring: list[list[float]]) -> list[list[float]]:
    """Close a ring and orient it counter-clockwise (RFC 7946 exterior rings)."""
    if ring[0] != ring[-1]:
        ring = ring + [list(ring[0])]
    return ring[::-1] if signed_area(ring) < 0 else ring


def object_to_geometry(obj: dict, transform=None) -> dict:
    """An object as a GeoJSON geometry in map coordinates.

    Args:
        obj: An object of the schema (pixel coordinates, corners convention).
        transform: Affine pixel -> map transform (see :func:`as_affine`), or
            ``None`` to keep pixel coordinates unchanged (y down).

    Returns:
        ``{'type': 'Polygon', 'coordinates': [ring]}`` (closed, counter-clockwise)
        for hbb/obb/quad/poly, or ``{'type': 'Point', 'coordinates': [x, y]}``.
    """
    kind = obj.get('type')
    if kind not in GEOMETRY_TYPES:
        raise ValueError(f'object type {kind!r} is not one of {", ".join(GEOMETRY_TYPES)}')
    aff = as_affine(transform) if transform is not None else None

    def conv(x, y):
        x, y = float(x), float(y)
        if aff is None:
            return [x, y]
        mx, my = aff * (x, y)
        return [float(mx), float(my)]

    if kind == 'point':
        return {'type': 'Point', 'coordinates': conv(*obj['point'])}
    ring = [conv(x, y) for x, y in object_points(obj)]
    return {'type': 'Polygon', 'coordinates': [_ring_ccw(ring)]}


def crs_member(crs) -> dict:
    """The old-style GeoJSON ``crs`` member naming ``crs`` (as GDAL/QGIS read it).

    Args:
        crs: Anything ``rasterio.crs.CRS.from_user_input`` accepts (WKT,
            ``'EPSG:32631'``, an EPSG int, a ``CRS``).

    Returns:
        ``{'type': 'name', 'properties': {'name': 'urn:ogc:def:crs:EPSG::<code>'}}``,
        or the WKT as the name when the CRS has no EPSG code.
    """
    from rasterio.crs import CRS
    crs = CRS.from_user_input(crs)
    code = crs.to_epsg()
    name = f'urn:ogc:def:crs:EPSG::{code}' if code is not None else crs.to_wkt()
    return {'type': 'name', 'properties': {'name': name}}


def _json_scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def _listify(coords):
    if isinstance(coords, (list, tuple)):
        if coords and isinstance(coords[0], (int, float, np.generic)):
            return [float(c) for c in coords]
        return [_listify(c) for c in coords]
    return coords


def to_feature_collection(objects: Iterable[dict], transform, crs,
                          properties: dict | None = None, to_wgs84: bool = False) -> dict:
    """Objects as a GeoJSON FeatureCollection.

    Args:
        objects: Objects in scene pixel coordinates.
        transform: Pixel -> map transform (see :func:`as_affine`); ignored when
            ``crs`` is ``None``.
        crs: The raster's CRS (WKT/EPSG text, EPSG int or ``rasterio`` CRS), or
            ``None`` for a raster without georeferencing: coordinates then stay
            in pixels and the collection says ``"eov:coordinates": "pixel"``.
        properties: Extra properties added to every feature.
        to_wgs84: Reproject every geometry to lon/lat (named ``CRS84``).

    Returns:
        A JSON-serialisable FeatureCollection; each feature's properties hold
        ``type``, ``label``, ``score`` and ``tile`` (when present) and ``properties``.

    Raises:
        ValueError: for ``to_wgs84`` without a CRS, or a CRS without a transform.
    """
    if crs is None:
        if to_wgs84:
            raise ValueError('cannot reproject to WGS84: the raster has no georeferencing '
                             '(no CRS)')
        aff = None
    else:
        if transform is None:
            raise ValueError('a CRS was given without a pixel -> map transform')
        aff = as_affine(transform)
    if to_wgs84:
        from rasterio.crs import CRS
        from rasterio.warp import transform_geom
        src_crs = CRS.from_user_input(crs)
    features = []
    for i, obj in enumerate(objects):
        geom = object_to_geometry(obj, aff)
        if to_wgs84:
            geom = transform_geom(src_crs, 'EPSG:4326', geom)
            geom = {'type': geom['type'], 'coordinates': _listify(geom['coordinates'])}
            if geom['type'] == 'Polygon':
                geom['coordinates'] = [_ring_ccw(r) for r in geom['coordinates']]
        props: dict[str, Any] = {'type': obj.get('type')}
        if obj.get('label') is not None:
            props['label'] = obj['label']
        if obj.get('score') is not None:
            props['score'] = float(obj['score'])
        if obj.get('tile') is not None:
            props['tile'] = _json_scalar(obj['tile'])
        if properties:
            props.update({k: _json_scalar(v) for k, v in properties.items()})
        features.append({'type': 'Feature', 'id': i, 'geometry': geom, 'properties': props})
    fc: dict[str, Any] = {'type': 'FeatureCollection',
                          'eov:coordinates': 'pixel' if crs is None else 'map'}
    if crs is not None:
        fc['crs'] = ({'type': 'name', 'properties': {'name': CRS84_URN}} if to_wgs84
                     else crs_member(crs))
    fc['features'] = features
    return fc


def write_geojson(collection: dict, path: str) -> str:
    """Write a FeatureCollection as JSON (parent folders are created).

    Args:
        collection: From :func:`to_feature_collection`.
        path: Output file.

    Returns:
        ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(collection, f, ensure_ascii=False)
    return path


# --------------------------------------------------------------------------- drawing
_PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
]


def label_color(label, index: int | None = None) -> tuple[int, int, int]:
    """A colour for a label: palette entry ``index`` if given, else a stable hash colour."""
    if index is not None and index < len(_PALETTE):
        return _PALETTE[index]
    h = int(hashlib.md5(str(label).encode('utf-8')).hexdigest()[:8], 16)
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_objects(image: np.ndarray, objects: Iterable[dict], scale: float = 1.0,
                 path: str | None = None, width: int = 2) -> Image.Image:
    """Draw object outlines and labels on an image.

    Every area type is drawn as its polygon outline, a point as a small cross;
    each label gets its own colour (labels sorted, palette in that order).

    Args:
        image: ``(H, W, 3)`` (or ``(H, W)``) uint8 array, e.g. from :func:`quicklook`.
        objects: Objects in the pixel coordinates of the full image.
        scale: Factor from object coordinates to ``image`` pixels.
        path: Save the drawing there when given.
        width: Line width in pixels.

    Returns:
        A new RGB ``PIL.Image``.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f'draw_objects needs a uint8 image, got {arr.dtype} '
                         '(stretch it with quicklook first)')
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f'draw_objects needs an (H, W, 3) image, got shape {arr.shape}')
    img = Image.fromarray(np.ascontiguousarray(arr), 'RGB')
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    objects = list(objects)
    labels = sorted({str(o.get('label', '')) for o in objects})
    colors = {lab: label_color(lab, i) for i, lab in enumerate(labels)}
    s = float(scale)
    for obj in objects:
        lab = str(obj.get('label', ''))
        color = colors[lab]
        if obj.get('type') == 'point':
            x, y = (float(v) * s for v in obj['point'])
            r = max(3, 2 * width)
            draw.line([(x - r, y), (x + r, y)], fill=color, width=width)
            draw.line([(x, y - r), (x, y + r)], fill=color, width=width)
            anchor = (x + r + 1, y - r - 1)
        else:
            pts = [(float(x) * s, float(y) * s) for x, y in object_points(obj)]
            draw.line(pts + [pts[0]], fill=color, width=width, joint='curve')
            anchor = (min(p[0] for p in pts), min(p[1] for p in pts))
        text = lab
        if obj.get('score') is not None:
            text = f'{lab} {float(obj["score"]):.2f}'.strip()
        if text:
            tx, ty = anchor[0], max(0.0, anchor[1] - 11)
            draw.text((tx + 1, ty + 1), text, fill=(0, 0, 0), font=font)
            draw.text((tx, ty), text, fill=color, font=font)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        img.save(path)
    return img


def read_quicklook(paths: str | os.PathLike | Sequence[str], shape: Sequence[int] | None = None,
                   max_size: int = 1024) -> np.ndarray:
    """Read the bands a quick-look shows, decimated on read (the one quick-look reader).

    One file: its first three bands (one band: grey). Several files (one band
    each, as a per-band Sentinel-2 / Landsat scene): the first band of each of
    the first three, in the order given (``B04, B03, B02`` is true colour).
    Masked / nodata pixels are ``NaN``; complex samples become amplitudes.

    Args:
        paths: One path or a list of per-band paths.
        shape: ``(h, w)`` to read onto (e.g. the scene grid scaled for display);
            default: the first file's size, decimated so the longest side is at
            most ``max_size``.
        max_size: Longest side when ``shape`` is not given.

    Returns:
        ``(C, h, w)`` float32 with ``C`` 3 or 1, for :func:`quicklook`.
    """
    from eov.modalities.io import PIL_EXTENSIONS   # (lazy: geo loads no torch)
    paths = [os.fspath(paths)] if isinstance(paths, (str, os.PathLike)) else \
        [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError('read_quicklook: no image path')
    if len(paths) == 1 and os.path.splitext(paths[0])[1].lower() in PIL_EXTENSIONS:
        with Image.open(paths[0]) as img:
            if img.mode not in ('I', 'I;16', 'I;16B', 'I;16L', 'F', 'L'):
                img = img.convert('RGB')
            if shape is not None:
                img = img.resize((int(shape[1]), int(shape[0])))
            arr = np.asarray(img)
        return (arr[None] if arr.ndim == 2 else np.moveaxis(arr, 2, 0)).astype(np.float32)
    import warnings

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning
    bands = []
    for path in paths[:3]:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NotGeoreferencedWarning)
            src = rasterio.open(path)
        with src:
            if shape is None:
                factor = max(1, math.ceil(max(src.width, src.height) / float(max_size)))
                shape = (max(1, math.ceil(src.height / factor)),
                         max(1, math.ceil(src.width / factor)))
            indexes = ([1, 2, 3] if src.count >= 3 else [1]) if len(paths) == 1 else [1]
            data = src.read(indexes, out_shape=(len(indexes), *shape), masked=True,
                            resampling=Resampling.average)
        if np.iscomplexobj(data):
            data = np.ma.abs(data)
        bands.append(np.ma.filled(data.astype(np.float32), np.nan))
    data = np.concatenate(bands)
    return data if data.shape[0] == 3 else data[:1]


def quicklook(rgb: np.ndarray, max_size: int = 1024) -> tuple[np.ndarray, float]:
    """A small uint8 RGB view of a (possibly huge) scene.

    The image is first downsampled (box filter) so its longest side is at most
    ``max_size``, then each band is stretched from its 2nd to 98th percentile
    (non-finite values ignored, shown black) to 0-255.

    Args:
        rgb: ``(3, H, W)`` or ``(H, W, 3)`` array of any numeric dtype (a
            ``(H, W)`` array is shown grey). With shape ``(3, H, 3)`` the
            channel-first reading wins.
        max_size: Longest side of the result in pixels.

    Returns:
        ``(image, scale)``: a ``(h, w, 3)`` uint8 array and the factor from
        scene pixel coordinates to quick-look pixels (``<= 1``), for
        :func:`draw_objects`.
    """
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f'quicklook needs a (3, H, W) or (H, W, 3) array, got {arr.shape}')
    if arr.shape[0] not in (1, 3) and arr.shape[2] in (1, 3):
        arr = np.moveaxis(arr, 2, 0)
    if arr.shape[0] not in (1, 3):
        raise ValueError(f'quicklook needs 3 bands (or 1), got shape {arr.shape}')
    if int(max_size) <= 0:
        raise ValueError(f'max_size must be > 0, got {max_size}')
    _, h, w = arr.shape
    scale = min(1.0, float(max_size) / max(h, w))
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    bands = []
    for band in arr:
        b = band.astype(np.float32, copy=False)
        if (nw, nh) != (w, h):
            b = np.asarray(Image.fromarray(np.ascontiguousarray(b), 'F')
                           .resize((nw, nh), Image.Resampling.BOX))
        finite = np.isfinite(b)
        lo, hi = np.percentile(b[finite], [2, 98]) if finite.any() else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        out = np.clip((b - lo) / (hi - lo), 0.0, 1.0) * 255.0
        out[~finite] = 0.0
        bands.append(np.round(out).astype(np.uint8))
    if len(bands) == 1:
        bands = bands * 3
    return np.stack(bands, axis=-1), (nw / w if w >= h else nh / h)
