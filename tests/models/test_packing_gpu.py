"""GPU parity of the varlen backends (flash_varlen, xformers) with per-sample SDPA.

Skipped without CUDA (and xformers without working kernels). On a lent GPU machine:
    python -m pytest tests/models/test_packing_gpu.py -v
Results go to docs/benchmarks.md.
"""
import pytest
import torch

from eov.datasets import instruction_collate, packed_collate
from eov.registry import ATTENTION, MODELS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from mmengine.registry import init_default_scope

    from eov.datasets.synth import SynthConfig, generate
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import load_config
    from eov.registry import DATASETS

    from ..conftest import TINY_CONFIG
    root = tmp_path_factory.mktemp('gpu_pack')
    generate(str(root), {'train': 16}, seed=3, cfg=SynthConfig(), progress=False)
    cfg = load_config(TINY_CONFIG, {'data_root': str(root)})
    fill_config_image_tokens(cfg)
    init_default_scope('eov')
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    return cfg, [ds[i] for i in range(8)]


@pytest.mark.parametrize('backend', ['flash_varlen', 'xformers'])
def test_varlen_backend_matches_per_sample_sdpa_in_bf16(setup, backend):
    ok, reason = ATTENTION.build(dict(type=backend)).available('cuda', torch.bfloat16)
    if not ok:
        pytest.skip(f'{backend}: {reason}')
    cfg, batch = setup
    cfg.model.attention = backend
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).cuda().eval()
    packed = model.data_preprocessor(packed_collate(batch, max_tokens=512), False)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        logits = model(**packed, mode='tensor').float()
    flat = logits.reshape(-1, logits.shape[-1])
    cu = packed['inputs']['cu_seqlens'].tolist()
    by_id = {b['data_sample']['id']: b for b in batch}
    for k, sample in enumerate(packed['data_samples']):
        one = model.data_preprocessor(instruction_collate([by_id[sample['id']]]), False)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            ref = model(**one, mode='tensor')[0].float()
        torch.testing.assert_close(flat[cu[k]:cu[k + 1]], ref, rtol=5e-2, atol=5e-2)
    # gradients flow through the varlen kernel
    model.train()
    with torch.autocast('cuda', dtype=torch.bfloat16):
        loss = model(**packed, mode='loss')['loss']
    loss.backward()
    grads = [p.grad for p in model.lm.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_auto_picks_a_varlen_backend_on_cuda_bf16():
    chosen = ATTENTION.build(dict(type='auto')).resolve('cuda', torch.bfloat16)
    assert chosen.name in ('flash_varlen', 'xformers', 'sdpa')
    flash_ok, _ = ATTENTION.build(dict(type='flash_varlen')).available('cuda', torch.bfloat16)
    if flash_ok:
        assert chosen.name == 'flash_varlen'
