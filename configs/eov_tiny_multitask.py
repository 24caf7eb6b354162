# One tiny model for every modality and task, trained in ONE mixed stage (no PCMA):
# optical, SAR, infrared, multispectral, temporal, video and fusion inputs, the nine
# task categories, mixed batches (packed). The base of the PCMA chain
# (eov_tiny_pcma.py) and of its single-stage ablation.
#   python -m eov.datasets.synth data/eov_synth_v2
#   python tools/train.py configs/eov_tiny_multitask.py
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_tiny.py',
    '_base_/modalities/all.py',
    '_base_/datasets/eov_synth_v2.py',
    '_base_/schedules/tiny_cpu.py',
]
# answers hold up to a few boxes or a 12-vertex polygon, or a short caption
model = dict(max_new_tokens=64)
