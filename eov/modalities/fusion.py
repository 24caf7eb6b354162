"""Fusion: co-registered images of different sensors (e.g. optical + SAR) in one sample."""
from __future__ import annotations

import torch

from eov.registry import ADAPTERS, MODALITIES

from .base import BaseModality, build_member
from .io import RasterReadError


@MODALITIES.register_module(name='fusion')
class FusionModality(BaseModality):
    """Several co-registered sensors of one scene, read by their own modalities.

    Each image entry is routed to the member whose sensor it names
    (``"sensor"``) or whose name it gives (``"modality"``); every member needs
    exactly one entry. Members are resized to one ``image_size`` and their
    channels concatenated in member order; the ``fusion`` adapter splits them
    again, runs each member's adapter and adds a per-member type embedding.
    Members with different CRSs are an error naming the file.

    Args:
        members: ``{name: modality config}``, e.g.
            ``dict(optical=dict(type='optical'), sar=dict(type='sar'))``.
        image_size: Size of every member image.
        adapter: Adapter config (default ``fusion``).
    """

    multi_image = True

    name = 'fusion'

    def __init__(self, members: dict, image_size=None, adapter: dict | None = None):
        if not members:
            raise ValueError('a fusion modality needs members')
        self.members = {name: build_member(cfg, image_size) for name, cfg in members.items()}
        sizes = {m.image_size for m in self.members.values()}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(f'fusion members need one image_size, got {sizes}')
        self._wrap(next(iter(self.members.values())), adapter or dict(type='fusion'))

    @property
    def num_channels(self) -> int:
        """All members' channels."""
        return sum(m.num_channels for m in self.members.values())

    @property
    def bands(self):
        """``member:band`` names in channel order."""
        return tuple(f'{n}:{b}' for n, m in self.members.items() for b in m.bands)

    def build_adapter(self, vision_info: dict) -> torch.nn.Module:
        """The fusion adapter with each member's adapter config."""
        members = {name: (m.num_channels, m.adapter_cfg, m.sensor.wavelengths)
                   for name, m in self.members.items()}
        return ADAPTERS.build(self.adapter_cfg, default_args=dict(members=members,
                                                                  **vision_info))

    def _member_for(self, entry: dict) -> str:
        if entry.get('modality') in self.members:
            return entry['modality']
        hits = [n for n, m in self.members.items() if m.sensor.name == entry.get('sensor')]
        if len(hits) != 1:
            raise RasterReadError(
                f'{entry.get("path")}: cannot tell which fusion member this image is '
                f'(sensor {entry.get("sensor")!r}); give "modality" as one of '
                f'{", ".join(self.members)}')
        return hits[0]

    def load(self, entries, data_root=None):
        """Route, read and concatenate the members of one record."""
        loaded = {}
        for entry in entries:
            name = self._member_for(entry)
            if name in loaded:
                raise RasterReadError(f'{entry.get("path")}: two images for fusion member '
                                      f'{name!r}')
            loaded[name] = self.members[name].load_one(entry, data_root)
        missing = [n for n in self.members if n not in loaded]
        if missing:
            raise RasterReadError(f'{entries[0].get("path") if entries else "?"}: fusion '
                                  f'record lacks members {missing}')
        parts = [loaded[n] for n in self.members]
        ref = parts[0]
        for part in parts[1:]:
            if ref['crs'] and part['crs'] and part['crs'] != ref['crs']:
                raise RasterReadError(f'{part["path"]}: CRS {part["crs"]} differs from '
                                      f'{ref["crs"]} of {ref["path"]} in one fusion sample')
        valid = torch.stack([p['valid_mask'] for p in parts]).all(0)
        return dict(modality=self.name, pixels=torch.cat([p['pixels'] for p in parts]),
                    valid_mask=valid, size=ref['size'], path=ref['path'], crs=ref['crs'],
                    transform=ref['transform'], bands=list(self.bands), time=ref.get('time'))
