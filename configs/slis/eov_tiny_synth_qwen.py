# SLIS ablation: the built-in tiny default with QwenTextSerializer answers instead of location tokens.
# Everything else (data, model, schedule, metric) is inherited unchanged.
_base_ = ['../eov_tiny_synth.py']
serializer = dict(_delete_=True, type='QwenTextSerializer')
