# FGVLA ablation: 8 learned queries cross-attending over the tokens of every level
# (LHRS-Bot-style resampler). Its output length is num_queries, so the data
# pipeline's <image> slots are re-stated to match.
_base_ = ['../eov_tiny_synth.py']
model = dict(aligner=dict(_delete_=True, type='LevelResampler', num_queries=8))
num_image_tokens = 8
