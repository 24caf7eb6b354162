"""The DDP, FSDP and optimizer wrappers (eov.engine.wrappers).

Multi-process parity (DDP, FSDP, resume across strategies) runs real torchrun
processes: tests/tools/test_distributed.py.
"""
import torch

from eov.engine.wrappers import EOVOptimWrapper, shard_units


def test_fsdp_shard_units_are_decoder_layers_and_vit_blocks(tiny_model):
    units = shard_units(tiny_model)
    names = sorted({type(u).__name__ for u in units})
    assert names == ['Block', 'Qwen2DecoderLayer']
    assert len(units) == len(tiny_model.lm.model.layers) + len(tiny_model.vision.vit.blocks)


def test_bf16_autocasts_on_cpu(tiny_model):
    optimizer = torch.optim.SGD(tiny_model.parameters(), lr=0.0)
    wrapper = EOVOptimWrapper(optimizer=optimizer, autocast_dtype='bfloat16')
    with wrapper.optim_context(tiny_model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        y = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert y.dtype == torch.bfloat16
    assert not torch.is_autocast_enabled('cpu')
