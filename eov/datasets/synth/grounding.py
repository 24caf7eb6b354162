"""EOV-Synth v1 (suite ``grounding``): procedural grounding scenes, deterministic by seed.

Each scene is a textured background with a few coloured objects of a few
shape classes; the question names one object by colour and shape, and the
target is its box. Records follow :mod:`eov.datasets.schema`.

Run ``python -m eov.datasets.synth OUT_DIR --suite grounding`` (see ``--help``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import zlib
from dataclasses import dataclass

import numpy as np

from eov.heads.grounding import GroundingHead
from eov.utils.io import atomic_write, write_json_atomically

from .render import write_geotiff
from .scenes import boxes_overlap

#: Object colours (RGB) and shape classes of the generator.
COLORS = {
    'red': (215, 40, 40),
    'green': (40, 175, 60),
    'blue': (45, 80, 220),
    'yellow': (235, 215, 40),
    'white': (245, 245, 245),
}
SHAPES = ('circle', 'square', 'triangle')


@dataclass
class SynthConfig:
    """Knobs of the generator.

    Attributes:
        image_size: Side of the square images in pixels.
        min_objects: Fewest objects in a scene.
        max_objects: Most objects in a scene (the rest are distractors).
        min_size: Smallest object side as a fraction of the image.
        max_size: Largest object side as a fraction of the image.
        unique_colors: Give every object of a scene its own colour (the colour
            alone then identifies the target; its shape is still named).
        image_format: ``'png'`` or ``'tif'`` (GeoTIFF with a dummy CRS).
        image_after_question: Put the ``<image>`` placeholder after the
            question. The image tokens then sit at the same distance from the
            answer whatever the phrasing, which lets a small model trained
            from scratch read positions through its rotary position code;
            with the image first, the varying question length shifts that
            distance and learning is several times slower (docs/benchmarks.md).
    """

    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 2
    min_size: float = 0.17
    max_size: float = 0.4
    unique_colors: bool = True
    image_format: str = 'png'
    image_after_question: bool = True


def _draw_shape(canvas: np.ndarray, shape: str, box, color) -> None:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[y1:y2, x1:x2]
    w, h = x2 - x1, y2 - y1
    u = (xx + 0.5 - x1) / w  # 0..1 inside the box
    v = (yy + 0.5 - y1) / h
    if shape == 'square':
        mask = np.ones_like(u, dtype=bool)
    elif shape == 'circle':
        mask = (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    elif shape == 'triangle':  # apex at the top centre, base along the bottom
        mask = np.abs(u - 0.5) <= v / 2
    else:
        raise ValueError(f'unknown shape {shape!r}')
    region = canvas[y1:y2, x1:x2]
    region[mask] = color


def make_scene(rng: np.random.Generator, cfg: SynthConfig):
    """Draw one scene.

    Args:
        rng: Source of randomness (fully determines the scene).
        cfg: Generator settings.

    Returns:
        ``(image (H, W, 3) uint8, objects)`` where each object is
        ``{'color', 'shape', 'bbox': [x1, y1, x2, y2]}`` (x2/y2 exclusive).
    """
    size = cfg.image_size
    base = rng.integers(70, 140, size=3)
    image = np.clip(base + rng.normal(0, 8, size=(size, size, 3)), 0, 255).astype(np.uint8)
    n_objects = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects, boxes, used = [], [], set()
    for _ in range(200):
        if len(objects) == n_objects:
            break
        color = list(COLORS)[int(rng.integers(len(COLORS)))]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if (color, shape) in used or (cfg.unique_colors and color in {c for c, _ in used}):
            continue
        side = int(rng.integers(round(cfg.min_size * size), round(cfg.max_size * size) + 1))
        x1 = int(rng.integers(0, size - side + 1))
        y1 = int(rng.integers(0, size - side + 1))
        box = [x1, y1, x1 + side, y1 + side]
        if any(boxes_overlap(box, o) for o in boxes):
            continue
        _draw_shape(image, shape, box, COLORS[color])
        used.add((color, shape))
        boxes.append(box)
        objects.append(dict(color=color, shape=shape, bbox=box))
    return image, objects


def _write_image(path: str, image: np.ndarray, fmt: str) -> None:
    if fmt == 'png':
        from PIL import Image
        Image.fromarray(image).save(path, optimize=False, compress_level=1)
    elif fmt == 'tif':   # a GeoTIFF with a dummy grid in UTM 31N
        write_geotiff(path, image.transpose(2, 0, 1), (1.0, 0.0, 500000.0, 0.0, -1.0, 4500000.0))
    else:
        raise ValueError(f"image_format must be 'png' or 'tif', got {fmt!r}")


def make_record(index: int, split: str, seed: int, cfg: SynthConfig, out_dir: str,
                head: GroundingHead | None = None) -> dict:
    """Generate, write and describe sample ``index`` of ``split``.

    The sample depends only on ``(seed, split, index)``, so any subset can be
    regenerated in any order.

    Returns:
        The instruction record (image paths relative to ``out_dir``).
    """
    rng = np.random.default_rng([seed, zlib.crc32(split.encode()), index])
    image, objects = make_scene(rng, cfg)
    target = objects[int(rng.integers(len(objects)))]
    phrase = f"{target['color']} {target['shape']}"
    rel = os.path.join('images', f'{split}_{index:06d}.{cfg.image_format}')
    _write_image(os.path.join(out_dir, rel), image, cfg.image_format)
    head = head or GroundingHead(serializer=dict(type='LocTokenSerializer'))
    question = head.question(seed=int(rng.integers(2**31)), phrase=phrase)
    prompt = f'{question}\n<image>' if cfg.image_after_question else f'<image>\n{question}'
    return dict(
        id=f'synth-{split}-{index}', task='grounding', modality='optical',
        images=[dict(path=rel, sensor='rgb')],
        conversations=[dict(**{'from': 'human'}, value=prompt),
                       dict(**{'from': 'assistant'}, value=None)],
        targets=[dict(type='hbb', bbox=[float(v) for v in target['bbox']], label=phrase)],
        meta=dict(scene=objects, num_objects=len(objects),
                  image_size=[cfg.image_size, cfg.image_size]))


def generate(out_dir: str, splits: dict[str, int], seed: int = 0,
             cfg: SynthConfig | None = None, progress: bool = True) -> dict[str, str]:
    """Write ``OUT/images/*`` and one ``OUT/{split}.jsonl`` per split.

    Args:
        out_dir: Output directory (created).
        splits: Number of samples per split, e.g. ``{'train': 8000, 'test': 300}``.
        seed: Base seed; splits differ through their names.
        cfg: Generator settings.
        progress: Show a progress bar.

    Returns:
        ``{split: path of its JSONL file}``.
    """
    from tqdm import tqdm
    cfg = cfg or SynthConfig()
    os.makedirs(os.path.join(out_dir, 'images'), exist_ok=True)
    head = GroundingHead(serializer=dict(type='LocTokenSerializer'))
    paths = {}
    for split, count in splits.items():
        path = os.path.join(out_dir, f'{split}.jsonl')
        indices = tqdm(range(count), desc=f'EOV-Synth {split}', unit='img', leave=False,
                       mininterval=0.5 if sys.stderr.isatty() else 5.0, disable=not progress)
        with atomic_write(path) as f:   # a half-written split never looks complete
            for i in indices:
                f.write(json.dumps(make_record(i, split, seed, cfg, out_dir, head)) + '\n')
        paths[split] = path
    write_json_atomically(os.path.join(out_dir, 'synth_config.json'),
                          dict(seed=seed, splits=splits, **cfg.__dict__), indent=1)
    return paths


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of the grounding suite (``--val``, ``--image-size``, ``--format`` ...)."""
    p.add_argument('--val', type=int, default=0, help='validation records')
    p.add_argument('--image-size', type=int, default=SynthConfig.image_size)
    p.add_argument('--min-objects', type=int, default=SynthConfig.min_objects,
                   help='fewest objects per scene (grounding suite)')
    p.add_argument('--max-objects', type=int, default=SynthConfig.max_objects,
                   help='most objects per scene (grounding suite)')
    p.add_argument('--format', choices=['png', 'tif'], default='png',
                   help='image format (grounding suite; v2 always writes GeoTIFF)')
    p.add_argument('--image-first', action='store_true',
                   help='put <image> before the question (grounding suite; slower to learn '
                        'from scratch)')
    p.add_argument('--shared-colors', action='store_true',
                   help='let distractors share the target colour (grounding suite; harder)')


def check_counts(p: argparse.ArgumentParser, **counts) -> None:
    """Refuse a negative record count (``--train -5`` would write no train split and exit
    0) with ``p.error`` (one line, exit 2); 0 stays allowed (no such split)."""
    for name, n in counts.items():
        if n is not None and n < 0:
            p.error(f'--{name.replace("_", "-")} {n}: a record count must be >= 0 '
                    '(0 writes no such split)')


def run(args: argparse.Namespace, p: argparse.ArgumentParser,
        splits: dict[str, int]) -> dict[str, str]:
    """Generate ``splits`` of the grounding suite from parsed :func:`add_arguments` flags."""
    if args.image_size < 1:
        p.error(f'--image-size {args.image_size}: must be >= 1')
    if not 1 <= args.min_objects <= args.max_objects:
        p.error('need 1 <= --min-objects <= --max-objects')
    cfg = SynthConfig(image_size=args.image_size, min_objects=args.min_objects,
                      max_objects=args.max_objects, unique_colors=not args.shared_colors,
                      image_format=args.format, image_after_question=not args.image_first)
    return generate(args.out_dir, splits, args.seed, cfg, progress=not args.no_progress)

