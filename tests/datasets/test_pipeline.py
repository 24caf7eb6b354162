import torch
from mmengine.registry import init_default_scope

from eov.datasets import instruction_collate
from eov.processing.tokenizer import IM_END, IMAGE_TOKEN, build_tokenizer
from eov.registry import DATASETS
from eov.slis import LocTokenSerializer


def _dataset(cfg, key):
    init_default_scope('eov')
    return DATASETS.build(cfg[key].dataset)


def test_training_sample_learns_only_the_answer(tiny_cfg):
    ds = _dataset(tiny_cfg, 'train_dataloader')
    sample = ds[0]
    ids, labels = sample['inputs']['input_ids'], sample['inputs']['labels']
    tok = build_tokenizer(None, serializer=tiny_cfg.serializer)
    n_slots = int((ids == tok.convert_tokens_to_ids(IMAGE_TOKEN)).sum())
    assert n_slots == (tiny_cfg.image_size // tiny_cfg.patch_size) ** 2   # the model's own count
    learned = labels[labels != -100].tolist()
    text = tok.decode(learned, skip_special_tokens=False)
    rec = ds.get_data_info(0)
    # the grounding head leaves the phrase (it is in the question) out of the answer
    serializer_text = LocTokenSerializer(bins=32, with_labels=False).encode(rec['targets'], (64, 64))
    assert text == serializer_text + IM_END
    # labels equal the input ids where they are set
    assert torch.equal(labels[labels != -100], ids[labels != -100])
    assert sample['inputs']['images'][0]['pixels'].shape == (3, 64, 64)


def test_test_sample_ends_with_generation_prompt(tiny_cfg):
    ds = _dataset(tiny_cfg, 'test_dataloader')
    sample = ds[0]
    tok = build_tokenizer(None, serializer=tiny_cfg.serializer)
    tail = tok.decode(sample['inputs']['input_ids'][-3:].tolist(), skip_special_tokens=False)
    assert tail == '<|im_start|>assistant\n'
    assert (sample['inputs']['labels'] == -100).all()
    assert sample['data_sample']['targets'][0]['type'] == 'hbb'
    assert sample['data_sample']['image_size'] == (64, 64)


def test_collate_pads_and_groups_images(tiny_cfg):
    ds = _dataset(tiny_cfg, 'train_dataloader')
    batch = [ds[i] for i in range(3)]
    lengths = [len(b['inputs']['input_ids']) for b in batch]
    out = instruction_collate(batch)
    inputs = out['inputs']
    assert inputs['input_ids'].shape == (3, max(lengths))
    assert inputs['attention_mask'].sum(1).tolist() == lengths
    assert inputs['pixel_values']['optical'].shape == (3, 3, 64, 64)
    assert inputs['image_order'] == [('optical', 0), ('optical', 1), ('optical', 2)]
    left = instruction_collate(batch, padding_side='left')['inputs']
    for i, n in enumerate(lengths):
        assert torch.equal(left['input_ids'][i, -n:], batch[i]['inputs']['input_ids'])
        assert int(left['attention_mask'][i].sum()) == n


def test_a_label_the_serializer_cannot_write_names_the_record():
    """A label with markup used to fail inside LocTokenSerializer with no file or line."""
    import pytest

    from eov.datasets.schema import RecordError
    from eov.registry import TRANSFORMS
    init_default_scope('eov')
    rec = {'id': 'r7', 'task': 'detection', 'modality': 'optical', 'source': 'train.jsonl:2',
           'images': [{'path': 'a.png', 'sensor': 'rgb'}], 'image_size': (64, 64),
           'conversations': [{'from': 'human', 'value': '<image>\nFind every car.'},
                             {'from': 'assistant', 'value': None}],
           'targets': [{'type': 'hbb', 'bbox': [1, 2, 30, 40], 'label': 'car<script>'}]}
    build = TRANSFORMS.build(dict(type='BuildConversation', heads=[dict(type='detection')],
                                  serializer=dict(type='LocTokenSerializer', bins=32)))
    # a RecordError: InstructionDataset skips and counts it (max_bad_records) or the tools
    # print it as one error line
    with pytest.raises(RecordError, match=r"train.jsonl:2 \(id r7\): cannot write the detection "
                       r"answer from 'targets': .*label 'car<script>' contains markup"):
        build.transform(rec)
