# FGVLA ablation: the default multi-level concat with 2x2 pixel shuffle before the
# MLP (4x4 patch grid -> 2x2 = 4 tokens with 4x the channels, as InternVL/Qwen2-VL).
_base_ = ['../eov_tiny_synth.py']
model = dict(aligner=dict(compress=dict(type='pixel_shuffle', factor=2)))
