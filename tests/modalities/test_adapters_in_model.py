"""Every modality x every input adapter: one forward + backward through the tiny model."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import load_config
from eov.registry import MODELS

from ..conftest import TINY_CONFIG

SIZE = 32
MODALITIES = {
    'optical': dict(type='optical'),
    'multispectral': dict(type='multispectral', sensor='sentinel2_l2a'),
    'sar': dict(type='sar'),
    'infrared': dict(type='infrared'),
    'temporal': dict(type='temporal', num_frames=3, frame=dict(type='multispectral'),
                     token_budget=12),
    'video': dict(type='video', num_frames=2),
    'fusion': dict(type='fusion', members=dict(optical=dict(type='optical'),
                                               sar=dict(type='sar'))),
}
SINGLE = ('optical', 'multispectral', 'sar', 'infrared')
ADAPTERS = ['rgb', 'band_linear', 'wavelength_patch_embed', 'pseudo_rgb_groups']


def _modalities(adapter):
    out = {}
    for name, cfg in MODALITIES.items():
        cfg = copy.deepcopy(cfg)
        cfg['image_size'] = SIZE
        if name in SINGLE:
            cfg['adapter'] = dict(type=adapter)
        elif name in ('temporal', 'video'):
            cfg['adapter'] = dict(type='temporal', token_budget=cfg.pop('token_budget', None),
                                  frame_adapter=dict(type=adapter))
        else:
            for member in cfg['members'].values():
                member['adapter'] = dict(type=adapter)
        out[name] = cfg
    if adapter == 'rgb':   # a pass-through needs 3 bands: only the RGB-based modalities
        out = {k: v for k, v in out.items() if k in ('optical', 'video')}
    return out


def _model(adapter):
    cfg = load_config(TINY_CONFIG)
    init_default_scope('eov')
    model_cfg = cfg.model
    model_cfg.vision.img_size = SIZE
    model_cfg.modalities = _modalities(adapter)
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def _batch(model, names):
    """Two samples per modality: prompt, visual tokens, a short answer."""
    tok = model.tokenizer
    image_id = model.image_token_id
    seqs, labels, order, pixels, extras = [], [], [], {}, {}
    for name in names:
        modality = model.modalities[name]
        n_tokens = model.num_image_tokens(modality=name)
        frames = getattr(modality, 'num_frames', None)
        shape = (2, frames, modality.num_channels, SIZE, SIZE) if frames else \
            (2, modality.num_channels, SIZE, SIZE)
        pixels[name] = torch.randn(shape)
        if frames:
            extras[name] = dict(frame_days=torch.tensor([[0.0, 10.0, 30.0][:frames]] * 2),
                                frame_mask=torch.tensor([[True] * (frames - 1) + [False]] * 2))
        for i in range(2):
            prompt = tok('Where is the ship?', add_special_tokens=False)['input_ids']
            answer = tok('<box><loc_1><loc_2><loc_3><loc_4></box>',
                         add_special_tokens=False)['input_ids']
            ids = prompt + [image_id] * n_tokens + answer
            seqs.append(torch.tensor(ids))
            labels.append(torch.tensor([-100] * (len(ids) - len(answer)) + answer))
            order.append((name, i))
    length = max(len(s) for s in seqs)
    input_ids = torch.zeros(len(seqs), length, dtype=torch.long)
    label_ids = torch.full((len(seqs), length), -100)
    mask = torch.zeros(len(seqs), length, dtype=torch.long)
    for i, (s, lab) in enumerate(zip(seqs, labels)):
        input_ids[i, :len(s)], label_ids[i, :len(s)], mask[i, :len(s)] = s, lab, 1
    return dict(input_ids=input_ids, labels=label_ids, attention_mask=mask,
                pixel_values=pixels, image_order=order, image_extras=extras)


@pytest.mark.parametrize('adapter', ADAPTERS)
def test_every_modality_trains_through_the_shared_backbone(adapter):
    model = _model(adapter)
    names = list(model.adapters)
    inputs = _batch(model, names)
    loss = model(inputs, mode='loss')['loss']
    assert torch.isfinite(loss)
    loss.backward()
    for name in names:
        params = list(model.adapters[name].parameters())
        if params:
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), name
    assert model.vision.vit.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_token_counts_follow_the_adapter():
    model = _model('pseudo_rgb_groups')
    grid = (SIZE // model.vision.patch_size) ** 2
    assert model.num_image_tokens(modality='multispectral') == 4 * grid    # 12 bands / 3
    assert model.num_image_tokens(modality='sar') == grid                  # 2 bands -> 1 group
    assert model.num_image_tokens(modality='fusion') == 2 * grid           # optical + sar
    assert model.num_image_tokens(modality='temporal') == 3 * 4            # budget 12 / 3 frames
    model = _model('band_linear')
    assert model.num_image_tokens(modality='video') == 2 * grid


def test_wavelength_embedding_is_shared_across_sensors():
    model = _model('wavelength_patch_embed')
    nets = {id(model.adapters[n].hypernet) for n in ('multispectral', 'sar', 'infrared')}
    assert len(nets) == 1
    # a 12-band and a 2-band image both become tokens of the same width
    ms, sar = model.adapters['multispectral'], model.adapters['sar']
    a = ms(torch.randn(1, 12, SIZE, SIZE), model.vision)[0]
    b = sar(torch.randn(1, 2, SIZE, SIZE), model.vision)[0]
    assert a.shape == b.shape


def test_padded_frames_do_not_leak_into_tokens():
    model = _model('band_linear')
    adapter = model.adapters['temporal']
    x = torch.randn(1, 3, 12, SIZE, SIZE)
    days = torch.tensor([[0.0, 5.0, 5.0]])
    mask = torch.tensor([[True, True, False]])
    a = adapter(x, model.vision, frame_days=days, frame_mask=mask)[0]
    x2 = x.clone()
    x2[:, 2] = torch.randn(12, SIZE, SIZE)       # change only the padding frame
    b = adapter(x2, model.vision, frame_days=days, frame_mask=mask)[0]
    per_frame = a.shape[1] // 3
    torch.testing.assert_close(a, b)
    assert a[:, 2 * per_frame:].abs().sum() == 0


def test_wavelength_embedding_can_start_from_the_backbone_rgb_kernels():
    """backbone_wavelengths: an S2 image's B04/B03/B02 first give the tokens the RGB ViT
    gives that true-colour image; the other bands add nothing until trained."""
    cfg = load_config(TINY_CONFIG)
    init_default_scope('eov')
    model_cfg = cfg.model
    model_cfg.vision.img_size = SIZE
    model_cfg.modalities = dict(
        optical=dict(type='optical', image_size=SIZE),
        multispectral=dict(type='multispectral', sensor='sentinel2_l2a', image_size=SIZE,
                           adapter=dict(type='wavelength_patch_embed',
                                        backbone_wavelengths=(0.665, 0.560, 0.490))))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    ms = model.adapters['multispectral']
    x = torch.randn(2, 12, SIZE, SIZE)
    rgb = x[:, [3, 2, 1]]                  # B04, B03, B02 of sentinel2_l2a
    ours = ms(x, model.vision)
    theirs = model.vision(rgb)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # the residual trains: a step changes the hypernetwork's output layer
    ours[-1].pow(2).mean().backward()
    assert ms.hypernet.mlp[-1].weight.grad.abs().sum() > 0
    assert model.vision.vit.patch_embed.proj.weight.grad.abs().sum() > 0
    bad = model_cfg.copy()
    bad.modalities = dict(multispectral=dict(
        type='multispectral', sensor='sentinel2_l2a', image_size=SIZE,
        adapter=dict(type='wavelength_patch_embed', backbone_wavelengths=(0.665, 0.56))))
    with pytest.raises(ValueError, match='2 backbone_wavelengths for a backbone of 3 input'):
        MODELS.build(bad).adapters['multispectral'](x, model.vision)


def test_temporal_difference_tokens_are_zero_where_nothing_changed():
    """difference=True: frames after the first carry their change to the first frame --
    a static series leaves only the frame/time embeddings; the weights are the same."""
    from eov.registry import ADAPTERS
    model = _model('band_linear')
    plain = model.adapters['temporal']
    torch.manual_seed(1)
    diff = ADAPTERS.build(dict(type='temporal', difference=True,
                               frame_adapter=dict(type='band_linear')),
                          default_args=dict(in_chans=12, out_chans=3, num_frames=3,
                                            embed_dim=model.vision.embed_dim, token_budget=12))
    assert set(diff.state_dict()) == set(plain.state_dict())
    diff.load_state_dict(plain.state_dict())
    with torch.no_grad():
        diff.frame_embed.normal_()
        diff.time_proj.weight.normal_()
    frame = torch.randn(1, 1, 12, SIZE, SIZE)
    static = frame.expand(1, 3, 12, SIZE, SIZE).contiguous()
    days = torch.tensor([[0.0, 3.0, 9.0]])
    empty = torch.zeros_like(static)
    with torch.no_grad():
        out = diff(static, model.vision, frame_days=days)[0]
        per = out.shape[1] // 3
        # frames 2 and 3 hold nothing but their embeddings (what a black series' diff gives)
        ref = diff(empty, model.vision, frame_days=days)[0]
        torch.testing.assert_close(out[:, per:], ref[:, per:], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(out[:, :per], ref[:, :per])
        # a change in frame 3 shows in frame 3's tokens only (frame 2 still equals frame 1)
        moved = static.clone()
        moved[:, 2, :, :8, :8] += 3.0
        changed = diff(moved, model.vision, frame_days=days)[0]
        torch.testing.assert_close(changed[:, :2 * per], out[:, :2 * per])
        assert (changed[:, 2 * per:] - out[:, 2 * per:]).abs().max() > 1e-3
