# One tiny model for every modality and task, trained in ONE mixed stage (no PCMA):
# optical, SAR, infrared, multispectral, temporal, video and fusion inputs, the nine
# task categories, mixed batches (packed). The base of the PCMA chain
# (eov_tiny_pcma.py), of its single-stage ablation and of the pretrained base
# (eov_tiny_base.py).
#   python -m eov.datasets.synth data/eov_synth_v2
#   python tools/train.py configs/eov_tiny_multitask.py
_base_ = [
    '_base_/default_runtime.py',
    '_base_/models/eov_tiny.py',
    '_base_/modalities/all.py',
    '_base_/datasets/eov_synth_v2.py',
    '_base_/schedules/tiny_cpu.py',
]
# 8-px patches (an 8x8 grid per 64-px image: objects of 4-16 px are resolved) merged 2x2
# by the aligner (pixel shuffle, as Qwen2-VL / InternVL): the LM still sees 16 tokens per
# image, each holding its four sub-patches. Measured against 16-px patches on optical
# grounding (docs/benchmarks.md): better boxes for ~1.1x the step time.
patch_size = 8
# answers hold up to a few boxes or a 12-vertex polygon, or a short caption
model = dict(max_new_tokens=64, aligner=dict(compress=dict(type='pixel_shuffle', factor=2)))
# the multispectral patch embedding starts from the ViT's own RGB kernels at the
# wavelengths of its red, green and blue inputs (the optical sensor 'rgb')
modalities = dict(multispectral=dict(adapter=dict(backbone_wavelengths=(0.665, 0.560, 0.490))))
