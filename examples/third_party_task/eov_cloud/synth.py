"""Tiny cloud-cover data: optical images with clouds over a landscape, and their records."""
import json
import os

import numpy as np

from .head import CLOUD_COVER_TYPE, CloudCoverHead

#: Land colours (RGB): fields, forest, bare soil, water.
LAND = ((96, 140, 60), (40, 90, 45), (150, 120, 85), (40, 70, 120))


def _scene(rng, size: int) -> tuple[np.ndarray, float]:
    """An RGB image (uint8) and the percentage of its pixels under cloud."""
    image = np.empty((size, size, 3), dtype=np.float32)
    image[:] = LAND[rng.integers(len(LAND))]
    for _ in range(rng.integers(2, 6)):   # patches of other land cover
        w, h = rng.integers(size // 8, size // 2, 2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        image[y:y + h, x:x + w] = LAND[rng.integers(len(LAND))]
    yy, xx = np.mgrid[0:size, 0:size]
    density = np.zeros((size, size))
    for _ in range(rng.integers(0, 5)):   # 0 to 4 cloud banks
        cx, cy = rng.uniform(0, size, 2)
        radius = rng.uniform(size / 10, size / 3)
        density += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2))
    cloud = density > 0.5
    white = 230 + 20 * np.clip(density, 0, 1)
    image[cloud] = white[cloud][:, None]
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), round(100.0 * float(cloud.mean()), 1)


def generate_cloud_cover(out_dir: str, train: int = 24, test: int = 12, seed: int = 0,
                         size: int = 64) -> dict:
    """Write PNG scenes and ``train.jsonl`` / ``test.jsonl`` cloud-cover records.

    Each record asks one of the head's questions about one optical image and
    holds the true cover as a ``cloud_cover`` target (the answer text is made
    from it by the head at load time).

    Args:
        out_dir: Output directory (``optical/<split>_<i>.png`` and the JSONL files).
        train: Training records.
        test: Test records.
        seed: Random seed.
        size: Image side in pixels.

    Returns:
        ``{split: path of its JSONL}``.
    """
    from PIL import Image
    rng = np.random.default_rng(seed)
    head = CloudCoverHead()
    os.makedirs(os.path.join(out_dir, 'optical'), exist_ok=True)
    paths = {}
    for split, count in (('train', train), ('test', test)):
        paths[split] = os.path.join(out_dir, f'{split}.jsonl')
        with open(paths[split], 'w') as f:
            for i in range(count):
                image, percent = _scene(rng, size)
                rel = f'optical/{split}_{i:05d}.png'
                Image.fromarray(image).save(os.path.join(out_dir, rel))
                f.write(json.dumps(dict(
                    id=f'cloud-{split}-{i}', task='cloud_cover', modality='optical',
                    images=[dict(path=rel, sensor='rgb')],
                    conversations=[{'from': 'human', 'value': f'<image>\n{head.question(i)}'},
                                   {'from': 'assistant', 'value': None}],
                    targets=[{'type': CLOUD_COVER_TYPE, 'percent': percent}],
                    meta=dict(image_size=[size, size]))) + '\n')
    return paths
