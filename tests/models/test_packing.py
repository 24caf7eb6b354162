"""Packed variable-length batches: parity with per-sample and padded computation."""
import sys

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from eov.datasets import first_fit_decreasing, instruction_collate, packed_collate
from eov.models.attention import check_cu_seqlens
from eov.registry import ATTENTION, DATASETS, MODELS


@pytest.fixture(scope='module')
def samples(tmp_path_factory):
    from eov.datasets.synth import SynthConfig, generate
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import load_config

    from ..conftest import TINY_CONFIG
    root = tmp_path_factory.mktemp('pack')
    generate(str(root), {'train': 12}, seed=1, cfg=SynthConfig(), progress=False)
    cfg = load_config(TINY_CONFIG, {'data_root': str(root)})
    fill_config_image_tokens(cfg)
    init_default_scope('eov')
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    return cfg, [ds[i] for i in range(6)]


def _model(cfg, attention):
    cfg.model.attention = attention
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()   # eval: no dropout, deterministic


@pytest.mark.parametrize('attention', ['eager', 'sdpa'])
def test_packed_equals_per_sample_logits_and_grads(samples, attention):
    cfg, batch = samples
    model = _model(cfg, attention)
    packed = model.data_preprocessor(packed_collate(batch, max_tokens=300), False)
    logits = model(**packed, mode='tensor')                     # (rows, L, V)
    flat = logits.reshape(-1, logits.shape[-1])
    cu = packed['inputs']['cu_seqlens'].tolist()
    ids = [s['id'] for s in packed['data_samples']]
    by_id = {b['data_sample']['id']: b for b in batch}
    for k, sid in enumerate(ids):
        one = model.data_preprocessor(instruction_collate([by_id[sid]]), False)
        ref = model(**one, mode='tensor')[0]
        torch.testing.assert_close(flat[cu[k]:cu[k + 1]], ref, rtol=1e-4, atol=1e-4)
    # gradients: the packed loss against the padded loss (same answer tokens, same mean)
    model.zero_grad()
    model(**packed, mode='loss')['loss'].backward()
    g_packed = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    padded = model.data_preprocessor(instruction_collate(batch), False)
    model(**padded, mode='loss')['loss'].backward()
    assert g_packed.keys() == {n for n, p in model.named_parameters() if p.grad is not None}
    for name, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(g_packed[name], p.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_padded_and_packed_losses_agree_across_backends(samples):
    cfg, batch = samples
    losses = []
    for attention in ('eager', 'sdpa'):
        model = _model(cfg, attention)
        for collate in (instruction_collate(batch), packed_collate(batch, max_tokens=256)):
            data = model.data_preprocessor(collate, False)
            with torch.no_grad():
                losses.append(model(**data, mode='loss')['loss'].item())
    assert max(losses) - min(losses) < 1e-4, losses


def test_packing_never_splits_and_reports_padding(samples):
    _, batch = samples
    out = packed_collate(batch, max_tokens=200)
    inputs = out['inputs']
    rows, width = inputs['input_ids'].shape
    lengths = [len(b['inputs']['input_ids']) for b in batch]
    assert width <= 200 and rows == len(first_fit_decreasing(lengths, 200))
    assert inputs['padding_fraction'] == pytest.approx(1 - sum(lengths) / (rows * width))
    cu = inputs['cu_seqlens']
    assert cu.dtype == torch.int32 and int(cu[-1]) == rows * width
    seg = (cu[1:] - cu[:-1]).tolist()
    assert sorted(s for s in seg if s in lengths)[:len(lengths)] == sorted(lengths)
    # position ids restart at every sample
    pos = inputs['position_ids'].reshape(-1)
    assert (pos[cu[:-1].long()] == 0).all()
    # every image stays with its sample: one image per sample, in packed order
    assert [o[1] for o in inputs['image_order']] == list(range(len(batch)))


def test_first_fit_decreasing_and_oversized_samples(samples):
    assert first_fit_decreasing([5, 3, 4, 2, 6], 8) == [[4, 3], [0, 1], [2]]
    _, batch = samples
    with pytest.raises(ValueError, match=r'record synth-train-\d+: a sample of \d+ tokens does '
                                         r'not fit max_tokens=10'):
        packed_collate(batch, max_tokens=10)


def test_lengths_must_sum_to_the_token_count():
    check_cu_seqlens(torch.tensor([0, 3, 7]), 7)
    with pytest.raises(ValueError, match='sum to 6 but the batch holds 7'):
        check_cu_seqlens(torch.tensor([0, 3, 6]), 7)
    with pytest.raises(ValueError, match='never decrease'):
        check_cu_seqlens(torch.tensor([0, 5, 3, 7]), 7)


def test_auto_picks_sdpa_on_cpu_and_says_why(capsys):
    logger = MMLogger.get_current_instance()
    messages = []
    handler_cls = __import__('logging').Handler

    class Keep(handler_cls):
        def emit(self, record):
            messages.append(record.getMessage())
    keep = Keep()
    logger.addHandler(keep)
    try:
        auto = ATTENTION.build(dict(type='auto'))
        chosen = auto.resolve('cpu', torch.float32)
        auto.resolve('cpu', torch.float32)            # logged once
    finally:
        logger.removeHandler(keep)
    assert chosen.name == 'sdpa'
    lines = [m for m in messages if 'attention auto' in m]
    assert len(lines) == 1
    assert 'flash_varlen: varlen_attn runs on CUDA only' in lines[0]
    assert 'xformers:' in lines[0]
    assert auto.packed_name('cpu', torch.float32) == 'eov_sdpa'


def test_unavailable_backend_refuses_clearly():
    with pytest.raises(RuntimeError, match="'flash_varlen' cannot run here: varlen_attn runs on "
                                           'CUDA only'):
        ATTENTION.build(dict(type='flash_varlen')).packed_name('cpu', torch.float32)


def test_xformers_is_not_imported_by_eov():
    import eov  # noqa: F401
    import eov.models  # noqa: F401
    assert 'xformers' not in sys.modules


def test_availability_is_checked_once_per_device_and_dtype():
    backend = ATTENTION.build(dict(type='sdpa'))
    calls = []
    backend.available = lambda device, dtype: calls.append((device, dtype)) or (True, 'ok')
    for _ in range(3):
        assert backend.packed_name('cpu', torch.float32) == 'eov_sdpa'
    backend.packed_name('cpu', torch.bfloat16)
    assert calls == [('cpu', torch.float32), ('cpu', torch.bfloat16)]


@pytest.mark.parametrize('weighting', ['sample', 'sqrt'])
def test_loss_weighting_is_the_same_packed_or_padded_and_weighs_samples(samples, weighting):
    """Per-sample weights: one sample's answer tokens share its weight, packed or padded."""
    cfg, batch = samples
    # answers of different lengths: drop the loss on the first answer tokens of two samples
    batch = [dict(b, inputs=dict(b['inputs'], labels=b['inputs']['labels'].clone()))
             for b in batch]
    for b, cut in zip(batch[:2], (3, 5)):
        answer = (b['inputs']['labels'] != -100).nonzero()[:, 0]
        b['inputs']['labels'][answer[:cut]] = -100
    cfg.model.loss_weighting = weighting
    model = _model(cfg, 'sdpa')
    losses = {}
    for name, collate in (('padded', instruction_collate(batch)),
                          ('packed', packed_collate(batch, max_tokens=256))):
        data = model.data_preprocessor(collate, False)
        with torch.no_grad():
            losses[name] = model(**data, mode='loss')['loss'].item()
    assert abs(losses['padded'] - losses['packed']) < 1e-5, losses
    # the weighted loss is the mean over samples of their own (weighted) token means
    data = model.data_preprocessor(instruction_collate(batch), False)
    with torch.no_grad():
        hidden = model.hidden_states(data['inputs'])
    per_sample, sizes = [], []
    for row in range(len(batch)):
        out = model.answer_loss(hidden[row:row + 1], data['inputs']['labels'][row:row + 1])
        per_sample.append(out['loss'].item())
        sizes.append(int((data['inputs']['labels'][row, 1:] != -100).sum()))
    sizes = torch.tensor(sizes, dtype=torch.float64)
    w = torch.ones_like(sizes) if weighting == 'sample' else sizes.sqrt()
    expected = float((w * torch.tensor(per_sample, dtype=torch.float64)).sum() / w.sum())
    assert losses['padded'] == pytest.approx(expected, rel=1e-5)
    # and it differs from the plain token mean when answer lengths differ
    cfg.model.loss_weighting = 'token'
    with torch.no_grad():
        token = _model(cfg, 'sdpa')(**data, mode='loss')['loss'].item()
    assert len(set(sizes.tolist())) > 1 and abs(token - expected) > 1e-4


def test_unknown_loss_weighting_is_refused(samples):
    cfg, _ = samples
    cfg.model.loss_weighting = 'per_token'
    with pytest.raises(ValueError, match="loss_weighting must be one of token, sample, sqrt"):
        _model(cfg, 'sdpa')
    cfg.model.loss_weighting = 'token'
