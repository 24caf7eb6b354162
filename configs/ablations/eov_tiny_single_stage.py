# PCMA ablation: the same start (the optical base), data and total iterations as
# eov_tiny_pcma.py in ONE mixed stage where everything trains on every modality and task.
#   python tools/train.py configs/ablations/eov_tiny_single_stage.py --work-dir work_dirs/single
_base_ = ['../eov_tiny_pcma.py']
stages = [dict(type='Stage', name='single', trainable=['*'], mixture={'*/*': 1.0},
               iters=2150, lr=8e-4)]
