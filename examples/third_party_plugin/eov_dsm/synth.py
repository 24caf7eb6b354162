"""Tiny DSM grounding data: find the tallest building in an elevation model."""
import json
import os

import numpy as np


def generate_dsm_grounding(out_dir, count, seed=0, size=64):
    """Write ``count`` DSM GeoTIFFs and ``train.jsonl`` grounding records.

    Args:
        out_dir: Output directory.
        count: Number of records.
        seed: Random seed.
        size: Raster side in pixels.

    Returns:
        Path of the JSONL file.
    """
    import rasterio
    from rasterio.transform import Affine
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(out_dir, 'dsm'), exist_ok=True)
    path = os.path.join(out_dir, 'train.jsonl')
    with open(path, 'w') as f:
        for i in range(count):
            dem = (100 + rng.normal(0, 0.5, (size, size))).astype(np.float32)
            boxes, heights = [], []
            for _ in range(3):
                w, h = rng.integers(8, 20, 2)
                x, y = rng.integers(0, size - w), rng.integers(0, size - h)
                height = float(rng.uniform(5, 30))
                dem[y:y + h, x:x + w] += height
                boxes.append([float(x), float(y), float(x + w), float(y + h)])
                heights.append(height)
            dem[0, :4] = -9999.0  # a few nodata pixels, as real DSMs have
            rel = f'dsm/{i:05d}.tif'
            with rasterio.open(os.path.join(out_dir, rel), 'w', driver='GTiff', width=size,
                               height=size, count=1, dtype='float32', nodata=-9999.0,
                               crs='EPSG:32632',
                               transform=Affine(0.5, 0, 500000, 0, -0.5, 5000000)) as dst:
                dst.write(dem[None])
            top = int(np.argmax(heights))
            f.write(json.dumps(dict(
                id=f'dsm-{i}', task='grounding', modality='dsm',
                images=[dict(path=rel, sensor='dsm')],
                conversations=[{'from': 'human', 'value': '<image>\nWhere is the tallest building?'},
                               {'from': 'assistant', 'value': None}],
                targets=[dict(type='hbb', bbox=boxes[top], label='tallest building')],
                meta=dict(image_size=[size, size]))) + '\n')
    return path
