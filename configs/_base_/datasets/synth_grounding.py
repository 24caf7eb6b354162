# EOV-Synth grounding data written by
# `python -m eov.datasets.synth data/eov_synth --suite grounding`
# Splits: train.jsonl / test.jsonl. Override the location with `--cfg-options data_root=...`.
_base_ = ['./instruction_data.py']
data_root = 'data/eov_synth'
# The tasks this config trains: one list, referenced by every pipeline ('${tasks}'),
# so a child config changes the task mix in one line.
tasks = [dict(type='grounding')]

# TaskMetric scores every task (grounding: grounding/Acc@0.5, meanIoU, parse_rate, n);
# the mean training box gives grounding/Acc@0.5_baseline, and split_by adds the cells
# grounding/num_objects=<k>/...
test_evaluator = dict(type='TaskMetric', serializer='${serializer}',
                      baseline_ann_file='${data_root}/train.jsonl', split_by='num_objects')
