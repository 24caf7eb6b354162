"""FGVLA aligners: shapes, token counts, compression, gates, gradients, and the model."""
import os

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.engine import fill_config_image_tokens
from eov.engine.config import load_config
from eov.models.aligners import (LevelResampler, MLPLastLayer, MultiLevelConcat,
                                 MultiLevelGated, TokenCompressor)
from eov.registry import ALIGNERS, DATASETS, MODELS

from ..conftest import ROOT, TINY_CONFIG

NAMES = ['MLPLastLayer', 'MultiLevelConcat', 'MultiLevelGated', 'LevelResampler']
COMPRESS = {'none': None,
            'pixel_shuffle': dict(type='pixel_shuffle', factor=2),
            'pool': dict(type='pool', factor=2)}
IN_DIM, OUT_DIM, K = 12, 16, 2


def _build(name, compress=None, **kw):
    init_default_scope('eov')
    torch.manual_seed(0)
    return ALIGNERS.build(dict(type=name, compress=compress, **kw),
                          default_args=dict(in_dim=IN_DIM, num_levels=K, out_dim=OUT_DIM))


def _levels(n, batch=2, requires_grad=False):
    return [torch.randn(batch, n, IN_DIM, requires_grad=requires_grad) for _ in range(K)]


def test_every_variant_is_registered():
    init_default_scope('eov')
    for name in NAMES:
        assert ALIGNERS.get(name) is not None, name
    assert ALIGNERS.get('LevelResampler') is LevelResampler
    assert ALIGNERS.get('MultiLevelGated') is MultiLevelGated


@pytest.mark.parametrize('compress', list(COMPRESS))
@pytest.mark.parametrize('name', NAMES)
def test_output_shape_matches_token_counts(name, compress):
    aligner = _build(name, COMPRESS[compress])
    # one square image, grid inferred from N
    out = aligner(_levels(16))
    assert out.shape == (2, aligner.num_tokens((4, 4)), OUT_DIM)
    # one non-square image, grid given
    out = aligner(_levels(24), grid=(4, 6))
    assert out.shape == (2, aligner.num_tokens((4, 6)), OUT_DIM)
    # a multi-grid sample: 3 images of 4x6 patches concatenated by an adapter
    out = aligner(_levels(72), grid=(4, 6))
    assert out.shape == (2, aligner.num_tokens_for(72, (4, 6)), OUT_DIM)
    per_image = 24 if compress == 'none' else 6
    if name == 'LevelResampler':
        assert aligner.num_tokens((4, 6)) == aligner.num_tokens_for(72, (4, 6)) == 64
    else:
        assert aligner.num_tokens((4, 6)) == per_image
        assert aligner.num_tokens_for(72, (4, 6)) == 3 * per_image


def test_resampler_length_is_num_queries():
    aligner = _build('LevelResampler', COMPRESS['pool'], num_queries=5, depth=1)
    assert aligner(_levels(64)).shape == (2, 5, OUT_DIM)
    assert aligner(_levels(3 * 64), grid=(8, 8)).shape == (2, 5, OUT_DIM)
    assert aligner.num_tokens((8, 8)) == aligner.num_tokens_for(3 * 64, (8, 8)) == 5


def test_pixel_shuffle_is_a_pure_rearrangement():
    shuffle = TokenCompressor(dict(type='pixel_shuffle', factor=2), 'test')
    # one 4x4 grid of scalar tokens 0..15 (row-major)
    x = torch.arange(16.0).view(1, 16, 1)
    out = shuffle(x, (4, 4))
    expected = torch.tensor([[0, 1, 4, 5], [2, 3, 6, 7],
                             [8, 9, 12, 13], [10, 11, 14, 15]], dtype=torch.float32)
    torch.testing.assert_close(out, expected[None])
    # two channels: output channel (dy*f + dx)*C + c
    x = torch.stack([torch.arange(16.0), 100 + torch.arange(16.0)], dim=-1)[None]
    out = shuffle(x, (4, 4))
    torch.testing.assert_close(out[0, 0], torch.tensor([0., 100., 1., 101., 4., 104., 5., 105.]))
    # two grids (e.g. two frames) are shuffled separately, never mixed
    x = torch.arange(2 * 2 * 4.0).view(1, 8, 2)            # two 2x2 grids, C=2
    out = shuffle(x, (2, 2))
    assert out.shape == (1, 2, 8)
    torch.testing.assert_close(out.flatten(), x.flatten())  # 1 block per grid: same order
    # non-square grid and a permutation of the values
    x = torch.randn(3, 2 * 24, 5)
    out = shuffle(x, (4, 6))
    assert out.shape == (3, 12, 20)
    torch.testing.assert_close(out.flatten().sort().values, x.flatten().sort().values)


def test_pool_averages_blocks():
    pool = TokenCompressor(dict(type='pool', factor=2), 'test')
    x = torch.arange(16.0).view(1, 16, 1)
    out = pool(x, (4, 4))
    torch.testing.assert_close(out[0, :, 0], torch.tensor([2.5, 4.5, 10.5, 12.5]))


@pytest.mark.parametrize('gate', ['sample', 'token'])
def test_gates_sum_to_one(gate):
    aligner = _build('MultiLevelGated', COMPRESS['pixel_shuffle'], gate=gate)
    levels = _levels(72)
    gates = aligner.level_gates(levels, grid=(4, 6))
    expected = (2, K) if gate == 'sample' else (2, 18, K)
    assert gates.shape == expected
    assert (gates >= 0).all()
    torch.testing.assert_close(gates.sum(-1), torch.ones(expected[:-1]))
    aligner(levels, grid=(4, 6))
    torch.testing.assert_close(aligner.last_gates, gates)
    # input-dependent: another input gives other gates
    assert not torch.equal(aligner.level_gates(_levels(72), grid=(4, 6)), gates)


def test_gated_is_the_gate_weighted_sum_of_projections():
    aligner = _build('MultiLevelGated')
    levels = _levels(16)
    gates = aligner.level_gates(levels)
    projected = [proj(lvl) for proj, lvl in zip(aligner.proj, levels)]
    fused = sum(gates[:, k, None, None] * projected[k] for k in range(K))
    torch.testing.assert_close(aligner(levels), aligner.mlp(fused))


@pytest.mark.parametrize('compress', ['none', 'pixel_shuffle'])
@pytest.mark.parametrize('name', NAMES)
def test_gradients_reach_every_parameter(name, compress):
    aligner = _build(name, COMPRESS[compress])
    levels = _levels(32, requires_grad=True)
    out = aligner(levels, grid=(4, 4))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in aligner.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    used = levels[-1:] if name == 'MLPLastLayer' else levels
    assert all(lvl.grad.abs().sum() > 0 for lvl in used)


@pytest.mark.parametrize('name', NAMES)
def test_non_square_tokens_without_grid_are_explained(name):
    aligner = _build(name, COMPRESS['pixel_shuffle'])
    with pytest.raises(ValueError, match=rf'{name}.*\b24 tokens'):
        aligner(_levels(24))
    with pytest.raises(ValueError, match=rf'{name}.*not a whole number'):
        aligner(_levels(40), grid=(4, 4))
    with pytest.raises(ValueError, match=rf'{name}.*divisible by 2'):
        aligner.num_tokens((5, 5))
    with pytest.raises(ValueError, match=rf'{name}.*not a whole number'):
        aligner.num_tokens_for(40, (4, 4))
    # without compression the grid is not needed
    assert _build(name)(_levels(24)).shape[:2] == (2, _build(name).num_tokens_for(24, (4, 6)))


def test_bad_options_are_explained():
    with pytest.raises(ValueError, match='compress must be None or dict'):
        _build('MultiLevelConcat', dict(type='unshuffle'))
    with pytest.raises(ValueError, match="gate must be 'sample' or 'token'"):
        _build('MultiLevelGated', gate='pixel')
    with pytest.raises(ValueError, match='expects 2 levels'):
        _build('MultiLevelConcat')([torch.randn(1, 4, IN_DIM)])


def test_uncompressed_concat_is_unchanged():
    """The default aligner's parameters and function are those of earlier versions."""
    aligner = _build('MultiLevelConcat')
    assert sorted(aligner.state_dict()) == ['mlp.0.bias', 'mlp.0.weight', 'mlp.2.bias',
                                            'mlp.2.weight', 'norm.bias', 'norm.weight']
    assert aligner.mlp[0].in_features == K * IN_DIM
    levels = _levels(10)
    torch.testing.assert_close(aligner(levels), aligner.mlp(aligner.norm(torch.cat(levels, -1))))
    last = _build('MLPLastLayer')
    assert isinstance(last, MultiLevelConcat) and isinstance(last, MLPLastLayer)
    torch.testing.assert_close(last(levels), last.mlp(last.norm(levels[-1])))
    shuffled = _build('MultiLevelConcat', COMPRESS['pixel_shuffle'])
    assert shuffled.mlp[0].in_features == 4 * K * IN_DIM


# -- in the model ------------------------------------------------------------------
MODEL_CASES = {
    'MLPLastLayer': dict(type='MLPLastLayer'),
    'MultiLevelConcat+pixel_shuffle': dict(type='MultiLevelConcat',
                                           compress=COMPRESS['pixel_shuffle']),
    'MultiLevelGated+pool': dict(type='MultiLevelGated', compress=COMPRESS['pool']),
    'LevelResampler': dict(type='LevelResampler', num_queries=16, depth=1),
}


@pytest.mark.parametrize('case', list(MODEL_CASES))
def test_tiny_model_trains_with_each_aligner(case, synth_data):
    cfg = load_config(TINY_CONFIG, {'data_root': synth_data,
                                    'train_dataloader.batch_size': 2})
    cfg.model.aligner = dict(MODEL_CASES[case])
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    n_tokens = model.num_image_tokens(modality='optical')
    grid = (cfg.image_size // cfg.patch_size) ** 2       # the tiny default's patch grid
    assert n_tokens == {'MLPLastLayer': grid, 'LevelResampler': 16}.get(case, grid // 4)
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'TokenizeConversation':
            step.image_tokens = n_tokens
    train = DATASETS.build(cfg.train_dataloader.dataset)
    data = instruction_collate([train[i] for i in range(2)])
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    before = [p.detach().clone() for p in model.aligner.parameters()]
    for _ in range(2):
        log = model.train_step(data, optim)
        assert torch.isfinite(log['loss'])
    after = list(model.aligner.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))


def test_multi_grid_modalities_count_compressed_tokens():
    """num_image_tokens agrees with encode_images for adapters that concatenate grids."""
    cfg = load_config(TINY_CONFIG)
    size = 32
    model_cfg = cfg.model
    model_cfg.vision.img_size = size
    model_cfg.vision.patch_size = 8                      # 4x4 patches, whatever the default
    model_cfg.aligner = dict(type='MultiLevelConcat', compress=COMPRESS['pixel_shuffle'])
    model_cfg.modalities = dict(
        optical=dict(type='optical', image_size=size),
        multispectral=dict(type='multispectral', sensor='sentinel2_l2a', image_size=size,
                           adapter=dict(type='pseudo_rgb_groups')),
        fusion=dict(type='fusion', image_size=size,
                    members=dict(optical=dict(type='optical'), sar=dict(type='sar'))),
        temporal=dict(type='temporal', num_frames=3, image_size=size,
                      frame=dict(type='optical')),
        pooled=dict(type='temporal', num_frames=3, image_size=size, token_budget=12))
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    grid = (size // 8 // 2) ** 2                         # 4x4 patches -> 2x2 tokens
    expected = dict(optical=grid, multispectral=4 * grid, fusion=2 * grid, temporal=3 * grid)
    for name, n in expected.items():
        assert model.num_image_tokens(modality=name) == n, name
        modality = model.modalities[name]
        frames = getattr(modality, 'num_frames', None)
        shape = (2, frames, modality.num_channels, size, size) if frames else \
            (2, modality.num_channels, size, size)
        with torch.no_grad():
            tokens = model.encode_images({name: torch.randn(shape)}, [(name, 0), (name, 1)])
        assert tokens.shape == (2 * n, model.lm.config.hidden_size), name
    # frames pooled by the adapter are no longer whole grids: a clear error
    with pytest.raises(ValueError, match='not a whole number of 4x4 patch grids'):
        model.num_image_tokens(modality='pooled')


def test_ablation_configs_match_their_token_counts():
    init_default_scope('eov')
    for name, aligner in [('mlp_last', 'MLPLastLayer'), ('gated', 'MultiLevelGated'),
                          ('resampler', 'LevelResampler'),
                          ('pixel_shuffle', 'MultiLevelConcat')]:
        cfg = load_config(os.path.join(ROOT, 'configs', 'fgvla', f'eov_tiny_synth_{name}.py'))
        assert cfg.model.aligner.type == aligner
        steps = cfg.train_dataloader.dataset.pipeline
        # the configs leave the count to the model ('auto'); the runner fills it in
        assert [s.get('image_tokens', 'auto') for s in steps
                if s.type == 'TokenizeConversation'] == ['auto'], name
        counts = fill_config_image_tokens(cfg)
        image_tokens = [s.image_tokens for s in steps if s.type == 'TokenizeConversation']
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        n = model.num_image_tokens(modality='optical')
        assert image_tokens == [{'optical': n}] and counts == {'optical': n}, name
        assert n == {'resampler': 8, 'pixel_shuffle': 4}.get(name, 16), name


def test_llava_onevision_layout_per_grid():
    """Each grid: its h*w tokens, then h rows of w tokens closed by the newline token."""
    torch.manual_seed(0)
    aligner = ALIGNERS.build(dict(type='LLaVAOneVisionMLP', in_dim=8, num_levels=2, out_dim=6))
    with torch.no_grad():
        aligner.image_newline.normal_()
    h, w, frames = 2, 3, 2
    levels = [torch.randn(1, frames * h * w, 8) for _ in range(2)]
    out = aligner(levels, grid=(h, w))
    per = h * w + h * (w + 1)
    assert aligner.num_tokens((h, w)) == per == 14
    assert out.shape == (1, aligner.num_tokens_for(frames * h * w, (h, w)), 6) == (1, 28, 6)
    projected = aligner.mlp(levels[-1])                       # only the last level is used
    for f in range(frames):
        grid = projected[0, f * h * w:(f + 1) * h * w]
        block = out[0, f * per:(f + 1) * per]
        torch.testing.assert_close(block[:h * w], grid)
        rows = block[h * w:].reshape(h, w + 1, 6)
        torch.testing.assert_close(rows[:, :w].reshape(-1, 6), grid)
        torch.testing.assert_close(rows[:, w], aligner.image_newline.expand(h, 6))
    with pytest.raises(ValueError, match='not a whole number of 2x3 patch grids'):
        aligner.num_tokens_for(7, (h, w))
