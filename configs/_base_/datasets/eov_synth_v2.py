# EOV-Synth v2: every modality entry x the nine task categories, written by
#   python -m eov.datasets.synth data/eov_synth_v2 --train 6000 --test 1000
# (the Makefile's demo target does it). Splits: train.jsonl / test.jsonl.
_base_ = ['./instruction_data.py']
data_root = 'data/eov_synth_v2'
# The tasks this config trains: one list, referenced by every pipeline ('${tasks}').
# A child config trains fewer tasks by redefining this one list.
# Multiple-choice answers: 'letter' (the benchmarks' format) or 'option' (the option's
# text; the records must be written with the same style: --choice-answer / SynthV2Dataset).
choice_answer = 'letter'
tasks = [dict(type='classification'), dict(type='captioning'), dict(type='vqa'),
         dict(type='grounding'), dict(type='detection'), dict(type='region'),
         dict(type='segmentation'), dict(type='change'),
         dict(type='choice', answer='${choice_answer}')]

train_dataloader = dict(
    # mixed batches: every modality and task in one stream (weights per modality/task
    # source in PCMA stages, see configs/eov_tiny_pcma.py)
    sampler=dict(_delete_=True, type='MixtureSampler'),
    # packed varlen rows: samples of different modalities have different lengths
    collate_fn=dict(packing=True))

# One scoring path: every answer parsed by its task head, scored per modality x task
# (keys <modality>/<task>[/<variant>]/<metric>) with a chance baseline per cell.
test_evaluator = dict(type='TaskMetric', serializer='${serializer}', group_by='modality',
                      chance=True)
