# SLIS ablation: the built-in tiny default with location tokens with 1000 bins per axis (the paper-scale vocabulary).
# Everything else (data, model, schedule, metric) is inherited unchanged.
_base_ = ['../eov_tiny_synth.py']
serializer = dict(type='LocTokenSerializer', bins=1000)
