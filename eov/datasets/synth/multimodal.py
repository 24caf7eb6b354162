"""EOV-Synth v2: every modality entry x every task category, procedural and seeded.

Each record index of a split is assigned one *cell* -- a ``(modality,
task[/variant])`` pair -- by a smooth weighted round robin over
:data:`WEIGHTS` (exact proportions: in every run of ``sum(weights)``
consecutive indices each cell appears exactly its weight times; the phase of
the cycle depends on the seed and the split). The cell's builder then draws a
scene from ``np.random.default_rng([seed, crc32(split), index])``, renders it
for the cell's sensor(s), writes the image files and phrases the question
through the task's registered head. A sample therefore depends only on
``(seed, split, index)``.

Answers are structural ``targets`` (assistant turns are ``null``); the heads
and the configured SLIS serializer write the answer text at load time.

Entry points: :func:`generate_v2`, :func:`task_matrix`, :func:`matrix_markdown`.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys
import zlib
from collections import Counter, defaultdict
from typing import Callable, Iterable

import numpy as np

from eov.heads.choice import ChoiceHead
from eov.modalities.sensors import S2_L2A_BANDS
from eov.slis.geometry import normalize_obb
from eov.utils.io import atomic_write, write_json_atomically

from . import scenes as S
from .render import (CRS_EPSG, render_multispectral, render_optical, render_sar, render_thermal,
                     transform_for, video_format, write_geotiff, write_video)
from .scenes import (BARE, PLURAL, TURF, URBAN, VEGETATION, WATER, Obj, Scene,
                     count_phrase, join_words, position_word)

#: The modality entries, in the order of the matrix.
MODALITY_ORDER = ('optical', 'sar', 'infrared', 'multispectral', 'temporal', 'video', 'fusion')

#: The weight table: ``{modality: {cell: weight}}``. A cell is ``task`` or
#: ``task/variant``; its weight is the number of records it gets in every
#: cycle of ``sum(all weights)`` consecutive indices of a split (so the share
#: of the cell is ``weight / total``). Spatial and counting cells, which are
#: the hardest to learn, weigh more.
WEIGHTS: dict[str, dict[str, int]] = {
    'optical': {
        'classification/single': 2, 'classification/multilabel': 2, 'captioning': 2,
        'vqa/count': 3, 'vqa/colour': 2, 'vqa/yesno': 2, 'grounding/hbb': 3,
        'grounding/obb': 3, 'detection': 3, 'region': 2, 'segmentation': 2, 'choice': 2,
    },
    'sar': {
        'classification/single': 2, 'captioning': 2, 'vqa/count': 3, 'vqa/yesno': 2,
        'grounding/hbb': 2, 'grounding/obb': 3, 'detection': 3, 'region': 2,
        'segmentation': 2, 'choice': 2,
    },
    'infrared': {
        'classification/single': 2, 'captioning': 2, 'vqa/count': 3, 'vqa/yesno': 2,
        'grounding/hbb': 3, 'detection': 3, 'region': 2, 'segmentation': 2, 'choice': 2,
    },
    'multispectral': {
        'classification/single': 3, 'classification/multilabel': 3, 'captioning': 2,
        'vqa/yesno': 3, 'region': 3, 'segmentation': 3, 'choice': 3,
    },
    'temporal': {
        'classification/single': 1, 'change/regions': 4, 'change/caption': 3, 'vqa/count': 2,
        'vqa/yesno': 2, 'grounding/hbb': 3, 'choice': 2,
    },
    'video': {
        'captioning': 2, 'vqa/direction': 3, 'vqa/count': 2, 'choice': 2, 'grounding/hbb': 3,
        'detection': 2, 'change/regions': 3,
    },
    'fusion': {
        'captioning': 2, 'vqa/count': 3, 'grounding/obb': 3, 'detection': 3, 'region': 2,
        'segmentation': 2, 'choice': 3,
    },
}

#: Ground sample distance (m) of each modality's GeoTIFFs.
GSD = {'optical': 2.0, 'sar': 10.0, 'infrared': 5.0, 'multispectral': 10.0, 'temporal': 2.0,
       'fusion': 5.0}
#: Sensor of each single-image modality.
SENSORS = {'optical': 'rgb', 'sar': 'sentinel1_grd', 'infrared': 'thermal',
           'multispectral': 'sentinel2_l2a'}
#: Frames of a video.
VIDEO_FRAMES = 8
#: Acquisitions of a temporal series (inclusive range).
TEMPORAL_FRAMES = (2, 6)

#: The region of a region question stays a slot in the record, written by the configured
#: SLIS serializer at load time (BuildConversation), so a serializer swap re-serializes it.
REGION_SLOT = '{region}'
#: Object classes per modality (detection / region / multi-label answers list
#: them in this order).
OPTICAL_CLASSES = ('ship', 'plane', 'storage tank', 'vehicle', 'building')
INFRARED_CLASSES = ('ship', 'vehicle', 'building', 'chimney', 'furnace')
FUSION_CLASSES = ('ship', 'storage tank', 'building')

#: Scene categories (single-label classification) per modality.
OPTICAL_KINDS = ('harbour', 'airport', 'residential area', 'industrial area', 'farmland')
SAR_KINDS = ('harbour', 'airport', 'industrial area', 'farmland')
INFRARED_KINDS = ('harbour', 'residential area', 'industrial area', 'farmland')


def task_matrix() -> dict[str, list[str]]:
    """The cells generated for each modality entry: ``{modality: ['task/variant', ...]}``."""
    return {m: list(WEIGHTS[m]) for m in MODALITY_ORDER}


def cell_task(cell: str) -> tuple[str, str | None]:
    """``'vqa/count'`` -> ``('vqa', 'count')``; ``'region'`` -> ``('region', None)``."""
    task, _, variant = cell.partition('/')
    return task, (variant or None)


def matrix_markdown() -> str:
    """The modality x task table of ``docs/eov_synth.md`` (variants and weights per cell)."""
    from eov.heads.catalog import BUILTIN_TASKS
    lines = ['| modality | ' + ' | '.join(BUILTIN_TASKS) + ' |',
             '|---|' + '---|' * len(BUILTIN_TASKS)]
    for modality in MODALITY_ORDER:
        row = []
        for task in BUILTIN_TASKS:
            cells = [(cell_task(c)[1], w) for c, w in WEIGHTS[modality].items()
                     if cell_task(c)[0] == task]
            row.append(', '.join(f'{v or "✓"} ({w})' for v, w in cells) if cells else '')
        lines.append(f'| {modality} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def select_weights(modalities=None) -> dict[str, dict[str, int]]:
    """:data:`WEIGHTS` restricted to ``modalities`` (``None``: every entry), in matrix order.

    Raises:
        ValueError: naming an unknown modality entry.
    """
    if modalities is not None:
        unknown = [m for m in modalities if m not in WEIGHTS]
        if unknown or not modalities:
            raise ValueError(f'EOV-Synth v2 has no modality entry '
                             f'{", ".join(unknown) or "(none given)"}; choose from '
                             f'{", ".join(MODALITY_ORDER)}')
    return {m: dict(WEIGHTS[m]) for m in MODALITY_ORDER if modalities is None or m in modalities}


def cell_sequence(weights: dict | None = None) -> list[tuple[str, str]]:
    """One cycle of the smooth weighted round robin over ``weights`` (default :data:`WEIGHTS`).

    Every cell appears exactly its weight times, spread out as evenly as the
    weights allow (nginx's smooth weighted round robin).
    """
    weights = WEIGHTS if weights is None else weights
    cells = [(m, c, w) for m in MODALITY_ORDER if m in weights for c, w in weights[m].items()]
    total = sum(w for _, _, w in cells)
    current = [0] * len(cells)
    out = []
    for _ in range(total):
        for i, (_, _, w) in enumerate(cells):
            current[i] += w
        best = max(range(len(cells)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(cells[best][:2])
    return out


_SEQUENCES: dict = {}


def cell_for(index: int, split: str, seed: int, modalities=None) -> tuple[str, str]:
    """The ``(modality, cell)`` of record ``index`` of a weighted ``split``.

    Args:
        modalities: Entries the split holds (``None``: all, :data:`WEIGHTS`).
    """
    key = None if modalities is None else tuple(modalities)
    if key not in _SEQUENCES:
        _SEQUENCES[key] = cell_sequence(select_weights(modalities))
    sequence = _SEQUENCES[key]
    phase = zlib.crc32(f'{seed}:{split}'.encode()) % len(sequence)
    return sequence[(index + phase) % len(sequence)]


# ---------------------------------------------------------------------------
# The context of one record
# ---------------------------------------------------------------------------
class _Ctx:
    """What a builder needs: randomness, size, where to write, the heads."""

    def __init__(self, out_dir, split, index, seed, size, heads, modality):
        self.out_dir, self.split, self.index, self.size = out_dir, split, index, size
        self.heads, self.modality = heads, modality
        self.rng = np.random.default_rng([seed, zlib.crc32(split.encode()), index])
        self.meta: dict = {}
        self._transform = None

    @property
    def s(self) -> float:
        """Scale of object sizes relative to 64 px images."""
        return self.size / 64

    def transform(self, gsd: float):
        if self._transform is None:
            self._transform = transform_for(self.rng, gsd)
        return self._transform

    def qseed(self) -> int:
        return int(self.rng.integers(2 ** 31))

    def ask(self, task: str, targets: list | None = None, sized: bool = False, **fields) -> str:
        """The question of ``task``'s head: ``head.ask(targets)`` (with the image size when
        ``sized``) or, without ``targets``, ``head.question`` from the template fields alone."""
        head = self.heads[task]
        if targets is None:
            return head.question(seed=self.qseed(), **fields)
        return head.ask(targets, (self.size, self.size) if sized else None, seed=self.qseed(),
                        **fields)

    def choice(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def rel(self, folder: str, suffix: str = '', ext: str = '.tif') -> str:
        return f'{folder}/{self.split}/{self.index:06d}{suffix}{ext}'

    def tif(self, folder: str, data: np.ndarray, gsd: float, suffix: str = '', **kw) -> str:
        """Write ``data`` as the GeoTIFF ``folder/split/index`` (``kw``: :func:`write_geotiff`)."""
        rel = self.rel(folder, suffix)
        write_geotiff(os.path.join(self.out_dir, rel), data, self.transform(gsd), **kw)
        return rel

    def image(self, modality: str, scene: Scene) -> dict:
        """Render ``scene`` for a single-image modality, write it, return its image entry."""
        render, tif_kw, extra = _SINGLE_IMAGE[modality]
        path = self.tif(modality, render(scene, self.rng), GSD[modality], **tif_kw)
        return dict(path=path, sensor=SENSORS[modality], **extra)


#: How each single-image modality is rendered and written: ``(renderer, GeoTIFF
#: keywords, extra fields of the image entry)``.
_SINGLE_IMAGE = {
    'optical': (render_optical, {}, {}),
    'sar': (render_sar, dict(band_names=('VV', 'VH')), dict(units='linear')),
    'infrared': (render_thermal, {}, {}),
    'multispectral': (render_multispectral, dict(nodata=0, band_names=S2_L2A_BANDS), {}),
}


#: Land-cover classes multi-label answers name, in this order.
LANDCOVER_CLASSES = ('water', 'vegetation', 'bare soil', 'urban', 'road')


def landcover_labels(scene: Scene, min_share: float = 0.04) -> list[str]:
    """Land-cover classes covering at least ``min_share`` of the pixels not under objects."""
    free = scene.landcover[~scene.occupied()]
    share = np.bincount(free.astype(np.intp), minlength=len(S.LANDCOVER)) / max(free.size, 1)
    return [name for name in LANDCOVER_CLASSES if share[S.LANDCOVER.index(name)] >= min_share]


def _hbb(obj: Obj, **kw) -> dict:
    """The horizontal box of ``obj`` as a target (``kw``: its ``label``, ``role``)."""
    return dict(type='hbb', bbox=list(obj.bbox), **kw)


def _obb(obj: Obj, label: str) -> dict:
    return dict(type='obb', obb=[round(v, 2) for v in normalize_obb(obj.obb)], label=label)


def _yes(flag: bool) -> dict:
    return dict(type='text', text='yes' if flag else 'no')


def _choice(ctx: _Ctx, options, answer: str, question: str,
            shuffle: bool = True) -> tuple[list[dict], str]:
    """Targets and question of a multiple-choice record (``options`` shuffled first)."""
    if shuffle:
        options = [str(options[i]) for i in ctx.rng.permutation(len(options))]
    targets = [dict(type='choice', choices=list(options),
                    answer='ABCD'[list(options).index(answer)])]
    return targets, ctx.ask('choice', targets, question=question)


# ---------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------
#: Objects placed per scene category: ``{label: (min, max)}``, plus its layout.
KIND_RECIPES = {
    'harbour': dict(water='coast', objects={'ship': (1, 3), 'storage tank': (0, 1)}),
    'airport': dict(road=True, land=(BARE, URBAN), objects={'plane': (1, 3)}),
    'residential area': dict(road=True, land=(VEGETATION,),
                             objects={'building': (1, 3), 'vehicle': (0, 2)}),
    'industrial area': dict(land=(BARE, URBAN),
                            objects={'storage tank': (1, 3), 'building': (0, 1)}),
    'farmland': dict(land=(VEGETATION, BARE), fields=True, objects={}),
}
#: Thermal scenes differ: their industrial sites burn.
INFRARED_RECIPES = {
    'harbour': dict(water='coast', objects={'ship': (1, 3)}),
    'residential area': dict(road=True, land=(VEGETATION,),
                             objects={'building': (1, 2), 'vehicle': (1, 2)}),
    'industrial area': dict(land=(BARE, URBAN),
                            objects={'chimney': (1, 2), 'furnace': (0, 1), 'building': (0, 1)}),
    'farmland': dict(land=(VEGETATION, BARE), fields=True, objects={}),
}
#: Drawing order of object classes (large first).
PLACE_ORDER = ('plane', 'storage tank', 'building', 'furnace', 'chimney', 'ship', 'vehicle')


def compose(ctx: _Ctx, objects: dict[str, int], kind: str = 'mixed', land=None,
            water: str | None = None, road: bool | None = None, fields: bool = False,
            colors: dict | None = None) -> Scene:
    """A scene holding (up to) ``objects`` ``{label: count}`` on a fitting layout.

    Ships get water (a coast, or ``water='lake'``), vehicles a road; planes,
    tanks, buildings and industrial sites stand on land. Counts can come out
    lower when there is no room: callers read the scene's own counts.
    """
    rng, size = ctx.rng, ctx.size
    if land is None:   # a land cover every requested land object can stand on
        land = tuple(c for c in (VEGETATION, BARE, URBAN)
                     if all(c in S.OBJECT_SURFACES[k] for k, n in objects.items()
                            if n and k not in ('ship', 'vehicle'))) or (BARE, URBAN)
    land = land if isinstance(land, int) else int(land[int(rng.integers(len(land)))])
    scene = S.new_scene(rng, size, kind, land)
    if fields:
        for _ in range(int(rng.integers(1, 3))):
            S.add_lake(rng, scene, cls=BARE if land == VEGETATION else VEGETATION,
                       radius=(0.2, 0.3))
    want_water = water or ('coast' if objects.get('ship') else None)
    want_road = road if road is not None else bool(objects.get('vehicle'))
    if want_water == 'coast' and want_road:
        # a horizontal coast and a road along it, on the land side
        side = int(rng.integers(2))
        depth = rng.uniform(0.28, 0.38) * size
        if side == 0:
            pts = [(-1, -1), (size + 1, -1), (size + 1, depth), (-1, depth)]
            pos = rng.uniform(depth + 8 * ctx.s, size - 10 * ctx.s)
        else:
            pts = [(-1, size - depth), (size + 1, size - depth), (size + 1, size + 1),
                   (-1, size + 1)]
            pos = rng.uniform(10 * ctx.s, size - depth - 8 * ctx.s)
        scene.add_region(WATER, pts)
        S.add_road(rng, scene, vertical=False, pos=pos)
    else:
        if want_water == 'coast':
            S.add_coast(rng, scene)
        elif want_water == 'lake':
            S.add_lake(rng, scene)
        if want_road:
            S.add_road(rng, scene)
    for label in PLACE_ORDER:
        for _ in range(objects.get(label, 0)):
            color = (colors or {}).get(label) or None
            if not color and label == 'vehicle':   # vehicles of a scene have distinct colours
                used = [o.color for o in scene.objects if o.label == 'vehicle']
                color = ctx.choice([c for c in S.VEHICLE_COLORS if c not in used]
                                   or S.VEHICLE_COLORS)
            elif not color and label == 'building':
                color = ctx.choice(S.ROOF_COLORS)
            S.place(rng, scene, label, colors=[color])
    return scene


def kind_scene(ctx: _Ctx, kind: str, recipes=KIND_RECIPES) -> Scene:
    """A scene of category ``kind`` (:data:`KIND_RECIPES`)."""
    recipe = dict(recipes[kind])
    counts = {k: int(ctx.rng.integers(lo, hi + 1)) for k, (lo, hi) in recipe.pop('objects').items()}
    return compose(ctx, counts, kind=kind, **recipe)


def _distractors(ctx: _Ctx, classes, exclude, n_max=2) -> dict[str, int]:
    """Up to ``n_max`` objects of classes other than ``exclude`` (ships and vehicles rarer)."""
    pool = [c for c in classes if c not in exclude]
    return dict(Counter(ctx.choice(pool) for _ in range(int(ctx.rng.integers(0, n_max + 1)))))


def _unique_scene(ctx, classes, target: str, **kw) -> tuple[Scene, Obj]:
    """A scene with exactly one object of class ``target`` and some distractors."""
    for _ in range(6):
        scene = compose(ctx, {target: 1, **_distractors(ctx, classes, {target})}, **kw)
        hits = [o for o in scene.objects if o.label == target]
        if len(hits) == 1:
            return scene, hits[0]
    raise _Retry(f'no room for a {target}')


class _Retry(Exception):
    """A builder could not make its scene: the record is drawn again with fresh randomness."""


def _require(ok, why: str) -> None:
    """Draw the record again (:class:`_Retry`, saying ``why``) unless ``ok``."""
    if not ok:
        raise _Retry(why)


def _need(value, why: str):
    """``value``, unless it is ``None``: then the record is drawn again (:func:`_require`)."""
    _require(value is not None, why)
    return value


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------
KIND_PHRASES = {
    'harbour': ('a harbour', 'a port', 'a coastal harbour'),
    'airport': ('an airport', 'an airfield'),
    'residential area': ('a residential area', 'a housing area'),
    'industrial area': ('an industrial area', 'an industrial site'),
    'farmland': ('farmland', 'agricultural fields'),
    'mixed': ('a scene', 'an area'),
}
CAPTION_TEMPLATES = (
    '{kind} with {objects}.',
    'An overhead view of {kind} with {objects}.',
    '{objects} in {kind}.',
    'This image shows {kind} with {objects}.',
)
EMPTY_CAPTIONS = ('{kind} with no objects.', 'An overhead view of {kind}.',
                  'This image shows {kind}.')


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def caption(ctx: _Ctx, scene: Scene, classes, extra: str = '') -> str:
    """A templated caption naming the scene category and the object counts."""
    kind = ctx.choice(KIND_PHRASES.get(scene.kind, KIND_PHRASES['mixed']))
    parts = [count_phrase(scene.count(c), c) for c in classes if scene.count(c)]
    text = ctx.choice(CAPTION_TEMPLATES if parts else EMPTY_CAPTIONS).format(
        kind=kind, objects=join_words(parts))
    if extra:
        text = text[:-1] + extra + '.'
    return _cap(text)


# ---------------------------------------------------------------------------
# Single-image object scenes: optical, SAR, infrared
# ---------------------------------------------------------------------------
def _object_cell(ctx: _Ctx, cell: str, classes, kinds, recipes=KIND_RECIPES) -> dict:
    """Builders shared by the optical, SAR and infrared modalities."""
    rng, m = ctx.rng, ctx.modality
    if cell == 'classification/single':
        kind = ctx.choice(kinds)
        scene = kind_scene(ctx, kind, recipes)
        targets = [dict(type='label', label=kind)]
        question = ctx.ask('classification', targets)
    elif cell == 'classification/multilabel':
        # the land-cover classes present (at least 4 % of the pixels each)
        land = ctx.choice((VEGETATION, BARE, URBAN))
        water = ctx.choice((None, 'coast', 'lake'))
        road = bool(rng.integers(2)) and water != 'lake'
        scene = compose(ctx, _distractors(ctx, [c for c in classes if c != 'vehicle'], (), 1),
                        land=land, water=water, road=road, fields=rng.random() < 0.5)
        targets = [dict(type='labels', labels=landcover_labels(scene))]
        question = ctx.ask('classification', targets)
    elif cell == 'captioning':
        scene = kind_scene(ctx, ctx.choice(kinds), recipes)
        targets = [dict(type='text', text=caption(ctx, scene, classes))]
        question = ctx.ask('captioning')
    elif cell == 'vqa/count':
        label = ctx.choice(classes)
        n = int(rng.integers(0, 5))
        for _ in range(6):    # the drawn count, unless there is really no room for it
            scene = compose(ctx, {label: n, **_distractors(ctx, classes, {label}, 1)})
            if scene.count(label) == n:
                break
        targets = [dict(type='count', count=scene.count(label))]
        question = ctx.ask('vqa', variant='count', object=PLURAL[label])
    elif cell == 'vqa/colour':
        color = ctx.choice(('red', 'blue', 'white', 'yellow', 'grey'))
        label = 'building' if color == 'grey' else (
            'vehicle' if color != 'red' else ctx.choice(('vehicle', 'building')))
        scene, obj = _unique_scene(ctx, classes, label, colors={label: color})
        targets = [dict(type='text', text=obj.color)]
        q = ctx.choice(('What colour is the vehicle?', 'What is the colour of the vehicle?')
                       if label == 'vehicle' else
                       ('What colour is the roof of the building?',
                        'What is the colour of the building roof?'))
        question = ctx.ask('vqa', question=q)
    elif cell == 'vqa/yesno':
        label = ctx.choice(classes)
        present = bool(rng.integers(2))
        for _ in range(6):
            wants = _distractors(ctx, classes, {label}, 2)
            if present:
                wants[label] = int(rng.integers(1, 3))
            scene = compose(ctx, wants)
            if (scene.count(label) > 0) == present:
                break
        targets = [_yes(scene.count(label) > 0)]
        question = ctx.ask('vqa', question=ctx.choice((
            f'Is there a {label} in this image?', f'Are there any {PLURAL[label]} in this image?',
            f'Does this image contain a {label}?')))
    elif cell == 'grounding/hbb':
        if m == 'infrared' and rng.random() < 0.5:   # the hottest object
            label = ctx.choice(('chimney', 'furnace'))
            scene, obj = _unique_scene(ctx, ('vehicle', 'building', 'ship'), label)
            phrase = 'hottest object'
        else:
            label = ctx.choice(classes)
            scene, obj = _unique_scene(ctx, classes, label)
            phrase = obj.phrase if m == 'optical' else obj.label
        targets = [_hbb(obj, label=phrase)]
        question = ctx.ask('grounding', phrase=phrase)
    elif cell == 'grounding/obb':
        scene, obj = _unique_scene(ctx, [c for c in classes if c != 'vehicle'], 'ship')
        targets = [_obb(obj, 'ship')]
        question = ctx.ask('grounding', targets, phrase='ship')
    elif cell == 'detection':
        want = [str(c) for c in rng.choice(classes, size=int(rng.integers(1, 3)), replace=False)]
        counts = {c: 1 for c in want}
        for _ in range(int(rng.integers(0, 2))):
            counts[ctx.choice(want)] += 1
        scene = compose(ctx, counts)
        _require(scene.objects, 'empty scene')
        targets = [_hbb(o, label=o.label) for o in scene.objects]
        question = ctx.ask('detection')
    elif cell == 'region':
        want = [str(c) for c in rng.choice(classes, size=int(rng.integers(1, 3)), replace=False)]
        scene = compose(ctx, {c: 1 for c in want} | _distractors(ctx, classes, set(want), 1))
        _require(scene.objects, 'empty scene')
        obj = scene.objects[int(rng.integers(len(scene.objects)))]
        targets = [_hbb(obj, role='input'), dict(type='label', label=obj.label)]
        question = ctx.ask('region', targets, sized=True, region=REGION_SLOT)
    elif cell == 'segmentation':
        land_objects = [c for c in classes if c not in ('ship', 'vehicle')]
        if m == 'infrared' or rng.random() < 0.6:
            cls_name = 'water'
            scene = compose(ctx, _distractors(ctx, land_objects, set(), 2),
                            water=ctx.choice(('lake', 'coast')))
            region = scene.regions[-1] if scene.regions and scene.regions[-1]['cls'] == WATER \
                else None
        else:
            cls_name = 'vegetation'
            scene = compose(ctx, {}, land=BARE)
            region = S.add_lake(rng, scene, cls=VEGETATION, radius=(0.25, 0.35))
            for label, n in _distractors(ctx, land_objects, set(), 2).items():
                colors = [ctx.choice(S.ROOF_COLORS)] * n if label == 'building' else None
                S.place(rng, scene, label, n, surfaces=(BARE, URBAN), colors=colors)
        _require(region is not None and scene.region_visible(region).any(), 'no region')
        targets = [dict(type='poly', points=region['points'], label=cls_name)]
        question = ctx.ask('segmentation', classes=cls_name)
    elif cell == 'choice':
        if m == 'infrared' and rng.random() < 0.5:
            hot = ctx.choice(('chimney', 'furnace'))
            others = [str(c) for c in rng.choice(['vehicle', 'building', 'ship'], size=2,
                                                 replace=False)]
            scene = compose(ctx, {hot: 1, others[0]: 1, others[1]: int(rng.integers(0, 2))})
            _require(scene.count(hot) == 1, 'no hot object')
            options = [hot, *others]
            if rng.random() < 0.5:
                options.append('furnace' if hot == 'chimney' else 'chimney')
            targets, question = _choice(ctx, options, hot,
                                        'Which object is the hottest in this image?')
        elif rng.random() < 0.5:
            label = ctx.choice(classes)
            scene = compose(ctx, {label: int(rng.integers(1, 3))})
            _require(scene.count(label), 'empty scene')
            others = [c for c in classes if c != label]
            options = [label, *rng.choice(others, size=int(rng.integers(2, 4)), replace=False)]
            options = [str(options[i]) for i in rng.permutation(len(options))]
            targets, question = _choice(ctx, options, label, ctx.choice((
                'Which of these objects can be seen in the image?',
                'Which object class is present in this image?')), shuffle=False)
        else:
            label = ctx.choice(classes)
            scene = compose(ctx, {label: int(rng.integers(1, 4))})
            n = scene.count(label)
            _require(n, 'empty scene')
            options = ['1', '2', '3'] + (['4'] if rng.random() < 0.5 else [])
            targets, question = _choice(ctx, options, str(n),
                                        f'How many {PLURAL[label]} are there in this image?',
                                        shuffle=False)
    else:
        raise KeyError(f'no builder for {m} {cell}')
    image = ctx.image(m, scene)
    ctx.meta.update(kind=scene.kind, objects=[o.summary() for o in scene.objects])
    return dict(images=[image], question=question, targets=targets)


def build_optical(ctx, cell):
    return _object_cell(ctx, cell, OPTICAL_CLASSES, OPTICAL_KINDS)


def build_sar(ctx, cell):
    return _object_cell(ctx, cell, OPTICAL_CLASSES, SAR_KINDS)


def build_infrared(ctx, cell):
    return _object_cell(ctx, cell, INFRARED_CLASSES, INFRARED_KINDS, INFRARED_RECIPES)


# ---------------------------------------------------------------------------
# Multispectral: land cover only, with look-alike pairs
# ---------------------------------------------------------------------------
#: Multispectral class name -> land-cover id.
MS_IDS = {'water': WATER, 'grassland': VEGETATION, 'artificial turf': TURF, 'bare soil': BARE,
          'urban': URBAN, 'asphalt': S.ASPHALT}
#: Caption phrases of patches whose name is not a mass noun.
PATCH_PHRASES = {'urban': 'an urban patch', 'water': 'a pond'}
#: How a question names the look of a class in visible light.
MS_LOOKS = {'grassland': 'green', 'artificial turf': 'green', 'water': 'dark', 'asphalt': 'dark'}


def _ms_scene(ctx: _Ctx, background: str, patches: list[str]) -> tuple[Scene, list[dict]]:
    """Background class + convex patches at separate places (drawn in order)."""
    rng, size = ctx.rng, ctx.size
    scene = S.new_scene(rng, size, 'land cover', MS_IDS[background])
    regions = []
    # patch centres in different quadrants so that patches do not overlap much
    quads = [(0.28, 0.28), (0.72, 0.28), (0.28, 0.72), (0.72, 0.72)]
    order = rng.permutation(4)
    for i, name in enumerate(patches):
        qx, qy = quads[order[i]]
        if len(patches) == 1:
            qx, qy = rng.uniform(0.35, 0.65, 2)
        centre = (qx * size + rng.uniform(-3, 3), qy * size + rng.uniform(-3, 3))
        radius = (0.17, 0.22) if len(patches) > 1 else (0.22, 0.3)
        region = _need(S.add_lake(rng, scene, cls=MS_IDS[name], radius=radius, centre=centre),
                       'no patch')
        region['name'] = name
        regions.append(region)
    for region in regions:
        _require(scene.region_visible(region).sum() >= 0.9 * region['mask'].sum(),
                 'patches overlap')
    return scene, regions


def build_multispectral(ctx: _Ctx, cell: str) -> dict:
    rng, size = ctx.rng, ctx.size
    classes = list(S.MS_CLASSES)
    pair_classes = [c for c in classes if c in S.TWIN]
    subset = False
    if cell == 'classification/single':
        background = ctx.choice(classes)
        patches = [ctx.choice([c for c in classes if c != background])] \
            if rng.random() < 0.5 else []
        scene, regions = _ms_scene(ctx, background, patches)
        # keep the background dominant
        _require(not patches or regions[0]['mask'].mean() <= 0.3, 'patch too large')
        targets = [dict(type='label', label=background)]
        question = ctx.ask('classification', targets)
        subset = background in S.TWIN
    elif cell == 'classification/multilabel':
        first = ctx.choice(pair_classes) if rng.random() < 0.7 else ctx.choice(classes)
        rest = [c for c in classes if c != first]
        background = ctx.choice(rest)
        n_more = int(rng.integers(0, 2))
        pool = [c for c in rest if c != background]
        # often the look-alike of the first class, so that only NIR/SWIR tell them apart
        extra = [S.TWIN[first]] if (first in S.TWIN and S.TWIN[first] != background
                                    and rng.random() < 0.5) else []
        extra += [c for c in rng.choice(pool, size=n_more, replace=False) if c not in extra]
        patches = [first, *extra][:3]
        scene, regions = _ms_scene(ctx, background, patches)
        labels = [c for c in classes if c in {background, *patches}]
        targets = [dict(type='labels', labels=labels)]
        question = ctx.ask('classification', targets)
        subset = any(c in S.TWIN for c in labels)
    elif cell == 'captioning':
        background = ctx.choice(classes)
        patches = list(rng.choice([c for c in classes if c != background],
                                  size=int(rng.integers(1, 3)), replace=False))
        scene, regions = _ms_scene(ctx, background, [str(p) for p in patches])
        bits = [f'{PATCH_PHRASES.get(r["name"], "a patch of " + r["name"])} in the '
                f'{position_word(*np.argwhere(r["mask"]).mean(0)[::-1], size)}' for r in regions]
        text = ctx.choice(('{bg} with {patches}.', 'An area of {bg} with {patches}.',
                           'Mostly {bg}, with {patches}.')).format(bg=background,
                                                                   patches=join_words(bits))
        targets = [dict(type='text', text=_cap(text))]
        question = ctx.ask('captioning')
        subset = any(c in S.TWIN for c in [background, *patches])
    elif cell == 'vqa/yesno':
        pair = S.NONVISIBLE_PAIRS[int(rng.integers(2))]
        name = pair[int(rng.integers(2))]
        background = ctx.choice(['bare soil', 'urban'])
        scene, regions = _ms_scene(ctx, background, [name])
        pos = position_word(*np.argwhere(regions[0]['mask']).mean(0)[::-1], size)
        asked = pair[0]
        look = MS_LOOKS[name]
        what = ('natural grassland', 'real grass') if asked == 'grassland' else ('water', 'water')
        q = ctx.choice((f'Is the {look} area in the {pos} {what[0]}?',
                        f'Is the {look} patch {what[1]}?'))
        targets = [_yes(name == asked)]
        question = ctx.ask('vqa', question=q)
        subset = True
    elif cell == 'region':
        name = ctx.choice(pair_classes) if rng.random() < 0.6 else ctx.choice(classes)
        background = ctx.choice([c for c in classes if c != name])
        other = [c for c in classes if c not in (name, background)]
        patches = [name] + ([S.TWIN[name]] if name in S.TWIN and S.TWIN[name] != background
                            and rng.random() < 0.5 else
                            ([ctx.choice(other)] if rng.random() < 0.5 else []))
        scene, regions = _ms_scene(ctx, background, patches)
        box = _need(_box_inside(scene.region_visible(regions[0]), int(round(8 * ctx.s))),
                    'patch too small for a box')
        targets = [dict(type='hbb', bbox=box, role='input'), dict(type='label', label=name)]
        question = ctx.ask('region', targets, sized=True, region=REGION_SLOT)
        subset = name in S.TWIN
    elif cell == 'segmentation':
        name = ctx.choice(pair_classes) if rng.random() < 0.7 else ctx.choice(classes)
        background = ctx.choice([c for c in classes if c != name and S.TWIN.get(name) != c])
        patches = [name]
        if name in S.TWIN and rng.random() < 0.6:
            patches = [S.TWIN[name], name]         # a look-alike decoy elsewhere
        scene, regions = _ms_scene(ctx, background, patches)
        targets = [dict(type='poly', points=regions[-1]['points'], label=name)]
        question = ctx.ask('segmentation', classes=name)
        subset = name in S.TWIN
    elif cell == 'choice':
        name = ctx.choice(pair_classes) if rng.random() < 0.7 else ctx.choice(classes)
        background = ctx.choice([c for c in classes if c != name and S.TWIN.get(name) != c])
        scene, regions = _ms_scene(ctx, background, [name])
        pos = position_word(*np.argwhere(regions[0]['mask']).mean(0)[::-1], size)
        others = [c for c in classes if c not in (name, S.TWIN.get(name), background)]
        options = [name] + ([S.TWIN[name]] if name in S.TWIN else [])
        options += list(rng.choice(others, size=4 - len(options) - int(rng.integers(2)),
                                   replace=False))
        options = [str(options[i]) for i in rng.permutation(len(options))]
        targets, question = _choice(ctx, options, name, ctx.choice((
            f'What covers the patch in the {pos} of the image?',
            f'What is the surface of the area in the {pos}?')), shuffle=False)
        subset = name in S.TWIN
    else:
        raise KeyError(f'no builder for multispectral {cell}')
    image = ctx.image('multispectral', scene)
    ctx.meta.update(kind='land cover', regions=[
        dict(label=r['name'], points=r['points']) for r in regions])
    if subset:
        ctx.meta['subset'] = 'nonvisible'
    return dict(images=[image], question=question, targets=targets)


def _box_inside(mask: np.ndarray, side: int) -> list[float] | None:
    """A ``side`` x ``side`` box inside ``mask``, nearest its centre (``None`` if none fits)."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return None
    size = mask.shape[0]
    integral = np.zeros((size + 1, size + 1), dtype=np.int32)
    integral[1:, 1:] = mask.astype(np.int32).cumsum(0).cumsum(1)
    inside = (integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side]
              + integral[:-side, :-side]) == side * side      # (size-side+1)^2 top-left corners
    if not inside.any():
        return None
    ty, tx = np.nonzero(inside)
    d = (tx + side / 2 - xs.mean()) ** 2 + (ty + side / 2 - ys.mean()) ** 2
    k = int(np.argmin(d))
    x, y = float(tx[k]), float(ty[k])
    return [x, y, x + side, y + side]


# ---------------------------------------------------------------------------
# Temporal: dated acquisitions of one scene with changes
# ---------------------------------------------------------------------------
#: Events of a temporal series, by scene category.
TEMPORAL_EVENTS = {
    'residential area': ('new building', 'demolished building', 'cleared vegetation'),
    'harbour': ('ship arrived', 'ship left', 'ship moved'),
}
#: How each event is told in a change caption / a choice option.
EVENT_CAPTIONS = {
    'new building': 'a new building was built in the {pos}',
    'demolished building': 'a building in the {pos} was demolished',
    'cleared vegetation': 'the vegetation in the {pos} was cleared',
    'ship arrived': 'a ship arrived in the {pos}',
    'ship left': 'a ship left the {pos}',
    'ship moved': 'a ship moved from the {pos} to the {pos2}',
}
EVENT_OPTIONS = {
    'new building': 'a new building was built', 'demolished building': 'a building was demolished',
    'cleared vegetation': 'vegetation was cleared', 'ship arrived': 'a ship arrived',
    'ship left': 'a ship left', 'ship moved': 'a ship moved', None: 'nothing changed',
}
NO_CHANGE_CAPTIONS = ('nothing has changed', 'no change', 'the scene is the same as before')


def _temporal_series(ctx: _Ctx, kind: str, events: list[str]):
    """The first scene, the last scene and the change records of ``events``.

    Returns:
        ``(states, changes)``: one :class:`Scene` per acquisition, and one
        ``{'event', 'targets', 'pos', 'obj'}`` per event (regions in the last
        acquisition's pixels).
    """
    rng = ctx.rng
    n = int(rng.integers(TEMPORAL_FRAMES[0], TEMPORAL_FRAMES[1] + 1))
    if kind == 'harbour':
        n_ships = 1 + sum(e in ('ship left', 'ship moved') for e in events)
        base = compose(ctx, {'ship': n_ships, 'storage tank': int(rng.integers(0, 2))},
                       kind='harbour', water='coast')
    else:
        base = compose(ctx, {'building': int(rng.integers(1, 3))}, kind='residential area',
                       land=VEGETATION, road=bool(rng.integers(2)))
    final = base.copy()
    changes = []
    ships = [o for o in base.objects if o.label == 'ship']
    for event in events:
        change = dict(event=event)
        if event == 'new building':
            change['obj'] = _need(S.make_object(rng, final, 'building',
                                                color=ctx.choice(S.ROOF_COLORS),
                                                surfaces=(VEGETATION, BARE, URBAN)), 'no room')
        elif event == 'demolished building':
            change['obj'] = _need(next((o for o in final.objects if o.label == 'building'), None),
                                  'nothing to demolish')
        elif event == 'cleared vegetation':
            occupied = final.occupied()
            region = None
            for _ in range(10):
                trial = final.copy()
                region = S.add_lake(rng, trial, cls=BARE, radius=(0.18, 0.26))
                if region is not None and not (region['mask'] & occupied).any() \
                        and (base.landcover[region['mask']] == VEGETATION).mean() > 0.97:
                    final = trial
                    break
                region = None
            _need(region, 'no vegetation to clear')
            change.update(region=region, targets=[dict(type='poly', points=region['points'])])
        elif event == 'ship arrived':
            change['obj'] = _need(S.make_object(rng, final, 'ship'), 'no room')
        else:   # a ship leaves or moves
            old = _need(ships.pop(0) if ships else None, 'no ship')
            change['obj'] = old
            if event == 'ship moved':
                final.objects.remove(old)    # off the scene before its new place is drawn
                new = _need(S.make_object(rng, final, 'ship', avoid=_dilate(old.mask, 3)),
                            'no room')
                change.update(obj=new, old=old, targets=[_hbb(old), _hbb(new)])
        if event != 'cleared vegetation':   # that one's trial scene already is `final`
            _apply(final, change)
            change.setdefault('targets', [_hbb(change['obj'])])
        changes.append(change)
    # the changes happen at random acquisitions between the first and the last
    at = {id(c): int(rng.integers(1, n)) for c in changes}
    states = []
    for t in range(n):
        state = base.copy()
        for c in changes:
            if at[id(c)] <= t:
                _apply(state, c)
        states.append(state)
    states[-1] = final
    return states, changes


def _apply(state: Scene, change: dict) -> None:
    event = change['event']
    if event in ('new building', 'ship arrived'):
        state.objects.append(change['obj'])
    elif event in ('demolished building', 'ship left'):
        state.objects = [o for o in state.objects if o is not change['obj']]
        if event == 'demolished building':
            x1, y1, x2, y2 = change['obj'].bbox
            state.add_region(BARE, [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
    elif event == 'ship moved':
        state.objects = [o for o in state.objects if o is not change['old']] + [change['obj']]
    elif event == 'cleared vegetation':
        state.landcover = state.landcover.copy()
        state.landcover[change['region']['mask']] = BARE


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(r):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _event_text(change: dict, size: int) -> str:
    def pos_of(obj_or_region):
        if isinstance(obj_or_region, dict):
            y, x = np.argwhere(obj_or_region['mask']).mean(0)
            return position_word(x, y, size)
        return position_word(obj_or_region.cx, obj_or_region.cy, size)
    event = change['event']
    if event == 'ship moved':
        old, new = pos_of(change['old']), pos_of(change['obj'])
        if old == new:
            return f'a ship in the {old} moved'
        return EVENT_CAPTIONS[event].format(pos=old, pos2=new)
    return EVENT_CAPTIONS[event].format(pos=pos_of(change.get('region') or change['obj']))


def build_temporal(ctx: _Ctx, cell: str) -> dict:
    rng, size = ctx.rng, ctx.size
    kind = ctx.choice(tuple(TEMPORAL_EVENTS))
    pool = TEMPORAL_EVENTS[kind]
    if cell == 'vqa/count':
        kind = 'residential area'
        events = ['new building'] * int(rng.integers(0, 4))
        if rng.random() < 0.3:
            events.append('cleared vegetation')
    elif cell == 'grounding/hbb':
        events = [ctx.choice(('new building', 'ship arrived'))]
        kind = 'residential area' if events[0] == 'new building' else 'harbour'
    else:
        n_events = int(rng.choice([0, 1, 1, 1, 2]))
        if cell in ('choice', 'classification/single'):
            n_events = min(n_events, 1)
        events = [str(e) for e in rng.choice(pool, size=n_events, replace=False)]
    states, changes = _temporal_series(ctx, kind, events)
    if cell == 'change/regions':
        targets = [t for c in changes for t in c['targets']]
        question = ctx.ask('change', targets, sized=True)
    elif cell == 'change/caption':
        text = join_words([_event_text(c, size) for c in changes]) if changes \
            else ctx.choice(NO_CHANGE_CAPTIONS)
        targets = [dict(type='text', text=_cap(text) + '.')]
        question = ctx.ask('change', targets, sized=True)
    elif cell == 'vqa/count':
        targets = [dict(type='count', count=sum(c['event'] == 'new building' for c in changes))]
        question = ctx.ask('vqa', question=ctx.choice((
            'How many new buildings were built between the first and the last image?',
            'How many buildings appeared in this time series?')))
    elif cell == 'vqa/yesno':
        if rng.random() < 0.4:
            q = ctx.choice(('Has anything changed between the first and the last image?',
                            'Is there any change in this time series?'))
            answer = bool(changes)
        else:
            asked = ctx.choice(pool)
            q = {'new building': 'Was a new building built?',
                 'demolished building': 'Was a building demolished?',
                 'cleared vegetation': 'Was vegetation cleared?',
                 'ship arrived': 'Did a ship arrive?', 'ship left': 'Did a ship leave?',
                 'ship moved': 'Did a ship move?'}[asked]
            answer = any(c['event'] == asked for c in changes)
        targets = [_yes(answer)]
        question = ctx.ask('vqa', question=q)
    elif cell == 'grounding/hbb':
        phrase = ('new building' if events[0] == 'new building' else 'ship that arrived') \
            + ' in the last image'
        targets = [_hbb(changes[0]['obj'], label=phrase)]
        question = ctx.ask('grounding', phrase=phrase)
    elif cell == 'choice':
        answer = EVENT_OPTIONS[changes[0]['event'] if changes else None]
        wrong = [EVENT_OPTIONS[e] for e in (*pool, None) if EVENT_OPTIONS[e] != answer]
        options = [answer, *rng.choice(wrong, size=int(rng.integers(2, 4)), replace=False)]
        targets, question = _choice(ctx, options, answer,
                                    'What changed between the first and the last image?')
    elif cell == 'classification/single':
        targets = [dict(type='label', label=kind)]
        question = ctx.ask('classification', targets)
    else:
        raise KeyError(f'no builder for temporal {cell}')
    # the acquisitions: dated, same grid, different illumination and noise
    day = dt.date(2018, 1, 1) + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
    images = []
    for t, state in enumerate(states):
        if t:
            day = day + dt.timedelta(days=int(rng.integers(20, 150)))
        data = render_optical(state, rng, gain=float(rng.uniform(0.88, 1.12)),
                              tint=rng.uniform(-6, 6, 3))
        rel = ctx.tif('temporal', data, GSD['temporal'], suffix=f'_t{t}')
        images.append(dict(path=rel, sensor='rgb', time=day.isoformat()))
    ctx.meta.update(kind=kind, events=[c['event'] for c in changes],
                    objects=[o.summary() for o in states[-1].objects],
                    first_objects=[o.summary() for o in states[0].objects])
    return dict(images=images, question=question, targets=targets)


# ---------------------------------------------------------------------------
# Video: vehicles driving along roads at constant velocity
# ---------------------------------------------------------------------------
DIRECTIONS = {'east': (1, 0, 0.0), 'west': (-1, 0, 180.0), 'south': (0, 1, 90.0),
              'north': (0, -1, -90.0)}


def _video_scene(ctx: _Ctx, n_vehicles: int, n_moving: int, tries: int = 20):
    """A crossing of two roads and vehicles, ``n_moving`` of them driving.

    Returns:
        ``(base scene without vehicles, tracks)``; a track is ``{'color',
        'direction' or None, 'frames': [Obj per frame]}``.
    """
    rng, size = ctx.rng, ctx.size
    base = S.new_scene(rng, size, 'road crossing', ctx.choice((URBAN, VEGETATION, BARE)))
    roads = [S.add_road(rng, base, vertical=False), S.add_road(rng, base, vertical=True)]
    colors = [str(c) for c in rng.permutation(S.VEHICLE_COLORS)[:n_vehicles]]
    tracks: list[dict] = []
    for i, color in enumerate(colors):
        moving = i < n_moving
        for _ in range(tries):
            road = roads[int(rng.integers(2))]
            axis = ('north', 'south') if road['vertical'] else ('east', 'west')
            direction = ctx.choice(axis) if moving else None
            ln = rng.uniform(7, 9) * ctx.s
            wd = ln * rng.uniform(0.5, 0.58)
            lane = road['width'] / 4 * (1 if rng.random() < 0.5 else -1)
            speed = rng.uniform(1.5, 2.5) * ctx.s if moving else 0.0
            lo, hi = ln / 2 + 2, size - ln / 2 - 2 - speed * (VIDEO_FRAMES - 1)
            if hi <= lo:
                continue
            along = rng.uniform(lo, hi)
            if direction in ('west', 'north'):
                along = size - along
            across = road['centre'] + lane
            cx, cy = (across, along) if road['vertical'] else (along, across)
            angle = DIRECTIONS[direction][2] if direction else \
                ctx.choice((90.0, -90.0) if road['vertical'] else (0.0, 180.0))
            ux, uy = (DIRECTIONS[direction][:2] if direction else (0, 0))
            first = Obj('vehicle', float(cx), float(cy), float(ln), float(wd), float(angle),
                        color)
            frames = [first.moved(ux * speed * t, uy * speed * t, size)
                      for t in range(VIDEO_FRAMES)]
            if any(f.bbox is None or f.bbox[0] < 1 or f.bbox[1] < 1 or f.bbox[2] > size - 1
                   or f.bbox[3] > size - 1 for f in frames):
                continue
            swept = S.box_union(frames[0].bbox, frames[-1].bbox)
            if any(S.boxes_overlap(swept, tr['swept'], 2) for tr in tracks):
                continue
            tracks.append(dict(color=color, direction=direction, frames=frames, swept=swept,
                               speed=float(speed)))
            break
        else:
            raise _Retry('no room for a vehicle track')
    return base, tracks


def build_video(ctx: _Ctx, cell: str) -> dict:
    rng = ctx.rng
    if cell in ('vqa/direction', 'grounding/hbb'):
        n, m = int(rng.integers(1, 4)), 1
    elif cell == 'choice':
        n, m = int(rng.integers(2, 4)), 1
    elif cell == 'vqa/count':
        m = int(rng.integers(0, 4))
        n = int(rng.integers(max(m, 1), 4))
    else:
        n = int(rng.integers(1, 4))
        m = int(rng.integers(0, min(n, 2) + 1))
    base, tracks = _video_scene(ctx, n, m)
    moving = [t for t in tracks if t['direction']]
    if cell == 'vqa/direction':
        targets = [dict(type='text', text=moving[0]['direction'])]
        question = ctx.ask('vqa', question=ctx.choice((
            'In which direction is the moving vehicle travelling?',
            'Which way is the moving vehicle heading: north, south, east or west?')))
    elif cell == 'vqa/count':
        targets = [dict(type='count', count=len(moving))]
        question = ctx.ask('vqa', question=ctx.choice((
            'How many vehicles are moving in this video?', 'How many vehicles are driving?')))
    elif cell == 'choice':
        answer = f'the {moving[0]["color"]} vehicle'
        options = [f'the {t["color"]} vehicle' for t in tracks]
        absent = [str(c) for c in rng.permutation(
            [c for c in S.VEHICLE_COLORS if c not in {t['color'] for t in tracks}])]
        # 3 or 4 options: the vehicles of the video, then colours that are not in it
        want = 4 if len(options) == 3 or rng.random() < 0.5 else 3
        options += [f'the {c} vehicle' for c in absent[:max(want - len(options), 0)]]
        targets, question = _choice(ctx, options, answer, 'Which vehicle is moving?')
    elif cell == 'grounding/hbb':
        phrase = 'moving vehicle in the last frame'
        targets = [_hbb(moving[0]['frames'][-1], label=phrase)]
        question = ctx.ask('grounding', phrase=phrase)
    elif cell == 'detection':
        targets = [_hbb(t['frames'][-1], label='vehicle') for t in tracks]
        question = ctx.ask('detection', classes='vehicle')
    elif cell == 'change/regions':
        # changed pixels between the first and the last frame: each moving vehicle's swept box
        targets = [dict(type='hbb', bbox=t['swept']) for t in moving]
        question = ctx.ask('change')
    elif cell == 'captioning':
        parts = [f'a {t["color"]} vehicle drives {t["direction"]}' for t in moving]
        parked = [f'a {t["color"]} vehicle' for t in tracks if not t['direction']]
        parked_text = join_words(parked) + (' is' if len(parked) == 1 else ' are') + ' parked'
        if parts:
            text = join_words(parts) + (' while ' + parked_text if parked else '')
        else:
            text = parked_text + ' and nothing moves'
        text = ctx.choice(('{t} at a road crossing.', '{t}.', 'At a crossing, {t}.')).format(t=text)
        targets = [dict(type='text', text=_cap(text))]
        question = ctx.ask('captioning')
    else:
        raise KeyError(f'no builder for video {cell}')
    frames = []
    for t in range(VIDEO_FRAMES):
        state = base.copy()
        state.objects = [tr['frames'][t] for tr in tracks]
        frames.append(render_optical(state, rng, noise=2.0))
    rel = ctx.rel('video', ext=video_format()[0])
    write_video(os.path.join(ctx.out_dir, rel), frames)
    ctx.meta.update(kind='road crossing', num_frames=VIDEO_FRAMES, tracks=[
        dict(color=t['color'], direction=t['direction'], first=t['frames'][0].bbox,
             last=t['frames'][-1].bbox) for t in tracks])
    return dict(images=[dict(path=rel, sensor='rgb')], question=question, targets=targets)


# ---------------------------------------------------------------------------
# Fusion: co-registered optical + SAR, clouds in the optical image
# ---------------------------------------------------------------------------
def _cloud_over(ctx: _Ctx, scene: Scene, centre, radius, keep_clear=()) -> np.ndarray | None:
    """A convex opaque cloud around ``centre`` that touches none of ``keep_clear``."""
    rng = ctx.rng
    for _ in range(8):
        pts = S.simplify(S.clip_to_image(
            S.random_convex(rng, centre[0], centre[1], radius, n=(7, 10)), scene.size))
        if len(pts) < 3:
            continue
        mask = S.polygon_mask(pts, scene.size)
        if not any((mask & o.mask).any() for o in keep_clear):
            return mask, pts
    return None, None


def _fusion_scene(ctx: _Ctx, n_ships: int, hide, decoy: bool, tanks: int = None):
    """A harbour with ``n_ships`` ships and an optional cloud.

    ``hide`` is falsy (no object hidden), ``1`` or ``'ship'`` (a ship under
    the cloud) or ``'storage tank'`` (a tank under the cloud). ``decoy`` adds
    a cloud that hides nothing (over water or land) when none hides an object,
    so that a cloud alone does not give the answer away.
    """
    rng = ctx.rng
    hide = 'ship' if hide is True or hide == 1 else (hide or None)
    if tanks is None:
        tanks = int(rng.integers(0, 2))
    if hide == 'storage tank':
        tanks = max(tanks, 1)
    scene = compose(ctx, {'ship': n_ships, 'storage tank': tanks,
                          'building': int(rng.integers(0, 2))}, kind='harbour', water='coast')
    ships = [o for o in scene.objects if o.label == 'ship']
    _require(len(ships) == n_ships and (not hide or scene.count(hide)), 'no room for the objects')
    cloud, hidden, points = None, [], None
    if hide:
        target = next(o for o in scene.objects if o.label == hide)
        radius = target.length / 2 + rng.uniform(3, 6) * ctx.s
        cloud, points = _cloud_over(ctx, scene, (target.cx, target.cy), radius,
                                    keep_clear=[o for o in scene.objects if o is not target])
        _require(cloud is not None and (cloud >= target.mask).all(),
                 'the cloud does not hide the object')
        hidden = [target]
    elif decoy:
        centre = _random_pixel(rng, ~_dilate(scene.occupied(), 2))
        cloud, points = _cloud_over(ctx, scene, centre, rng.uniform(6, 10) * ctx.s,
                                    keep_clear=scene.objects)
    return scene, ships, cloud, points, hidden


def _random_pixel(rng: np.random.Generator, mask: np.ndarray) -> tuple:
    """The centre ``(x, y)`` of a pixel of ``mask`` drawn at random."""
    ys, xs = np.nonzero(mask)
    k = int(rng.integers(len(ys)))
    return xs[k] + 0.5, ys[k] + 0.5


def build_fusion(ctx: _Ctx, cell: str) -> dict:
    rng = ctx.rng
    cloudy = rng.random() < 0.6
    decoy = not cloudy and rng.random() < 0.5
    subset = cloudy
    if cell == 'vqa/count':
        n = int(rng.integers(0, 5))
        cloudy = cloudy and n > 0
        decoy = decoy or (n == 0 and rng.random() < 0.5)
        subset = cloudy
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, int(cloudy), decoy)
        targets = [dict(type='count', count=len(ships))]
        question = ctx.ask('vqa', variant='count', object='ships')
    elif cell == 'grounding/obb':
        n = 1 + int(cloudy and rng.random() < 0.5)
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, int(cloudy), decoy)
        obj = hidden[0] if cloudy else ships[0]
        phrase = 'ship hidden by the cloud' if cloudy else 'ship'
        targets = [_obb(obj, phrase)]
        question = ctx.ask('grounding', targets, phrase=phrase)
    elif cell == 'detection':
        n = int(rng.integers(1, 3))
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, int(cloudy), decoy,
                                                          tanks=int(rng.integers(0, 2)))
        targets = [_hbb(o, label=o.label) for o in scene.objects
                   if o.label in ('ship', 'storage tank')]
        question = ctx.ask('detection', classes='ship, storage tank')
    elif cell == 'region':
        n = int(rng.integers(1, 3))
        hide = ctx.choice(('ship', 'storage tank')) if cloudy else None
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, hide, decoy)
        obj = hidden[0] if cloudy else scene.objects[int(rng.integers(len(scene.objects)))]
        targets = [_hbb(obj, role='input'), dict(type='label', label=obj.label)]
        question = ctx.ask('region', targets, sized=True, region=REGION_SLOT)
    elif cell == 'segmentation':
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, int(rng.integers(0, 2)), 0,
                                                          False)
        water = next(r for r in scene.regions if r['cls'] == WATER)
        if rng.random() < 0.7:    # a cloud over the coastline
            centre = _random_pixel(rng, water['mask'] & ~_erode(water['mask'], 2))
            cloud, cpts = _cloud_over(ctx, scene, centre, rng.uniform(8, 13) * ctx.s)
        subset = cloud is not None and (cloud & water['mask']).any()
        targets = [dict(type='poly', points=water['points'], label='water')]
        question = ctx.ask('segmentation', classes='water')
    elif cell == 'choice':
        # what is under the cloud? the optical image cannot say, SAR can
        under = ctx.choice(('a ship', 'open water', 'a storage tank'))
        n = int(rng.integers(1, 3))
        if under == 'a ship':
            scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, 1, False)
        else:
            scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, 0, False,
                                                              tanks=int(under != 'open water'))
            if under == 'open water':
                water = next(r for r in scene.regions if r['cls'] == WATER)
                free = water['mask'] & ~_dilate(scene.occupied(), 3)
                free &= _erode(water['mask'], 6)
            else:
                tank = _need(next((o for o in scene.objects if o.label == 'storage tank'), None),
                             'no tank')
                free = np.zeros_like(tank.mask)
                free[int(tank.cy), int(tank.cx)] = True
            _require(free.any(), 'no place for the cloud')
            centre = _random_pixel(rng, free)
            if under == 'a storage tank':
                radius = tank.length / 2 + rng.uniform(3, 5) * ctx.s
                keep = [o for o in scene.objects if o is not tank]
            else:
                radius = rng.uniform(6, 9) * ctx.s
                keep = scene.objects
            cloud, cpts = _cloud_over(ctx, scene, centre, radius, keep_clear=keep)
            _require(cloud is not None
                     and (under != 'a storage tank' or (cloud >= tank.mask).all()),
                     'cloud does not hide the tank')
            hidden = [tank] if under == 'a storage tank' else []
        options = ['a ship', 'open water', 'a storage tank'] + \
            (['a building'] if rng.random() < 0.5 else [])
        targets, question = _choice(ctx, options, under, 'What is under the cloud?')
        subset = True
    elif cell == 'captioning':
        n = int(rng.integers(1, 4))
        scene, ships, cloud, cpts, hidden = _fusion_scene(ctx, n, int(cloudy), decoy)
        extra = ''
        if hidden:
            extra = ', one of them under a cloud' if n > 1 else ', hidden under a cloud'
        targets = [dict(type='text', text=caption(ctx, scene, FUSION_CLASSES, extra))]
        question = ctx.ask('captioning')
    else:
        raise KeyError(f'no builder for fusion {cell}')
    # both renderings first: the record's grid is drawn when its first GeoTIFF is written
    rendered = {'optical': render_optical(scene, rng, cloud=cloud), 'sar': render_sar(scene, rng)}
    images = [dict(path=ctx.tif('fusion', data, GSD['fusion'], f'_{m}', **_SINGLE_IMAGE[m][1]),
                   sensor=SENSORS[m], modality=m, **_SINGLE_IMAGE[m][2])
              for m, data in rendered.items()]
    ctx.meta.update(kind='harbour', objects=[o.summary() for o in scene.objects],
                    hidden=[o.bbox for o in hidden])
    if cloud is not None:
        ctx.meta['cloud'] = cpts
    if subset:
        ctx.meta['subset'] = 'cloud'
    return dict(images=images, question=question, targets=targets)


def _erode(mask: np.ndarray, r: int) -> np.ndarray:
    return ~_dilate(~mask, r)


#: The builder of each modality entry: ``builder(ctx, cell) -> sample``.
BUILDERS: dict[str, Callable] = {
    'optical': build_optical, 'sar': build_sar, 'infrared': build_infrared,
    'multispectral': build_multispectral, 'temporal': build_temporal, 'video': build_video,
    'fusion': build_fusion,
}


# ---------------------------------------------------------------------------
# Records and the generator
# ---------------------------------------------------------------------------
#: How multiple-choice records are asked: ``'letter'`` (answer with the option's
#: letter, the benchmarks' format) or ``'option'`` (answer with the option's text):
#: the choice head's answer styles.
CHOICE_ANSWERS = ChoiceHead.ANSWER_STYLES


def check_choice_answer(choice_answer: str, where: str = 'choice_answer') -> str:
    """``choice_answer`` if it is one of :data:`CHOICE_ANSWERS`, else a ``ValueError``."""
    if choice_answer not in CHOICE_ANSWERS:
        raise ValueError(f'{where} must be one of {CHOICE_ANSWERS}, got {choice_answer!r}')
    return choice_answer


def build_heads(choice_answer: str = 'letter') -> dict:
    """The nine task heads with a LocTokenSerializer (questions only use their templates).

    Args:
        choice_answer: ``'letter'`` or ``'option'``: the choice head's answer style,
            which picks its question phrasings (no letter instruction for ``'option'``).
    """
    from eov.heads.catalog import BUILTIN_TASKS
    from eov.registry import HEADS
    extra = {'choice': dict(answer=check_choice_answer(choice_answer))}
    return {t: HEADS.build(dict(type=t, serializer=dict(type='LocTokenSerializer'),
                                **extra.get(t, {})))
            for t in BUILTIN_TASKS}


def make_record_v2(index: int, split: str, seed: int, out_dir: str, image_size: int = 64,
                   heads: dict | None = None, cell: tuple[str, str] | None = None,
                   modalities=None) -> list[dict]:
    """Generate, write and describe record ``index`` of ``split``.

    Args:
        cell: ``(modality, cell)`` to build (default: the weighted round
            robin's, :func:`cell_for`).
        modalities: Entries of the weighted round robin (``None``: all).

    Returns:
        The record, followed by its optical-only twin for cloud-subset fusion
        records of the ``test`` split (paths relative to ``out_dir``).
    """
    from eov.datasets.schema import validate_record
    heads = heads or build_heads()
    modality, cell = cell or cell_for(index, split, seed, modalities)
    task, variant = cell_task(cell)
    for attempt in range(20):
        ctx = _Ctx(out_dir, split, index, seed + 7919 * attempt if attempt else seed,
                   image_size, heads, modality)
        try:
            sample = BUILDERS[modality](ctx, cell)
            break
        except _Retry:
            continue
    else:
        raise RuntimeError(f'EOV-Synth: cannot build {modality} {cell} record {split}/{index}')
    meta = dict(cell=f'{modality}:{cell}')
    if variant:
        meta['variant'] = variant
    meta.update(ctx.meta)
    if 'objects' in meta:             # TaskMetric(split_by='num_objects') reads it
        meta['num_objects'] = len(meta['objects'])
    if ctx._transform is not None:    # every GeoTIFF of the record shares this grid
        meta['crs'] = f'EPSG:{CRS_EPSG}'
        meta['transform'] = list(ctx._transform)
    meta['image_size'] = [image_size, image_size]
    record = dict(
        id=f'synth2-{split}-{index}', task=task, modality=modality,
        images=sample['images'],
        conversations=[{'from': 'human', 'value': f'{sample["question"]}\n<image>'},
                       {'from': 'assistant', 'value': None}],
        targets=sample['targets'], meta=meta)
    validate_record(record, f'{split}:{index}')
    records = [record]
    if modality == 'fusion' and split == 'test' and meta.get('subset') == 'cloud':
        optical = next(e for e in record['images'] if e.get('modality') == 'optical')
        twin = dict(record, id=record['id'] + '-optical', modality='optical',
                    images=[dict(path=optical['path'], sensor='rgb')],
                    meta=dict(meta, twin_of=record['id'], subset_only=True))
        validate_record(twin, f'{split}:{index} (optical twin)')
        records.append(twin)
    return records


_WORKER: dict = {}


def _worker_init(out_dir: str, seed: int, image_size: int, modalities=None,
                 choice_answer: str = 'letter') -> None:
    import rasterio
    # no directory listing on open: output folders hold thousands of files
    env = rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR")
    env.__enter__()
    _WORKER.update(out_dir=out_dir, seed=seed, image_size=image_size,
                   heads=build_heads(choice_answer),
                   env=env, modalities=modalities)


def _worker_lines(job: tuple) -> list[str]:
    split, index, cell = job
    w = _WORKER
    return [json.dumps(r) for r in make_record_v2(index, split, w['seed'], w['out_dir'],
                                                  w['image_size'], w['heads'], cell=cell,
                                                  modalities=w['modalities'])]


def _auto_workers(total: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        cpus = os.cpu_count() or 1
    # on a small shared machine the processes only compete with each other
    return 1 if total < 1000 or cpus < 4 else min(cpus, 8)


def scored_cells(record: dict) -> list[str]:
    """The scoreboard cells a record counts in: ``'<modality>/<cell>'`` and, for each of
    its ``meta.subset`` values, ``'<modality>/<cell>/<subset>'`` (as ``TaskMetric`` scores it)."""
    meta = record.get('meta') or {}
    base = f"{record['modality']}/{meta['cell'].partition(':')[2]}"
    subsets = meta.get('subset')
    subsets = [subsets] if isinstance(subsets, str) else list(subsets or [])
    parent = [] if meta.get('subset_only') else [base]
    return parent + [f'{base}/{s}' for s in subsets if s]


def _topup_lines(record_lines: list[str], short: set, out_dir: str) -> list[str]:
    """The lines of a top-up record worth keeping, marked ``subset_only``.

    A top-up record is drawn to fill a short subset cell: it is scored there only,
    so the parent cell keeps the records of the first round and their natural share
    of the subset (as in training). Lines that fill no short cell are dropped, with
    the files no kept line uses.
    """
    kept, dropped = [], []
    for line in record_lines:
        record = json.loads(line)
        record['meta']['subset_only'] = True
        if set(scored_cells(record)) & short:
            kept.append(record)
        else:
            dropped.append(record)
    used = {e['path'] for r in kept for e in r['images']}
    for record in dropped:
        for entry in record['images']:
            if entry['path'] not in used and os.path.isfile(os.path.join(out_dir, entry['path'])):
                os.remove(os.path.join(out_dir, entry['path']))
    return [json.dumps(r) for r in kept]


#: Rounds of top-up records a per-cell split may take before giving up.
MAX_TOPUP_ROUNDS = 8


def _topup(per_cell: int, counts: dict, made: dict, sources: dict) -> dict:
    """Extra records per generator cell so every short scoreboard cell reaches ``per_cell``.

    Args:
        per_cell: The records every scoreboard cell needs.
        counts: ``{scoreboard cell: records so far}``.
        made: ``{generator cell: records built so far}``.
        sources: ``{scoreboard cell: {generator cell: records of it that counted there}}``.

    Returns:
        ``{generator cell: extra records}`` (empty when no cell is short).
    """
    extra: dict = {}
    for name, have in counts.items():
        if have >= per_cell:
            continue
        # the generator cell that yields this scoreboard cell most often
        source, hits = max(sources[name].items(), key=lambda kv: (kv[1] / made[kv[0]], kv[0]))
        rate = hits / made[source]
        want = int(math.ceil((per_cell - have) / rate * 1.15)) + 1
        extra[source] = max(extra.get(source, 0), want)
    return extra


def generate_v2(out_dir: str, splits: dict[str, int], seed: int = 0, image_size: int = 64,
                progress: bool = True, workers: int | None = None, modalities=None,
                per_cell: dict[str, int] | None = None,
                choice_answer: str = 'letter') -> dict[str, str]:
    """Write EOV-Synth v2: ``OUT/{split}.jsonl``, images under ``OUT/<modality>/``.

    Args:
        out_dir: Output directory (created).
        splits: Records per split, e.g. ``{'train': 10000, 'test': 1500}``, drawn
            by the weighted round robin (:data:`WEIGHTS`). The ``test`` split
            also gets an optical-only twin of each cloud-subset fusion record
            (not counted here).
        seed: Base seed; splits differ through their names.
        image_size: Side of every image (pixels).
        progress: Show a progress bar per split.
        workers: Processes that build records (``None``: one per CPU, at
            most 8, for 1000 records or more on a machine with 4 CPUs or
            more; else 1). The output does not depend on it: a record depends
            only on ``(seed, split, index)`` and its cell, and lines are written
            in index order.
        modalities: The modality entries to generate (``None``: all seven).
        per_cell: Balanced splits, ``{split: N}``: every scoreboard cell --
            each ``(modality, task[/variant])`` and each of its subsets
            (``/cloud``, ``/nonvisible``) -- gets at least ``N`` records. ``N``
            records of every cell are built in turn; cells whose subsets are
            short get more records, round by round, until every subset has
            ``N`` (the rounds depend only on the records, so the output is
            deterministic).
        choice_answer: ``'letter'`` (default) or ``'option'``: how the
            multiple-choice questions ask to be answered (see
            :class:`~eov.heads.ChoiceHead`; train with the same style).

    Returns:
        ``{split: path of its JSONL file}``.
    """
    if image_size < 32:
        raise ValueError(f'image_size must be >= 32, got {image_size}')
    check_choice_answer(choice_answer)
    weights = select_weights(modalities)
    modalities = None if modalities is None else [m for m in MODALITY_ORDER if m in weights]
    per_cell = dict(per_cell or {})
    both = sorted(set(splits) & set(per_cell))
    if both:
        raise ValueError(f'split(s) {", ".join(both)} given both a record count and per_cell')
    bad = {k: v for k, v in per_cell.items() if int(v) < 1}
    if bad:
        raise ValueError(f'per_cell needs at least 1 record per cell, got {bad}')
    os.makedirs(out_dir, exist_ok=True)
    video_format()     # fail early when OpenCV cannot write video here
    cells = [(m, c) for m in weights for c in weights[m]]
    if workers is None:
        workers = _auto_workers(sum(splits.values()) + len(cells) * sum(per_cell.values()))
    from tqdm import tqdm
    paths, counts = {}, {}
    pool = None
    if workers > 1:
        import multiprocessing as mp
        ctx = mp.get_context('fork' if 'fork' in mp.get_all_start_methods() else 'spawn')
        pool = ctx.Pool(workers, initializer=_worker_init,
                        initargs=(out_dir, seed, image_size, modalities, choice_answer))
    else:
        _worker_init(out_dir, seed, image_size, modalities, choice_answer)

    def build(jobs: list) -> Iterable[list[str]]:
        return pool.imap(_worker_lines, jobs, chunksize=16) if pool else map(_worker_lines, jobs)

    try:
        for split, count in [*splits.items(), *per_cell.items()]:
            balanced = split in per_cell
            path = os.path.join(out_dir, f'{split}.jsonl')
            # round 0: N of every cell, interleaved (balanced), or the weighted round robin's
            cycle = [cell for _ in range(count) for cell in cells] if balanced else [None] * count
            jobs = [(split, i, cell) for i, cell in enumerate(cycle)]
            bar = tqdm(total=len(jobs), desc=f'EOV-Synth v2 {split}', unit='rec', leave=False,
                       mininterval=0.5 if sys.stderr.isatty() else 5.0, disable=not progress)
            n = 0
            scored, made, sources = Counter(), Counter(), defaultdict(Counter)
            # a half-written split never looks complete
            with atomic_write(path) as f:
                short: set = set()
                for round_ in range(MAX_TOPUP_ROUNDS + 1):
                    for job, record_lines in zip(jobs, build(jobs)):
                        bar.update(1)
                        if round_:
                            record_lines = _topup_lines(record_lines, short, out_dir)
                        f.writelines(line + '\n' for line in record_lines)
                        n += len(record_lines)
                        if balanced:
                            made[job[2]] += 1
                            for line in record_lines:
                                for name in scored_cells(json.loads(line)):
                                    scored[name] += 1
                                    sources[name][job[2]] += 1
                    extra = _topup(count, scored, made, sources) if balanced else {}
                    short = {name for name, have in scored.items() if have < count}
                    if not extra:
                        break
                    start = max(j[1] for j in jobs) + 1
                    cycle = [cell for cell in cells for _ in range(extra.get(cell, 0))]
                    jobs = [(split, start + i, cell) for i, cell in enumerate(cycle)]
                    bar.total += len(jobs)
                    bar.refresh()
                else:
                    short = {k: v for k, v in scored.items() if v < count}
                    raise RuntimeError(f'EOV-Synth: {split} cells still short of {count} '
                                       f'records after {MAX_TOPUP_ROUNDS} rounds: {short}')
            bar.close()
            paths[split] = path
            counts[split] = n
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        elif _WORKER.get('env') is not None:
            _WORKER.pop('env').__exit__(None, None, None)
    config = dict(suite='v2', seed=seed, image_size=image_size, splits=dict(splits),
                  per_cell=per_cell, choice_answer=choice_answer, records=counts,
                  matrix={m: list(weights[m]) for m in weights}, weights=weights, gsd=GSD,
                  video_format=video_format()[0], crs=f'EPSG:{CRS_EPSG}')
    write_json_atomically(os.path.join(out_dir, 'synth_config.json'), config, indent=1)
    return paths
