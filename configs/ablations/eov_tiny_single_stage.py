# PCMA ablation: the same data and the same total iterations as eov_tiny_pcma.py
# (100 + 450 + 350 + 450 = 1350) in ONE mixed stage where everything trains on every
# modality and task from the start.
#   python tools/train.py configs/ablations/eov_tiny_single_stage.py --work-dir work_dirs/single
_base_ = ['../eov_tiny_pcma.py']
stages = [dict(type='Stage', name='single', trainable=['*'], mixture={'*/*': 1.0},
               iters=1350, lr=1e-3)]
