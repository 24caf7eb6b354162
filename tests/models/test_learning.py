"""The tiny model must be able to learn: memorise a handful of grounding samples."""
import pytest
import torch
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.slis.geometry import box_iou
from eov.registry import DATASETS, MODELS


@pytest.mark.slow
def test_tiny_model_memorises_eight_samples(tiny_cfg):
    init_default_scope('eov')
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg.model)
    train = DATASETS.build(tiny_cfg.train_dataloader.dataset)
    cfg = tiny_cfg.test_dataloader.dataset
    cfg.ann_file = 'train.jsonl'  # predict on the very samples it trained on
    probe = DATASETS.build(cfg)
    batch = model.data_preprocessor(instruction_collate([train[i] for i in range(8)]), True)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(120):
        loss = model(**batch, mode='loss')['loss']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
    model.eval()
    prompts = model.data_preprocessor(
        instruction_collate([probe[i] for i in range(8)], padding_side='left'), False)
    outs = model(**prompts, mode='predict')
    ious = []
    for out in outs:
        objs = model.serializer.decode(out['prediction'], out['image_size']).objects
        ious.append(box_iou(objs[0]['bbox'], out['targets'][0]['bbox']) if objs else 0.0)
    assert sum(i >= 0.5 for i in ious) >= 7, (ious, [o['prediction'] for o in outs])
