"""Temporal stacks, videos and fusion pairs."""
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from eov.modalities import RasterReadError
from eov.registry import MODALITIES

from .rasters import random_uint16, write_tif


def _rgb_tif(tmp_path, name, value, crs='EPSG:32631'):
    data = np.full((3, 16, 16), value, np.uint8)
    return write_tif(tmp_path / name, data, crs=crs)


def test_temporal_sorts_by_time_and_pads(tmp_path):
    entries = [dict(path=_rgb_tif(tmp_path, f'{v}.tif', v), sensor='rgb', time=t)
               for v, t in [(30, '2021-03-01'), (10, '2021-01-01'), (20, '2021-02-01')]]
    temporal = MODALITIES.build(dict(type='temporal', num_frames=4, image_size=16))
    out = temporal.load(entries)
    assert out['pixels'].shape == (4, 3, 16, 16)
    firsts = out['pixels'][:, 0, 0, 0]
    assert firsts[0] < firsts[1] < firsts[2] and firsts[3] == firsts[2]   # sorted, last repeated
    assert out['frame_mask'].tolist() == [True, True, True, False]
    assert out['frame_days'].tolist() == [0.0, 31.0, 59.0, 59.0]
    assert out['times'] == ['2021-01-01', '2021-02-01', '2021-03-01']


def test_temporal_subsamples_long_series_chronologically(tmp_path):
    entries = [dict(path=_rgb_tif(tmp_path, f'{d}.tif', d * 10), time=f'2020-01-{d:02d}')
               for d in range(1, 11)]
    out = MODALITIES.build(dict(type='temporal', num_frames=4, image_size=16)).load(entries[::-1])
    assert out['frame_days'].tolist() == [0.0, 3.0, 6.0, 9.0]   # first and last kept
    assert out['frame_mask'].all()


def test_temporal_errors_name_the_file(tmp_path):
    a = dict(path=_rgb_tif(tmp_path, 'a.tif', 1), time='2020-01-01')
    b = dict(path=_rgb_tif(tmp_path, 'b.tif', 2, crs='EPSG:32632'), time='2020-02-01')
    temporal = MODALITIES.build(dict(type='temporal', num_frames=2, image_size=16))
    with pytest.raises(RasterReadError, match='b.tif: CRS .*32632.* differs'):
        temporal.load([a, b])
    with pytest.raises(RasterReadError, match='a.tif: cannot parse time'):
        temporal.load([dict(a, time='yesterday')])
    with pytest.raises(RasterReadError, match='needs "time"'):
        temporal.load([dict(path=a['path'])])


def _write_video(path, n=12, size=(24, 32)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (size[1], size[0]))
    for i in range(n):
        frame = np.zeros((*size, 3), np.uint8)
        frame[:, :, 2] = i * 20   # red rises frame by frame (BGR)
        writer.write(frame)
    writer.release()
    return str(path)


def test_video_file_uniform_frames(tmp_path):
    path = _write_video(tmp_path / 'clip.mp4')
    video = MODALITIES.build(dict(type='video', num_frames=4, image_size=16))
    out = video.load([dict(path=path)])
    assert out['pixels'].shape == (4, 3, 16, 16)
    assert out['frame_days'].tolist() == [0.0, 4.0, 7.0, 11.0]
    red = out['pixels'][:, 0].mean((1, 2))
    assert (red[1:] > red[:-1]).all()              # frames in order, RGB not BGR


def test_video_frame_folder(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((16, 16, 3), i * 40, np.uint8)).save(folder / f'{i:03d}.png')
    out = MODALITIES.build(dict(type='video', num_frames=3, image_size=16)).load(
        [dict(path=str(folder))])
    assert out['frame_days'].tolist() == [0.0, 2.0, 5.0]
    with pytest.raises(RasterReadError, match='not a video'):
        MODALITIES.build(dict(type='video', image_size=16)).load(
            [dict(path=str(folder / '000.png'))])


def test_fusion_routes_members_and_concatenates_channels(tmp_path):
    opt = _rgb_tif(tmp_path, 'opt.tif', 100)
    sar = write_tif(tmp_path / 'sar.tif', np.full((2, 32, 32), -12.0, np.float32))
    fusion = MODALITIES.build(dict(type='fusion', image_size=16, members=dict(
        optical=dict(type='optical'), sar=dict(type='sar', units='dB'))))
    out = fusion.load([dict(path=sar, sensor='sentinel1_grd'), dict(path=opt, sensor='rgb')])
    assert out['pixels'].shape == (5, 16, 16)
    assert out['bands'] == ['optical:R', 'optical:G', 'optical:B', 'sar:VV', 'sar:VH']
    assert torch.isfinite(out['pixels']).all()
    other = write_tif(tmp_path / 'sar_utm32.tif', np.full((2, 32, 32), -12.0, np.float32),
                      crs='EPSG:32632')
    with pytest.raises(RasterReadError, match='sar_utm32.tif: CRS .* differs'):
        fusion.load([dict(path=opt, sensor='rgb'), dict(path=other, modality='sar')])
    with pytest.raises(RasterReadError, match=r"lacks members \['sar'\]"):
        fusion.load([dict(path=opt, sensor='rgb')])
    with pytest.raises(RasterReadError, match='cannot tell which fusion member'):
        fusion.load([dict(path=opt, sensor='landsat8')])
