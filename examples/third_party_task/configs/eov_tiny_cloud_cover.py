# The tiny eov model taught a task eov does not ship: cloud cover, in percent.
#   pip install -e examples/third_party_task
#   python -c "from eov_cloud import generate_cloud_cover as g; g('data/cloud_cover', 256, 64)"
#   python tools/train.py examples/third_party_task/configs/eov_tiny_cloud_cover.py \
#       --work-dir work_dirs/cloud_cover
#   python tools/test.py examples/third_party_task/configs/eov_tiny_cloud_cover.py \
#       work_dirs/cloud_cover/iter_600.pth --work-dir work_dirs/cloud_cover
_base_ = ['../../../configs/eov_tiny_synth.py']

# Imported before anything is built: registers the 'cloud_cover' head, i.e. the task.
custom_imports = dict(imports=['eov_cloud'], allow_failed_imports=False)

data_root = 'data/cloud_cover'
# the one task list every pipeline reads ('${tasks}'): the head of the new task
tasks = [dict(type='cloud_cover')]
# TaskMetric asks the head how to score: cloud_cover/within_10 (primary), mae, parse_rate,
# with the chance of always answering the median cover; tools/test.py writes the scoreboard
test_evaluator = dict(_delete_=True, type='TaskMetric', serializer='${serializer}',
                      group_by='modality', chance=True)
# a short CPU run: one checkpoint at the end
train_cfg = dict(max_iters=600)
default_hooks = dict(checkpoint=dict(interval=600))
