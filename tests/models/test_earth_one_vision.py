import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.registry import DATASETS, MODELS


@pytest.fixture
def built(tiny_cfg):
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg.model)
    train = DATASETS.build(tiny_cfg.train_dataloader.dataset)
    test = DATASETS.build(tiny_cfg.test_dataloader.dataset)
    return model, train, test


def _batch(model, ds, n, **kw):
    data = instruction_collate([ds[i] for i in range(n)], **kw)
    return model.data_preprocessor(data, False)


def test_loss_is_cross_entropy_on_answer_tokens_only(built):
    model, train, _ = built
    model.loc_label_sigma = 0.0
    data = _batch(model, train, 3)
    losses = model(**data, mode='loss')
    logits = model(**data, mode='tensor')
    labels = data['inputs']['labels']
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                          labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(losses['loss'], ref, rtol=1e-4, atol=1e-4)
    assert 0 <= float(losses['token_acc']) <= 1


def test_soft_location_targets(built):
    model, train, _ = built
    model.loc_label_sigma = 1.5
    data = _batch(model, train, 2)
    loss = model(**data, mode='loss')['loss']
    logits = model(**data, mode='tensor')[:, :-1].float()
    labels = data['inputs']['labels'][:, 1:]
    loc_ids = model.loc_token_ids
    terms = []
    for lg, t in zip(logits[labels != -100], labels[labels != -100]):
        logp = lg.log_softmax(-1)
        if t in loc_ids:
            b = int((loc_ids == t).nonzero())
            w = torch.exp(-0.5 * ((torch.arange(len(loc_ids)) - b) / 1.5) ** 2)
            terms.append(-(w / w.sum() * logp[loc_ids]).sum())
        else:
            terms.append(-logp[t])
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-4, atol=1e-4)


def test_gradients_reach_every_part(built):
    model, train, _ = built
    data = _batch(model, train, 2)
    model(**data, mode='loss')['loss'].backward()
    for part in (model.vision, model.aligner, model.lm):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), type(part).__name__


def test_batched_generation_equals_one_by_one(built):
    model, _, test = built
    model.eval()
    batched = model(**_batch(model, test, 4, padding_side='left'), mode='predict')
    right = model(**_batch(model, test, 4, padding_side='right'), mode='predict')
    single = [model(**model.data_preprocessor(instruction_collate([test[i]]), False),
                    mode='predict')[0] for i in range(4)]
    assert [b['prediction'] for b in batched] == [s['prediction'] for s in single]
    assert [b['prediction'] for b in right] == [s['prediction'] for s in single]
    assert batched[0]['id'] == 'synth-test-0'


def test_kv_cache_does_not_change_generation(built):
    model, _, test = built
    model.eval()
    data = _batch(model, test, 3, padding_side='left')
    embeds = model.embed(data['inputs'])
    mask = data['inputs']['attention_mask']
    kw = dict(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=6, do_sample=False,
              eos_token_id=model.eos_token_id, pad_token_id=model.pad_token_id)
    with_cache = model.lm.generate(use_cache=True, **kw)
    without = model.lm.generate(use_cache=False, **kw)
    assert torch.equal(with_cache, without)


@pytest.mark.parametrize('stop_early', [False, True])
def test_greedy_loop_equals_transformers_generate(built, stop_early):
    """eov's own greedy loop gives the tokens of lm.generate(do_sample=False), ends included."""
    model, _, test = built
    model.eval()
    data = _batch(model, test, 5, padding_side='left')
    embeds, mask = model._left_align(model.embed(data['inputs']),
                                      data['inputs']['attention_mask'])
    eos = model.eos_token_id
    if stop_early:   # an end token the random model does write: rows end at different steps
        probe = model.greedy(embeds, mask, 8)
        eos = int(probe[0, 2])
    saved, model.eos_token_id = model.eos_token_id, eos
    try:
        ours = model.greedy(embeds, mask, 12)
        ref = model.lm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=12,
                                do_sample=False, eos_token_id=eos,
                                pad_token_id=model.pad_token_id)
    finally:
        model.eos_token_id = saved
    assert torch.equal(ours, ref), (ours, ref)
    if stop_early:
        assert (ours == eos).any(1).sum() >= 1 and ours.shape[1] <= 12


def test_image_token_count_mismatch_is_explained(built):
    model, train, _ = built
    data = _batch(model, train, 1)
    ids = data['inputs']['input_ids']
    slot = (ids == model.image_token_id).nonzero()[0]
    ids[slot[0], slot[1]] = model.pad_token_id
    with pytest.raises(ValueError, match='image_tokens must equal'):
        model(**data, mode='loss')


def test_unknown_modality_is_explained(built):
    model, train, _ = built
    data = _batch(model, train, 1)
    data['inputs']['pixel_values'] = {'sar': data['inputs']['pixel_values']['optical']}
    data['inputs']['image_order'] = [('sar', 0)]
    with pytest.raises(KeyError, match="no input adapter for modality 'sar'"):
        model(**data, mode='loss')


def test_runner_init_weights_keeps_built_weights(built):
    # MMEngine's Runner calls init_weights(); it must not re-initialise the LM
    # (that would erase pretrained weights and the location-token codes).
    from eov.models.pos_embed import location_codes
    model, _, _ = built
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.init_weights()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    table = model.lm.get_input_embeddings().weight[model.loc_token_ids].detach()
    grid = max(model.vision.vit.patch_embed.grid_size)
    codes = location_codes(len(model.loc_token_ids), grid, table.shape[1])
    cos = F.cosine_similarity(table, codes, dim=1)
    assert float(cos.min()) > 0.999


def test_vit_pos_embed_starts_as_sincos(built):
    from eov.models.pos_embed import sincos_2d
    model, _, _ = built
    pe = model.vision.vit.pos_embed[0]
    h, w = model.vision.vit.patch_embed.grid_size
    torch.testing.assert_close(pe, 0.5 * sincos_2d(h, w, 128))
