# EOV-Synth grounding data written by
# `python -m eov.datasets.synth data/eov_synth --suite grounding`
# Splits: train.jsonl / test.jsonl.
# Override the location with `--cfg-options data_root=...`.
data_root = 'data/eov_synth'
# The tasks this config trains: one list, referenced by every pipeline ('${tasks}'),
# so a child config changes the task mix in one line.
tasks = [dict(type='grounding')]

train_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}'),
    dict(type='TokenizeConversation',
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]
test_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}',
         predict=True),
    dict(type='TokenizeConversation',
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
                 modalities='${modalities}', pipeline=train_pipeline))

test_dataloader = dict(
    batch_size=64,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='eov.instruction_collate', padding_side='left'),
    dataset=dict(type='InstructionDataset', data_root='${data_root}', ann_file='test.jsonl',
                 modalities='${modalities}', pipeline=test_pipeline, test_mode=True))

# TaskMetric scores every task (grounding: grounding/Acc@0.5, meanIoU, parse_rate, n);
# the mean training box gives grounding/Acc@0.5_baseline, and split_by adds the cells
# grounding/num_objects=<k>/...
test_evaluator = dict(type='TaskMetric', serializer='${serializer}',
                      baseline_ann_file='${data_root}/train.jsonl', split_by='num_objects')
