# EOV-Synth grounding data written by `python -m eov.datasets.synth data/eov_synth`
# (the Makefile's demo target does it). Splits: train.jsonl / test.jsonl.
# Override the location with `--cfg-options data_root=...`.
data_root = 'data/eov_synth'
tasks_heads = [dict(type='grounding')]

train_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads=tasks_heads, serializer='${serializer}'),
    dict(type='TokenizeConversation', image_tokens='${num_image_tokens}',
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]
test_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads=tasks_heads, serializer='${serializer}',
         predict=True),
    dict(type='TokenizeConversation', image_tokens='${num_image_tokens}',
         add_generation_prompt=True,
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    # packing=True packs samples into varlen rows of max_tokens (see eov.datasets.collate)
    collate_fn=dict(type='eov.eov_collate', packing=False, max_tokens=2048),
    dataset=dict(type='InstructionDataset', data_root='${data_root}', ann_file='train.jsonl',
                 modalities=['optical'], pipeline=train_pipeline))

test_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='eov.instruction_collate', padding_side='left'),
    dataset=dict(type='InstructionDataset', data_root='${data_root}', ann_file='test.jsonl',
                 modalities=['optical'], pipeline=test_pipeline, test_mode=True))

test_evaluator = dict(type='GroundingMetric', serializer='${serializer}',
                      baseline_ann_file='${data_root}/train.jsonl', group_by='num_objects')
