# The full-size (~1.9B) EarthOneVision on EOV-Synth optical grounding: the same data,
# runtime and schedule pieces as eov_tiny_synth.py with the 2B model and an LR for it.
#   python tools/train.py configs/eov_2b.py --work-dir work_dirs/eov_2b \
#       --cfg-options data_root=data/eov_synth
# Local pretrained weights: see configs/_base_/models/eov_2b.py.
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_2b.py',
    '_base_/modalities/optical.py',
    '_base_/datasets/synth_grounding.py',
    '_base_/schedules/tiny_cpu.py',
]
optim_wrapper = dict(optimizer=dict(lr=2e-5))
param_scheduler = [
    dict(type='OneCycleLRPerGroup', eta_max=2e-5, total_steps='${train_cfg.max_iters}',
         pct_start=0.03, anneal_strategy='cos', by_epoch=False),
]
