"""EOV-Synth v2 scenes: land cover, objects and the physics tables of every sensor.

A :class:`Scene` is sensor-independent: a land-cover map (one class per pixel,
made of convex polygons so that segmentation answers are exact polygons), and
a list of :class:`Obj` (class, pixel mask, boxes, colour, heading). The
renderers of :mod:`eov.datasets.synth.render` turn one scene into the pixels
of each sensor from the tables below, so an optical image and a SAR image of
the same scene are co-registered by construction.

Coordinates are pixels of the image (origin top-left, x right, y down; pixel
``(row, col)`` covers ``[col, col + 1) x [row, row + 1)``); boxes are
``[x1, y1, x2, y2]`` with exclusive ``x2``/``y2``; angles are in degrees from
+x towards +y (clockwise on screen), as :mod:`eov.slis.geometry` defines them.
Images are north-up, so north is -y ("up").
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------------------
# Land cover
# ---------------------------------------------------------------------------
#: Land-cover classes (the index is the value of :attr:`Scene.landcover`).
LANDCOVER = ('water', 'vegetation', 'bare soil', 'urban', 'road', 'artificial turf', 'asphalt')
WATER, VEGETATION, BARE, URBAN, ROAD, TURF, ASPHALT = range(len(LANDCOVER))

# ---------------------------------------------------------------------------
# Physics tables (one per sensor, stored units)
# ---------------------------------------------------------------------------
#: Optical (sensor ``rgb``, uint8): mean colour of each land cover.
OPTICAL_LANDCOVER = {
    WATER: (38, 68, 100), VEGETATION: (66, 112, 56), BARE: (160, 130, 100),
    URBAN: (142, 140, 136), ROAD: (86, 86, 92), TURF: (66, 112, 56), ASPHALT: (38, 68, 100),
}
#: Optical colours of object attributes (vehicles, roofs).
COLORS = {
    'red': (205, 45, 40), 'blue': (40, 75, 205), 'white': (238, 238, 236),
    'yellow': (232, 205, 45), 'grey': (178, 178, 178),
}
#: Colours a vehicle may have (all distinct from roads and from each other).
VEHICLE_COLORS = ('red', 'blue', 'white', 'yellow')
#: Colours a building roof may have.
ROOF_COLORS = ('grey', 'red')
#: Optical colour of objects without a colour attribute.
OPTICAL_OBJECT = {'ship': (225, 225, 220), 'plane': (232, 232, 238),
                  'storage tank': (240, 240, 234)}

#: SAR (sensor ``sentinel1_grd``): mean backscatter (VV, VH) in dB. Water is a
#: dark specular surface, vegetation a medium volume scatterer, urban bright
#: (double bounce); metal objects are bright point-like scatterers.
SAR_LANDCOVER_DB = {
    WATER: (-22.0, -29.0), VEGETATION: (-10.0, -16.0), BARE: (-14.0, -21.0),
    URBAN: (-7.0, -13.0), ROAD: (-18.0, -25.0), TURF: (-11.0, -17.0), ASPHALT: (-18.0, -25.0),
}
#: Metal objects: strong (double-bounce / dihedral) returns, above 0 dB in VV, so
#: that most of their pixels saturate the modality's [-25, 0] dB range.
SAR_OBJECT_DB = {
    'ship': (4.0, -3.0), 'plane': (3.0, -4.0), 'storage tank': (5.0, -2.0),
    'vehicle': (2.0, -5.0), 'building': (1.0, -6.0),
}
#: Equivalent number of looks of the multiplicative gamma speckle.
SAR_LOOKS = 4

#: Thermal (sensor ``thermal``, uint8 scaled DN, warmer = brighter).
THERMAL_LANDCOVER = {WATER: 70, VEGETATION: 96, BARE: 126, URBAN: 136, ROAD: 146,
                     TURF: 150, ASPHALT: 150}
#: Thermal DN of objects (body; see :data:`THERMAL_HOT_SPOT` for the hot parts).
THERMAL_OBJECT = {'vehicle': 185, 'building': 156, 'chimney': 250, 'furnace': 240,
                  'ship': 160, 'storage tank': 112, 'plane': 150}
#: Hot parts: vehicle engines and ship engine rooms (DN). The order of heat is
#: chimney > furnace > vehicle engine > ship engine > building.
THERMAL_HOT_SPOT = {'vehicle': 225, 'ship': 214}

#: Surface reflectance of each multispectral class, per band of
#: :data:`eov.modalities.sensors.S2_L2A_BANDS`. Two pairs are alike in the visible bands (B02-B04)
#: and differ only outside them: grassland vs artificial turf (only grass has
#: the red-edge rise and the NIR plateau) and water vs asphalt (water absorbs
#: NIR and SWIR, asphalt does not).
MS_SPECTRA = {
    'water':           (.050, .045, .055, .035, .025, .018, .014, .012, .010, .008, .005, .003),
    'grassland':       (.030, .035, .075, .040, .110, .280, .380, .420, .440, .430, .220, .110),
    'artificial turf': (.030, .035, .075, .040, .058, .064, .068, .070, .072, .071, .085, .070),
    'bare soil':       (.090, .110, .150, .200, .230, .250, .270, .290, .300, .300, .360, .320),
    'urban':           (.120, .130, .140, .150, .160, .170, .180, .190, .190, .190, .230, .210),
    'asphalt':         (.050, .045, .055, .035, .040, .050, .060, .070, .075, .075, .110, .100),
}
#: Multispectral class of each land cover.
MS_LANDCOVER = {WATER: 'water', VEGETATION: 'grassland', BARE: 'bare soil', URBAN: 'urban',
                ROAD: 'asphalt', TURF: 'artificial turf', ASPHALT: 'asphalt'}
#: Multispectral classes, in the order multi-label answers list them.
MS_CLASSES = ('water', 'grassland', 'artificial turf', 'bare soil', 'urban', 'asphalt')
#: Look-alike pairs: same visible reflectance, different NIR/SWIR.
NONVISIBLE_PAIRS = (('grassland', 'artificial turf'), ('water', 'asphalt'))
#: The look-alike of each class of a pair.
TWIN = {a: b for pair in NONVISIBLE_PAIRS for a, b in (pair, pair[::-1])}

#: Plural of class names.
PLURAL = {'ship': 'ships', 'plane': 'planes', 'storage tank': 'storage tanks',
          'vehicle': 'vehicles', 'building': 'buildings', 'chimney': 'chimneys',
          'furnace': 'furnaces'}
NUMBER_WORDS = ('no', 'one', 'two', 'three', 'four', 'five')


def count_phrase(n: int, label: str) -> str:
    """``'two ships'``, ``'one plane'``, ``'no vehicles'``."""
    return f'{NUMBER_WORDS[n]} {label if n == 1 else PLURAL.get(label, label + "s")}'


def join_words(items: list[str]) -> str:
    """``'a, b and c'``."""
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return ', '.join(items[:-1]) + ' and ' + items[-1]


def position_word(x: float, y: float, size: int) -> str:
    """Where ``(x, y)`` lies in a north-up image: ``'north-west'`` ... ``'centre'``."""
    col = 0 if x < size / 3 else (2 if x >= 2 * size / 3 else 1)
    row = 0 if y < size / 3 else (2 if y >= 2 * size / 3 else 1)
    ns = ('north', '', 'south')[row]
    ew = ('west', '', 'east')[col]
    if ns and ew:
        return f'{ns}-{ew}'
    return ns or ew or 'centre'


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def pixel_centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of the pixel centres of a ``size`` x ``size`` grid."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)
    return xx, yy


def clip_halfplane(points: list, a: float, b: float, c: float) -> list:
    """Clip a convex polygon to ``a x + b y + c >= 0`` (Sutherland-Hodgman)."""
    out = []
    n = len(points)
    for i in range(n):
        p, q = points[i], points[(i + 1) % n]
        fp, fq = a * p[0] + b * p[1] + c, a * q[0] + b * q[1] + c
        if fp >= 0:
            out.append(p)
        if (fp >= 0) != (fq >= 0):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def clip_to_image(points: list, size: int) -> list:
    """Clip a convex polygon to the image rectangle ``[0, size]^2``."""
    for a, b, c in ((1, 0, 0), (-1, 0, size), (0, 1, 0), (0, -1, size)):
        points = clip_halfplane(points, a, b, c)
        if not points:
            return []
    return points


def simplify(points: list, eps: float = 0.5) -> list:
    """Drop repeated vertices (closer than ``eps``) and round to 0.1 px."""
    out = []
    for x, y in points:
        x, y = round(float(x), 1) + 0.0, round(float(y), 1) + 0.0   # no -0.0
        if not out or abs(out[-1][0] - x) > eps or abs(out[-1][1] - y) > eps:
            out.append([x, y])
    if len(out) > 1 and abs(out[0][0] - out[-1][0]) <= eps and abs(out[0][1] - out[-1][1]) <= eps:
        out.pop()
    return out


def polygon_mask(points: list, size: int) -> np.ndarray:
    """Pixels whose centre lies inside the convex polygon ``points``."""
    out = np.zeros((size, size), dtype=bool)
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 3:
        return out
    # only the polygon's bounding window is tested
    c0, r0 = (max(int(np.floor(v)), 0) for v in pts.min(axis=0))
    c1, r1 = (min(int(np.ceil(v)) + 1, size) for v in pts.max(axis=0))
    if c1 <= c0 or r1 <= r0:
        return out
    xx, yy = pixel_centres(size)
    xx, yy = xx[r0:r1, c0:c1], yy[r0:r1, c0:c1]
    area = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    sign = 1.0 if area >= 0 else -1.0
    inside = np.ones(xx.shape, dtype=bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0)):
        inside &= sign * ((x1 - x0) * (yy - y0) - (y1 - y0) * (xx - x0)) >= 0
    out[r0:r1, c0:c1] = inside
    return out


def random_convex(rng: np.random.Generator, cx: float, cy: float, radius: float,
                  n: tuple[int, int] = (5, 8), squash: float = 1.0) -> list:
    """A random convex polygon around ``(cx, cy)`` (vertices on a jittered ellipse)."""
    k = int(rng.integers(n[0], n[1] + 1))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k) * 0.35 + np.arange(k) * 2 * np.pi / k)
    rot = rng.uniform(0, np.pi)
    r = radius * rng.uniform(0.8, 1.0)
    pts = []
    for t in angles:
        x, y = r * math.cos(t), r * squash * math.sin(t)
        pts.append((cx + x * math.cos(rot) - y * math.sin(rot),
                    cy + x * math.sin(rot) + y * math.cos(rot)))
    return convex_hull(pts)


def convex_hull(points: list) -> list:
    """Convex hull (monotone chain), counter-clockwise in x-right/y-up terms."""
    pts = sorted(set((float(x), float(y)) for x, y in points))
    if len(pts) <= 2:
        return pts

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def mask_bbox(mask: np.ndarray) -> list[float] | None:
    """``[x1, y1, x2, y2]`` (exclusive ends) of the true pixels, or ``None``."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def boxes_overlap(a, b, margin: float = 1.0) -> bool:
    """True when boxes ``a`` and ``b`` (x1, y1, x2, y2) are closer than ``margin``."""
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or
                a[3] + margin <= b[1] or b[3] + margin <= a[1])


def box_union(a, b) -> list[float]:
    """The smallest box holding ``a`` and ``b``."""
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


# ---------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------
#: Size ranges (pixels at 64 x 64, scaled with the image) of each class:
#: (length min, length max, width / length min, width / length max).
OBJECT_SIZES = {
    'ship': (11, 20, 0.28, 0.38), 'plane': (11, 17, 1.0, 1.0),
    'storage tank': (7, 12, 1.0, 1.0), 'vehicle': (6, 9, 0.5, 0.6),
    'building': (7, 14, 0.7, 1.0), 'chimney': (6, 8, 1.0, 1.0),
    'furnace': (7, 11, 0.6, 0.9),
}
#: Land covers each class stands on.
OBJECT_SURFACES = {
    'ship': (WATER,), 'vehicle': (ROAD,), 'plane': (BARE, URBAN),
    'storage tank': (BARE, URBAN, VEGETATION), 'building': (VEGETATION, BARE, URBAN),
    'chimney': (BARE, URBAN), 'furnace': (BARE, URBAN),
}


@dataclass
class Obj:
    """One object of a scene.

    Attributes:
        label: Class name.
        cx, cy: Centre (pixels).
        length, width: Size along / across the heading (pixels).
        angle: Heading in degrees (+x towards +y).
        color: Colour attribute (vehicles, roofs) or ``None``.
        mask: ``(H, W)`` pixels of the object.
        bbox: Horizontal box of ``mask``.
    """

    label: str
    cx: float
    cy: float
    length: float
    width: float
    angle: float
    color: str | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    bbox: list[float] | None = None

    @property
    def obb(self) -> list[float]:
        """``[cx, cy, w, h, angle]`` of the rotated rectangle (ships, vehicles, buildings)."""
        return [round(self.cx, 2), round(self.cy, 2), round(self.length, 2),
                round(self.width, 2), round(self.angle, 2)]

    @property
    def phrase(self) -> str:
        """``'red vehicle'``, ``'ship'``."""
        return f'{self.color} {self.label}' if self.color else self.label

    def moved(self, dx: float, dy: float, size: int) -> 'Obj':
        """A copy shifted by ``(dx, dy)`` with its mask redrawn."""
        out = Obj(self.label, self.cx + dx, self.cy + dy, self.length, self.width, self.angle,
                  self.color)
        out.mask = object_mask(out, size)
        out.bbox = mask_bbox(out.mask)
        return out

    def summary(self) -> dict:
        """What records keep of the object in ``meta``."""
        out = dict(label=self.label, bbox=self.bbox)
        if self.color:
            out['color'] = self.color
        return out


def object_mask(obj: Obj, size: int) -> np.ndarray:
    """Rasterise an object's shape (pixel centres inside it)."""
    out = np.zeros((size, size), dtype=bool)
    reach = max(obj.length, obj.width) / 2 + 1.5     # the shape's window
    c0, r0 = max(int(obj.cx - reach), 0), max(int(obj.cy - reach), 0)
    c1, r1 = min(int(obj.cx + reach) + 1, size), min(int(obj.cy + reach) + 1, size)
    if c1 <= c0 or r1 <= r0:
        return out
    xx, yy = pixel_centres(size)
    dx, dy = xx[r0:r1, c0:c1] - obj.cx, yy[r0:r1, c0:c1] - obj.cy
    t = math.radians(obj.angle)
    c, s = math.cos(t), math.sin(t)
    u = dx * c + dy * s          # along the heading (bow / nose at +u)
    v = -dx * s + dy * c         # across
    half_l, half_w = obj.length / 2, obj.width / 2
    if obj.label == 'ship':       # hull with a pointed bow over the front quarter
        taper = np.clip((half_l - u) / (0.25 * obj.length), 0, 1)
        inside = (np.abs(u) <= half_l) & (np.abs(v) <= half_w * np.maximum(taper, 0.15))
    elif obj.label == 'plane':    # fuselage + wings + tail plane: a cross
        fus = (np.abs(u) <= half_l) & (np.abs(v) <= max(0.1 * obj.length, 1.0))
        wing = (np.abs(u - 0.08 * obj.length) <= max(0.1 * obj.length, 1.0)) \
            & (np.abs(v) <= half_l * 0.95)
        tail = (np.abs(u + 0.42 * obj.length) <= max(0.07 * obj.length, 0.8)) \
            & (np.abs(v) <= 0.2 * obj.length)
        inside = fus | wing | tail
    elif obj.label in ('storage tank', 'chimney'):
        inside = dx * dx + dy * dy <= half_l * half_l
    else:                         # vehicles, buildings, furnaces
        inside = (np.abs(u) <= half_l) & (np.abs(v) <= half_w)
    out[r0:r1, c0:c1] = inside
    return out


@dataclass
class Scene:
    """A sensor-independent scene.

    Attributes:
        size: Image side in pixels.
        kind: Scene category (``'harbour'``, ``'airport'`` ...).
        landcover: ``(H, W)`` int land-cover class of each pixel (:data:`LANDCOVER`).
        regions: Polygons drawn into ``landcover``, in order: ``{'cls', 'points'}``.
        objects: The objects, in drawing order.
        texture: ``(H, W)`` smooth field in about [-1, 1] shared by every
            rendering of the scene (the ground's own texture).
    """

    size: int
    kind: str
    landcover: np.ndarray
    regions: list[dict] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)
    texture: np.ndarray | None = field(default=None, repr=False)

    def copy(self) -> 'Scene':
        """A copy whose land cover and object list can be changed independently."""
        return Scene(self.size, self.kind, self.landcover.copy(), list(self.regions),
                     list(self.objects), self.texture)

    def add_region(self, cls: int, points: list) -> dict | None:
        """Draw a convex polygon of class ``cls`` (clipped to the image)."""
        points = simplify(clip_to_image(points, self.size))
        if len(points) < 3:
            return None
        mask = polygon_mask(points, self.size)
        if not mask.any():
            return None
        self.landcover[mask] = cls
        region = dict(cls=cls, points=points, mask=mask)
        self.regions.append(region)
        return region

    def region_visible(self, region: dict) -> np.ndarray:
        """Pixels of ``region`` that still show its class (later regions may cover it)."""
        return region['mask'] & (self.landcover == region['cls'])

    def occupied(self) -> np.ndarray:
        """Pixels covered by objects."""
        out = np.zeros((self.size, self.size), dtype=bool)
        for obj in self.objects:
            out |= obj.mask
        return out

    def count(self, label: str) -> int:
        """Number of objects of class ``label``."""
        return sum(o.label == label for o in self.objects)


def smooth_field(rng: np.random.Generator, size: int, cells: int = 6) -> np.ndarray:
    """Bilinear upsampling of a random ``cells + 1`` grid: smooth noise of std ~0.5."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    lo, frac = _interp_weights(size, cells)
    # separable linear interpolation, rows then columns (no BLAS: it may spin threads)
    rows = grid[lo] * (1 - frac)[:, None] + grid[lo + 1] * frac[:, None]
    out = rows[:, lo] * (1 - frac)[None, :] + rows[:, lo + 1] * frac[None, :]
    return np.clip(out, -2.0, 2.0) * np.float32(0.5)


@functools.lru_cache(maxsize=8)
def _interp_weights(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    pos = (np.arange(size) + 0.5) / size * cells
    lo = np.clip(np.floor(pos).astype(int), 0, cells - 1)
    return lo, (pos - lo).astype(np.float32)


def new_scene(rng: np.random.Generator, size: int, kind: str, land: int) -> Scene:
    """An empty scene of one land cover with its ground texture."""
    return Scene(size, kind, np.full((size, size), land, dtype=np.int8),
                 texture=smooth_field(rng, size))


def add_coast(rng: np.random.Generator, scene: Scene, frac: tuple = (0.3, 0.55)) -> dict:
    """Water over one side of the image, behind a straight coastline."""
    size = scene.size
    side = int(rng.integers(4))
    depth = rng.uniform(*frac) * size
    tilt = rng.uniform(-0.25, 0.25) * size
    a, b = depth - tilt / 2, depth + tilt / 2   # the coastline's ends for side 0 (north)
    pts = ([(-1, -1), (size + 1, -1), (size + 1, b), (-1, a)],                            # north
           [(-1, size - a), (size + 1, size - b), (size + 1, size + 1), (-1, size + 1)],  # south
           [(-1, -1), (a, -1), (b, size + 1), (-1, size + 1)],                            # west
           [(size - a, -1), (size + 1, -1), (size + 1, size + 1), (size - b, size + 1)])  # east
    return scene.add_region(WATER, pts[side])


def add_lake(rng: np.random.Generator, scene: Scene, cls: int = WATER,
             radius: tuple = (0.22, 0.34), centre=None) -> dict | None:
    """A convex patch (lake, field) of class ``cls``."""
    size = scene.size
    r = rng.uniform(*radius) * size
    if centre is None:
        centre = rng.uniform(r * 0.8, size - r * 0.8, 2)
    pts = random_convex(rng, centre[0], centre[1], r, squash=rng.uniform(0.6, 1.0))
    return scene.add_region(cls, pts)


def add_road(rng: np.random.Generator, scene: Scene, vertical: bool | None = None,
             width: tuple = (10, 13), pos: float | None = None) -> dict:
    """A straight road across the image (axis-aligned)."""
    size = scene.size
    s = size / 64
    w = rng.uniform(*width) * s
    if vertical is None:
        vertical = bool(rng.integers(2))
    c = pos if pos is not None else rng.uniform(0.3, 0.7) * size
    lo, hi = c - w / 2, c + w / 2
    if vertical:
        pts = [(lo, -1), (hi, -1), (hi, size + 1), (lo, size + 1)]
    else:
        pts = [(-1, lo), (size + 1, lo), (size + 1, hi), (-1, hi)]
    region = scene.add_region(ROAD, pts)
    region.update(vertical=vertical, centre=c, width=w)
    return region


def make_object(rng: np.random.Generator, scene: Scene, label: str, color: str | None = None,
                tries: int = 60, surfaces=None, avoid=None) -> Obj | None:
    """Place one object of class ``label`` on a free spot of its surface.

    The object lies fully inside the image (1 px margin), at least 95 % of it on
    one of its surfaces (:data:`OBJECT_SURFACES`), 1 px away from other
    objects and outside ``avoid`` (a mask). Returns ``None`` when no spot was
    found in ``tries``.
    """
    size = scene.size
    s = size / 64
    lmin, lmax, rmin, rmax = OBJECT_SIZES[label]
    surfaces = OBJECT_SURFACES[label] if surfaces is None else surfaces
    allowed = np.isin(scene.landcover, surfaces)
    if avoid is not None:
        allowed &= ~avoid
    if not allowed.any():
        return None
    ys, xs = np.nonzero(allowed)
    for _ in range(tries):
        ln = rng.uniform(lmin, lmax) * s
        wd = ln * rng.uniform(rmin, rmax)
        if label in ('ship', 'plane'):
            a = rng.uniform(-180, 180)
        elif label == 'vehicle':
            a = 90.0 * int(rng.integers(4))
        else:
            a = 0.0 if rng.random() < 0.5 else 90.0
        k = int(rng.integers(len(xs)))
        cx, cy = xs[k] + rng.uniform(0, 1), ys[k] + rng.uniform(0, 1)
        obj = Obj(label, float(cx), float(cy), float(ln), float(wd), float(a), color)
        mask = object_mask(obj, size)
        bbox = mask_bbox(mask)
        if bbox is None or bbox[0] < 1 or bbox[1] < 1 or bbox[2] > size - 1 or bbox[3] > size - 1:
            continue
        if max(bbox[2] - bbox[0], bbox[3] - bbox[1]) < 6 * min(s, 1.0):
            continue
        if allowed[mask].mean() < 0.95:
            continue
        if any(boxes_overlap(bbox, o.bbox) for o in scene.objects):
            continue
        obj.mask, obj.bbox = mask, bbox
        return obj
    return None


def place(rng, scene: Scene, label: str, n: int = 1, colors=None, **kw) -> list[Obj]:
    """Place up to ``n`` objects of ``label`` (fewer without room) and add them to the scene."""
    out = []
    for i in range(n):
        color = colors[i] if colors is not None else None
        obj = make_object(rng, scene, label, color=color, **kw)
        if obj is not None:
            scene.objects.append(obj)
            out.append(obj)
    return out
