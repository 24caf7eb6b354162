"""The test-time GroupedSampler: like records side by side, every record once, rank shards."""
import json

import pytest

from eov.datasets import GroupedSampler, InstructionDataset


@pytest.fixture(scope='module')
def interleaved(tmp_path_factory):
    """Records of three sources in round-robin order (as a balanced test split is written)."""
    root = tmp_path_factory.mktemp('interleaved')
    sources = [('optical', 'vqa'), ('sar', 'detection'), ('optical', 'captioning')]
    lines = []
    for i in range(7):
        for modality, task in sources:
            lines.append(json.dumps(dict(
                id=f'{modality}-{task}-{i}', task=task, modality=modality,
                images=[dict(path=f'{modality}/{i}.tif')],
                conversations=[{'from': 'human', 'value': 'Q?\n<image>'},
                               {'from': 'assistant', 'value': 'A'}])))
    (root / 'test.jsonl').write_text('\n'.join(lines) + '\n')
    return InstructionDataset(ann_file='test.jsonl', data_root=str(root), lazy_init=False)


def test_grouped_sampler_puts_one_source_together(interleaved):
    sampler = GroupedSampler(interleaved)
    order = list(sampler)
    assert sorted(order) == list(range(len(interleaved))) and len(sampler) == 21
    sources = [interleaved.get_data_info(i)['id'].rsplit('-', 1)[0] for i in order]
    assert sources == ['optical-vqa'] * 7 + ['sar-detection'] * 7 + ['optical-captioning'] * 7
    # within a source, file order
    assert order[:7] == [0, 3, 6, 9, 12, 15, 18]


_RANK_SCRIPT = """
import json, sys
import torch.distributed as dist
from mmengine.dist import collect_results
from eov.datasets import GroupedSampler, InstructionDataset
dist.init_process_group('gloo')
ds = InstructionDataset(ann_file='test.jsonl', data_root=sys.argv[1], lazy_init=False)
mine = [ds.get_data_info(i)['id'] for i in GroupedSampler(ds)]
out = collect_results(mine, len(ds), device='cpu')
if dist.get_rank() == 0:
    json.dump(dict(ids=out, rank0=mine), open(sys.argv[2], 'w'))
dist.destroy_process_group()
"""


def test_grouped_sampler_under_two_processes_collects_the_single_process_order(
        interleaved, tmp_path):
    """Two real torchrun processes: MMEngine's result collection gives back the grouped
    order of one process, every record once (an odd count: one rank pads)."""
    import os
    import subprocess
    import sys

    from ..helpers import free_port
    script = tmp_path / 'ranks.py'
    script.write_text(_RANK_SCRIPT)
    out = tmp_path / 'out.json'
    root = os.path.dirname(interleaved.ann_file)
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node',
                           '2', '--master-port', str(free_port()), str(script), root, str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(out.read_text())
    single = [interleaved.get_data_info(i)['id'] for i in GroupedSampler(interleaved)]
    assert got['ids'] == single
    assert len(got['rank0']) == 11      # 21 records over 2 ranks, padded to 22


def test_only_modalities_keeps_the_records_of_those_entries(interleaved, tmp_path):
    root = interleaved.data_root
    ds = InstructionDataset(ann_file='test.jsonl', data_root=root, lazy_init=False,
                            only_modalities=['sar'])
    assert len(ds) == 7 and {ds.get_data_info(i)['modality'] for i in range(7)} == {'sar'}
    from eov.datasets import RecordError
    with pytest.raises(RecordError, match='no valid records of modality video'):
        InstructionDataset(ann_file='test.jsonl', data_root=root, lazy_init=False,
                           only_modalities=['video'])
