# FGVLA ablation: the LLaVA baseline, a 2-layer MLP on the last ViT level only.
# Everything else (data, model, schedule, metric) is inherited from the tiny default.
_base_ = ['../eov_tiny_synth.py']
model = dict(aligner=dict(_delete_=True, type='MLPLastLayer'))
