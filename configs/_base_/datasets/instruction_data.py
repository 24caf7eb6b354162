# The data pipeline of every eov instruction dataset: records (JSONL) -> modality plugin
# -> task head + SLIS serializer -> tokens -> packed sample. A dataset piece inherits it and
# sets `data_root`, `tasks` and its `test_evaluator`; everything here is late-bound
# ('${...}'), so a child config changes data, tasks, modalities or the serializer in one line.
train_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}'),
    # image_tokens='auto' (default): eov's runner fills in the model's per-modality counts
    dict(type='TokenizeConversation',
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]
test_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}',
         predict=True),
    dict(type='TokenizeConversation', add_generation_prompt=True,
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
    # records of one modality/task side by side: batches of like answers stop generating together
    sampler=dict(type='GroupedSampler'),
    collate_fn=dict(type='eov.instruction_collate', padding_side='left'),
    # only_modalities=['optical']: score the cells of some modality entries only
    dataset=dict(type='InstructionDataset', data_root='${data_root}', ann_file='test.jsonl',
                 modalities='${modalities}', pipeline=test_pipeline, test_mode=True,
                 only_modalities=None))
