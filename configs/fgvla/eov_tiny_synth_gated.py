# FGVLA ablation: per-level projections mixed by learned, input-dependent gates
# (softmax over the levels per sample), then an MLP. Same token count as the default.
_base_ = ['../eov_tiny_synth.py']
model = dict(aligner=dict(_delete_=True, type='MultiLevelGated'))
