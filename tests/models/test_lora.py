"""Modality-gated LoRA: frozen modalities answer exactly as the pretrained model, others adapt."""
import copy

import pytest
import torch
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate, packed_collate
from eov.models.lora import GatedEmbeddingDelta, GatedLoRALinear
from eov.registry import DATASETS, MODELS

from ..conftest import ROOT


@pytest.fixture(scope='module')
def demo():
    """The demo's tiny model (random init) and on-the-fly optical / SAR / fusion samples."""
    from eov.engine import fill_config_image_tokens
    from eov.engine.config import load_config
    init_default_scope('eov')
    cfg = load_config(f'{ROOT}/configs/eov_tiny_pcma.py')
    fill_config_image_tokens(cfg)
    samples = {}
    for entry in ('optical', 'sar', 'fusion'):
        ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
        ds_cfg.update(length=6, entries=[entry], seed=3)
        ds = DATASETS.build(ds_cfg)
        samples[entry] = [ds[i] for i in range(3)]
        for i, sample in enumerate(samples[entry]):   # ids are per dataset: make them unique
            sample['data_sample']['id'] = f'{entry}-{i}'
    torch.manual_seed(0)
    base = MODELS.build({**cfg.model, 'modality_lora': None}).eval()
    lora_cfg = copy.deepcopy(cfg.model)
    lora_cfg.modality_lora = dict(rank=8, alpha=16, embeddings=True)
    adapted = MODELS.build(lora_cfg).eval()
    missing, unexpected = adapted.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and 'lm.lm_head.delta' in missing
    assert [k for k in missing if '.lora_' not in k] == ['lm.lm_head.delta']
    torch.manual_seed(1)
    for name, p in adapted.named_parameters():   # a trained-looking, non-zero update
        if name.endswith('lora_B') or name.endswith('.delta'):
            p.data.normal_(0, 0.2)
    return base, adapted, samples


def _prep(model, batch):
    return model.data_preprocessor(batch, False)


def test_layers_and_keys():
    init_default_scope('eov')
    from eov.engine.config import load_config
    cfg = load_config(f'{ROOT}/configs/eov_tiny_pcma.py')
    cfg.model.modality_lora = dict(rank=4, embeddings=True)
    model = MODELS.build(cfg.model)
    lora = [m for m in model.modules() if isinstance(m, GatedLoRALinear)]
    # 4 ViT blocks x 4 + 4 LM layers x 7 + the aligner's 2; never the tied output embedding
    assert len(lora) == 4 * 4 + 4 * 7 + 2
    # the tied output embedding gets a gated full-rank delta instead (input side too)
    head = model.lm.get_output_embeddings()
    assert isinstance(head, GatedEmbeddingDelta) and not isinstance(head, GatedLoRALinear)
    assert head.weight is model.lm.get_input_embeddings().weight
    without = MODELS.build({**cfg.model, 'modality_lora': dict(rank=4)})   # the default
    assert type(without.lm.get_output_embeddings()) is torch.nn.Linear
    assert all(m.gate is model.lora_gate for m in lora)
    with pytest.raises(ValueError, match='frozen_modalities'):
        MODELS.build({**cfg.model, 'modality_lora': dict(frozen_modalities=['opt'])})
    with pytest.raises(ValueError, match='unknown keys'):
        MODELS.build({**cfg.model, 'modality_lora': dict(rnk=4)})
    with pytest.raises(ValueError, match='activation checkpointing'):
        model.enable_activation_checkpointing()


def test_untrained_lora_is_the_pretrained_model(demo):
    base, adapted, samples = demo
    fresh = copy.deepcopy(adapted)
    for name, p in fresh.named_parameters():
        if name.endswith('lora_B') or name.endswith('.delta'):
            p.data.zero_()
    batch = _prep(base, instruction_collate(samples['sar'] + samples['optical']))
    with torch.no_grad():
        torch.testing.assert_close(fresh(**batch, mode='tensor'), base(**batch, mode='tensor'),
                                   rtol=0, atol=1e-6)


def test_frozen_modality_exact_others_adapted_padded_and_packed(demo):
    """In a mixed batch, optical samples give the pretrained logits; SAR and fusion do not."""
    base, adapted, samples = demo
    mixed = [samples['optical'][0], samples['sar'][0], samples['optical'][1],
             samples['fusion'][0], samples['optical'][2]]
    with torch.no_grad():
        padded = _prep(base, instruction_collate(mixed))
        ours, ref = adapted(**padded, mode='tensor'), base(**padded, mode='tensor')
        mask = padded['inputs']['attention_mask'].bool()
        for row, sample in enumerate(mixed):
            same = torch.equal(ours[row][mask[row]], ref[row][mask[row]])
            assert same == (sample['data_sample']['modality'] == 'optical'), row
        packed = _prep(base, packed_collate(mixed, max_tokens=2000))
        ours = adapted(**packed, mode='tensor').reshape(-1, ref.shape[-1])
        ref = base(**packed, mode='tensor').reshape(-1, ref.shape[-1])
        cu = packed['inputs']['cu_seqlens'].tolist()
        by_id = {s['data_sample']['id']: s for s in mixed}
        for k, sample in enumerate(packed['data_samples']):
            part = slice(cu[k], cu[k + 1])
            optical = by_id[sample['id']]['data_sample']['modality'] == 'optical'
            diff = (ours[part] - ref[part]).abs().max()
            assert (diff < 1e-5) if optical else (diff > 1e-3), (sample['id'], float(diff))


def test_generation_gated_per_row(demo):
    base, adapted, samples = demo
    mixed = [samples['optical'][0], samples['sar'][1], samples['optical'][2]]
    batch = _prep(base, instruction_collate(mixed, padding_side='left'))
    ours = adapted.generate(batch['inputs'], max_new_tokens=8)
    ref = base.generate(batch['inputs'], max_new_tokens=8)
    assert ours[0] == ref[0] and ours[2] == ref[2]
    # the SAR row generates with its update: the same as generating it alone
    alone = adapted.generate(_prep(base, instruction_collate([mixed[1]]))['inputs'],
                             max_new_tokens=8)
    assert ours[1] == alone[0]
    assert adapted.lora_gate.value is None   # the gate is cleared after each call


def test_a_batch_without_frozen_samples_merges_the_update_into_the_weight(demo):
    """Gate on everywhere: one matmul with ``W + s B A`` -- the same logits as the low-rank
    path a mixed batch takes."""
    base, adapted, samples = demo
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if name.endswith('lora_B'):
                p.normal_(0, 0.02)
        sar = samples['sar'][0]
        alone = _prep(base, instruction_collate([sar]))
        calls = []
        from eov.models.lora import GatedLoRALinear
        layer = next(m for m in adapted.lm.modules() if isinstance(m, GatedLoRALinear))
        hook = layer.register_forward_pre_hook(
            lambda m, a: calls.append(adapted.lora_gate.all_on))
        merged = adapted(**alone, mode='tensor')[0]
        mixed = _prep(base, instruction_collate([sar, samples['optical'][0]]))
        lowrank = adapted(**mixed, mode='tensor')[0]
        hook.remove()
        assert calls == [True, False]
        n = merged.shape[0]
        torch.testing.assert_close(merged, lowrank[:n], rtol=1e-5, atol=1e-4)   # fp32 rounding
        assert (merged - base(**alone, mode='tensor')[0]).abs().max() > 1e-3


def test_training_lora_leaves_optical_untouched(demo):
    """An optimizer step on a mixed batch changes SAR outputs, never optical ones."""
    base, adapted, samples = demo
    model = copy.deepcopy(adapted).train()
    for name, p in model.named_parameters():
        p.requires_grad_('.lora_' in name or name.endswith('.delta')
                         or name.startswith('adapters.sar'))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    train = _prep(base, packed_collate(samples['optical'] + samples['sar'], max_tokens=2000))
    opt.zero_grad()
    model(**train, mode='loss')['loss'].backward()
    assert all(p.grad is not None for n, p in model.named_parameters()
               if n.endswith('lora_B') or n.endswith('.delta'))
    opt.step()
    model.eval()
    with torch.no_grad():
        for entry, changed in (('optical', False), ('sar', True)):
            batch = _prep(base, instruction_collate(samples[entry]))
            diff = (model(**batch, mode='tensor') - base(**batch, mode='tensor')).abs().max()
            assert (float(diff) > 1e-3) == changed, entry


def test_export_round_trip_keeps_the_gated_update(demo, tmp_path):
    """save_pretrained / from_pretrained rebuild the LoRA layers from the saved config."""
    from eov.engine.config import load_config
    from eov.models import EarthOneVision
    base, adapted, samples = demo
    cfg = load_config(f'{ROOT}/configs/eov_tiny_pcma.py')
    cfg.model.modality_lora = dict(rank=8, alpha=16, embeddings=True)
    out = adapted.save_pretrained(str(tmp_path / 'hf'), cfg)
    loaded = EarthOneVision.from_pretrained(out).eval()
    assert loaded.lora_frozen == {'optical'}
    batch = _prep(base, instruction_collate(samples['sar'] + samples['optical']))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch, mode='tensor'),
                                   adapted(**batch, mode='tensor'), rtol=0, atol=1e-6)
