# FGVLA ablation: 8 learned queries cross-attending over the tokens of every level
# (LHRS-Bot-style resampler). Its output length is num_queries; the data pipeline's
# <image> slots follow the model (image_tokens='auto').
_base_ = ['../eov_tiny_synth.py']
model = dict(aligner=dict(_delete_=True, type='LevelResampler', num_queries=8))
