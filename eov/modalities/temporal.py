"""Image time series and video: several frames of one scene in one sample."""
from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np
import torch

from eov.registry import MODALITIES

from .base import BaseModality, build_member
from .io import PIL_EXTENSIONS, Raster, RasterReadError

#: Video containers read with OpenCV.
VIDEO_EXTENSIONS = {'.mp4', '.avi', '.mov', '.mkv', '.webm'}


def parse_time(value, where: str) -> dt.datetime:
    """Parse an ISO-8601 date or date-time (``'2021-05-03'``, ``'2021-05-03T10:20:00'``)."""
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not value:
        raise RasterReadError(f'{where}: a temporal image entry needs "time" '
                              f'(ISO date), got {value!r}')
    try:
        return dt.datetime.fromisoformat(value.replace('Z', '+00:00')).replace(tzinfo=None)
    except ValueError:
        raise RasterReadError(f'{where}: cannot parse time {value!r} (use ISO 8601, '
                              'e.g. 2021-05-03)') from None


def uniform_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``0..n-1`` (first and last included)."""
    if n <= k:
        return list(range(n))
    return [int(round(i)) for i in np.linspace(0, n - 1, k)]


class _FrameStack(BaseModality):
    """Shared machinery: a frame modality, a fixed frame count, padding."""

    multi_image = True

    default_frame = dict(type='optical')

    def __init__(self, frame: dict | None = None, num_frames: int = 4,
                 image_size: int | tuple[int, int] | None = None, adapter: dict | None = None,
                 token_budget: int | None = None):
        self.frame = build_member(frame or self.default_frame, image_size)
        if self.frame.image_size is None:
            raise ValueError(f'modality {self.name!r} needs image_size (frames are stacked)')
        if num_frames < 1:
            raise ValueError(f'num_frames must be >= 1, got {num_frames}')
        self.num_frames = int(num_frames)
        self._wrap(self.frame, adapter or dict(type='temporal', token_budget=token_budget,
                                               frame_adapter=self.frame.adapter_cfg))

    def build_adapter(self, vision_info: dict) -> torch.nn.Module:
        """The temporal adapter around the frame modality's adapter."""
        from eov.registry import ADAPTERS
        return ADAPTERS.build(self.adapter_cfg, default_args=dict(
            in_chans=self.num_channels, wavelengths=self.sensor.wavelengths,
            num_frames=self.num_frames, **vision_info))

    def stack(self, frames: list[dict], days: list[float], source: str) -> dict[str, Any]:
        """Stack loaded frames, padding a short series by repeating the last frame."""
        crs = {f['crs'] for f in frames if f['crs']}
        if len(crs) > 1:
            bad = next(f for f in frames if f['crs'] and f['crs'] != frames[0]['crs'])
            raise RasterReadError(f'{bad["path"]}: CRS {bad["crs"]} differs from '
                                  f'{frames[0]["crs"]} of {frames[0]["path"]} in one '
                                  f'{self.name} sample')
        n = len(frames)
        pad = self.num_frames - n
        pixels = torch.stack([f['pixels'] for f in frames] + [frames[-1]['pixels']] * pad)
        valid = torch.stack([f['valid_mask'] for f in frames] + [frames[-1]['valid_mask']] * pad)
        return dict(modality=self.name, pixels=pixels, valid_mask=valid,
                    frame_mask=torch.tensor([True] * n + [False] * pad),
                    frame_days=torch.tensor(days + [days[-1]] * pad, dtype=torch.float32),
                    size=frames[0]['size'], path=source, crs=frames[0]['crs'],
                    transform=frames[0]['transform'], bands=frames[0]['bands'],
                    times=[f.get('time') for f in frames])


@MODALITIES.register_module(name='temporal')
class TemporalModality(_FrameStack):
    """A time series of co-registered images of one sensor.

    Entries are sorted by their ``time``; a longer series is subsampled evenly
    in time order (first and last kept) to ``num_frames``, a shorter one is
    padded (``frame_mask`` marks real frames). Frames with different CRSs are
    an error naming the file.

    Args:
        frame: Modality config of one frame (default ``optical``).
        num_frames: Frames per sample.
        image_size: Size of every frame.
        adapter: Adapter config (default ``temporal`` around the frame's adapter).
        token_budget: Maximum visual tokens per sample (default: no pooling).
    """

    name = 'temporal'

    def load(self, entries, data_root=None):
        """Read, sort by time, subsample/pad and stack the frames of one record."""
        if not entries:
            raise RasterReadError('a temporal record needs at least one image')
        timed = sorted(((parse_time(e.get('time'), str(e.get('path'))), i, e)
                        for i, e in enumerate(entries)), key=lambda t: (t[0], t[1]))
        keep = [timed[i] for i in uniform_indices(len(timed), self.num_frames)]
        frames = [self.frame.load_one(e, data_root) for _, _, e in keep]
        start = keep[0][0]
        days = [(t - start).total_seconds() / 86400.0 for t, _, _ in keep]
        return self.stack(frames, days, source=str(keep[0][2].get('path')))


@MODALITIES.register_module(name='video')
class VideoModality(_FrameStack):
    """A video as ``num_frames`` uniformly sampled RGB frames.

    The image entry's ``path`` is a video file (mp4/avi/mov/mkv/webm, decoded
    with OpenCV, which MMEngine already depends on) or a folder of frame images
    (sorted by file name).

    Args:
        frame: Modality config of one frame (default ``optical``).
        num_frames: Frames sampled per video.
        image_size: Size of every frame.
        adapter: Adapter config (default ``temporal``).
        token_budget: Maximum visual tokens per sample.
    """

    name = 'video'

    def load(self, entries, data_root=None):
        """Sample and stack the frames of one video entry."""
        if len(entries) != 1:
            raise ValueError(f'a video record takes exactly one video, got {len(entries)}')
        entry = entries[0]
        path = self.frame.resolve_path(str(entry.get('path')), data_root)
        if os.path.isdir(path):
            files = sorted(f for f in os.listdir(path)
                           if os.path.splitext(f)[1].lower() in PIL_EXTENSIONS | {'.tif', '.tiff'})
            if not files:
                raise RasterReadError(f'{path}: no frame images in the folder')
            picked = uniform_indices(len(files), self.num_frames)
            frames = [self.frame.load_one(dict(path=os.path.join(path, files[i])))
                      for i in picked]
        else:
            picked, frames = self._decode(path)
        return self.stack(frames, [float(i) for i in picked], source=path)

    def _decode(self, path: str):
        if not os.path.isfile(path):
            raise RasterReadError(f'video not found: {path}')
        if os.path.splitext(path)[1].lower() not in VIDEO_EXTENSIONS:
            raise RasterReadError(f'{path}: not a video ({", ".join(sorted(VIDEO_EXTENSIONS))}) '
                                  'or a folder of frames')
        import cv2
        cap = cv2.VideoCapture(path)
        try:
            total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if not cap.isOpened() or total <= 0:
                raise RasterReadError(f'cannot decode video {path}')
            picked = uniform_indices(total, self.num_frames)
            frames = []
            for index in picked:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, bgr = cap.read()
                if not ok:
                    raise RasterReadError(f'{path}: cannot decode frame {index} of {total}')
                rgb = np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1))
                frames.append(self.frame.prepare(Raster(data=rgb, path=path),
                                                 np.ones(rgb.shape[1:], dtype=bool)))
        finally:
            cap.release()
        return picked, frames
