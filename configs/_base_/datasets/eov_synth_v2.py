# EOV-Synth v2: every modality entry x the nine task categories, written by
#   python -m eov.datasets.synth data/eov_synth_v2 --train 6000 --test 1000
# (the Makefile's demo target does it). Splits: train.jsonl / test.jsonl.
data_root = 'data/eov_synth_v2'
# The tasks this config trains: one list, referenced by every pipeline ('${tasks}').
# A child config trains fewer tasks by redefining this one list.
tasks = [dict(type='classification'), dict(type='captioning'), dict(type='vqa'),
         dict(type='grounding'), dict(type='detection'), dict(type='region'),
         dict(type='segmentation'), dict(type='change'), dict(type='choice')]

train_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}'),
    # image_tokens='auto' (default): the runner fills in the model's per-modality counts
    dict(type='TokenizeConversation', max_length=1024,
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]
test_pipeline = [
    dict(type='LoadImages', modalities='${modalities}'),
    dict(type='BuildConversation', heads='${tasks}', serializer='${serializer}',
         predict=True),
    dict(type='TokenizeConversation', max_length=1024, add_generation_prompt=True,
         tokenizer=dict(path='${tokenizer}', serializer='${serializer}')),
    dict(type='PackSample'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    # mixed batches: every modality and task in one stream (weights per modality/task
    # source in PCMA stages, see configs/eov_tiny_pcma.py)
    sampler=dict(type='MixtureSampler'),
    # packed varlen rows: samples of different modalities have different lengths
    collate_fn=dict(type='eov.eov_collate', packing=True, max_tokens=2048),
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

# One scoring path: every answer parsed by its task head, scored per modality x task
# (keys <modality>/<task>[/<variant>]/<metric>) with a chance baseline per cell.
test_evaluator = dict(type='TaskMetric', serializer='${serializer}', group_by='modality',
                      chance=True)
